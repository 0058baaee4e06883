"""Which PG side is active: a pure state machine fed by the private link between the two sides.

Rules (exactly one side active, the preferred side wins ties):
- with no peer configured, the side is active at once;
- a side that hears an active peer goes idle (if both are active, the non-preferred side yields);
- the preferred side becomes active as soon as it knows the peer is not active;
- a side that has not heard an active peer for ``takeover_delay`` becomes active (models the PG
  switch-over after the active side died);
- a deactivated side goes idle and asks the peer to take over at once.

It speaks :mod:`emu_base.sansio`: inputs take ``now`` first, :meth:`DuplexArbiter.outputs` drains
its decisions, and the takeover delay is its one deadline (:meth:`DuplexArbiter.next_deadline`,
:meth:`DuplexArbiter.handle_timer`).

:class:`PeerWatch` keeps the private link itself honest while it is up: this side pings every
interval, and a peer silent for the link timeout is hung (a dead peer shows as EOF at once).
"""

from __future__ import annotations

from dataclasses import dataclass

from cti_stub.core import Role


@dataclass(frozen=True)
class BecomeActive:
    takeover: bool  # True when clients of another side were cut off (PG side switch)
    reason: str


@dataclass(frozen=True)
class BecomeIdle:
    reason: str


@dataclass(frozen=True)
class AskPeerToTakeOver:
    pass


Decision = BecomeActive | BecomeIdle | AskPeerToTakeOver


class DuplexArbiter:
    def __init__(self, side: str, preferred: bool, takeover_delay: float, has_peer: bool, now: float) -> None:
        self.side = side
        self.preferred = preferred
        self.takeover_delay = takeover_delay
        self.has_peer = has_peer
        self.role = Role.STARTING
        self.link_up = False
        self.peer_role: Role | None = None
        self._peer_active_last = now  # last time an active peer was known (start counts)
        self._was_behind_active = False
        self._out: list[Decision] = []
        if not has_peer:
            self._activate(False, "no peer side configured")

    def outputs(self) -> list[Decision]:
        out, self._out = self._out, []
        return out

    def _activate(self, takeover: bool, reason: str) -> None:
        if self.role is not Role.ACTIVE:
            self.role = Role.ACTIVE
            self._out.append(BecomeActive(takeover, reason))

    def _idle(self, reason: str) -> None:
        if self.role is not Role.IDLE:
            self.role = Role.IDLE
            self._out.append(BecomeIdle(reason))

    def on_link_up(self, now: float) -> None:
        self.link_up = True

    def on_link_down(self, now: float) -> None:
        self.link_up = False
        if self.peer_role is Role.ACTIVE:
            self._peer_active_last = now
        self.peer_role = None

    def on_peer_role(self, now: float, role: Role) -> None:
        self.peer_role = role
        if role is Role.ACTIVE:
            self._peer_active_last = now
            if self.role is not Role.ACTIVE:
                self._was_behind_active = True
                self._idle("peer side is active")
            elif not self.preferred:
                self._was_behind_active = True
                self._idle("both sides active: the preferred side keeps it")
        elif self.role is not Role.ACTIVE and self.preferred:
            self._activate(self._was_behind_active, "peer side is not active")
        elif self.role is Role.STARTING:
            self._idle("waiting for the preferred side")

    def on_takeover_request(self, now: float) -> None:
        self._activate(True, "peer side handed over")

    def deactivate(self, now: float) -> None:
        if self.role is not Role.ACTIVE:
            return
        self._idle("deactivated")
        self._peer_active_last = now  # hold off for takeover_delay before taking it back
        self._was_behind_active = True
        if self.link_up:
            self._out.append(AskPeerToTakeOver())

    def handle_timer(self, now: float) -> None:
        if self.role is Role.ACTIVE or self.peer_role is Role.ACTIVE:
            return
        if now - self._peer_active_last >= self.takeover_delay:
            self._activate(self._was_behind_active, "no active peer side")

    def next_deadline(self) -> float | None:
        if self.role is Role.ACTIVE or self.peer_role is Role.ACTIVE:
            return None
        return self._peer_active_last + self.takeover_delay


@dataclass(frozen=True)
class Ping:
    """Write a ping on the private link."""


@dataclass(frozen=True)
class PeerSilent:
    """Nothing heard for ``seconds``: the peer side is hung, drop the link."""

    seconds: float


PeerWatchOutput = Ping | PeerSilent


class PeerWatch:
    def __init__(self, now: float, ping_interval: float, timeout: float) -> None:
        self.ping_interval = ping_interval
        self.timeout = timeout
        self._next_ping = now  # the first ping goes out at once
        self._heard = now
        self._silent = False
        self._out: list[PeerWatchOutput] = []

    def outputs(self) -> list[PeerWatchOutput]:
        out, self._out = self._out, []
        return out

    def line_received(self, now: float) -> None:
        self._heard = now

    def next_deadline(self) -> float | None:
        if self._silent:
            return None
        return min(self._next_ping, self._heard + self.timeout)

    def handle_timer(self, now: float) -> None:
        if self._silent:
            return
        if now >= self._heard + self.timeout:
            self._silent = True
            self._out.append(PeerSilent(now - self._heard))
            return
        if now >= self._next_ping:
            self._out.append(Ping())
            while self._next_ping <= now:
                self._next_ping += self.ping_interval
