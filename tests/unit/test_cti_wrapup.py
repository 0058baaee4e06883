"""Wrap-up on the CTI stub (UCCE Agent Desk Settings): one test per transition, on the pure model and
the server core (bytes in, bytes out, explicit times), and the invariants as properties."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti_stub.core import CoreConfig, CtiServerCore, Output, Role, Send
from cti_stub.model import (
    WRAPUP_DATA,
    AgentChange,
    CallChange,
    Change,
    ControlError,
    DeskSettings,
    PeripheralModel,
)
from emu_base.directory import AgentRecord, generate
from ged188 import (
    AgentState,
    FrameDecoder,
    Message,
    MessageType,
    ReasonCode,
    Status,
    Tag,
    decode_body,
    encode,
    make,
    named_variable,
)
from tests.unit.test_cti_core import Harness, open_req

S = AgentState
M = MessageType
REQUIRED = DeskSettings("REQUIRED", "NOT_ALLOWED", 60.0)


def model(
    desk: DeskSettings = REQUIRED, agents: list[AgentRecord] | None = None, load: int = 0
) -> PeripheralModel:
    m = PeripheralModel(agents or generate(3), load=load, desk=desk)
    m.set_state(0.0, "1000", S.LOGIN, extension="2000", controller=1)
    m.set_state(0.0, "1000", S.AVAILABLE)
    return m


def talking(m: PeripheralModel, now: float = 1.0) -> int:
    call, _ = m.offer_call(now, "1000", ani="5551234", dnis="8000")
    m.answer_call(now, call.call_id)
    return call.call_id


def steps(changes: list[Change]) -> list[str]:
    return [c.step if isinstance(c, CallChange) else c.state.name for c in changes]


def test_not_allowed_is_the_default_and_ends_the_call_at_once() -> None:
    m = model(DeskSettings())
    call_id = talking(m)
    assert steps(m.end_call(2.0, call_id)) == [
        "connection_cleared",
        "connection_cleared",
        "cleared",
        "AVAILABLE",
        "end",
    ]
    assert call_id not in m.calls and m.next_wrapup_deadline() is None


def test_a_ready_agent_wraps_up_in_work_ready_and_the_call_waits_for_its_end() -> None:
    m = model()
    call_id = talking(m)
    changes = m.end_call(2.0, call_id)
    # Finesse: "If wrap-up is enabled, an agent enters WORK_READY state after a call is dropped."
    assert steps(changes) == ["connection_cleared", "connection_cleared", "cleared", "WORK_READY"]
    agent = m.agents["1000"]
    assert agent.wrapup_call == call_id and agent.call_ids == []
    assert m.next_wrapup_deadline() == 62.0
    # The call's data may still change during the wrap-up; answering or dropping it may not.
    assert steps(m.update_call_data(call_id, {WRAPUP_DATA: "Sales"})) == ["data"]
    with pytest.raises(ControlError):
        m.end_call(3.0, call_id)


def test_not_ready_chosen_during_the_call_wraps_up_in_work_then_keeps_its_reason() -> None:
    m = model()
    call_id = talking(m)
    m.set_state(1.5, "1000", S.NOT_READY, 7)  # pending
    assert steps(m.end_call(2.0, call_id))[-1] == "WORK_NOT_READY"
    assert m.wrapup_expired(61.9) == []
    changes = m.wrapup_expired(62.0)
    # "Agents automatically transition to NOT_READY after the wrap-up timer expires."
    assert steps(changes) == ["NOT_READY", "end"]
    assert m.agents["1000"].reason_code == 7 and m.agents["1000"].pending is None
    assert call_id not in m.calls and m.next_wrapup_deadline() is None


def test_the_timer_ends_work_ready_in_ready() -> None:
    m = model()
    call_id = talking(m)
    m.end_call(2.0, call_id)
    assert steps(m.wrapup_expired(62.0)) == ["AVAILABLE", "end"]


@pytest.mark.parametrize(("state", "expected"), [(S.AVAILABLE, "AVAILABLE"), (S.NOT_READY, "NOT_READY")])
def test_the_agent_ends_its_wrap_up(state: AgentState, expected: str) -> None:
    m = model()
    call_id = talking(m)
    m.end_call(2.0, call_id)
    # "To leave WORK_READY state, agents can set their state to READY [or] NOT_READY."
    assert steps(m.set_state(5.0, "1000", state, 3)) == [expected, "end"]
    assert m.agents["1000"].wrapup_call is None and m.wrapup_expired(100.0) == []


def test_logout_during_wrap_up_ends_it() -> None:
    m = model()
    m.end_call(2.0, talking(m))
    assert steps(m.set_state(5.0, "1000", S.LOGOUT, 1)) == ["LOGOUT", "end"]


def test_a_lost_cti_client_ends_the_wrap_up_in_not_ready_connection_failure() -> None:
    m = model()
    m.end_call(2.0, talking(m))
    changes = m.client_lost(3.0, 1)
    assert steps(changes)[-2:] == ["NOT_READY", "end"]
    assert m.agents["1000"].reason_code == ReasonCode.CONNECTION_FAILURE


def test_logout_pending_skips_the_wrap_up() -> None:
    m = model()
    call_id = talking(m)
    m.set_state(1.5, "1000", S.LOGOUT, 1)
    assert steps(m.end_call(2.0, call_id)) == [
        "connection_cleared",
        "connection_cleared",
        "cleared",
        "LOGOUT",
        "end",
    ]


def test_an_agent_file_overrides_the_desk_settings_with_scaled_time() -> None:
    agents = generate(2)
    agents[0] = dataclasses.replace(agents[0], extra={"wrap_up_on_incoming": "optional", "wrap_up_time": 100})
    m = PeripheralModel(agents, desk=DeskSettings(), time_scale=0.1)
    m.set_state(0.0, "1000", S.LOGIN, extension="2000")
    m.set_state(0.0, "1000", S.AVAILABLE)
    m.end_call(2.0, talking(m))
    assert m.agents["1000"].state is S.WORK_READY and m.next_wrapup_deadline() == pytest.approx(12.0)
    with pytest.raises(ValueError):
        DeskSettings("SOMETIMES")


def test_the_idle_side_keeps_the_wrapped_up_call_until_its_end() -> None:
    active = model()
    idle = PeripheralModel(generate(3), desk=REQUIRED)
    call_id = talking(active)
    idle.apply_snapshot(active.snapshot())
    for change in active.end_call(2.0, call_id):
        if isinstance(change, AgentChange):
            idle.apply_agent(change.agent.to_json())
        else:
            idle.apply_call(change.call.to_json(), change.step)
    assert call_id in idle.calls and idle.next_wrapup_deadline() == 62.0
    idle.apply_snapshot(active.snapshot())  # a late snapshot says the same
    assert call_id in idle.calls and idle.agents["1000"].wrapup_call == call_id
    # The idle side takes over: its timer ends the wrap-up.
    assert steps(idle.wrapup_expired(62.0)) == ["AVAILABLE", "end"]


# -- the server core: events on the wire, the timer, SET_CALL_DATA_REQ ----------------------------------
def wrapup_harness() -> Harness:
    h = Harness()
    h.model.desk = DeskSettings("REQUIRED", "NOT_ALLOWED", 5.0)  # within the sessions' IdleTimeout
    return h


def test_core_events_of_a_wrap_up_ended_by_its_timer() -> None:
    h = wrapup_harness()
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", S.AVAILABLE)
    call_id = h.core.inject_call(h.now, "1000", ani="5551234")
    h.core.answer_call(h.now, call_id)
    h.received(sid)
    h.core.end_call(h.now, call_id)
    msgs = h.received(sid)
    assert [m.type for m in msgs] == [
        M.CALL_CONNECTION_CLEARED_EVENT,  # the agent's connection, then the caller's
        M.CALL_CONNECTION_CLEARED_EVENT,
        M.CALL_CLEARED_EVENT,
        M.AGENT_STATE_EVENT,
    ]
    assert msgs[3]["AgentState"] == S.WORK_READY  # GED-188 AGENT_STATE_WORK_READY (6)
    assert h.model.next_wrapup_deadline() == h.now + 5.0
    h.core.handle_timer(h.now + 4.0)
    assert h.received(sid) == []
    h.core.handle_timer(h.now + 5.0)
    msgs = h.received(sid)
    assert [m.type for m in msgs] == [M.AGENT_STATE_EVENT, M.END_CALL_EVENT]
    assert msgs[0]["AgentState"] == S.AVAILABLE and msgs[1]["ConnectionCallID"] == call_id


def test_idle_side_runs_no_wrap_up_timer() -> None:
    m = model()
    m.end_call(2.0, talking(m))
    core = CtiServerCore(m, CoreConfig())
    core.become_idle(0.0, "test")
    assert core.next_deadline() is None
    assert core.role is Role.IDLE


def messages_to(outs: list[Output], sid: int) -> list[Message]:
    dec = FrameDecoder()
    for out in outs:
        if isinstance(out, Send) and out.sid == sid:
            dec.feed(out.data)
    msgs = []
    while (frame := dec.next_frame()) is not None:
        msgs.append(decode_body(frame[0], frame[1]))
    return msgs


def set_call_data(call_id: int, floating: list[tuple[int, str | bytes | int]], invoke: int = 9) -> bytes:
    msg = make(M.SET_CALL_DATA_REQ, floating, InvokeID=invoke, PeripheralID=5000, ConnectionCallID=call_id)
    return encode(msg)


def test_set_call_data_during_the_call_and_the_wrap_up_reaches_every_client() -> None:
    h = wrapup_harness()
    sid, other = h.opened(), h.opened()
    h.login(sid)
    h.set_state(sid, "1000", S.AVAILABLE)
    call_id = h.core.inject_call(h.now, "1000")
    h.core.answer_call(h.now, call_id)
    h.core.outputs()
    floating: list[tuple[int, str | bytes | int]] = [
        (Tag.CALL_VAR_1 + 2, "acct-9"),
        (Tag.NAMED_VARIABLE, named_variable("user.case", "C-1")),
    ]
    h.core.data_received(h.now, sid, set_call_data(call_id, floating))
    outs = h.core.outputs()
    mine, theirs = messages_to(outs, sid), messages_to(outs, other)
    assert [m.type for m in mine] == [M.SET_CALL_DATA_CONF, M.CALL_DATA_UPDATE_EVENT]
    assert [m.type for m in theirs] == [M.CALL_DATA_UPDATE_EVENT]
    assert theirs[0].get(Tag.CALL_VAR_3) == "acct-9"
    assert named_variable("user.case", "C-1") in theirs[0].get_all(Tag.NAMED_VARIABLE)
    h.core.end_call(h.now, call_id)
    h.core.outputs()
    # During the wrap-up: the wrap-up data.
    h.core.data_received(h.now, sid, set_call_data(call_id, [(Tag.CALL_WRAPUP_DATA, "Sales")]))
    msgs = h.received(sid)
    assert [m.type for m in msgs] == [M.SET_CALL_DATA_CONF, M.CALL_DATA_UPDATE_EVENT]
    assert msgs[1].get(Tag.CALL_WRAPUP_DATA) == "Sales"
    # Once the wrap-up is over, the call is gone.
    h.set_state(sid, "1000", S.AVAILABLE)
    h.core.data_received(h.now, sid, set_call_data(call_id, [(Tag.CALL_WRAPUP_DATA, "Late")], invoke=11))
    msgs = h.received(sid)
    assert [(m.type, m["Status"]) for m in msgs] == [(M.FAILURE_CONF, Status.E_CTI_INVALID_CALLID)]


# -- wrap-up after calls an agent made (the call model: a call's connections) -----------------------
def two_agents(desk: DeskSettings) -> PeripheralModel:
    m = model(desk)
    m.set_state(0.0, "1001", S.LOGIN, extension="2001", controller=1)
    m.set_state(0.0, "1001", S.AVAILABLE)
    return m


def internal_call(m: PeripheralModel, now: float = 1.0) -> int:
    """1000 calls 1001, who answers."""
    call, _ = m.make_call(now, "1000", "2001")
    m.answer_call(now, call.call_id, "2001")
    return call.call_id


def test_a_call_an_agent_made_is_outgoing_for_it_and_incoming_for_the_called_agent() -> None:
    """Work mode on outgoing calls applies to the caller, on incoming calls to the called agent."""
    m = two_agents(DeskSettings("NOT_ALLOWED", "REQUIRED", 60.0))
    call_id = internal_call(m)
    assert m.calls[call_id].made_by("1000") and not m.calls[call_id].made_by("1001")
    changes = m.clear_connection(2.0, call_id, "2000")
    assert [(c.agent.id, c.state.name) for c in changes if isinstance(c, AgentChange)] == [
        ("1000", "WORK_READY"),
        ("1001", "AVAILABLE"),
    ]
    assert "end" not in steps(changes)  # END_CALL_EVENT waits for the caller's wrap-up
    assert m.agents["1000"].wrapup_call == call_id and m.agents["1001"].wrapup_call is None
    assert steps(m.set_state(3.0, "1000", S.AVAILABLE)) == ["AVAILABLE", "end"]
    assert m.calls == {}
    # The other way round: the called agent wraps up (incoming), the caller does not (outgoing).
    m = two_agents(DeskSettings("REQUIRED", "NOT_ALLOWED", 60.0))
    call_id = internal_call(m)
    changes = m.clear_connection(2.0, call_id, "2001")
    assert [(c.agent.id, c.state.name) for c in changes if isinstance(c, AgentChange)] == [
        ("1001", "WORK_READY"),
        ("1000", "AVAILABLE"),
    ]


def test_an_injected_call_is_incoming_and_an_outside_call_outgoing() -> None:
    m = model(DeskSettings("NOT_ALLOWED", "REQUIRED", 60.0))
    assert steps(m.end_call(2.0, talking(m)))[-2:] == ["AVAILABLE", "end"]
    call, _ = m.make_call(3.0, "1000", "5550100", outside_answer_after=0.0)
    assert steps(m.end_call(4.0, call.call_id))[-1] == "WORK_READY"


def test_the_call_ends_once_every_agent_in_it_has_wrapped_up() -> None:
    m = two_agents(DeskSettings("REQUIRED", "REQUIRED", 60.0))
    call_id = internal_call(m)
    m.clear_connection(2.0, call_id, "2000")
    assert {a: m.agents[a].state for a in ("1000", "1001")} == {"1000": S.WORK_READY, "1001": S.WORK_READY}
    assert steps(m.set_state(3.0, "1000", S.AVAILABLE)) == ["AVAILABLE"]
    assert m.calls[call_id].phase == "ended"  # 1001 still wraps it up: its data stays settable
    m.update_call_data(call_id, {WRAPUP_DATA: "Sale"})
    assert steps(m.set_state(4.0, "1001", S.NOT_READY, 3)) == ["NOT_READY", "end"]
    assert m.calls == {}


def test_a_call_made_during_the_wrap_up_ends_it() -> None:
    """From WORK_READY the agent dials again: TALKING, the wrap-up is over (END_CALL of the old call)
    and its timer no longer fires."""
    m = model()
    old = talking(m)
    m.end_call(2.0, old)
    assert m.agents["1000"].state is S.WORK_READY
    call, changes = m.make_call(3.0, "1000", "5550100")
    assert [(type(c).__name__, steps([c])[0]) for c in changes][:4] == [
        ("CallChange", "begin"),
        ("CallChange", "service_initiated"),
        ("CallChange", "end"),
        ("AgentChange", "TALKING"),
    ]
    assert old not in m.calls and m.agents["1000"].wrapup_call is None
    assert m.next_wrapup_deadline() is None and m.wrapup_expired(1000.0) == []
    assert m.agents["1000"].state.name == "TALKING" and m.calls[call.call_id].phase == "alerting"


# -- invariants ------------------------------------------------------------------------------------
OP_NAMES = ("offer", "make", "answer", "hold", "end", "ready", "not_ready", "logout", "login", "lost")
OPS = st.lists(
    st.tuples(st.sampled_from([*OP_NAMES, "data", "tick"]), st.floats(min_value=0.0, max_value=30.0)),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(OPS, st.sampled_from(["REQUIRED", "REQUIRED_WITH_WRAP_UP_DATA", "OPTIONAL", "NOT_ALLOWED"]))
def test_wrap_up_invariants(ops: list[tuple[str, float]], mode: str) -> None:
    """An agent in wrap-up has no active call; every wrap-up ends, by the timer or the agent, and its
    call's end comes with it (no ended call is left behind). Agent 1000 takes calls and makes them
    (to an outside number that answers at once, even from WORK_READY)."""
    m = model(DeskSettings(mode, mode, 20.0))
    now = 1.0
    for op, dt in ops:
        now += dt
        agent = m.agents["1000"]
        try:
            if op == "offer":
                m.offer_call(now, "1000")
            elif op == "make":
                m.make_call(now, "1000", "5550100", outside_answer_after=0.0)
            elif op == "hold" and agent.call_ids:
                m.hold_call(now, agent.call_ids[0], "2000")
            elif op == "answer" and agent.call_ids:
                m.answer_call(now, agent.call_ids[0])
            elif op == "end" and agent.call_ids:
                m.end_call(now, agent.call_ids[0])
            elif op in ("ready", "not_ready", "logout"):
                state = {"ready": S.AVAILABLE, "not_ready": S.NOT_READY, "logout": S.LOGOUT}[op]
                m.set_state(now, "1000", state, 1)
            elif op == "login":
                m.set_state(now, "1000", S.LOGIN, extension="2000", controller=1)
            elif op == "lost":
                m.client_lost(now, 1)
            elif op == "data" and agent.wrapup_call is not None:
                m.update_call_data(agent.wrapup_call, {WRAPUP_DATA: "x"})
            elif op == "tick":
                m.wrapup_expired(now)
        except ControlError:
            pass
        if agent.wrapup_call is not None:
            assert not agent.call_ids and m.next_wrapup_deadline() is not None
            assert agent.state in (S.WORK_READY, S.WORK_NOT_READY)
            assert m.calls[agent.wrapup_call].phase == "ended"
        elif agent.logged_in:
            assert agent.state not in (S.WORK_READY, S.WORK_NOT_READY)
        if mode == "NOT_ALLOWED":
            assert agent.wrapup_call is None
    deadline = m.next_wrapup_deadline()
    if deadline is not None:
        assert deadline <= now + 20.0
        m.wrapup_expired(deadline)
    assert m.agents["1000"].wrapup_call is None and m.next_wrapup_deadline() is None
    assert all(c.phase != "ended" for c in m.calls.values())


# -- SEND_DTMF_SIGNAL_REQ --------------------------------------------------------------------------
def send_dtmf(call_id: int, digits: str, device: str = "2000", invoke: int = 21) -> bytes:
    floating: list[tuple[int, str | bytes | int]] = [
        (Tag.CONNECTION_DEVID, device),
        (Tag.DTMF_STRING, digits),
    ]
    msg = make(M.SEND_DTMF_SIGNAL_REQ, floating, InvokeID=invoke, PeripheralID=5000, ConnectionCallID=call_id)
    return encode(msg)


def test_send_dtmf_only_on_a_call_in_progress_at_the_device() -> None:
    h = wrapup_harness()
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", S.AVAILABLE)
    call_id = h.core.inject_call(h.now, "1000")
    h.core.outputs()

    def answer_to(data: bytes) -> list[tuple[int, int]]:
        h.core.data_received(h.now, sid, data)
        return [(m.type, m.fields.get("Status", 0)) for m in h.received(sid)]

    assert answer_to(send_dtmf(call_id, "123")) == [(M.FAILURE_CONF, Status.E_CTI_INVALID_CALLID)]  # alerting
    h.core.answer_call(h.now, call_id)
    h.core.outputs()
    assert answer_to(send_dtmf(call_id, "12#*AD")) == [(M.SEND_DTMF_SIGNAL_CONF, 0)]
    assert answer_to(send_dtmf(call_id, "12x")) == [(M.FAILURE_CONF, Status.E_CTI_INVALID_DIGITS)]
    assert answer_to(send_dtmf(call_id, "1", device="2001")) == [
        (M.FAILURE_CONF, Status.E_CTI_INVALID_CALLID)
    ]
    h.core.end_call(h.now, call_id)
    h.core.outputs()
    assert answer_to(send_dtmf(call_id, "1")) == [(M.FAILURE_CONF, Status.E_CTI_INVALID_CALLID)]  # wrap-up


def test_a_client_opening_during_a_wrap_up_learns_the_call_as_cleared() -> None:
    """OPEN_CONF announces calls in progress again; a call waiting for its agent's wrap-up is
    cleared (not offered again), so the client's dialog comes back DROPPED, not ALERTING."""
    h = wrapup_harness()
    sid = h.opened()
    h.login(sid)
    h.set_state(sid, "1000", S.AVAILABLE)
    call_id = h.core.inject_call(h.now, "1000")
    h.core.answer_call(h.now, call_id)
    h.core.end_call(h.now, call_id)
    h.core.outputs()
    late = h.connect()

    msgs = h.send(late, open_req())
    calls = [(m.type, m["ConnectionCallID"]) for m in msgs if "ConnectionCallID" in m.fields]
    assert calls == [(M.BEGIN_CALL_EVENT, call_id), (M.CALL_CLEARED_EVENT, call_id)]
    states = [m["AgentState"] for m in msgs if m.type == M.AGENT_STATE_EVENT and m["MRDID"] == 1]
    assert states == [S.WORK_READY]


def test_required_with_wrap_up_data_keeps_the_agent_in_wrap_up_until_it_has_data() -> None:
    m = model(DeskSettings("REQUIRED_WITH_WRAP_UP_DATA", "NOT_ALLOWED", 60.0))
    call_id = talking(m)
    m.end_call(2.0, call_id)
    with pytest.raises(ControlError) as refused:
        m.set_state(3.0, "1000", S.AVAILABLE)
    assert refused.value.failure is not None and m.agents["1000"].state is S.WORK_READY
    m.update_call_data(call_id, {WRAPUP_DATA: "Sale"})
    assert steps(m.set_state(4.0, "1000", S.AVAILABLE)) == ["AVAILABLE", "end"]


def test_required_with_wrap_up_data_still_ends_by_its_timer_or_a_logout() -> None:
    m = model(DeskSettings("REQUIRED_WITH_WRAP_UP_DATA", "NOT_ALLOWED", 60.0))
    m.end_call(2.0, talking(m))
    assert steps(m.wrapup_expired(62.0)) == ["AVAILABLE", "end"]
    m.end_call(70.0, talking(m, 65.0))
    assert steps(m.set_state(71.0, "1000", S.LOGOUT, 1)) == ["LOGOUT", "end"]
