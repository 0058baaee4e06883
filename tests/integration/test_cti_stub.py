"""The CTI stub over real sockets on 127.0.0.1: sessions, bad input, faults, admin API, duplex."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from cti_stub.core import Role
from cti_stub.server import CtiServer, ServerConfig
from emu_base.directory import CHAT_AND_EMAIL, generate
from emu_base.timers import Timers
from ged188 import AgentState, MessageType, Status, Tag, make
from tests.gedclient import RawClient
from tests.helpers import eventually

M = MessageType
SCALE = 0.02  # heartbeat 0.1 s, takeover 0.1 s, IdleTimeout 20 -> 0.4 s


AGENTS = generate(10, non_voice_mrds=CHAT_AND_EMAIL)  # the MRD tests need chat and email


def server(side: str, peer: tuple[str, int] | None = None, **kw: Any) -> CtiServer:
    cfg = ServerConfig(side=side, port=0, link_port=0, admin_port=0, peer=peer, agents=AGENTS, **kw)
    return CtiServer(cfg, Timers.build(SCALE))


@pytest.fixture
async def single() -> AsyncIterator[CtiServer]:
    srv = server("A")
    await srv.start()
    await eventually(lambda: srv.listening, "side A listens")
    yield srv
    await srv.stop()


@pytest.fixture
async def pair() -> AsyncIterator[tuple[CtiServer, CtiServer]]:
    a = server("A", peer=("127.0.0.1", 0))
    await a.start()
    assert a.link_port is not None
    b = server("B", peer=("127.0.0.1", a.link_port))
    await b.start()
    await eventually(
        lambda: (a.core.role, b.core.role, a.listening),
        "A active and listening, B idle",
        until=lambda seen: seen == (Role.ACTIVE, Role.IDLE, True),
    )
    yield a, b
    await b.stop()
    await a.stop()


async def admin(srv: CtiServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"http://127.0.0.1:{srv.admin_port}{path}", json=body) as resp,
    ):
        return resp.status, await resp.json()


async def login(client: RawClient, agent_id: str, ext: str) -> None:
    req = make(
        M.SET_AGENT_STATE_REQ,
        [
            (Tag.AGENT_INSTRUMENT, ext),
            (Tag.AGENT_ID, agent_id),
            (Tag.AGENT_PASSWORD, f"pass{agent_id}".encode()),
        ],
        InvokeID=10,
        AgentState=AgentState.LOGIN,
    )
    assert (await client.request(req, M.SET_AGENT_STATE_CONF))[-1]["InvokeID"] == 10


async def set_state(client: RawClient, agent_id: str, state: AgentState, reason: int = 0) -> list[Any]:
    req = make(
        M.SET_AGENT_STATE_REQ,
        [(Tag.AGENT_ID, agent_id)],
        InvokeID=11,
        AgentState=state,
        EventReasonCode=reason,
    )
    client.send(req)
    msgs = await client.recv_until(M.SET_AGENT_STATE_CONF)
    return [*msgs, await client.recv()]


async def ready_client(port: int, agent_id: str, ext: str) -> RawClient:
    """A client session opened (its first event read) that logs the agent in and makes it Ready."""
    c = await RawClient.connect(port)
    await c.open()
    await c.recv()
    await login(c, agent_id, ext)
    await set_state(c, agent_id, AgentState.AVAILABLE)
    return c


async def test_open_heartbeat_and_system_event(single: CtiServer) -> None:
    c = await RawClient.connect(single.port)
    conf = await c.open()
    assert conf.type == M.OPEN_CONF and conf["SessionType"] == 1
    assert (await c.recv()).type == M.SYSTEM_EVENT
    (hb,) = await c.request(make(M.HEARTBEAT_REQ, InvokeID=77), M.HEARTBEAT_CONF)
    assert hb["InvokeID"] == 77
    await c.close()


async def test_garbage_and_truncated_frames_do_not_hurt_other_sessions(single: CtiServer) -> None:
    good = await RawClient.connect(single.port)
    await good.open()
    await good.recv()
    garbage = await RawClient.connect(single.port)
    garbage.send(b"\xff" * 64)
    event = await garbage.recv()
    assert (event.type, event["Status"]) == (M.FAILURE_EVENT, Status.E_CTI_INVALID_MESSAGE_LENGTH)
    assert await garbage.closed()
    truncated = await RawClient.connect(single.port)
    truncated.send((100).to_bytes(4, "big") + (5).to_bytes(4, "big") + b"1234")
    await truncated.close()
    before_open = await RawClient.connect(single.port)
    (fail,) = await before_open.request(make(M.HEARTBEAT_REQ, InvokeID=5), M.FAILURE_CONF)
    assert fail["Status"] == Status.E_CTI_SESSION_NOT_OPEN
    (hb,) = await good.request(make(M.HEARTBEAT_REQ, InvokeID=6), M.HEARTBEAT_CONF)
    assert hb["InvokeID"] == 6
    assert single.core.stats["bad_frames"] >= 1
    await good.close()
    await before_open.close()


async def test_idle_timeout_resets_a_silent_session(single: CtiServer) -> None:
    c = await RawClient.connect(single.port)
    await c.open(idle=20)  # 20 s x 0.02 = 0.4 s
    await c.recv()
    event = await c.recv(timeout=3)
    assert (event.type, event["Status"]) == (M.FAILURE_EVENT, Status.E_CTI_TIMEOUT)
    assert await c.closed()


async def test_admin_faults_heartbeats_and_health(single: CtiServer) -> None:
    status, health = await admin(single, "GET", "/emu/health")
    assert status == 200
    assert (health["name"], health["role"], health["state"], health["side"]) == (
        "cti-a",
        "cti",
        "active",
        "A",
    )
    status, body = await admin(single, "POST", "/emu/faults", {"kind": "no_such_fault"})
    assert status == 400 and "known" in body["error"]
    status, body = await admin(single, "POST", "/emu/faults", {"kind": "latency"})
    assert status == 400 and "ms is required" in body["error"]
    c = await RawClient.connect(single.port)
    await c.open()
    await c.recv()
    status, fault = await admin(single, "POST", "/emu/faults", {"kind": "ignore_heartbeats"})
    assert status == 201
    c.send(make(M.HEARTBEAT_REQ, InvokeID=1))
    with pytest.raises(TimeoutError):
        await c.recv(timeout=0.3)
    status, _ = await admin(single, "DELETE", f"/emu/faults/{fault['id']}")
    assert status == 200
    (hb,) = await c.request(make(M.HEARTBEAT_REQ, InvokeID=2), M.HEARTBEAT_CONF)
    assert hb["InvokeID"] == 2
    status, _ = await admin(single, "POST", "/emu/faults", {"kind": "fail_heartbeats"})
    (fail,) = await c.request(make(M.HEARTBEAT_REQ, InvokeID=3), M.FAILURE_CONF)
    assert fail["Status"] == Status.E_CTI_CTI_SERVER_OFFLINE
    status, body = await admin(single, "DELETE", "/emu/faults")
    assert body == {"cleared": 1}
    await c.close()


async def test_refuse_sessions_and_offline_faults(single: CtiServer) -> None:
    c = await RawClient.connect(single.port)
    await c.open()
    await c.recv()
    await admin(single, "POST", "/emu/faults", {"kind": "offline"})
    event = await c.recv()
    assert (event.type, event["Status"]) == (M.FAILURE_EVENT, Status.E_CTI_CTI_SERVER_OFFLINE)
    assert await c.closed()
    c2 = await RawClient.connect(single.port)
    fail = await c2.open()
    assert (fail.type, fail["Status"]) == (M.FAILURE_CONF, Status.E_CTI_CTI_SERVER_OFFLINE)
    await admin(single, "DELETE", "/emu/faults")
    await admin(single, "POST", "/emu/faults", {"kind": "refuse_sessions"})
    with pytest.raises(ConnectionRefusedError):
        await RawClient.connect(single.port)
    await admin(single, "DELETE", "/emu/faults")
    await eventually(lambda: single.listening, "listening again once the fault is cleared")
    c3 = await RawClient.connect(single.port)
    assert (await c3.open()).type == M.OPEN_CONF
    await c3.close()


async def test_injected_call_via_admin_api(single: CtiServer) -> None:
    c = await ready_client(single.port, "1003", "2003")
    # Drain the login events: the server answers in order, so they all come before this CONF.
    await c.request(make(M.HEARTBEAT_REQ, InvokeID=99), M.HEARTBEAT_CONF)
    status, call = await admin(
        single,
        "POST",
        "/emu/calls",
        {"agent_id": "1003", "ani": "5550100", "answer_after": 1, "talk_time": 2},
    )
    assert status == 201
    seen = [m.type for m in await c.recv_until(M.END_CALL_EVENT, timeout=3)]
    assert seen[:2] == [M.BEGIN_CALL_EVENT, M.CALL_DELIVERED_EVENT]
    assert M.CALL_ESTABLISHED_EVENT in seen and M.CALL_CLEARED_EVENT in seen
    status, body = await admin(single, "POST", "/emu/calls", {"agent_id": "1004"})
    assert status == 409 and "LOGOUT" in body["error"]
    status, body = await admin(single, "POST", "/emu/calls", {"agent_id": "nobody"})
    assert status == 404
    status, body = await admin(single, "POST", f"/emu/calls/{call['call_id']}/end")
    assert status == 409  # already ended
    # A caller dialling the queue (no agent named) reaches the Ready agent, who is 1003 here.
    # (1003 was back to Ready before the END_CALL_EVENT above.)
    status, routed = await admin(single, "POST", "/emu/calls", {"ani": "5550101"})
    assert status == 201 and routed["agent_id"] == "1003", routed
    seen = [m.type for m in await c.recv_until(M.CALL_DELIVERED_EVENT, timeout=3)]
    assert M.BEGIN_CALL_EVENT in seen
    # Nobody else is Ready: the next caller waits in queue (it was refused with a 409 before), and
    # GET /emu/calls shows it; a wrong agent_id type is a 400.
    status, queued = await admin(single, "POST", "/emu/calls", {"ani": "5550102", "dnis": "8000"})
    assert status == 201 and queued["phase"] == "queued", queued
    heard = await c.recv_until(M.CALL_QUEUED_EVENT, timeout=3)
    assert heard[-1]["ConnectionCallID"] == queued["call_id"]
    status, listed = await admin(single, "GET", "/emu/calls")
    assert [k["phase"] for k in listed["calls"] if k["call_id"] == queued["call_id"]] == ["queued"]
    status, body = await admin(single, "POST", "/emu/calls", {"agent_id": 1003})
    assert status == 400
    # The first caller hangs up while 1003's phone rings: only its connection, then the call, clear;
    # 1003 is Ready again and the queued call comes out of the queue to it.
    status, _ = await admin(single, "POST", f"/emu/calls/{routed['call_id']}/hangup")
    assert status == 200
    seen = [m.type for m in await c.recv_until(M.CALL_DELIVERED_EVENT, timeout=3)]
    assert seen.index(M.CALL_CONNECTION_CLEARED_EVENT) < seen.index(M.CALL_CLEARED_EVENT)
    assert M.CALL_DEQUEUED_EVENT in seen
    assert single.model.calls[queued["call_id"]].agent_id == "1003"
    # The caller of a call that is gone cannot hang up any more.
    status, _ = await admin(single, "POST", f"/emu/calls/{routed['call_id']}/hangup")
    assert status == 409
    await c.close()


async def test_the_queue_survives_a_cti_side_failover(pair: tuple[CtiServer, CtiServer]) -> None:
    """Callers waiting on side A wait on side B once it took over, in arrival order, and are
    delivered there when an agent becomes Ready."""
    a, b = pair
    ids = []
    for ani in ("5550201", "5550202"):
        status, call = await admin(a, "POST", "/emu/calls", {"ani": ani, "dnis": "8000"})
        assert status == 201 and call["phase"] == "queued"
        ids.append(call["call_id"])
    await eventually(
        lambda: [c.call_id for c in b.model.queued_calls()],
        "the queue replicated to B",
        until=lambda seen: seen == ids,
    )
    await a.stop()
    await eventually(lambda: b.core.role, "B takes over", until=lambda role: role is Role.ACTIVE)
    status, listed = await admin(b, "GET", "/emu/calls")
    assert [k["call_id"] for k in listed["calls"] if k["phase"] == "queued"] == ids
    c = await ready_client(b.port, "1006", "2006")
    await eventually(
        lambda: b.model.calls[ids[0]].agent_id,
        "the oldest queued call delivered to 1006 on B",
        until=lambda agent: agent == "1006",
    )
    assert [k.call_id for k in b.model.queued_calls()] == ids[1:]
    await c.close()


async def test_idle_side_does_not_listen_and_deactivate_hands_over_with_agent_state(
    pair: tuple[CtiServer, CtiServer],
) -> None:
    a, b = pair
    assert not b.listening
    c = await ready_client(a.port, "1001", "2001")
    await eventually(
        lambda: b.model.agents["1001"].state,
        "1001 AVAILABLE replicated to B",
        until=lambda seen: seen is AgentState.AVAILABLE,
    )
    status, _ = await admin(a, "POST", "/emu/faults", {"kind": "deactivate"})
    assert status == 201
    assert await c.closed()
    await eventually(
        lambda: (b.core.role, b.listening, a.listening),
        "B active and listening, A not listening",
        until=lambda seen: seen == (Role.ACTIVE, True, False),
    )
    with pytest.raises(ConnectionRefusedError):
        await RawClient.connect(a.port)
    c2 = await RawClient.connect(b.port)
    await c2.open()
    await c2.recv()
    *announced, conf = await c2.request(
        make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, "1001")], InvokeID=3, MRDID=1), M.QUERY_AGENT_STATE_CONF
    )
    # A new ALL_EVENTS session first hears every logged-in agent's state (voice and non-voice MRDs).
    assert {(m.get(Tag.AGENT_ID), m["MRDID"]) for m in announced} == {
        ("1001", 1),
        ("1001", 5000),
        ("1001", 5001),
    }
    assert (conf["AgentState"], conf.get(Tag.AGENT_EXTENSION)) == (AgentState.AVAILABLE, "2001")
    # The PG side switch disconnected the agent's CTI client: non-voice MRDs went to WORK.
    assert set(b.model.agents["1001"].mrd_states.values()) == {AgentState.WORK_NOT_READY}
    await c2.close()


async def test_idle_side_takes_over_when_the_active_side_dies(pair: tuple[CtiServer, CtiServer]) -> None:
    a, b = pair
    c = await RawClient.connect(a.port)
    await c.open()
    await c.recv()
    await login(c, "1005", "2005")
    await eventually(
        lambda: b.model.agents["1005"].state,
        "1005 NOT_READY replicated to B",
        until=lambda seen: seen is AgentState.NOT_READY,
    )
    await a.stop()
    assert await c.closed()
    await eventually(
        lambda: (b.core.role, b.listening),
        "B takes over and listens",
        until=lambda seen: seen == (Role.ACTIVE, True),
    )
    c2 = await RawClient.connect(b.port)
    await c2.open()
    await c2.recv()
    *_, conf = await c2.request(
        make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, "1005")], InvokeID=4, MRDID=1), M.QUERY_AGENT_STATE_CONF
    )
    assert conf["AgentState"] == AgentState.NOT_READY
    await c2.close()


async def test_a_silent_peer_side_is_dropped_after_the_link_timeout() -> None:
    """A hung peer side (socket open, nothing sent) loses the private link; pings flow until then."""
    a = server("A", peer=("127.0.0.1", 0))
    await a.start()
    try:
        assert a.link_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", a.link_port)
        writer.write(b'{"t":"hello","side":"B","role":"idle"}\n')
        said = asyncio.get_running_loop().time()  # the last line A will hear from this peer
        await eventually(
            lambda: bool(a.health()["peer_link"]) and a.core.role is Role.ACTIVE,
            "side A active with the peer link up",
        )
        async with asyncio.timeout(3.0):
            while json.loads(await reader.readline()) != {"t": "ping"}:
                pass
        await eventually(lambda: not a.health()["peer_link"], "the silent peer dropped")
        silent_for = asyncio.get_running_loop().time() - said
        assert silent_for >= a.peer_link.timeout
        async with asyncio.timeout(3.0):
            await reader.read()  # what A had sent, then EOF: A hung up
        assert reader.at_eof()
        writer.close()
    finally:
        await a.stop()


async def test_offline_idle_mode_answers_open_with_server_offline() -> None:
    from cti_stub.core import IdleMode

    a = server("A", peer=("127.0.0.1", 0))
    await a.start()
    assert a.link_port is not None
    b = server("B", peer=("127.0.0.1", a.link_port), idle_mode=IdleMode.OFFLINE)
    await b.start()
    try:
        await eventually(
            lambda: (b.core.role, b.listening),
            "B idle and listening (OFFLINE idle mode)",
            until=lambda seen: seen == (Role.IDLE, True),
        )
        c = await RawClient.connect(b.port)
        fail = await c.open()
        assert (fail.type, fail["Status"]) == (M.FAILURE_CONF, Status.E_CTI_CTI_SERVER_OFFLINE)
        assert await c.closed()
    finally:
        await b.stop()
        await a.stop()


async def test_latency_and_drop_sessions_faults(single: CtiServer) -> None:
    c = await RawClient.connect(single.port)
    await c.open()
    await c.recv()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await c.request(make(M.HEARTBEAT_REQ, InvokeID=1), M.HEARTBEAT_CONF)
    fast = loop.time() - t0
    status, fault = await admin(single, "POST", "/emu/faults", {"kind": "latency", "ms": 300})
    assert status == 201 and fault["ms"] == 300.0
    t0 = loop.time()
    await c.request(make(M.HEARTBEAT_REQ, InvokeID=2), M.HEARTBEAT_CONF)
    assert loop.time() - t0 >= 0.3 > fast
    await admin(single, "DELETE", "/emu/faults")
    other = await RawClient.connect(single.port)
    await other.open()
    await other.recv()
    status, body = await admin(single, "POST", "/emu/faults", {"kind": "drop_sessions"})
    assert status == 201 and body["kind"] == "drop_sessions"
    assert await c.closed() and await other.closed()
    _, faults = await admin(single, "GET", "/emu/faults")
    assert faults["faults"] == []  # one-shot faults are actions, never listed as active
    c3 = await RawClient.connect(single.port)
    assert (await c3.open()).type == M.OPEN_CONF
    await c3.close()


async def test_admin_state_change_validates_what_the_wire_must_carry(single: CtiServer) -> None:
    for body in (
        {"state": "LOGIN", "extension": "20\u20ac0"},  # not ASCII: no GED-188 string can carry it
        {"state": "LOGIN", "extension": "9" * 64},  # AgentInstrument holds 63 characters and a NUL
        {"state": "LOGIN", "extension": 2000},
        {"state": "NOT_READY", "reason_code": "abc"},
        {"state": "NOT_READY", "reason_code": 70000},
    ):
        status, answer = await admin(single, "POST", "/emu/agents/1000/state", body)
        assert status == 400, (body, answer)
    assert single.model.agents["1000"].state is AgentState.LOGOUT
    login = {"state": "LOGIN", "extension": "2000"}
    status, agent = await admin(single, "POST", "/emu/agents/1000/state", login)
    assert status == 200 and agent["state"] == "NOT_READY"


async def test_call_injection_rejects_malformed_bodies(single: CtiServer) -> None:
    await admin(single, "POST", "/emu/agents/1001/state", {"state": "LOGIN", "extension": "2001"})
    await admin(single, "POST", "/emu/agents/1001/state", {"state": "AVAILABLE"})
    for body in (
        {"agent_id": "1001", "answer_after": "soon"},
        {"agent_id": "1001", "talk_time": -1},
        {"agent_id": "1001", "variables": ["not", "an", "object"]},
        {"agent_id": 1001},
    ):
        status, answer = await admin(single, "POST", "/emu/calls", body)
        assert status == 400, (body, answer)
    status, call = await admin(single, "POST", "/emu/calls", {"agent_id": "1001"})
    assert status == 201
    status, _ = await admin(single, "POST", f"/emu/calls/{call['call_id']}/data", {"variables": [1, 2]})
    assert status == 400


async def test_load1_forced_logout_while_talking_logs_out_at_once() -> None:
    """Chapter "Finesse Failover Mechanisms", LOAD parameter = 1: "When the agent's current state is
    Talking, the Agent goes to Logged Out - System Failure immediately even though the call is still
    active." """
    srv = server("A", load=1)
    await srv.start()
    try:
        await eventually(lambda: srv.listening, "side A listens")
        c = await RawClient.connect(srv.port)
        await c.open()
        await c.recv()
        await login(c, "1006", "2006")
        await set_state(c, "1006", AgentState.AVAILABLE)
        status, call = await admin(srv, "POST", "/emu/calls", {"agent_id": "1006"})
        assert status == 201
        assert (await admin(srv, "POST", f"/emu/calls/{call['call_id']}/answer"))[0] == 200
        await c.request(make(M.HEARTBEAT_REQ, InvokeID=98), M.HEARTBEAT_CONF)  # drains the call events
        msgs = await set_state(c, "1006", AgentState.LOGOUT, reason=255)
        events = [(m["AgentState"], m["EventReasonCode"]) for m in msgs if m.type == M.AGENT_STATE_EVENT]
        assert events[0] == (AgentState.LOGOUT, 50002)
        _, agent = await admin(srv, "GET", "/emu/agents/1006")
        assert (agent["state"], agent["reason_code"], agent["pending"]) == ("LOGOUT", 50002, None)
        _, calls = await admin(srv, "GET", "/emu/calls")
        assert [c_["phase"] for c_ in calls["calls"]] == ["talking"]  # the call is still active
        assert (await admin(srv, "POST", f"/emu/calls/{call['call_id']}/end"))[0] == 200
        _, agent = await admin(srv, "GET", "/emu/agents/1006")
        assert (agent["state"], agent["call_ids"]) == ("LOGOUT", [])
        await c.close()
    finally:
        await srv.stop()


