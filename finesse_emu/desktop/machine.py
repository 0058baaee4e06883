"""The Finesse desktop's failover logic as a sans-IO state machine.

Cisco, "Finesse Desktop Failover": three triggers (a SystemInfo event saying the node is
OUT_OF_SERVICE, the Notification Service disconnected, the ``finesse`` user's presence turning
Unavailable); three reconnect attempts first when the Notification Service is the source; then the
reconnection logic, numbered as in Cisco's chapter:

1. poll SystemInfo of the node the desktop is on every 20 s;
2. if it is IN_SERVICE, check the Notification Service;
3. check that the last CTI heartbeat status of the side being connected is a success;
4. if XMPP is disconnected, make the Notification Service request;
5. when both succeed and the node is IN_SERVICE, refresh the data.

Publisher preference: when the other node is found available, check the current one once more and
move only if it is still down; after moving, never move back by itself.

The machine speaks the sans-IO vocabulary (``emu_base.sansio``): it never touches a socket or a
clock; every input takes ``now`` first; the shell pulls the commands with ``outputs()``, carries
them out and reports each result as another input; its timers (the 20 s poll, the Notification
Service attempts, the sign-in retry, the SSO token marks) stay inside, seen from outside only as
``next_deadline()`` and fired by ``handle_timer(now)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
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
    reasons and workflows too, which a failover does not reload (Cisco, note on reloads)."""

    node: str
    config: bool


@dataclass(frozen=True)
class SignOut:
    """PUT User LOGOUT. ``reason_code``: the reasonCodeId it carries (0: none). The SSO token's
    expiry sends the forced logout's 255, which the node forwards to the CTI server (Cisco)."""

    node: str
    reason_code: int = 0


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


@dataclass(frozen=True)
class RefreshToken:
    """Single sign-on: ask the Identity Service for a new access token (answered with
    :meth:`DesktopMachine.on_tokens`, or :meth:`DesktopMachine.on_token_refresh_failed`)."""


Output = (
    GetSystemInfo
    | ConnectNotification
    | DropNotification
    | SignIn
    | LoadDesktop
    | SignOut
    | RefreshToken
    | Record
)

# Cisco's guidance for clients of the Identity Service: refresh the access token "after 75% of the
# token expiry time has elapsed".
REFRESH_AT = 0.75


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
    """Outcome of SignIn / LoadDesktop / ConnectNotification or of a signed-in user's request.

    ``status`` (0: no HTTP answer), ``timed_out`` (the desktop's request
    timeout ran out) and ``seconds`` are what the wire showed: the desktop's messages come from them.
    """

    ok: bool
    error: str = ""
    status: int = 0
    timed_out: bool = False
    seconds: float | None = None


# Cisco, "AWDB Failover": "If Cisco Finesse cannot connect to either of the Administration & Data
# servers and the cache has expired, the systems returns the following errors:"
INVALID_CREDENTIALS = "Invalid user ID or password"
OPERATION_TIMED_OUT = "Operation timed out"


def cisco_message(result: Result, signed_in: bool) -> str | None:
    """The error message a desktop shows for a failed request, from what a real Finesse puts on the
    wire (a 401 says no more than "Unauthorized"), or None when Cisco's chapter gives none.

    "Agents and supervisors who attempt to sign in to the Finesse desktop receive an 'Invalid user
    ID or password' error message." -- a sign-in answered 401.
    "Users who are already signed in to Cisco Finesse receive an 'Operation timed out' error
    message." -- a signed-in user's request answered 401 (the password that signed the user in no
    longer checks: the node's request to the AWDB timed out or was refused, and the 401 comes only
    after that wait), or not answered before the desktop's own request timeout.
    """
    if result.ok:
        return None
    if signed_in:
        return OPERATION_TIMED_OUT if result.status == 401 or result.timed_out else None
    return INVALID_CREDENTIALS if result.status == 401 else None


