"""The Agent PG's view of agents and calls: pure state, no sockets, no clock reads.

Every mutation returns the changes it made, in order, so the server core can turn them into
AGENT_STATE_EVENTs and call events, and the active side can stream them to the idle side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from emu_base.directory import VOICE_MRD, AgentRecord
from ged188 import AgentState, ArmError, ControlFailure, EventCause, LocalConnectionState, ReasonCode, Status

S = AgentState
LOGGED_IN_VOICE_STATES = {
    S.NOT_READY,
    S.AVAILABLE,
    S.TALKING,
    S.WORK_NOT_READY,
    S.WORK_READY,
    S.RESERVED,
    S.HOLD,
}
# States an agent may ask for with SET_AGENT_STATE_REQ (the rest are driven by calls).
FIRST_CALL_ID = 0x1000  # call ids count up from here: the calls started are next_call_id - FIRST_CALL_ID
REQUESTABLE = {S.LOGIN, S.LOGOUT, S.NOT_READY, S.AVAILABLE, S.WORK_NOT_READY, S.WORK_READY}
# Cisco: "the agent state is changed to WORK, on the respective non-voice Media Routing Domain".
NON_VOICE_WORK = S.WORK_NOT_READY

# UCCE Agent Desk Settings "Work mode on incoming" / "Work mode on outgoing", as Finesse names them in
# the User's settings (wrapUpOnIncoming, wrapUpOnOutgoing). Finesse: "If wrap-up is enabled, an agent
# enters WORK_READY state after a call is dropped", or WORK when "the agent chooses NOT_READY while on
# a call". NOT_ALLOWED is the only mode without wrap-up.
WRAP_UP_MODES = ("REQUIRED", "REQUIRED_WITH_WRAP_UP_DATA", "OPTIONAL", "NOT_ALLOWED")
# The tones of a DTMF string (the sixteen of the DTMF keypad).
DTMF_DIGITS = frozenset("0123456789*#ABCD")
# The call data key of the wrap-up data (GED-188 CallWrapupData; Finesse's wrapUpReason).
WRAPUP_DATA = "CallWrapupData"
# The dial plan of the emulated deployment (MAKE_CALL_REQ's DialedNumber): an agent's extension (its
# agent file's, or the one it logged in on) is internal; a number matching this pattern (``cti_stub
# --outside-numbers``) is an outside number, answered by the far end; anything else is a number the
# deployment does not know, and the call fails (CALL_FAILED_EVENT, CEC_DEST_NOT_OBTAINABLE).
OUTSIDE_NUMBERS = r"\+?[0-9]{5,20}"
# The queue a caller dials when the control plane names no agent (QueueDeviceID; the call's DNIS
# when it has one).
QUEUE_DEVICE = "queue"


@dataclass(frozen=True)
class DeskSettings:
    """The deployment's default desk settings (``--wrap-up-on-incoming`` ...); an agent file overrides
    them per agent (``wrap_up_on_incoming``, ``wrap_up_on_outgoing``, ``wrap_up_time`` in emulated
    seconds). ``wrap_up_time`` here is effective (scaled) seconds."""

    wrap_up_on_incoming: str = "NOT_ALLOWED"
    wrap_up_on_outgoing: str = "NOT_ALLOWED"
    wrap_up_time: float = 7200.0

    def __post_init__(self) -> None:
        for mode in (self.wrap_up_on_incoming, self.wrap_up_on_outgoing):
            if mode not in WRAP_UP_MODES:
                raise ValueError(f"wrap-up mode {mode!r}: one of {', '.join(WRAP_UP_MODES)}")
        if not self.wrap_up_time > 0:
            raise ValueError(f"wrap_up_time must be > 0, got {self.wrap_up_time!r}")

    def of(self, record: AgentRecord, time_scale: float) -> DeskSettings:
        """This agent's settings: its agent file's, else these."""
        extra = record.extra
        if not any(k in extra for k in ("wrap_up_on_incoming", "wrap_up_on_outgoing", "wrap_up_time")):
            return self
        return DeskSettings(
            str(extra.get("wrap_up_on_incoming", self.wrap_up_on_incoming)).upper(),
            str(extra.get("wrap_up_on_outgoing", self.wrap_up_on_outgoing)).upper(),
            float(extra["wrap_up_time"]) * time_scale if "wrap_up_time" in extra else self.wrap_up_time,
        )


class ControlError(Exception):
    """A request the PG rejects: answered with CONTROL_FAILURE_CONF (``failure``) or FAILURE_CONF."""

    def __init__(
        self,
        message: str,
        failure: ControlFailure | None = None,
        status: Status | None = None,
        peripheral_error: int = 0,
    ):
        super().__init__(message)
        self.failure = failure
        self.status = status
        self.peripheral_error = peripheral_error  # CONTROL_FAILURE_CONF PeripheralErrorCode (ArmError)


@dataclass
class Agent:
    record: AgentRecord
    state: AgentState = S.LOGOUT
    reason_code: int = 0
    extension: str = ""
    state_since: float = 0.0
    # A state asked for during a call: applied when the call ends (UCCE "pending" state).
    pending: tuple[AgentState, int] | None = None
    # Whether ``pending`` is the agent's own request (lost when the desktop signs in again) rather
    # than the PG's Not Ready - Connection Failure after a CTI disconnection (kept).
    pending_by_agent: bool = False
    # Ready when the CTI client was lost: the next change to Not Ready is Connection Failure.
    connection_failure_next: bool = False
    # Non-voice MRD states, and what they were before a CTI disconnection forced WORK.
    mrd_states: dict[int, AgentState] = field(default_factory=dict)
    mrd_before_work: dict[int, AgentState] = field(default_factory=dict)
    mrd_reasons: dict[int, int] = field(default_factory=dict)  # NOT_READY / LOGOUT reason per MRD
    mrd_routable: dict[int, bool] = field(default_factory=dict)  # AgentMode per MRD (RONA clears it)
    controller: int | None = None  # the CTI session that last controlled the agent
    call_ids: list[int] = field(default_factory=list)
    # Wrap-up: the call the agent wraps up (its END_CALL_EVENT waits) and when the timer ends it.
    wrapup_call: int | None = None
    wrapup_until: float | None = None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def logged_in(self) -> bool:
        return self.state is not S.LOGOUT

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.name,
            "reason_code": self.reason_code,
            "extension": self.extension,
            "state_since": self.state_since,
            "pending": [self.pending[0].name, self.pending[1]] if self.pending else None,
            "pending_by_agent": self.pending_by_agent,
            "connection_failure_next": self.connection_failure_next,
            "mrd_states": {str(k): v.name for k, v in self.mrd_states.items()},
            "mrd_before_work": {str(k): v.name for k, v in self.mrd_before_work.items()},
            "mrd_reasons": {str(k): v for k, v in self.mrd_reasons.items()},
            "mrd_routable": {str(k): v for k, v in self.mrd_routable.items()},
            "call_ids": list(self.call_ids),
            "wrapup_call": self.wrapup_call,
            "wrapup_until": self.wrapup_until,
        }

    def apply_json(self, data: dict[str, Any]) -> None:
        """Take over the state streamed from the active side (controller is local, so it is reset)."""
        self.state = AgentState[data["state"]]
        self.reason_code = int(data["reason_code"])
        self.extension = str(data["extension"])
        self.state_since = float(data["state_since"])
        pending = data.get("pending")
        self.pending = (AgentState[pending[0]], int(pending[1])) if pending else None
        self.pending_by_agent = bool(data.get("pending_by_agent", False))
        self.connection_failure_next = bool(data.get("connection_failure_next", False))
        self.mrd_states = {int(k): AgentState[v] for k, v in data["mrd_states"].items()}
        self.mrd_before_work = {int(k): AgentState[v] for k, v in data.get("mrd_before_work", {}).items()}
        self.mrd_reasons = {int(k): int(v) for k, v in data.get("mrd_reasons", {}).items()}
        self.mrd_routable = {int(k): bool(v) for k, v in data.get("mrd_routable", {}).items()}
        self.call_ids = [int(c) for c in data["call_ids"]]
        wrapup_call, until = data.get("wrapup_call"), data.get("wrapup_until")
        self.wrapup_call = None if wrapup_call is None else int(wrapup_call)
        self.wrapup_until = None if until is None else float(until)
        self.controller = None


CallPhase = Literal["queued", "alerting", "talking", "ended"]
# The connection states of GED-188's LocalConnectionState the call model uses.
LCS = LocalConnectionState
# A connection that takes part in the call ("each party in at most one active connection"). A failed
# one (a MAKE_CALL that met a busy or unknown number) keeps the phone off hook until the agent drops.
ACTIVE_STATES = frozenset({LCS.INITIATE, LCS.CONNECT, LCS.FAIL})
CallKind = Literal["inbound", "internal", "outbound", "monitor"]
# What a call became through call control (its GED-188 CallType from then on): a consultation call
# (CONSULT), the call of a conference (CONFERENCE), a call transferred to its new party (TRANSFER_IN).
CallRole = Literal["", "consult", "conference", "transfer"]


@dataclass
class Connection:
    """One party of a call: a device and its connection state.

    ``agent_id`` is None for a device that is no agent of the peripheral (a caller, an outside
    number); ``answer_at`` is when the emulator answers such a device by itself.
    """

    device: str
    agent_id: str | None
    state: LocalConnectionState
    since: float = 0.0
    answer_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "agent_id": self.agent_id,
            "state": self.state.name,
            "since": self.since,
            "answer_at": self.answer_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Connection:
        return cls(
            str(data["device"]),
            None if data["agent_id"] is None else str(data["agent_id"]),
            LocalConnectionState[data["state"]],
            float(data["since"]),
            None if data["answer_at"] is None else float(data["answer_at"]),
        )


@dataclass
class Call:
    """A call and its connections. ``ani`` is the calling number, ``dnis`` the called one."""

    call_id: int
    connections: list[Connection]
    ani: str
    dnis: str
    variables: dict[str, str]
    kind: CallKind = "inbound"
    started: float = 0.0
    answered: float | None = None
    ended: float | None = None
    # Wall-clock times at which the PG answers / ends an injected call by itself (None: by admin API).
    answer_at: float | None = None
    end_at: float | None = None
    # A supervisor's silent-monitor call (kind "monitor"): the call it monitors.
    monitored: int | None = None
    # A queued call's answer_after / talk_time (effective seconds): they start once it is delivered.
    answer_after: float | None = None
    talk_time: float | None = None
    role: CallRole = ""
    consult_of: int | None = None  # a consultation call: the call held for it
    # A conference's controller: the device whose CONFERENCE_CALL_REQ (or whose call a supervisor
    # barged in on) made the call a conference.
    controller: str = ""

    def connection(self, device: str) -> Connection | None:
        return next((c for c in self.connections if c.device == device and c.state is not LCS.NULL), None)

    @property
    def live(self) -> list[Connection]:
        return [c for c in self.connections if c.state is not LCS.NULL]

    @property
    def agent_ids(self) -> set[str]:
        return {c.agent_id for c in self.live if c.agent_id is not None}

    @property
    def primary(self) -> Connection:
        """The agent's connection the call is about: the one it was delivered to (inbound) or the
        originator's (made calls); the first connection when no agent is left."""
        agents = [c for c in self.connections if c.agent_id is not None]
        return agents[0] if agents else self.connections[0]

    @property
    def agent_id(self) -> str:
        return self.primary.agent_id or ""

    def made_by(self, agent_id: str) -> bool:
        """Whether the agent made the call (MAKE_CALL_REQ): its connection is the first, the
        originating one; an inbound call's first connection is the caller."""
        return self.kind != "inbound" and self.connections[0].agent_id == agent_id

    @property
    def device(self) -> str:
        return self.primary.device

    @property
    def phase(self) -> CallPhase:
        if self.ended is not None:
            return "ended"
        if any(c.state is LCS.QUEUED for c in self.connections):
            return "queued"
        if any(c.state is LCS.ALERTING for c in self.connections):
            return "alerting"
        return "talking"

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "connections": [c.to_json() for c in self.connections],
            "ani": self.ani,
            "dnis": self.dnis,
            "variables": dict(self.variables),
            "kind": self.kind,
            # Derived (not read back): the agent and device the call is about, as before connections.
            "agent_id": self.agent_id,
            "device": self.device,
            "phase": self.phase,
            "started": self.started,
            "answered": self.answered,
            "ended": self.ended,
            "answer_at": self.answer_at,
            "end_at": self.end_at,
            "monitored": self.monitored,
            "answer_after": self.answer_after,
            "talk_time": self.talk_time,
            "role": self.role,
            "consult_of": self.consult_of,
            "controller": self.controller,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Call:
        fields = {k: v for k, v in data.items() if k not in ("connections", "phase", "agent_id", "device")}
        return cls(connections=[Connection.from_json(c) for c in data["connections"]], **fields)


