"""The Finesse desktop's failover logic as a sans-IO state machine.

Seed, "Finesse Desktop Failover": three triggers (a SystemInfo event saying the node is
OUT_OF_SERVICE, the Notification Service disconnected, the ``finesse`` user's presence turning
Unavailable); three reconnect attempts first when the Notification Service is the source; then the
reconnection logic, numbered as in the seed:

1. poll SystemInfo of the node the desktop is on every 20 s;
2. if it is IN_SERVICE, check the Notification Service;
3. check that the last CTI heartbeat status of the side being connected is a success;
4. if XMPP is disconnected, make the Notification Service request;
5. when both succeed and the node is IN_SERVICE, refresh the data.

Publisher preference: when the other node is found available, check the current one once more and
move only if it is still down; after moving, never move back by itself.

The machine never touches a socket or a clock: the shell feeds it inputs with ``now`` and carries
out the commands it returns, reporting each command's result as another input.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from emu_base import history_events as H
from emu_base.history_events import HistoryEvent
from emu_base.timers import Timers


class DesktopState(StrEnum):
    SIGNED_OUT = "SIGNED_OUT"
    SIGNING_IN = "SIGNING_IN"
    SIGNED_IN = "SIGNED_IN"
    RECONNECTING_NOTIFICATION = "RECONNECTING_NOTIFICATION"  # the three attempts before failover
    FAILING_OVER = "FAILING_OVER"  # the desktop's "disconnected" state: the reconnection logic runs


class Trigger(StrEnum):
    SYSTEMINFO = "systeminfo"
    NOTIFICATION = "notification"
    PRESENCE = "presence"


# -- commands (machine -> shell) -------------------------------------------------------------------
@dataclass(frozen=True)
class GetSystemInfo:
    node: str


@dataclass(frozen=True)
class ConnectNotification:
    node: str


@dataclass(frozen=True)
class DropNotification:
    """Close the XMPP session; ``presence=False`` drops the socket silently (a crashed browser)."""

    node: str
    presence: bool = True


@dataclass(frozen=True)
class SignIn:
    """REST sign-in (PUT User LOGIN with the extension; the agent is logged out and in again)."""

    node: str


@dataclass(frozen=True)
class LoadDesktop:
    """Gadgets and desktop resources, then the user's data. ``config``: reason codes, wrap-up
    reasons and workflows too, which a failover does not reload (seed, note on reloads)."""

    node: str
    config: bool


@dataclass(frozen=True)
class SignOut:
    node: str


@dataclass(frozen=True)
class SetTimer:
    name: str
    delay: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class Record:
    """One event for the run's history, typed (emu_base.history_events; docs/reports.md)."""

    entry: HistoryEvent

    @property
    def event(self) -> str:
        return self.entry.NAME

    @property
    def fields(self) -> dict[str, Any]:
        return self.entry.fields()


Command = (
    GetSystemInfo | ConnectNotification | DropNotification | SignIn | LoadDesktop | SignOut | SetTimer
    | CancelTimer | Record
)  # fmt: skip


# -- inputs (shell -> machine) --------------------------------------------------------------------
@dataclass(frozen=True)
class SystemInfo:
    """A SystemInfo GET's outcome. ``reachable=False``: no HTTP answer (refused, timeout)."""

    reachable: bool
    status: str = ""
    heartbeat_ok: bool = False

    @property
    def healthy(self) -> bool:
        # Steps 2 and 3: IN_SERVICE, and the CTI side it talks to answered its last heartbeat.
        return self.reachable and self.status == "IN_SERVICE" and self.heartbeat_ok


@dataclass(frozen=True)
class Result:
    """Outcome of SignIn / LoadDesktop / ConnectNotification. ``fatal``: do not retry (bad password)."""

    ok: bool
    error: str = ""
    fatal: bool = False


POLL_TIMER = "systeminfo_poll"
NOTIFICATION_TIMER = "notification_retry"
SIGN_IN_TIMER = "sign_in_retry"
TOKEN_TIMER = "token"


@dataclass
class DesktopConfig:
    agent_id: str
    home: str  # the node the desktop signs in to first
    other: str  # the other node of the pair ("" for a single node)
    timers: Timers
    # Not in the seed: the pause between the Notification Service reconnect attempts.
    notification_retry: float = 5.0
    # SSO refresh-token lifetime in seconds (None: not SSO).
    token_lifetime: float | None = None


