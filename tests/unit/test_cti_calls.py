"""The CTI stub's call model: connections, MAKE_CALL, HOLD, RETRIEVE, CLEAR_CONNECTION.

Unit tests per transition on the pure model and on the server core (GED-188 bytes in and out), and
a Hypothesis state machine checking the call invariants after every step: each party in at most
one active connection; every connection of a call cleared when the call ends; an agent's state
consistent with its connections; the replicated records rebuilding the same calls on the idle side.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from cti_stub.core import Send
from cti_stub.model import ACTIVE_STATES, AgentChange, CallChange, Change, ControlError, PeripheralModel
from emu_base.directory import generate
from ged188 import (
    AgentState,
    CallType,
    DeviceType,
    FrameDecoder,
    LocalConnectionState,
    Message,
    Service,
    Status,
    Tag,
    encode,
    make,
)
from tests.unit.test_cti_core import Harness, M

S = AgentState
LCS = LocalConnectionState
RECORDS = generate(4)
A, B, C = (r.id for r in RECORDS[:3])
EXT = {A: "2000", B: "2001", C: "2002"}
OUTSIDE = "5550100"


def signed_in(*agents: str, ready: bool = False) -> PeripheralModel:
    model = PeripheralModel(RECORDS)
    for agent_id in agents:
        model.set_state(1.0, agent_id, S.LOGIN, extension=EXT[agent_id])
        if ready:
            model.set_state(1.0, agent_id, S.AVAILABLE)
    return model


def steps(changes: list[Change]) -> list[tuple[str, str, str]]:
    """Each change as (kind, device or agent, state name): the order clients see."""
    out: list[tuple[str, str, str]] = []
    for c in changes:
        if isinstance(c, CallChange):
            out.append((c.step, c.connection_device, c.state.name if c.state is not None else ""))
        elif isinstance(c, AgentChange):
            out.append(("agent", c.agent.id, c.state.name))
    return out


def states(model: PeripheralModel, call_id: int) -> dict[str, str]:
    return {c.device: c.state.name for c in model.calls[call_id].connections}


# -- the pure model, one transition at a time -------------------------------------------------------
def test_a_call_to_the_queue_goes_to_the_agent_ready_the_longest() -> None:
    model = signed_in(A, B, C)
    model.set_state(5.0, B, S.AVAILABLE)
    model.set_state(3.0, C, S.AVAILABLE)  # C Ready before B; A Not Ready
    assert model.longest_available().id == C
    model.offer_call(6.0, C, ani=OUTSIDE)
    assert model.longest_available().id == B  # C has a call now
    model.set_state(7.0, B, S.NOT_READY)
    with pytest.raises(ControlError, match="Ready"):
        model.longest_available()


def test_make_call_to_another_agent_delivers_to_that_agent() -> None:
    model = signed_in(A, B)
    call, changes = model.make_call(10.0, A, EXT[B])
    assert steps(changes) == [
        ("begin", "2000", ""),
        ("service_initiated", "2000", "INITIATE"),
        ("agent", A, "TALKING"),
        ("originated", "2000", "INITIATE"),
        ("delivered", "2001", "ALERTING"),
        ("agent", B, "NOT_READY"),  # the same state, one task more (NumTasks; replicated)
    ]
    assert call.kind == "internal" and (call.ani, call.dnis) == ("2000", "2001")
    assert states(model, call.call_id) == {"2000": "INITIATE", "2001": "ALERTING"}
    assert model.agents[B].call_ids == [call.call_id]


def test_make_call_to_a_ready_agent_reserves_it() -> None:
    model = signed_in(A, B, ready=True)
    _, changes = model.make_call(10.0, A, EXT[B])
    assert ("agent", B, "RESERVED") in steps(changes)


def test_answer_connects_both_parties_and_both_talk() -> None:
    model = signed_in(A, B)
    call, _ = model.make_call(10.0, A, EXT[B])
    changes = model.answer_call(11.0, call.call_id, EXT[B])
    assert steps(changes) == [("established", "2001", "CONNECT"), ("agent", B, "TALKING")]
    assert states(model, call.call_id) == {"2000": "CONNECT", "2001": "CONNECT"}
    assert call.answered == 11.0


def test_hold_and_retrieve_one_party() -> None:
    model = signed_in(A, B)
    call, _ = model.make_call(10.0, A, EXT[B])
    model.answer_call(11.0, call.call_id, EXT[B])
    assert steps(model.hold_call(12.0, call.call_id, EXT[A])) == [
        ("held", "2000", "HOLD"),
        ("agent", A, "HOLD"),
    ]
    assert states(model, call.call_id) == {"2000": "HOLD", "2001": "CONNECT"}
    assert model.agents[B].state is S.TALKING
    with pytest.raises(ControlError) as info:
        model.hold_call(12.5, call.call_id, EXT[A])  # held already
    assert info.value.status is Status.E_CTI_INVALID_CALLID
    assert steps(model.retrieve_call(13.0, call.call_id, EXT[A])) == [
        ("retrieved", "2000", "CONNECT"),
        ("agent", A, "TALKING"),
    ]
    with pytest.raises(ControlError):
        model.retrieve_call(13.5, call.call_id, EXT[A])  # not held


def test_clear_connection_of_one_party_ends_a_two_party_call() -> None:
    model = signed_in(A, B)
    call, _ = model.make_call(10.0, A, EXT[B])
    model.answer_call(11.0, call.call_id, EXT[B])
    model.hold_call(12.0, call.call_id, EXT[A])
    changes = model.clear_connection(13.0, call.call_id, EXT[A])
    assert steps(changes) == [
        ("connection_cleared", "2000", "NULL"),  # the party that dropped first
        ("connection_cleared", "2001", "NULL"),  # fewer than two parties: the call ends
        ("cleared", "2000", ""),
        ("agent", A, "AVAILABLE"),
        ("agent", B, "AVAILABLE"),
        ("end", "2000", ""),
    ]
    assert model.calls == {} and model.agents[A].call_ids == [] == model.agents[B].call_ids
    assert all(c.state is LCS.NULL for c in call.connections) and call.ended == 13.0


def test_make_call_to_an_outside_number_answered_by_the_emulator() -> None:
    model = signed_in(A)
    call, changes = model.make_call(10.0, A, OUTSIDE, outside_answer_after=3.0)
    assert call.kind == "outbound"
    (dest,) = [c for c in call.connections if c.device == OUTSIDE]
    assert (dest.agent_id, dest.state, dest.answer_at) == (None, LCS.ALERTING, 13.0)
    assert steps(changes)[-1] == ("delivered", OUTSIDE, "ALERTING")
    assert steps(model.answer_call(13.0, call.call_id, OUTSIDE)) == [("established", OUTSIDE, "CONNECT")]
    assert model.agents[A].state is S.TALKING


def test_make_call_to_an_outside_number_answered_at_once() -> None:
    model = signed_in(A)
    call, changes = model.make_call(10.0, A, OUTSIDE, outside_answer_after=0.0)
    assert steps(changes)[-1] == ("established", OUTSIDE, "CONNECT")
    assert states(model, call.call_id) == {"2000": "CONNECT", OUTSIDE: "CONNECT"}


@pytest.mark.parametrize(
    ("dialed", "status", "failure"),
    [("", Status.E_CTI_REQUIRED_DATA_MISSING, None), ("2000", Status.E_CTI_INVALID_DIGITS, None)],
)
def test_make_call_refusals(dialed: str, status: Status | None, failure: int | None) -> None:
    model = signed_in(A)
    with pytest.raises(ControlError) as info:
        model.make_call(10.0, A, dialed)
    assert (info.value.status, info.value.failure) == (status, failure)
    assert model.calls == {}


def test_a_party_has_at_most_one_active_connection() -> None:
    model = signed_in(A, B, C)
    call, _ = model.make_call(10.0, A, EXT[B])
    with pytest.raises(ControlError):
        model.make_call(11.0, A, EXT[C])  # A is already dialling
    model.answer_call(11.0, call.call_id, EXT[B])
    model.hold_call(12.0, call.call_id, EXT[A])
    second, _ = model.make_call(13.0, A, EXT[C])  # with the first call held, A may dial again
    model.answer_call(14.0, second.call_id, EXT[C])
    with pytest.raises(ControlError):
        model.retrieve_call(15.0, call.call_id, EXT[A])  # A is active in the second call
    assert model.agents[A].call_ids == [call.call_id, second.call_id]
    assert model.agents[A].state is S.TALKING


def test_logged_out_agent_cannot_make_a_call() -> None:
    model = signed_in()
    with pytest.raises(ControlError) as info:
        model.make_call(10.0, A, "2001")
    assert info.value.status is Status.E_CTI_AGENT_NOT_LOGGED_ON


def test_inbound_call_has_the_caller_and_the_agent() -> None:
    model = signed_in(A, ready=True)
    call, changes = model.offer_call(10.0, A, "5551234", "8000")
    assert states(model, call.call_id) == {"5551234": "CONNECT", "2000": "ALERTING"}
    assert steps(changes) == [
        ("begin", "2000", ""),
        ("delivered", "2000", "ALERTING"),
        ("agent", A, "RESERVED"),
    ]
    # The agent drops: the caller alone is no call.
    model.answer_call(11.0, call.call_id)
    assert [s[:2] for s in steps(model.clear_connection(12.0, call.call_id, "2000"))] == [
        ("connection_cleared", "2000"),
        ("connection_cleared", "5551234"),
        ("cleared", "2000"),
        ("agent", A),
        ("end", "2000"),
    ]


def test_a_replicated_call_rebuilds_the_same_connections() -> None:
    model = signed_in(A, B)
    call, _ = model.make_call(10.0, A, EXT[B])
    model.answer_call(11.0, call.call_id, EXT[B])
    model.hold_call(12.0, call.call_id, EXT[A])
    replica = signed_in()
    replica.apply_snapshot(json.loads(json.dumps(model.snapshot())))
    assert replica.calls[call.call_id].to_json() == call.to_json()
    replica.retrieve_call(13.0, call.call_id, EXT[A])  # the idle side can carry on from there
    assert replica.agents[A].state is S.TALKING


# -- the server core: GED-188 requests and events ---------------------------------------------------
def _make_call_req(instrument: str, dialed: str, invoke: int = 30) -> Message:
    floating = [(Tag.AGENT_INSTRUMENT, instrument), (Tag.DIALED_NUMBER, dialed), (Tag.CALL_VAR_1, "v1")]
    return make(M.MAKE_CALL_REQ, floating, InvokeID=invoke, PeripheralID=5000)


def _control(mtype: int, call_id: int, device: str, invoke: int = 31) -> Message:
    return make(
        mtype, [(Tag.CONNECTION_DEVID, device)], InvokeID=invoke, PeripheralID=5000, ConnectionCallID=call_id
    )


def _two_agents() -> tuple[Harness, int, str, str]:
    h = Harness()
    sid = h.opened()
    a, b = list(h.model.agents)[:2]
    h.login(sid, a, "2000")
    h.login(sid, b, "2001")
    return h, sid, a, b


def test_make_call_req_conf_and_event_order_on_the_wire() -> None:
    h, sid, a, b = _two_agents()
    msgs = h.send(sid, _make_call_req("2000", "2001"))
    assert [m.type for m in msgs] == [
        M.MAKE_CALL_CONF,
        M.BEGIN_CALL_EVENT,
        M.CALL_SERVICE_INITIATED_EVENT,
        M.AGENT_STATE_EVENT,
        M.CALL_ORIGINATED_EVENT,
        M.CALL_DELIVERED_EVENT,
        M.AGENT_STATE_EVENT,
    ]
    conf, begin, initiated, a_state, originated, delivered, b_state = msgs
    call_id = conf["NewConnectionCallID"]
    assert (conf["InvokeID"], conf.get(Tag.NEW_CONNECTION_DEVID)) == (30, "2000")
    assert all(m["ConnectionCallID"] == call_id for m in msgs[1:] if m.type != M.AGENT_STATE_EVENT)
    assert begin["CallType"] == CallType.AGENT_INSIDE and begin.get(Tag.CALL_VAR_1) == "v1"
    assert initiated["LocalConnectionState"] == LCS.INITIATE and initiated.get(Tag.CONNECTION_DEVID) == "2000"
    assert (a_state.get(Tag.AGENT_ID), a_state["AgentState"]) == (a, S.TALKING)
    assert (originated.get(Tag.CALLING_DEVID), originated.get(Tag.CALLED_DEVID)) == ("2000", "2001")
    assert originated["CalledDeviceType"] == DeviceType.AGENT_DEVICE
    assert delivered.get(Tag.CONNECTION_DEVID) == delivered.get(Tag.ALERTING_DEVID) == "2001"
    assert delivered["LocalConnectionState"] == LCS.ALERTING
    assert (b_state.get(Tag.AGENT_ID), b_state["NumTasks"]) == (b, 1)

    msgs = h.send(sid, _control(M.ANSWER_CALL_REQ, call_id, "2001"))
    assert [m.type for m in msgs] == [M.ANSWER_CALL_CONF, M.CALL_ESTABLISHED_EVENT, M.AGENT_STATE_EVENT]
    assert msgs[1].get(Tag.ANSWERING_DEVID) == "2001" and msgs[2]["AgentState"] == S.TALKING

    msgs = h.send(sid, _control(M.HOLD_CALL_REQ, call_id, "2000"))
    assert [m.type for m in msgs] == [M.HOLD_CALL_CONF, M.CALL_HELD_EVENT, M.AGENT_STATE_EVENT]
    assert (msgs[1].get(Tag.HOLDING_DEVID), msgs[1]["LocalConnectionState"]) == ("2000", LCS.HOLD)
    assert msgs[2]["AgentState"] == S.HOLD

    msgs = h.send(sid, _control(M.RETRIEVE_CALL_REQ, call_id, "2000"))
    assert [m.type for m in msgs] == [M.RETRIEVE_CALL_CONF, M.CALL_RETRIEVED_EVENT, M.AGENT_STATE_EVENT]
    assert msgs[1].get(Tag.RETRIEVING_DEVID) == "2000" and msgs[2]["AgentState"] == S.TALKING

    msgs = h.send(sid, _control(M.CLEAR_CONNECTION_REQ, call_id, "2000"))
    assert [m.type for m in msgs] == [
        M.CLEAR_CONNECTION_CONF,
        M.CALL_CONNECTION_CLEARED_EVENT,
        M.CALL_CONNECTION_CLEARED_EVENT,
        M.CALL_CLEARED_EVENT,
        M.AGENT_STATE_EVENT,
        M.AGENT_STATE_EVENT,
        M.END_CALL_EVENT,
    ]
    assert [m.get(Tag.RELEASING_DEVID) for m in msgs[1:3]] == ["2000", "2001"]


def test_call_control_refusals_on_the_wire() -> None:
    h, sid, _, _ = _two_agents()
    (conf,) = h.send(sid, _make_call_req("2999", "2001"))  # no agent at that instrument
    assert conf.type == M.CONTROL_FAILURE_CONF and conf["FailureCode"] == 256
    (fail,) = h.send(sid, _make_call_req("2000", "2000"))
    assert (fail.type, fail["Status"]) == (M.FAILURE_CONF, Status.E_CTI_INVALID_DIGITS)
    conf = h.send(sid, _make_call_req("2000", "2001"))[0]
    call_id = conf["NewConnectionCallID"]
    (fail,) = h.send(sid, _control(M.HOLD_CALL_REQ, call_id, "2000"))  # dialling: not connected yet
    assert (fail.type, fail["Status"]) == (M.FAILURE_CONF, Status.E_CTI_INVALID_CALLID)
    (fail,) = h.send(sid, _control(M.HOLD_CALL_REQ, call_id, "7777"))  # no such party
    assert fail["Status"] == Status.E_CTI_INVALID_CALLID
    (fail,) = h.send(sid, _control(M.RETRIEVE_CALL_REQ, call_id + 100, "2000"))  # no such call
    assert fail["Status"] == Status.E_CTI_INVALID_CALLID


def test_outside_number_answers_after_the_configured_time() -> None:
    h, sid, _, _ = _two_agents()
    h.core.config.outside_answer_after = 2.0
    msgs = h.send(sid, _make_call_req("2000", OUTSIDE))
    call_id = msgs[0]["NewConnectionCallID"]
    assert msgs[-1].type == M.CALL_DELIVERED_EVENT and msgs[-1]["AlertingDeviceType"] == DeviceType.EXTERNAL
    h.core.handle_timer(h.now + 1.0)
    assert h.received(sid) == []
    h.core.handle_timer(h.now + 2.0)
    (established,) = h.received(sid)
    assert established.type == M.CALL_ESTABLISHED_EVENT and established.get(Tag.ANSWERING_DEVID) == OUTSIDE
    assert h.model.calls[call_id].connection(OUTSIDE) is not None


def test_a_reconnecting_client_learns_a_held_call() -> None:
    h, sid, _, _ = _two_agents()
    call_id = h.send(sid, _make_call_req("2000", "2001"))[0]["NewConnectionCallID"]
    h.send(sid, _control(M.ANSWER_CALL_REQ, call_id, "2001"))
    h.send(sid, _control(M.HOLD_CALL_REQ, call_id, "2000"))
    other = h.connect()
    msgs = [m for m in h.send(other, make(M.OPEN_REQ, [(Tag.CLIENT_ID, "x"), (Tag.CLIENT_PASSWORD, b"")],
            InvokeID=1, VersionNumber=24, IdleTimeout=20, PeripheralID=0xFFFFFFFF,
            ServicesRequested=0x14, CallMsgMask=0xFFFFFFFF, AgentStateMask=0x3FFF))
            if m.type not in (M.OPEN_CONF, M.SYSTEM_EVENT, M.AGENT_STATE_EVENT)]  # fmt: skip
    assert [(m.type, m.get(Tag.CONNECTION_DEVID)) for m in msgs] == [
        (M.BEGIN_CALL_EVENT, "2000"),
        (M.CALL_ESTABLISHED_EVENT, "2000"),
        (M.CALL_HELD_EVENT, "2000"),
        (M.CALL_ESTABLISHED_EVENT, "2001"),
    ]


# -- invariants, under any sequence ----------------------------------------------------------------
AGENTS = [A, B, C]
DEVICES = [*EXT.values(), OUTSIDE, "2999"]  # 2999: a number the deployment does not know


class CallModelMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = signed_in(A, B, C)
        self.replica = signed_in(A, B, C)
        self.replica.apply_snapshot(json.loads(json.dumps(self.model.snapshot())))
        self.now = 100.0

    def _run(self, op: Any) -> None:
        self.now += 1.0
        before = json.dumps(self.model.snapshot(), sort_keys=True)
        try:
            changes = op()
        except ControlError:
            assert json.dumps(self.model.snapshot(), sort_keys=True) == before, "a refusal changed state"
            return
        if isinstance(changes, tuple):
            changes = changes[1]
        # As the core does once an agent is Ready: the queue goes to it.
        changes = [*changes, *self.model.dispatch_queue()]
        for change in changes:  # what the core streams to the idle side, in order
            if isinstance(change, AgentChange):
                self.replica.apply_agent(json.loads(json.dumps(change.agent.to_json())))
            else:
                self.replica.apply_call(json.loads(json.dumps(change.call.to_json())))
            if isinstance(change, CallChange) and change.step == "end":
                assert all(c.state is LCS.NULL for c in change.call.connections), change.call

    def _call_id(self, data: st.DataObject) -> int:
        return data.draw(st.sampled_from([*sorted(self.model.calls), 0x7FFF]))

    @rule(agent=st.sampled_from(AGENTS), dialed=st.sampled_from(DEVICES), after=st.sampled_from([None, 0.0]))
    def make_call(self, agent: str, dialed: str, after: float | None) -> None:
        self._run(lambda: self.model.make_call(self.now, agent, dialed, None, after))

    @rule(agent=st.sampled_from(AGENTS))
    def become_ready(self, agent: str) -> None:
        self._run(lambda: self.model.set_state(self.now, agent, S.AVAILABLE))

    @rule(agent=st.sampled_from(AGENTS))
    def offer_call(self, agent: str) -> None:
        # Each inbound caller is a party of its own (its own trunk connection).
        self._run(lambda: self.model.offer_call(self.now, agent, f"555{int(self.now)}", "8000"))

    @rule(data=st.data(), device=st.none() | st.sampled_from(DEVICES))
    def answer(self, data: st.DataObject, device: str | None) -> None:
        self._run(lambda: self.model.answer_call(self.now, self._call_id(data), device))

    @rule(data=st.data(), device=st.sampled_from(DEVICES))
    def hold(self, data: st.DataObject, device: str) -> None:
        self._run(lambda: self.model.hold_call(self.now, self._call_id(data), device))

    @rule(data=st.data(), device=st.sampled_from(DEVICES))
    def retrieve(self, data: st.DataObject, device: str) -> None:
        self._run(lambda: self.model.retrieve_call(self.now, self._call_id(data), device))

    @rule(data=st.data(), device=st.sampled_from(DEVICES))
    def clear_connection(self, data: st.DataObject, device: str) -> None:
        self._run(lambda: self.model.clear_connection(self.now, self._call_id(data), device))

    @rule(data=st.data())
    def clear_call(self, data: st.DataObject) -> None:
        self._run(lambda: self.model.end_call(self.now, self._call_id(data)))

    @rule()
    def dial_the_queue(self) -> None:
        self._run(lambda: self.model.queue_call(self.now, f"556{int(self.now)}", "8000"))

    @rule(data=st.data())
    def caller_hangs_up(self, data: st.DataObject) -> None:
        self._run(lambda: self.model.caller_hangup(self.now, self._call_id(data)))

    @invariant()
    def nobody_ready_while_calls_wait(self) -> None:
        if self.model.queued_calls():
            assert all(a.state is not S.AVAILABLE or a.call_ids for a in self.model.agents.values())

    @invariant()
    def one_active_connection_per_party(self) -> None:
        active = [
            c.device for call in self.model.calls.values() for c in call.live if c.state in ACTIVE_STATES
        ]
        assert len(active) == len(set(active)), active

    @invariant()
    def live_calls_have_two_parties(self) -> None:
        for call in self.model.calls.values():
            # (a failed MAKE_CALL keeps only the agent's FAIL connection until the agent drops it)
            failed = [c.state for c in call.live] == [LCS.FAIL]
            assert call.ended is None and (len(call.live) >= 2 or failed), call

    @invariant()
    def agent_state_follows_its_connections(self) -> None:
        for agent in (self.model.agents[a] for a in AGENTS):
            conns = [c for call in self.model.calls.values() for c in call.live if c.agent_id == agent.id]
            assert agent.call_ids == [k for k, call in self.model.calls.items() if agent.id in call.agent_ids]
            if any(c.state in ACTIVE_STATES for c in conns):
                assert agent.state is S.TALKING, (agent, conns)
            elif any(c.state is LCS.HOLD for c in conns):
                assert agent.state is S.HOLD, (agent, conns)
            elif conns:
                assert agent.state in (S.RESERVED, S.NOT_READY), (agent, conns)
            else:
                assert agent.state in (S.NOT_READY, S.AVAILABLE), agent

    @invariant()
    def replica_has_the_same_calls(self) -> None:
        assert {k: c.to_json() for k, c in self.replica.calls.items()} == {
            k: c.to_json() for k, c in self.model.calls.items()
        }
        for agent_id in AGENTS:
            assert self.replica.agents[agent_id].to_json() == self.model.agents[agent_id].to_json()


def test_call_model_invariants() -> None:
    run_state_machine_as_test(
        CallModelMachine, settings=settings(max_examples=150, stateful_step_count=30, deadline=None)
    )


def test_an_agents_client_events_session_hears_the_calls_that_reach_it() -> None:
    """A Client Events session (one agent's desktop) gets the events of a call another agent made
    to it, not only of calls delivered to it by the ACD."""
    h, sid, _, b = _two_agents()
    desk = h.connect()
    req = make(
        M.OPEN_REQ,
        [(Tag.CLIENT_ID, "desk"), (Tag.CLIENT_PASSWORD, b""), (Tag.AGENT_ID, b)],
        InvokeID=1, VersionNumber=24, IdleTimeout=20, PeripheralID=5000,
        ServicesRequested=Service.CLIENT_EVENTS, CallMsgMask=0xFFFFFFFF, AgentStateMask=0x3FFF,
    )  # fmt: skip
    h.send(desk, req)
    h.core.data_received(h.now, sid, encode(_make_call_req("2000", "2001")))
    outs = h.core.outputs()
    dec = FrameDecoder()
    for out in outs:
        if isinstance(out, Send) and out.sid == desk:
            dec.feed(out.data)
    seen = []
    while (frame := dec.next_frame()) is not None:
        seen.append(frame[0])
    assert M.BEGIN_CALL_EVENT in seen and M.CALL_DELIVERED_EVENT in seen