async def test_pg_side_switch_puts_not_ready_agents_in_connection_failure_and_ready_ones_later(
    pair: tuple[CtiServer, CtiServer],
) -> None:
    """ "If agent is in Not Ready State before Failover, agent moves to Not Ready — Connection Failure
    after CTI Disconnect or Reconnect. If agent is in Ready State before Failover, agent moves to Not
    Ready — Connection Failure upon his next state change to Not Ready." A deactivated side is a PG
    side switch: a CTI disconnect for every agent."""
    a, b = pair
    c = await RawClient.connect(a.port)
    await c.open()
    await c.recv()
    await login(c, "1007", "2007")
    await set_state(c, "1007", AgentState.AVAILABLE)
    await login(c, "1008", "2008")
    await set_state(c, "1008", AgentState.NOT_READY, reason=12)
    await eventually(
        lambda: (b.model.agents["1007"].state, b.model.agents["1008"].reason_code),
        "1007 READY and 1008 NOT_READY 12 replicated to B",
        until=lambda seen: seen == (AgentState.AVAILABLE, 12),
    )
    assert (await admin(a, "POST", "/emu/faults", {"kind": "deactivate"}))[0] == 201
    assert await c.closed()
    await eventually(lambda: b.listening, "B takes over and listens")
    _, not_ready = await admin(b, "GET", "/emu/agents/1008")
    _, ready = await admin(b, "GET", "/emu/agents/1007")
    assert (not_ready["state"], not_ready["reason_code"]) == ("NOT_READY", 50002)
    assert (ready["state"], ready["connection_failure_next"]) == ("AVAILABLE", True)
    c2 = await RawClient.connect(b.port)
    await c2.open()
    await c2.request(make(M.HEARTBEAT_REQ, InvokeID=97), M.HEARTBEAT_CONF)  # drains the announcements
    msgs = await set_state(c2, "1007", AgentState.NOT_READY, reason=12)
    events = [(m["AgentState"], m["EventReasonCode"]) for m in msgs if m.type == M.AGENT_STATE_EVENT]
    assert events == [(AgentState.NOT_READY, 50002)]
    await c2.close()


