"""The EventTunnel in a real browser: headless Chromium (Debian's) driven by Playwright.

A page of another origin (served by the test, as a gadget container would be) embeds the tunnel
page from the Notification Service's HTTP port in a hidden iframe and drives it with postMessage,
the way Cisco's JavaScript library does: the 10.x library sends ID, XMPPDOMAIN, PASSWORD and
PUBSUBDOMAIN after the tunnel's "loaded"; a 12.x client sends NOTIFICATION_CONNECTION_TYPE,
RESOURCEID and a CONNECT_REQ. A state change over REST must then arrive as an EVENT message.

Chromium missing fails the run (``make test`` installs it), it never skips.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from finesse_emu.xmpp.event_tunnel import SCRIPT, tunnel_file
from tests.helpers import eventually
from tests.integration.test_finesse_node import API, HOST
from tests.integration.test_finesse_node_xmpp import XDeployment, dep_xmpp

__all__ = ["dep_xmpp"]  # the fixture, imported for the tests below

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EVENT, STATUS, RESOURCEID, PRESENCE, SUBSCRIBE, SUBSCRIPTIONS_REQ = "0", "4", "3", "9", "7", "14"

# The parent page: hidden iframe on the tunnel's origin, messages kept only when they come from it
# (the 10.x library checks the origin the same way), a function to post to the tunnel.
PARENT_PAGE = """<!DOCTYPE html>
<html><body><script>
var TUNNEL = new URLSearchParams(location.search).get("tunnel");
window.tunnelMessages = [];
var frame = document.createElement("iframe");
frame.style.display = "none";
frame.src = TUNNEL + "/tunnel/";
document.body.appendChild(frame);
window.addEventListener("message", function (e) {
    if (e.origin === TUNNEL && e.source === frame.contentWindow) {
        window.tunnelMessages.push(e.data);
    }
});
window.tunnelSend = function (message) { frame.contentWindow.postMessage(message, TUNNEL); };
</script></body></html>
"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def parent_origin() -> AsyncIterator[str]:
    """The parent page's web server: an origin of its own (another port), as a gadget container."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PARENT_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/parent.html", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://{HOST}:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Tunnel:
    """One parent page and its tunnel iframe."""

    page: Page

    async def messages(self) -> list[str]:
        result: list[str] = await self.page.evaluate("window.tunnelMessages.slice()")
        return result

    async def send(self, message: Any) -> None:
        await self.page.evaluate("m => window.tunnelSend(m)", message)

    async def wait(self, type_: str, contains: str = "", what: str = "", within: float = 10.0) -> str:
        prefix = f"{type_}|"
        found = await eventually(
            self.messages,
            what or f"a {prefix} message containing {contains!r}",
            until=lambda ms: any(m.startswith(prefix) and contains in m for m in ms),
            within=within,
            every=0.05,
        )
        return str(next(m for m in found if m.startswith(prefix) and contains in m))

    async def subscribed(self, node: str) -> None:
        """Until the pubsub service lists ``node`` among the user's subscriptions (SUBSCRIPTIONS_REQ):
        the node subscribes the agents in the background, an event published earlier is lost."""

        async def ask() -> list[str]:
            await self.send(f"{SUBSCRIPTIONS_REQ}|")
            return await self.of_type(SUBSCRIPTIONS_REQ)

        await eventually(
            ask,
            f"a subscription to {node} listed",
            until=lambda listings: any(f'"node":"{node}"' in m for m in listings),
            within=10.0,
            every=0.1,
        )

    async def of_type(self, type_: str) -> list[str]:
        return [m for m in await self.messages() if m.startswith(f"{type_}|")]


async def open_tunnel(browser: Browser, parent: str, dep: XDeployment | str) -> Tunnel:
    """The parent page with its iframe on ``dep``'s Notification Service (or the origin given)."""
    page = await browser.new_page()
    origin = dep if isinstance(dep, str) else f"http://{dep.prosody.host}:{dep.prosody.http_port}"
    await page.goto(f"{parent}/parent.html?tunnel={origin}")
    t = Tunnel(page)
    await t.wait(STATUS, "loaded", "the tunnel's 4|loaded")
    return t


async def sign_in_10x(t: Tunnel, agent: str, password: str, domain: str = HOST) -> None:
    """What the 10.x library sends after "loaded" (it never sends a connection type)."""
    for message in (f"1|{agent}", f"5|{domain}", f"2|{password}", f"6|pubsub.{domain}"):
        await t.send(message)


async def first_rest_call(dep: XDeployment, agent: str) -> None:
    # The node sets the agent's pubsub subscriptions up on its first REST call.
    status, _, _ = await dep.call("GET", f"/User/{agent}", user=agent)
    assert status == 200


