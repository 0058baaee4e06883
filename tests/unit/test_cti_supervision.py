"""The CTI stub's supervisor actions: silent monitor, barge-in, drop a participant, on the pure model
and on the server core (SUPERVISE_CALL_REQ bytes in, SUPERVISE_CALL_CONF and call events out), and a
Hypothesis state machine adding them to the call model's invariants: each party in at most one
active connection, and a silent monitor never among the monitored call's parties.

Directory: ``generate(27)``: 1000 supervises team 1 (1000-1024), 1025 team 2 (1025, 1026).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from cti_stub.model import ACTIVE_STATES, CallChange, ControlError, PeripheralModel
from emu_base.directory import generate
from ged188 import AgentState, CallType, LocalConnectionState, Message, SupervisoryAction, Tag, make
from tests.unit.test_cti_calls import CallModelMachine, steps
from tests.unit.test_cti_core import Harness, M

S = AgentState
LCS = LocalConnectionState
RECORDS = generate(27)
SUP, A, B, SUP2, OTHER = "1000", "1001", "1002", "1025", "1026"
EXT = {SUP: "2000", A: "2001", B: "2002", SUP2: "2025", OTHER: "2026"}
CALLER = "5550100"


def talking(*extra: str) -> tuple[PeripheralModel, int]:
    """The supervisor Not Ready, A on an answered inbound call; ``extra`` agents signed in."""
    model = PeripheralModel(RECORDS)
    for agent_id in (SUP, A, *extra):
        model.set_state(1.0, agent_id, S.LOGIN, extension=EXT[agent_id])
    model.set_state(1.0, A, S.AVAILABLE)
    call, _ = model.offer_call(2.0, A, CALLER, "8000")
    model.answer_call(3.0, call.call_id)
    return model, call.call_id


# -- silent monitor ----------------------------------------------------------------------------------
def test_silent_monitor_is_a_call_of_the_supervisor_the_agent_is_no_party_of() -> None:
    model, call_id = talking()
    monitor, changes = model.silent_monitor(5.0, SUP, EXT[A])
    assert steps(changes) == [
        ("begin", EXT[SUP], ""),
        ("service_initiated", EXT[SUP], "INITIATE"),
        ("originated", EXT[SUP], "INITIATE"),
        ("established", EXT[A], "CONNECT"),
        ("agent", SUP, "TALKING"),  # "the supervisor transitions to TALKING state"
    ]
    assert monitor.kind == "monitor" and monitor.monitored == call_id
    assert monitor.agent_ids == {SUP}  # the agent's device is watched, no connection of the agent's
    assert model.calls[call_id].agent_ids == {A}  # the agent's call does not show the supervisor
    assert model.agents[A].call_ids == [call_id] and model.agents[SUP].call_ids == [monitor.call_id]


@pytest.mark.parametrize(
    ("who", "target", "why"),
    [
        (A, EXT[SUP], "an agent is no supervisor"),
        (SUP2, EXT[A], "a supervisor of another team"),
        (SUP, EXT[B], "the agent is not talking"),
        (SUP, "5559999", "no agent there"),
    ],
)
def test_silent_monitor_refusals(who: str, target: str, why: str) -> None:
    model, _ = talking(B, SUP2)
    before = json.dumps(model.snapshot(), sort_keys=True)
    with pytest.raises(ControlError):
        model.silent_monitor(5.0, who, target)
    assert json.dumps(model.snapshot(), sort_keys=True) == before, why


def test_the_supervisor_must_be_not_ready() -> None:
    model, _ = talking()
    model.set_state(4.0, SUP, S.AVAILABLE)
    with pytest.raises(ControlError):
        model.silent_monitor(5.0, SUP, EXT[A])


def test_a_silent_monitor_cannot_be_monitored() -> None:
    model, _ = talking(SUP2)
    model.silent_monitor(5.0, SUP, EXT[A])
    with pytest.raises(ControlError):  # SUP's monitor call is no call a supervisor may monitor
        model.silent_monitor(6.0, SUP, EXT[SUP])


def test_the_monitor_ends_when_the_agent_drops_and_the_supervisor_is_not_ready_again() -> None:
    """ "If an agent drops from [...] the call that the supervisor is monitoring, the silent
    monitoring session ends"; no wrap-up for the supervisor's monitor call."""
    model, call_id = talking()
    model.set_state(4.0, SUP, S.NOT_READY, 7)
    monitor, _ = model.silent_monitor(5.0, SUP, EXT[A])
    changes = model.clear_connection(6.0, call_id, EXT[A])
    ended = [c.call.call_id for c in changes if isinstance(c, CallChange) and c.step == "end"]
    assert ended == [monitor.call_id, call_id]  # the monitor call's END_CALL_EVENT comes with it
    assert monitor.call_id not in model.calls and call_id not in model.calls
    assert (model.agents[SUP].state, model.agents[SUP].reason_code) == (S.NOT_READY, 7)


