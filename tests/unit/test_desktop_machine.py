"""The desktop failover algorithm, every branch, on a virtual clock (no sockets, no sleeping)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from emu_base.clock import ManualClock
from emu_base.sansio import Driver
from emu_base.timers import Timers
from finesse_emu.desktop.machine import (
    ConnectNotification,
    DesktopConfig,
    DesktopMachine,
    DesktopState,
    DropNotification,
    GetSystemInfo,
    LoadDesktop,
    Output,
    Record,
    RefreshToken,
    Result,
    SignIn,
    SignOut,
    Step,
    SystemInfo,
    cisco_message,
)
from finesse_emu.ids.core import Grant, IdpUser, IdsCore, OAuthError
from finesse_emu.ids.tokens import TokenError, TokenType, validate

PUB, SUB = "finesse-a", "finesse-b"


@dataclass
class NodeSim:
    reachable: bool = True
    status: str = "IN_SERVICE"
    heartbeat_ok: bool = True
    xmpp_ok: bool = True
    sign_in: Result = field(default_factory=lambda: Result(True))


def state(w: World) -> Any:
    """The machine's state, read through a call (mypy would narrow ``w.m.state`` across steps)."""
    return w.m.state


class World:
    """Answers the machine's commands at once from the nodes' health; its timers on a virtual clock."""

    def __init__(self, machine: Any) -> None:
        self.m = machine
        self.now = 0.0
        self.nodes = {PUB: NodeSim(), SUB: NodeSim()}
        self.log: list[Output] = []
        self.records: list[Record] = []
        # Single sign-on: the Identity Service's pure core, and the access token the desktop holds.
        self.ids: IdsCore | None = None
        self.grant: Grant | None = None
        self.ids_up = True
        self.sign_out_token_valid: list[bool] = []

    def run(self) -> None:
        """Carry out what the machine produced, in order, and what it produces in answer."""
        queue = self.m.outputs()
        while queue:
            cmd = queue.pop(0)
            self.log.append(cmd)
            self._execute(cmd)
            queue.extend(self.m.outputs())

    def _execute(self, cmd: Output) -> None:
        m, now = self.m, self.now
        if isinstance(cmd, Record):
            self.records.append(cmd)
        elif isinstance(cmd, GetSystemInfo):
            n = self.nodes[cmd.node]
            m.on_system_info(now, cmd.node, SystemInfo(n.reachable, n.status, n.heartbeat_ok))
        elif isinstance(cmd, ConnectNotification):
            n = self.nodes[cmd.node]
            m.on_notification(now, cmd.node, Result(n.reachable and n.xmpp_ok))
        elif isinstance(cmd, SignIn):
            n = self.nodes[cmd.node]
            ok = n.reachable and n.status == "IN_SERVICE"
            m.on_sign_in(now, cmd.node, n.sign_in if ok or not n.sign_in.ok else Result(False, "503"))
        elif isinstance(cmd, LoadDesktop):
            n = self.nodes[cmd.node]
            m.on_loaded(now, cmd.node, Result(n.reachable))
        elif isinstance(cmd, RefreshToken):
            assert self.ids is not None and self.grant is not None
            try:
                if not self.ids_up:
                    raise OAuthError(0, "", "unreachable")
                form = {"grant_type": "refresh_token", "refresh_token": self.grant.refresh_token}
                self.grant = self.ids.token(now, form)
            except OAuthError:
                m.on_token_refresh_failed(now)
            else:
                m.on_tokens(now, self.grant.expires_in, self.grant.refresh_expires_in, False)
        elif isinstance(cmd, SignOut) and self.ids is not None and self.grant is not None:
            try:
                validate(self.ids.key, self.grant.access_token, now, TokenType.ACCESS)
                self.sign_out_token_valid.append(True)
            except TokenError:
                self.sign_out_token_valid.append(False)

    def sso_sign_in(self, timers: Timers) -> None:
        """What the shell does before the REST sign-in: the Identity Service's code flow."""
        self.ids = IdsCore(b"key", timers, [IdpUser("1000", "agent0001", "pass1000")])
        redirect = "https://desktop/sso"
        code, _ = self.ids.sign_in(
            self.now,
            {
                "response_type": "code",
                "client_id": "desktop",
                "redirect_uri": redirect,
                "username": "1000",
                "password": "pass1000",
            },
        )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "desktop",
            "redirect_uri": redirect,
        }
        self.grant = self.ids.token(self.now, form)
        self.m.on_tokens(self.now, self.grant.expires_in, self.grant.refresh_expires_in, True)

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while (due := self.m.next_deadline()) is not None and due <= end:
            self.now = due
            self.m.handle_timer(due)
            self.run()
        self.now = end

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r.fields for r in self.records if r.event == name]

    def commands(self, kind: type) -> list[Any]:
        return [c for c in self.log if isinstance(c, kind)]


