"""HTTP Basic credentials ("All Finesse APIs use HTTP BASIC authentication")."""

from __future__ import annotations

import base64

MAX_HEADER = 1024


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization: Basic ...`` header, or None if absent or malformed."""
    if not header or len(header) > MAX_HEADER:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII header text
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password
