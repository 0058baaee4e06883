"""Two real CTI stub processes and Finesse's CTI link: kill -9 side A, the link ends on side B.

Cisco, "CTI Failover": "if Finesse loses connection to CTI server, it attempts to connect to the
server which is running. Finesse alternates between the configured servers until it makes a
successful connection."
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from emu_base.timers import Timers
from finesse_emu.server.cti import CtiClient, CtiLinkConfig, LinkDown, LinkUp
from ged188 import AgentState, Message, MessageType, Tag, make
from tests.e2e.conftest import HOST, SCALE, CtiPair
from tests.helpers import eventually

M = MessageType
pytestmark = pytest.mark.e2e


def finesse_link(pair: CtiPair) -> CtiClient:
    sides = [("A", HOST, pair.ports["A"]), ("B", HOST, pair.ports["B"])]
    return CtiClient(CtiLinkConfig.from_timers(sides, Timers.build(SCALE)))


async def set_state(client: CtiClient, agent: str, state: AgentState, reason: int = 0, ext: str = "") -> None:
    floating: list[tuple[int, str | bytes]] = [(Tag.AGENT_ID, agent)]
    if state is AgentState.LOGIN:
        floating += [(Tag.AGENT_INSTRUMENT, ext), (Tag.AGENT_PASSWORD, f"pass{agent}".encode())]
    reply = await client.request(
        make(M.SET_AGENT_STATE_REQ, floating, AgentState=state, EventReasonCode=reason), timeout=5
    )
    assert reply.type == M.SET_AGENT_STATE_CONF


async def agents_on(pair: CtiPair, side: str, state: str) -> list[str]:
    """The ids of the agents in ``state`` on one side, from its admin API."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://{HOST}:{pair.admin[side]}/emu/agents?state={state}") as resp,
    ):
        return [a["id"] for a in (await resp.json())["agents"]]


