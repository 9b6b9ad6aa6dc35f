"""User-facing errors.

A :class:`UserError` is a mistake the user can fix (bad config key, missing column,
NaN price, bad flag). The CLI prints its message on one line and exits with code 2;
``--debug`` shows the traceback too. Everything else is a bug and gets a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in user input. The message names the field, row or key."""


class ConfigError(UserError):
    """An invalid configuration: unknown key, wrong type or out-of-range value."""


class DataError(UserError):
    """Invalid input data: missing column, bad value, duplicate timestamp..."""
