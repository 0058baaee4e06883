"""Calls waiting in queue, the far end hanging up, and MAKE_CALLs that fail (issue 18).

On the pure model, one transition at a time, and on the server core (GED-188 bytes out): a caller
dialling the queue with nobody Ready waits (CALL_QUEUED_EVENT, LocalConnectionState QUEUED) and is
delivered in arrival order to the first agent that becomes Ready (CALL_DEQUEUED_EVENT, then the
offer); a queued caller who hangs up leaves the queue (CALL_CLEARED, CECX_ABAND_LOCAL_QUEUE); the
queue survives the peer-sync snapshot; a MAKE_CALL to a busy agent or a number the dial plan does not
know ends in CALL_FAILED_EVENT, which the Finesse model shows as a FAILED dialog.
"""

from __future__ import annotations

import json

import pytest

from cti_stub.model import QUEUE_DEVICE, ControlError, PeripheralModel
from finesse_emu.server.core.views import dialog_view
from ged188 import AgentState, EventCause, LocalConnectionState, Tag, decode_body, encode
from tests.unit.test_cti_calls import EXT, OUTSIDE, RECORDS, A, B, C, _control, _two_agents, signed_in, steps
from tests.unit.test_cti_core import M, open_req
from tests.unit.test_finesse_calls import parts, pipe

S = AgentState
LCS = LocalConnectionState


# -- the queue, on the pure model --------------------------------------------------------------------
def test_a_caller_waits_in_queue_while_nobody_is_ready() -> None:
    model = signed_in(A, B)  # both Not Ready
    call, changes = model.queue_call(5.0, "5550111", "8000")
    assert steps(changes) == [("begin", "8000", ""), ("queued", "8000", "QUEUED")]
    assert call.phase == "queued" and model.queued_calls() == [call]
    assert {c.device: c.state for c in call.connections} == {"5550111": LCS.CONNECT, "8000": LCS.QUEUED}
    assert model.agents[A].call_ids == [] and model.dispatch_queue() == []  # still nobody Ready
    # Without a DNIS the queue is the emulator's own queue device.
    other, _ = model.queue_call(6.0, "5550112")
    assert other.connection(QUEUE_DEVICE) is not None


def test_queued_calls_go_in_arrival_order_to_the_agents_as_they_become_ready() -> None:
    model = signed_in(A, B)
    first, _ = model.queue_call(5.0, "5550111", "8000", answer_after=2.0, talk_time=3.0)
    second, _ = model.queue_call(6.0, "5550112", "8000")
    model.set_state(10.0, B, S.AVAILABLE)
    changes = model.dispatch_queue()
    assert steps(changes) == [
        ("dequeued", "8000", "NULL"),
        ("delivered", EXT[B], "ALERTING"),
        ("agent", B, "RESERVED"),
    ]
    assert first.phase == "alerting" and first.agent_id == B and model.queued_calls() == [second]
    # answer_after / talk_time count from the delivery, not from the arrival.
    assert (first.answer_at, first.end_at) == (12.0, 15.0)
    model.set_state(11.0, A, S.AVAILABLE)
    model.dispatch_queue()
    assert second.agent_id == A and model.queued_calls() == []


def test_a_caller_dialling_the_queue_with_an_agent_ready_is_offered_at_once() -> None:
    model = signed_in(A, B)
    model.set_state(3.0, B, S.AVAILABLE)
    call, changes = model.queue_call(5.0, "5550111", "8000", answer_after=1.0)
    assert [s[0] for s in steps(changes)] == ["begin", "delivered", "agent"]
    assert call.agent_id == B and call.answer_at == 6.0


def test_a_queued_caller_who_hangs_up_leaves_the_queue_with_an_abandon_cause() -> None:
    model = signed_in(A)
    call, _ = model.queue_call(5.0, "5550111", "8000")
    changes = model.caller_hangup(7.0, call.call_id)
    assert steps(changes) == [
        ("connection_cleared", "5550111", "NULL"),
        ("cleared", "5550111", ""),
        ("end", "5550111", ""),
    ]
    cleared = changes[1]
    assert cleared.cause == EventCause.ABAND_LOCAL_QUEUE  # type: ignore[union-attr]
    assert model.queued_calls() == [] and model.calls == {}
    model.set_state(8.0, A, S.AVAILABLE)
    assert model.dispatch_queue() == []