def test_the_monitor_ends_when_the_agent_transfers_the_call() -> None:
    """ "If an agent drops from or transfers the call that the supervisor is monitoring, the silent
    monitoring session ends": A consults B, B answers, A transfers; the caller and B go on."""
    model, call_id = talking(B)
    model.set_state(4.0, B, S.AVAILABLE)
    monitor, _ = model.silent_monitor(5.0, SUP, EXT[A])
    consult, _ = model.consult_call(6.0, call_id, EXT[A], EXT[B])
    model.answer_call(7.0, consult.call_id, EXT[B])
    changes = model.transfer_call(8.0, call_id, consult.call_id, EXT[A])
    ended = [c.call.call_id for c in changes if isinstance(c, CallChange) and c.step == "end"]
    assert monitor.call_id in ended and monitor.call_id not in model.calls
    assert model.agents[SUP].state is S.NOT_READY
    assert {c.device for c in model.calls[call_id].live} == {CALLER, EXT[B]}


def test_the_supervisor_ends_its_monitor_with_a_drop() -> None:
    model, call_id = talking()
    monitor, _ = model.silent_monitor(5.0, SUP, EXT[A])
    model.clear_connection(6.0, monitor.call_id, EXT[SUP])
    assert monitor.call_id not in model.calls and model.agents[SUP].state is S.NOT_READY
    assert model.calls[call_id].agent_ids == {A} and model.agents[A].state is S.TALKING


def test_the_agent_retrieves_its_held_call_while_monitored() -> None:
    """The watched connection at the agent's device is not the agent's: holding and retrieving its
    own call is not refused as a second active connection."""
    model, call_id = talking()
    model.silent_monitor(5.0, SUP, EXT[A])
    model.hold_call(6.0, call_id, EXT[A])
    model.retrieve_call(7.0, call_id, EXT[A])
    assert model.agents[A].state is S.TALKING


# -- barge-in and drop a participant ---------------------------------------------------------------
def test_barge_in_conferences_the_supervisor_into_the_agents_call() -> None:
    """ "If the original call is not a conference call, after the barge request succeeds, the call
    becomes a conference call and the agent is the conference controller": the monitor call merges
    into the agent's call as a conference's consult does (CALL_CONFERENCED, the monitor call's end,
    the CallType CONFERENCE in a CALL_DATA_UPDATE)."""
    model, call_id = talking()
    monitor, _ = model.silent_monitor(5.0, SUP, EXT[A])
    changes = model.barge_in(6.0, SUP, call_id, monitor.call_id)
    assert steps(changes)[:6] == [
        ("conferenced", EXT[A], "CONNECT"),
        ("connection_cleared", EXT[SUP], "NULL"),
        ("connection_cleared", EXT[A], "NULL"),
        ("cleared", EXT[SUP], ""),
        ("end", EXT[SUP], ""),
        ("data", EXT[A], ""),
    ]
    merged = changes[0]
    assert isinstance(merged, CallChange)
    assert (merged.secondary, merged.party) == (monitor.call_id, EXT[SUP])
    assert monitor.call_id not in model.calls
    call = model.calls[call_id]
    assert call.agent_ids == {A, SUP} and len(call.live) == 3
    assert (call.role, call.controller) == ("conference", EXT[A])
    assert model.agents[SUP].state is S.TALKING and model.agents[SUP].call_ids == [call_id]


def test_barge_in_refused_while_the_agent_consults() -> None:
    """Dialog—Make a Barge Call: 20999 "Barge via non-conference-controller or the agent already has
    an outstanding consult call"; refused, the model is as it was."""
    model, call_id = talking(B)
    monitor, _ = model.silent_monitor(5.0, SUP, EXT[A])
    model.consult_call(6.0, call_id, EXT[A], EXT[B])
    before = json.dumps(model.snapshot(), sort_keys=True)
    with pytest.raises(ControlError):
        model.barge_in(7.0, SUP, call_id, monitor.call_id)
    assert json.dumps(model.snapshot(), sort_keys=True) == before


