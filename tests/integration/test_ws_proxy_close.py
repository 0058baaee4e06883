"""Closing the web port's WebSocket relays (server/ws_proxy.py) is bounded by the configured grace,
whatever their clients do: a desktop that stopped reading its socket (its buffers full of frames the
Notification Service kept sending) would otherwise keep the close handshake, and with it the node's
webapp_down or its shutdown, waiting for ever. Real sockets: an upstream WebSocket that floods, the
relay on an aiohttp server made like the node's, a client that never reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from emu_base.httpbody import app_runner
from emu_base.procs import free_port
from finesse_emu.server.cors import CorsPolicy
from finesse_emu.server.ws_proxy import SUBPROTOCOL, WebSocketProxy, install
from tests.helpers import eventually

HOST = "127.0.0.1"
GRACE = 0.3  # the proxy's close grace in this test (real seconds, as Timers.http_shutdown_grace)
FRAME = "x" * 60_000


async def flood(request: web.Request) -> web.WebSocketResponse:
    """An upstream that sends frames as long as it is let (it stands for a busy Notification Service)."""
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,))
    await ws.prepare(request)

    async def send() -> None:
        while True:
            await ws.send_str(FRAME)

    sending = asyncio.ensure_future(send())
    async for _msg in ws:  # until the relay closes (answered, as Prosody answers a close)
        pass
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    return ws


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = app_runner(app)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    return runner


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/ws", flood)
    port = free_port(HOST)
    runner = await serve(app, port)
    yield f"ws://{HOST}:{port}/ws"
    await runner.cleanup()


async def test_closing_relays_cuts_a_client_that_does_not_read(upstream: str) -> None:
    proxy = WebSocketProxy(upstream, CorsPolicy(), connect_timeout=5.0, close_grace=GRACE)
    app = web.Application()
    install(app, proxy)
    port = free_port(HOST)
    runner = await serve(app, port)
    async with aiohttp.ClientSession() as session:
        # Never read: aiohttp's client stops reading its socket once 64 KiB wait in its queue.
        ws = await session.ws_connect(f"ws://{HOST}:{port}/ws/", protocols=(SUBPROTOCOL,))
        requests = list(proxy._open.values())
        assert len(requests) == 1
        transport = requests[0].transport
        assert transport is not None
        # The relay's socket to the client is full: the relay's writes wait (asyncio's high-water
        # mark is 64 KiB) and a close handshake would wait behind them.
        await eventually(
            transport.get_write_buffer_size,
            "the relay's writes to the client backed up",
            until=lambda size: size >= 64 * 1024,
            within=20.0,
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(proxy.close_relays(), timeout=10 * GRACE)
        took = loop.time() - started
        assert GRACE * 0.9 <= took < 5 * GRACE, took
        await eventually(lambda: proxy.relays == 0, "the relay ended")
        started = loop.time()
        await asyncio.wait_for(runner.cleanup(), timeout=10 * GRACE)  # the node's teardown, bounded
        assert loop.time() - started < 5 * GRACE
        await ws.close()