def world(**config: Any) -> World:
    cfg = DesktopConfig(agent_id="1000", home=PUB, other=SUB, timers=Timers.build(1.0), **config)
    w = World(DesktopMachine(cfg))
    w.m.start(w.now)
    w.run()
    return w


def test_sign_in_loads_config_and_gadgets_then_signed_in() -> None:
    w = world()
    assert state(w) is DesktopState.SIGNED_IN and w.m.node == PUB and w.m.xmpp_up
    assert [type(c).__name__ for c in w.log if not isinstance(c, Record)] == [
        "SignIn",
        "ConnectNotification",
        "LoadDesktop",
    ]
    assert w.commands(LoadDesktop) == [LoadDesktop(PUB, config=True)]
    assert w.events("signed_in") == [{"agent": "1000", "node": PUB}]


def kill_publisher(w: World) -> None:
    w.nodes[PUB] = NodeSim(reachable=False)
    w.m.on_notification_lost(w.now)
    w.run()


def test_publisher_killed_three_notification_attempts_then_moves_to_the_subscriber() -> None:
    w = world()
    w.now = 100.0
    kill_publisher(w)
    assert state(w) is DesktopState.RECONNECTING_NOTIFICATION
    w.advance(9.9)
    assert len(w.commands(ConnectNotification)) == 1 + 2  # first sign-in, then attempts 1 and 2
    assert state(w) is DesktopState.RECONNECTING_NOTIFICATION
    w.advance(0.1)  # third attempt at +10 s fails: the failover logic begins
    (detected,) = w.events("failover_detected")
    assert detected["trigger"] == "notification" and w.now == 110.0
    # Poll the publisher (down), the subscriber (healthy), the publisher once more (still down): move.
    polls = [c.node for c in w.commands(GetSystemInfo)]
    assert polls == [PUB, SUB, PUB]
    assert state(w) is DesktopState.SIGNED_IN and w.m.node == SUB and w.m.moved
    assert w.commands(LoadDesktop)[-1] == LoadDesktop(SUB, config=False)  # config is not reloaded
    (done,) = w.events("failover_done")
    assert done["node"] == SUB and done["seconds"] == 0.0
    assert w.events("moved") == [{"agent": "1000", "from": PUB, "to": SUB}]


def test_reconnect_attempts_keep_their_cadence_when_each_failure_is_slow() -> None:
    # Attempt k is due (k-1) x 5 s after the loss, however long the failed attempts took to fail
    # (a loaded machine): slow failures must not push the detection back.
    w = world()
    w.now = 100.0
    w.nodes[PUB] = NodeSim(reachable=False)
    w.m.on_notification_lost(w.now)  # attempt 1 is under way: answered by hand below
    assert ConnectNotification(PUB) in w.m.outputs()
    w.log.clear()
    w.now = 101.5  # attempt 1 took 1.5 s to fail
    w.m.on_notification(w.now, PUB, Result(False, "refused"))
    w.run()
    assert w.m.step is Step.RECONNECT and w.m.next_deadline() == 105.0
    w.advance(3.5)  # attempt 2 at 105 s (not 106.5 s); World answers at once
    assert [c.node for c in w.commands(ConnectNotification)] == [PUB]
    assert w.m.step is Step.RECONNECT and w.m.next_deadline() == 110.0
    w.advance(4.9)
    assert state(w) is DesktopState.RECONNECTING_NOTIFICATION and not w.events("failover_detected")
    w.advance(0.1)  # attempt 3 at 110 s fails: detected at the floor, not at 111.5 s
    (detected,) = w.events("failover_detected")
    assert detected["trigger"] == "notification"
    assert [c.node for c in w.commands(ConnectNotification)][:2] == [PUB, PUB]
    assert w.m.node == SUB