class Step(Enum):
    """Where in the sign-in or in the reconnection logic the desktop is: the request awaited, or
    the timer it waits on. A step's timer belongs to it: changing step drops the timer."""

    NONE = "none"  # nothing in progress (SIGNED_IN, SIGNED_OUT)
    SIGN_IN = "sign_in"  # SignIn sent (signing in)
    RETRY = "retry"  # a sign-in failed: the next one after a poll interval (timer)
    RECONNECT = "reconnect"  # the three Notification Service attempts (timer between them)
    POLL = "poll"  # step 1: SystemInfo of the node the desktop is on
    ALTERNATE = "alternate"  # SystemInfo of the other node
    RECHECK = "recheck"  # publisher preference: the desktop's node once more
    NOTIFY = "notify"  # step 4: ConnectNotification sent
    REFRESH = "refresh"  # step 5: signing in again
    LOAD = "load"  # LoadDesktop sent
    WAIT = "wait"  # the reconnection logic waits for its next poll (timer)


@dataclass
class DesktopConfig:
    agent_id: str
    home: str  # the node the desktop signs in to first
    other: str  # the other node of the pair ("" for a single node)
    timers: Timers


class DesktopMachine:
    def __init__(self, config: DesktopConfig) -> None:
        self.config = config
        self.state = DesktopState.SIGNED_OUT
        self.node = config.home  # where the desktop is (or is trying to get back to)
        self.moved = False  # moved to the other node at least once (never moves back by itself)
        self.xmpp_up = False
        self.xmpp_node = ""  # the node whose Notification Service the session is on
        self.step = Step.NONE  # step of the sign-in or of the reconnection logic in progress
        self._target = ""  # node the current step talks to
        self._step_due: float | None = None  # the current step's timer (RETRY, RECONNECT, WAIT)
        self._attempts = 0
        self._lost_at = 0.0  # when the Notification Service session dropped (reconnect cadence)
        self._failover_since: float | None = None
        self._trigger: Trigger | None = None
        self._token_deadline: float | None = None
        self._token_due: float | None = None  # the next SSO token mark
        self._token_stage = 0
        self._refresh_due: float | None = None  # when the SSO access token is refreshed
        self._out: list[Output] = []

    # -- the sans-IO surface -----------------------------------------------------------------------
    def outputs(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        step, token, refresh = self._step_due, self._token_due, self._refresh_due
        if token is None and refresh is None:  # no single sign-on: the common case, kept cheap
            return step
        return min(d for d in (step, token, refresh) if d is not None)

    def handle_timer(self, now: float) -> None:
        """Fire whatever is due at ``now``, the earlier first (the step's timer, then the token
        marks, then the access token's refresh on a tie)."""
        while True:
            step, token, refresh = self._step_due, self._token_due, self._refresh_due
            due = [d for d in (step, token, refresh) if d is not None and d <= now]
            if not due:
                return
            first = min(due)
            if step == first:
                self._step_due = None
                self._step_timer(now)
            elif token == first:
                self._token_due = None
                self._token(now)
            else:
                self._refresh_due = None
                if self.state is not DesktopState.SIGNED_OUT:
                    self._emit(RefreshToken())

    # -- helpers -----------------------------------------------------------------------------------
    def _emit(self, *cmds: Output) -> None:
        self._out.extend(cmds)

    def _record(self, event: HistoryEvent) -> None:
        self._out.append(Record(event))

    @property
    def _agent(self) -> str:
        return self.config.agent_id

    def _to(self, state: DesktopState) -> None:
        if state is not self.state:
            self._record(H.State(agent=self._agent, from_=self.state.value, to=state.value, node=self.node))
            self.state = state

    def _go(self, step: Step, target: str = "", due: float | None = None) -> None:
        """Enter ``step`` (talking to ``target``); its timer, if any, fires at ``due``."""
        self.step, self._target, self._step_due = step, target, due

    @property
    def _poll(self) -> float:
        return self.config.timers.desktop_systeminfo_poll

    # -- public inputs -----------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Open the desktop and sign in to the home node (reason codes and workflows included)."""
        if self.state is DesktopState.SIGNED_OUT:
            self._sign_in(self.node)

    def _sign_in(self, node: str) -> None:
        self._to(DesktopState.SIGNING_IN)
        self._go(Step.SIGN_IN, node)
        self._emit(SignIn(node))

    def on_system_info(self, now: float, node: str, info: SystemInfo) -> None:
        if self.state is not DesktopState.FAILING_OVER or node != self._target:
            return
        if self.step is Step.POLL:  # steps 1-3 on the node the desktop is on
            if info.healthy:
                self._notification(self.node)
            elif self.config.other:
                self._go(Step.ALTERNATE, self._other())
                self._emit(GetSystemInfo(self._target))
            else:
                self._wait(now)
        elif self.step is Step.ALTERNATE:
            if info.healthy:
                # Publisher preference: "it checks the publisher one more time".
                self._go(Step.RECHECK, self.node)
                self._emit(GetSystemInfo(self.node))
            else:
                self._wait(now)
        elif self.step is Step.RECHECK:
            self._notification(self.node if info.healthy else self._other())

    def _other(self) -> str:
        return self.config.other if self.node == self.config.home else self.config.home

    def _notification(self, node: str) -> None:
        """Step 4: make the Notification Service request if XMPP is down (or on another node)."""
        if self.xmpp_up and self.xmpp_node != node:
            # The session is on the other node (an earlier move that did not complete, or the
            # node being left): close it, the Notification Service request goes to ``node``.
            self._emit(DropNotification(self.xmpp_node))
            self.xmpp_up = False
        self._go(Step.NOTIFY, node)
        if self.xmpp_up:
            self._refresh(node)
        else:
            self._emit(ConnectNotification(node))

    def _refresh(self, node: str) -> None:
        """Step 5: sign in again there (pending states are lost) and reload the desktop's data."""
        self._go(Step.REFRESH, node)
        self._emit(SignIn(node))

    def _wait(self, now: float) -> None:
        self._go(Step.WAIT, due=now + self._poll)

    def on_notification(self, now: float, node: str, result: Result) -> None:
        if node != self._target:
            return
        if self.state is DesktopState.SIGNING_IN and self.step is Step.NOTIFY:
            if result.ok:
                self.xmpp_up, self.xmpp_node = True, node
                self._go(Step.LOAD, node)
                self._emit(LoadDesktop(node, config=True))
            else:
                self._sign_in_failed(now, result)
        elif self.state is DesktopState.RECONNECTING_NOTIFICATION:
            if result.ok:
                self.xmpp_up, self.xmpp_node = True, node
                self._go(Step.NONE)
                self._to(DesktopState.SIGNED_IN)
                self._record(
                    H.NotificationRestored(agent=self._agent, node=self.node, attempts=self._attempts)
                )
            elif self._attempts >= self.config.timers.notification_reconnect_attempts:
                self._failover(now, Trigger.NOTIFICATION)
            else:
                # A fixed cadence from the loss (attempt k at (k-1) x 5 s), as the IPPA's: a slow
                # failure does not push the later attempts back.
                due = self._lost_at + self._attempts * self.config.timers.notification_reconnect_pause
                self._step_due = max(due, now)
        elif self.state is DesktopState.FAILING_OVER and self.step is Step.NOTIFY:
            if result.ok:
                self.xmpp_up, self.xmpp_node = True, node
                self._refresh(node)
            else:
                self._wait(now)

    def on_sign_in(self, now: float, node: str, result: Result) -> None:
        if node != self._target:
            return
        if self.state is DesktopState.SIGNING_IN and self.step is Step.SIGN_IN:
            if result.ok:
                self.node = node
                if self.xmpp_up:
                    self._go(Step.LOAD, node)
                    self._emit(LoadDesktop(node, config=True))
                else:
                    self._go(Step.NOTIFY, node)
                    self._emit(ConnectNotification(node))
            else:
                self._sign_in_failed(now, result)
        elif self.state is DesktopState.FAILING_OVER and self.step is Step.REFRESH:
            if result.ok:
                self._go(Step.LOAD, node)
                self._emit(LoadDesktop(node, config=False))
            else:
                # Still signed in to the desktop: its refresh refused is the signed-in user's case.
                self._show(node, "sign_in", result, signed_in=True)
                self._wait(now)

    def on_request(self, now: float, node: str, request: str, result: Result) -> None:
        """The outcome of a request the signed-in user made (``request``: method and path, e.g. an
        agent state change); its events arrive separately. Only a message is derived from it."""
        if self.state not in (DesktopState.SIGNED_OUT, DesktopState.SIGNING_IN):
            self._show(node, request, result, signed_in=True)

    def _show(self, node: str, request: str, result: Result, signed_in: bool) -> None:
        message = cisco_message(result, signed_in)
        if message is not None:
            self._record(
                H.ErrorShown(
                    agent=self._agent,
                    node=node,
                    message=message,
                    request=request,
                    status=result.status,
                    seconds=None if result.seconds is None else round(result.seconds, 6),
                )
            )

    def _sign_in_failed(self, now: float, result: Result) -> None:
        self._record(H.SignInFailed(agent=self._agent, node=self._target, error=result.error))
        self._show(self._target, "sign_in", result, signed_in=False)
        # Always tried again a poll later: no answer of a real Finesse tells a hopeless sign-in
        # (a wrong password) from one worth repeating (the AWDBs out of reach: the same 401).
        self._go(Step.RETRY, self._target, due=now + self._poll)

    def on_loaded(self, now: float, node: str, result: Result) -> None:
        if node != self._target or self.step is not Step.LOAD:
            return
        if not result.ok:
            if self.state is DesktopState.FAILING_OVER:
                self._wait(now)
            else:
                self._sign_in_failed(now, result)
            return
        failing_over = self.state is DesktopState.FAILING_OVER
        if failing_over and node != self.node:
            self.moved = True
            self._record(H.Moved(agent=self._agent, from_=self.node, to=node))
        self.node = node
        self._go(Step.NONE)
        self._to(DesktopState.SIGNED_IN)
        self._record(H.SignedIn(agent=self._agent, node=node))
        if failing_over and self._failover_since is not None:
            seconds = now - self._failover_since
            trigger = self._trigger.value if self._trigger else ""
            self._record(
                H.FailoverDone(agent=self._agent, node=node, seconds=round(seconds, 6), trigger=trigger)
            )
        self._failover_since, self._trigger = None, None

    def _step_timer(self, now: float) -> None:
        """The current step's timer (only WAIT, RECONNECT and RETRY arm one)."""
        if self.step is Step.WAIT:
            self._go(Step.POLL, self.node)
            self._emit(GetSystemInfo(self.node))
        elif self.step is Step.RECONNECT:
            self._attempts += 1
            self._emit(ConnectNotification(self.node))
        elif self.step is Step.RETRY:
            self._sign_in(self._target or self.node)

    # -- triggers ----------------------------------------------------------------------------------
    def on_system_info_event(self, now: float, node: str, status: str) -> None:
        """A SystemInfo pubsub event: OUT_OF_SERVICE of the desktop's node is trigger 1."""
        if self.state is DesktopState.SIGNED_IN and node == self.node and status == "OUT_OF_SERVICE":
            self._failover(now, Trigger.SYSTEMINFO)

    def on_finesse_presence(self, now: float, available: bool) -> None:
        """The ``finesse`` user's presence (while the XMPP session itself is up): trigger 3."""
        if not available and self.state is DesktopState.SIGNED_IN:
            self._failover(now, Trigger.PRESENCE)

    def on_notification_lost(self, now: float) -> None:
        """The XMPP session dropped: trigger 2, after three reconnect attempts."""
        was_up, self.xmpp_up = self.xmpp_up, False
        if self.state is DesktopState.SIGNED_IN and was_up:
            self._to(DesktopState.RECONNECTING_NOTIFICATION)
            self._record(H.NotificationLost(agent=self._agent, node=self.node))
            self._attempts = 1
            self._lost_at = now
            self._go(Step.RECONNECT, self.node)
            self._emit(ConnectNotification(self.node))
        elif self.state is DesktopState.FAILING_OVER and self.step in (Step.REFRESH, Step.LOAD):
            # Lost again while refreshing: the notification step has to be done again.
            self._wait(now)
        elif self.state is DesktopState.SIGNING_IN and self.step is Step.LOAD:
            self._sign_in_failed(now, Result(False, "notification lost while loading"))

    def _failover(self, now: float, trigger: Trigger) -> None:
        self._to(DesktopState.FAILING_OVER)
        self._failover_since, self._trigger = now, trigger
        self._record(H.FailoverDetected(agent=self._agent, trigger=trigger.value, node=self.node))
        self._go(Step.POLL, self.node)
        self._emit(GetSystemInfo(self.node))

    # -- browser actions -----------------------------------------------------------------------------
    def close(self, now: float, crash: bool = False) -> None:
        """Close (best-effort Unavailable presence; also the Back button) or crash (nothing sent)."""
        if self.state is not DesktopState.SIGNED_OUT:
            self._emit(DropNotification(self.xmpp_node or self.node, presence=not crash))
            self.xmpp_up = False
            self._go(Step.NONE)
            self._token_due = self._refresh_due = self._token_deadline = None
            self._failover_since = None
            self._to(DesktopState.SIGNED_OUT)
            self._record((H.BrowserCrash if crash else H.BrowserClose)(agent=self._agent, node=self.node))

    def refresh(self, now: float) -> None:
        """Browser refresh: the page unloads (Unavailable presence) and signs in again, fully."""
        if self.state is DesktopState.SIGNED_OUT:
            return
        self._emit(DropNotification(self.xmpp_node or self.node))
        self.xmpp_up = False
        self._failover_since = None
        self._record(H.BrowserRefresh(agent=self._agent, node=self.node))
        self._sign_in(self.node)

    # -- SSO refresh token -------------------------------------------------------------------------
    def on_tokens(
        self, now: float, access_expires_in: float, refresh_expires_in: float, signed_in: bool
    ) -> None:
        """Single sign-on: tokens from the Identity Service (``signed_in``: a sign-in there, else a
        refresh). The session ends with the refresh token: a sign-in sets the chapter's marks from
        its expiry; a refresh keeps them (the refresh token is not renewed) and only moves the next
        refresh of the access token."""
        if signed_in:
            # The forced logout must still carry a valid access token, and the last access token
            # dies with the refresh token: the session ends a margin before (docs/finesse.md).
            margin = min(self.config.timers.sso_logout_margin, refresh_expires_in / 2)
            self._token_deadline = now + refresh_expires_in - margin
            self._token_stage = 0
            self._token_due = None
            self._arm_token(now)
        deadline = self._token_deadline
        if deadline is not None and now + access_expires_in < deadline:
            self._refresh_due = now + REFRESH_AT * access_expires_in
        else:
            self._refresh_due = None  # this access token lasts to the end of the session

    def on_token_refresh_failed(self, now: float) -> None:
        """The Identity Service did not answer the refresh: try again a request timeout later (an
        expired refresh token changes nothing: the marks end the session)."""
        if self.state is not DesktopState.SIGNED_OUT and self._token_deadline is not None:
            self._refresh_due = min(now + self.config.timers.desktop_request_timeout, self._token_deadline)

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
                self._token_due = at
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
            # Chapter "Finesse Failover Mechanisms", The Refresh Token has expired: "Finesse desktop
            # sends a forced logout request to the CTI server." / "The Finesse server forwards the
            # forced logout request to the CTI server." So the sign-out carries the forced logout's
            # reason code (255), and the CTI server's LOAD decides: Not Ready or Logged Out.
            forced = SignOut(self.node, self.config.timers.forced_logout_reason_code)
            self._emit(forced, DropNotification(self.xmpp_node or self.node))
            self.xmpp_up = False
            self._refresh_due = None
            self._go(Step.NONE)
            self._to(DesktopState.SIGNED_OUT)
            self._record(H.SignedOut(agent=self._agent, node=self.node, reason="token_expired"))

    def _token(self, now: float) -> None:
        if self._token_deadline is None or self.state is DesktopState.SIGNED_OUT:
            return
        self._fire_token_stage(now)
        self._arm_token(now)  # the next mark, if any (none after expiry)