def test_barge_in_on_a_conference_only_through_its_controller() -> None:
    """ "If the original call is a conference call and the agent is not the conference controller,
    the supervisor's barge request fails"; through the controller it succeeds."""
    model, call_id = talking(B)
    consult, _ = model.consult_call(5.0, call_id, EXT[A], EXT[B])
    model.answer_call(6.0, consult.call_id, EXT[B])
    model.conference_call(7.0, call_id, consult.call_id, EXT[A])
    monitor, _ = model.silent_monitor(8.0, SUP, EXT[B])  # B joined A's conference
    with pytest.raises(ControlError):
        model.barge_in(9.0, SUP, call_id, monitor.call_id)
    model.clear_connection(10.0, monitor.call_id, EXT[SUP])
    model.set_state(11.0, SUP, S.NOT_READY)
    monitor, _ = model.silent_monitor(12.0, SUP, EXT[A])
    model.barge_in(13.0, SUP, call_id, monitor.call_id)
    assert model.calls[call_id].agent_ids == {A, B, SUP}


def test_barge_in_only_on_the_call_one_monitors() -> None:
    model, call_id = talking(SUP2)
    monitor, _ = model.silent_monitor(5.0, SUP, EXT[A])
    with pytest.raises(ControlError):
        model.barge_in(6.0, SUP2, call_id, monitor.call_id)  # not SUP2's monitor call
    with pytest.raises(ControlError):
        model.barge_in(6.0, SUP, call_id, call_id)  # the agent's call monitors nothing


def test_the_supervisor_drops_the_agent_and_stays_with_the_caller() -> None:
    """Dialog—Drop Participant from Conference: "when the supervisor barges in to a call between an
    agent and a customer, the supervisor is the only one who can make a request to drop the agent
    from the call, leaving the supervisor on the call with the customer"."""
    model, call_id = talking()
    monitor, _ = model.silent_monitor(5.0, SUP, EXT[A])
    model.barge_in(6.0, SUP, call_id, monitor.call_id)
    changes = model.clear_connection(7.0, call_id, EXT[A])
    assert steps(changes)[0] == ("connection_cleared", EXT[A], "NULL")
    call = model.calls[call_id]
    assert {c.device for c in call.live} == {CALLER, EXT[SUP]} and model.agents[A].call_ids == []


# -- the server core: GED-188 in and out ------------------------------------------------------------
def supervise(action: SupervisoryAction, sup_ext: str, agent_ext: str, agent_call: int = 0xFFFFFFFF,
              sup_call: int = 0xFFFFFFFF) -> Message:  # fmt: skip
    floating: list[tuple[int, str | bytes | int]] = [
        (Tag.AGENT_CONNECTION_DEVID, agent_ext),
        (Tag.SUPERVISOR_INSTRUMENT, sup_ext),
    ]
    return make(
        M.SUPERVISE_CALL_REQ,
        floating,
        InvokeID=41,
        PeripheralID=5000,
        AgentConnectionCallID=agent_call,
        SupervisorConnectionCallID=sup_call,
        SupervisoryAction=action,
    )


def core_with_a_talking_agent() -> tuple[Harness, int, int]:
    h = Harness()
    h.model = PeripheralModel(RECORDS)
    h.core.model = h.model
    sid = h.opened()
    h.login(sid, SUP, EXT[SUP])
    h.login(sid, A, EXT[A])
    h.set_state(sid, A, S.AVAILABLE)
    call_id = h.core.inject_call(h.now, A, ani=CALLER, dnis="8000")
    h.core.answer_call(h.now, call_id)
    h.received(sid)
    return h, sid, call_id