def test_the_caller_hanging_up_clears_its_connection_then_the_call_not_the_agent_dropping() -> None:
    model = signed_in(A, ready=True)
    call, _ = model.offer_call(5.0, A, ani="5550111")
    ringing = model.caller_hangup(6.0, call.call_id)
    assert [s[0] for s in steps(ringing)] == ["connection_cleared", "cleared", "agent", "end"]
    assert steps(ringing)[0][1] == "5550111"
    assert ringing[1].cause == EventCause.ABAND_RING  # type: ignore[union-attr]
    assert model.agents[A].state is S.AVAILABLE
    talking, _ = model.offer_call(7.0, A, ani="5550112")
    model.answer_call(8.0, talking.call_id)
    changes = model.caller_hangup(9.0, talking.call_id)
    # Only the caller's CALL_CONNECTION_CLEARED, then CALL_CLEARED (a normal clearing: no cause).
    assert [s for s in steps(changes) if s[0] != "agent"] == [
        ("connection_cleared", "5550112", "NULL"),
        ("cleared", EXT[A], ""),  # ConnectionDeviceID: the call's agent
        ("end", EXT[A], ""),
    ]
    assert changes[1].cause is None  # type: ignore[union-attr]
    # An agent-to-agent call has no party that is no agent: nobody to hang up.
    model2 = signed_in(A, B)
    call2, _ = model2.make_call(10.0, A, EXT[B])
    with pytest.raises(ControlError, match="no party"):
        model2.caller_hangup(11.0, call2.call_id)


def test_the_queue_survives_the_peer_sync_snapshot() -> None:
    active = signed_in(A, B)
    first, _ = active.queue_call(5.0, "5550111", "8000", talk_time=4.0)
    second, _ = active.queue_call(6.0, "5550112", "8000")
    idle = PeripheralModel(RECORDS)
    idle.apply_snapshot(json.loads(json.dumps(active.snapshot())))
    assert [c.call_id for c in idle.queued_calls()] == [first.call_id, second.call_id]
    assert idle.calls[first.call_id].talk_time == 4.0
    # The side that takes over delivers them as its agents become Ready.
    idle.set_state(20.0, A, S.AVAILABLE)
    idle.dispatch_queue()
    assert idle.calls[first.call_id].agent_id == A and idle.calls[first.call_id].end_at == 24.0


# -- the queue, on the wire ---------------------------------------------------------------------------
def test_call_queued_and_dequeued_events_on_the_wire() -> None:
    h, sid, a, _ = _two_agents()
    call_id = h.core.inject_call(h.now, None, ani="5550111", dnis="8000")
    queued = h.received(sid)
    assert [m.type for m in queued] == [M.BEGIN_CALL_EVENT, M.CALL_QUEUED_EVENT]
    q = queued[1]
    assert (q["ConnectionCallID"], q["LocalConnectionState"], q["QueueDeviceType"], q["NumQueued"]) == (
        call_id,
        LCS.QUEUED,
        77,  # DEVID_QUEUE
        1,
    )
    assert (q.get(Tag.CONNECTION_DEVID), q.get(Tag.QUEUE_DEVID), q.get(Tag.CALLING_DEVID)) == (
        "8000",
        "8000",
        "5550111",
    )
    # The agent becomes Ready (its own request): the PG takes the call out of the queue and offers it.
    h.core.admin_set_state(h.now + 1, a, S.AVAILABLE, 0)
    types = [m.type for m in h.received(sid)]
    assert types == [M.AGENT_STATE_EVENT, M.CALL_DEQUEUED_EVENT, M.CALL_DELIVERED_EVENT, M.AGENT_STATE_EVENT]
    # A (re)connecting client learns a call still in queue as BEGIN_CALL + CALL_QUEUED.
    second = h.core.inject_call(h.now, None, ani="5550112", dnis="8000")
    h.received(sid)
    other = h.connect()
    replay = [m for m in h.send(other, open_req(24)) if m.fields.get("ConnectionCallID") == second]
    assert [(m.type, m.get(Tag.CONNECTION_DEVID)) for m in replay] == [
        (M.BEGIN_CALL_EVENT, "8000"),
        (M.CALL_QUEUED_EVENT, "8000"),
    ]