@dataclass(frozen=True)
class AgentChange:
    """An agent's state on one MRD at the moment it changed (the agent object moves on)."""

    agent: Agent
    mrd: int
    state: AgentState
    reason_code: int
    extension: str
    routable: bool = True  # AgentMode; the voice MRD is always routable here

    @classmethod
    def of(cls, agent: Agent, mrd: int = VOICE_MRD) -> AgentChange:
        if mrd == VOICE_MRD:
            return cls(agent, mrd, agent.state, agent.reason_code, agent.extension)
        return cls(
            agent,
            mrd,
            agent.mrd_states[mrd],
            agent.mrd_reasons.get(mrd, 0),
            agent.extension,
            agent.mrd_routable.get(mrd, False),
        )


CallStep = Literal[
    "begin",
    "service_initiated",
    "originated",
    "delivered",
    "established",
    "held",
    "retrieved",
    "data",
    "connection_cleared",
    "cleared",
    "end",
    "queued",
    "dequeued",
    "failed",
    "transferred",
    "conferenced",
]


@dataclass(frozen=True)
class CallChange:
    """One call event. ``device`` is the connection it is about (the call's primary device when
    empty) and ``state`` that connection's state at the time (the call object moves on)."""

    step: CallStep
    call: Call
    device: str = ""
    state: LocalConnectionState | None = None
    cause: int | None = None
    # transferred / conferenced: the call merged into this one, and the party it brought (the
    # transferred-to / added device); ``device`` is the transferring / controlling device.
    secondary: int | None = None
    party: str = ""

    @property
    def connection_device(self) -> str:
        return self.device or self.call.device


Change = AgentChange | CallChange


