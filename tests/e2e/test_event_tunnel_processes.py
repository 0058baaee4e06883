"""``finesse-emu up``: the EventTunnel of a real deployment, in headless Chromium.

One deployment on 127.0.64 (no other test uses it). Node A's Notification Service (Prosody, its own
process, on the node's address) serves the tunnel page at ``/tunnel/`` on 7071; the node serves
``/tunnel/EventTunnel.js`` on 8082. A page of another origin embeds the tunnel as the 10.x library
does, the agent signs in over REST and sees its User update arrive as an EVENT message.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser

from emu_base.admin import INSECURE_ENV, TOKEN_ENV
from emu_base.procs import run_cli
from finesse_emu.xmpp.event_tunnel import SCRIPT, tunnel_file
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
NETWORK = "127.0.64"
NODE_A = f"{NETWORK}.7"  # finesse-a and its Prosody (xmppDomain = the node's address)
API = "/finesse/api"


def emu(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, INSECURE_ENV)}
    return run_cli(*args, timeout=120, env=env)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    run = tmp_path_factory.mktemp("event-tunnel") / "run"
    up = emu("up", "--detach", "--run-dir", str(run), "--agents", "4", "--time-scale", "0.05",
             "--network", NETWORK)  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield run
    finally:
        assert emu("down", "--run-dir", str(run)).returncode == 0


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
