"""The CTI stub's consult, transfer and conference: the pure model, the GED-188 wire and the
invariants under any sequence (each party in at most one active connection; every connection
cleared when a call ends; after a transfer the transferring agent has no connection; the idle
side's replica, and a snapshot of it, rebuild the same calls)."""

from __future__ import annotations

import json

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule, run_state_machine_as_test

from cti_stub.model import Change, ControlError, PeripheralModel
from ged188 import NULL_ID, CallType, LocalConnectionState, Message, Tag, make
from tests.unit.test_cti_calls import (
    AGENTS,
    DEVICES,
    EXT,
    OUTSIDE,
    A,
    B,
    C,
    CallModelMachine,
    S,
    _two_agents,
    signed_in,
    states,
    steps,
)
from tests.unit.test_cti_core import M

LCS = LocalConnectionState


def _talking(model: PeripheralModel) -> int:
    """A caller's call answered by A (inbound, ACD_IN)."""
    model.set_state(2.0, A, S.AVAILABLE)
    call, _ = model.offer_call(3.0, A, ani=OUTSIDE, dnis="8000", variables={"callVariable1": "c1"})
    model.answer_call(4.0, call.call_id, EXT[A])
    return call.call_id


def _consulting(model: PeripheralModel, answered: bool = True) -> tuple[int, int]:
    held = _talking(model)
    consult, _ = model.consult_call(5.0, held, EXT[A], EXT[B])
    if answered:
        model.answer_call(6.0, consult.call_id, EXT[B])
    return held, consult.call_id


# -- the pure model --------------------------------------------------------------------------------
def test_consult_holds_the_call_then_calls_from_the_same_instrument() -> None:
    model = signed_in(A, B)
    held = _talking(model)
    consult, changes = model.consult_call(5.0, held, EXT[A], EXT[B])
    assert steps(changes) == [
        ("held", "2000", "HOLD"),
        ("agent", A, "HOLD"),
        ("begin", "2000", ""),
        ("service_initiated", "2000", "INITIATE"),
        ("agent", A, "TALKING"),
        ("originated", "2000", "INITIATE"),
        ("delivered", "2001", "ALERTING"),
        ("agent", B, "NOT_READY"),
    ]
    assert consult.role == "consult" and consult.consult_of == held
    assert consult.variables["callVariable1"] == "c1"  # the held call's context
    assert states(model, held) == {OUTSIDE: "CONNECT", "2000": "HOLD"}
    assert model.agents[A].call_ids == [held, consult.call_id]


def test_a_refused_consult_leaves_the_call_connected() -> None:
    model = signed_in(A, B)
    held = _talking(model)
    before = json.dumps(model.snapshot(), sort_keys=True)
    with pytest.raises(ControlError):
        model.consult_call(5.0, held, EXT[A], EXT[A])  # itself
    assert json.dumps(model.snapshot(), sort_keys=True) == before


def test_transfer_moves_the_consulted_party_into_the_held_call() -> None:
    model = signed_in(A, B)
    held, consult = _consulting(model)
    changes = model.transfer_call(7.0, held, consult, EXT[A])
    assert steps(changes)[:6] == [
        ("transferred", "2000", "NULL"),
        ("connection_cleared", "2000", "NULL"),
        ("connection_cleared", "2000", "NULL"),  # A's consult connection
        ("connection_cleared", "2001", "NULL"),  # B leaves the consult ...
        ("cleared", "2000", ""),
        ("end", "2000", ""),
    ]
    assert ("data", "2000", "") in steps(changes)
    assert consult not in model.calls
    call = model.calls[held]
    assert call.role == "transfer"
    assert {c.device: c.state.name for c in call.live} == {OUTSIDE: "CONNECT", "2001": "CONNECT"}
    assert model.agents[A].call_ids == [] and model.agents[A].state is S.AVAILABLE
    assert model.agents[B].call_ids == [held] and model.agents[B].state is S.TALKING


