"""The single sign-on tokens, as the emulated Cisco Identity Service (IdS) signs them and a Finesse
node checks them. Pure: ``now`` (wall seconds since the epoch) is passed in.

The Finesse developer guide's "Single Sign-On" chapter names two tokens: the "Access Token—It
accesses protected resources" and the "Refresh Token—It fetches a new access token before the
current access token expires"; "You can configure the expiry time of refresh and access tokens in
IdS administration. When the refresh token expires, the access token cannot be refreshed."

Cisco's tokens are opaque (the access token "contains identity information for the user that is
encrypted by default"). Ours are JSON Web Tokens signed with HMAC-SHA256 under the deployment's
signing key (a file the launcher writes beside the other secrets and hands to the IdS and to both
nodes), so that a node checks a token on its own, in the request, with no round trip to the IdS and
no shared in-process object; a client must treat them as opaque all the same (docs/finesse.md).

A token validates only if: it is three base64url parts, the signature is the key's over the first
two, the claims are a JSON object with the expected types, its type is the one asked for, and
``now < exp``. Anything else is a :class:`TokenError` with its :class:`TokenProblem`; garbage never
raises anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# A header value longer than this is refused unread (a real token is a few hundred bytes).
MAX_TOKEN_CHARS = 4096
HEADER = {"alg": "HS256", "typ": "JWT"}
# base64url without padding: one spelling per value ("+" for "-" would decode to the same bytes).
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class TokenProblem(StrEnum):
    MALFORMED = "malformed"  # not a token of ours at all
    BAD_SIGNATURE = "bad_signature"  # tampered with, or signed by another deployment
    WRONG_TYPE = "wrong_type"  # a refresh token used as an access token, or the other way
    EXPIRED = "expired"


class TokenError(Exception):
    def __init__(self, problem: TokenProblem, detail: str = "", subject: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.subject = subject  # the token's user, when the token could be read (log only)


@dataclass(frozen=True)
class Claims:
    typ: TokenType
    sub: str  # the Finesse user id
    iat: float
    exp: float
    jti: str  # this token's id
    sid: str  # the sign-in it belongs to: the refresh token's jti (its own, for a refresh token)

    def as_json(self) -> dict[str, Any]:
        return {
            "typ": self.typ.value,
            "sub": self.sub,
            "iat": self.iat,
            "exp": self.exp,
            "jti": self.jti,
            "sid": self.sid,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not set(text) <= _ALPHABET:
        raise ValueError("not base64url")
    # validate=True: a character outside the alphabet is an error, not silently skipped.
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _mac(key: bytes, signing_input: str) -> bytes:
    return hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()


def sign(key: bytes, claims: Claims) -> str:
    head = _b64(json.dumps(HEADER, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims.as_json(), separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{head}.{body}"
    return f"{signing_input}.{_b64(_mac(key, signing_input))}"


def read(key: bytes, token: str) -> Claims:
    """The claims of a token signed with ``key``, expired or not (TokenError otherwise)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise TokenError(TokenProblem.MALFORMED, "not three dot-separated parts")
    head, body, sig = token.split(".")
    try:
        given = _unb64(sig)
    except (ValueError, binascii.Error):
        raise TokenError(TokenProblem.MALFORMED, "signature is not base64url") from None
    if not hmac.compare_digest(given, _mac(key, f"{head}.{body}")):
        raise TokenError(TokenProblem.BAD_SIGNATURE)
    # Signed by the key: still read defensively (a key shared by mistake must not crash a node).
    try:
        header = json.loads(_unb64(head))
        raw = json.loads(_unb64(body))
        if header != HEADER or not isinstance(raw, dict):
            raise ValueError("unexpected header or claims")
        numbers = [raw["iat"], raw["exp"]]
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
            raise ValueError("iat and exp are numbers")
        texts = [raw["sub"], raw["jti"], raw["sid"], raw["typ"]]
        if not all(isinstance(t, str) and t for t in texts):
            raise ValueError("sub, jti, sid and typ are strings")
        return Claims(
            TokenType(raw["typ"]), raw["sub"], float(raw["iat"]), float(raw["exp"]), raw["jti"], raw["sid"]
        )
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError) as exc:
        raise TokenError(TokenProblem.MALFORMED, str(exc)[:80]) from None


def validate(key: bytes, token: str, now: float, typ: TokenType) -> Claims:
    """The claims of a token of type ``typ`` that is valid at ``now``; TokenError otherwise."""
    claims = read(key, token)
    if claims.typ is not typ:
        raise TokenError(TokenProblem.WRONG_TYPE, f"a {claims.typ.value} token", claims.sub)
    if not now < claims.exp:
        raise TokenError(TokenProblem.EXPIRED, f"expired {now - claims.exp:.3f} s ago", claims.sub)
    return claims


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case), else None."""
    if header is None:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return rest.strip()