def test_supervise_call_req_monitor_then_barge_in_on_the_wire() -> None:
    h, sid, call_id = core_with_a_talking_agent()
    msgs = h.send(sid, supervise(SupervisoryAction.MONITOR, EXT[SUP], EXT[A]))
    assert [m.type for m in msgs] == [
        M.SUPERVISE_CALL_CONF,
        M.BEGIN_CALL_EVENT,
        M.CALL_SERVICE_INITIATED_EVENT,
        M.CALL_ORIGINATED_EVENT,
        M.CALL_ESTABLISHED_EVENT,
        M.AGENT_STATE_EVENT,
    ]
    conf, begin = msgs[0], msgs[1]
    assert (conf["InvokeID"], conf["ConnectionCallID"], conf.get(Tag.CONNECTION_DEVID)) == (
        41,
        call_id,
        EXT[A],
    )
    monitor_id = begin["ConnectionCallID"]
    assert monitor_id != call_id and begin["CallType"] == CallType.SUPERVISOR_MONITOR
    assert (msgs[5].get(Tag.AGENT_ID), msgs[5]["AgentState"]) == (SUP, S.TALKING)

    msgs = h.send(sid, supervise(SupervisoryAction.BARGE_IN, EXT[SUP], EXT[A], call_id, monitor_id))
    assert [m.type for m in msgs][:7] == [
        M.SUPERVISE_CALL_CONF,
        M.CALL_CONFERENCED_EVENT,
        M.CALL_CONNECTION_CLEARED_EVENT,
        M.CALL_CONNECTION_CLEARED_EVENT,
        M.CALL_CLEARED_EVENT,
        M.END_CALL_EVENT,
        M.CALL_DATA_UPDATE_EVENT,
    ]
    conferenced, data = msgs[1], msgs[6]
    assert (conferenced["PrimaryCallID"], conferenced["SecondaryCallID"]) == (call_id, monitor_id)
    assert (conferenced.get(Tag.CONTROLLER_DEVID), conferenced.get(Tag.ADDED_PARTY_DEVID)) == (
        EXT[A],
        EXT[SUP],
    )
    assert (data["ConnectionCallID"], data["CallType"]) == (call_id, CallType.CONFERENCE)


def test_supervise_call_req_refusals_on_the_wire() -> None:
    h, sid, _ = core_with_a_talking_agent()
    (refused,) = h.send(sid, supervise(SupervisoryAction.MONITOR, EXT[A], EXT[SUP]))  # agent A monitors
    assert refused.type == M.CONTROL_FAILURE_CONF
    (refused,) = h.send(sid, supervise(SupervisoryAction.WHISPER, EXT[SUP], EXT[A]))  # not emulated
    assert refused.type == M.FAILURE_CONF


# -- invariants, under any sequence ----------------------------------------------------------------
class SupervisedCallMachine(CallModelMachine):
    """The call model's machine (agents 1000-1002, 1000 supervising their team) with the supervisor
    monitoring, barging in and going Not Ready. The device-level invariant becomes party-level: a
    monitor's watched connection is the supervisor's view of the agent, no party."""

    @rule(device=st.sampled_from(["2000", "2001", "2002"]))
    def silent_monitor(self, device: str) -> None:
        self._run(lambda: self.model.silent_monitor(self.now, "1000", device))

    @rule(agent=st.sampled_from(["1001", "1002"]))
    def monitored_call(self, agent: str) -> None:
        """The steps to a monitored call, each of which may be refused in the state reached so far."""
        self._run(lambda: self.model.set_state(self.now, agent, S.AVAILABLE))
        self._run(lambda: self.model.offer_call(self.now, agent, f"555{int(self.now)}", "8000"))
        calls = [c.call_id for c in self.model.calls.values() if c.kind == "inbound"]
        if calls:
            self._run(lambda: self.model.answer_call(self.now, calls[-1]))
        self._run(lambda: self.model.set_state(self.now, "1000", S.NOT_READY))
        self._run(lambda: self.model.silent_monitor(self.now, "1000", f"200{agent[-1]}"))

    @rule(data=st.data())
    def barge_in(self, data: st.DataObject) -> None:
        monitors = [c for c in self.model.calls.values() if c.kind == "monitor"]
        monitor = data.draw(st.sampled_from(monitors)) if monitors else None
        if monitor is not None and monitor.monitored is not None:
            self._run(lambda: self.model.barge_in(self.now, "1000", monitor.monitored or 0, monitor.call_id))

    @rule(data=st.data())
    def hang_up(self, data: st.DataObject) -> None:
        """A party of a call in progress leaves (the agent, its caller, the supervisor)."""
        parties = [(k, c.device) for k, call in sorted(self.model.calls.items()) for c in call.live]
        if parties:
            call_id, device = data.draw(st.sampled_from(parties))
            self._run(lambda: self.model.clear_connection(self.now, call_id, device))

    @rule(agent=st.sampled_from(["1000", "1001", "1002"]))
    def become_not_ready(self, agent: str) -> None:
        self._run(lambda: self.model.set_state(self.now, agent, S.NOT_READY))

    @invariant()
    def one_active_connection_per_party(self) -> None:
        active = [
            c.agent_id or c.device
            for call in self.model.calls.values()
            for c in call.live
            if c.state in ACTIVE_STATES and not self.model.watched(call, c)
        ]
        assert len(active) == len(set(active)), active

    @invariant()
    def a_silent_monitor_is_never_a_party_of_the_monitored_call(self) -> None:
        for monitor in self.model.calls.values():
            if monitor.kind != "monitor":
                continue
            watched = self.model.calls.get(monitor.monitored or -1)
            assert watched is not None and watched.ended is None, monitor
            assert not monitor.agent_ids & watched.agent_ids, (monitor, watched)
            assert monitor.connections[1].device in {c.device for c in watched.live}