def test_transfer_before_the_consult_is_answered_leaves_it_alerting() -> None:
    model = signed_in(A, B)
    held, consult = _consulting(model, answered=False)
    model.transfer_call(7.0, held, consult, EXT[A])
    assert {c.device: c.state.name for c in model.calls[held].live} == {
        OUTSIDE: "CONNECT",
        "2001": "ALERTING",
    }
    model.answer_call(8.0, held, EXT[B])
    assert model.agents[B].state is S.TALKING


def test_single_step_transfer_is_a_consult_transferred_at_once() -> None:
    model = signed_in(A, B)
    held = _talking(model)
    changes = model.single_step_transfer(5.0, held, EXT[A], EXT[B])
    kinds = [k for k, _, _ in steps(changes)]
    assert kinds.index("held") < kinds.index("delivered") < kinds.index("transferred")
    assert {c.device: c.state.name for c in model.calls[held].live} == {
        OUTSIDE: "CONNECT",
        "2001": "ALERTING",
    }
    assert len(model.calls) == 1 and model.agents[A].call_ids == []


def test_conference_with_another_agent_connects_all_three() -> None:
    model = signed_in(A, B)
    held, consult = _consulting(model)
    changes = model.conference_call(7.0, held, consult, EXT[A])
    assert steps(changes)[0] == ("conferenced", "2000", "CONNECT")
    call = model.calls[held]
    assert call.role == "conference" and consult not in model.calls
    assert {c.device: c.state.name for c in call.live} == {
        OUTSIDE: "CONNECT",
        "2000": "CONNECT",
        "2001": "CONNECT",
    }
    assert model.agents[A].state is S.TALKING and model.agents[B].call_ids == [held]
    # One leaves, two remain; then the call ends when fewer than two are left.
    model.clear_connection(8.0, held, EXT[A])
    assert {c.device for c in call.live} == {OUTSIDE, "2001"}
    model.clear_connection(9.0, held, EXT[B])
    assert held not in model.calls


def test_conference_with_an_outside_device() -> None:
    model = signed_in(A)
    held = _talking(model)
    consult, _ = model.consult_call(5.0, held, EXT[A], "5550199", outside_answer_after=0.0)
    model.conference_call(6.0, held, consult.call_id, EXT[A])
    assert {c.device for c in model.calls[held].live} == {OUTSIDE, "5550199", "2000"}


def test_no_blind_conference() -> None:
    model = signed_in(A, B)
    held, consult = _consulting(model, answered=False)
    with pytest.raises(ControlError, match="blind"):
        model.conference_call(7.0, held, consult, EXT[A])


def test_merged_calls_survive_a_snapshot() -> None:
    model = signed_in(A, B, C)
    held, consult = _consulting(model)
    replica = signed_in(A, B, C)
    replica.apply_snapshot(json.loads(json.dumps(model.snapshot())))
    assert replica.calls[consult].consult_of == held and replica.calls[consult].role == "consult"
    assert states(replica, held) == states(model, held)
    # The idle side, once active, carries the conference on.
    replica.conference_call(7.0, held, consult, EXT[A])
    assert {c.device for c in replica.calls[held].live} == {OUTSIDE, "2000", "2001"}


def test_no_transfer_to_a_party_already_in_the_call() -> None:
    """B transferring A's call to A itself (found by the state machine): A would have two
    connections in one call; refused, and a refused single-step transfer changes nothing."""
    model = signed_in(A, B)
    call, _ = model.make_call(1.0, A, EXT[B])
    model.answer_call(2.0, call.call_id, EXT[B])
    before = json.dumps(model.snapshot(), sort_keys=True)
    with pytest.raises(ControlError, match="already in call"):
        model.single_step_transfer(3.0, call.call_id, EXT[B], EXT[A])
    assert json.dumps(model.snapshot(), sort_keys=True) == before
    # A holds its side, so its phone is free for B's consult (an engaged phone would be busy:
    # CALL_FAILED) and the consult rings A: transferring the one call to the other is refused.
    model.hold_call(3.5, call.call_id, EXT[A])
    consult, _ = model.consult_call(4.0, call.call_id, EXT[B], EXT[A])
    assert consult.connection(EXT[A]) is not None
    with pytest.raises(ControlError, match="already in call"):
        model.transfer_call(5.0, call.call_id, consult.call_id, EXT[B])


