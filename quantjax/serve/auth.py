"""API keys: read from ``--api-key-file`` (one key per line; blank lines and ``#`` comments
ignored) and compared in constant time (:func:`hmac.compare_digest` against EVERY key, so the
time does not tell which key, or how much of one, matched)."""

from __future__ import annotations

import hmac
from pathlib import Path

from quantjax.errors import UserError

MIN_KEY_LENGTH = 16


def load_keys(path: str | Path) -> tuple[bytes, ...]:
    """The keys of a key file; a UserError for a missing file, no key or a short key."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--api-key-file: file not found: {path}")
    keys = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        if len(key) < MIN_KEY_LENGTH:
            raise UserError(f"--api-key-file: {path} line {i}: key shorter than "
                            f"{MIN_KEY_LENGTH} characters")
        keys.append(key.encode())
    if not keys:
        raise UserError(f"--api-key-file: {path} holds no key")
    return tuple(keys)


def presented_key(headers) -> bytes | None:
    """The key of a request: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``."""
    auth = headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip().encode()
    key = headers.get("x-api-key")
    return key.strip().encode() if key else None


def key_matches(presented: bytes | None, keys: tuple[bytes, ...]) -> bool:
    """Constant-time check of ``presented`` against every key."""
    if presented is None:
        presented = b""
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(presented, key)
    return ok
