"""Desktop content over real sockets: the desktop URL's two cache parameters on a node (nocache
renders again, bypassServerCache denies the 304), the node's preLoadSecondaryResources desktop
property and who may read it, and the browsers that defeat their cache (Firefox race cache with
network, the cache cleared at every launch), as a desktop's REST side meets a real node."""

from __future__ import annotations

from collections import Counter

import aiohttp
from aiohttp import web
from defusedxml import ElementTree as DET

from emu_base.admin import bound_port
from emu_base.clock import LoopClock
from finesse_emu.desktop.rest import DEFAULT_GADGETS, AgentCredentials, DesktopRest, LoadPlan, NodeEndpoint
from tests.integration.test_finesse_node import HOST, Deployment, basic, deployment

GADGET = "/desktop/gadgets/xml/g1"


async def get(d: Deployment, path: str, **headers: str) -> tuple[int, bytes]:
    async with d.http.get(f"http://{HOST}:{d.node.http_port}{path}", headers=headers) as resp:
        return resp.status, await resp.read()


async def test_nocache_renders_the_gadget_again_bypass_server_cache_denies_the_304() -> None:
    async with deployment() as d:
        stats = d.node.stats
        status, body = await get(d, GADGET)
        assert status == 200
        async with d.http.get(f"http://{HOST}:{d.node.http_port}{GADGET}") as resp:
            etag = resp.headers["ETag"]
        renders, rendered = stats["content_renders"], stats["content_rendered_bytes"]
        # A normal reload: revalidated from the rendered copy, nothing rendered, nothing sent.
        assert (await get(d, GADGET, **{"If-None-Match": etag}))[0] == 304
        assert stats["content_renders"] == renders
        # nocache alone ("to bypass Shindig cache"): the spec is rendered again, the same bytes, so
        # the browser's copy still answers 304: the node's work, not the network's.
        assert (await get(d, f"{GADGET}?nocache=1", **{"If-None-Match": etag}))[0] == 304
        assert stats["content_renders"] == renders + 1
        assert stats["content_rendered_bytes"] == rendered + len(body)
        # bypassServerCache alone ("to bypass Webproxy cache"): the content in full, not rendered.
        assert await get(d, f"{GADGET}?bypassServerCache=true", **{"If-None-Match": etag}) == (200, body)
        assert stats["content_renders"] == renders + 1
        # Both, as the chapter's URL has them: rendered and sent in full.
        both = f"{GADGET}?bypassServerCache=true&nocache=2"
        assert await get(d, both, **{"If-None-Match": etag}) == (200, body)
        assert stats["content_renders"] == renders + 2
        # A JSP gadget is rendered for every request, three times the work.
        before = stats["content_renders"]
        assert (await get(d, "/desktop/gadgets/jsp/g1"))[0] == 200
        assert stats["content_renders"] == before + 3


def rest(
    d: Deployment, plan: LoadPlan, agent: str = "1000", stats: Counter[str] | None = None
) -> DesktopRest:
    """A desktop's REST side; "finesse-b" is the same node under the other node's name (its
    resources are then the other node's as far as the desktop's cache is concerned)."""
    url = f"http://{HOST}:{d.node.http_port}"
    endpoints = {n: NodeEndpoint(n, url, HOST) for n in ("finesse-a", "finesse-b")}
    creds = AgentCredentials(agent, f"pass{agent}", str(int(agent) + 1000))
    return DesktopRest(
        creds, endpoints, d.http, plan, LoopClock(), 5.0, 0.0, stats or Counter(), lambda *_: None
    )


async def test_a_desktop_with_nocache_costs_the_node_renders_a_normal_reload_does_not() -> None:
    async with deployment() as d:
        costs = {}
        for name, plan in (("normal", LoadPlan()), ("nocache", LoadPlan(nocache=True))):
            desktop = rest(d, plan)
            assert (await desktop.load("finesse-a", True))[0].ok
            before = d.node.stats["content_renders"]
            assert (await desktop.load("finesse-a", False))[0].ok  # a reload (failover, refresh)
            costs[name] = d.node.stats["content_renders"] - before
            assert desktop.stats["cache_hits"] == len(plan.paths())  # 304s all the same
        assert costs == {"normal": 0, "nocache": DEFAULT_GADGETS}


async def test_desktop_properties_answer_the_agent_alone() -> None:
    async with deployment(desktop_properties={"preLoadSecondaryResources": False}) as d:
        path = "/User/1000/DesktopProperties"
        status, doc, _ = await d.call("GET", path)
        assert status == 200 and doc is not None
        assert doc.tag == "DesktopProperties" and doc.findtext("preLoadSecondaryResources") == "false"
        assert (await d.call("GET", path, user="1001"))[0] == 401  # another agent's credentials
        assert (await d.call("GET", path, user=None))[0] == 401  # none
        assert (await d.call("GET", "/User/9999/DesktopProperties"))[0] == 404  # nobody: as User
    async with deployment() as d:  # the product's default
        status, doc, _ = await d.call("GET", "/User/1000/DesktopProperties")
        assert status == 200 and doc is not None and doc.findtext("preLoadSecondaryResources") == "true"