# -- the wire --------------------------------------------------------------------------------------
def _consult_req(call_id: int, device: str, dialed: str) -> Message:
    floating = [(Tag.ACTIVE_CONN_DEVID, device), (Tag.DIALED_NUMBER, dialed), (Tag.AGENT_INSTRUMENT, device)]
    return make(
        M.CONSULTATION_CALL_REQ, floating, InvokeID=40, PeripheralID=5000, ActiveConnectionCallID=call_id
    )


def _merge_req(mtype: int, held: int, active: int, device: str, dialed: str = "") -> Message:
    floating = [
        (Tag.ACTIVE_CONN_DEVID, device),
        (Tag.HELD_CONN_DEVID, device),
        (Tag.AGENT_INSTRUMENT, device),
    ]
    if dialed:
        floating.append((Tag.DIALED_NUMBER, dialed))
    return make(
        mtype,
        floating,
        InvokeID=41,
        PeripheralID=5000,
        HeldConnectionCallID=held,
        ActiveConnectionCallID=active,
    )


def test_consult_and_transfer_on_the_wire() -> None:
    h, sid, _a, _b = _two_agents()
    call, _ = h.model.make_call(h.now, _a, "5550100", None, 0.0)
    msgs = h.send(sid, _consult_req(call.call_id, "2000", "2001"))
    calls = [m for m in msgs if m.type != M.AGENT_STATE_EVENT]
    assert [m.type for m in calls][:3] == [M.CONSULTATION_CALL_CONF, M.CALL_HELD_EVENT, M.BEGIN_CALL_EVENT]
    conf = msgs[0]
    consult = conf["NewConnectionCallID"]
    assert conf.get_str(Tag.NEW_CONNECTION_DEVID) == "2000" and consult != call.call_id
    assert calls[2]["CallType"] == CallType.CONSULT
    h.send(sid, make(M.ANSWER_CALL_REQ, [(Tag.CONNECTION_DEVID, "2001")], InvokeID=42, PeripheralID=5000,
                     ConnectionCallID=consult))  # fmt: skip
    msgs = [m for m in h.send(sid, _merge_req(M.TRANSFER_CALL_REQ, call.call_id, consult, "2000"))
            if m.type != M.AGENT_STATE_EVENT]  # fmt: skip
    types = [m.type for m in msgs]
    assert types[:3] == [M.TRANSFER_CALL_CONF, M.CALL_TRANSFERRED_EVENT, M.CALL_CONNECTION_CLEARED_EVENT]
    assert msgs[0]["NumParties"] == 2
    ev = msgs[1]
    assert (ev["PrimaryCallID"], ev["SecondaryCallID"]) == (call.call_id, consult)
    assert ev.get_str(Tag.TRANSFERRING_DEVID) == "2000" and ev.get_str(Tag.TRANSFERRED_DEVID) == "2001"
    assert sorted(v for v in ev.get_all(Tag.PARTY_DEVID) if isinstance(v, str)) == ["2001", "5550100"]
    assert M.END_CALL_EVENT in types
    update = next(m for m in msgs if m.type == M.CALL_DATA_UPDATE_EVENT)
    assert update["CallType"] == CallType.TRANSFER_IN


