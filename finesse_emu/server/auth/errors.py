"""Why a request is not authenticated, and what the seed says the user sees."""

from __future__ import annotations

from enum import StrEnum


class AuthReason(StrEnum):
    MISSING = "missing"  # no or malformed Authorization header
    BAD_CREDENTIALS = "bad_credentials"  # the AWDB said no (unknown user or wrong password)
    LOCKED_OUT = "locked_out"  # too many bad passwords in a row
    AWDB_UNAVAILABLE = "awdb_unavailable"  # neither AWDB could be reached and the cache has expired
    AWDB_TIMEOUT = "awdb_timeout"  # the AWDB in use did not answer in time; a retry goes to the other


class AuthError(Exception):
    """Every reason maps to HTTP 401 (seed: API requests "receive an 401 'Unauthorized'")."""

    def __init__(self, reason: AuthReason, user: str = "", detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail or user}")
        self.reason = reason
        self.user = user
        self.detail = detail

    @property
    def awdb_down(self) -> bool:
        return self.reason in (AuthReason.AWDB_UNAVAILABLE, AuthReason.AWDB_TIMEOUT)


def user_message(reason: AuthReason, signed_in: bool) -> str:
    """The message a desktop shows, per the seed's "AWDB Failover" section."""
    if reason in (AuthReason.AWDB_UNAVAILABLE, AuthReason.AWDB_TIMEOUT) and signed_in:
        # "Users who are already signed in to Cisco Finesse receive an 'Operation timed out' error message."
        return "Operation timed out"
    if reason is AuthReason.LOCKED_OUT:
        return "Your account is locked. Try again in 5 minutes."
    # "Agents and supervisors who attempt to sign in ... receive an 'Invalid user ID or password'."
    return "Invalid user ID or password"
