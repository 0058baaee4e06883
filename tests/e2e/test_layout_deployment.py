"""The node's desktop layout decides what desktops load, on a whole deployment of processes.

Cisco's *Finesse Failover Mechanisms*, "Finesse Configuration": "Configuring fewer gadgets in the
desktop layout results in faster desktop failover and startup"; "XML-based gadgets load much faster
than gadgets served using a dynamic JSP-based URL. The gadget content is also cached at the WebProxy
Service"; "CUIC JSP-based URLs are replaced using the CLI utils finesse layout updateCuicGadgetUrl".

Desktops of a swarm reload (browser refresh, the same full load as a failover's) on the publisher
while its layout changes; the cost is read from the node's own counters (requests and bytes of
desktop content), not from a clock.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from emu_base.admin import auth_headers
from emu_base.timers import Timers
from finesse_emu.deployment.launcher import read_admin_token
from finesse_emu.desktop.rest import LoadPlan
from finesse_emu.desktop.swarm import Swarm, SwarmConfig, directory_agents, endpoints_from_deployment
from tests.e2e.test_launcher import emu
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
SCALE = 0.05
DESKTOPS, RESOURCES = 4, 4  # LoadPlan's four desktop resources


def admin_url(run_dir: Path, name: str) -> str:
    state = json.loads((run_dir / "deployment.json").read_text())
    c = next(c for c in state["components"] if c["name"] == name)
    return f"http://{c['host']}:{c['ports']['admin']}"


async def stats(url: str) -> dict[str, int]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/emu/health") as resp:
        data: dict[str, Any] = await resp.json()
        return dict(data["stats"])


async def reload_cost(swarm: Swarm, url: str, gadgets: int) -> tuple[int, int, int]:
    """Every desktop refreshes; (desktop content requests, their bytes, cache hits) on the node."""
    before = await stats(url)
    hits = sum(c.rest.stats["cache_hits"] for c in swarm.clients)
    for c in swarm.clients:
        c.refresh_browser()
    expected = DESKTOPS * (gadgets + RESOURCES)
    after = await eventually(
        lambda: stats(url),
        f"{expected} desktop content requests",
        until=lambda s: (
            s.get("http_desktop_requests", 0) - before.get("http_desktop_requests", 0) >= expected
        ),
        within=60,
    )
    await swarm.wait(lambda s: s.signed_in("finesse-a") == DESKTOPS, timeout=60)
    after = await stats(url)
    requests = after["http_desktop_requests"] - before["http_desktop_requests"]
    # Bytes: every answer of the node (desktop content and the desktops' REST data, which is the
    # same from one reload to the next).
    return (
        requests,
        after["http_bytes"] - before["http_bytes"],
        sum(c.rest.stats["cache_hits"] for c in swarm.clients) - hits,
    )


async def test_layout_gadget_count_kind_and_the_cuic_rewrite_change_the_reload_load(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    settings = tmp_path / "deployment.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "agents": 8,
                "time_scale": SCALE,
                "network": "127.0.61",
                "finesse": {"layout": {"xml": 2, "cuic_jsp": 4}},
            }
        )
    )
    up = await asyncio.to_thread(emu, "up", "--detach", "--run-dir", str(run_dir), "--config", str(settings))
    assert up.returncode == 0, up.stdout + up.stderr
    pub = admin_url(run_dir, "finesse-a")
    token = read_admin_token(run_dir)
    config = SwarmConfig(
        endpoints_from_deployment(run_dir),
        directory_agents(8)[:DESKTOPS],
        Timers.build(SCALE),
        publisher_share=1.0,  # every desktop on the publisher, whose counters are read
        # The node's layout (no gadget override); no preload of the subscriber's resources, so that
        # the desktops' cache hits are the publisher's.
        plan=LoadPlan(preload_secondary=False),
    )
    swarm = Swarm(config)
    try:
        await swarm.start()
        await swarm.wait(lambda s: s.signed_in("finesse-a") == DESKTOPS, timeout=90)

        # Two XML gadgets and four CUIC JSP ones: the JSP ones come again in full at every reload.
        requests, jsp_bytes, hits = await reload_cost(swarm, pub, gadgets=6)
        assert requests == DESKTOPS * (6 + RESOURCES)
        assert hits == DESKTOPS * (2 + RESOURCES)  # the XML gadgets and resources: 304

        # utils finesse layout updateCuicGadgetUrl, on both nodes of the running deployment.
        done = await asyncio.to_thread(emu, "layout", "update-cuic-gadget-url", "--run-dir", str(run_dir))
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("CUIC gadget URLs changed from JSP to XML: 4") == 2
        await reload_cost(swarm, pub, gadgets=6)  # the XML URLs are new to the browsers: loaded once
        requests, xml_bytes, hits = await reload_cost(swarm, pub, gadgets=6)
        assert requests == DESKTOPS * (6 + RESOURCES)
        assert hits == DESKTOPS * (6 + RESOURCES)  # every gadget now from the cache
        # Four 24 kB gadgets per desktop that JSP sent again and XML does not.
        assert jsp_bytes - xml_bytes > DESKTOPS * 4 * 20_000

        # Fewer gadgets in the layout: fewer requests on the node at the next reload.
        async with (
            aiohttp.ClientSession() as http,
            http.put(f"{pub}/emu/layout", json={"layout": {"xml": 1}}, headers=auth_headers(token)) as resp,
        ):
            assert resp.status == 200
        requests, _, _ = await reload_cost(swarm, pub, gadgets=1)
        assert requests == DESKTOPS * (1 + RESOURCES)
    finally:
        await swarm.stop()
        await asyncio.to_thread(emu, "down", "--run-dir", str(run_dir))
