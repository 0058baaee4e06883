"""CtiClient over real loopback sockets against a small scripted GED-188 server.

Timers run at time_scale 0.02: heartbeat 0.1 s, three misses 0.3 s, reconnect pause 0.02 s,
open timeout 0.2 s, so a full failover takes well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Literal

import pytest
import structlog

from emu_base.timers import Timers
from finesse_emu.server.cti import (
    AttemptFailed,
    CtiClient,
    CtiLinkConfig,
    CtiRequestError,
    HeartbeatResult,
    LinkDown,
    LinkState,
    LinkUp,
    PublicEvent,
    Unsolicited,
)
from ged188 import (
    FrameDecoder,
    Message,
    MessageType,
    Status,
    SystemEventID,
    Tag,
    decode_body,
    encode,
    make,
)

M = MessageType
LOOPBACK = "127.0.0.1"
TIMERS = Timers.build(time_scale=0.02)
Mode = Literal["normal", "silent", "offline"]


class FakeCtiServer:
    """One CTI server side. ``normal`` answers OPEN_REQ, HEARTBEAT_REQ, CLOSE_REQ and agent requests;
    ``silent`` reads and never answers; ``offline`` rejects OPEN_REQ like an idle PG side."""

    def __init__(self, name: str, mode: Mode = "normal") -> None:
        self.name = name
        self.mode: Mode = mode
        self.port = 0
        self.received: list[Message] = []
        self.sessions = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> FakeCtiServer:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    def drop_connections(self) -> None:
        """Close every client socket (the CTI server process died)."""
        for writer in list(self._writers):
            writer.close()

    def of_type(self, mtype: int) -> list[Message]:
        return [m for m in self.received if m.type == mtype]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        decoder = FrameDecoder()
        try:
            while data := await reader.read(4096):
                decoder.feed(data)
                while (frame := decoder.next_frame()) is not None:
                    msg = decode_body(frame[0], frame[1], 24)
                    self.received.append(msg)
                    for reply in self._answer(msg):
                        writer.write(encode(reply, 24))
        except ConnectionError:
            pass  # the client resets connections it gives up on (SO_LINGER 0)
        finally:
            self._writers.discard(writer)
            writer.close()

    def _answer(self, msg: Message) -> list[Message]:
        if self.mode == "silent":
            return []
        invoke_id = msg.invoke_id or 0
        if msg.type == M.OPEN_REQ:
            if self.mode == "offline":
                return [make(M.FAILURE_CONF, InvokeID=invoke_id, Status=Status.E_CTI_CTI_SERVER_OFFLINE)]
            self.sessions += 1
            online = make(M.SYSTEM_EVENT, SystemEventID=SystemEventID.PERIPHERAL_ONLINE, SystemEventArg1=5000)
            conf = make(
                M.OPEN_CONF,
                InvokeID=invoke_id,
                ServicesGranted=msg["ServicesRequested"],
                PeripheralOnline=1,
                PeripheralType=17,
                AgentState=9,
                SessionType=1,
            )
            return [conf, online]
        if msg.type == M.HEARTBEAT_REQ:
            return [make(M.HEARTBEAT_CONF, InvokeID=invoke_id)]
        if msg.type == M.CLOSE_REQ:
            return [make(M.CLOSE_CONF, InvokeID=invoke_id)]
        if msg.type == M.SET_AGENT_STATE_REQ:
            if msg.get(Tag.AGENT_ID) == "unknown":
                return [make(M.CONTROL_FAILURE_CONF, InvokeID=invoke_id, FailureCode=256)]
            state = make(M.AGENT_STATE_EVENT, AgentState=msg["AgentState"], PeripheralID=5000)
            return [state, make(M.SET_AGENT_STATE_CONF, InvokeID=invoke_id)]
        if msg.invoke_id is not None:
            return [make(M.FAILURE_CONF, InvokeID=invoke_id, Status=Status.E_CTI_FUNCTION_NOT_AVAILABLE)]
        return []


async def closed_port() -> int:
    """A loopback port nobody listens on (connecting to it is refused)."""
    server = await asyncio.start_server(lambda r, w: None, LOOPBACK, 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


def client_for(port_a: int, port_b: int) -> CtiClient:
    sides = [("A", LOOPBACK, port_a), ("B", LOOPBACK, port_b)]
    return CtiClient(CtiLinkConfig.from_timers(sides, TIMERS))


def state(client: CtiClient) -> LinkState:
    # A call, not an attribute, so mypy does not carry a narrowed state across awaits.
    return client.state


async def next_of(queue: asyncio.Queue[PublicEvent], kind: type, timeout: float = 2.0) -> PublicEvent:
    """The next event of ``kind`` on ``queue`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            event = await queue.get()
            if isinstance(event, kind):
                return event


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeCtiServer, FakeCtiServer]]:
    a = await FakeCtiServer("A").start()
    b = await FakeCtiServer("B").start()
    yield a, b
    await a.stop()
    await b.stop()


@contextlib.asynccontextmanager
async def running(client: CtiClient) -> AsyncIterator[CtiClient]:
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def test_connects_to_side_a_and_keeps_it_alive(servers: tuple[FakeCtiServer, FakeCtiServer]) -> None:
    a, b = servers
    client = client_for(a.port, b.port)
    events = client.subscribe()
    assert state(client) is LinkState.IDLE
    async with running(client):
        up = await next_of(events, LinkUp)
        assert isinstance(up, LinkUp)
        assert up.side == "A"
        assert client.in_service and client.active_side == "A"
        system = await next_of(events, Unsolicited)
        assert isinstance(system, Unsolicited)
        assert system.message.type == M.SYSTEM_EVENT
        for _ in range(3):
            assert await next_of(events, HeartbeatResult) == HeartbeatResult(True, 0)
        assert client.last_heartbeat_ok is True
        wall = client.last_heartbeat_success_wall
        assert wall is not None and abs(wall - time.time()) < 1.0
        (open_req,) = a.of_type(M.OPEN_REQ)
        assert open_req["IdleTimeout"] == 20
        assert open_req.get(Tag.CLIENT_ID) == "Finesse"
        assert b.received == []
    # Graceful close: CLOSE_REQ reached the server, which answered CLOSE_CONF.
    assert state(client) is LinkState.CLOSED
    assert not client.in_service
    assert len(a.of_type(M.CLOSE_REQ)) == 1


async def test_silent_side_a_is_declared_lost_and_client_moves_to_b(
    servers: tuple[FakeCtiServer, FakeCtiServer],
) -> None:
    a, b = servers
    client = client_for(a.port, b.port)
    events = client.subscribe()
    async with running(client):
        assert isinstance(await next_of(events, LinkUp), LinkUp)
        assert await next_of(events, HeartbeatResult) == HeartbeatResult(True, 0)
        a.mode = "silent"
        started = asyncio.get_running_loop().time()
        down = await next_of(events, LinkDown)
        up = await next_of(events, LinkUp)
        elapsed = asyncio.get_running_loop().time() - started
    assert isinstance(down, LinkDown) and isinstance(up, LinkUp)
    assert down.side == "A"
    assert down.reason == "heartbeat timeout: 3 consecutive heartbeats unanswered"
    # Three heartbeats, each given one interval (0.1 s): 0.3 s from the first unanswered one.
    assert down.detection_seconds == pytest.approx(0.3, abs=0.1)
    assert up.side == "B"
    assert 0.3 <= elapsed < 1.0
    assert b.sessions == 1
    assert len(b.of_type(M.CLOSE_REQ)) == 1


async def test_socket_loss_on_a_fails_over_to_b_and_is_logged(
    servers: tuple[FakeCtiServer, FakeCtiServer],
) -> None:
    a, b = servers
    with structlog.testing.capture_logs() as logs:
        client = client_for(a.port, b.port)
        events = client.subscribe()
        async with running(client):
            assert isinstance(await next_of(events, LinkUp), LinkUp)
            a.drop_connections()
            down = await next_of(events, LinkDown)
            up = await next_of(events, LinkUp)
    assert isinstance(down, LinkDown) and isinstance(up, LinkUp)
    assert (down.side, down.reason, up.side) == ("A", "connection lost: closed by peer", "B")
    names = [entry["event"] for entry in logs]
    assert names[:4] == ["cti_connect", "cti_link_up", "cti_link_down", "cti_connect"]
    link_down = logs[2]
    assert link_down["side"] == "A"
    assert link_down["reason"] == "connection lost: closed by peer"
    assert link_down["detection_seconds"] < 0.1
    assert logs[3]["side"] == "B"


async def test_refused_side_a_fails_over_to_b(servers: tuple[FakeCtiServer, FakeCtiServer]) -> None:
    _, b = servers
    client = client_for(await closed_port(), b.port)
    events = client.subscribe()
    async with running(client):
        failed = await next_of(events, AttemptFailed)
        up = await next_of(events, LinkUp)
        assert client.active_side == "B"
        assert client.attempts == 2
    assert isinstance(failed, AttemptFailed) and isinstance(up, LinkUp)
    assert failed.side == "A"
    assert failed.reason.startswith("connect failed: ConnectionRefusedError")
    assert up.side == "B"


async def test_offline_side_a_rejects_open_and_client_moves_to_b(
    servers: tuple[FakeCtiServer, FakeCtiServer],
) -> None:
    a, b = servers
    a.mode = "offline"
    client = client_for(a.port, b.port)
    events = client.subscribe()
    async with running(client):
        failed = await next_of(events, AttemptFailed)
        up = await next_of(events, LinkUp)
    assert failed == AttemptFailed("A", "open rejected: E_CTI_CTI_SERVER_OFFLINE")
    assert isinstance(up, LinkUp) and up.side == "B"
    assert a.sessions == 0 and len(a.of_type(M.OPEN_REQ)) == 1


async def test_both_sides_down_alternates_until_one_comes_up(
    servers: tuple[FakeCtiServer, FakeCtiServer],
) -> None:
    a, b = servers
    a.mode = b.mode = "offline"
    client = client_for(a.port, b.port)
    events = client.subscribe()
    async with running(client):
        sides = [
            e.side
            for e in [await next_of(events, AttemptFailed) for _ in range(4)]
            if isinstance(e, AttemptFailed)
        ]
        assert sides == ["A", "B", "A", "B"]
        b.mode = "normal"
        up = await next_of(events, LinkUp)
    assert isinstance(up, LinkUp) and up.side == "B"


async def test_requests_round_trip_and_fail_on_link_loss(
    servers: tuple[FakeCtiServer, FakeCtiServer],
) -> None:
    a, b = servers
    client = client_for(a.port, b.port)
    events = client.subscribe()
    with pytest.raises(CtiRequestError, match="CTI link is IDLE"):
        await client.request(make(M.SET_AGENT_STATE_REQ))
    async with running(client):
        assert await client.wait_in_service(timeout=2.0)
        ready = make(M.SET_AGENT_STATE_REQ, [(Tag.AGENT_ID, "1001")], PeripheralID=5000, AgentState=3)
        conf = await client.request(ready, timeout=1.0)
        assert conf.type == M.SET_AGENT_STATE_CONF
        (sent,) = a.of_type(M.SET_AGENT_STATE_REQ)
        assert sent["InvokeID"] == conf["InvokeID"]
        state = await next_of(events, Unsolicited)
        assert isinstance(state, Unsolicited) and state.message.type in (M.SYSTEM_EVENT, M.AGENT_STATE_EVENT)

        unknown = make(M.SET_AGENT_STATE_REQ, [(Tag.AGENT_ID, "unknown")], PeripheralID=5000, AgentState=3)
        with pytest.raises(CtiRequestError) as failure:
            await client.request(unknown, timeout=1.0)
        assert failure.value.status == 256
        with pytest.raises(CtiRequestError) as not_available:
            await client.request(make(M.QUERY_AGENT_STATE_REQ), timeout=1.0)
        assert not_available.value.status == Status.E_CTI_FUNCTION_NOT_AVAILABLE

        a.mode = "silent"  # the next request is never answered; the heartbeat loss fails it
        with pytest.raises(CtiRequestError, match="CTI link lost: heartbeat timeout"):
            await client.request(ready, timeout=2.0)
        assert not client.in_service
        assert client.last_heartbeat_ok is False

        assert await client.wait_in_service(timeout=2.0)
        assert client.active_side == "B"
        b.mode = "silent"
        with pytest.raises(CtiRequestError, match=r"no reply to SET_AGENT_STATE_REQ within 0\.05 s"):
            await client.request(ready, timeout=0.05)
        assert client.link.pending_requests == 0


async def test_close_before_start_and_twice() -> None:
    client = client_for(1, 2)  # never connects: close() before start() must not touch the network
    await client.close()
    assert state(client) is LinkState.CLOSED
    await client.close()
