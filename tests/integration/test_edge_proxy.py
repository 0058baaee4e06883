"""The client-path proxy (finesse_emu/edge/server.py) over real sockets: a client through the proxy
sees each fault posted to its control plane as such (latency added within 10%, bandwidth within
10%, reset as ECONNRESET, timeout as no bytes), on new and existing connections, and healed by
DELETE; a refused upstream resets the client at once; the control plane takes only its token.

The timed figures are ratios or measured against the configured value with a 10% bound on delays
of a few hundred milliseconds, far above a loaded machine's timer lag (a few milliseconds).
"""

from __future__ import annotations

import asyncio
import socket
import statistics
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from finesse_emu.edge.server import EdgeProxy, Route
from tests.helpers import eventually

TOKEN = "edge-token"
HOST = "127.0.0.1"


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo every byte; on 'SEND n', send n bytes instead."""
    try:
        while data := await reader.read(65536):
            if data.startswith(b"SEND "):
                writer.write(b"y" * int(data[5:]))
            else:
                writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def upstream() -> AsyncIterator[int]:
    server = await asyncio.start_server(echo, HOST, 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.fixture
async def proxy(upstream: int) -> AsyncIterator[EdgeProxy]:
    p = EdgeProxy(
        "edge-t",
        [Route("rest", HOST, 0, HOST, upstream), Route("xmpp", HOST, 0, HOST, upstream)],
        HOST,
        0,
        TOKEN,
    )
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


class Control:
    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session, self.url = session, f"http://{HOST}:{port}/emu/faults"

    async def add(self, **fault: Any) -> dict[str, Any]:
        async with self.session.post(self.url, json=fault, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 201, await r.text()
            body: dict[str, Any] = await r.json()
            return body

    async def heal(self) -> None:
        async with self.session.delete(self.url, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200


@pytest.fixture
async def control(proxy: EdgeProxy) -> AsyncIterator[Control]:
    async with aiohttp.ClientSession() as session:
        yield Control(session, proxy.admin_port)


async def connect(proxy: EdgeProxy, port: str = "rest") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, proxy.ports[port])


async def round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
    return loop.time() - start


async def median_rtt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int = 5) -> float:
    return statistics.median([await round_trip(reader, writer) for _ in range(n)])


async def test_latency_is_added_within_ten_percent_and_heals(proxy: EdgeProxy, control: Control) -> None:
    reader, writer = await connect(proxy)
    base = await median_rtt(reader, writer)
    await control.add(kind="client_latency", ms=300, port="rest", direction="downstream")
    added = await median_rtt(reader, writer) - base  # an existing connection
    assert 0.9 <= added / 0.3 <= 1.1, added
    both = await control.add(kind="client_latency", ms=150, port="rest", direction="both")
    assert both["direction"] == "both"
    assert 0.9 <= (await median_rtt(reader, writer) - base) / 0.3 <= 1.1  # 150 ms each way
    # Another port kind is untouched.
    xr, xw = await connect(proxy, "xmpp")
    assert await median_rtt(xr, xw) < 0.1
    await control.heal()
    assert await median_rtt(reader, writer) < 0.1
    writer.close()
    xw.close()


async def test_bandwidth_is_kept_within_ten_percent(proxy: EdgeProxy, control: Control) -> None:
    await control.add(kind="client_bandwidth", rate_kb_s=200, port="all")
    reader, writer = await connect(proxy)  # a new connection
    loop = asyncio.get_running_loop()
    total = 200_000
    writer.write(f"SEND {total}".encode())
    first = await reader.read(65536)
    t0, got = loop.time(), len(first)
    while got < total:
        got += len(await asyncio.wait_for(reader.read(65536), 10))
    rate = (total - len(first)) / (loop.time() - t0)
    assert 0.9 <= rate / 200_000 <= 1.1, rate
    writer.close()


async def test_reset_is_seen_as_econnreset_on_existing_and_new_connections(
    proxy: EdgeProxy, control: Control
) -> None:
    reader, writer = await connect(proxy)
    await round_trip(reader, writer)
    await control.add(kind="client_reset", port="rest")
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(10), 5)
    reader, writer = await connect(proxy)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(10), 5)
    await control.heal()
    reader, writer = await connect(proxy)
    await round_trip(reader, writer)
    writer.close()


async def test_timeout_is_a_black_hole_then_a_close_and_heals(proxy: EdgeProxy, control: Control) -> None:
    reader, writer = await connect(proxy)
    await control.add(kind="client_timeout", port="rest", direction="both")
    writer.write(b"ping")
    with pytest.raises(TimeoutError):  # no bytes, and no close either
        await asyncio.wait_for(reader.read(10), 0.5)
    await control.heal()
    assert await round_trip(reader, writer) < 1  # healed on the same connection
    await control.add(kind="client_timeout", port="rest", close_after_ms=300)
    loop = asyncio.get_running_loop()
    start = loop.time()
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.read(10), 5) == b""  # closed, after 300 ms, nothing delivered
    assert 0.27 <= loop.time() - start <= 1.0


async def test_slicer_cuts_the_stream(proxy: EdgeProxy, control: Control) -> None:
    await control.add(kind="client_slicer", size_bytes=10, delay_ms=20)
    reader, writer = await connect(proxy)
    writer.write(b"SEND 100")
    pieces: list[bytes] = []
    while sum(map(len, pieces)) < 100:
        pieces.append(await asyncio.wait_for(reader.read(65536), 5))
    assert all(len(p) <= 10 for p in pieces) and len(pieces) == 10
    writer.close()


async def test_a_refused_upstream_resets_the_client_and_the_proxy_stays(control: Control) -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        closed_port = s.getsockname()[1]  # bound, never listening: connections are refused
        p = EdgeProxy("edge-r", [Route("rest", HOST, 0, HOST, closed_port)], HOST, 0, TOKEN)
        await p.start()
        try:
            for _ in range(2):
                reader, _writer = await asyncio.open_connection(HOST, p.ports["rest"])
                with pytest.raises(ConnectionResetError):
                    await asyncio.wait_for(reader.read(10), 5)
            assert p.stats["upstream_refused"] == 2
        finally:
            await p.stop()


async def test_a_node_reset_reaches_the_client(control: Control) -> None:
    async def rst(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(10)
        from finesse_emu.edge.server import reset_connection

        reset_connection(writer)

    server = await asyncio.start_server(rst, HOST, 0)
    async with server:
        p = EdgeProxy("edge-n", [Route("rest", HOST, 0, HOST, server.sockets[0].getsockname()[1])], HOST, 0)
        await p.start()
        try:
            reader, writer = await asyncio.open_connection(HOST, p.ports["rest"])
            writer.write(b"x")
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(reader.read(10), 5)
            await eventually(lambda: not p.connections, "the connection is forgotten")
        finally:
            await p.stop()


async def test_control_plane_access_and_bad_input(proxy: EdgeProxy) -> None:
    url = f"http://{HOST}:{proxy.admin_port}/emu"
    fault = {"kind": "client_latency", "ms": 10}
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{url}/health") as r:  # the read-only probe needs no token
            assert r.status == 200 and (await r.json())["role"] == "edge"
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            for method, path in (("GET", "/faults"), ("POST", "/faults"), ("DELETE", "/faults")):
                async with s.request(method, url + path, json=fault, headers=headers) as r:
                    assert r.status == 401, (method, path, headers)
        good = {"Authorization": f"Bearer {TOKEN}"}
        async with s.post(f"{url}/faults", json=fault, headers=good) as r:
            assert r.status == 201
        for bad in (
            {"kind": "client_latency", "ms": 10, "port": "ftp"},
            {"kind": "client_latency", "ms": 10, "direction": "sideways"},
            {"kind": "client_latency"},
            {"kind": "client_bandwidth", "rate_kb_s": 0},
            {"kind": "latency", "ms": 10},  # the CTI stub's
        ):
            async with s.post(f"{url}/faults", json=bad, headers=good) as r:
                assert r.status == 400, bad
                assert "error" in await r.json()
        async with s.get(f"{url}/faults", headers=good) as r:
            listing = await r.json()
            assert [f["kind"] for f in listing["faults"]] == ["client_latency"]
            assert set(listing["kinds"]) == {
                "client_latency",
                "client_bandwidth",
                "client_slicer",
                "client_timeout",
                "client_reset",
            }