async def log_in(dep: XDeployment, agent: str, **headers: str) -> None:
    """LOGIN over REST (extension 2xxx for agent 1xxx): the node publishes the agent's User update."""
    body = f"<User><state>LOGIN</state><extension>2{agent[1:]}</extension></User>"
    status, _, _ = await dep.call("PUT", f"/User/{agent}", user=agent, body=body, **headers)
    assert status == 202


async def test_10x_tunnel_relays_the_users_update_over_bosh(
    dep_xmpp: XDeployment, browser: Browser, parent_origin: str
) -> None:
    dep = dep_xmpp
    await first_rest_call(dep, "1006")
    t = await open_tunnel(browser, parent_origin, dep)
    await sign_in_10x(t, "1006", "pass1006")
    await t.wait(STATUS, "connected", "4|connected (after the finesse user's presence)")
    await t.wait(PRESENCE, f"<from>finesse@{HOST}")
    assert any("over bosh" in m for m in await t.of_type("13"))  # the default without type 12
    resource = (await t.of_type(RESOURCEID))[-1].split("|", 1)[1]
    assert resource  # generated, as the 10.x library sends none
    await t.subscribed(f"{API}/User/1006")
    await log_in(dep, "1006", requestId="rq-tunnel")
    event = await t.wait(EVENT, "<requestId>rq-tunnel</requestId>")
    # "0|" + the node path + the Update document, unescaped, as the library parses it.
    assert event.startswith(f"0|{API}/User/1006<Update>")
    assert "<state>NOT_READY</state>" in event and "<event>PUT</event>" in event


async def test_12x_connect_request_over_websocket_subscribes_and_lists(
    dep_xmpp: XDeployment, browser: Browser, parent_origin: str
) -> None:
    dep = dep_xmpp
    await first_rest_call(dep, "1008")
    t = await open_tunnel(browser, parent_origin, dep)
    await t.send("12|websocket")
    await t.send("3|gadget-1")
    await t.send(f"6|pubsub.{HOST}")
    await t.send(
        f"10|<connInfo><id>1008</id><password>pass1008</password><xmppDomain>{HOST}</xmppDomain>"
        "<notificationConnectionType>websocket</notificationConnectionType></connInfo>"
    )
    await t.wait(STATUS, "connected")
    assert (await t.of_type(RESOURCEID))[-1] == "3|gadget-1"
    assert any("over websocket" in m for m in await t.of_type("13"))

    await t.subscribed(f"{API}/User/1008")
    assert '"status":"subscribed"' in (await t.of_type(SUBSCRIPTIONS_REQ))[-1]
    await t.send(f"7|{API}/User/1008")  # an explicit subscription answers "7|node"
    assert await t.wait(SUBSCRIBE) == f"7|{API}/User/1008"

    await log_in(dep, "1008")
    await t.wait(EVENT, "<state>NOT_READY</state>")

    await t.send("11|")  # DISCONNECT_REQ
    await t.wait(STATUS, "disconnected")
    assert "4|unloading" in await t.messages()


async def test_wrong_password_reports_unauthorized_and_relays_nothing(
    dep_xmpp: XDeployment, browser: Browser, parent_origin: str
) -> None:
    dep = dep_xmpp
    await first_rest_call(dep, "1009")
    t = await open_tunnel(browser, parent_origin, dep)
    await sign_in_10x(t, "1009", "not-the-password")
    await t.wait(STATUS, "unauthorized")
    await log_in(dep, "1009", requestId="rq-denied")
    await dep.wait_event(f"{API}/User/1009", "rq-denied")  # published: a tunnel signed in would see it
    messages = await t.messages()
    assert "4|connected" not in messages
    assert not [m for m in messages if m.startswith(f"{EVENT}|")]


async def test_an_agents_tunnel_never_receives_another_agents_events(
    dep_xmpp: XDeployment, browser: Browser, parent_origin: str
) -> None:
    dep = dep_xmpp
    for agent in ("1010", "1011"):
        await first_rest_call(dep, agent)
    mine = await open_tunnel(browser, parent_origin, dep)
    other = await open_tunnel(browser, parent_origin, dep)
    await sign_in_10x(mine, "1010", "pass1010")
    await sign_in_10x(other, "1011", "pass1011")
    await mine.wait(STATUS, "connected")
    await other.wait(STATUS, "connected")
    await mine.subscribed(f"{API}/User/1010")
    await other.subscribed(f"{API}/User/1011")
    # 1011 changes state first; 1010's own event, later, shows 1010's tunnel had the time to get it.
    await log_in(dep, "1011")
    await other.wait(EVENT, f"{API}/User/1011")
    await log_in(dep, "1010")
    await mine.wait(EVENT, f"{API}/User/1010")
    assert not [m for m in await mine.of_type(EVENT) if "1011" in m]
    # Nor can it subscribe itself to the other agent's node.
    await mine.send(f"7|{API}/User/1011")
    assert await mine.wait(SUBSCRIBE) == f"7|{API}/User/1011|<ApiErrors/>"


