"""The IP Phone Agent's failover logic on a virtual clock."""

from __future__ import annotations

from emu_base.timers import Timers
from finesse_emu.desktop.ippa import IppaConfig, IppaMachine, IppaState
from finesse_emu.desktop.machine import GetSystemInfo, Result, SignIn, SystemInfo
from tests.unit.test_desktop_machine import PUB, SUB, NodeSim, World, state


def ippa(scale: float = 1.0) -> World:
    w = World(IppaMachine(IppaConfig(agent_id="1050", node=PUB, timers=Timers.build(scale))))
    w.m.sign_in(w.now)
    w.run()
    assert state(w) is IppaState.SIGNED_IN and w.m.xmpp_up
    return w


def test_publisher_down_server_unavailable_after_three_polls_and_never_the_subscriber() -> None:
    w = ippa()
    w.nodes[PUB] = NodeSim(reachable=False)
    w.m.on_notification_lost(w.now)
    w.run()
    assert state(w) is IppaState.RETRYING
    w.advance(14.9)
    assert state(w) is IppaState.RETRYING and w.m.failed_attempts == 2
    w.advance(0.1)  # third failed attempt at 15 s: "approximately 15 seconds"
    assert state(w) is IppaState.SERVER_UNAVAILABLE
    (ev,) = w.events("server_unavailable")
    assert ev["attempts"] == 3
    w.advance(600)  # keeps retrying the same server, never the subscriber
    assert {c.node for c in w.commands(GetSystemInfo)} == {PUB}
    assert state(w) is IppaState.SERVER_UNAVAILABLE
    # Both services resume: the Sign In screen, then the agent signs in again on the same server.
    w.nodes[PUB] = NodeSim()
    w.advance(5)
    assert state(w) is IppaState.SIGN_IN_SCREEN and w.m.node == PUB
    w.advance(60)  # the Sign In screen of a failover waits for the agent
    assert state(w) is IppaState.SIGN_IN_SCREEN and w.m.next_deadline() is None
    w.m.sign_in(w.now)
    w.run()
    assert state(w) is IppaState.SIGNED_IN and w.m.node == PUB


def test_systeminfo_event_trigger_and_recovery_before_the_third_attempt() -> None:
    w = ippa()
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE")
    w.run()
    w.advance(5)
    assert w.m.failed_attempts == 1
    w.nodes[PUB].status = "IN_SERVICE"
    w.advance(5)
    assert state(w) is IppaState.SIGNED_IN  # XMPP never dropped; SystemInfo is back
    assert w.events("server_unavailable") == []


def test_moving_to_the_subscriber_needs_an_explicit_sign_in() -> None:
    w = ippa()
    w.nodes[PUB] = NodeSim(reachable=False)
    w.m.on_notification_lost(w.now)
    w.run()
    w.advance(15)
    assert state(w) is IppaState.SERVER_UNAVAILABLE
    w.m.sign_in(w.now, node=SUB)
    w.run()
    assert state(w) is IppaState.SIGNED_IN and w.m.node == SUB
    assert w.commands(SignIn)[-1] == SignIn(SUB)
    w.advance(60)
    assert w.m.next_deadline() is None  # the old server's retries stopped


def test_failed_sign_in_shows_the_sign_in_screen_and_ignores_other_nodes() -> None:
    w = World(IppaMachine(IppaConfig(agent_id="1050", node=PUB, timers=Timers.build(1.0))))
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.m.sign_in(w.now)
    w.run()
    assert state(w) is IppaState.SIGN_IN_SCREEN
    w.m.on_system_info_event(w.now, SUB, "OUT_OF_SERVICE")
    w.m.on_notification_lost(w.now)
    assert w.m.outputs() == []


def test_attempts_keep_a_5_s_cadence_however_long_each_takes_to_fail() -> None:
    m = IppaMachine(IppaConfig(agent_id="1050", node=PUB, timers=Timers.build(1.0)))
    m.state, m.xmpp_up = IppaState.SIGNED_IN, True
    m.on_notification_lost(0.0)  # trigger: the first attempt is due at 5 s
    for start in (5.0, 10.0, 15.0):
        assert m.next_deadline() == start
        m.handle_timer(start)
        assert m.next_deadline() == start + 5.0  # the next one is armed as this one starts
        assert GetSystemInfo(PUB) in m.outputs()
        m.on_system_info(start + 2.0, PUB, SystemInfo(False))  # each answer takes 2 s
        m.on_notification(start + 2.0, PUB, Result(False, "refused"))
    assert m.state is IppaState.SERVER_UNAVAILABLE  # at 17 s, not 5 + 3 x (2 + 5) = 26 s
    # A timer firing while an attempt is still unanswered does not start a second one.
    m.handle_timer(20.0)
    m.outputs()
    m.handle_timer(25.0)
    assert m.outputs() == [] and m.next_deadline() == 30.0


def test_the_agent_signs_in_again_a_poll_after_its_own_sign_in_failed() -> None:
    w = World(IppaMachine(IppaConfig(agent_id="1050", node=PUB, timers=Timers.build(1.0))))
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.m.sign_in(w.now)
    w.run()
    assert state(w) is IppaState.SIGN_IN_SCREEN and len(w.commands(SignIn)) == 1
    w.advance(4.9)
    assert len(w.commands(SignIn)) == 1
    w.nodes[PUB].status = "IN_SERVICE"
    w.advance(0.1)  # "every 5 seconds", as the phone's own attempts
    assert state(w) is IppaState.SIGNED_IN and len(w.commands(SignIn)) == 2
    assert w.m.next_deadline() is None


def test_without_sign_in_again_a_failed_sign_in_stays_on_the_sign_in_screen() -> None:
    config = IppaConfig(agent_id="1050", node=PUB, timers=Timers.build(1.0), sign_in_again=False)
    w = World(IppaMachine(config))
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.m.sign_in(w.now)
    w.run()
    w.advance(60)
    assert state(w) is IppaState.SIGN_IN_SCREEN and len(w.commands(SignIn)) == 1
