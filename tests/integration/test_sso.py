"""Single sign-on over real sockets: the emulated Identity Service issues and refreshes tokens, a
node in SSO mode takes ``Authorization: Bearer`` and refuses Basic (but for administrators), expired,
tampered, foreign and unknown tokens, and a token grants only what its user may (the access rules
of Basic: an agent itself, a supervisor its teams).

30 generated agents: 1000 and 1025 supervise teams 1 (1000-1024) and 2 (1025-1029); 1029 is made an
administrator here."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emu_base.directory import generate
from emu_base.timers import Timers
from finesse_emu.desktop.sso import SsoError, Tokens, refresh, sign_in
from finesse_emu.ids.core import IdpUser, IdsCore
from finesse_emu.ids.server import AUTHORIZE, TOKEN, IdsConfig, IdsServer
from finesse_emu.ids.tokens import Claims, TokenType, read, sign
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST, Deployment, deployment, text

KEY = "deployment-signing-key-0123456789"
AGENTS = [dataclasses.replace(a, admin=True) if a.id == "1029" else a for a in generate(30)]
FORM = "application/x-www-form-urlencoded"
REDIRECT = f"http://{HOST}/desktop/sso/authcode"


@dataclasses.dataclass
class Sso:
    dep: Deployment
    ids: IdsServer

    @property
    def url(self) -> str:
        return self.ids.url

    async def tokens(self, user: str, password: str | None = None) -> Tokens:
        return await sign_in(self.dep.http, self.url, user, password or f"pass{user}", REDIRECT, 5.0)

    async def get(self, path: str, token: str | None = None, **headers: str) -> tuple[int, Any]:
        hdrs = dict(headers)
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        status, doc, _ = await self.dep.call("GET", path, user=None, **hdrs)
        return status, doc


@contextlib.asynccontextmanager
async def sso_deployment(
    tmp_path: Path, mode: str = "SSO", access: float = 3600.0, refresh_life: float = 36000.0
) -> AsyncIterator[Sso]:
    key_file = tmp_path / "sso-signing-key"
    key_file.write_text(KEY + "\n")
    timers = Timers.build(1.0, sso_access_token_lifetime=access, sso_refresh_token_lifetime=refresh_life)
    users = [IdpUser(a.id, a.login, a.password) for a in AGENTS]
    ids = IdsServer(IdsConfig(host=HOST, port=0), IdsCore(KEY.encode(), timers, users))
    await ids.start()
    try:
        async with deployment(agents=AGENTS, auth_mode=mode, sso_signing_key_file=str(key_file)) as dep:
            yield Sso(dep, ids)
    finally:
        await ids.stop()


@pytest.fixture
async def sso(tmp_path: Path) -> AsyncIterator[Sso]:
    async with sso_deployment(tmp_path) as s:
        yield s


async def test_system_info_says_sso(sso: Sso) -> None:
    status, doc = await sso.get("/SystemInfo")
    assert status == 200 and text(doc, "systemAuthMode") == "SSO"


async def test_a_bearer_token_grants_its_own_user_and_nobody_elses(sso: Sso) -> None:
    tokens = await sso.tokens("1002")
    status, doc = await sso.get("/User/1002", tokens.access_token)
    assert status == 200 and text(doc, "loginId") == "1002"
    status, doc = await sso.get("/User/1003", tokens.access_token)  # another agent of its team
    assert status == 401 and text(doc, "ApiError/ErrorType") == "Invalid Authorization User Specified"
    status, _ = await sso.get("/Team/1", tokens.access_token)
    assert status == 401


async def test_a_supervisors_token_grants_its_teams_only(sso: Sso) -> None:
    tokens = await sso.tokens("agent0001", "pass1000")  # 1000, by its login name
    assert (await sso.get("/User/1002", tokens.access_token))[0] == 200
    assert (await sso.get("/Team/1", tokens.access_token))[0] == 200
    assert (await sso.get("/User/1026", tokens.access_token))[0] == 401  # team 2
    assert (await sso.get("/Team/2", tokens.access_token))[0] == 401


async def test_basic_is_refused_in_sso_mode_but_for_administrators(sso: Sso) -> None:
    status, doc, _ = await sso.dep.call("GET", "/User/1002", user="1002")
    assert status == 401 and text(doc, "ApiError/ErrorType") == "Authorization Failure"
    status, _, _ = await sso.dep.call("GET", "/User/1002", user="1029")  # the administrator
    assert status == 200
    assert sso.dep.node.stats["auth_sso_basic_refused"] == 1


async def test_refused_tokens_are_the_apis_401(sso: Sso) -> None:
    tokens = await sso.tokens("1002")
    head, body, sig = tokens.access_token.split(".")
    claims = read(KEY.encode(), tokens.access_token)
    forged = sign(b"another deployment", claims)
    someone_else = sign(KEY.encode(), dataclasses.replace(claims, sub="1003"))[: -len(sig)] + sig
    stranger = sign(KEY.encode(), dataclasses.replace(claims, sub="99999"))  # the key's, no such user
    for token in (
        tokens.refresh_token,  # a refresh token is no access token
        forged,
        someone_else,  # the claims of another user under this token's signature
        stranger,
        f"{head}.{body}x.{sig}",  # tampered claims
        "###",
        "",
        "a" * 5000,  # over the token size cap, under the HTTP header limit
    ):
        status, doc = await sso.get("/User/1002", token)
        assert status == 401, token[:40]
        assert text(doc, "ApiError/ErrorType") == "Authorization Failure"
    stats = sso.dep.node.stats
    assert stats["auth_token_wrong_type"] == 1 and stats["auth_token_bad_signature"] == 3
    assert stats["auth_token_unknown_user"] == 1 and stats["auth_token_malformed"] >= 3


async def test_the_ids_refreshes_and_the_expired_access_token_is_refused(tmp_path: Path) -> None:
    async with sso_deployment(tmp_path, access=0.5, refresh_life=30.0) as sso:
        first = await sso.tokens("1002")
        assert first.expires_in == pytest.approx(0.5) and first.refresh_expires_in == pytest.approx(30.0)
        assert (await sso.get("/User/1002", first.access_token))[0] == 200
        # The access token expires and is refused, as the product refuses it...
        await eventually(
            lambda: sso.get("/User/1002", first.access_token),
            "the expired access token refused",
            until=lambda answer: answer[0] == 401,
            within=5.0,
        )
        assert sso.dep.node.stats["auth_token_expired"] >= 1
        # ... and the refresh token gives a new one, the refresh token itself unchanged.
        again = await refresh(sso.dep.http, sso.url, first.refresh_token, 5.0)
        assert again.refresh_token == first.refresh_token and again.access_token != first.access_token
        assert again.refresh_expires_in < first.refresh_expires_in
        assert (await sso.get("/User/1002", again.access_token))[0] == 200


async def test_an_expired_refresh_token_cannot_refresh(tmp_path: Path) -> None:
    async with sso_deployment(tmp_path, access=5.0, refresh_life=0.5) as sso:
        tokens = await sso.tokens("1002")
        # "An access token never outlives its refresh token": cut to 0.5 s.
        assert tokens.expires_in == pytest.approx(0.5)
        claims = read(KEY.encode(), tokens.access_token)
        assert claims.exp == read(KEY.encode(), tokens.refresh_token).exp

        async def refreshed() -> str:
            try:
                await refresh(sso.dep.http, sso.url, tokens.refresh_token, 5.0)
            except SsoError as exc:
                return exc.error
            return "ok"

        await eventually(refreshed, "the refresh refused", until=lambda e: e == "invalid_grant", within=5.0)
        assert (await sso.get("/User/1002", tokens.access_token))[0] == 401


async def test_the_ids_refuses_bad_sign_ins_and_garbage(sso: Sso) -> None:
    with pytest.raises(SsoError) as exc:
        await sign_in(sso.dep.http, sso.url, "1002", "wrong", REDIRECT, 5.0)
    assert (exc.value.status, exc.value.error) == (401, "access_denied")
    http = sso.dep.http
    async with http.get(f"{sso.url}{AUTHORIZE}?response_type=code&client_id=c&state=<x>") as resp:
        page = await resp.text()
        assert resp.status == 200 and 'name="password"' in page and "&lt;x&gt;" in page
    for body, headers in (
        ("not a form", {"Content-Type": "text/plain"}),
        ("grant_type=password&username=1002", {"Content-Type": "application/x-www-form-urlencoded"}),
        (
            "grant_type=refresh_token&refresh_token=%ff%fe",
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        ("a=" + "b" * 40_000, {"Content-Type": "application/x-www-form-urlencoded"}),
    ):
        async with http.post(f"{sso.url}{TOKEN}", data=body.encode(), headers=headers) as resp:
            answer = await resp.json()
            assert resp.status == 400 and answer["error"] in (
                "invalid_request",
                "unsupported_grant_type",
                "invalid_grant",
            ), answer
    assert sso.ids.refused == 5 and sso.ids.issued == 0
    # Still serving.
    assert (await sso.tokens("1002")).access_token


async def test_hybrid_takes_both_and_non_sso_takes_no_bearer(tmp_path: Path) -> None:
    async with sso_deployment(tmp_path, mode="HYBRID") as sso:
        tokens = await sso.tokens("1002")
        assert (await sso.get("/User/1002", tokens.access_token))[0] == 200
        assert (await sso.dep.call("GET", "/User/1002", user="1002"))[0] == 200
        assert text((await sso.get("/SystemInfo"))[1], "systemAuthMode") == "HYBRID"
    async with deployment(agents=AGENTS) as dep:  # NON_SSO, the default
        token = sign(KEY.encode(), Claims(TokenType.ACCESS, "1002", 0, 4e9, "j", "s"))
        status, _, _ = await dep.call("GET", "/User/1002", user=None, Authorization=f"Bearer {token}")
        assert status == 401
        assert text((await dep.call("GET", "/SystemInfo", user=None))[1], "systemAuthMode") == "NON_SSO"