class PeripheralModel:
    """Agents and calls of one peripheral. ``load`` is the PIM's Logout On Agent Disconnect."""

    def __init__(
        self,
        agents: Iterable[AgentRecord],
        peripheral_id: int = 5000,
        load: int = 0,
        desk: DeskSettings | None = None,
        time_scale: float = 1.0,
        outside_numbers: str = OUTSIDE_NUMBERS,
    ) -> None:
        self.peripheral_id = peripheral_id
        self.outside_numbers = re.compile(outside_numbers)
        self.load = load
        self.desk = desk or DeskSettings()
        self.time_scale = time_scale
        self._wrapping: set[str] = set()  # agents in wrap-up (their timers)
        self.agents: dict[str, Agent] = {}
        for rec in agents:
            self.agents[rec.id] = Agent(rec, mrd_states={m: S.LOGOUT for m in rec.non_voice_mrds})
        self.calls: dict[int, Call] = {}
        self.next_call_id = FIRST_CALL_ID

    # -- lookups ---------------------------------------------------------------------------------
    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise ControlError(
                f"unknown agent {agent_id!r}", failure=ControlFailure.CF_INVALID_AGENT_ID_SPECIFIED
            )
        return agent

    def find(self, agent_id: str | None, extension: str | None, icm_agent_id: int | None) -> Agent | None:
        if agent_id:
            return self.agents.get(agent_id)
        for a in self.agents.values():
            if extension and a.extension == extension and a.logged_in:
                return a
            if (
                icm_agent_id is not None
                and icm_agent_id not in (0, -1)
                and a.record.icm_agent_id == icm_agent_id
            ):
                return a
        return None

    def logged_in_count(self) -> int:
        return sum(1 for a in self.agents.values() if a.logged_in)

    # -- agent state -----------------------------------------------------------------------------
    def _set(self, now: float, agent: Agent, state: AgentState, reason: int) -> AgentChange:
        if state is S.NOT_READY and agent.connection_failure_next:
            # Chapter "Finesse Failover Mechanisms": "If agent is in Ready State before Failover,
            # agent moves to Not Ready — Connection Failure upon his next state change to Not Ready."
            reason, agent.connection_failure_next = ReasonCode.CONNECTION_FAILURE, False
        agent.state = state
        agent.reason_code = reason if state in (S.NOT_READY, S.LOGOUT) else 0
        agent.state_since = now
        return AgentChange.of(agent)

    def _set_mrd(
        self, agent: Agent, mrd: int, state: AgentState, reason: int = 0, routable: bool | None = None
    ) -> AgentChange | None:
        reason = reason if state in (S.NOT_READY, S.LOGOUT) else 0
        # AgentMode is the agent's own setting: sign-in and READY set it (callers pass True), RONA
        # and the routable request change it, logging out clears it; a forced WORK keeps it.
        routable = (
            agent.mrd_routable.get(mrd, False) if routable is None else routable
        ) and state is not S.LOGOUT
        old = (agent.mrd_states.get(mrd), agent.mrd_reasons.get(mrd, 0), agent.mrd_routable.get(mrd, False))
        if old == (state, reason, routable):
            return None
        agent.mrd_states[mrd], agent.mrd_reasons[mrd], agent.mrd_routable[mrd] = state, reason, routable
        return AgentChange.of(agent, mrd)

    def set_state(
        self,
        now: float,
        agent_id: str,
        state: AgentState,
        reason: int = 0,
        *,
        extension: str | None = None,
        password: bytes | None = None,
        controller: int | None = None,
    ) -> list[Change]:
        """SET_AGENT_STATE_REQ semantics. Raises :class:`ControlError` for a request UCCE rejects."""
        agent = self.agent(agent_id)
        if state not in REQUESTABLE:
            raise ControlError(
                f"state {state.name} cannot be requested", failure=ControlFailure.CF_INVALID_AGENT_STATE
            )
        if password and password.rstrip(b"\0") != agent.record.password.encode():
            raise ControlError("wrong agent password", failure=ControlFailure.CF_INVALID_PASSWORD_SPECIFIED)
        changes: list[Change] = []
        if state is S.LOGIN:
            if not extension:
                raise ControlError("LOGIN needs an instrument", status=Status.E_CTI_REQUIRED_DATA_MISSING)
            if agent.logged_in:
                if agent.extension != extension:
                    raise ControlError(
                        f"agent is logged in on {agent.extension}", status=Status.E_CTI_DEVICE_IN_USE
                    )
                self._take_control(agent, controller)
                if agent.pending_by_agent:
                    # Chapter "Finesse Failover Mechanisms": "The pending state change is lost
                    # during the failover, as the agent will be logged out, and logged in again."
                    agent.pending, agent.pending_by_agent = None, False
                # Re-login on the same extension (desktop failover) reports the current state again.
                return [AgentChange.of(agent)]
            owner = self.find(None, extension, None)
            if owner is not None:
                raise ControlError(
                    f"extension {extension} in use by {owner.id}", status=Status.E_CTI_DEVICE_IN_USE
                )
            self._take_control(agent, controller)
            agent.extension = extension
            changes.append(self._set(now, agent, S.LOGIN, 0))
            changes.append(self._set(now, agent, S.NOT_READY, reason))
            for mrd in agent.mrd_states:
                change = self._set_mrd(agent, mrd, S.NOT_READY, routable=True)
                if change:
                    changes.append(change)
            return changes
        if not agent.logged_in:
            raise ControlError("agent is not logged in", status=Status.E_CTI_AGENT_NOT_LOGGED_ON)
        self._take_control(agent, controller)
        by_agent = True
        if state is S.LOGOUT and reason == ReasonCode.FINESSE_FORCED_LOGOUT:
            # "The actual behavior ... depends on the setting for LOAD": the agent's desktop is gone.
            # LOAD 0 puts the agent Not Ready, LOAD 1 logs it out; both show 50002 on the PG side.
            by_agent, reason = False, ReasonCode.CONNECTION_FAILURE
            if self.load == 0:
                state = S.NOT_READY
            elif agent.call_ids:
                # Chapter "Finesse Failover Mechanisms", LOAD parameter = 1: "When the agent's current
                # state is Talking, the Agent goes to Logged Out - System Failure immediately even
                # though the call is still active." (the call ends by itself later: end_call).
                return self._logout(now, agent, reason)
        if agent.call_ids:
            # During a call the request is remembered and applied when the call ends (LOAD 0, 255:
            # "the Agent goes into Not Ready - Connection Failure state after the call ends").
            agent.pending, agent.pending_by_agent = (state, reason), by_agent
            return [AgentChange.of(agent)]
        if agent.wrapup_call is not None and state not in (S.WORK_READY, S.WORK_NOT_READY):
            # "To leave WORK state, agents can set their state to READY [or] NOT_READY."
            if state is not S.LOGOUT and self._wrapup_data_missing(agent):
                raise ControlError(
                    "wrap-up data required before leaving wrap-up",
                    failure=ControlFailure.CF_INVALID_AGENT_STATE,
                )
            return self._end_wrapup(now, agent, state, reason)
        if state is S.LOGOUT:
            return self._logout(now, agent, reason)
        return [self._set(now, agent, state, reason)]

    @staticmethod
    def _take_control(agent: Agent, controller: int | None) -> None:
        """Only an accepted request makes its session the agent's controller (LOAD applies to it)."""
        if controller is not None:
            agent.controller = controller

    def _logout(self, now: float, agent: Agent, reason: int) -> list[Change]:
        changes: list[Change] = [self._set(now, agent, S.LOGOUT, reason)]
        agent.extension = ""
        agent.pending, agent.pending_by_agent, agent.connection_failure_next = None, False, False
        agent.mrd_before_work.clear()
        for mrd in agent.mrd_states:
            change = self._set_mrd(agent, mrd, S.LOGOUT)
            if change:
                changes.append(change)
        changes.extend(self._release_wrapup(agent))
        return changes

    def client_lost(self, now: float, controller: int) -> list[Change]:
        """A CTI client (Finesse) dropped without CLOSE_REQ: the agents it controlled lost their CTI."""
        changes: list[Change] = []
        for agent in self.agents.values():
            if agent.controller == controller and agent.logged_in:
                changes.extend(self._connection_lost(now, agent))
        return changes

    def _connection_lost(self, now: float, agent: Agent) -> list[Change]:
        """One agent's CTI client is gone (its Finesse's session dropped, or a PG side switch).

        Chapter "Finesse Failover Mechanisms": "If agent is in Not Ready State before Failover,
        agent moves to Not Ready — Connection Failure after CTI Disconnect or Reconnect. If agent is
        in Ready State before Failover, agent moves to Not Ready — Connection Failure upon his next
        state change to Not Ready." So LOAD=0: Not Ready and Wrap-Up agents go to Not Ready -
        Connection Failure (50002) now, Ready agents at their next Not Ready, Talking agents after
        the call ends (their own pending state is lost). LOAD=1: Logged Out - System Failure at once.
        Non-voice MRDs go to WORK (Cisco: "Prevent Non-Voice Task RONAs during CTI Reconnect").
        """
        agent.controller = None
        changes = self.force_non_voice_work(agent)
        if self.load == 1:
            changes.extend(self._logout(now, agent, ReasonCode.CONNECTION_FAILURE))
        elif agent.call_ids:
            agent.pending, agent.pending_by_agent = (S.NOT_READY, ReasonCode.CONNECTION_FAILURE), False
            changes.append(AgentChange.of(agent))  # reports the current state; replicates the pending
        elif agent.wrapup_call is not None:  # a Wrap-Up agent: its wrap-up ends here
            changes.extend(self._end_wrapup(now, agent, S.NOT_READY, ReasonCode.CONNECTION_FAILURE))
        elif agent.state is S.AVAILABLE:
            agent.connection_failure_next = True
            changes.append(AgentChange.of(agent))  # the same state; replicates the mark
        else:
            changes.append(self._set(now, agent, S.NOT_READY, ReasonCode.CONNECTION_FAILURE))
        return changes

    def force_non_voice_work(self, agent: Agent) -> list[Change]:
        changes: list[Change] = []
        for mrd, state in list(agent.mrd_states.items()):
            if state in (S.LOGOUT, NON_VOICE_WORK):
                continue
            agent.mrd_before_work[mrd] = state
            change = self._set_mrd(agent, mrd, NON_VOICE_WORK)
            if change:
                changes.append(change)
        return changes

    def cti_disconnected_all(self, now: float) -> list[Change]:
        """A PG side switch disconnects every CTI client: each logged-in agent lost its connection
        (:meth:`_connection_lost`: the chapter's "after CTI Disconnect or Reconnect")."""
        changes: list[Change] = []
        for agent in self.agents.values():
            if agent.logged_in:
                changes.extend(self._connection_lost(now, agent))
        return changes

    def restore_non_voice(self, agent: Agent) -> list[Change]:
        """Pre-12.5 UCCE: back to the state before the forced WORK once the CTI client reconnects."""
        changes: list[Change] = []
        for mrd, state in list(agent.mrd_before_work.items()):
            change = self._set_mrd(agent, mrd, state)
            if change:
                changes.append(change)
        agent.mrd_before_work.clear()
        return changes

    def _media_agent(self, agent_id: str, mrd: int) -> Agent:
        agent = self.agent(agent_id)
        if mrd not in agent.mrd_states:
            raise ControlError(
                f"agent {agent_id} has no skill group in MRD {mrd}",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
                peripheral_error=ArmError.E_ARM_STAT_INVALID_AGENT_STATE,
            )
        return agent

    def set_media_state(self, agent_id: str, mrd: int, state: AgentState, reason: int = 0) -> list[Change]:
        """Finesse's Media PUT ``state`` in one non-voice MRD (sign in, READY, NOT_READY, LOGOUT)."""
        agent = self._media_agent(agent_id, mrd)
        current = agent.mrd_states[mrd]
        if state is S.LOGIN:
            if current is not S.LOGOUT:
                raise ControlError(
                    "agent already logged into MRD",
                    failure=ControlFailure.CF_INVALID_AGENT_STATE,
                    peripheral_error=ArmError.E_ARM_STAT_AGENT_ALREADY_LOGGED_IN,
                )
            if not agent.logged_in:
                # Finesse signs an agent into its MRDs after the voice sign-in (one desktop session).
                raise ControlError("agent is not logged in", status=Status.E_CTI_AGENT_NOT_LOGGED_ON)
            state = S.NOT_READY
        elif current is S.LOGOUT:
            raise ControlError(
                "agent not logged into MRD",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
                peripheral_error=ArmError.E_ARM_STAT_AGENT_NOT_LOGGED_IN,
            )
        elif state not in (S.AVAILABLE, S.NOT_READY, S.LOGOUT):
            raise ControlError(
                f"state {state.name} cannot be requested in an MRD",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
                peripheral_error=ArmError.E_ARM_STAT_INVALID_AGENT_STATE,
            )
        agent.mrd_before_work.pop(mrd, None)  # an explicit state ends a forced WORK
        routable = True if state is S.AVAILABLE or current is S.LOGOUT else None
        change = self._set_mrd(agent, mrd, state, reason, routable)
        return [change] if change else [AgentChange.of(agent, mrd)]

    def set_media_routable(self, agent_id: str, mrd: int, routable: bool) -> list[Change]:
        agent = self._media_agent(agent_id, mrd)
        if agent.mrd_states[mrd] is S.LOGOUT:
            raise ControlError(
                "agent not logged into MRD",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
                peripheral_error=ArmError.E_ARM_STAT_AGENT_NOT_LOGGED_IN,
            )
        if agent.mrd_routable.get(mrd, False) is routable:
            raise ControlError(
                "agent already in the requested mode",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
                peripheral_error=ArmError.E_ARM_STAT_ALREADY_IN_REQUESTED_AGENT_MODE,
            )
        state = agent.mrd_states[mrd]
        change = self._set_mrd(agent, mrd, state, agent.mrd_reasons.get(mrd, 0), routable)
        return [change] if change else []

    def work_to_active(self, agent_id: str, mrd: int) -> list[Change]:
        """Media "Work to Active": allowed only in WORK; READY or NOT_READY is computed here."""
        agent = self._media_agent(agent_id, mrd)
        if agent.mrd_states[mrd] is not NON_VOICE_WORK:
            raise ControlError(
                "MRD is not in WORK",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
                peripheral_error=ArmError.E_ARM_STAT_INVALID_AGENT_STATE,
            )
        target = agent.mrd_before_work.pop(mrd, S.NOT_READY)
        if target not in (S.AVAILABLE, S.NOT_READY):
            target = S.NOT_READY
        change = self._set_mrd(agent, mrd, target)
        return [change] if change else []

    # -- calls -----------------------------------------------------------------------------------
    # A call has connections (a device and its LocalConnectionState). Every change to a connection
    # is one call event, and the agents whose connections changed get the state their connections
    # give them (TALKING while any is active, HOLD while all are held, the state after the call
    # once none is left). A call ends when fewer than two parties remain.
    def _new_call(self, now: float, connections: list[Connection], ani: str, dnis: str,
                  variables: dict[str, str] | None, kind: CallKind) -> Call:  # fmt: skip
        call_id, self.next_call_id = self.next_call_id, self.next_call_id + 1
        call = Call(call_id, connections, ani, dnis, dict(variables or {}), kind, started=now)
        self.calls[call_id] = call
        return call

    def _active_connection(self, device: str) -> tuple[Call, Connection] | None:
        """The device's active connection (INITIATE or CONNECT), if any: at most one per party."""
        for call in self.calls.values():
            conn = call.connection(device)
            if conn is not None and conn.state in ACTIVE_STATES and not self.watched(call, conn):
                return call, conn
        return None

    @staticmethod
    def watched(call: Call, conn: Connection) -> bool:
        """A silent monitor's connection at the monitored agent's device: the supervisor's view of
        the agent, no connection of the agent's own (see "supervisor actions")."""
        return call.kind == "monitor" and conn.agent_id is None

    def _refuse_if_active(self, device: str) -> None:
        """Answering or retrieving would give ``device`` a second active connection: refused."""
        busy = self._active_connection(device)
        if busy is not None:
            raise ControlError(
                f"{device} is already active in call {busy[0].call_id}",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
            )

    def _sync_agent(self, now: float, call: Call, agent_id: str | None) -> list[Change]:
        """The agent's state and task list from its connections (see above); ``call`` is the call
        whose connection changed."""
        agent = self.agents.get(agent_id) if agent_id else None
        if agent is None:
            return []
        states = [c.state for other in self.calls.values() if other.ended is None for c in other.live
                  if c.agent_id == agent.id]  # fmt: skip
        call_ids = [
            other.call_id
            for other in self.calls.values()
            if other.ended is None and agent.id in other.agent_ids
        ]
        tasks_changed = call_ids != agent.call_ids
        agent.call_ids = call_ids
        if not agent.logged_in:
            # An agent logged out during the call (LOAD 1) has one task less: the idle side must know.
            return [AgentChange.of(agent)] if tasks_changed else []
        if not states:
            return self._after_call(now, agent, call) if tasks_changed else []
        changes: list[Change] = []
        if agent.wrapup_call is not None and any(st in ACTIVE_STATES for st in states):
            # A call taken part in during the wrap-up of the previous one (made from WORK_READY) ends
            # that wrap-up: its timer must not move a talking agent; the old call's END_CALL_EVENT is due.
            changes.extend(self._release_wrapup(agent))
        if any(st in ACTIVE_STATES for st in states):
            wanted = S.TALKING
        elif LCS.HOLD in states:
            wanted = S.HOLD
        elif agent.state in (S.AVAILABLE, S.TALKING, S.HOLD):
            # Only alerting: a Ready agent (or one whose other call just ended) is reserved for
            # it, so no other call is routed to it; a Not Ready agent's phone just rings.
            wanted = S.RESERVED
        else:
            wanted = agent.state
        if wanted is not agent.state:
            return [*changes, self._set(now, agent, wanted, 0)]
        return [*changes, AgentChange.of(agent)] if tasks_changed else changes

    def _after_call(self, now: float, agent: Agent, call: Call) -> list[Change]:
        """The agent's last call ended. The single place deciding the agent's state after a call:
        the wrap-up when the agent's desk settings ask for one for this call, incoming or outgoing
        (WORK_READY, or WORK when it chose NOT_READY during the call: :meth:`_start_wrapup`); else
        the state asked for during the call, else Ready."""
        wrapup = self._start_wrapup(now, agent, call)
        if wrapup:
            return wrapup
        state, reason = agent.pending or (S.AVAILABLE, 0)
        agent.pending, agent.pending_by_agent = None, False
        if state is S.LOGOUT:
            return self._logout(now, agent, reason)
        return [self._set(now, agent, state, reason)]

    def _sync(self, now: float, call: Call, *agent_ids: str | None) -> list[Change]:
        changes: list[Change] = []
        for agent_id in dict.fromkeys(agent_ids or [c.agent_id for c in call.connections]):
            changes.extend(self._sync_agent(now, call, agent_id))
        return changes

    def longest_available(self) -> Agent:
        """The ACD's pick for a call to the queue: of the agents Ready with no call, the one Ready
        the longest (the usual longest-available-agent routing); none Ready: refused (a caller then
        waits in the queue: :meth:`queue_call`)."""
        agent = self._longest_ready()
        if agent is None:
            raise ControlError(
                "no agent is Ready to take the call", failure=ControlFailure.CF_INVALID_AGENT_STATE
            )
        return agent

    def offer_call(
        self,
        now: float,
        agent_id: str,
        ani: str = "",
        dnis: str = "",
        variables: dict[str, str] | None = None,
    ) -> tuple[Call, list[Change]]:
        """An ACD call from a caller (a device that is no agent) delivered to a Ready agent."""
        agent = self.agent(agent_id)
        if agent.state is not S.AVAILABLE:
            raise ControlError(
                f"agent {agent_id} is {agent.state.name}, not AVAILABLE",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
            )
        caller = Connection(ani, None, LCS.CONNECT, now)
        conn = Connection(agent.extension, agent.id, LCS.ALERTING, now)
        call = self._new_call(now, [caller, conn], ani, dnis, variables, "inbound")
        changes: list[Change] = [
            CallChange("begin", call, conn.device),
            CallChange("delivered", call, conn.device, LCS.ALERTING),
        ]
        changes.extend(self._sync(now, call, agent.id))
        return call, changes

    def make_call(
        self,
        now: float,
        agent_id: str,
        dialed: str,
        variables: dict[str, str] | None = None,
        outside_answer_after: float | None = None,
    ) -> tuple[Call, list[Change]]:
        """MAKE_CALL_REQ from an agent's instrument to another agent's extension (delivered to that
        agent, who answers) or to an outside number (a device that is no agent, answered by the
        emulator ``outside_answer_after`` seconds later; at once when 0; never when None)."""
        agent = self.agent(agent_id)
        if not agent.logged_in:
            raise ControlError("agent is not logged in", status=Status.E_CTI_AGENT_NOT_LOGGED_ON)
        if not dialed:
            raise ControlError("no DialedNumber", status=Status.E_CTI_REQUIRED_DATA_MISSING)
        if dialed == agent.extension:
            raise ControlError("an agent cannot call itself", status=Status.E_CTI_INVALID_DIGITS)
        if self._active_connection(agent.extension) is not None:
            raise ControlError(
                f"{agent.extension} is already in an active call",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
            )
        callee = self.find(None, dialed, None)
        failure = self._dial_failure(dialed, callee)
        if failure is not None:
            return self._failed_call(
                now, agent, dialed, variables, "internal" if callee else "outbound", failure
            )
        origin = Connection(agent.extension, agent.id, LCS.INITIATE, now)
        dest = Connection(dialed, callee.id if callee else None, LCS.ALERTING, now)
        if callee is None and outside_answer_after is not None:
            dest.answer_at = now + outside_answer_after
        kind: CallKind = "internal" if callee else "outbound"
        call = self._new_call(now, [origin, dest], agent.extension, dialed, variables, kind)
        changes: list[Change] = [
            CallChange("begin", call, origin.device),
            CallChange("service_initiated", call, origin.device, LCS.INITIATE),
            *self._sync(now, call, agent.id),
            CallChange("originated", call, origin.device, LCS.INITIATE),
            CallChange("delivered", call, dest.device, LCS.ALERTING),
            *self._sync(now, call, dest.agent_id),
        ]
        if dest.answer_at is not None and dest.answer_at <= now:
            changes.extend(self.answer_call(now, call.call_id, dest.device))
        return call, changes

    def call(self, call_id: int) -> Call:
        call = self.calls.get(call_id)
        if call is None or call.phase == "ended":
            raise ControlError(f"no active call {call_id}", status=Status.E_CTI_INVALID_CALLID)
        return call

    def _conn(self, call: Call, device: str | None, *states: LocalConnectionState) -> Connection:
        """The call's connection at ``device`` in one of ``states``; without a device, the first
        such connection of an agent (else of any party). A silent monitor's connection at the
        monitored agent's device is never one: it is no connection of the agent's, so no request
        at that device (hold, drop, a transfer or conference merging the monitor call into the
        agent's own) acts on it."""
        found = [
            c
            for c in call.live
            if (device is None or c.device == device) and c.state in states and not self.watched(call, c)
        ]
        found.sort(key=lambda c: c.agent_id is None)
        if not found:
            where = f" at {device}" if device else ""
            wanted = "/".join(st.name for st in states)
            raise ControlError(
                f"call {call.call_id} has no {wanted} connection{where}", status=Status.E_CTI_INVALID_CALLID
            )
        return found[0]

    def answer_call(self, now: float, call_id: int, device: str | None = None) -> list[Change]:
        call = self.call(call_id)
        conn = self._conn(call, device, LCS.ALERTING)
        self._refuse_if_active(conn.device)
        conn.state, conn.since, conn.answer_at = LCS.CONNECT, now, None
        call.answered = call.answered or now
        for other in call.live:
            if other.state is LCS.INITIATE:  # the originator hears the answer
                other.state, other.since = LCS.CONNECT, now
        changes: list[Change] = [CallChange("established", call, conn.device, LCS.CONNECT)]
        changes.extend(self._sync(now, call))
        return changes

    def hold_call(self, now: float, call_id: int, device: str | None = None) -> list[Change]:
        call = self.call(call_id)
        conn = self._conn(call, device, LCS.CONNECT)
        conn.state, conn.since = LCS.HOLD, now
        return [CallChange("held", call, conn.device, LCS.HOLD), *self._sync(now, call, conn.agent_id)]

    def retrieve_call(self, now: float, call_id: int, device: str | None = None) -> list[Change]:
        call = self.call(call_id)
        conn = self._conn(call, device, LCS.HOLD)
        self._refuse_if_active(conn.device)
        conn.state, conn.since = LCS.CONNECT, now
        return [
            CallChange("retrieved", call, conn.device, LCS.CONNECT),
            *self._sync(now, call, conn.agent_id),
        ]

    def update_call_data(self, call_id: int, variables: dict[str, str]) -> list[Change]:
        call = self.data_call(call_id)
        call.variables.update(variables)
        return [CallChange("data", call)]

    def send_dtmf(self, call_id: int, device: str, digits: str) -> None:
        """SEND_DTMF_SIGNAL_REQ: only on a connected connection of a call in progress (at ``device``
        when given; the tones themselves are not emulated: nobody listens)."""
        self._conn(self.call(call_id), device or None, LCS.CONNECT)
        if not digits or any(c not in DTMF_DIGITS for c in digits):
            raise ControlError(f"not DTMF: {digits!r}", status=Status.E_CTI_INVALID_DIGITS)

    def data_call(self, call_id: int) -> Call:
        """A call whose data may change (SET_CALL_DATA_REQ): active, or ended and in wrap-up
        (Finesse: "during a call or while you are in WrapUp state after the call ends")."""
        call = self.calls.get(call_id)
        if call is not None and call.phase == "ended" and self._wrapped_up(call_id):
            return call
        return self.call(call_id)

    def _wrapped_up(self, call_id: int) -> bool:
        """Whether an agent still wraps the call up (its END_CALL_EVENT waits for the wrap-up)."""
        return any(self.agents[a].wrapup_call == call_id for a in self._wrapping)

    def clear_connection(self, now: float, call_id: int, device: str | None = None) -> list[Change]:
        """CLEAR_CONNECTION_REQ: one party leaves; the call ends when fewer than two remain."""
        call = self.call(call_id)
        conn = self._conn(call, device, LCS.INITIATE, LCS.ALERTING, LCS.CONNECT, LCS.HOLD, LCS.FAIL)
        if len(call.live) - 1 < 2:
            return self._end(now, call, first=conn)
        conn.state, conn.since = LCS.NULL, now
        return [
            CallChange("connection_cleared", call, conn.device, LCS.NULL),
            *self._sync(now, call, conn.agent_id),
            *self._end_monitors(now, call, conn.device),
        ]

    def end_call(self, now: float, call_id: int) -> list[Change]:
        """CLEAR_CALL_REQ (and the admin API / the PG ending an injected call): every party leaves."""
        return self._end(now, self.call(call_id))

    def _end(
        self, now: float, call: Call, first: Connection | None = None, *, quiet: bool = False,
        cause: int | None = None,
    ) -> list[Change]:  # fmt: skip
        """Every party leaves; ``quiet``: without a CALL_CONNECTION_CLEARED for each (the far end hung
        up: :meth:`caller_hangup` announced its own); ``cause``: CALL_CLEARED's EventCause."""
        live = sorted(call.live, key=lambda c: c.agent_id is None)  # the agents' connections first
        if first is not None:
            live.remove(first)
            live.insert(0, first)
        changes: list[Change] = []
        for conn in live:
            conn.state, conn.since = LCS.NULL, now
            if not quiet:
                changes.append(CallChange("connection_cleared", call, conn.device, LCS.NULL))
        call.ended = now
        changes.append(CallChange("cleared", call, cause=cause))
        changes.extend(self._sync(now, call, *(c.agent_id for c in live)))
        changes.extend(self._end_monitors(now, call, None))
        if self._wrapped_up(call.call_id):
            return changes  # END_CALL_EVENT when the wrap-up ends: the call's data stays settable
        changes.append(CallChange("end", call))
        del self.calls[call.call_id]
        return changes

    # -- the queue, the far end hanging up, failed calls ------------------------------------------
    # A caller dialling the queue with nobody Ready waits in it (CALL_QUEUED_EVENT, its connection at
    # the queue in LocalConnectionState QUEUED) and is delivered, in arrival order, to the agent Ready
    # the longest once one is (CALL_DEQUEUED_EVENT, then the usual CALL_DELIVERED_EVENT). The queue
    # is the calls themselves (phase "queued", ordered by arrival): the peer-sync snapshot and the
    # streamed calls carry it to the other side.
    def queued_calls(self) -> list[Call]:
        return sorted(
            (c for c in self.calls.values() if c.phase == "queued"), key=lambda c: (c.started, c.call_id)
        )

    def _longest_ready(self) -> Agent | None:
        ready = [a for a in self.agents.values() if a.state is S.AVAILABLE and not a.call_ids]
        return min(ready, key=lambda a: (a.state_since, a.id)) if ready else None

    def queue_call(
        self,
        now: float,
        ani: str = "",
        dnis: str = "",
        variables: dict[str, str] | None = None,
        answer_after: float | None = None,
        talk_time: float | None = None,
    ) -> tuple[Call, list[Change]]:
        """A caller dials the queue: delivered at once to the agent Ready the longest; with nobody
        Ready, it waits in the queue. ``answer_after``/``talk_time`` (effective seconds) start when
        the call is delivered."""
        agent = self._longest_ready()
        if agent is not None:
            call, changes = self.offer_call(now, agent.id, ani, dnis, variables)
        else:
            caller = Connection(ani, None, LCS.CONNECT, now)
            queue = Connection(dnis or QUEUE_DEVICE, None, LCS.QUEUED, now)
            call = self._new_call(now, [caller, queue], ani, dnis, variables, "inbound")
            changes = [
                CallChange("begin", call, queue.device),
                CallChange("queued", call, queue.device, LCS.QUEUED),
            ]
        call.answer_after, call.talk_time = answer_after, talk_time
        if agent is not None:
            self._start_timers(call, now)
        return call, changes

    @staticmethod
    def _start_timers(call: Call, now: float) -> None:
        if call.answer_after is not None:
            call.answer_at = now + call.answer_after
        if call.talk_time is not None:
            call.end_at = (call.answer_at or now) + call.talk_time

    def dispatch_queue(self) -> list[Change]:
        """Deliver the queued calls, oldest first, while an agent is Ready with no call. Each is
        delivered when its agent became Ready (its ``state_since``): that is the input that freed
        the agent, so the core needs no clock of its own here."""
        changes: list[Change] = []
        for call in self.queued_calls():
            agent = self._longest_ready()
            if agent is None:
                break
            now = max(agent.state_since, call.started)
            queue = next(c for c in call.live if c.state is LCS.QUEUED)
            queue.state, queue.since = LCS.NULL, now
            conn = Connection(agent.extension, agent.id, LCS.ALERTING, now)
            call.connections.append(conn)
            self._start_timers(call, now)
            changes += [
                CallChange("dequeued", call, queue.device, LCS.NULL),
                CallChange("delivered", call, conn.device, LCS.ALERTING),
                *self._sync(now, call, agent.id),
            ]
        return changes

    def caller_hangup(self, now: float, call_id: int) -> list[Change]:
        """The party that is no agent (the caller, or the outside number an agent dialled) hangs up
        by itself: its CALL_CONNECTION_CLEARED_EVENT, then, unless two parties remain (a conference),
        CALL_CLEARED_EVENT: with CECX_ABAND_LOCAL_QUEUE when it waited in the queue (it leaves the
        queue), CECX_ABAND_RING when an agent's phone was ringing. Not a DROP by the agent."""
        call = self.call(call_id)
        caller = next(
            (
                c
                for c in call.live
                if c.agent_id is None and c.state is not LCS.QUEUED and not self.watched(call, c)
            ),
            None,
        )
        if caller is None:
            raise ControlError(
                f"call {call_id} has no party that is no agent", status=Status.E_CTI_INVALID_CALLID
            )
        phase = call.phase
        caller.state, caller.since = LCS.NULL, now
        changes: list[Change] = [CallChange("connection_cleared", call, caller.device, LCS.NULL)]
        if phase != "queued" and len(call.live) >= 2:
            return [*changes, *self._sync(now, call)]
        cause = {"queued": EventCause.ABAND_LOCAL_QUEUE, "alerting": EventCause.ABAND_RING}.get(phase)
        return [*changes, *self._end(now, call, quiet=True, cause=cause)]

    def _dial_failure(self, dialed: str, callee: Agent | None) -> EventCause | None:
        """Why a MAKE_CALL to ``dialed`` fails at the far end (the dial plan: :data:`OUTSIDE_NUMBERS`),
        or None: an agent already ringing or in an active call is busy, so is an agent's extension
        with nobody logged in on it (the emulator has no phone without its agent), and an outside
        number already in a call; a number neither an extension nor outside is not obtainable."""
        if callee is not None:
            engaged = ACTIVE_STATES | {LCS.ALERTING}
            conns = (c for call in self.calls.values() if call.ended is None for c in call.live)
            busy = any(c.device == callee.extension and c.state in engaged for c in conns)
            return EventCause.BUSY if busy else None
        if any(a.record.extension == dialed for a in self.agents.values()):
            return EventCause.BUSY
        if not self.outside_numbers.fullmatch(dialed):
            return EventCause.DEST_NOT_OBTAINABLE
        if any(call.connection(dialed) for call in self.calls.values()):
            return EventCause.BUSY  # an outside number is one far end
        return None

    def _failed_call(
        self, now: float, agent: Agent, dialed: str, variables: dict[str, str] | None, kind: CallKind,
        cause: EventCause,
    ) -> tuple[Call, list[Change]]:  # fmt: skip
        """MAKE_CALL_REQ accepted, then the far end fails: BEGIN_CALL, SERVICE_INITIATED, ORIGINATED
        and CALL_FAILED_EVENT (the agent's connection in LocalConnectionState FAIL, EventCause BUSY or
        DEST_NOT_OBTAINABLE); the call stays until the agent drops it (the phone is off hook)."""
        origin = Connection(agent.extension, agent.id, LCS.FAIL, now)
        dest = Connection(dialed, None, LCS.NULL, now)  # never reached
        call = self._new_call(now, [origin, dest], agent.extension, dialed, variables, kind)
        return call, [
            CallChange("begin", call, origin.device),
            CallChange("service_initiated", call, origin.device, LCS.INITIATE),
            *self._sync(now, call, agent.id),
            CallChange("originated", call, origin.device, LCS.INITIATE),
            CallChange("failed", call, origin.device, LCS.FAIL, cause),
        ]

    # -- consult, transfer, conference ----------------------------------------------------------
    # GED-188 semantics (CCX's CTI pages): CONSULTATION_CALL_REQ is "the combined action of placing
    # an active call on hold and then making a new call", whose call context is by default the
    # active call's; TRANSFER_CALL_REQ "merges the two calls with connections to a single common
    # device. Both of the connections with the common device become NULL"; CONFERENCE_CALL_REQ
    # merges "an existing held call with another active call [...] the two connections at the
    # conferencing device are in the connected state". The held call survives the merge (the
    # primary call); the other (secondary) ends, its parties moved into the primary.
    def consult_call(
        self,
        now: float,
        call_id: int,
        device: str | None,
        dialed: str,
        variables: dict[str, str] | None = None,
        outside_answer_after: float | None = None,
    ) -> tuple[Call, list[Change]]:
        """CONSULTATION_CALL_REQ: hold the agent's connected connection, then call ``dialed`` from
        the same instrument (a call of type CONSULT whose data starts as the held call's)."""
        call = self.call(call_id)
        conn = self._conn(call, device, LCS.CONNECT)
        agent = self.agents.get(conn.agent_id or "")
        if agent is None:
            raise ControlError(
                f"{conn.device} is no agent's device", failure=ControlFailure.CF_INVALID_AGENT_ID_SPECIFIED
            )
        saved = (
            conn.state,
            conn.since,
            agent.state,
            agent.reason_code,
            agent.state_since,
            list(agent.call_ids),
        )
        changes = self.hold_call(now, call_id, conn.device)
        try:
            consult, made = self.make_call(
                now, agent.id, dialed, {**call.variables, **(variables or {})}, outside_answer_after
            )
        except ControlError:
            # Refused as a whole: the held connection and the agent are as they were.
            conn.state, conn.since = saved[0], saved[1]
            agent.state, agent.reason_code, agent.state_since, agent.call_ids = saved[2:]
            raise
        consult.role, consult.consult_of = "consult", call_id
        return consult, [*changes, *made]

    def _merge_parties(self, now: float, primary: Call, secondary: Call, device: str) -> list[Connection]:
        """Move every party of ``secondary`` but ``device`` into ``primary`` (same state); their old
        connections become NULL. Returns the moved connections (in ``primary``)."""
        moved: list[Connection] = []
        for old in secondary.live:
            if old.device == device:
                continue
            new = Connection(old.device, old.agent_id, old.state, now, old.answer_at)
            primary.connections.append(new)
            moved.append(new)
        return moved

    def _close_secondary(self, now: float, secondary: Call, primary: Call) -> list[Change]:
        """The merged call ends: each of its connections cleared, then the call (no wrap-up of
        its own: its parties go on in the primary call). A silent monitor of an agent that goes on
        in the primary call follows it there ("If an agent drops from or transfers the call that
        the supervisor is monitoring, the silent monitoring session ends": an agent transferred to,
        conferenced in or conferencing neither drops nor transfers) [UNCERTAIN: whether the
        product's monitoring session follows the merge]; any other monitor ends with its call."""
        changes: list[Change] = []
        for conn in sorted(secondary.live, key=lambda c: c.agent_id is None):
            conn.state, conn.since = LCS.NULL, now
            changes.append(CallChange("connection_cleared", secondary, conn.device, LCS.NULL))
        secondary.ended = now
        changes += [CallChange("cleared", secondary), CallChange("end", secondary)]
        del self.calls[secondary.call_id]
        for monitor in self.monitors_of(secondary.call_id):
            agent = primary.connection(monitor.connections[1].device)
            if agent is not None and agent.agent_id is not None and not monitor.agent_ids & primary.agent_ids:
                monitor.monitored = primary.call_id
                changes.append(CallChange("data", monitor))  # (replicates the monitored call)
            else:
                changes.extend(self._end(now, monitor))
        return changes

    def _merge_pair(
        self, held_id: int, active_id: int, device: str | None, *active_states: LocalConnectionState
    ) -> tuple[Call, Call, Connection, Connection]:
        if held_id == active_id:
            raise ControlError("held and active call are the same call", status=Status.E_CTI_INVALID_CALLID)
        held, active = self.call(held_id), self.call(active_id)
        h = self._conn(held, device, LCS.HOLD)
        a = self._conn(active, h.device, *active_states)
        for conn in active.live:
            if conn.device != h.device and held.connection(conn.device) is not None:
                # A party of both calls would have two connections in one call.
                raise ControlError(
                    f"{conn.device} is already in call {held_id}", status=Status.E_CTI_DEVICE_IN_USE
                )
        return held, active, h, a

    def transfer_call(
        self, now: float, held_id: int, active_id: int, device: str | None = None
    ) -> list[Change]:
        """TRANSFER_CALL_REQ: the agent leaves both calls; the active call's other parties join the
        held call (alerting ones go on alerting there: a transfer before the consult is answered),
        which becomes TRANSFER_IN; the active call ends."""
        held, active, h, _a = self._merge_pair(held_id, active_id, device, LCS.CONNECT, LCS.INITIATE)
        moved = self._merge_parties(now, held, active, h.device)
        if not moved:
            raise ControlError(
                f"call {active_id} has nobody to transfer to", status=Status.E_CTI_INVALID_CALLID
            )
        h.state, h.since = LCS.NULL, now
        held.role = "transfer"
        changes: list[Change] = [
            CallChange(
                "transferred", held, h.device, LCS.NULL, secondary=active.call_id, party=moved[0].device
            ),
            CallChange("connection_cleared", held, h.device, LCS.NULL),
            *self._close_secondary(now, active, held),
            CallChange("data", held),
        ]
        changes.extend(self._sync(now, held, h.agent_id, *(c.agent_id for c in moved)))
        # "If an agent drops from or transfers the call that the supervisor is monitoring, the
        # silent monitoring session ends."
        changes.extend(self._end_monitors(now, held, h.device))
        return changes

    def single_step_transfer(
        self,
        now: float,
        call_id: int,
        device: str | None,
        dialed: str,
        outside_answer_after: float | None = None,
    ) -> list[Change]:
        """TRANSFER_CALL_REQ without an active call (single-step, Finesse's TRANSFER_SST): a consult
        to ``dialed`` transferred at once, while it alerts."""
        if self.call(call_id).connection(dialed) is not None:
            raise ControlError(f"{dialed} is already in call {call_id}", status=Status.E_CTI_DEVICE_IN_USE)
        # A destination that would fail (busy, not obtainable) refuses the single-step transfer as a
        # whole: the agent keeps its call as it was, with no failed consult to drop.
        failure = self._dial_failure(dialed, self.find(None, dialed, None))
        if failure is not None:
            raise ControlError(
                f"{dialed}: {failure.name.lower()}", status=Status.E_CTI_INVALID_DIGITS if
                failure is EventCause.DEST_NOT_OBTAINABLE else Status.E_CTI_DEVICE_IN_USE
            )  # fmt: skip
        consult, changes = self.consult_call(now, call_id, device, dialed, None, outside_answer_after)
        origin = consult.connections[0].device
        return [*changes, *self.transfer_call(now, call_id, consult.call_id, origin)]

    def conference_call(
        self, now: float, held_id: int, active_id: int, device: str | None = None
    ) -> list[Change]:
        """CONFERENCE_CALL_REQ: the active call's other parties join the held call and the
        agent's held connection is connected again (the conference's controller); the call becomes
        CONFERENCE and the active call ends. Every party of the active call must have answered
        (no blind conference)."""
        held, active, h, _a = self._merge_pair(held_id, active_id, device, LCS.CONNECT, LCS.INITIATE)
        if any(c.state is not LCS.CONNECT for c in active.live):
            raise ControlError(
                f"call {active_id} is not answered: no blind conference",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
            )
        moved = self._merge_parties(now, held, active, h.device)
        if not moved:
            raise ControlError(f"call {active_id} has nobody to add", status=Status.E_CTI_INVALID_CALLID)
        h.state, h.since = LCS.CONNECT, now  # (its connection in the active call is cleared below)
        return self._conferenced(now, held, active, h, moved)

    def _conferenced(
        self, now: float, primary: Call, secondary: Call, controller: Connection, moved: list[Connection]
    ) -> list[Change]:
        """``moved`` (the secondary call's parties, already in ``primary``) joined ``primary``, which
        becomes CONFERENCE with ``controller`` its controller: CALL_CONFERENCED_EVENT, the secondary
        call's end, CALL_DATA_UPDATE_EVENT (the new CallType). A conference and a barge-in alike."""
        primary.role, primary.controller = "conference", controller.device
        changes: list[Change] = [
            CallChange(
                "conferenced",
                primary,
                controller.device,
                LCS.CONNECT,
                secondary=secondary.call_id,
                party=moved[0].device,
            ),
            *self._close_secondary(now, secondary, primary),
            CallChange("data", primary),
        ]
        changes.extend(self._sync(now, primary, controller.agent_id, *(c.agent_id for c in moved)))
        return changes

    # -- wrap-up ---------------------------------------------------------------------------------
    def desk_of(self, agent: Agent) -> DeskSettings:
        return self.desk.of(agent.record, self.time_scale)

    def _start_wrapup(self, now: float, agent: Agent, call: Call) -> list[Change]:
        """After the agent's last call: WORK_READY, or WORK when the agent chose NOT_READY during the
        call (its pending state, applied when the wrap-up ends); nothing when its mode is NOT_ALLOWED
        or it asked to log out. A call is outgoing for the agent that made it, incoming for the
        others (:meth:`Call.made_by`)."""
        settings = self.desk_of(agent)
        mode = self._mode(agent, call)
        state, _ = agent.pending or (S.AVAILABLE, 0)
        if mode == "NOT_ALLOWED" or state not in (S.AVAILABLE, S.NOT_READY):
            return []
        if state is S.AVAILABLE:
            agent.pending, agent.pending_by_agent = None, False
        agent.wrapup_call, agent.wrapup_until = call.call_id, now + settings.wrap_up_time
        self._wrapping.add(agent.id)
        return [self._set(now, agent, S.WORK_NOT_READY if state is S.NOT_READY else S.WORK_READY, 0)]

    def _mode(self, agent: Agent, call: Call) -> str:
        if call.kind == "monitor":
            return "NOT_ALLOWED"  # a silent monitor is no call to wrap up
        settings = self.desk_of(agent)
        return settings.wrap_up_on_outgoing if call.made_by(agent.id) else settings.wrap_up_on_incoming

    def _wrapup_data_missing(self, agent: Agent) -> bool:
        """REQUIRED_WITH_WRAP_UP_DATA: the agent may not leave wrap-up before the call has its
        wrap-up data (the timer still ends the wrap-up)."""
        call = self.calls.get(agent.wrapup_call) if agent.wrapup_call is not None else None
        return (
            call is not None
            and self._mode(agent, call) == "REQUIRED_WITH_WRAP_UP_DATA"
            and not call.variables.get(WRAPUP_DATA)
        )

    def _end_wrapup(self, now: float, agent: Agent, state: AgentState, reason: int) -> list[Change]:
        agent.pending, agent.pending_by_agent = None, False
        if state is S.LOGOUT:
            return self._logout(now, agent, reason)  # (releases the wrap-up)
        return [self._set(now, agent, state, reason), *self._release_wrapup(agent)]

    def _release_wrapup(self, agent: Agent) -> list[Change]:
        """The wrap-up is over: the call's END_CALL_EVENT, unless another agent still wraps it up."""
        call_id = agent.wrapup_call
        agent.wrapup_call = agent.wrapup_until = None
        self._wrapping.discard(agent.id)
        call = self.calls.get(call_id) if call_id is not None else None
        if call is None or call.phase != "ended":
            return []
        if any(self.agents[a].wrapup_call == call_id for a in self._wrapping):
            return []
        del self.calls[call.call_id]
        return [CallChange("end", call)]

    def next_wrapup_deadline(self) -> float | None:
        times = [self.agents[a].wrapup_until for a in self._wrapping]
        return min((t for t in times if t is not None), default=None)

    def wrapup_expired(self, now: float) -> list[Change]:
        """The wrap-up timer: "Agents automatically transition to NOT_READY [from WORK] after the
        wrap-up timer expires", to READY from WORK_READY; a pending Not Ready keeps its reason."""
        changes: list[Change] = []
        for agent_id in sorted(self._wrapping):
            agent = self.agents[agent_id]
            if agent.wrapup_until is None or agent.wrapup_until > now:
                continue
            default = (S.NOT_READY, 0) if agent.state is S.WORK_NOT_READY else (S.AVAILABLE, 0)
            state, reason = agent.pending or default
            changes.extend(self._end_wrapup(now, agent, state, reason))
        return changes

    # -- supervisor actions ----------------------------------------------------------------------
    # Cisco Finesse Web Services Developer Guide (12.5), Dialog—Make a Silent Monitor Call: "Agent to
    # be monitored must be assigned to a team that the supervisor is responsible for. A supervisor can
    # silently monitor any call except a silent monitor call. If an agent drops from or transfers the
    # call that the supervisor is monitoring, the silent monitoring session ends." With Unified CCE:
    # "The supervisor must be in NOT_READY state to start a silent monitoring session and the agent
    # must be in TALKING state. After the supervisor starts the silent monitoring session, the
    # supervisor transitions to TALKING state."
    #
    # A silent monitor is a call of its own (kind "monitor", ``monitored``: the agent's call): the
    # supervisor's connection and one at the agent's device that belongs to no agent, so the agent
    # neither gets the call's events on its Client Events session nor counts it as a call of its
    # own, and the agent's call never has the supervisor among its parties. A barge-in conferences
    # the monitor call into the agent's call (:meth:`barge_in`), which then has three parties.
    @staticmethod
    def teams_supervised(agent: Agent) -> tuple[int, ...]:
        """The AWDB's rule (awdb_stub/db.py): the directory's ``teams_supervised``, else a
        supervisor's own team."""
        if not agent.record.supervisor:
            return ()
        teams = agent.record.extra.get("teams_supervised")
        return tuple(int(t) for t in teams) if teams else (agent.record.team_id,)

    def _supervisor_of(self, supervisor_id: str, agent: Agent) -> Agent:
        supervisor = self.agent(supervisor_id)
        if not supervisor.logged_in:
            raise ControlError("supervisor is not logged in", status=Status.E_CTI_AGENT_NOT_LOGGED_ON)
        if agent.record.team_id not in self.teams_supervised(supervisor):
            raise ControlError(
                f"{supervisor_id} does not supervise agent {agent.id}'s team",
                failure=ControlFailure.CF_INVALID_AGENT_ID_SPECIFIED,
            )
        return supervisor

    def silent_monitor(self, now: float, supervisor_id: str, agent_device: str) -> tuple[Call, list[Change]]:
        """SUPERVISE_CALL_REQ (MONITOR): the supervisor starts monitoring the agent's active call."""
        agent = self.find(None, agent_device, None)
        if agent is None:
            raise ControlError(f"no agent at {agent_device}", status=Status.E_CTI_INVALID_CALLID)
        supervisor = self._supervisor_of(supervisor_id, agent)
        if supervisor.id == agent.id:
            raise ControlError(
                "a supervisor cannot monitor itself", failure=ControlFailure.CF_INVALID_AGENT_STATE
            )
        if supervisor.state is not S.NOT_READY or supervisor.call_ids:
            raise ControlError(
                f"supervisor is {supervisor.state.name}, not NOT_READY",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
            )
        found = self._active_connection(agent.extension)
        if agent.state is not S.TALKING or found is None or found[0].kind == "monitor":
            raise ControlError(
                f"agent {agent.id} is {agent.state.name}, not TALKING on a call",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
            )
        target = found[0]
        sup = Connection(supervisor.extension, supervisor.id, LCS.CONNECT, now)
        watched = Connection(agent.extension, None, LCS.CONNECT, now)
        call = self._new_call(now, [sup, watched], supervisor.extension, agent.extension, None, "monitor")
        call.monitored, call.answered = target.call_id, now
        # Back to Not Ready (its reason kept) when the monitoring ends [UNCERTAIN: the state a UCCE
        # supervisor returns to after a silent monitor is not documented; it had to be NOT_READY].
        supervisor.pending, supervisor.pending_by_agent = (S.NOT_READY, supervisor.reason_code), False
        changes: list[Change] = [
            CallChange("begin", call, sup.device),
            CallChange("service_initiated", call, sup.device, LCS.INITIATE),
            CallChange("originated", call, sup.device, LCS.INITIATE),
            CallChange("established", call, watched.device, LCS.CONNECT),
            *self._sync(now, call, supervisor.id),
        ]
        return call, changes

    def monitors_of(self, call_id: int) -> list[Call]:
        return [c for c in self.calls.values() if c.monitored == call_id and c.ended is None]

    def barge_in(self, now: float, supervisor_id: str, call_id: int, monitor_id: int) -> list[Change]:
        """SUPERVISE_CALL_REQ (BARGE_IN) on the call the supervisor monitors: "Supervisors [...] can
        only barge in to calls they are already silent monitoring"; "When a supervisor makes a barge
        call, the supervisor is added as a new party to the conference"; "If the original call is
        not a conference call, after the barge request succeeds, the call becomes a conference call
        and the agent is the conference controller. If the original call is a conference call and
        the agent is not the conference controller, the supervisor's barge request fails"; it fails
        too when "the agent already has an outstanding consult call" (Cisco Finesse Web Services
        Developer Guide, Dialog—Make a Barge Call). The monitor call is merged into the agent's call
        as a conference's active call is (:meth:`_conferenced`): the supervisor's connection moves,
        the watched one at the agent's device goes with the monitor call."""
        monitor = self.calls.get(monitor_id)
        call = self.call(call_id)
        if monitor is None or monitor.monitored != call_id or monitor.ended is not None:
            raise ControlError(
                f"call {monitor_id} monitors no call {call_id}", status=Status.E_CTI_INVALID_CALLID
            )
        sup = self._conn(monitor, None, LCS.CONNECT)
        if sup.agent_id != supervisor_id:
            raise ControlError("not this supervisor's monitor call", status=Status.E_CTI_INVALID_CALLID)
        agent_device = monitor.connections[1].device
        agent = self.find(None, agent_device, None)
        controller = call.connection(agent_device)
        if (
            agent is None
            or controller is None
            or controller.state is not LCS.CONNECT
            or len(agent.call_ids) > 1
        ):
            raise ControlError(
                f"{agent_device} is not connected to call {call_id} alone (an outstanding consult)",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
            )
        if call.role == "conference" and call.controller != agent_device:
            raise ControlError(
                f"{agent_device} is not the conference controller of call {call_id}",
                failure=ControlFailure.CF_INVALID_AGENT_STATE,
            )
        # The supervisor is never in two active connections, and its state stays TALKING.
        moved = self._merge_parties(now, call, monitor, agent_device)
        return self._conferenced(now, call, monitor, controller, moved)

    def _end_monitors(self, now: float, call: Call, left: str | None) -> list[Change]:
        """The silent monitors of ``call`` end when the monitored agent leaves it (``left``: the
        device whose connection was cleared; None: the call ended)."""
        changes: list[Change] = []
        for monitor in self.monitors_of(call.call_id):
            if left is None or monitor.connections[1].device == left:
                changes.extend(self._end(now, monitor))
        return changes

    # -- replication -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "agents": [a.to_json() for a in self.agents.values() if a.logged_in or a.state_since],
            "calls": [c.to_json() for c in self.calls.values()],
            "next_call_id": self.next_call_id,
        }

    def apply_snapshot(self, snap: dict[str, Any]) -> None:
        # Agents the snapshot leaves out have never been touched on the active side: reset them
        # completely, or a side with a past of its own keeps their old reason code and MRD states.
        for agent in self.agents.values():
            agent.state, agent.extension, agent.call_ids, agent.pending = S.LOGOUT, "", [], None
            agent.pending_by_agent, agent.connection_failure_next = False, False
            agent.reason_code, agent.state_since, agent.controller = 0, 0.0, None
            agent.mrd_states = dict.fromkeys(agent.mrd_states, S.LOGOUT)
            agent.mrd_before_work, agent.mrd_reasons, agent.mrd_routable = {}, {}, {}
            agent.wrapup_call = agent.wrapup_until = None
        self._wrapping.clear()
        for data in snap["agents"]:
            self.apply_agent(data)
        self.calls = {c["call_id"]: Call.from_json(c) for c in snap["calls"]}
        self.next_call_id = int(snap["next_call_id"])

    def apply_agent(self, data: dict[str, Any]) -> None:
        agent = self.agents.get(str(data["id"]))
        if agent is not None:
            agent.apply_json(data)
            if agent.wrapup_call is None:
                self._wrapping.discard(agent.id)
            else:
                self._wrapping.add(agent.id)

    def apply_call(self, data: dict[str, Any], step: str = "end") -> None:
        """A call streamed by the active side; an ended call stays until its ``end`` step (it may be
        wrapped up)."""
        if data["phase"] == "ended" and step == "end":
            self.calls.pop(int(data["call_id"]), None)
        else:
            self.calls[int(data["call_id"])] = Call.from_json(data)
        self.next_call_id = max(self.next_call_id, int(data["call_id"]) + 1)