class DesktopMachine:
    def __init__(self, config: DesktopConfig) -> None:
        self.config = config
        self.state = DesktopState.SIGNED_OUT
        self.node = config.home  # where the desktop is (or is trying to get back to)
        self.moved = False  # moved to the other node at least once (never moves back by itself)
        self.xmpp_up = False
        self.xmpp_node = ""  # the node whose Notification Service the session is on
        self._phase = ""  # step of the sign-in or of the reconnection logic in progress
        self._target = ""  # node the current step talks to
        self._attempts = 0
        self._lost_at = 0.0  # when the Notification Service session dropped (reconnect cadence)
        self._failover_since: float | None = None
        self._trigger: Trigger | None = None
        self._token_deadline: float | None = None
        self._token_stage = 0
        self._out: list[Command] = []

    # -- helpers -----------------------------------------------------------------------------------
    def _emit(self, *cmds: Command) -> None:
        self._out.extend(cmds)

    def _record(self, event: HistoryEvent) -> None:
        self._out.append(Record(event))

    @property
    def _agent(self) -> str:
        return self.config.agent_id

    def _flush(self) -> list[Command]:
        out, self._out = self._out, []
        return out

    def _to(self, state: DesktopState) -> None:
        if state is not self.state:
            self._record(H.State(agent=self._agent, from_=self.state.value, to=state.value, node=self.node))
            self.state = state

    @property
    def _poll(self) -> float:
        return self.config.timers.desktop_systeminfo_poll

    # -- public inputs -----------------------------------------------------------------------------
    def start(self, now: float) -> list[Command]:
        """Open the desktop and sign in to the home node (reason codes and workflows included)."""
        if self.state is DesktopState.SIGNED_OUT:
            self._sign_in(self.node)
            if self.config.token_lifetime is not None:
                self._token_deadline = now + self.config.token_lifetime
                self._token_stage = 0
                self._arm_token(now)
        return self._flush()

    def _sign_in(self, node: str) -> None:
        self._to(DesktopState.SIGNING_IN)
        self._phase, self._target = "signin", node
        self._emit(SignIn(node))

    def on_system_info(self, now: float, node: str, info: SystemInfo) -> list[Command]:
        if self.state is not DesktopState.FAILING_OVER or node != self._target:
            return []
        if self._phase == "poll":  # steps 1-3 on the node the desktop is on
            if info.healthy:
                self._notification(self.node)
            elif self.config.other:
                self._phase, self._target = "alternate", self._other()
                self._emit(GetSystemInfo(self._target))
            else:
                self._wait()
        elif self._phase == "alternate":
            if info.healthy:
                # Publisher preference: "it checks the publisher one more time".
                self._phase, self._target = "recheck", self.node
                self._emit(GetSystemInfo(self.node))
            else:
                self._wait()
        elif self._phase == "recheck":
            self._notification(self.node if info.healthy else self._other())
        return self._flush()

    def _other(self) -> str:
        return self.config.other if self.node == self.config.home else self.config.home

    def _notification(self, node: str) -> None:
        """Step 4: make the Notification Service request if XMPP is down (or on another node)."""
        if self.xmpp_up and self.xmpp_node != node:
            # The session is on the other node (an earlier move that did not complete, or the
            # node being left): close it, the Notification Service request goes to ``node``.
            self._emit(DropNotification(self.xmpp_node))
            self.xmpp_up = False
        self._phase, self._target = "notify", node
        if self.xmpp_up:
            self._refresh(node)
        else:
            self._emit(ConnectNotification(node))

    def _refresh(self, node: str) -> None:
        """Step 5: sign in again there (pending states are lost) and reload the desktop's data."""
        self._phase, self._target = "refresh", node
        self._emit(SignIn(node))

    def _wait(self) -> None:
        self._phase, self._target = "wait", ""
        self._emit(SetTimer(POLL_TIMER, self._poll))

    def on_notification(self, now: float, node: str, result: Result) -> list[Command]:
        if node != self._target:
            return []
        if self.state is DesktopState.SIGNING_IN and self._phase == "notify":
            if result.ok:
                self.xmpp_up, self.xmpp_node = True, node
                self._phase = "load"
                self._emit(LoadDesktop(node, config=True))
            else:
                self._sign_in_failed(result)
        elif self.state is DesktopState.RECONNECTING_NOTIFICATION:
            if result.ok:
                self.xmpp_up, self.xmpp_node = True, node
                self._emit(CancelTimer(NOTIFICATION_TIMER))
                self._phase, self._target = "", ""
                self._to(DesktopState.SIGNED_IN)
                self._record(
                    H.NotificationRestored(agent=self._agent, node=self.node, attempts=self._attempts)
                )
            elif self._attempts >= self.config.timers.notification_reconnect_attempts:
                self._failover(now, Trigger.NOTIFICATION)
            else:
                # A fixed cadence from the loss (attempt k at (k-1) x 5 s), as the IPPA's: a slow
                # failure does not push the later attempts back.
                due = self._lost_at + self._attempts * self.config.notification_retry
                self._emit(SetTimer(NOTIFICATION_TIMER, max(0.0, due - now)))
        elif self.state is DesktopState.FAILING_OVER and self._phase == "notify":
            if result.ok:
                self.xmpp_up, self.xmpp_node = True, node
                self._refresh(node)
            else:
                self._wait()
        return self._flush()

    def on_sign_in(self, now: float, node: str, result: Result) -> list[Command]:
        if node != self._target:
            return []
        if self.state is DesktopState.SIGNING_IN and self._phase == "signin":
            if result.ok:
                self.node = node
                self._phase = "notify"
                if self.xmpp_up:
                    self._phase = "load"
                    self._emit(LoadDesktop(node, config=True))
                else:
                    self._emit(ConnectNotification(node))
            else:
                self._sign_in_failed(result)
        elif self.state is DesktopState.FAILING_OVER and self._phase == "refresh":
            if result.ok:
                self._phase = "load"
                self._emit(LoadDesktop(node, config=False))
            else:
                self._wait()
        return self._flush()

    def _sign_in_failed(self, result: Result) -> None:
        self._record(H.SignInFailed(agent=self._agent, node=self._target, error=result.error))
        if result.fatal:
            self._to(DesktopState.SIGNED_OUT)
            self._phase, self._target = "", ""
        else:
            self._phase = "retry"
            self._emit(SetTimer(SIGN_IN_TIMER, self._poll))

    def on_loaded(self, now: float, node: str, result: Result) -> list[Command]:
        if node != self._target or self._phase != "load":
            return []
        if not result.ok:
            if self.state is DesktopState.FAILING_OVER:
                self._wait()
            else:
                self._sign_in_failed(result)
            return self._flush()
        failing_over = self.state is DesktopState.FAILING_OVER
        if failing_over and node != self.node:
            self.moved = True
            self._record(H.Moved(agent=self._agent, from_=self.node, to=node))
        self.node = node
        self._phase, self._target = "", ""
        self._to(DesktopState.SIGNED_IN)
        self._record(H.SignedIn(agent=self._agent, node=node))
        if failing_over and self._failover_since is not None:
            seconds = now - self._failover_since
            trigger = self._trigger.value if self._trigger else ""
            self._record(
                H.FailoverDone(agent=self._agent, node=node, seconds=round(seconds, 6), trigger=trigger)
            )
        self._failover_since, self._trigger = None, None
        return self._flush()

    def on_timer(self, now: float, name: str) -> list[Command]:
        if name == POLL_TIMER and self.state is DesktopState.FAILING_OVER and self._phase == "wait":
            self._phase, self._target = "poll", self.node
            self._emit(GetSystemInfo(self.node))
        elif name == NOTIFICATION_TIMER and self.state is DesktopState.RECONNECTING_NOTIFICATION:
            self._attempts += 1
            self._emit(ConnectNotification(self.node))
        elif name == SIGN_IN_TIMER and self.state is DesktopState.SIGNING_IN and self._phase == "retry":
            self._sign_in(self._target or self.node)
        elif name == TOKEN_TIMER:
            self._token(now)
        return self._flush()

    # -- triggers ----------------------------------------------------------------------------------
    def on_system_info_event(self, now: float, node: str, status: str) -> list[Command]:
        """A SystemInfo pubsub event: OUT_OF_SERVICE of the desktop's node is trigger 1."""
        if self.state is DesktopState.SIGNED_IN and node == self.node and status == "OUT_OF_SERVICE":
            self._failover(now, Trigger.SYSTEMINFO)
        return self._flush()

    def on_finesse_presence(self, now: float, available: bool) -> list[Command]:
        """The ``finesse`` user's presence (while the XMPP session itself is up): trigger 3."""
        if not available and self.state is DesktopState.SIGNED_IN:
            self._failover(now, Trigger.PRESENCE)
        return self._flush()

    def on_notification_lost(self, now: float) -> list[Command]:
        """The XMPP session dropped: trigger 2, after three reconnect attempts."""
        was_up, self.xmpp_up = self.xmpp_up, False
        if self.state is DesktopState.SIGNED_IN and was_up:
            self._to(DesktopState.RECONNECTING_NOTIFICATION)
            self._record(H.NotificationLost(agent=self._agent, node=self.node))
            self._attempts = 1
            self._lost_at = now
            self._phase, self._target = "reconnect", self.node
            self._emit(ConnectNotification(self.node))
        elif self.state is DesktopState.FAILING_OVER and self._phase in ("refresh", "load"):
            # Lost again while refreshing: the notification step has to be done again.
            self._wait()
        elif self.state is DesktopState.SIGNING_IN and self._phase == "load":
            self._sign_in_failed(Result(False, "notification lost while loading"))
        return self._flush()

    def _failover(self, now: float, trigger: Trigger) -> None:
        self._emit(CancelTimer(NOTIFICATION_TIMER))
        self._to(DesktopState.FAILING_OVER)
        self._failover_since, self._trigger = now, trigger
        self._record(H.FailoverDetected(agent=self._agent, trigger=trigger.value, node=self.node))
        self._phase, self._target = "poll", self.node
        self._emit(GetSystemInfo(self.node))

    # -- browser actions -----------------------------------------------------------------------------
    def close(self, now: float, crash: bool = False) -> list[Command]:
        """Close (best-effort Unavailable presence; also the Back button) or crash (nothing sent)."""
        if self.state is not DesktopState.SIGNED_OUT:
            self._emit(
                DropNotification(self.xmpp_node or self.node, presence=not crash), CancelTimer(POLL_TIMER)
            )
            self._emit(CancelTimer(NOTIFICATION_TIMER), CancelTimer(SIGN_IN_TIMER), CancelTimer(TOKEN_TIMER))
            self.xmpp_up = False
            self._phase, self._target = "", ""
            self._failover_since = None
            self._to(DesktopState.SIGNED_OUT)
            self._record((H.BrowserCrash if crash else H.BrowserClose)(agent=self._agent, node=self.node))
        return self._flush()

    def refresh(self, now: float) -> list[Command]:
        """Browser refresh: the page unloads (Unavailable presence) and signs in again, fully."""
        if self.state is DesktopState.SIGNED_OUT:
            return []
        self._emit(DropNotification(self.xmpp_node or self.node))
        self.xmpp_up = False
        self._failover_since = None
        self._record(H.BrowserRefresh(agent=self._agent, node=self.node))
        self._sign_in(self.node)
        return self._flush()

    # -- SSO refresh token -------------------------------------------------------------------------
    def _arm_token(self, now: float) -> None:
        assert self._token_deadline is not None
        t = self.config.timers
        marks = [
            t.refresh_token_first_warning,
            t.refresh_token_second_warning,
            t.refresh_token_countdown,
            0.0,
        ]
        while self._token_stage < len(marks):
            at = self._token_deadline - marks[self._token_stage]
            if at > now + 1e-9:
                self._emit(SetTimer(TOKEN_TIMER, at - now))
                return
            self._fire_token_stage(now)

    def _fire_token_stage(self, now: float) -> None:
        assert self._token_deadline is not None
        stage, self._token_stage = self._token_stage, self._token_stage + 1
        left = round(self._token_deadline - now, 6)
        if stage < 2:
            self._record(H.TokenWarning(agent=self._agent, seconds_left=left))
        elif stage == 2:
            self._record(H.TokenCountdown(agent=self._agent, seconds_left=left))
        else:
            self._record(H.TokenExpired(agent=self._agent, node=self.node))
            self._emit(SignOut(self.node), DropNotification(self.xmpp_node or self.node))
            self._emit(CancelTimer(POLL_TIMER), CancelTimer(NOTIFICATION_TIMER), CancelTimer(SIGN_IN_TIMER))
            self.xmpp_up = False
            self._phase, self._target = "", ""
            self._to(DesktopState.SIGNED_OUT)
            self._record(H.SignedOut(agent=self._agent, node=self.node, reason="token_expired"))

    def _token(self, now: float) -> None:
        if self._token_deadline is None or self.state is DesktopState.SIGNED_OUT:
            return
        self._fire_token_stage(now)
        self._arm_token(now)  # the next mark, if any (none after expiry)
