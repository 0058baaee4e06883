"""A/B failover of Finesse's CTI link against the real duplex CTI server, in memory (no sockets).

Both ends are the real cores (:mod:`tests.unit.ctipair`), on a virtual clock at Cisco's unscaled
times: heartbeat 5 s, three misses, reconnect pause 1 s, OPEN_CONF timeout 10 s, PG takeover 5 s.

The socket tests cover each end against a scripted other end (integration/test_cti_client_fake_server.py:
CtiClient against a fake server; test_cti_stub.py: the stub pair against a raw client) and
e2e/test_cti_failover_processes.py the processes. What only the two real cores together show is
here: the link's alternation meeting the arbiter's takeover window, the OPEN_CONF timeout on a side
that accepts TCP and answers nothing, an idle side's refusals, heartbeat faults set on the real
core, a restarted side coming back idle, a split brain, and agent state surviving each switch.
"""

from __future__ import annotations

from typing import Any

import pytest

from cti_stub.core import IdleMode, Role
from emu_base.timers import Timers
from finesse_emu.server.cti import (
    AttemptFailed,
    HeartbeatResult,
    LinkDown,
    LinkNotOpenError,
    LinkState,
    LinkUp,
    Reply,
    RequestFailed,
)
from ged188 import AgentState, Message, MessageType, Tag, make
from tests.unit.ctipair import CtiPair

M = MessageType
T = Timers()
HB = T.cti_heartbeat_interval
PAUSE = T.cti_reconnect_pause
TAKEOVER = T.cti_takeover_delay
HB_LOSS = "heartbeat timeout: 3 consecutive heartbeats unanswered"


def login(agent_id: str) -> Message:
    return make(
        M.SET_AGENT_STATE_REQ,
        [
            (Tag.AGENT_INSTRUMENT, f"2{agent_id[1:]}"),
            (Tag.AGENT_ID, agent_id),
            (Tag.AGENT_PASSWORD, f"pass{agent_id}".encode()),
        ],
        InvokeID=0,
        AgentState=AgentState.LOGIN,
    )


def set_state(agent_id: str, state: AgentState, reason: int = 0) -> Message:
    return make(
        M.SET_AGENT_STATE_REQ,
        [(Tag.AGENT_ID, agent_id)],
        InvokeID=0,
        AgentState=state,
        EventReasonCode=reason,
    )


def query(agent_id: str) -> Message:
    return make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, agent_id)], InvokeID=0, MRDID=1)


def open_pair(**kwargs: Any) -> CtiPair:
    pair = CtiPair(**kwargs)
    pair.start()
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 1.0, "the link opens")
    return pair


def reply_to(pair: CtiPair, invoke_id: int) -> Message:
    pair.run_until(
        lambda: any(r.invoke_id == invoke_id for r in pair.of_type(Reply)), HB, f"reply {invoke_id}"
    )
    (reply,) = [r for r in pair.of_type(Reply) if r.invoke_id == invoke_id]
    assert reply.ok, reply
    return reply.message


def agent_state(pair: CtiPair, agent_id: str) -> int:
    conf = reply_to(pair, pair.request(query(agent_id)))
    assert conf.type == M.QUERY_AGENT_STATE_CONF
    return int(conf["AgentState"])


def ready_agent(pair: CtiPair, agent_id: str) -> None:
    reply_to(pair, pair.request(login(agent_id)))
    reply_to(pair, pair.request(set_state(agent_id, AgentState.AVAILABLE)))
    assert agent_state(pair, agent_id) == AgentState.AVAILABLE


def test_start_opens_on_preferred_side_a_and_heartbeats_keep_both_ends_up() -> None:
    pair = CtiPair()
    assert (pair.side("A").role, pair.side("B").role) == (Role.ACTIVE, Role.IDLE)
    assert (pair.side("A").listening, pair.side("B").listening) == (True, False)
    pair.start()
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 1.0, "the link opens")
    (up,) = pair.of_type(LinkUp)
    assert up.side == "A" and pair.connected_side == "A"
    pair.run(60.0)
    # One heartbeat every 5 s, each answered: the server's IdleTimeout (4 x 5 s) never fires.
    results = pair.of_type(HeartbeatResult)
    assert len(results) == 12 and all(r.ok for r in results)
    assert pair.of_type(LinkDown) == []
    assert "cti_session_closed" not in pair.side("A").notice_events()
    assert pair.side("A").core.stats["heartbeats"] == 12


