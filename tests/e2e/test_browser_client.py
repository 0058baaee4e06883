"""A browser client of a real deployment: headless Chromium runs an agent page, as a third-party gadget.

The page (``tests/e2e/pages/agent.html``) uses the EventTunnel as Cisco's Finesse JavaScript library
does (a hidden iframe on the Notification Service's origin, port 7071, driven with postMessage), signs
in over REST with fetch() and Basic auth, changes state, and records in its DOM each User event it
receives. Served by the node itself at ``/3rdpartygadget/files/`` (same origin as the REST API) it
works as deployed. Served from another origin it fails while CORS is off, Finesse's default (the
browser refuses the preflight, the node's state does not change), and works once
``finesse-emu cors add`` allows that origin.

One deployment on 127.0.69 (no other test uses it). Chromium missing fails the run, it never skips.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from emu_base.admin import INSECURE_ENV, TOKEN_ENV
from emu_base.procs import run_cli
from tests.integration.test_event_tunnel_browser import browser

__all__ = ["browser"]  # the fixture: Debian's chromium, a failure when it is missing
pytestmark = pytest.mark.e2e
NETWORK = "127.0.69"
NODE = f"http://{NETWORK}.7:8082"  # finesse-a's web port; its Prosody's tunnel is on :7071
OTHER_HOST = f"{NETWORK}.50"  # the other origin's web server
PAGES = Path(__file__).parent / "pages"
# The page's state changes and the state of the User event each one must bring (LOGIN: NOT_READY).
STEPS = [("LOGIN", "NOT_READY"), ("READY", "READY"), ("NOT_READY", "NOT_READY")]
WITHIN_MS = 30_000


def emu(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, INSECURE_ENV)}
    return run_cli(*args, timeout=120, env=env)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("browser-client")
    config = base / "deployment.yaml"
    config.write_text(
        f"agents: 4\ntime_scale: 0.05\nnetwork: {NETWORK}\nfinesse: {{thirdparty_dir: '{PAGES}'}}\n"
    )
    run = base / "run"
    try:
        up = emu("up", "--detach", "--config", str(config), "--run-dir", str(run))
        assert up.returncode == 0, up.stdout + up.stderr
        yield run
    finally:
        assert emu("down", "--run-dir", str(run)).returncode == 0


@pytest.fixture
async def other_origin() -> AsyncIterator[str]:
    """The same pages from a web server of another origin (another address and port)."""
    app = web.Application()
    app.router.add_static("/", PAGES)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, OTHER_HOST, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://{OTHER_HOST}:{port}"
    finally:
        await runner.cleanup()


async def seen(page: Page) -> dict[str, Any]:
    """What the page recorded: its result, the tunnel's status, its REST calls and User events."""
    found: dict[str, Any] = await page.evaluate(
        """() => ({
            result: document.getElementById("result").textContent,
            tunnel: document.getElementById("tunnel").textContent,
            rest: [...document.querySelectorAll("#rest li")].map(li => ({...li.dataset})),
            events: [...document.querySelectorAll("#events li")].map(li => ({...li.dataset})),
        })"""
    )
    return found


async def finished(page: Page) -> dict[str, Any]:
    """Until the page's run is over (done or failed), bounded; then what it recorded."""
    try:
        await page.wait_for_function(
            "() => document.getElementById('result').textContent !== 'running'",
            polling=100,
            timeout=WITHIN_MS,
        )
    except PlaywrightTimeout:
        pytest.fail(f"the page never finished within {WITHIN_MS} ms: {await seen(page)}")
    return await seen(page)


def assert_every_state_change_seen(found: dict[str, Any]) -> None:
    assert found["result"] == "done", found
    assert found["tunnel"] == "connected", found
    assert [(r["state"], r["outcome"]) for r in found["rest"]] == [(s, "202") for s, _ in STEPS]
    for i, (state, published) in enumerate(STEPS):
        caused = [e["state"] for e in found["events"] if e["requestId"] == f"page-{i}-{state}"]
        assert caused == [published], (state, found["events"])


async def user_state(agent: str) -> str:
    """The agent's state as the node has it (GET User, from outside the browser)."""
    auth = "Basic " + base64.b64encode(f"{agent}:pass{agent}".encode()).decode()
    url = f"{NODE}/finesse/api/User/{agent}"
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Authorization": auth}) as resp:
        assert resp.status == 200
        match = re.search(r"<state>(\w+)</state>", await resp.text())
    assert match is not None
    return match.group(1)


async def test_a_page_from_3rdpartygadget_files_signs_in_and_sees_each_event(
    run_dir: Path, browser: Browser
) -> None:
    page = await browser.new_page()
    await page.goto(f"{NODE}/3rdpartygadget/files/agent.html?agent=1001")
    assert_every_state_change_seen(await finished(page))
    assert await user_state("1001") == "NOT_READY"


async def test_a_page_of_another_origin_fails_until_cors_allows_it(
    run_dir: Path, browser: Browser, other_origin: str
) -> None:
    page = await browser.new_page()
    await page.goto(f"{other_origin}/agent.html?agent=1002&rest={NODE}")
    found = await finished(page)
    # The tunnel is on its own origin and connects; the REST call is refused by the browser.
    assert found["tunnel"] == "connected", found
    assert found["result"] == "rest failed", found
    assert [(r["state"], r["outcome"]) for r in found["rest"]] == [("LOGIN", "failed")]
    assert found["events"] == []
    assert await user_state("1002") == "LOGOUT"  # the PUT never reached the node

    done = emu("cors", "add", other_origin, "--run-dir", str(run_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    await page.reload()
    assert_every_state_change_seen(await finished(page))
    assert await user_state("1002") == "NOT_READY"