def test_a_queued_caller_hanging_up_on_the_wire() -> None:
    h, sid, _, _ = _two_agents()
    call_id = h.core.inject_call(h.now, None, ani="5550111", dnis="8000")
    h.received(sid)
    h.core.caller_hangup(h.now + 2, call_id)
    msgs = h.received(sid)
    assert [m.type for m in msgs] == [M.CALL_CONNECTION_CLEARED_EVENT, M.CALL_CLEARED_EVENT, M.END_CALL_EVENT]
    assert msgs[0].get(Tag.RELEASING_DEVID) == "5550111"
    assert msgs[1]["EventCause"] == EventCause.ABAND_LOCAL_QUEUE


def test_queue_event_layouts_round_trip() -> None:
    """CALL_QUEUED_EVENT (21), CALL_DEQUEUED_EVENT (86) and CALL_FAILED_EVENT (16): the fixed part
    sizes of the sources named in ged188.codec, and the floating fields back."""
    from ged188 import make

    cases = {
        M.CALL_QUEUED_EVENT: (40, [(Tag.CONNECTION_DEVID, "8000"), (Tag.QUEUE_DEVID, "8000")]),
        M.CALL_DEQUEUED_EVENT: (34, [(Tag.CONNECTION_DEVID, "8000")]),
        M.CALL_FAILED_EVENT: (24, [(Tag.CONNECTION_DEVID, "2000"), (Tag.FAILING_DEVID, "2999")]),
    }
    for mtype, (size, floating) in cases.items():
        msg = make(mtype, floating, ConnectionCallID=7, PeripheralID=5000)
        frame = encode(msg)
        body = frame[8:]
        assert len(body) == size + sum(4 + len(str(v)) + 1 for _, v in floating), M.name_of(mtype)
        back = decode_body(mtype, body)
        assert back["ConnectionCallID"] == 7 and [back.get(t) for t, _ in floating] == [
            v for _, v in floating
        ]


# -- failed MAKE_CALLs ---------------------------------------------------------------------------------
def test_make_call_to_a_busy_agent_fails_with_call_failed_busy() -> None:
    model = signed_in(A, B, C)
    model.make_call(5.0, B, EXT[C])  # C's phone rings: busy for anyone else
    call, changes = model.make_call(6.0, A, EXT[C])
    assert steps(changes)[-2:] == [("originated", EXT[A], "INITIATE"), ("failed", EXT[A], "FAIL")]
    assert changes[-1].cause == EventCause.BUSY  # type: ignore[union-attr]
    assert model.agents[A].state is S.TALKING  # off hook until the agent drops the failed call
    assert model.agents[C].call_ids != [call.call_id]
    dropped = model.clear_connection(7.0, call.call_id, EXT[A])
    assert ("cleared", EXT[A], "") in steps(dropped) and model.agents[A].state is S.AVAILABLE


