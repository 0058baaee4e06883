"""``finesse-emu up``: the Notification Service checks passwords (attack report, finding 1).

The shared deployment (tests/e2e/shared.py, 127.0.66; test_launcher_admin_token's too): both
Prosody processes run with real accounts, agents log in with their Finesse password and nothing
else, and the ``finesse`` account the nodes publish with has a random password of this deployment,
in ``<run_dir>/xmpp-password`` (0600) only: not in deployment.json, not on a command line, not in
any output or log. Cisco IM&P's nodes (imp-a, imp-b, the desktop chat's server) check passwords the
same way.

The same deployment's EventTunnel, in headless Chromium (last: it signs agent 1001 in). Node A's
Notification Service (Prosody, its own process, on the node's address) serves the tunnel page at
``/tunnel/`` on 7071; the node serves ``/tunnel/EventTunnel.js`` on 8082. A page of another origin
embeds the tunnel as the 10.x library does, the agent signs in over REST and sees its User update
arrive as an EVENT message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser

from emu_base.admin import INSECURE_ENV, TOKEN_ENV
from emu_base.procs import run_cli
from finesse_emu.desktop.xmpp import AgentXmpp
from finesse_emu.xmpp.client import AuthenticationFailed
from finesse_emu.xmpp.event_tunnel import SCRIPT, tunnel_file
from tests.e2e import shared
from tests.integration.test_event_tunnel_browser import (
    EVENT,
    STATUS,
    browser,
    open_tunnel,
    parent_origin,
    sign_in_10x,
)

__all__ = ["browser", "parent_origin"]  # fixtures
pytestmark = pytest.mark.e2e
NETWORK = shared.NETWORK
NODES = {"xmpp-a": f"{NETWORK}.7", "xmpp-b": f"{NETWORK}.8"}  # each node's Prosody, on its address
UP_OUTPUT = shared.UP_OUTPUT
NODE_A = f"{NETWORK}.7"  # finesse-a and its Prosody (xmppDomain = the node's address)
API = "/finesse/api"


def emu(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, INSECURE_ENV)}
    return run_cli(*args, timeout=120, env=env)


@pytest.fixture
def run_dir(shared_deployment: Path) -> Path:
    return shared_deployment


def password_of(run_dir: Path) -> str:
    return (run_dir / "xmpp-password").read_text().strip()


def test_every_prosody_checks_passwords(run_dir: Path) -> None:
    for name in NODES:
        config = (run_dir / name / "prosody.cfg.lua").read_text()
        assert 'authentication = "internal_plain"' in config
        assert "insecure" not in config
        assert '"SCRAM-SHA-1";' in config  # disabled: PLAIN only


def test_the_finesse_password_is_in_a_private_file_only(run_dir: Path) -> None:
    path = run_dir / "xmpp-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = password_of(run_dir)
    assert len(password) >= 32
    state_text = (run_dir / "deployment.json").read_text()
    state = json.loads(state_text)
    assert state["xmpp_password_file"] == str(path.absolute()) and password not in state_text
    for node in ("finesse-a", "finesse-b"):  # the nodes read it from the file
        assert f"xmpp_password_file: {path.absolute()}" in (run_dir / f"{node}.yaml").read_text()
    for pid in [c["pid"] for c in state["components"]] + [state["pid"]]:  # nor on a command line
        assert password not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    assert password not in (run_dir.parent / UP_OUTPUT).read_text()  # up's output
    status = emu("status", "--run-dir", str(run_dir))
    assert status.returncode == 0 and password not in status.stdout
    # Nowhere else in the run directory (logs included) but Prosody's own account files (0600).
    holders = set()
    for file in run_dir.rglob("*"):
        if file.is_file() and password.encode() in file.read_bytes():
            holders.add(file.relative_to(run_dir).as_posix())
    accounts = {f"{name}/data/{NODES[name].replace('.', '%2e')}/accounts/finesse.dat" for name in NODES}
    assert holders == {"xmpp-password", *accounts}
    assert all(stat.S_IMODE((run_dir / f).stat().st_mode) == 0o600 for f in holders)


async def login(host: str, user: str, password: str, wait_finesse: bool = False) -> AgentXmpp:
    client = AgentXmpp(f"{user}@{host}/test", password, host, 5222)
    await client.connect(timeout=10, wait_finesse=wait_finesse)
    return client


async def test_wrong_passwords_are_refused_on_both_nodes(run_dir: Path) -> None:
    password = password_of(run_dir)
    for host in NODES.values():
        # The agent's Finesse password works, and finesse (the node, logged in with the file's
        # password) is available to it: the node's publisher got in.
        agent = await login(host, "1001", "pass1001", wait_finesse=True)
        for user, wrong in (("1001", "wrong"), ("1001", "pass1002"), ("1004", "pass1004"),
                            ("finesse", "finesse"), ("finesse", password[:-1])):  # fmt: skip
            with pytest.raises(AuthenticationFailed):
                await login(host, user, wrong)
        await agent.ping()  # its answer comes after anything Prosody queued for the agent before it
        assert agent.finesse_available and agent.finesse_changes.qsize() == 1  # finesse never kicked
        await agent.disconnect()


def imp_nodes(run_dir: Path) -> dict[str, tuple[str, int, str]]:
    """Cisco IM&P's nodes from deployment.json: name -> (host, c2s port, presence domain)."""
    state = json.loads((run_dir / "deployment.json").read_text())
    return {
        c["name"]: (c["host"], c["ports"]["xmpp"], c["domain"])
        for c in state["components"]
        if c["role"] == "imp"
    }


