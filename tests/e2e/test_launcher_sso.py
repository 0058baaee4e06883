"""``finesse-emu up --sso``, as processes: the Identity Service is a component of its own (HTTPS on
8553 with a certificate of the deployment's CA), both nodes are in SSO mode and check its tokens
with the deployment's signing key, on their own: tokens keep working on either node, and while the
IdS process is down. Access tokens expire and are refused; refresh tokens give new ones.

(The desktop's side, its refreshes and its forced logout at the refresh token's expiry, run over
processes in finesse_emu/scenarios/token-expiry*.yaml, tests/e2e/test_scenarios.py.)"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from emu_base.procs import run_cli
from finesse_emu.desktop.sso import SsoError, Tokens, refresh, sign_in
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
NETWORK = "127.0.70"
NODES = {"finesse-a": f"{NETWORK}.7", "finesse-b": f"{NETWORK}.8"}
IDS = f"https://{NETWORK}.13:8553"
# Emulated seconds at time_scale 0.05: the access token lives 10 s, the refresh token 30 s.
CONFIG = "sso: {access_token_lifetime: 200, refresh_token_lifetime: 600}\n"


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[tuple[Path, aiohttp.ClientSession]]:
    run_dir = tmp_path / "run"
    config = tmp_path / "deployment.yaml"
    config.write_text(CONFIG)
    done = run_cli(
        "up", "--detach", "--sso", "--config", str(config), "--run-dir", str(run_dir),
        "--agents", "5", "--time-scale", "0.05", "--network", NETWORK,
        timeout=120,
    )  # fmt: skip
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        # The client trusts the deployment's CA, and only it: the IdS's certificate is verified.
        context = ssl.create_default_context(cafile=str(run_dir / "ca.crt"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            yield run_dir, http
    finally:
        run_cli("down", "--run-dir", str(run_dir), timeout=60)


async def get(http: aiohttp.ClientSession, node: str, path: str, auth: str) -> int:
    url = f"https://{NODES[node]}:8445/finesse/api{path}"
    async with http.get(url, headers={"Authorization": auth}) as resp:
        return resp.status


async def test_tokens_of_the_ids_process_on_both_nodes_expiry_and_refresh(
    deployment: tuple[Path, aiohttp.ClientSession],
) -> None:
    run_dir, http = deployment
    redirect = f"https://{NODES['finesse-a']}:8445/desktop/sso/authcode"
    tokens: Tokens = await sign_in(http, IDS, "1001", "pass1001", redirect, 10.0)
    assert tokens.expires_in == pytest.approx(10.0) and tokens.refresh_expires_in == pytest.approx(30.0)
    bearer = f"Bearer {tokens.access_token}"
    for node, host in NODES.items():  # one IdS, one key: the token is good on either node
        assert await get(http, node, "/User/1001", bearer) == 200
        assert await get(http, node, "/User/1002", bearer) == 401  # not its user
        async with http.get(f"https://{host}:8445/finesse/api/SystemInfo") as resp:
            assert "<systemAuthMode>SSO</systemAuthMode>" in await resp.text()
    basic = aiohttp.encode_basic_auth("1001", "pass1001")
    assert await get(http, "finesse-a", "/User/1001", basic) == 401  # SSO mode: no Basic for agents
    with pytest.raises(SsoError, match="access_denied"):
        await sign_in(http, IDS, "1001", "wrong", redirect, 10.0)

    # The nodes check tokens without the IdS: it is stopped, and the token still works.
    state = json.loads((run_dir / "deployment.json").read_text())
    (ids,) = [c for c in state["components"] if c["name"] == "ids"]
    assert ids["role"] == "ids" and ids["ports"] == {"ids": 8553, "admin": 8554}
    run_cli("chaos", "kill", "ids", "--run-dir", str(run_dir), timeout=30)
    assert await get(http, "finesse-b", "/User/1001", bearer) == 200

    # The access token expires (10 s) and is refused, as the product refuses it.
    async def status() -> int:
        return await get(http, "finesse-a", "/User/1001", bearer)

    await eventually(status, "the expired access token refused", until=lambda s: s == 401, within=20)
    run_cli("chaos", "start", "ids", "--run-dir", str(run_dir), timeout=60)

    async def refreshed() -> Tokens | str:
        try:
            return await refresh(http, IDS, tokens.refresh_token, 5.0)
        except SsoError as exc:
            return exc.error or "unreachable"

    again = await eventually(
        refreshed, "a new access token", until=lambda t: isinstance(t, Tokens), within=30
    )
    assert isinstance(again, Tokens) and again.refresh_token == tokens.refresh_token
    assert await get(http, "finesse-a", "/User/1001", f"Bearer {again.access_token}") == 200