def test_silent_side_is_lost_after_three_missed_heartbeats_and_the_link_alternates_back() -> None:
    pair = open_pair()
    pair.side("A").core.silent_clients.add("*")  # the ignore_heartbeats fault
    silenced = pair.now()
    pair.run_until(lambda: bool(pair.of_type(LinkDown)), 4 * HB, "the heartbeat loss")
    (down,) = pair.of_type(LinkDown)
    assert (down.side, down.reason) == ("A", HB_LOSS)
    # The first unanswered heartbeat went out within one interval; the loss is 3 intervals after it.
    assert down.detection_seconds == pytest.approx(3 * HB)
    assert 3 * HB <= pair.now() - silenced <= 4 * HB
    misses = [r.consecutive_misses for r in pair.of_type(HeartbeatResult) if not r.ok]
    assert misses == [1, 2, 3]
    lost = pair.now()
    # Side A still runs and is active: B (idle) refuses, and the next attempt, on A, opens again.
    pair.run_until(lambda: len(pair.of_type(LinkUp)) == 2, 3 * PAUSE, "the link back")
    assert pair.of_type(AttemptFailed) == [AttemptFailed("B", "connect failed: connection refused")]
    assert pair.of_type(LinkUp)[-1].side == "A"
    assert pair.now() - lost == pytest.approx(2 * PAUSE)


def test_killed_active_side_link_alternates_until_side_b_takes_over_with_agent_state() -> None:
    pair = open_pair()
    ready_agent(pair, "1001")
    assert pair.side("B").model.agents["1001"].state is AgentState.AVAILABLE  # replicated
    reply_to(pair, pair.request(login("1004")))  # Not Ready
    pending = pair.request(query("1002"), deliver=False)  # in flight when the side dies
    killed = pair.now()
    pair.kill("A")
    (down,) = pair.of_type(LinkDown)
    assert (down.side, down.reason) == ("A", "connection lost: connection reset by peer")
    assert pair.of_type(RequestFailed) == [
        RequestFailed(pending, "CTI link lost: connection lost: connection reset by peer")
    ]
    # Requests fail at once during the outage (Finesse answers 503).
    with pytest.raises(LinkNotOpenError, match="CTI link is WAITING"):
        pair.request(query("1001"))
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 3 * TAKEOVER, "the link on side B")
    failed = [(round(at - killed, 6), f.side, f.reason) for at, f in pair.timed(AttemptFailed)]
    refused = "connect failed: connection refused"
    # B first (the other side), then strictly alternating, one pause apart, until B listens.
    assert failed == [(k * PAUSE, "BA"[(k - 1) % 2], refused) for k in range(1, len(failed) + 1)]
    assert failed[-1][1] == "A"  # the attempt after the last refusal (on A) is B, which opens
    up_at, up = pair.timed(LinkUp)[-1]
    assert up.side == "B"
    # B listens from the takeover on; the link tries B every other pause.
    assert TAKEOVER <= up_at - killed <= TAKEOVER + 2 * PAUSE
    assert "cti_role" in pair.side("B").notice_events()
    # The switch disconnected the agents' CTI client (load 0): the voice state survives it.
    assert agent_state(pair, "1001") == AgentState.AVAILABLE
    # Chapter "Finesse Failover Mechanisms": "If agent is in Not Ready State before Failover, agent
    # moves to Not Ready — Connection Failure after CTI Disconnect or Reconnect. If agent is in Ready
    # State before Failover, agent moves to Not Ready — Connection Failure upon his next state change
    # to Not Ready."
    agents = pair.side("B").model.agents
    assert (agents["1004"].state, agents["1004"].reason_code) == (AgentState.NOT_READY, 50002)
    reply_to(pair, pair.request(set_state("1001", AgentState.NOT_READY, 7)))
    assert (agents["1001"].state, agents["1001"].reason_code) == (AgentState.NOT_READY, 50002)


def test_deactivated_side_hands_over_at_once_and_the_link_follows_in_one_pause() -> None:
    pair = open_pair()
    ready_agent(pair, "1003")
    pending = pair.request(query("1003"), deliver=False)
    at = pair.now()
    pair.deactivate("A")
    assert (pair.side("A").role, pair.side("B").role) == (Role.IDLE, Role.ACTIVE)
    assert not pair.side("A").listening and pair.side("B").listening
    (down,) = pair.of_type(LinkDown)
    assert down.side == "A" and down.reason.startswith("connection lost: closed by side A: side going idle")
    assert [f.invoke_id for f in pair.of_type(RequestFailed)] == [pending]
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 2 * PAUSE, "the link on side B")
    assert pair.of_type(LinkUp)[-1].side == "B"
    assert pair.now() - at == pytest.approx(PAUSE)
    assert pair.of_type(AttemptFailed) == []
    assert agent_state(pair, "1003") == AgentState.AVAILABLE
    # Side A holds off: it stays idle behind the active B.
    pair.run(10 * TAKEOVER)
    assert (pair.side("A").role, pair.side("B").role) == (Role.IDLE, Role.ACTIVE)
    assert len(pair.of_type(LinkDown)) == 1


def test_restarted_side_a_comes_back_idle_and_the_link_stays_on_b() -> None:
    pair = open_pair()
    pair.kill("A")
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 3 * TAKEOVER, "the link on side B")
    pair.restart("A")
    assert (pair.side("A").role, pair.side("B").role) == (Role.IDLE, Role.ACTIVE)
    assert not pair.side("A").listening
    pair.run(10 * HB)
    assert pair.connected_side == "B" and len(pair.of_type(LinkDown)) == 1