def test_no_automatic_return_after_the_publisher_recovers() -> None:
    w = world()
    kill_publisher(w)
    w.advance(10)
    assert w.m.node == SUB
    w.nodes[PUB] = NodeSim()
    w.advance(3600)
    # Events about the publisher no longer concern this desktop; nothing polls or moves.
    w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE")
    w.run()
    w.m.on_system_info_event(w.now, PUB, "IN_SERVICE")
    w.run()
    assert w.m.node == SUB and state(w) is DesktopState.SIGNED_IN
    assert [c.node for c in w.commands(GetSystemInfo)] == [PUB, SUB, PUB]
    # If the subscriber fails later, the publisher is the other node: failing over to it is normal.
    w.nodes[SUB] = NodeSim(reachable=False)
    w.m.on_notification_lost(w.now)
    w.run()
    w.advance(10)
    assert w.m.node == PUB and state(w) is DesktopState.SIGNED_IN


def test_publisher_recovering_during_the_check_keeps_the_desktop_there() -> None:
    w = world()
    w.log.clear()
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE")
    # Run the steps by hand to recover the publisher between the subscriber check and the re-check.
    assert w.m.outputs()[-1] == GetSystemInfo(PUB)
    w.m.on_system_info(w.now, PUB, SystemInfo(True, "OUT_OF_SERVICE", False))
    assert w.m.outputs() == [GetSystemInfo(SUB)]
    w.m.on_system_info(w.now, SUB, SystemInfo(True, "IN_SERVICE", True))
    assert w.m.outputs() == [GetSystemInfo(PUB)]  # "it checks the publisher one more time"
    w.nodes[PUB].status = "IN_SERVICE"
    w.m.on_system_info(w.now, PUB, SystemInfo(True, "IN_SERVICE", True))
    w.run()
    # XMPP stayed up (the trigger was the SystemInfo event): no Notification request, just refresh.
    assert state(w) is DesktopState.SIGNED_IN and w.m.node == PUB and not w.m.moved
    assert len(w.commands(ConnectNotification)) == 0
    assert [type(c).__name__ for c in w.log if not isinstance(c, Record)] == ["SignIn", "LoadDesktop"]


def test_subscriber_with_a_failing_cti_heartbeat_is_not_used() -> None:
    w = world()
    w.nodes[PUB] = NodeSim(status="OUT_OF_SERVICE", heartbeat_ok=False)
    w.nodes[SUB] = NodeSim(status="IN_SERVICE", heartbeat_ok=False)  # step 3 fails
    w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE")
    w.run()
    assert state(w) is DesktopState.FAILING_OVER
    assert w.m.step is Step.WAIT and w.m.next_deadline() == 20.0
    w.advance(20)
    assert [c.node for c in w.commands(GetSystemInfo)] == [PUB, SUB, PUB, SUB]
    w.nodes[SUB].heartbeat_ok = True
    w.advance(20)
    assert w.m.node == SUB and state(w) is DesktopState.SIGNED_IN
    assert w.events("failover_done")[0]["seconds"] == 40.0


