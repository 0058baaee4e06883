"""Clients that reset their connection mid-request (emu_base/dropped_peers.py), over real sockets:
each is counted in the node's stats (``/emu/health``), one log line says so for all of them, no
traceback is logged, and the node answers the next request."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from emu_base.dropped_peers import DroppedPeers
from emu_base.httpbody import app_runner
from emu_base.procs import free_port
from tests.helpers import eventually
from tests.integration.test_finesse_node import API, HOST, Deployment, basic, deployment

N = 5
BODY = b"<User><state>LOGIN</state><extension>2001</extension></User>"
XML = {"Content-Type": "application/xml"}


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment() as d:
        yield d


async def body_cut_short(port: int, path: str, headers: dict[str, str]) -> asyncio.StreamWriter:
    """A PUT whose body stops halfway (the rest never comes): its handler is left reading it."""
    _reader, writer = await asyncio.open_connection(HOST, port)
    lines = [f"PUT {path} HTTP/1.1", f"Host: {HOST}:{port}", f"Content-Length: {len(BODY)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write("\r\n".join([*lines, "", ""]).encode() + BODY[: len(BODY) // 2])
    await writer.drain()
    return writer


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a browser tab killed or a peer's stack gone does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def test_connections_reset_mid_request_are_counted_and_logged_once(
    dep: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    node = dep.node
    assert node.http_port is not None and node._rest_runner is not None
    server = node._rest_runner.server
    assert server is not None
    key = DroppedPeers.counter("rest")
    with capture_logs() as logs:
        before = server.requests_count
        writers = [
            await body_cut_short(node.http_port, f"{API}/User/10{i:02d}", {**basic(f"10{i:02d}"), **XML})
            for i in range(N)
        ]
        # The node has every request (their headers parsed) before the resets.
        await eventually(
            lambda: server.requests_count - before, f"{N} requests begun", until=lambda n: n >= N
        )
        for writer in writers:
            reset(writer)
        await eventually(
            lambda: (
                node.stats[key],
                [r.getMessage() for r in caplog.records if r.name.startswith("aiohttp")],
            ),
            f"{N} dropped peers counted",
            until=lambda seen: seen[0] == N,
            within=30.0,  # each request is authenticated first (the AWDB), on a loaded machine too
        )
        async with dep.http.get(f"http://{HOST}:{node.admin_port}/emu/health") as resp:
            health = await resp.json()
        assert health["stats"][key] == N
        status, _doc, _ = await dep.call("GET", "/User/1001", user="1001")  # the next one is served
        assert status == 200
    lines = [line for line in logs if line["event"] == "peer_dropped"]
    assert len(lines) == 1, lines
    assert lines[0]["kind"] == "rest" and lines[0]["counter"] == key
    assert "ConnectionResetError" in lines[0]["error"]
    assert not [line for line in logs if line.get("exc_info") or line["log_level"] in ("error", "exception")]
    assert not [r for r in caplog.records if r.name.startswith("aiohttp") and r.levelno >= logging.ERROR]


async def test_one_line_per_kind_and_an_upstream_failure_is_no_dropped_peer() -> None:
    """The middleware alone, on a server made like every server of the project: each kind is logged
    once and counted apart; a connection error while the client is still there (an upstream that
    refused) is not the client's doing and stays aiohttp's 500."""
    counts: Counter[str] = Counter()
    peers = DroppedPeers(counts, "test")

    async def read(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="read")

    async def upstream_refused(_request: web.Request) -> web.Response:
        raise ConnectionRefusedError("the upstream refused")

    app = web.Application(middlewares=[peers.middleware(lambda request: request.path.strip("/"))])
    app.router.add_put("/relay", read)
    app.router.add_put("/api", read)
    app.router.add_get("/upstream", upstream_refused)
    runner = app_runner(app)
    await runner.setup()
    port = free_port(HOST)
    await web.TCPSite(runner, HOST, port).start()
    server = runner.server
    assert server is not None
    try:
        with capture_logs() as logs:
            writers = [await body_cut_short(port, "/relay", {}) for _ in range(3)]
            writers += [await body_cut_short(port, "/api", {}) for _ in range(2)]
            await eventually(lambda: server.requests_count, "5 requests begun", until=lambda n: n >= 5)
            for writer in writers:
                reset(writer)
            expected = {DroppedPeers.counter("relay"): 3, DroppedPeers.counter("api"): 2}
            await eventually(lambda: dict(counts), "the dropped peers counted", until=lambda c: c == expected)
            async with aiohttp.ClientSession() as http, http.get(f"http://{HOST}:{port}/upstream") as resp:
                assert resp.status == 500
            assert dict(counts) == expected
        lines = [line for line in logs if line["event"] == "peer_dropped"]
        assert sorted(line["kind"] for line in lines) == ["api", "relay"]
    finally:
        await runner.cleanup()