async def test_a_sign_in_again_loses_the_pending_state(single: CtiServer) -> None:
    """ "The pending state change is lost during the failover, as the agent will be logged out, and
    logged in again": the desktop that failed over signs in again on its extension (a new session)."""
    c = await RawClient.connect(single.port)
    await c.open()
    await c.recv()
    await login(c, "1009", "2009")
    await set_state(c, "1009", AgentState.AVAILABLE)
    status, call = await admin(single, "POST", "/emu/calls", {"agent_id": "1009"})
    assert status == 201
    assert (await admin(single, "POST", f"/emu/calls/{call['call_id']}/answer"))[0] == 200
    await set_state(c, "1009", AgentState.NOT_READY, reason=12)
    _, agent = await admin(single, "GET", "/emu/agents/1009")
    assert agent["pending"] == ["NOT_READY", 12]
    # The desktop fails over to the other node (whose CTI session signs the agent in); the first
    # node's session stays up, so this is no CTI disconnect.
    c2 = await RawClient.connect(single.port)
    await c2.open()
    await c2.request(make(M.HEARTBEAT_REQ, InvokeID=96), M.HEARTBEAT_CONF)
    await login(c2, "1009", "2009")
    _, agent = await admin(single, "GET", "/emu/agents/1009")
    assert (agent["state"], agent["pending"]) == ("TALKING", None)
    assert (await admin(single, "POST", f"/emu/calls/{call['call_id']}/end"))[0] == 200
    _, agent = await admin(single, "GET", "/emu/agents/1009")
    assert agent["state"] == "AVAILABLE"  # not the NOT_READY asked for before the failover
    await c2.close()
    await c.close()
