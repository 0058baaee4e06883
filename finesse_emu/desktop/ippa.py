"""The Finesse IP Phone Agent's failover logic as a sans-IO state machine.

Cisco, "Finesse IP Phone Agent Failover": triggers are a SystemInfo event saying the server is
OUT_OF_SERVICE and the Notification Service disconnecting. IPPA then polls SystemInfo and retries
XMPP every 5 s; after three failed attempts (about 15 s) it shows "server unavailable". It never
checks the subscriber: it keeps retrying the same server and shows the Sign In screen when both
resume; moving to the other server takes an explicit sign-in there.

Same commands, inputs and sans-IO surface as the desktop machine (``finesse_emu.desktop.machine``):
outputs pulled with ``outputs()``, the 5 s attempts as ``next_deadline()`` / ``handle_timer(now)``.
IPPA loads no gadgets, so a sign-in is SignIn then ConnectNotification.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from emu_base import history_events as H
from emu_base.history_events import HistoryEvent
from emu_base.timers import Timers
from finesse_emu.desktop.machine import (
    ConnectNotification,
    DropNotification,
    GetSystemInfo,
    Output,
    Record,
    Result,
    SignIn,
    SystemInfo,
    Trigger,
)


class IppaState(StrEnum):
    SIGNED_OUT = "SIGNED_OUT"
    SIGNING_IN = "SIGNING_IN"
    SIGNED_IN = "SIGNED_IN"
    RETRYING = "RETRYING"  # a trigger fired; attempts every 5 s, fewer than three failed so far
    SERVER_UNAVAILABLE = "SERVER_UNAVAILABLE"  # "displays a server unavailable message"
    SIGN_IN_SCREEN = "SIGN_IN_SCREEN"  # both services resumed: the agent has to sign in again


@dataclass
class IppaConfig:
    agent_id: str
    node: str
    timers: Timers
    # The emulated agent, like the desktop's (machine.py, Step.RETRY), presses Sign In again a poll
    # interval after a sign-in of its own failed (a timeout, a 401 while the AWDBs are out of reach).
    # Not after a failover: the Sign In screen shown when both services resume waits for the agent.
    sign_in_again: bool = True


class IppaMachine:
    def __init__(self, config: IppaConfig) -> None:
        self.config = config
        self.node = config.node
        self.state = IppaState.SIGNED_OUT
        self.xmpp_up = False
        self.failed_attempts = 0
        self._si_ok: bool | None = None  # this attempt's SystemInfo verdict, None while pending
        self._xmpp_pending = False
        self._attempting = False  # an attempt's SystemInfo / XMPP answers are awaited
        self._retry_due: float | None = None  # the next attempt ("every 5 seconds")
        self._sign_in_due: float | None = None  # the agent's next sign-in after a failed one
        self._out: list[Output] = []

    # -- the sans-IO surface -----------------------------------------------------------------------
    def outputs(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        due = [d for d in (self._retry_due, self._sign_in_due) if d is not None]
        return min(due) if due else None

    def handle_timer(self, now: float) -> None:
        if self._retry_due is not None and self._retry_due <= now:
            self._retry_due = None
            self._attempt(now)
        if self._sign_in_due is not None and self._sign_in_due <= now:
            self._sign_in_due = None
            if self.state is IppaState.SIGN_IN_SCREEN:
                self.sign_in(now)

    def _record(self, event: HistoryEvent) -> None:
        self._out.append(Record(event))

    @property
    def _agent(self) -> str:
        return self.config.agent_id

    def _to(self, state: IppaState) -> None:
        if state is not self.state:
            self._record(H.State(agent=self._agent, from_=self.state.value, to=state.value, node=self.node))
            self.state = state

    # -- signing in (also the agent's explicit sign-in on another server) ------------------------------
    def sign_in(self, now: float, node: str | None = None) -> None:
        self._sign_in_due = None
        if self.state in (IppaState.SIGNED_OUT, IppaState.SIGN_IN_SCREEN, IppaState.SERVER_UNAVAILABLE):
            if node is not None and node != self.node:
                # "the agent must exit the current Finesse service" and sign in to the other one.
                if self.xmpp_up:
                    self._out.append(DropNotification(self.node))
                self.xmpp_up = False
                self._retry_due = None
                self.node = node
            self._to(IppaState.SIGNING_IN)
            self._out.append(SignIn(self.node))

    def on_sign_in(self, now: float, node: str, result: Result) -> None:
        if self.state is not IppaState.SIGNING_IN or node != self.node:
            return
        if not result.ok:
            self._record(H.SignInFailed(agent=self._agent, node=node, error=result.error))
            self._sign_in_failed(now)
        elif self.xmpp_up:
            self._signed_in()
        else:
            self._xmpp_pending = True
            self._out.append(ConnectNotification(node))

    def _sign_in_failed(self, now: float) -> None:
        self._to(IppaState.SIGN_IN_SCREEN)
        if self.config.sign_in_again:
            self._sign_in_due = now + self.config.timers.ippa_poll_interval

    def _signed_in(self) -> None:
        self.failed_attempts = 0
        self._to(IppaState.SIGNED_IN)
        self._record(H.SignedIn(agent=self._agent, node=self.node))

    # -- triggers -----------------------------------------------------------------------------------
    def on_system_info_event(self, now: float, node: str, status: str) -> None:
        if node == self.node and status == "OUT_OF_SERVICE" and self.state is IppaState.SIGNED_IN:
            self._trigger(now, Trigger.SYSTEMINFO)

    def on_notification_lost(self, now: float) -> None:
        was_up, self.xmpp_up = self.xmpp_up, False
        if was_up and self.state is IppaState.SIGNED_IN:
            self._trigger(now, Trigger.NOTIFICATION)

    def _trigger(self, now: float, trigger: Trigger) -> None:
        self.failed_attempts = 0
        self._attempting = False
        self._to(IppaState.RETRYING)
        self._record(H.FailoverDetected(agent=self._agent, trigger=trigger.value, node=self.node))
        self._retry_due = now + self.config.timers.ippa_poll_interval

    # -- attempts every 5 s ------------------------------------------------------------------------------
    def _attempt(self, now: float) -> None:
        if self.state not in (IppaState.RETRYING, IppaState.SERVER_UNAVAILABLE):
            return
        # "Every 5 seconds": the next attempt is due 5 s after this one starts, however long
        # this one takes to fail (a refused connection, or a timeout).
        self._retry_due = now + self.config.timers.ippa_poll_interval
        if self._attempting:
            return  # the previous attempt has not answered yet
        self._attempting = True
        self._si_ok = None
        self._out.append(GetSystemInfo(self.node))
        if not self.xmpp_up:
            self._xmpp_pending = True
            self._out.append(ConnectNotification(self.node))

    def on_system_info(self, now: float, node: str, info: SystemInfo) -> None:
        if node != self.node or self.state not in (IppaState.RETRYING, IppaState.SERVER_UNAVAILABLE):
            return
        self._si_ok = info.reachable and info.status == "IN_SERVICE"
        self._attempt_done()

    def on_notification(self, now: float, node: str, result: Result) -> None:
        if node != self.node or not self._xmpp_pending:
            return
        self._xmpp_pending = False
        self.xmpp_up = result.ok
        if self.state is IppaState.SIGNING_IN:
            if result.ok:
                self._signed_in()
            else:
                self._record(
                    H.SignInFailed(agent=self._agent, node=node, error=result.error or "notification")
                )
                self._sign_in_failed(now)
        else:
            self._attempt_done()

    def _attempt_done(self) -> None:
        """An attempt ends when SystemInfo answered and XMPP (if it was down) answered too."""
        if self._si_ok is None or self._xmpp_pending:
            return
        self._attempting = False
        if self._si_ok and self.xmpp_up:
            self._retry_due = None
            if self.state is IppaState.SERVER_UNAVAILABLE:
                self._to(IppaState.SIGN_IN_SCREEN)  # "displays the Sign In screen"
            else:
                self._signed_in()  # recovered before the third failure: the agent saw nothing
            self._si_ok = None
            return
        self.failed_attempts += 1
        self._si_ok = None
        if self.failed_attempts >= self.config.timers.ippa_attempts and self.state is IppaState.RETRYING:
            self._to(IppaState.SERVER_UNAVAILABLE)
            self._record(
                H.ServerUnavailable(agent=self._agent, node=self.node, attempts=self.failed_attempts)
            )
