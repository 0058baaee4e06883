"""The emulated Cisco Identity Service (IdS): an OAuth 2.0 authorization server in front of an
emulated identity provider. Pure (the sans-IO vocabulary, emu_base/sansio.py): ``now`` (wall
seconds since the epoch, the time tokens carry) is passed in; its shell is ``ids/server.py``.

The Finesse developer guide, "Single Sign-On": "Cisco IdS is the common API endpoint for relaying
requests to the IdP by generating the authentication token and validating it", and "implements an
authorization endpoint and token endpoint as part of its OAuth (Open Authorization) server
implementation". What is emulated:

- the authorization-code flow: the IdP sign-in (a user of the deployment's directory, by id or
  login name, with the directory's password) gives a one-use code bound to the client and its
  redirect URI, valid ``Timers.sso_authorization_code_lifetime``;
- the token endpoint: ``grant_type=authorization_code`` gives an access and a refresh token;
  ``grant_type=refresh_token`` gives a new access token. The refresh token is not renewed: its
  expiry is fixed at sign-in ("When the refresh token expires, the access token cannot be
  refreshed"), which is what makes the desktop's session expiry of the Finesse Failover Mechanisms
  chapter happen, and a refreshed access token never outlives its refresh token.

Errors are RFC 6749's (``invalid_request``, ``invalid_grant``, ``unsupported_grant_type``, ...),
raised as :class:`OAuthError` and also put out as :class:`Refused`, so the shell logs each once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from emu_base.timers import Timers
from finesse_emu.ids.tokens import Claims, TokenError, TokenType, sign, validate

# Pending authorization codes held at most (codes nobody exchanges must not grow memory forever).
MAX_PENDING_CODES = 10_000
MAX_FIELD_CHARS = 2048  # any form field or query parameter longer than this is refused


@dataclass(frozen=True)
class IdpUser:
    """A user of the emulated identity provider: the Finesse user id, its login name, its password."""

    id: str
    login: str
    password: str


@dataclass(frozen=True)
class Grant:
    """What the token endpoint answers (RFC 6749 section 5.1, with the refresh token's own expiry)."""

    access_token: str
    refresh_token: str
    expires_in: float  # the access token's, in seconds from now
    refresh_expires_in: float  # the refresh token's, in seconds from now
    user: str

    def as_json(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "refresh_token_expires_in": self.refresh_expires_in,
        }


class OAuthError(Exception):
    """An RFC 6749 error: the HTTP status, the ``error`` code and its description."""

    def __init__(self, status: int, error: str, description: str, user: str = "") -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.user = user

    def as_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class Issued:
    """Tokens handed out: ``grant`` is authorization_code (a sign-in) or refresh_token."""

    user: str
    grant: str
    access_exp: float
    refresh_exp: float


@dataclass(frozen=True)
class Refused:
    endpoint: str  # "authorize" or "token"
    error: str
    description: str
    user: str


Output = Issued | Refused


@dataclass(frozen=True)
class _Code:
    user: str
    client_id: str
    redirect_uri: str
    expires: float


def _field(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if not isinstance(value, str) or not value:
        raise OAuthError(400, "invalid_request", f"missing {name}")
    if len(value) > MAX_FIELD_CHARS:
        raise OAuthError(400, "invalid_request", f"{name} is too long")
    return value


class IdsCore:
    def __init__(
        self,
        key: bytes,
        timers: Timers,
        users: Iterable[IdpUser],
        new_id: Callable[[], str] = lambda: secrets.token_urlsafe(16),
    ) -> None:
        self.key = key
        self.timers = timers
        self._by_name: dict[str, IdpUser] = {}
        for u in users:
            self._by_name[u.id.lower()] = u
            self._by_name[u.login.lower()] = u
        self._new_id = new_id
        self._codes: dict[str, _Code] = {}
        self._out: list[Output] = []

    # -- the sans-IO vocabulary ---------------------------------------------------------------------
    def outputs(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        return min((c.expires for c in self._codes.values()), default=None)

    def handle_timer(self, now: float) -> None:
        self._codes = {k: c for k, c in self._codes.items() if c.expires > now}

    # -- inputs -------------------------------------------------------------------------------------
    def sign_in(self, now: float, form: Mapping[str, str]) -> tuple[str, str]:
        """The IdP sign-in of the authorization endpoint: ``response_type=code``, ``client_id``,
        ``redirect_uri``, ``username``, ``password`` (``state`` optional). The one-use code and the
        URI to redirect the browser to; OAuthError otherwise."""
        try:
            return self._sign_in(now, form)
        except OAuthError as exc:
            self._out.append(Refused("authorize", exc.error, exc.description, exc.user))
            raise

    def token(self, now: float, form: Mapping[str, str]) -> Grant:
        """The token endpoint: ``grant_type`` authorization_code (``code``, ``client_id``,
        ``redirect_uri``) or refresh_token (``refresh_token``). OAuthError otherwise."""
        try:
            grant_type = _field(form, "grant_type")
            if grant_type == "authorization_code":
                return self._exchange(now, form)
            if grant_type == "refresh_token":
                return self._refresh(now, _field(form, "refresh_token"))
            raise OAuthError(400, "unsupported_grant_type", "authorization_code or refresh_token")
        except OAuthError as exc:
            self._out.append(Refused("token", exc.error, exc.description, exc.user))
            raise

    def check(self, now: float, token: str, typ: TokenType = TokenType.ACCESS) -> Claims:
        """A token's claims if it is valid now (what a Finesse node does on its own with the key)."""
        return validate(self.key, token, now, typ)

    # -- the flows ----------------------------------------------------------------------------------
    def _sign_in(self, now: float, form: Mapping[str, str]) -> tuple[str, str]:
        if _field(form, "response_type") != "code":
            raise OAuthError(400, "unsupported_response_type", "only response_type=code")
        client_id = _field(form, "client_id")
        redirect_uri = _field(form, "redirect_uri")
        if not redirect_uri.startswith(("http://", "https://")):
            raise OAuthError(400, "invalid_request", "redirect_uri is an http(s) URI")
        username = _field(form, "username")
        user = self._by_name.get(username.lower())
        # The identity provider's answer: one message for an unknown user and a wrong password.
        if user is None or not secrets.compare_digest(
            user.password.encode(), _field(form, "password").encode()
        ):
            raise OAuthError(401, "access_denied", "the identity provider refused the credentials", username)
        if len(self._codes) >= MAX_PENDING_CODES:
            self.handle_timer(now)
            if len(self._codes) >= MAX_PENDING_CODES:
                del self._codes[next(iter(self._codes))]
        code = self._new_id()
        self._codes[code] = _Code(
            user.id, client_id, redirect_uri, now + self.timers.sso_authorization_code_lifetime
        )
        state = form.get("state", "")
        return code, _with_query(redirect_uri, code, state if isinstance(state, str) else "")

    def _exchange(self, now: float, form: Mapping[str, str]) -> Grant:
        code = self._codes.pop(_field(form, "code"), None)  # one use, whatever happens next
        if code is None or code.expires <= now:
            raise OAuthError(400, "invalid_grant", "unknown, used or expired authorization code")
        if code.client_id != _field(form, "client_id") or code.redirect_uri != _field(form, "redirect_uri"):
            raise OAuthError(400, "invalid_grant", "the code was issued to another client", code.user)
        sid = self._new_id()
        refresh = Claims(
            TokenType.REFRESH, code.user, now, now + self.timers.sso_refresh_token_lifetime, sid, sid
        )
        return self._grant(now, refresh, sign(self.key, refresh), "authorization_code")

    def _refresh(self, now: float, refresh_token: str) -> Grant:
        try:
            refresh = validate(self.key, refresh_token, now, TokenType.REFRESH)
        except TokenError as exc:
            # "When the refresh token expires, the access token cannot be refreshed."
            raise OAuthError(
                400, "invalid_grant", f"refresh token {exc.problem.value}", exc.subject
            ) from None
        return self._grant(now, refresh, refresh_token, "refresh_token")

    def _grant(self, now: float, refresh: Claims, refresh_token: str, how: str) -> Grant:
        # An access token never outlives the refresh token of its sign-in.
        exp = min(now + self.timers.sso_access_token_lifetime, refresh.exp)
        access = Claims(TokenType.ACCESS, refresh.sub, now, exp, self._new_id(), refresh.sid)
        self._out.append(Issued(refresh.sub, how, exp, refresh.exp))
        return Grant(sign(self.key, access), refresh_token, exp - now, refresh.exp - now, refresh.sub)


def _with_query(uri: str, code: str, state: str) -> str:
    query = urlencode({"code": code, **({"state": state} if state else {})})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"
