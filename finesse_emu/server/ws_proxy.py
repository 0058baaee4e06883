"""The Notification Service's WebSocket through the node's web port: ``wss://<node>:8445/ws/`` (12.6).

Cisco's developer FAQ: "For Finesse 12.6(1) and above: 8445", the WebSocket on the web server's own
origin, where the desktop and the 12.x EventTunnel (``/tunnel/EventTunnel.js``) open ``/ws/``. The
node relays each such WebSocket (RFC 7395, subprotocol ``xmpp``) to its own Prosody's WebSocket on
the plain HTTP port, frame for frame: XMPP, SASL and the password check stay Prosody's, as on a real
node where Tomcat fronts Openfire. Offered when the node's release has it (server/versions.py).

What it refuses, so that it is never more than the node's own Notification Service:
- any other target: the upstream is fixed when the node starts (its ``xmpp_host`` and
  ``xmpp_http_port``), nothing of the request (path, query, Host, headers) chooses it, and only
  ``/ws`` and ``/ws/`` are routed;
- a request that is no WebSocket upgrade (400) or does not offer ``xmpp`` (501, Prosody's answer);
- a page of another origin, unless the node's CORS list allows it (403; server/cors.py: CORS is off
  by default for the Notification Service too; a request without ``Origin`` is no browser's);
- binary frames (RFC 7395 frames are text: close 1003) and frames over :data:`MAX_FRAME` (1009,
  Prosody's own stanza limit), closing both sides.
A Notification Service that does not answer is a 502 before the upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import aiohttp
from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from emu_base.logs import get_logger
from finesse_emu.server.cors import CorsPolicy, normalize_origin

WS_PATHS = ("/ws", "/ws/")
SUBPROTOCOL = "xmpp"
# Prosody's c2s_stanza_size_limit (256 KiB, mod_websocket's frame limit): a bigger frame is refused
# here as Prosody would refuse it, before it crosses the relay.
MAX_FRAME = 256 * 1024
# Close codes an endpoint may send (RFC 6455 7.4.1: 1005, 1006 and 1015 are never sent).
_SENDABLE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011}

log = get_logger()


def origin_allowed(origin: str | None, own: str, policy: CorsPolicy) -> bool:
    """A WebSocket from ``origin`` may use the node's Notification Service: no ``Origin`` (not a
    browser), the node's own origin ``own`` (its desktop, the EventTunnel it serves), or an origin
    the node's CORS list allows."""
    if origin is None:
        return True
    try:
        if normalize_origin(origin) == normalize_origin(own):
            return True
    except ValueError:  # "null" (a sandboxed frame) and the like
        return False
    return policy.allows(origin)


class _Socket(Protocol):
    """What the relay needs of either end (aiohttp's server and client WebSockets)."""

    @property
    def close_code(self) -> int | None: ...

    async def receive(self, timeout: float | None = None) -> WSMessage: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"") -> bool: ...


async def _forward(src: _Socket, dst: _Socket) -> int:
    """Text frames from ``src`` to ``dst`` until ``src`` ends; the close code to pass on."""
    while True:
        msg = await src.receive()
        if msg.type is WSMsgType.TEXT:
            try:
                await dst.send_str(msg.data)
            except ConnectionError:  # the other end is gone
                return WSCloseCode.GOING_AWAY
        elif msg.type is WSMsgType.BINARY:
            return WSCloseCode.UNSUPPORTED_DATA
        elif msg.type is WSMsgType.CLOSE:
            return int(msg.data) if isinstance(msg.data, int) else WSCloseCode.OK
        else:  # CLOSING, CLOSED, ERROR (too big, bad framing): src has closed itself
            return src.close_code or WSCloseCode.GOING_AWAY


async def _close(ws: web.WebSocketResponse) -> None:
    with contextlib.suppress(Exception):  # the client may be gone already
        await ws.close(code=WSCloseCode.GOING_AWAY)


def _sendable(code: int) -> int:
    # 1005/1006 (no status, abnormal) only describe what happened; the other side hears "going away".
    return code if code in _SENDABLE or 3000 <= code <= 4999 else WSCloseCode.GOING_AWAY


