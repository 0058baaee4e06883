"""Why a request is not authenticated (the node's log and history; the wire shows only a 401).

What the user then sees is the desktop's to derive from that 401 (finesse_emu/desktop/machine.py,
``cisco_message``), as a real desktop does: a real Finesse says no more on the wire."""

from __future__ import annotations

from enum import StrEnum


class AuthReason(StrEnum):
    MISSING = "missing"  # no or malformed Authorization header
    BAD_CREDENTIALS = "bad_credentials"  # the AWDB said no (unknown user or wrong password)
    LOCKED_OUT = "locked_out"  # too many bad passwords in a row
    AWDB_UNAVAILABLE = "awdb_unavailable"  # neither AWDB could be reached and the cache has expired
    AWDB_TIMEOUT = "awdb_timeout"  # the AWDB in use did not answer in time; a retry goes to the other


class AuthError(Exception):
    """Every reason maps to HTTP 401 (Cisco: API requests "receive an 401 'Unauthorized'")."""

    def __init__(self, reason: AuthReason, user: str = "", detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail or user}")
        self.reason = reason
        self.user = user
        self.detail = detail

    @property
    def awdb_down(self) -> bool:
        return self.reason in (AuthReason.AWDB_UNAVAILABLE, AuthReason.AWDB_TIMEOUT)