def test_cti_failover_both_nodes_out_of_service_then_back_on_the_same_node() -> None:
    w = world()
    for n in w.nodes.values():
        n.status, n.heartbeat_ok = "OUT_OF_SERVICE", False
    w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE")
    w.run()
    w.advance(20)
    assert state(w) is DesktopState.FAILING_OVER
    for n in w.nodes.values():
        n.status, n.heartbeat_ok = "IN_SERVICE", True
    w.advance(20)  # the next poll finds the publisher healthy first
    assert state(w) is DesktopState.SIGNED_IN and w.m.node == PUB and not w.m.moved
    assert w.events("failover_done")[0] == {
        "agent": "1000",
        "node": PUB,
        "seconds": 40.0,
        "trigger": "systeminfo",
    }


def test_presence_unavailable_is_a_trigger_and_a_dead_notification_is_reconnected() -> None:
    w = world()
    w.nodes[PUB].xmpp_ok = False  # Prosody of the publisher down, its REST fine
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.m.on_finesse_presence(w.now, available=False)
    w.run()
    assert w.events("failover_detected")[0]["trigger"] == "presence"
    assert w.m.node == SUB
    # The XMPP session to the publisher was still up: it is closed before connecting to the subscriber.
    assert DropNotification(PUB) in w.log


def test_notification_restored_within_three_attempts_is_not_a_failover() -> None:
    w = world()
    w.nodes[PUB].xmpp_ok = False
    w.m.on_notification_lost(w.now)
    w.run()
    w.nodes[PUB].xmpp_ok = True
    w.advance(5)
    assert state(w) is DesktopState.SIGNED_IN and w.m.node == PUB
    assert w.events("failover_detected") == [] and w.events("notification_restored")[0]["attempts"] == 2


def test_triggers_are_ignored_while_failing_over_and_stale_results_are_dropped() -> None:
    w = world()
    w.nodes[PUB] = NodeSim(status="OUT_OF_SERVICE", heartbeat_ok=False)
    w.nodes[SUB] = NodeSim(status="OUT_OF_SERVICE", heartbeat_ok=False)
    w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE")
    w.run()
    before = list(w.log)
    w.m.on_finesse_presence(w.now, False)
    w.run()
    w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE")
    w.run()
    assert w.log == before and len(w.events("failover_detected")) == 1
    # A late answer for a node the machine is not asking about changes nothing.
    w.m.on_system_info(w.now, SUB, SystemInfo(True, "IN_SERVICE", True))
    w.m.on_sign_in(w.now, SUB, Result(True))
    w.m.on_loaded(w.now, SUB, Result(True))
    assert w.m.outputs() == []
    assert state(w) is DesktopState.FAILING_OVER


def test_single_node_deployment_just_keeps_polling_its_node() -> None:
    cfg = DesktopConfig(agent_id="1000", home=PUB, other="", timers=Timers.build(1.0))
    w = World(DesktopMachine(cfg))
    w.m.start(0.0)
    w.run()
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE")
    w.run()
    w.advance(60)
    assert [c.node for c in w.commands(GetSystemInfo)] == [PUB] * 4
    w.nodes[PUB].status = "IN_SERVICE"
    w.advance(20)
    assert state(w) is DesktopState.SIGNED_IN


def test_sign_in_retries_while_out_of_service() -> None:
    cfg = DesktopConfig(agent_id="1000", home=PUB, other=SUB, timers=Timers.build(1.0))
    w = World(DesktopMachine(cfg))
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.m.start(0.0)
    w.run()
    assert state(w) is DesktopState.SIGNING_IN and w.m.step is Step.RETRY and w.m.next_deadline() == 20.0
    w.nodes[PUB].status = "IN_SERVICE"
    w.advance(20)
    assert state(w) is DesktopState.SIGNED_IN


def test_browser_close_crash_and_refresh() -> None:
    w = world()
    w.m.refresh(w.now)
    w.run()
    assert w.log[-1] != DropNotification(PUB) and DropNotification(PUB, presence=True) in w.log
    assert state(w) is DesktopState.SIGNED_IN and w.commands(LoadDesktop)[-1] == LoadDesktop(PUB, config=True)
    w.m.close(w.now, crash=True)
    w.run()
    assert DropNotification(PUB, presence=False) in w.log and state(w) is DesktopState.SIGNED_OUT
    w.m.close(w.now)
    w.m.refresh(w.now)
    assert w.m.outputs() == []  # nothing left to close
    w2 = world()
    w2.m.close(w2.now)
    w2.run()
    assert DropNotification(PUB, presence=True) in w2.log and w2.events("browser_close")


