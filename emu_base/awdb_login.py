"""The AWDB login, both sides of it: what a node sends to its AWDBs and what an AWDB stub requires.

A real AWDB is a SQL Server database, and nothing reads it without a SQL Server login: Finesse's
Administration & Data Server settings hold the user name and password it connects with. The stub
answers HTTP, so that login is HTTP Basic (``Authorization: Basic base64(user:password)``). A
deployment's password is random and lives in a file (``<run_dir>/awdb-password``, mode 0600), read
by the stubs (``--login-password-file``) and by the nodes (``awdb_password_file``): never on a
command line, never in a log.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from emu_base.secret_files import read_secret_file

DEFAULT_USER = "finesse"


def read_password_file(path: str | Path) -> str:
    """The password in ``path`` (surrounding whitespace and the final newline ignored), or ValueError."""
    return read_secret_file(path, "AWDB password file")


def check_user(user: str) -> str:
    """A usable login name: HTTP Basic cannot carry a ':' in it, nor control characters."""
    if not user or ":" in user or any(ord(ch) < 32 or ord(ch) == 127 for ch in user):
        raise ValueError(f"AWDB login user {user!r}: a non-empty name without ':' or control characters")
    return user


def basic_header(user: str, password: str) -> str:
    """The ``Authorization`` header value that carries this login."""
    return "Basic " + base64.b64encode(f"{check_user(user)}:{password}".encode()).decode("ascii")


@dataclass(frozen=True)
class AwdbLogin:
    """The AWDB login a node sends: its user name, and the ``Authorization`` header that carries it."""

    user: str
    header: str = field(repr=False)  # holds the password

    @classmethod
    def of(cls, user: str, password: str) -> AwdbLogin:
        return cls(user, basic_header(user, password))


def awdb_login(user: str = DEFAULT_USER, password_file: str | None = None) -> AwdbLogin | None:
    """The login a node sends to its AWDBs: ``user`` and the password in ``password_file`` (None
    without a file: an open AWDB). ValueError names what is wrong with either."""
    if password_file is None:
        return None
    return AwdbLogin.of(user, read_password_file(password_file))
