"""Single sign-on on a Finesse node: who a bearer token is, and whether Basic is still taken. Pure.

The developer guide: with SSO, requests carry ``Authorization: Bearer <access token>`` issued by
Cisco's Identity Service; "When the refresh token expires, the access token cannot be refreshed",
and a request with an expired token is refused. Every refusal is the REST API's 401 (the node's
log keeps the reason); the token is checked here with the deployment's signing key
(finesse_emu/ids/tokens.py), with no call to the IdS.

Basic in SSO mode: a real node in SSO mode signs its agents and supervisors in through the IdS
only; the administrator stays a local (non-SSO) account. So Basic is refused in SSO mode unless the
user is an administrator; HYBRID takes both from everyone (the product decides per user, with its
UserAuthMode API, which is not emulated: docs/finesse.md).
"""

from __future__ import annotations

from collections.abc import Callable

from finesse_emu.ids.tokens import TokenError, TokenType, validate
from finesse_emu.server.auth.user import AuthUser

SSO = "SSO"
HYBRID = "HYBRID"
NON_SSO = "NON_SSO"


class BearerRefused(Exception):
    """Why a bearer token was refused (``reason`` for the log and stats; the wire shows a 401)."""

    def __init__(self, reason: str, subject: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.subject = subject


def takes_bearer(mode: str) -> bool:
    return mode in (SSO, HYBRID)


def basic_allowed(mode: str, user: AuthUser) -> bool:
    """Whether a user authenticated with Basic may go on: always, but in SSO mode administrators only."""
    return mode != SSO or user.admin


def bearer_user(
    key: bytes | None, token: str, now: float, lookup: Callable[[str], AuthUser | None]
) -> AuthUser:
    """The user of a valid access token (``now``: wall seconds), or BearerRefused."""
    if key is None:
        raise BearerRefused("sso_off")
    try:
        claims = validate(key, token, now, TokenType.ACCESS)
    except TokenError as exc:
        raise BearerRefused(f"token_{exc.problem.value}", exc.subject) from None
    user = lookup(claims.sub)
    if user is None:  # signed by the IdS, but no user of this node's directory
        raise BearerRefused("token_unknown_user", claims.sub)
    return user
