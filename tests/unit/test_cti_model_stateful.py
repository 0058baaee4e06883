"""Stateful property tests of the Agent PG model (:class:`cti_stub.model.PeripheralModel`).

Hypothesis drives one model with every mutation the CTI core and the admin API use, with LOAD 0 and 1,
and checks after every step the invariants the model guarantees, and that the state it streams to the
idle PG side (change records and snapshots) rebuilds exactly the same agents and calls there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from cti_stub.model import (
    NON_VOICE_WORK,
    REQUESTABLE,
    Agent,
    AgentChange,
    CallChange,
    Change,
    ControlError,
    PeripheralModel,
)
from emu_base.directory import CHAT_AND_EMAIL, VOICE_MRD, generate
from ged188 import AgentState, ReasonCode

S = AgentState
RECORDS = generate(6, non_voice_mrds=CHAT_AND_EMAIL)  # the MRD rules need non-voice MRDs
AGENT_IDS = [r.id for r in RECORDS]
# Three extensions for six agents, so LOGIN collisions are frequent.
EXTENSIONS = ["2000", "2001", "2002"]
CONTROLLERS = [1, 2, 3]
NON_LOGIN_REQUESTS = sorted(REQUESTABLE - {S.LOGIN})
# Agent states that only calls drive: requesting them must be rejected.
NOT_REQUESTABLE = sorted(set(S) - REQUESTABLE)
RESTING_STATES = {S.LOGOUT, S.NOT_READY, S.AVAILABLE, S.WORK_NOT_READY, S.WORK_READY, S.RESERVED, S.TALKING}
LOGGED_IN_MRD_STATES = {S.NOT_READY, S.AVAILABLE, NON_VOICE_WORK}
BOGUS_CALL_ID = 0x7FFF_FFFF

# Half of the draws pick one of two agents, so interesting sequences on one agent come up often.
agent_ids = st.sampled_from(AGENT_IDS[:2]) | st.sampled_from(AGENT_IDS)
agent_ids_or_unknown = st.sampled_from(AGENT_IDS[:2]) | st.sampled_from([*AGENT_IDS, "9999"])
reasons = st.sampled_from([0, 7, 42, 255, ReasonCode.CONNECTION_FAILURE])
controllers = st.sampled_from(CONTROLLERS)
optional_controllers = st.none() | controllers

Key = tuple[str, int]  # (agent id, MRD)
Seen = tuple[AgentState, int, str]  # (state, reason, extension) as a change reports it


def full_state(agent: Agent) -> dict[str, Any]:
    """Everything about an agent, the local-only controller included."""
    return {**agent.to_json(), "controller": agent.controller}


def mrd_view(agent: Agent) -> dict[int, tuple[AgentState, int]]:
    """The agent's (state, reason) on every MRD, voice included."""
    view = {VOICE_MRD: (agent.state, agent.reason_code)}
    view.update({mrd: (state, 0) for mrd, state in agent.mrd_states.items()})
    return view


def stale_model(load: int) -> PeripheralModel:
    """A model that has lived its own life (a PG side that was active before): everyone logged in."""
    model = PeripheralModel(RECORDS, load=load)
    for i, agent_id in enumerate(AGENT_IDS):
        model.set_state(5.0, agent_id, S.LOGIN, extension=f"90{i}")
    model.cti_disconnected_all(5.5)  # LOAD 1 logs everyone out: they sign in again
    for i, agent_id in enumerate(AGENT_IDS):
        if not model.agents[agent_id].logged_in:
            model.set_state(5.6, agent_id, S.LOGIN, extension=f"90{i}")
        model.set_state(6.0, agent_id, S.NOT_READY, 77, controller=9)
    return model