def test_supervised_call_model_invariants() -> None:
    run_state_machine_as_test(
        SupervisedCallMachine, settings=settings(max_examples=150, stateful_step_count=30, deadline=None)
    )


def test_no_request_at_the_agents_device_acts_on_its_silent_monitor() -> None:
    """The monitor call's connection at the agent's device is the supervisor's view, no connection of
    the agent's: a conference or transfer of the agent's held call with the monitor call (which would
    put the supervisor in the agent's call, the agent active in two calls), a hold or drop there, or
    a "caller" hang-up of the monitor call, are refused and change nothing (found by
    test_cti_call_control.py's machine)."""
    model, call_id = talking(B)
    consult, _ = model.consult_call(5.0, call_id, EXT[A], EXT[B])  # A held, its consult ringing B
    monitor, _ = model.silent_monitor(6.0, SUP, EXT[A])
    assert monitor.monitored == consult.call_id
    before = json.dumps(model.snapshot(), sort_keys=True)
    refusals: list[Callable[[], object]] = [
        lambda: model.conference_call(7.0, call_id, monitor.call_id, EXT[A]),
        lambda: model.transfer_call(7.0, call_id, monitor.call_id, EXT[A]),
        lambda: model.hold_call(7.0, monitor.call_id, EXT[A]),
        lambda: model.clear_connection(7.0, monitor.call_id, EXT[A]),
        lambda: model.caller_hangup(7.0, monitor.call_id),
    ]
    for refused in refusals:
        with pytest.raises(ControlError):
            refused()
        assert json.dumps(model.snapshot(), sort_keys=True) == before


@pytest.mark.parametrize("merge", ["transfer", "conference"])
def test_a_silent_monitor_follows_the_agent_transferred_to_or_conferenced_in(merge: str) -> None:
    """ "If an agent drops from or transfers the call that the supervisor is monitoring, the silent
    monitoring session ends": B, monitored on A's consult, is transferred the customer call (or
    conferenced into it), neither dropping nor transferring, so the monitor follows B into the
    surviving call, where the supervisor can barge in; A's own monitor ends with its transfer."""
    model, call_id = talking(B)
    consult, _ = model.consult_call(5.0, call_id, EXT[A], EXT[B])
    model.answer_call(6.0, consult.call_id, EXT[B])
    monitor, _ = model.silent_monitor(7.0, SUP, EXT[B])
    assert monitor.monitored == consult.call_id
    if merge == "transfer":
        model.transfer_call(8.0, call_id, consult.call_id, EXT[A])
    else:
        model.conference_call(8.0, call_id, consult.call_id, EXT[A])
    assert model.calls[monitor.call_id].monitored == call_id and model.agents[SUP].state is S.TALKING
    if merge == "transfer":  # (B does not control A's conference: no barge-in there)
        model.barge_in(9.0, SUP, call_id, monitor.call_id)
        assert model.calls[call_id].agent_ids == {B, SUP}


def test_a_silent_monitor_of_the_transferring_agent_ends() -> None:
    model, call_id = talking(B)
    consult, _ = model.consult_call(5.0, call_id, EXT[A], EXT[B])
    model.answer_call(6.0, consult.call_id, EXT[B])
    monitor, _ = model.silent_monitor(7.0, SUP, EXT[A])
    model.transfer_call(8.0, call_id, consult.call_id, EXT[A])
    assert monitor.call_id not in model.calls and model.agents[SUP].state is S.NOT_READY