async def agent_on(pair: CtiPair, side: str, agent: str) -> tuple[str, int]:
    """One agent's (state, reason code) on one side, from its admin API."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://{HOST}:{pair.admin[side]}/emu/agents/{agent}") as resp,
    ):
        body = await resp.json()
        return body["state"], body["reason_code"]


async def query(client: CtiClient, agent: str) -> Message:
    return await client.request(make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, agent)], MRDID=1), timeout=5)


async def test_kill_9_side_a_link_ends_on_side_b_with_agent_states(cti_pair: CtiPair) -> None:
    client = finesse_link(cti_pair)
    events = client.subscribe()
    await client.start()
    assert await client.wait_in_service(10)
    assert client.active_side == "A"
    await set_state(client, "1000", AgentState.LOGIN, ext="2000")
    await set_state(client, "1000", AgentState.AVAILABLE)
    await set_state(client, "1001", AgentState.LOGIN, ext="2001")
    await set_state(client, "1001", AgentState.NOT_READY, reason=12)
    await set_state(client, "1002", AgentState.LOGIN, ext="2002")
    # The idle side has the agents once replication caught up.
    await eventually(
        lambda: agents_on(cti_pair, "B", "AVAILABLE"),
        "1000 AVAILABLE on side B",
        until=lambda ids: ids == ["1000"],
    )

    cti_pair.procs["A"].kill()  # SIGKILL: no CLOSE, no FAILURE_EVENT
    async with asyncio.timeout(15):
        while not isinstance(event := await events.get(), LinkDown):
            pass
        assert event.side == "A"
        while not isinstance(event := await events.get(), LinkUp):
            pass
    assert event.side == "B" and client.active_side == "B"
    assert client.last_heartbeat_ok is not False

    states = {a: await query(client, a) for a in ("1000", "1001", "1002", "1003")}
    assert states["1000"]["AgentState"] == AgentState.AVAILABLE
    assert states["1000"].get(Tag.AGENT_EXTENSION) == "2000"
    assert states["1001"]["AgentState"] == AgentState.NOT_READY
    assert states["1002"]["AgentState"] == AgentState.NOT_READY
    assert states["1003"]["AgentState"] == AgentState.LOGOUT
    # Chapter "Finesse Failover Mechanisms": "If agent is in Not Ready State before Failover, agent
    # moves to Not Ready — Connection Failure after CTI Disconnect or Reconnect. If agent is in Ready
    # State before Failover, agent moves to Not Ready — Connection Failure upon his next state change
    # to Not Ready." A killed side is a PG side switch: a CTI disconnect for every agent.
    assert await agent_on(cti_pair, "B", "1001") == ("NOT_READY", 50002)
    assert await agent_on(cti_pair, "B", "1000") == ("AVAILABLE", 0)
    await set_state(client, "1000", AgentState.NOT_READY, reason=12)
    assert await agent_on(cti_pair, "B", "1000") == ("NOT_READY", 50002)
    # Agent control keeps working on the new side.
    await set_state(client, "1001", AgentState.AVAILABLE)
    assert (await query(client, "1001"))["AgentState"] == AgentState.AVAILABLE
    await set_state(client, "1001", AgentState.NOT_READY, reason=12)  # the mark was used once
    assert await agent_on(cti_pair, "B", "1001") == ("NOT_READY", 12)
    await client.close()

    # The surviving side logged the takeover; the killed side's log ends without a stop line.
    b_events = [json.loads(line)["event"] for line in cti_pair.procs["B"].log_lines() if line.startswith("{")]
    assert "cti_role" in b_events and "cti_session_opened" in b_events
    assert "cti_stopped" not in [
        json.loads(x)["event"] for x in cti_pair.procs["A"].log_lines() if x.startswith("{")
    ]


async def test_restarted_side_a_comes_back_idle_behind_side_b(cti_pair: CtiPair) -> None:
    cti_pair.procs["A"].kill()
    await cti_pair.health("B", "active")
    cti_pair.procs["A"].stop()
    cti_pair.start("A")
    health = await cti_pair.health("A", "idle")
    assert health["listening"] is False
    assert (await cti_pair.health("B", "active"))["peer_link"] is True


async def test_deactivate_over_the_admin_api_moves_the_link(cti_pair: CtiPair) -> None:
    client = finesse_link(cti_pair)
    await client.start()
    assert await client.wait_in_service(10)
    await set_state(client, "1004", AgentState.LOGIN, ext="2004")
    await eventually(
        lambda: agents_on(cti_pair, "B", "NOT_READY"),
        "1004 replicated to side B",
        until=lambda ids: "1004" in ids,
    )
    async with aiohttp.ClientSession() as http:
        url = f"http://{HOST}:{cti_pair.admin['A']}/emu/faults"
        async with http.post(url, json={"kind": "deactivate"}) as resp:
            assert resp.status == 201
    await cti_pair.health("B", "active")
    await eventually(
        lambda: (client.active_side, client.in_service),
        "the link in service on side B",
        until=lambda seen: seen == ("B", True),
        within=10.0,
    )
    assert (await query(client, "1004"))["AgentState"] == AgentState.NOT_READY
    await client.close()


async def test_kill_9_side_a_a_held_call_goes_on_held_on_side_b(cti_pair: CtiPair) -> None:
    """Agent 1000 calls agent 1001, who answers; 1000 holds; side A is killed. Side B announces the
    call again as held (what Finesse republishes), and call control goes on there."""
    client = finesse_link(cti_pair)
    events = client.subscribe()
    await client.start()
    assert await client.wait_in_service(10)
    await set_state(client, "1000", AgentState.LOGIN, ext="2000")
    await set_state(client, "1001", AgentState.LOGIN, ext="2001")
    conf = await client.request(
        make(M.MAKE_CALL_REQ, [(Tag.AGENT_INSTRUMENT, "2000"), (Tag.DIALED_NUMBER, "2001")]), timeout=5
    )
    assert conf.type == M.MAKE_CALL_CONF
    call_id = conf["NewConnectionCallID"]

    def control(mtype: int, device: str) -> Message:
        return make(mtype, [(Tag.CONNECTION_DEVID, device)], ConnectionCallID=call_id)

    assert (await client.request(control(M.ANSWER_CALL_REQ, "2001"), timeout=5)).type == M.ANSWER_CALL_CONF
    assert (await client.request(control(M.HOLD_CALL_REQ, "2000"), timeout=5)).type == M.HOLD_CALL_CONF

    async def held_on_b() -> list[tuple[str, str]]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{HOST}:{cti_pair.admin['B']}/emu/calls") as r,
        ):
            calls = (await r.json())["calls"]
        return [(c["device"], c["state"]) for call in calls for c in call["connections"]]

    await eventually(held_on_b, "the held call on side B", until=lambda c: ("2000", "HOLD") in c)

    cti_pair.procs["A"].kill()  # SIGKILL: no CLOSE, no FAILURE_EVENT
    replay: list[Message] = []
    async with asyncio.timeout(15):
        while not isinstance(await events.get(), LinkDown):  # (the call events side A sent first)
            pass
        while not isinstance(await events.get(), LinkUp):
            pass
        while len(replay) < 4:
            event = await events.get()
            message = getattr(event, "message", None)
            if isinstance(message, Message) and message.type not in (M.AGENT_STATE_EVENT, M.SYSTEM_EVENT):
                replay.append(message)
    assert client.active_side == "B"
    assert [(m.type, m.get(Tag.CONNECTION_DEVID)) for m in replay] == [
        (M.BEGIN_CALL_EVENT, "2000"),
        (M.CALL_ESTABLISHED_EVENT, "2000"),
        (M.CALL_HELD_EVENT, "2000"),
        (M.CALL_ESTABLISHED_EVENT, "2001"),
    ]
    assert all(m["ConnectionCallID"] == call_id for m in replay)
    # The call goes on on side B: the held party retrieves, then drops, and the call ends.
    assert (
        await client.request(control(M.RETRIEVE_CALL_REQ, "2000"), timeout=5)
    ).type == M.RETRIEVE_CALL_CONF
    reply = await client.request(control(M.CLEAR_CONNECTION_REQ, "2000"), timeout=5)
    assert reply.type == M.CLEAR_CONNECTION_CONF
    assert await held_on_b() == []
    await client.close()