class PeripheralModelMachine(RuleBasedStateMachine):
    LOAD: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.model = PeripheralModel(RECORDS, load=self.LOAD)
        # The idle side, fed only with what the core replicates: each change's agent/call record.
        self.replica = PeripheralModel(RECORDS, load=self.LOAD)
        self.now = 1000.0
        # LOAD 1 logs agents out during a call; they may log in again while that call lasts.
        self.relogged_during_call: set[str] = set()

    # -- helpers -------------------------------------------------------------------------------------
    def _everything(self) -> tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]], int]:
        agents = {a.id: full_state(a) for a in self.model.agents.values()}
        calls = {c.call_id: c.to_json() for c in self.model.calls.values()}
        return agents, calls, self.model.next_call_id

    def _attempt(self, op: Callable[[], list[Change]]) -> list[Change] | None:
        """Run one mutation; a rejected one (ControlError) must leave everything as it was."""
        self.now += 1.0
        before = self._everything()
        views = {a.id: mrd_view(a) for a in self.model.agents.values()}
        extensions = {a.id: a.extension for a in self.model.agents.values()}
        try:
            changes = op()
        except ControlError as exc:
            assert exc.failure is not None or exc.status is not None, exc
            assert self._everything() == before, f"rejected request changed state: {exc}"
            return None
        self._check_changes(changes, views, extensions)
        self._replicate(changes)
        return changes

    def _check_changes(
        self,
        changes: list[Change],
        views_before: dict[str, dict[int, tuple[AgentState, int]]],
        extensions_before: dict[str, str],
    ) -> None:
        """Each AgentChange carries the agent's state at the moment it changed, in order."""
        last: dict[Key, Seen] = {}
        extension = dict(extensions_before)  # the extension each agent has at that moment
        for change in changes:
            if not isinstance(change, AgentChange):
                continue
            agent = change.agent
            assert agent is self.model.agents[agent.id]
            assert change.mrd == VOICE_MRD or change.mrd in agent.mrd_states
            if change.mrd != VOICE_MRD or change.state not in (S.NOT_READY, S.LOGOUT):
                assert change.reason_code == 0, change
            if agent.logged_in:
                # No LOGOUT in the middle of an operation that leaves the agent logged in.
                assert change.state is not S.LOGOUT, change
            if change.mrd == VOICE_MRD and change.state is S.LOGIN:
                assert not extension[agent.id], change
                extension[agent.id] = agent.extension  # the one it logs in on
            assert change.extension == extension[agent.id], (change, extension[agent.id])
            if change.mrd == VOICE_MRD and change.state is S.LOGOUT:
                # The voice LOGOUT names the extension the agent was logged in on; what follows has none.
                extension[agent.id] = ""
            last[(agent.id, change.mrd)] = (change.state, change.reason_code, change.extension)
        for agent in self.model.agents.values():
            assert agent.extension == extension[agent.id], (agent, changes)
        # The last change reported for an agent on an MRD is where that agent is now.
        for (agent_id, mrd), (state, reason, _) in last.items():
            assert mrd_view(self.model.agents[agent_id])[mrd] == (state, reason), (agent_id, mrd, changes)
        # An agent whose state moved on some MRD reported that move.
        for agent in self.model.agents.values():
            for mrd, now_seen in mrd_view(agent).items():
                if views_before[agent.id][mrd] != now_seen:
                    assert (agent.id, mrd) in last, (agent.id, mrd, now_seen, changes)

    def _replicate(self, changes: list[Change]) -> None:
        """What CtiServerCore._apply streams to the idle side for these changes (after the operation)."""
        for change in changes:
            if isinstance(change, AgentChange):
                self.replica.apply_agent(json.loads(json.dumps(change.agent.to_json())))
            else:
                self.replica.apply_call(json.loads(json.dumps(change.call.to_json())))

    @staticmethod
    def _seen(changes: list[Change]) -> list[tuple[int, AgentState, int, str]]:
        return [(c.mrd, c.state, c.reason_code, c.extension) for c in changes if isinstance(c, AgentChange)]

    # -- rules ---------------------------------------------------------------------------------------
    @rule(
        agent_id=agent_ids_or_unknown,
        extension=st.sampled_from(["", *EXTENSIONS]),
        reason=reasons,
        controller=optional_controllers,
        password=st.sampled_from(["none", "right", "wrong"]),
    )
    def login(
        self, agent_id: str, extension: str, reason: int, controller: int | None, password: str
    ) -> None:
        agent = self.model.agents.get(agent_id)
        was_logged_in = agent is not None and agent.logged_in
        had_calls = agent is not None and bool(agent.call_ids)
        before = mrd_view(agent) if agent is not None else {}
        pending_before = (agent.pending, agent.pending_by_agent) if agent is not None else (None, False)
        secret = {"none": None, "right": f"pass{agent_id}".encode(), "wrong": b"nope"}[password]
        changes = self._attempt(
            lambda: self.model.set_state(
                self.now,
                agent_id,
                S.LOGIN,
                reason,
                extension=extension,
                password=secret,
                controller=controller,
            )
        )
        if changes is None:
            return
        assert agent is not None and password != "wrong" and extension
        assert agent.extension == extension
        if controller is not None:
            assert agent.controller == controller
        if was_logged_in:
            # Re-login on the same extension: the current state, reported again, and nothing else.
            state, reason_now = before[VOICE_MRD]
            assert self._seen(changes) == [(VOICE_MRD, state, reason_now, extension)]
            # "The pending state change is lost during the failover, as the agent will be logged
            # out, and logged in again"; the PG's own Connection Failure after the call is kept.
            expected_pending = None if pending_before[1] else pending_before[0]
            assert agent.pending == expected_pending
            return
        expected = [(VOICE_MRD, S.LOGIN, 0, extension), (VOICE_MRD, S.NOT_READY, reason, extension)]
        expected += [(mrd, S.NOT_READY, 0, extension) for mrd in CHAT_AND_EMAIL]
        assert self._seen(changes) == expected
        if had_calls:
            self.relogged_during_call.add(agent_id)

    @rule(
        agent_id=agent_ids,
        extension=st.sampled_from(EXTENSIONS),
        controller=controllers,
        call=st.sampled_from(["no call", "call", "call and request", "call and session lost"]),
        request=st.sampled_from(NON_LOGIN_REQUESTS),
        reason=reasons,
    )
    def login_available(
        self, agent_id: str, extension: str, controller: int, call: str, request: AgentState, reason: int
    ) -> None:
        """A shortcut to the states calls need (finding them one step at a time takes many examples)."""
        self.login(agent_id, extension, 0, controller, "right")
        self.set_state(agent_id, S.AVAILABLE, 0, controller)
        if call != "no call":
            self.offer_call(agent_id)
        if call == "call and request":
            self.set_state(agent_id, request, reason, controller)
        if call == "call and session lost":
            self._client_lost(controller)

    @rule(
        agent_id=agent_ids_or_unknown,
        state=st.sampled_from(NON_LOGIN_REQUESTS) | st.sampled_from(NOT_REQUESTABLE),
        reason=reasons,
        controller=optional_controllers,
    )
    def set_state(self, agent_id: str, state: AgentState, reason: int, controller: int | None) -> None:
        agent = self.model.agents.get(agent_id)
        had_calls = agent is not None and bool(agent.call_ids)
        extension = agent.extension if agent is not None else ""
        failure_next = agent is not None and agent.connection_failure_next
        changes = self._attempt(
            lambda: self.model.set_state(self.now, agent_id, state, reason, controller=controller)
        )
        if changes is None:
            return
        assert agent is not None and state in REQUESTABLE
        if state is S.LOGOUT and reason == ReasonCode.FINESSE_FORCED_LOGOUT:
            # Finesse's forced logout: what the PG does is LOAD's (Not Ready or Logout, 50002);
            # LOAD 1 logs a Talking agent out at once, "even though the call is still active".
            state = S.NOT_READY if self.model.load == 0 else S.LOGOUT
            reason = ReasonCode.CONNECTION_FAILURE
            had_calls = had_calls and self.model.load == 0
        if had_calls:
            # Remembered, applied when the call ends; the current state is reported again.
            assert agent.pending == (state, reason)
            assert self._seen(changes) == [(VOICE_MRD, agent.state, agent.reason_code, extension)]
        elif state is S.LOGOUT:
            expected = [(VOICE_MRD, S.LOGOUT, reason, extension)]
            expected += [(mrd, S.LOGOUT, 0, "") for mrd in CHAT_AND_EMAIL]
            assert self._seen(changes) == expected
        else:
            shown = reason if state is S.NOT_READY else 0
            if state is S.NOT_READY and failure_next:  # Ready before the CTI failover
                shown = ReasonCode.CONNECTION_FAILURE
            assert self._seen(changes) == [(VOICE_MRD, state, shown, extension)]

    @rule(agent_id=agent_ids_or_unknown)
    def offer_call(self, agent_id: str) -> None:
        next_id = self.model.next_call_id
        changes = self._attempt(lambda: self.model.offer_call(self.now, agent_id, "5551234", "8000")[1])
        if changes is None:
            return
        agent = self.model.agents[agent_id]
        assert agent.call_ids == [next_id]
        assert [c.step for c in changes if isinstance(c, CallChange)] == ["begin", "delivered"]
        assert self._seen(changes) == [(VOICE_MRD, S.RESERVED, 0, agent.extension)]
        assert self.model.calls[next_id].device == agent.extension

    def _call_id(self, data: st.DataObject) -> int:
        """Mostly a call in progress, sometimes one that does not exist (any more)."""
        calls = sorted(self.model.calls)
        choice = st.sampled_from(calls) | st.sampled_from(calls) | st.just(BOGUS_CALL_ID)
        return data.draw(choice if calls else st.just(BOGUS_CALL_ID), label="call_id")

    @rule(data=st.data())
    def answer_call(self, data: st.DataObject) -> None:
        call_id = self._call_id(data)
        changes = self._attempt(lambda: self.model.answer_call(self.now, call_id))
        if changes is None:
            return
        call = self.model.calls[call_id]
        assert call.phase == "talking"
        agent = self.model.agents[call.agent_id]
        expected = [(VOICE_MRD, S.TALKING, 0, agent.extension)] if agent.logged_in else []
        assert self._seen(changes) == expected

    @rule(data=st.data())
    def end_call(self, data: st.DataObject) -> None:
        call_id = self._call_id(data)
        call = self.model.calls.get(call_id)
        agent = self.model.agents[call.agent_id] if call is not None else None
        pending = agent.pending if agent is not None else None
        failure_next = agent is not None and agent.connection_failure_next
        was_logged_in = agent is not None and agent.logged_in
        changes = self._attempt(lambda: self.model.end_call(self.now, call_id))
        if changes is None:
            return
        assert call is not None and agent is not None and call_id not in self.model.calls
        steps = [c.step for c in changes if isinstance(c, CallChange)]
        assert steps == ["connection_cleared", "connection_cleared", "cleared", "end"]  # agent, caller
        assert call_id not in agent.call_ids and agent.pending is None
        if was_logged_in:
            # The state asked for during the call, else back to AVAILABLE (calls go to AVAILABLE agents).
            state, reason = pending or (S.AVAILABLE, 0)
            if state is S.NOT_READY and failure_next:
                reason = ReasonCode.CONNECTION_FAILURE
            assert agent.state is state
            assert agent.reason_code == (reason if state in (S.NOT_READY, S.LOGOUT) else 0)
        else:
            assert agent.state is S.LOGOUT
        if not agent.call_ids:
            self.relogged_during_call.discard(agent.id)

    @rule(data=st.data(), value=st.text(max_size=5))
    def update_call_data(self, data: st.DataObject, value: str) -> None:
        call_id = self._call_id(data)
        self._attempt(lambda: self.model.update_call_data(call_id, {"callVariable1": value}))

    @rule(data=st.data())
    def client_lost(self, data: st.DataObject) -> None:
        # Mostly a session that controls someone: LOAD only does something for those.
        current = sorted({a.controller for a in self.model.agents.values() if a.controller is not None})
        self._client_lost(data.draw((st.sampled_from(current) | controllers) if current else controllers))

    def _client_lost(self, controller: int) -> None:
        controlled = [a.id for a in self.model.agents.values() if a.controller == controller and a.logged_in]
        others = {a.id: full_state(a) for a in self.model.agents.values() if a.id not in controlled}
        self._connection_lost(controlled, lambda: self.model.client_lost(self.now, controller))
        # Only the agents that session controlled are affected.
        assert {a: full_state(self.model.agents[a]) for a in others} == others

    def _connection_lost(self, agent_ids: list[str], lose: Callable[[], list[Change]]) -> None:
        before = {a: (self.model.agents[a].state, bool(self.model.agents[a].call_ids)) for a in agent_ids}
        changes = self._attempt(lose)
        assert changes is not None
        for agent_id, (state, talking) in before.items():
            agent = self.model.agents[agent_id]
            assert agent.controller is None
            if self.LOAD == 1:
                assert (agent.state, agent.reason_code) == (S.LOGOUT, ReasonCode.CONNECTION_FAILURE)
            elif talking:
                assert agent.pending == (S.NOT_READY, ReasonCode.CONNECTION_FAILURE)
                assert not agent.pending_by_agent
            elif state is S.AVAILABLE:
                # "If agent is in Ready State before Failover, agent moves to Not Ready — Connection
                # Failure upon his next state change to Not Ready."
                assert agent.state is S.AVAILABLE and agent.connection_failure_next
            else:
                assert (agent.state, agent.reason_code) == (S.NOT_READY, ReasonCode.CONNECTION_FAILURE)
            if agent.logged_in:
                assert set(agent.mrd_states.values()) == {NON_VOICE_WORK}

    @rule()
    def cti_disconnected_all(self) -> None:
        """A PG side switch: every logged-in agent lost its CTI connection."""
        logged_in = [a.id for a in self.model.agents.values() if a.logged_in]
        self._connection_lost(logged_in, lambda: self.model.cti_disconnected_all(self.now))

    @rule(agent_id=agent_ids)
    def restore_non_voice(self, agent_id: str) -> None:
        agent = self.model.agents[agent_id]
        self._attempt(lambda: self.model.restore_non_voice(agent))
        assert not agent.mrd_before_work

    @rule(agent_id=agent_ids_or_unknown, mrd=st.sampled_from([*CHAT_AND_EMAIL, VOICE_MRD, 4242]))
    def work_to_active(self, agent_id: str, mrd: int) -> None:
        changes = self._attempt(lambda: self.model.work_to_active(agent_id, mrd))
        if changes is None:
            return
        agent = self.model.agents[agent_id]
        assert agent.mrd_states[mrd] in (S.AVAILABLE, S.NOT_READY)
        assert self._seen(changes) == [(mrd, agent.mrd_states[mrd], 0, agent.extension)]

    # -- invariants ------------------------------------------------------------------------------------
    @invariant()
    def agent_invariants(self) -> None:
        extensions: list[str] = []
        for agent in self.model.agents.values():
            # LOGIN is reported on the way to NOT_READY, never a state an agent stays in.
            assert agent.state in RESTING_STATES, agent
            assert agent.reason_code == 0 or agent.state in (S.NOT_READY, S.LOGOUT), agent
            assert set(agent.mrd_states) == set(agent.record.non_voice_mrds)
            if not agent.logged_in:
                assert agent.extension == "" and agent.pending is None, agent
                assert not agent.connection_failure_next and not agent.pending_by_agent, agent
                assert set(agent.mrd_states.values()) == {S.LOGOUT}, agent
                assert not agent.mrd_before_work, agent
                continue
            extensions.append(agent.extension)
            assert agent.extension in EXTENSIONS, agent
            assert set(agent.mrd_states.values()) <= LOGGED_IN_MRD_STATES, agent
            # What a forced WORK remembers is only for MRDs still in WORK, and is never WORK or LOGOUT.
            for mrd, before in agent.mrd_before_work.items():
                assert agent.mrd_states[mrd] is NON_VOICE_WORK, agent
                assert before in (S.AVAILABLE, S.NOT_READY), agent
            assert agent.pending is not None or not agent.pending_by_agent, agent
            if agent.pending is not None:
                # Only a call defers a request; LOGIN is never deferred.
                assert agent.call_ids, agent
                assert agent.pending[0] in REQUESTABLE - {S.LOGIN}, agent
        assert len(extensions) == len(set(extensions)), extensions

    @invariant()
    def call_invariants(self) -> None:
        owners: dict[int, str] = {}
        for agent in self.model.agents.values():
            # Calls are only offered to AVAILABLE agents, and an agent with a call is never AVAILABLE.
            assert len(agent.call_ids) <= 1, agent
            for call_id in agent.call_ids:
                assert call_id in self.model.calls, (agent, call_id)
                assert call_id not in owners
                owners[call_id] = agent.id
            if not agent.call_ids:
                continue
            phase = self.model.calls[agent.call_ids[0]].phase
            expected = {"alerting": {S.RESERVED}, "talking": {S.TALKING}}[phase]
            if self.LOAD == 1:
                # LOAD 1 logs an agent out even during a call; the call carries on.
                expected = expected | {S.LOGOUT}
                if agent.id in self.relogged_during_call:
                    # ... and a new LOGIN (NOT_READY) does not know about that call.
                    expected = expected | {S.NOT_READY}
            assert agent.state in expected, (agent, phase)
        for call_id, call in self.model.calls.items():
            assert call.call_id == call_id
            assert call.phase in ("alerting", "talking"), call
            assert owners.get(call_id) == call.agent_id, (call, owners)
            assert call_id < self.model.next_call_id

    @invariant()
    def snapshot_restores_everything(self) -> None:
        """What the active side's snapshot rebuilds on the idle side, fresh or with a past of its own."""
        snap = json.loads(json.dumps(self.model.snapshot()))
        expected = {a.id: a.to_json() for a in self.model.agents.values()}
        calls = {c.call_id: c.to_json() for c in self.model.calls.values()}
        for other in (PeripheralModel(RECORDS, load=self.LOAD), stale_model(self.LOAD)):
            other.apply_snapshot(snap)
            assert {a.id: a.to_json() for a in other.agents.values()} == expected
            assert {c.call_id: c.to_json() for c in other.calls.values()} == calls
            assert other.next_call_id == self.model.next_call_id
            assert all(a.controller is None for a in other.agents.values())
        # Every agent's record on its own (what a change streams) also overrides a past of its own.
        other = stale_model(self.LOAD)
        for record in expected.values():
            other.apply_agent(json.loads(json.dumps(record)))
        assert {a.id: a.to_json() for a in other.agents.values()} == expected
        assert all(a.controller is None for a in other.agents.values())

    @invariant()
    def change_stream_replicates_everything(self) -> None:
        """The idle side fed with the change records since the start has the same agents and calls."""
        assert {a.id: a.to_json() for a in self.replica.agents.values()} == {
            a.id: a.to_json() for a in self.model.agents.values()
        }
        assert {c.call_id: c.to_json() for c in self.replica.calls.values()} == {
            c.call_id: c.to_json() for c in self.model.calls.values()
        }
        assert self.replica.next_call_id == self.model.next_call_id


class PeripheralModelLoad1Machine(PeripheralModelMachine):
    LOAD: ClassVar[int] = 1


MACHINE_SETTINGS = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_peripheral_model_load0() -> None:
    run_state_machine_as_test(PeripheralModelMachine, settings=MACHINE_SETTINGS)


def test_peripheral_model_load1() -> None:
    run_state_machine_as_test(PeripheralModelLoad1Machine, settings=MACHINE_SETTINGS)