async def imp_login(node: tuple[str, int, str], user: str, secret: str, timeout: float = 10) -> AgentXmpp:
    host, port, domain = node
    client = AgentXmpp(f"{user}@{domain}/chat", secret, host, port)
    try:
        await client.connect(timeout=timeout)
    except BaseException:
        client.abort()
        raise
    return client


async def test_imp_is_a_cluster_of_its_own_that_checks_passwords(run_dir: Path) -> None:
    """IM&P (the desktop chat's server) on its own addresses: an agent signs in to chat with its own
    password only, never as another agent, and the nodes' ``finesse`` password is no key there."""
    nodes = imp_nodes(run_dir)
    assert {name: host for name, (host, _, _) in nodes.items()} == {
        "imp-a": f"{NETWORK}.11",
        "imp-b": f"{NETWORK}.12",
    }
    password = password_of(run_dir)
    for name, node in nodes.items():
        domain = node[2]
        config = (run_dir / name / "prosody.cfg.lua").read_text()
        assert 'authentication = "internal_plain"' in config and "insecure" not in config
        assert f'VirtualHost "{domain}"' in config
        agent = await imp_login(node, "1001", "pass1001")
        peer = await imp_login(node, "1002", "pass1002")
        for user, wrong in (("1001", "wrong"), ("1001", "pass1002"), ("1002", "pass1001"),
                            ("finesse", password)):  # fmt: skip
            with pytest.raises(AuthenticationFailed):
                await imp_login(node, user, wrong)
        # The one signed in as 1001 is 1001 to the others: a chat from it names it.
        got: asyncio.Queue[str] = asyncio.Queue()
        peer.on_chat = lambda sender, _body, got=got: got.put_nowait(sender)
        await peer.ping()
        agent.send_chat(f"1002@{domain}", "hello")
        assert await asyncio.wait_for(got.get(), 10) == f"1001@{domain}"
        await agent.disconnect()
        await peer.disconnect()


async def test_chaos_freezes_and_resumes_an_imp_node(run_dir: Path) -> None:
    """IM&P's nodes take Prosody's chaos verbs (no control plane): hang is SIGSTOP, heal SIGCONT."""
    node = imp_nodes(run_dir)["imp-b"]
    hang = emu("chaos", "hang", "imp-b", "--run-dir", str(run_dir))
    assert hang.returncode == 0 and "frozen" in hang.stdout, hang.stdout + hang.stderr
    with pytest.raises((TimeoutError, OSError)):
        await imp_login(node, "1003", "pass1003", timeout=0.5)
    heal = emu("chaos", "heal", "imp-b", "--run-dir", str(run_dir))
    assert heal.returncode == 0 and "resumed" in heal.stdout, heal.stdout + heal.stderr
    await (await imp_login(node, "1003", "pass1003")).disconnect()
    refused = emu("chaos", "latency", "imp-b", "--ms", "5", "--run-dir", str(run_dir))
    assert refused.returncode != 0 and "not available" in refused.stderr


def basic(agent: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{agent}:pass{agent}".encode()).decode()}


async def test_a_deployments_tunnel_relays_the_agents_update(
    run_dir: Path, browser: Browser, parent_origin: str
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{NODE_A}:8082/tunnel/{SCRIPT}") as resp:
            assert resp.status == 200 and await resp.read() == tunnel_file(SCRIPT)
        async with http.get(f"http://{NODE_A}:8082{API}/User/1001", headers=basic("1001")) as resp:
            assert resp.status == 200
        t = await open_tunnel(browser, parent_origin, f"http://{NODE_A}:7071")
        await sign_in_10x(t, "1001", "pass1001", domain=NODE_A)
        await t.wait(STATUS, "connected", within=20)
        await t.subscribed(f"{API}/User/1001")
        body = "<User><state>LOGIN</state><extension>2001</extension></User>"
        headers = {**basic("1001"), "Content-Type": "application/xml", "requestId": "rq-e2e"}
        async with http.put(f"http://{NODE_A}:8082{API}/User/1001", data=body, headers=headers) as resp:
            assert resp.status == 202
        event = await t.wait(EVENT, "<requestId>rq-e2e</requestId>", within=20)
        assert event.startswith(f"{EVENT}|{API}/User/1001<Update>")