async def test_the_desktop_preloads_as_the_node_property_says() -> None:
    resources = LoadPlan().resources
    failover_bytes: dict[bool, int] = {}
    for prop, preloaded in ((True, resources), (False, 0)):
        async with deployment(desktop_properties={"preLoadSecondaryResources": prop}) as d:
            desktop = rest(d, LoadPlan())
            assert (await desktop.load("finesse-a", True))[0].ok
            before = d.node.stats["http_desktop_requests"]
            assert await desktop.preload("finesse-a") is prop
            assert d.node.stats["http_desktop_requests"] - before == preloaded
            # A failover to the other node: what was preloaded is revalidated (304), not fetched.
            sent = d.node.stats["http_bytes"]
            assert (await desktop.load("finesse-b", False))[0].ok
            assert desktop.stats["cache_hits"] == (resources if prop else 0)  # gadgets: not preloaded
            failover_bytes[prop] = d.node.stats["http_bytes"] - sent
    # Without the preload the failover carries the resources too (4 x 60 kB).
    assert failover_bytes[False] - failover_bytes[True] >= resources * 50_000
    # A desktop told not to preload (its own choice) does not ask the node.
    async with deployment() as d:
        desktop = rest(d, LoadPlan(preload_secondary=False))
        assert await desktop.preload("finesse-a") is False and desktop.stats["requests"] == 0


async def test_browsers_that_defeat_their_cache_fetch_in_full() -> None:
    async with deployment() as d:
        full: dict[str, int] = {}
        for name, plan in (
            ("default", LoadPlan()),
            ("rcwn", LoadPlan(rcwn=0.5)),
            ("all", LoadPlan(rcwn=1.0)),
        ):
            desktop = rest(d, plan)
            assert (await desktop.load("finesse-a", True))[0].ok
            first = desktop.stats["full_fetches"]
            for _ in range(4):  # four reloads
                assert (await desktop.load("finesse-a", False))[0].ok
            full[name] = desktop.stats["full_fetches"] - first
            assert desktop.stats["rcwn_fetches"] == full[name]
        reloads = 4 * len(LoadPlan().paths())
        assert full["default"] == 0 and 0 < full["rcwn"] < reloads and full["all"] == reloads
        # The cache cleared at a launch: nothing to revalidate, everything in full.
        desktop = rest(d, LoadPlan())
        assert (await desktop.load("finesse-a", True))[0].ok
        desktop.clear_cache()
        before = desktop.stats["full_fetches"]
        assert (await desktop.load("finesse-a", False))[0].ok
        assert desktop.stats["full_fetches"] - before == len(LoadPlan().paths())


async def test_desktop_properties_document() -> None:
    # The node's document as the desktop parses it (DesktopRest.desktop_properties).
    async with deployment() as d, aiohttp.ClientSession() as http:
        url = f"http://{HOST}:{d.node.http_port}/finesse/api/User/1000/DesktopProperties"
        async with http.get(url, headers=basic("1000")) as resp:
            root = DET.fromstring(await resp.read())
        assert {c.tag: c.text for c in root} == {"preLoadSecondaryResources": "true"}
        assert await rest(d, LoadPlan()).desktop_properties("finesse-a") == {
            "preLoadSecondaryResources": "true"
        }


async def test_a_node_without_the_route_leaves_the_default_and_no_error() -> None:
    """A real Finesse has no DesktopProperties route (404): the desktop keeps the product's default
    (preload on) and reports no HTTP error for it."""
    runner = web.AppRunner(web.Application())  # every path 404
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    try:
        url = f"http://{HOST}:{bound_port(site)}"
        endpoints = {"finesse-a": NodeEndpoint("finesse-a", url, HOST)}
        errors: list[tuple[str, int, str, str]] = []
        async with aiohttp.ClientSession() as http:
            desktop = DesktopRest(
                AgentCredentials("1000", "pass1000", "2000"),
                endpoints,
                http,
                LoadPlan(),
                LoopClock(),
                5.0,
                0.0,
                Counter(),
                lambda *e: errors.append(e),
            )
            assert await desktop.desktop_properties("finesse-a") == {}
            assert await desktop.preload("finesse-a") is True  # no other node to load here
            assert errors == [] and desktop.stats["http_404"] == 0
            assert (await desktop.request("GET", "finesse-a", "/finesse/api/User/1000"))[0] == 404
            assert len(errors) == 1  # any other 404 is reported
    finally:
        await runner.cleanup()
