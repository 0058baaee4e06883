"""The emulated Cisco Identity Service, pure: the authorization-code flow, refresh, token checks.

Properties: a token never validates at or after its expiry; a refreshed access token never
outlives its refresh token; a tampered token never validates; garbage is a TokenError, never a
crash."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emu_base.timers import Timers
from finesse_emu.ids.core import Grant, IdpUser, IdsCore, Issued, OAuthError, Refused
from finesse_emu.ids.tokens import (
    Claims,
    TokenError,
    TokenProblem,
    TokenType,
    bearer,
    read,
    sign,
    validate,
)

KEY = b"k" * 32
T0 = 1_700_000_000.0
REDIRECT = "https://finesse-a:8445/desktop/sso/authcode"
USERS = [IdpUser("1001", "agent0002", "pass1001"), IdpUser("1002", "agent0003", "pass1002")]


def core(scale: float = 1.0, **overrides: float) -> IdsCore:
    ids = itertools.count()
    return IdsCore(KEY, Timers.build(scale, **overrides), USERS, new_id=lambda: f"id{next(ids)}")


def sign_in(ids: IdsCore, now: float = T0, user: str = "1001", password: str = "pass1001") -> Grant:
    form = {
        "response_type": "code",
        "client_id": "finesse",
        "redirect_uri": REDIRECT,
        "state": "xyz",
        "username": user,
        "password": password,
    }
    code, location = ids.sign_in(now, form)
    assert location == f"{REDIRECT}?code={code}&state=xyz"
    return ids.token(
        now,
        {"grant_type": "authorization_code", "code": code, "client_id": "finesse", "redirect_uri": REDIRECT},
    )


def test_sign_in_gives_access_and_refresh_tokens_with_the_ids_defaults() -> None:
    ids = core()
    grant = sign_in(ids, user="AGENT0002")  # the login name, any case
    assert (grant.user, grant.expires_in, grant.refresh_expires_in) == ("1001", 3600.0, 36000.0)
    access = validate(KEY, grant.access_token, T0, TokenType.ACCESS)
    refresh = validate(KEY, grant.refresh_token, T0, TokenType.REFRESH)
    assert (access.sub, access.sid) == ("1001", refresh.jti)
    assert ids.outputs() == [Issued("1001", "authorization_code", T0 + 3600, T0 + 36000)]
    assert grant.as_json()["token_type"] == "Bearer"


def test_lifetimes_are_configurable_and_scaled() -> None:
    grant = sign_in(core(0.01, sso_access_token_lifetime=300, sso_refresh_token_lifetime=900))
    assert (grant.expires_in, grant.refresh_expires_in) == pytest.approx((3.0, 9.0))


def test_refresh_gives_a_new_access_token_and_keeps_the_refresh_token() -> None:
    ids = core()
    grant = sign_in(ids)
    later = T0 + 3000
    again = ids.token(later, {"grant_type": "refresh_token", "refresh_token": grant.refresh_token})
    assert again.refresh_token == grant.refresh_token
    assert again.access_token != grant.access_token
    assert validate(KEY, again.access_token, later, TokenType.ACCESS).exp == later + 3600
    assert again.refresh_expires_in == pytest.approx(36000 - 3000)


def test_the_refresh_token_expiry_ends_the_session() -> None:
    ids = core()
    grant = sign_in(ids)
    ids.outputs()
    # Near the end the access token is cut to the refresh token's expiry.
    near = ids.token(T0 + 35000, {"grant_type": "refresh_token", "refresh_token": grant.refresh_token})
    assert near.expires_in == pytest.approx(1000)
    with pytest.raises(OAuthError) as exc:
        ids.token(T0 + 36000, {"grant_type": "refresh_token", "refresh_token": grant.refresh_token})
    assert (exc.value.status, exc.value.error) == (400, "invalid_grant")
    assert ids.outputs()[-1] == Refused("token", "invalid_grant", "refresh token expired", "1001")
    with pytest.raises(TokenError) as err:
        validate(KEY, near.access_token, T0 + 36000, TokenType.ACCESS)
    assert err.value.problem is TokenProblem.EXPIRED


def test_a_code_is_used_once_by_its_own_client_before_it_expires() -> None:
    ids = core()
    form = {
        "response_type": "code",
        "client_id": "finesse",
        "redirect_uri": REDIRECT,
        "username": "1002",
        "password": "pass1002",
    }
    exchange = {"grant_type": "authorization_code", "client_id": "finesse", "redirect_uri": REDIRECT}
    code, _ = ids.sign_in(T0, form)
    assert ids.next_deadline() == T0 + 60
    ids.token(T0, {**exchange, "code": code})
    with pytest.raises(OAuthError, match="invalid_grant"):
        ids.token(T0, {**exchange, "code": code})  # used
    code, _ = ids.sign_in(T0, form)
    with pytest.raises(OAuthError, match="another client"):
        ids.token(T0, {**exchange, "code": code, "client_id": "other"})
    code, _ = ids.sign_in(T0, form)
    ids.handle_timer(T0 + 60)
    assert ids.next_deadline() is None
    with pytest.raises(OAuthError, match="expired"):
        ids.token(T0 + 60, {**exchange, "code": code})


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"username": "1001", "password": "wrong"}, "access_denied"),
        ({"username": "nobody", "password": "pass1001"}, "access_denied"),
        ({"username": "1001"}, "invalid_request"),
        ({"username": "1001", "password": "pass1001", "response_type": "token"}, "unsupported_response_type"),
        ({"username": "1001", "password": "pass1001", "redirect_uri": "javascript:x"}, "invalid_request"),
        ({"username": "1001", "password": "x" * 5000}, "invalid_request"),
    ],
)
def test_sign_in_refusals(form: dict[str, str], error: str) -> None:
    ids = core()
    base = {"response_type": "code", "client_id": "finesse", "redirect_uri": REDIRECT}
    with pytest.raises(OAuthError) as exc:
        ids.sign_in(T0, {**base, **form})
    assert exc.value.error == error
    assert [o.error for o in ids.outputs() if isinstance(o, Refused)] == [error]


@pytest.mark.parametrize(
    "form",
    [{}, {"grant_type": "password"}, {"grant_type": "refresh_token"}, {"grant_type": "authorization_code"}],
)
def test_token_refusals_are_oauth_errors(form: dict[str, str]) -> None:
    with pytest.raises(OAuthError) as exc:
        core().token(T0, form)
    assert exc.value.status == 400


def test_an_access_token_is_not_a_refresh_token() -> None:
    ids = core()
    grant = sign_in(ids)
    with pytest.raises(OAuthError, match="wrong_type"):
        ids.token(T0, {"grant_type": "refresh_token", "refresh_token": grant.access_token})
    with pytest.raises(TokenError) as exc:
        validate(KEY, grant.refresh_token, T0, TokenType.ACCESS)
    assert exc.value.problem is TokenProblem.WRONG_TYPE


def test_another_deployments_key_is_a_bad_signature() -> None:
    grant = sign_in(core())
    with pytest.raises(TokenError) as exc:
        validate(b"other", grant.access_token, T0, TokenType.ACCESS)
    assert exc.value.problem is TokenProblem.BAD_SIGNATURE


def test_bearer_header() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer(None) is None
    assert bearer("Bearer") == ""


times = st.floats(min_value=0, max_value=1e10, allow_nan=False)
durations = st.floats(min_value=0.001, max_value=1e6, allow_nan=False)


@given(iat=times, life=durations, after=st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_a_token_never_validates_at_or_after_its_expiry(iat: float, life: float, after: float) -> None:
    claims = Claims(TokenType.ACCESS, "1001", iat, iat + life, "j", "s")
    token = sign(KEY, claims)
    with pytest.raises(TokenError):
        validate(KEY, token, claims.exp + after, TokenType.ACCESS)
    if iat < claims.exp:
        assert validate(KEY, token, iat, TokenType.ACCESS) == claims


@settings(max_examples=60)
@given(
    access=durations,
    refresh=durations,
    steps=st.lists(st.floats(min_value=0, max_value=2e6, allow_nan=False), max_size=8),
)
def test_a_refreshed_access_token_never_outlives_its_refresh_token(
    access: float, refresh: float, steps: list[float]
) -> None:
    ids = core(1.0, sso_access_token_lifetime=access, sso_refresh_token_lifetime=refresh)
    grant = sign_in(ids)
    refresh_exp = read(KEY, grant.refresh_token).exp
    now = T0
    for step in steps:
        now += step
        try:
            again = ids.token(now, {"grant_type": "refresh_token", "refresh_token": grant.refresh_token})
        except OAuthError:
            assert now >= refresh_exp
            continue
        assert read(KEY, again.access_token).exp <= refresh_exp
        assert now + again.expires_in <= refresh_exp


@given(position=st.integers(min_value=0), replacement=st.characters(codec="ascii"))
def test_a_tampered_token_never_validates(position: int, replacement: str) -> None:
    token = sign(KEY, Claims(TokenType.ACCESS, "1001", T0, T0 + 3600, "j", "s"))
    i = position % len(token)
    tampered = token[:i] + replacement + token[i + 1 :]
    if tampered == token:
        return
    try:
        claims = validate(KEY, tampered, T0, TokenType.ACCESS)
    except TokenError:
        return
    # base64url's last character carries padding bits: a change there can decode to the same bytes.
    assert claims == read(KEY, token)


@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_garbage_is_a_token_error_never_a_crash(garbage: str) -> None:
    with pytest.raises(TokenError):
        validate(KEY, garbage, T0, TokenType.ACCESS)


@given(st.dictionaries(st.sampled_from(["grant_type", "code", "refresh_token", "client_id"]), st.text()))
def test_garbage_forms_are_oauth_errors_never_a_crash(form: dict[str, str]) -> None:
    with pytest.raises(OAuthError):
        core().token(T0, form)


@pytest.mark.parametrize(("old", "new"), [("-", "+"), ("_", "/")])
def test_the_standard_alphabet_is_another_spelling_refused(old: str, new: str) -> None:
    for n in itertools.count():
        token = sign(KEY, Claims(TokenType.ACCESS, "1001", T0, T0 + 3600, f"j{n}", "s"))
        sig = token.rsplit(".", 1)[1]
        if old in sig:
            break
    with pytest.raises(TokenError) as exc:
        validate(KEY, token[: -len(sig)] + sig.replace(old, new), T0, TokenType.ACCESS)
    assert exc.value.problem is TokenProblem.MALFORMED
