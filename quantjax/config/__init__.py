"""Typed, frozen configuration dataclasses loaded strictly from YAML.

``load(cls, path, overrides)`` reads a YAML file with ``yaml.safe_load``, applies
``--set section.key=value`` overrides, and builds the frozen dataclass ``cls``.
Unknown keys, wrong types and out-of-range values raise :class:`ConfigError`
naming the field. ``save(cfg, folder)`` writes the resolved ``config.yaml``.
"""

from quantjax.config.base import (
    apply_overrides,
    from_dict,
    load,
    load_dict,
    save,
    spec,
    to_dict,
)

__all__ = ["apply_overrides", "from_dict", "load", "load_dict", "save", "spec", "to_dict"]