def test_make_call_to_an_agent_nobody_is_logged_in_on_is_busy_and_an_unknown_number_is_not_obtainable() -> (
    None
):
    model = signed_in(A)  # B not logged in: its extension 2001 has no phone here
    _, to_b = model.make_call(5.0, A, "2001")
    assert to_b[-1].cause == EventCause.BUSY  # type: ignore[union-attr]
    model2 = signed_in(A)
    _, unknown = model2.make_call(5.0, A, "2999")  # not an extension, not an outside number
    assert unknown[-1].cause == EventCause.DEST_NOT_OBTAINABLE  # type: ignore[union-attr]
    model3 = signed_in(A, B)
    model3.make_call(5.0, B, OUTSIDE)
    _, busy_outside = model3.make_call(6.0, A, OUTSIDE)  # one far end, already in a call
    assert busy_outside[-1].cause == EventCause.BUSY  # type: ignore[union-attr]
    # The dial plan's outside numbers are configurable.
    model4 = PeripheralModel(RECORDS, outside_numbers=r"9[0-9]+")
    model4.set_state(1.0, A, S.LOGIN, extension="2000")
    _, not_outside = model4.make_call(5.0, A, OUTSIDE)
    assert not_outside[-1].cause == EventCause.DEST_NOT_OBTAINABLE  # type: ignore[union-attr]
    model4.clear_connection(6.0, next(iter(model4.calls)), "2000")
    _, outside = model4.make_call(7.0, A, "90123")
    assert steps(outside)[-1][0] == "delivered"  # rings at the far end


def test_call_failed_event_on_the_wire_and_the_drop_that_follows() -> None:
    h, sid, _, _ = _two_agents()
    from tests.unit.test_cti_calls import _make_call_req

    msgs = h.send(sid, _make_call_req("2000", "2999"))
    assert [m.type for m in msgs][:1] == [M.MAKE_CALL_CONF]
    failed = msgs[-1]
    assert failed.type == M.CALL_FAILED_EVENT
    assert (failed["LocalConnectionState"], failed["EventCause"], failed.get(Tag.FAILING_DEVID)) == (
        LCS.FAIL,
        EventCause.DEST_NOT_OBTAINABLE,
        "2999",
    )
    call_id = failed["ConnectionCallID"]
    msgs = h.send(sid, _control(M.CLEAR_CONNECTION_REQ, call_id, "2000"))
    assert M.CALL_CLEARED_EVENT in [m.type for m in msgs] and call_id not in h.model.calls


def test_finesse_shows_a_failed_make_call_as_a_failed_dialog() -> None:
    """Cisco's Dialog API: participant state FAILED (stateCause BUSY or BAD_DESTINATION, actions
    DROP), the dialog "has failed" (state FAILED)."""
    p = pipe()
    call_id = p.core.make_call(p.now, "1000", "2999")
    p.drain()
    view = dialog_view(p.finesse, str(call_id))
    assert view.state == "FAILED"
    assert parts(p, str(call_id))[0][:3] == ("2000", "FAILED", ("DROP",))
    assert view.participants[0].state_cause == "BAD_DESTINATION"
    busy = pipe()
    busy.core.admin_set_state(busy.now, "1001", AgentState.NOT_READY, 0)
    busy.core.make_call(busy.now, "1001", "2002")  # 2002: a deployment agent nobody is logged in on
    busy.drain()
    (dialog,) = [d for d in busy.finesse.dialogs.values() if d.agent_id == "1001"]
    assert dialog_view(busy.finesse, dialog.id).participants[0].state_cause == "BUSY"


def test_a_queued_call_goes_to_the_agent_whose_call_ends() -> None:
    """The end of a call makes its agent Ready (no wrap-up): the core hands it the queue's oldest."""
    h, sid, a, _ = _two_agents()
    h.core.admin_set_state(h.now, a, S.AVAILABLE, 0)
    first = h.core.inject_call(h.now, a, ani="5550111")
    h.core.answer_call(h.now + 1, first)
    waiting = h.core.inject_call(h.now + 2, None, ani="5550112", dnis="8000")
    h.received(sid)
    assert h.model.calls[waiting].phase == "queued"
    h.core.end_call(h.now + 3, first)
    types = [m.type for m in h.received(sid)]
    assert (
        types.index(M.END_CALL_EVENT)
        < types.index(M.CALL_DEQUEUED_EVENT)
        < types.index(M.CALL_DELIVERED_EVENT)
    )
    assert h.model.calls[waiting].agent_id == a and h.model.agents[a].state is S.RESERVED
