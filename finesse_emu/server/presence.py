"""Presence-driven forced logout, pure: agents' XMPP presence in, forced logout requests out.

Cisco, "Desktop Behavior": "Finesse receives a presence notification of Unavailable from the client.
Finesse waits 60 seconds, and then sends a forced logout request to the CTI server", "to allow the
browser to reconnect after the refresh"; "Cisco Finesse sends a code of 255 to the CTI server";
network glitch: "Finesse is IN_SERVICE, so it sends a forced logout request to the CTI server for
the agent", "If the agent is on a call, the publisher sends the forced logout request after the call
ends"; browser closed after signing out: "Finesse tries to sign the agent out; however, that agent is
already signed out".

:class:`PresenceTracker` is told about presence per resource (``presence``), the agent's voice state
as the node knows it from CTI events (``agent_state``), the node's service status (``service``) and
the passing of time (``handle_timer``); ``outputs()`` drains the actions the node must take, in
order, and ``next_deadline`` says when ``handle_timer`` is next due (the vocabulary of
emu_base/sansio.py). Every input takes ``now`` first: no clock, no I/O. It is a part of the node
core (:mod:`finesse_emu.server.core`), which turns the actions into its outputs.

Rules (the choices where Cisco's chapter is silent are in docs/finesse.md):

* An agent is Available while at least one of its resources is; the last one going Unavailable is
  the agent going Unavailable (a second tab or device keeps the agent present).
* On Unavailable, a timer of ``delay`` (Timers.forced_logout_after_unavailable) starts only if the
  node is IN_SERVICE; otherwise nothing is done (:class:`Skipped`). An agent already signed out
  gets the timer too: "Finesse tries to sign the agent out; however, that agent is already signed
  out" (the node sends the request and takes the CTI server's refusal).
* Available again before it fires (a refresh, or the desktop reconnecting): cancelled.
* Signed out meanwhile (by the desktop on another node, or by the CTI server): cancelled.
* When it fires: on a call (TALKING, HOLD, RESERVED), the request waits
  until the call ends (the agent's state leaves those states); otherwise :class:`ForcedLogout`.
  This is the node's side of the glitch row and holds whatever LOAD is ("The agent will be signed
  out or put into Not Ready state when the call ends"). LOAD decides what the CTI server does with
  a 255 that reaches it during a call (cti_stub.model: with LOAD 1 "the Agent goes to Logged Out -
  System Failure immediately even though the call is still active").
* The node going OUT_OF_SERVICE cancels every pending forced logout: Finesse sends it because
  "Finesse is IN_SERVICE", and desktops leave an out-of-service node on purpose (failover).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# Voice states of an agent with a call up: a forced logout waits until the call ends.
CALL_STATES = frozenset({"TALKING", "HOLD", "RESERVED"})
SIGNED_OUT = "LOGOUT"


class Phase(StrEnum):
    TIMER = "timer"  # Unavailable, the 60 s running
    CALL = "call"  # the 60 s are over, the agent is on a call: waiting for it to end


class CancelReason(StrEnum):
    AVAILABLE = "available"  # the desktop came back (refresh, reconnect) before the request
    SIGNED_OUT = "signed_out"  # the agent signed out while the timer ran (or the call lasted)
    OUT_OF_SERVICE = "out_of_service"  # the node left IN_SERVICE


@dataclass
class Pending:
    """A forced logout on its way: the timer runs, or it waits for a call to end."""

    agent_id: str
    unavailable_since: float
    fires_at: float
    phase: Phase = Phase.TIMER
    call_wait_since: float | None = None


@dataclass(frozen=True)
class TimerStarted:
    agent_id: str
    at: float
    fires_at: float


@dataclass(frozen=True)
class Skipped:
    """Unavailable, but no timer: the node is not IN_SERVICE."""

    agent_id: str
    at: float
    reason: CancelReason


@dataclass(frozen=True)
class Cancelled:
    agent_id: str
    at: float
    reason: CancelReason
    unavailable_since: float


@dataclass(frozen=True)
class WaitingForCall:
    """The timer fired during a call: the request goes when the call ends."""

    agent_id: str
    at: float
    state: str


@dataclass(frozen=True)
class ForcedLogout:
    """Send SET_AGENT_STATE_REQ LOGOUT with ``reason_code`` (255) for ``agent_id`` now."""

    agent_id: str
    at: float
    reason_code: int
    unavailable_since: float
    call_wait: float  # seconds spent waiting for a call to end (0.0: no call)

    @property
    def waited(self) -> float:
        """Seconds from the Unavailable presence to the request."""
        return self.at - self.unavailable_since


Action = TimerStarted | Skipped | Cancelled | WaitingForCall | ForcedLogout


@dataclass
class _Agent:
    resources: set[str] = field(default_factory=set)
    state: str = SIGNED_OUT


class PresenceTracker:
    def __init__(self, delay: float, reason_code: int = 255, in_service: bool = False) -> None:
        if not delay >= 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay!r}")
        self.delay = delay
        self.reason_code = reason_code
        self.in_service = in_service
        self._agents: dict[str, _Agent] = {}
        self._pending: dict[str, Pending] = {}
        self._out: list[Action] = []

    # -- queries -----------------------------------------------------------------------------------
    def available(self, agent_id: str) -> bool:
        agent = self._agents.get(agent_id)
        return agent is not None and bool(agent.resources)

    def state(self, agent_id: str) -> str:
        agent = self._agents.get(agent_id)
        return SIGNED_OUT if agent is None else agent.state

    def pending(self, agent_id: str) -> Pending | None:
        return self._pending.get(agent_id)

    @property
    def pending_agents(self) -> dict[str, Pending]:
        return dict(self._pending)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` is next due (the earliest running timer), or None."""
        return min((p.fires_at for p in self._pending.values() if p.phase is Phase.TIMER), default=None)

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = self._agents[agent_id] = _Agent()
        return agent

    # -- inputs ------------------------------------------------------------------------------------
    def outputs(self) -> list[Action]:
        """Every action since the last call, in order."""
        out, self._out = self._out, []
        return out

    def presence(self, now: float, agent_id: str, resource: str, available: bool) -> None:
        """One resource of ``agent_id`` became (un)available."""
        self._out += self._presence(now, agent_id, resource, available)

    def _presence(self, now: float, agent_id: str, resource: str, available: bool) -> list[Action]:
        agent = self._agent(agent_id)
        was_available = bool(agent.resources)
        if available:
            agent.resources.add(resource)
        else:
            agent.resources.discard(resource)
        if bool(agent.resources) == was_available:
            return []
        if available:
            return self._cancel(agent_id, now, CancelReason.AVAILABLE)
        if not self.in_service:
            return [Skipped(agent_id, now, CancelReason.OUT_OF_SERVICE)]
        pending = Pending(agent_id, unavailable_since=now, fires_at=now + self.delay)
        self._pending[agent_id] = pending
        return [TimerStarted(agent_id, now, pending.fires_at)]

    def agent_state(self, now: float, agent_id: str, state: str) -> None:
        """The agent's voice state as the node now knows it (User ``state``: READY, TALKING, ...)."""
        self._out += self._agent_state(now, agent_id, state)

    def _agent_state(self, now: float, agent_id: str, state: str) -> list[Action]:
        self._agent(agent_id).state = state
        pending = self._pending.get(agent_id)
        if pending is None:
            return []
        if state == SIGNED_OUT:
            return self._cancel(agent_id, now, CancelReason.SIGNED_OUT)
        if pending.phase is Phase.CALL and state not in CALL_STATES:
            return [self._fire(pending, now)]
        return []

    def service(self, now: float, in_service: bool) -> None:
        """The node's status changed; leaving IN_SERVICE cancels every pending forced logout."""
        self.in_service = in_service
        if not in_service:
            for agent_id in list(self._pending):
                self._out += self._cancel(agent_id, now, CancelReason.OUT_OF_SERVICE)

    def session_lost(self) -> None:
        """The node's own session to its Notification Service ended: every resource is forgotten.

        After a reconnect Prosody reports the agents online again; one that left meanwhile is never
        reported, so it gets no forced logout from presence (the node was OUT_OF_SERVICE anyway).
        """
        for agent in self._agents.values():
            agent.resources.clear()

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``."""
        actions = self._out
        due = [p for p in self._pending.values() if p.phase is Phase.TIMER and p.fires_at <= now]
        for pending in sorted(due, key=lambda p: (p.fires_at, p.agent_id)):
            # A timer runs only while IN_SERVICE and signed in: service() and agent_state() cancel it.
            state = self.state(pending.agent_id)
            if state in CALL_STATES:
                pending.phase, pending.call_wait_since = Phase.CALL, now
                actions.append(WaitingForCall(pending.agent_id, now, state))
            else:
                actions.append(self._fire(pending, now))

    # -- internals ---------------------------------------------------------------------------------
    def _cancel(self, agent_id: str, now: float, reason: CancelReason) -> list[Action]:
        pending = self._pending.pop(agent_id, None)
        if pending is None:
            return []
        return [Cancelled(agent_id, now, reason, pending.unavailable_since)]

    def _fire(self, pending: Pending, now: float) -> ForcedLogout:
        del self._pending[pending.agent_id]
        call_wait = 0.0 if pending.call_wait_since is None else now - pending.call_wait_since
        return ForcedLogout(pending.agent_id, now, self.reason_code, pending.unavailable_since, call_wait)
