"""The cache and preload guidelines without sockets: what a gadget render costs the node (nocache,
JSP), the desktop URL's cache parameters, the node's desktop properties, and the desktop options
of browsers that defeat their cache or lose the Unavailable presence on a slow network."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import cast

import aiohttp
import pytest

from emu_base.clock import ManualClock
from emu_base.history import History
from emu_base.sansio import Driver
from emu_base.timers import Timers
from finesse_emu.deployment.launcher import node_options
from finesse_emu.desktop.client import AgentCredentials, DesktopClient, LoadPlan, NodeEndpoint
from finesse_emu.desktop.machine import DesktopConfig, DesktopMachine, DesktopState
from finesse_emu.desktop.rest import DesktopRest
from finesse_emu.server import gadgets
from finesse_emu.server import xml as X
from finesse_emu.server.config import NodeConfig
from tests.unit.test_desktop_machine import PUB, SUB, World


def test_a_render_is_counted_xml_from_its_copy_unless_nocache_jsp_three_times() -> None:
    stats: Counter[str] = Counter()
    copy = gadgets.gadget("xml", "g1", stats=stats)
    assert stats["content_renders"] == 0  # the rendered copy (Shindig's cache)
    again = gadgets.gadget("xml", "g1", stats=stats, nocache=True)
    assert again == copy and stats["content_renders"] == 1
    assert stats["content_rendered_bytes"] == len(copy)
    gadgets.gadget("jsp", "g1", request_salt=b"r", stats=stats)
    assert stats["content_renders"] == 1 + gadgets.JSP_COST_FACTOR


def rest(plan: LoadPlan) -> DesktopRest:
    ep = {"finesse-a": NodeEndpoint("finesse-a", "http://127.0.0.1:1", "127.0.0.1")}
    creds = AgentCredentials("1000", "pass1000", "2000")
    no_http = cast("aiohttp.ClientSession", None)  # no request is made
    return DesktopRest(creds, ep, no_http, plan, ManualClock(), 1.0, 0.0, Counter(), lambda *_: None)


def test_the_desktop_url_carries_each_cache_parameter_on_its_own() -> None:
    path = "/desktop/gadgets/xml/g1"
    assert rest(LoadPlan())._url(path) == path
    assert rest(LoadPlan(bypass_server_cache=True))._url(path) == f"{path}?bypassServerCache=true"
    only = rest(LoadPlan(nocache=True))._url(path)
    assert only.startswith(f"{path}?nocache=") and "bypassServerCache" not in only
    both = rest(LoadPlan(bypass_server_cache=True, nocache=True))._url(f"{path}?x=1")
    assert both.startswith(f"{path}?x=1&bypassServerCache=true&nocache=")


def test_desktop_properties_default_override_and_errors() -> None:
    assert NodeConfig().desktop_properties == {"preLoadSecondaryResources": True}  # "By default ... enabled"
    off = NodeConfig(desktop_properties={"preLoadSecondaryResources": False})
    assert off.desktop_properties == {"preLoadSecondaryResources": False}
    with pytest.raises(ValueError, match="unknown desktop properties"):
        NodeConfig(desktop_properties={"preloadSecondaryResources": False})
    with pytest.raises(ValueError, match="true or false"):
        NodeConfig(desktop_properties={"preLoadSecondaryResources": "no"})  # type: ignore[dict-item]
    with pytest.raises(
        ValueError, match=r"scenario: finesse\.desktop_properties: unknown desktop properties"
    ):
        node_options({"desktop_properties": {"nope": True}}, "scenario")
    assert node_options({"desktop_properties": {"preLoadSecondaryResources": False}}, "s")
    body = X.desktop_properties({"preLoadSecondaryResources": False}).decode()
    assert body.endswith(
        "<DesktopProperties><preLoadSecondaryResources>false</preLoadSecondaryResources></DesktopProperties>"
    )


async def signed_in_client(**options: object) -> tuple[DesktopClient, list[bool], aiohttp.ClientSession]:
    """A client whose machine is signed in (driven by the machine tests' World), its drops recorded."""
    http = aiohttp.ClientSession()
    ep = {n: NodeEndpoint(n, "http://127.0.0.1:1", "127.0.0.1") for n in (PUB, SUB)}
    plan = LoadPlan(clear_cache_on_launch=bool(options.pop("clear_cache_on_launch", False)))
    creds = AgentCredentials("1000", "pass1000", "2000")
    slow = bool(options.pop("slow_network", False))
    client = DesktopClient(
        creds, ep, PUB, http, History(None), Timers.build(1.0), plan=plan, slow_network=slow
    )
    w = World(DesktopMachine(DesktopConfig("1000", PUB, SUB, Timers.build(1.0))))
    w.m.start(w.now)
    w.run()
    assert w.m.state is DesktopState.SIGNED_IN
    client.machine = w.m
    client._driver = Driver(w.m, client.clock, client._on_output)
    drops: list[bool] = []

    async def drop(presence: bool) -> None:
        drops.append(presence)

    client._drop = drop  # type: ignore[method-assign]
    return client, drops, http


@pytest.mark.parametrize("slow", [False, True])
async def test_a_slow_network_loses_the_unavailable_presence_of_a_close(slow: bool) -> None:
    client, drops, http = await signed_in_client(slow_network=slow)
    try:
        client.close_browser()
        await asyncio.sleep(0)
        assert drops == [not slow]  # a normal close sends Unavailable; a slow network loses it
        assert client.stats["presence_lost"] == int(slow)
        assert client.machine.state is DesktopState.SIGNED_OUT
    finally:
        await client.stop(presence=False)
        await http.close()


@pytest.mark.parametrize("clear", [False, True])
async def test_a_launch_clears_the_cache_when_the_browser_is_set_so(clear: bool) -> None:
    client, _, http = await signed_in_client(clear_cache_on_launch=clear)
    try:
        client.rest._etags[("finesse-a", "/desktop/resources/bundle0.js")] = '"v1"'
        client.close_browser()
        client.start()  # launched again
        assert bool(client.rest._etags) is not clear
    finally:
        await client.stop(presence=False)
        await http.close()