async def test_garbage_messages_never_break_the_tunnel(
    dep_xmpp: XDeployment, browser: Browser, parent_origin: str
) -> None:
    dep = dep_xmpp
    await first_rest_call(dep, "1012")
    t = await open_tunnel(browser, parent_origin, dep)
    for junk in ({"not": "a string"}, 42, None, "", "|", "no delimiter", "99|x", "-1|x", "abc|def",
                 "10|<connInfo", "10|<other/>", "10|<connInfo><id>x</id></connInfo>", "15|{not json",
                 "15|[]", "0|an event from the parent", "4|connected", "16|{}"):  # fmt: skip
        await t.send(junk)
    await t.send("7|/finesse/api/User/1012")  # before connecting: refused, not thrown
    assert await t.wait(SUBSCRIBE) == "7|/finesse/api/User/1012|<ApiErrors/>"
    assert "4|connected" not in await t.messages()  # the parent cannot fake a status

    await sign_in_10x(t, "1012", "pass1012")
    await t.wait(STATUS, "connected")
    await t.subscribed(f"{API}/User/1012")
    await log_in(dep, "1012")
    await t.wait(EVENT, f"{API}/User/1012")


async def test_the_notification_service_going_away_is_reported_disconnected(
    dep_xmpp: XDeployment, browser: Browser, parent_origin: str
) -> None:
    dep = dep_xmpp
    bosh = await open_tunnel(browser, parent_origin, dep)
    ws = await open_tunnel(browser, parent_origin, dep)
    await sign_in_10x(bosh, "1013", "pass1013")
    await ws.send("12|websocket")
    await sign_in_10x(ws, "1014", "pass1014")
    await bosh.wait(STATUS, "connected")
    await ws.wait(STATUS, "connected")
    dep.prosody.kill()
    await bosh.wait(STATUS, "disconnected", "the BOSH tunnel's 4|disconnected")
    await ws.wait(STATUS, "disconnected", "the WebSocket tunnel's 4|disconnected")


async def test_a_second_login_with_the_same_resource_is_a_conflict_for_the_first(
    dep_xmpp: XDeployment, browser: Browser, parent_origin: str
) -> None:
    first = await open_tunnel(browser, parent_origin, dep_xmpp)
    second = await open_tunnel(browser, parent_origin, dep_xmpp)
    for t in (first, second):
        await t.send("3|desk")
    await sign_in_10x(first, "1015", "pass1015")
    await first.wait(STATUS, "connected")
    await sign_in_10x(second, "1015", "pass1015")
    await second.wait(STATUS, "connected")
    await first.wait(STATUS, "conflict", "4|conflict on the tunnel whose session was replaced")


async def test_unanswered_pings_are_a_disconnect_after_the_configured_retries(
    dep_xmpp: XDeployment, browser: Browser, parent_origin: str
) -> None:
    """XMPP_DISCONNECT_PROPERTIES (15) sets the WebSocket ping: a hung server (SIGSTOP: the socket
    stays open, nothing answers) is reported disconnected after the retries, not never."""
    t = await open_tunnel(browser, parent_origin, dep_xmpp)
    props = {"xmppFailoverDetectionPingInterval": "200", "xmppRequestTimeout": "200"}
    await t.send("15|" + json.dumps({**props, "xmppFailoverRequestMaxRetry": "2"}))
    await t.send("12|websocket")
    await sign_in_10x(t, "1016", "pass1016")
    await t.wait(STATUS, "connected")
    pid = dep_xmpp.prosody.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        await t.wait(STATUS, "disconnected", "4|disconnected after two unanswered pings", within=5)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert any("no answer to 2 pings" in m for m in await t.of_type("13"))


async def test_the_node_serves_the_12x_script_on_its_web_port(dep_xmpp: XDeployment) -> None:
    url = f"http://{HOST}:{dep_xmpp.node.http_port}/tunnel/{SCRIPT}"
    async with dep_xmpp.http.get(url) as resp:  # no credentials: static, like the gadgets
        assert resp.status == 200
        assert resp.content_type == "application/javascript"
        assert await resp.read() == tunnel_file(SCRIPT)