def test_single_step_transfer_and_conference_on_the_wire() -> None:
    h, sid, a, _b = _two_agents()
    call, _ = h.model.make_call(h.now, a, "5550100", None, 0.0)
    msgs = h.send(sid, _merge_req(M.TRANSFER_CALL_REQ, call.call_id, NULL_ID, "2000", "2001"))
    assert msgs[0].type == M.TRANSFER_CALL_CONF and M.CALL_TRANSFERRED_EVENT in [m.type for m in msgs]
    assert h.model.agents[a].call_ids == []

    h2, sid2, a2, _ = _two_agents()
    call2, _ = h2.model.make_call(h2.now, a2, "5550100", None, 0.0)
    conf = h2.send(sid2, _consult_req(call2.call_id, "2000", "5550177"))[0]
    h2.model.answer_call(h2.now, conf["NewConnectionCallID"], "5550177")
    msgs = h2.send(
        sid2, _merge_req(M.CONFERENCE_CALL_REQ, call2.call_id, conf["NewConnectionCallID"], "2000")
    )
    assert [m.type for m in msgs][:2] == [M.CONFERENCE_CALL_CONF, M.CALL_CONFERENCED_EVENT]
    assert msgs[0]["NumParties"] == 3
    assert msgs[1].get_str(Tag.ADDED_PARTY_DEVID) == "5550177"


def test_refused_transfer_on_the_wire() -> None:
    h, sid, a, _ = _two_agents()
    call, _ = h.model.make_call(h.now, a, "5550100", None, 0.0)
    msgs = h.send(sid, _merge_req(M.TRANSFER_CALL_REQ, call.call_id, 0x7FFF, "2000"))
    assert [m.type for m in msgs] == [M.FAILURE_CONF]