def sso_world(scale: float = 1.0, **lifetimes: float) -> World:
    timers = Timers.build(scale, **lifetimes)
    w = World(DesktopMachine(DesktopConfig(agent_id="1000", home=PUB, other=SUB, timers=timers)))
    w.m.start(w.now)
    w.sso_sign_in(timers)
    w.run()
    return w


@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_refresh_token_warnings_countdown_and_forced_sign_out(scale: float) -> None:
    """The marks come from the Identity Service's refresh token (IdS default 10 hours), while the
    access token (60 minutes) is refreshed at 75 % of its life all along."""
    w = sso_world(scale)
    end = 36000 - 10  # the session ends a margin (sso_logout_margin) before the refresh token
    w.advance((end - 601) * scale)
    assert [r.event for r in w.records if r.event.startswith("token")] == []
    # Refreshed at 45, 90, ..., 540 minutes: every access token replaced before it expires, until
    # the twelfth one's, which the IdS cuts to the refresh token's expiry: it lasts to the end.
    assert len(w.commands(RefreshToken)) == 12
    w.advance(601 * scale + 1)
    assert [r.event for r in w.records if r.event.startswith("token")] == [
        "token_warning",
        "token_warning",
        "token_countdown",
        "token_expired",
    ]
    lefts = [r.fields.get("seconds_left") for r in w.records if r.event.startswith("token_")][:3]
    assert lefts == pytest.approx([600 * scale, 300 * scale, 60 * scale])
    # "Finesse desktop sends a forced logout request to the CTI server": the LOGOUT carries 255,
    # with an access token still valid (the session ends a margin before the refresh token).
    assert SignOut(PUB, reason_code=255) in w.log and state(w) is DesktopState.SIGNED_OUT
    assert SignOut(PUB) not in w.log and w.sign_out_token_valid == [True]
    assert w.m.next_deadline() is None  # no refresh and no mark after the end


def test_token_shorter_than_the_warnings_fires_the_missed_ones_at_once() -> None:
    w = sso_world(1.0, sso_refresh_token_lifetime=130)  # the session ends at 120 s (10 s margin)
    assert len(w.events("token_warning")) == 2 and w.m.next_deadline() == pytest.approx(60.0)
    w.advance(120)
    assert state(w) is DesktopState.SIGNED_OUT and w.sign_out_token_valid == [True]


def test_an_access_token_that_lasts_the_session_is_never_refreshed() -> None:
    w = sso_world(1.0, sso_access_token_lifetime=3600, sso_refresh_token_lifetime=1800)
    w.advance(1800)
    assert w.commands(RefreshToken) == [] and state(w) is DesktopState.SIGNED_OUT


def test_a_failed_refresh_is_tried_again_a_request_timeout_later() -> None:
    w = sso_world(1.0)
    w.ids_up = False
    w.advance(2700)
    assert len(w.commands(RefreshToken)) == 1
    w.ids_up = True
    w.advance(10)  # desktop_request_timeout
    assert len(w.commands(RefreshToken)) == 2
    assert w.grant is not None and w.grant.expires_in == 3600


def test_closing_the_browser_stops_the_token_timers() -> None:
    w = sso_world(1.0)
    w.m.close(w.now)
    w.run()
    assert w.m.next_deadline() is None


def test_every_transition_is_recorded_with_from_and_to() -> None:
    w = world()
    kill_publisher(w)
    w.advance(10)
    hops = [(e["from"], e["to"]) for e in w.events("state")]
    assert hops == [
        ("SIGNED_OUT", "SIGNING_IN"),
        ("SIGNING_IN", "SIGNED_IN"),
        ("SIGNED_IN", "RECONNECTING_NOTIFICATION"),
        ("RECONNECTING_NOTIFICATION", "FAILING_OVER"),
        ("FAILING_OVER", "SIGNED_IN"),
    ]


