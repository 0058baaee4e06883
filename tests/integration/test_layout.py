"""The desktop layout a node serves, over real sockets: who may read it, team layouts, the control
plane's rewrite of CUIC JSP gadget URLs, and what a desktop loads (and costs the node) because of it.

Cisco's *Finesse Failover Mechanisms*: "Configuring fewer gadgets in the desktop layout results in
faster desktop failover and startup"; "XML-based gadgets load much faster than gadgets served using
a dynamic JSP-based URL. The gadget content is also cached at the WebProxy Service".
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp

from emu_base.admin import auth_headers
from emu_base.clock import LoopClock
from finesse_emu.desktop.rest import AgentCredentials, DesktopRest, LoadPlan, NodeEndpoint
from tests.integration.test_finesse_node import HOST, Deployment, basic, deployment, text

TOKEN = "layout-test-token"
CUIC_JSP = ["/desktop/gadgets/jsp/cuic0", "/desktop/gadgets/jsp/cuic1"]


def gadgets(doc: Any) -> list[str]:
    from defusedxml import ElementTree as DET

    inner = DET.fromstring(text(doc, "layoutxml"))
    return [g.text or "" for g in inner.iter("{http://www.cisco.com/vtg/finesse}gadget")]


async def admin(
    d: Deployment, method: str, path: str, token: str | None = TOKEN, **kw: Any
) -> tuple[int, Any]:
    url = f"http://{HOST}:{d.node.admin_port}{path}"
    async with d.http.request(method, url, headers=auth_headers(token), **kw) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_layout_config_access_team_layouts_and_the_cuic_rewrite() -> None:
    async with deployment(
        layout={"xml": 2, "cuic_jsp": 2}, team_layouts={2: {"xml": 1}}, admin_token=TOKEN
    ) as d:
        # The user's own credentials: its layout, the default one for team 1.
        status, doc, _ = await d.call("GET", "/User/1001/LayoutConfig", user="1001")
        assert status == 200 and text(doc, "useDefault") == "true"
        default = ["/desktop/gadgets/xml/gadget0", "/desktop/gadgets/xml/gadget1", *CUIC_JSP]
        assert gadgets(doc) == default
        status, doc, _ = await d.call("GET", "/User/agent0002/LayoutConfig", user="1001")  # login name
        assert status == 200 and gadgets(doc) == default
        # Team 2 has its own layout.
        status, doc, _ = await d.call("GET", "/User/1026/LayoutConfig", user="1026")
        assert status == 200 and text(doc, "useDefault") == "false"
        assert gadgets(doc) == ["/desktop/gadgets/xml/gadget0"]

        # Who may not: no credentials, a wrong password, another agent, the agent's supervisor.
        status, _, _ = await d.call("GET", "/User/1001/LayoutConfig", user=None)
        assert status == 401
        url = f"http://{HOST}:{d.node.http_port}/finesse/api/User/1001/LayoutConfig"
        async with d.http.get(url, headers=basic("1001", "wrong")) as resp:
            assert resp.status == 401
        for caller in ("1002", "1000", "1026"):  # 1000 supervises team 1: still not its layout
            status, doc, _ = await d.call("GET", "/User/1001/LayoutConfig", user=caller)
            assert status == 401 and text(doc, "ApiError/ErrorType") == "Invalid Authorization User Specified"
        status, _, _ = await d.call("GET", "/User/99999/LayoutConfig", user="1001")
        assert status == 404

        # The control plane: its token only.
        assert (await admin(d, "GET", "/emu/layout", token=None))[0] == 401
        assert (await admin(d, "POST", "/emu/layout/update-cuic-gadget-url", token="wrong"))[0] == 401
        status, shown = await admin(d, "GET", "/emu/layout")
        assert (
            status == 200
            and shown["default"] == default
            and shown["teams"] == {"2": ["/desktop/gadgets/xml/gadget0"]}
        )
        assert shown["users"] == 30 and shown["jsp_gadgets_per_user"] == round(2 * 25 / 30, 3)

        # utils finesse layout updateCuicGadgetUrl: CUIC JSP -> XML, live.
        status, done = await admin(d, "POST", "/emu/layout/update-cuic-gadget-url")
        assert status == 200 and done["changed"] == 2 and done["jsp_gadgets_per_user"] == 0
        status, doc, _ = await d.call("GET", "/User/1001/LayoutConfig", user="1001")
        assert gadgets(doc) == [*default[:2], "/desktop/gadgets/xml/cuic0", "/desktop/gadgets/xml/cuic1"]
        status, done = await admin(d, "POST", "/emu/layout/update-cuic-gadget-url")
        assert done["changed"] == 0
        # A layout that does not parse is refused, the current one kept.
        status, refused = await admin(d, "PUT", "/emu/layout", json={"layout": {"svg": 1}})
        assert status == 400 and "svg" in refused["error"]
        assert (await admin(d, "GET", "/emu/layout"))[1]["default"][2] == "/desktop/gadgets/xml/cuic0"


async def _load(d: Deployment, rest: DesktopRest) -> tuple[int, int]:
    """One desktop load; what it cost the node: (desktop content requests, bytes sent)."""
    before = d.node.stats["http_desktop_requests"], d.node.stats["http_bytes"]
    result, _ = await rest.load("finesse-a", config=False)
    assert result.ok, result.error
    return d.node.stats["http_desktop_requests"] - before[0], d.node.stats["http_bytes"] - before[1]


async def test_the_desktop_loads_what_the_layout_says_and_the_node_pays_for_it() -> None:
    async with deployment(layout={"xml": 6}, admin_token=TOKEN) as d:
        endpoint = NodeEndpoint("finesse-a", f"http://{HOST}:{d.node.http_port}", HOST)
        agent = AgentCredentials("1001", "pass1001", "2001")

        def desktop(plan: LoadPlan) -> DesktopRest:
            return DesktopRest(
                agent,
                {"finesse-a": endpoint},
                d.http,
                plan,
                LoopClock(),
                5.0,
                0.0,
                Counter(),
                lambda *a: None,
            )

        rest = desktop(LoadPlan(resources=1))
        assert (await _load(d, rest))[0] == 6 + 1  # the six gadgets of the node's layout and a resource
        # Fewer gadgets in the layout: fewer requests on the node, for the desktops that load next.
        assert (await admin(d, "PUT", "/emu/layout", json={"layout": {"xml": 2}}))[0] == 200
        requests, _ = await _load(d, rest)
        assert requests == 2 + 1

        # XML vs JSP: the same count, but a reload of XML gadgets is answered from the cache (304,
        # no bytes), while a JSP gadget is rendered and sent again on every load.
        await admin(d, "PUT", "/emu/layout", json={"layout": {"xml": 4}})
        xml_first = await _load(d, rest)
        xml_reload = await _load(d, rest)
        await admin(d, "PUT", "/emu/layout", json={"layout": {"cuic_jsp": 4}})
        jsp_first = await _load(d, rest)
        jsp_reload = await _load(d, rest)
        assert xml_first[0] == xml_reload[0] == jsp_first[0] == jsp_reload[0] == 4 + 1
        assert xml_reload[1] < 4_000  # the user's data only
        assert jsp_reload[1] > 4 * 20_000 + xml_reload[1]
        # After the rewrite the same desktop loads the XML gadgets, then from the cache.
        await admin(d, "POST", "/emu/layout/update-cuic-gadget-url")
        await _load(d, rest)
        assert (await _load(d, rest))[1] < 4_000

        # The swarm's explicit override still wins over the node's layout.
        requests, _ = await _load(d, desktop(LoadPlan(gadgets=3, kind="jsp", resources=0)))
        assert requests == 3


async def test_a_node_without_a_layout_route_gives_the_default_desktop() -> None:
    """Against a server that answers 404 for LayoutConfig (a real Finesse's desktop page carries
    it), the desktop loads its default six XML gadgets."""
    from aiohttp import web

    app = web.Application()
    seen: list[str] = []

    async def any_path(request: web.Request) -> web.Response:
        seen.append(request.path)
        status = 404 if request.path.endswith("/LayoutConfig") else 200
        return web.Response(status=status, body=b"<User><state>NOT_READY</state></User>")

    app.router.add_get("/{tail:.*}", any_path)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            rest = DesktopRest(
                AgentCredentials("1001", "p", "2001"),
                {"n": NodeEndpoint("n", f"http://{HOST}:{port}", HOST)},
                http,
                LoadPlan(resources=0),
                LoopClock(),
                5.0,
                0.0,
                Counter(),
                lambda *a: None,
            )
            result, _ = await rest.load("n", config=False)
        assert result.ok
        assert [p for p in seen if "/gadgets/" in p] == [f"/desktop/gadgets/xml/gadget{i}" for i in range(6)]
    finally:
        await runner.cleanup()