# -- invariants, under any sequence ----------------------------------------------------------------
class MergeMachine(CallModelMachine):
    """The call model's machine with consults, transfers and conferences among its steps. Each
    step picks what can succeed when there is one (a connected agent to consult from, a device with
    a held and an active call to merge), else anything (refusals must change nothing)."""

    def _connected(self, data: st.DataObject) -> tuple[int, str]:
        """A call and an agent's device connected in it, or anything."""
        choices = [(k, c.device) for k, call in self.model.calls.items() for c in call.live
                   if c.state is LCS.CONNECT and c.agent_id is not None]  # fmt: skip
        if choices:
            return data.draw(st.sampled_from(choices))
        return self._call_id(data), data.draw(st.sampled_from(DEVICES))

    def _pair(self, data: st.DataObject, answered: bool = False) -> tuple[int, int, str]:
        """A held call and an active one at the same agent device (``answered``: every party of
        the active call connected), or anything."""
        pairs = [
            (h, a, c.device)
            for h, held in self.model.calls.items()
            for c in held.live
            if c.state is LCS.HOLD and c.agent_id is not None
            for a, active in self.model.calls.items()
            if a != h
            and (o := active.connection(c.device)) is not None
            and o.state in (LCS.CONNECT, LCS.INITIATE)
            and not (answered and any(x.state is not LCS.CONNECT for x in active.live))
        ]
        if pairs:
            return data.draw(st.sampled_from(pairs))
        return self._call_id(data), self._call_id(data), data.draw(st.sampled_from([EXT[a] for a in AGENTS]))

    @initialize(start=st.sampled_from(["idle", "consulting agent", "consulting outside", "ringing"]))
    def start(self, start: str) -> None:
        """Most runs start with A consulting about its customer call (merges need two calls)."""
        if start == "idle":
            return
        self._run(lambda: self.model.make_call(self.now, A, "5550210", None, 0.0))
        held = next(iter(self.model.calls))
        dialed, after = ("5550211", 0.0) if start == "consulting outside" else (EXT[B], None)
        self._run(lambda: self.model.consult_call(self.now, held, EXT[A], dialed, None, after))
        if start == "consulting agent":
            consult = max(self.model.calls)
            self._run(lambda: self.model.answer_call(self.now, consult, EXT[B]))

    @rule(agent=st.sampled_from(AGENTS), n=st.integers(0, 3))
    def customer_call(self, agent: str, n: int) -> None:
        """The agent calls one of several outside numbers, which answers at once."""
        self._run(lambda: self.model.make_call(self.now, agent, f"555020{n}", None, 0.0))

    @rule(data=st.data())
    def answer_ringing(self, data: st.DataObject) -> None:
        ringing = [(k, c.device) for k, call in self.model.calls.items() for c in call.live
                   if c.state is LCS.ALERTING and c.agent_id is not None]  # fmt: skip
        if ringing:
            call_id, device = data.draw(st.sampled_from(ringing))
            self._run(lambda: self.model.answer_call(self.now, call_id, device))

    @rule(
        data=st.data(),
        dialed=st.sampled_from([*DEVICES, "5550298", "5550299"]),
        after=st.sampled_from([0.0, 0.0, None]),
    )
    def consult(self, data: st.DataObject, dialed: str, after: float | None) -> None:
        call_id, device = self._connected(data)
        self._run(lambda: self.model.consult_call(self.now, call_id, device, dialed, None, after))

    def _answered_pairs(self) -> bool:
        return any(
            a.connection(c.device) is not None and all(x.state is LCS.CONNECT for x in a.live)
            for h in self.model.calls.values()
            for c in h.live
            if c.state is LCS.HOLD and c.agent_id is not None
            for a in self.model.calls.values()
            if a is not h
        )

    @precondition(lambda self: self._answered_pairs())  # (rare otherwise; refusals: the unit tests)
    @rule(data=st.data())
    def conference(self, data: st.DataObject) -> None:
        held, active, device = self._pair(data, answered=True)
        self._run(lambda: self.model.conference_call(self.now, held, active, device))

    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        held, active, device = self._pair(data)
        done: list[bool] = []

        def transfer() -> list[Change]:
            changes = self.model.transfer_call(self.now, held, active, device)
            done.append(True)
            return changes

        self._run(transfer)
        if done:  # the transferring device has no connection left in either call
            assert active not in self.model.calls
            call = self.model.calls.get(held)
            assert call is None or call.connection(device) is None

    @rule(data=st.data(), dialed=st.sampled_from(DEVICES))
    def single_step(self, data: st.DataObject, dialed: str) -> None:
        call_id, device = self._connected(data)
        self._run(lambda: self.model.single_step_transfer(self.now, call_id, device, dialed))


def test_merge_invariants() -> None:
    run_state_machine_as_test(
        MergeMachine, settings=settings(max_examples=120, stateful_step_count=30, deadline=None)
    )


# -- the layouts -----------------------------------------------------------------------------------
def test_layout_sizes_and_the_version_dependent_line_type() -> None:
    """Fixed parts as CCX's CTI pages count them (CONSULT_CALL_REQ 38 bytes: 3 UINTs, 13 USHORT /
    BOOL; TRANSFER / CONFERENCE_CALL_REQ 42); the merge events carry LineType from version 14."""
    from ged188.codec import fixed_layout

    def size(mtype: int, version: int = 24) -> int:
        return sum(4 if f.code in "Ii" else 2 for f in fixed_layout(mtype, version))

    assert size(M.CONSULTATION_CALL_REQ) == 4 * 3 + 2 * 13
    assert size(M.TRANSFER_CALL_REQ) == size(M.CONFERENCE_CALL_REQ) == 4 * 4 + 2 * 13
    assert size(M.CONSULTATION_CALL_CONF) == 4 + 4 + 2 * 3
    assert size(M.TRANSFER_CALL_CONF) == size(M.CONFERENCE_CALL_CONF) == 4 + 4 + 2 * 4
    for event in (M.CALL_TRANSFERRED_EVENT, M.CALL_CONFERENCED_EVENT):
        assert size(event, 13) + 2 == size(event, 14)