def test_a_move_that_fails_after_connecting_elsewhere_reconnects_before_signing_in_again() -> None:
    """The session left on the other node by a move whose sign-in failed is closed, and the
    Notification Service request goes to the node the desktop returns to (found by the planner)."""
    w = world()
    w.nodes[PUB] = NodeSim(reachable=False)
    w.nodes[SUB].sign_in = Result(False, "503 SERVER_OUT_OF_SERVICE")  # REST refuses, XMPP works
    w.m.on_notification_lost(w.now)
    w.run()
    w.advance(10)  # three attempts, then the move: XMPP on the subscriber, its sign-in refused
    assert state(w) is DesktopState.FAILING_OVER and w.m.xmpp_node == SUB
    w.log.clear()
    w.nodes[PUB] = NodeSim()  # the publisher is back first
    w.advance(20)
    names = [(type(c).__name__, getattr(c, "node", "")) for c in w.log if not isinstance(c, Record)]
    assert names[:4] == [
        ("GetSystemInfo", PUB),
        ("DropNotification", SUB),
        ("ConnectNotification", PUB),
        ("SignIn", PUB),
    ]
    assert state(w) is DesktopState.SIGNED_IN and w.m.node == PUB and w.m.xmpp_node == PUB


def test_driven_by_the_shared_driver_on_a_manual_clock() -> None:
    """The shells' path: ``emu_base.sansio.Driver`` arms the machine's one deadline on a clock;
    the three Notification Service attempts fall at 0, 5 and 10 s of the loss with nothing else."""
    clock = ManualClock(start=100.0)
    cfg = DesktopConfig(agent_id="1000", home=PUB, other=SUB, timers=Timers.build(1.0))
    m = DesktopMachine(cfg)
    sent: list[tuple[float, Output]] = []

    def carry_out(cmd: Output) -> None:
        sent.append((clock.now(), cmd))
        if isinstance(cmd, ConnectNotification):
            m.on_notification(clock.now(), cmd.node, Result(cmd.node == SUB))
        elif isinstance(cmd, GetSystemInfo):
            m.on_system_info(clock.now(), cmd.node, SystemInfo(cmd.node == SUB, "IN_SERVICE", True))
        elif isinstance(cmd, SignIn):
            m.on_sign_in(clock.now(), cmd.node, Result(True))
        elif isinstance(cmd, LoadDesktop):
            m.on_loaded(clock.now(), cmd.node, Result(True))
        driver.pump()  # as a shell does after every input (the driver drains it without recursing)

    driver = Driver(m, clock, carry_out)
    m.state, m.xmpp_up, m.xmpp_node = DesktopState.SIGNED_IN, True, PUB
    m.on_notification_lost(clock.now())
    driver.pump()  # attempt 1 answered at once (refused); attempt 2 armed at 105 s
    assert clock.next_timer() == 105.0
    clock.advance(20)
    attempts = [t for t, c in sent if isinstance(c, ConnectNotification) and c.node == PUB]
    assert attempts == [100.0, 105.0, 110.0]
    assert m.state is DesktopState.SIGNED_IN and m.node == SUB and clock.next_timer() is None


def test_a_refresh_during_the_reconnect_attempts_drops_their_timer() -> None:
    # The attempts' timer belongs to the reconnect step: a refresh starts a sign-in, and a later
    # loss starts a fresh series of attempts from its own time (no attempt left over from before).
    w = world()
    w.nodes[PUB].xmpp_ok = False
    w.m.on_notification_lost(w.now)
    w.run()
    assert w.m.next_deadline() == 5.0
    w.nodes[PUB].xmpp_ok = True
    w.now = 1.0
    w.m.refresh(w.now)
    w.run()
    assert state(w) is DesktopState.SIGNED_IN and w.m.next_deadline() is None
    w.nodes[PUB].xmpp_ok = False
    w.now = 3.0
    w.m.on_notification_lost(w.now)
    w.run()
    assert w.m.next_deadline() == 8.0