def test_open_conf_timeout_on_a_hung_side_then_side_b() -> None:
    pair = CtiPair()
    pair.hang("A")  # SIGSTOP before Finesse starts: TCP is accepted, OPEN_REQ never answered
    at = pair.now()
    pair.start()
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 3 * T.cti_open_timeout, "the link on side B")
    assert pair.of_type(AttemptFailed) == [AttemptFailed("A", "open timeout: no OPEN_CONF")]
    up_at, up = pair.timed(LinkUp)[0]
    assert up.side == "B"
    assert up_at - at == pytest.approx(T.cti_open_timeout + PAUSE)
    # Side B took over once the private link to the silent A timed out.
    assert pair.side("B").role is Role.ACTIVE


def test_offline_idle_side_rejects_open_until_it_takes_over() -> None:
    pair = open_pair(idle_mode={"B": IdleMode.OFFLINE})
    assert pair.side("B").listening  # OFFLINE: TCP accepted while idle
    killed = pair.now()
    pair.kill("A")
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 3 * TAKEOVER, "the link on side B")
    reasons = {(f.side, f.reason) for f in pair.of_type(AttemptFailed)}
    assert reasons == {
        ("B", "open rejected: E_CTI_CTI_SERVER_OFFLINE"),
        ("A", "connect failed: connection refused"),
    }
    assert pair.of_type(LinkUp)[-1].side == "B"
    assert pair.now() - killed <= TAKEOVER + 2 * PAUSE
    assert pair.side("B").core.stats["rejected_opens"] >= 1


def test_heartbeat_answered_with_failure_conf_loses_the_link_within_one_interval() -> None:
    pair = open_pair()
    pair.side("A").core.fail_heartbeats = True
    at = pair.now()
    pair.run_until(lambda: bool(pair.of_type(LinkDown)), 2 * HB, "the loss")
    (down,) = pair.of_type(LinkDown)
    assert down.reason == "heartbeat rejected: E_CTI_CTI_SERVER_OFFLINE"
    assert pair.now() - at <= HB


def test_offline_fault_failure_event_then_requests_fail_until_it_clears() -> None:
    pair = open_pair()
    pair.set_offline("A", True)
    (down,) = pair.of_type(LinkDown)
    assert down.reason == "FAILURE_EVENT: E_CTI_CTI_SERVER_OFFLINE"
    pair.run(10 * PAUSE)
    # A rejects OPEN_REQ while offline, B is idle and refuses: no session, every request fails.
    assert pair.link.state is not LinkState.OPEN
    with pytest.raises(LinkNotOpenError):
        pair.request(query("1001"))
    sides = [f.side for f in pair.of_type(AttemptFailed)]
    assert sides[:4] == ["B", "A", "B", "A"]
    assert {f.reason for f in pair.of_type(AttemptFailed) if f.side == "A"} == {
        "open rejected: E_CTI_CTI_SERVER_OFFLINE"
    }
    pair.set_offline("A", False)
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 3 * PAUSE, "the link back on A")
    assert pair.of_type(LinkUp)[-1].side == "A"


def test_old_pg_declares_the_loss_40_s_later() -> None:
    pair = open_pair(old_pg=True)
    pair.side("A").core.silent_clients.add("Finesse")
    pair.run_until(lambda: bool(pair.of_type(LinkDown)), 4 * HB + T.cti_old_pg_extra_detection, "the loss")
    (down,) = pair.of_type(LinkDown)
    assert down.reason == f"{HB_LOSS} (+{T.cti_old_pg_extra_detection:g} s old PG delay)"
    assert down.detection_seconds == pytest.approx(3 * HB + T.cti_old_pg_extra_detection)


def test_private_link_partition_split_brain_then_b_yields_and_the_session_on_a_survives() -> None:
    pair = open_pair()
    pair.cut_peer_link()
    pair.run_until(lambda: pair.side("B").role is Role.ACTIVE, 2 * TAKEOVER, "B takes over")
    assert pair.side("A").role is Role.ACTIVE  # both active while they cannot hear each other
    pair.mend_peer_link()
    assert (pair.side("A").role, pair.side("B").role) == (Role.ACTIVE, Role.IDLE)
    pair.run(5 * HB)
    assert pair.connected_side == "A"
    assert pair.of_type(LinkDown) == [] and len(pair.of_type(LinkUp)) == 1


def test_single_side_retries_the_same_side() -> None:
    pair = CtiPair(sides=("A",))
    pair.start()
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 1.0, "the link opens")
    pair.kill("A")
    pair.run(3 * PAUSE)
    assert [f.side for f in pair.of_type(AttemptFailed)] == ["A", "A", "A"]
    pair.restart("A")
    pair.run_until(lambda: pair.link.state is LinkState.OPEN, 2 * PAUSE, "the link back on A")