class WebSocketProxy:
    """One node's relay to ``upstream`` (its Prosody's ``ws://host:port/ws``)."""

    def __init__(
        self,
        upstream: str,
        cors: CorsPolicy,
        connect_timeout: float,
        close_grace: float,
        max_frame: int = MAX_FRAME,
    ):
        self.upstream = upstream
        self.cors = cors
        self.connect_timeout = connect_timeout
        # How long closing the relays may wait for their clients (Timers.http_shutdown_grace).
        self.close_grace = close_grace
        self.max_frame = max_frame
        self.relays = 0  # relays open now
        self._session: aiohttp.ClientSession | None = None
        self._open: dict[web.WebSocketResponse, web.Request] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=self.max_frame)
        ready = ws.can_prepare(request)
        if not ready.ok:
            return web.Response(
                status=400, text="a WebSocket upgrade (RFC 7395, subprotocol xmpp) is expected\n"
            )
        if ready.protocol != SUBPROTOCOL:
            return web.Response(status=501, text="the WebSocket subprotocol must be xmpp (RFC 7395)\n")
        own = f"{request.scheme}://{request.host}"
        if not origin_allowed(request.headers.get("Origin"), own, self.cors):
            log.info("ws_proxy_origin_refused", origin=request.headers.get("Origin"))
            return web.Response(status=403, text="origin not allowed\n")
        try:
            async with asyncio.timeout(self.connect_timeout):  # a hung Prosody accepts, never answers
                upstream = await self._client().ws_connect(
                    self.upstream,
                    protocols=(SUBPROTOCOL,),
                    max_msg_size=self.max_frame,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self.connect_timeout),
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("ws_proxy_upstream_failed", upstream=self.upstream, error=repr(exc))
            return web.Response(status=502, text="the Notification Service does not answer\n")
        self._open[ws] = request
        self.relays += 1
        try:
            await ws.prepare(request)
            await self._relay(ws, upstream)
        finally:
            self.relays -= 1
            self._open.pop(ws, None)
            if not upstream.closed:  # the client went away during the upgrade, or we were cancelled
                with contextlib.suppress(Exception):
                    await upstream.close(code=WSCloseCode.GOING_AWAY)
        return ws

    async def _relay(self, client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
        up = asyncio.ensure_future(_forward(client, upstream))
        down = asyncio.ensure_future(_forward(upstream, client))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
            results = await asyncio.gather(up, down, return_exceptions=True)
        codes = [r for r in results if isinstance(r, int)]
        code = _sendable(codes[0] if codes else WSCloseCode.GOING_AWAY)
        with contextlib.suppress(Exception):  # either may be gone already
            await upstream.close(code=code)
        with contextlib.suppress(Exception):
            await client.close(code=code)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # The node's own Prosody on loopback: no proxy from the environment, no cookies kept.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close_relays(self) -> None:
        """End every relay now (1001, going away): the web server they pass through is going down.

        The closing handshakes get :attr:`close_grace` in all: a client that no longer reads its
        socket would keep a close waiting for ever (its send buffer full), so what is still open
        then has its connection cut, as a server going down does."""
        relays = dict(self._open)
        if not relays:
            return
        closes = {asyncio.ensure_future(_close(ws)): request for ws, request in relays.items()}
        _done, late = await asyncio.wait(closes, timeout=self.close_grace)
        for task in late:
            task.cancel()
            transport = closes[task].transport
            if transport is not None:
                transport.abort()
        if late:
            await asyncio.wait(late, timeout=self.close_grace)  # the cancels run (bounded all the same)
            log.info("ws_proxy_relays_cut", relays=len(late), grace=self.close_grace)

    async def close(self) -> None:
        """Close every relay (a stopping web server would wait for them) and the client session."""
        await self.close_relays()
        if self._session is not None:
            await self._session.close()


PROXY_KEY: web.AppKey[WebSocketProxy] = web.AppKey("finesse_ws_proxy", WebSocketProxy)


async def drop_relays(app: web.Application) -> None:
    """The web application going down takes the WebSockets through it along (the node's
    ``webapp_down`` fault: Tomcat stops, and so does 12.6's notification path through it)."""
    proxy = app.get(PROXY_KEY)
    if proxy is not None:
        await proxy.close_relays()


def install(app: web.Application, proxy: WebSocketProxy) -> None:
    """Route ``/ws`` and ``/ws/`` of the node's web app to ``proxy``; it closes with the app."""
    app[PROXY_KEY] = proxy
    for path in WS_PATHS:
        app.router.add_get(path, proxy.handle)

    async def shutdown(_app: web.Application) -> None:
        await proxy.close()

    app.on_shutdown.append(shutdown)
