"""Files that hold one secret each (a token, a password): written readable by their owner only,
read back as one line. The deployment's secrets are passed around by these files' paths, never on a
command line."""

from __future__ import annotations

import os
from pathlib import Path


def write_private_file(path: Path, text: str) -> None:
    """``text`` in ``path``, readable by its owner only (0600, also when the file existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def read_secret_file(path: Path | str, what: str) -> str:
    """The secret in ``path`` (surrounding whitespace and the final newline ignored), or ValueError
    naming ``what``: unreadable, empty, or holding control characters."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path}: {exc}") from exc
    if not text:
        raise ValueError(f"{what} {path} is empty: expected one non-empty line")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError(f"{what} {path}: control characters (expected one non-empty line)")
    return text
