"""The desktop's side of single sign-on: tokens from a Cisco Identity Service over HTTP.

What a browser does, without the browser: the authorization-code flow (the IdS's authorize
endpoint, the identity provider's sign-in form posted with the agent's credentials, the redirect
carrying the code, the code exchanged at the token endpoint) and the refresh of the access token.
Only the IdS's public endpoints are used, so this works against any IdS that speaks them; the
emulator's is finesse_emu/ids/.

Cisco's guidance for third-party clients: "third party apps have to refresh the access token after
75% of the token expiry time has elapsed" (:data:`REFRESH_AT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

AUTHORIZE = "/ids/v1/oauth/authorize"
TOKEN = "/ids/v1/oauth/token"
CLIENT_ID = "finesse-desktop"
REFRESH_AT = 0.75  # of the access token's lifetime


class SsoError(Exception):
    """The IdS refused (``error`` is RFC 6749's code) or could not be reached (``error`` empty)."""

    def __init__(self, error: str, description: str = "", status: int = 0) -> None:
        super().__init__(f"{error or 'unreachable'}: {description}")
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: float  # seconds the access token is valid from when it was received
    refresh_expires_in: float  # seconds the refresh token is valid from when it was received

    @classmethod
    def from_json(cls, data: Any) -> Tokens:
        try:
            return cls(
                str(data["access_token"]),
                str(data["refresh_token"]),
                float(data["expires_in"]),
                float(data["refresh_token_expires_in"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SsoError("invalid_response", f"the token answer lacks {exc}") from None


async def _token(http: aiohttp.ClientSession, ids_url: str, form: dict[str, str], timeout: float) -> Tokens:
    try:
        async with http.post(
            f"{ids_url}{TOKEN}", data=form, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status != 200:
                error = data.get("error", "") if isinstance(data, dict) else ""
                raise SsoError(str(error) or "error", str(data)[:200], resp.status)
            return Tokens.from_json(data)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise SsoError("", str(exc) or type(exc).__name__) from None


async def sign_in(
    http: aiohttp.ClientSession,
    ids_url: str,
    username: str,
    password: str,
    redirect_uri: str,
    timeout: float,
) -> Tokens:
    """The authorization-code flow for ``username``: the tokens, or SsoError."""
    form = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "state": "desktop",
        "username": username,
        "password": password,
    }
    try:
        async with http.post(
            f"{ids_url}{AUTHORIZE}",
            data=form,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            if resp.status != 302:
                data = await resp.json(content_type=None)
                error = data.get("error", "") if isinstance(data, dict) else ""
                raise SsoError(str(error) or "error", str(data)[:200], resp.status)
            location = resp.headers.get("Location", "")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise SsoError("", str(exc) or type(exc).__name__) from None
    code = parse_qs(urlsplit(location).query).get("code", [""])[0]
    if not code:
        raise SsoError("invalid_response", f"no code in the redirect {location[:200]!r}")
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
    }
    return await _token(http, ids_url, exchange, timeout)


async def refresh(http: aiohttp.ClientSession, ids_url: str, refresh_token: str, timeout: float) -> Tokens:
    """A new access token for the refresh token, or SsoError (``invalid_grant``: it has expired)."""
    return await _token(
        http, ids_url, {"grant_type": "refresh_token", "refresh_token": refresh_token}, timeout
    )