def test_reconnect_cadence_scales_with_no_floor() -> None:
    # At time_scale 0.001 the three attempts are 5 ms apart (a 50 ms real floor made them 10 x too slow).
    cfg = DesktopConfig(agent_id="1000", home=PUB, other=SUB, timers=Timers.build(0.001))
    w = World(DesktopMachine(cfg))
    w.m.start(0.0)
    w.run()
    w.now = 1.0
    w.nodes[PUB].xmpp_ok = False
    w.m.on_notification_lost(w.now)
    w.run()
    assert w.m.next_deadline() == pytest.approx(1.005)
    w.advance(0.0101)
    assert w.events("failover_detected")


# -- "AWDB Failover": both AWDBs down, the cache expired --------------------------------------------
UNAUTHORIZED = Result(False, "401 Authorization Failure", status=401, seconds=5.0)


def test_cisco_messages_come_from_the_wire_alone() -> None:
    # A 401 says no more than "Unauthorized": sign-in or not decides the message.
    assert cisco_message(UNAUTHORIZED, signed_in=False) == "Invalid user ID or password"
    assert cisco_message(UNAUTHORIZED, signed_in=True) == "Operation timed out"
    unanswered = Result(False, "timed out", timed_out=True)
    assert cisco_message(unanswered, signed_in=True) == "Operation timed out"
    assert cisco_message(Result(False, "unreachable"), signed_in=True) is None  # refused: a failover's
    assert cisco_message(Result(False, "503", status=503), signed_in=False) is None
    assert cisco_message(Result(True, status=202), signed_in=True) is None


def test_a_sign_in_refused_shows_invalid_user_id_or_password_and_is_tried_again() -> None:
    cfg = DesktopConfig(agent_id="1001", home=PUB, other=SUB, timers=Timers.build(1.0))
    w = World(DesktopMachine(cfg))
    w.nodes[PUB].sign_in = UNAUTHORIZED
    w.m.start(0.0)
    w.run()
    assert w.events("error_shown") == [
        {
            "agent": "1001",
            "node": PUB,
            "message": "Invalid user ID or password",
            "request": "sign_in",
            "status": 401,
            "seconds": 5.0,
        }
    ]
    # The 401 cannot say the AWDBs are down rather than the password wrong: tried again a poll later.
    assert state(w) is DesktopState.SIGNING_IN and w.m.next_deadline() == 20.0
    w.nodes[PUB].sign_in = Result(True)
    w.advance(20)
    assert state(w) is DesktopState.SIGNED_IN


def test_a_signed_in_users_request_refused_or_unanswered_shows_operation_timed_out() -> None:
    w = world()
    w.m.on_request(w.now, PUB, "PUT /finesse/api/User/1000", UNAUTHORIZED)
    w.m.on_request(w.now, PUB, "PUT /finesse/api/User/1000", Result(False, "timed out", timed_out=True))
    w.m.on_request(w.now, PUB, "PUT /finesse/api/User/1000", Result(True, status=202))
    w.run()
    assert [(e["message"], e["status"]) for e in w.events("error_shown")] == [
        ("Operation timed out", 401),
        ("Operation timed out", 0),
    ]
    assert state(w) is DesktopState.SIGNED_IN  # a message, nothing more


def test_a_refresh_refused_during_failover_is_the_signed_in_users_message() -> None:
    w = world()
    w.nodes[PUB] = NodeSim(reachable=False)
    w.nodes[SUB].sign_in = UNAUTHORIZED
    w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE")
    w.run()
    assert [e["message"] for e in w.events("error_shown")] == ["Operation timed out"]
    assert state(w) is DesktopState.FAILING_OVER and w.m.step is Step.WAIT
