"""The IP Phone Agent's failover logic on a virtual clock."""

from __future__ import annotations

from finesse_emu.desktop.ippa import IppaConfig, IppaMachine, IppaState
from finesse_emu.desktop.machine import GetSystemInfo, SignIn
from finesse_emu.timers import Timers
from tests.unit.test_desktop_machine import PUB, SUB, NodeSim, World, state


def ippa(scale: float = 1.0) -> World:
    w = World(IppaMachine(IppaConfig(agent_id="1050", node=PUB, timers=Timers.build(scale))))
    w.run(w.m.sign_in(w.now))
    assert state(w) is IppaState.SIGNED_IN and w.m.xmpp_up
    return w


def test_publisher_down_server_unavailable_after_three_polls_and_never_the_subscriber() -> None:
    w = ippa()
    w.nodes[PUB] = NodeSim(reachable=False)
    w.run(w.m.on_notification_lost(w.now))
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
    w.run(w.m.sign_in(w.now))
    assert state(w) is IppaState.SIGNED_IN and w.m.node == PUB


def test_systeminfo_event_trigger_and_recovery_before_the_third_attempt() -> None:
    w = ippa()
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.run(w.m.on_system_info_event(w.now, PUB, "OUT_OF_SERVICE"))
    w.advance(5)
    assert w.m.failed_attempts == 1
    w.nodes[PUB].status = "IN_SERVICE"
    w.advance(5)
    assert state(w) is IppaState.SIGNED_IN  # XMPP never dropped; SystemInfo is back
    assert w.events("server_unavailable") == []


def test_moving_to_the_subscriber_needs_an_explicit_sign_in() -> None:
    w = ippa()
    w.nodes[PUB] = NodeSim(reachable=False)
    w.run(w.m.on_notification_lost(w.now))
    w.advance(15)
    assert state(w) is IppaState.SERVER_UNAVAILABLE
    w.run(w.m.sign_in(w.now, node=SUB))
    assert state(w) is IppaState.SIGNED_IN and w.m.node == SUB
    assert w.commands(SignIn)[-1] == SignIn(SUB)
    w.advance(60)
    assert "ippa_retry" not in w.timers  # the old server's retries stopped


def test_failed_sign_in_shows_the_sign_in_screen_and_ignores_other_nodes() -> None:
    w = World(IppaMachine(IppaConfig(agent_id="1050", node=PUB, timers=Timers.build(1.0))))
    w.nodes[PUB].status = "OUT_OF_SERVICE"
    w.run(w.m.sign_in(w.now))
    assert state(w) is IppaState.SIGN_IN_SCREEN
    assert w.m.on_system_info_event(w.now, SUB, "OUT_OF_SERVICE") == []
    assert w.m.on_notification_lost(w.now) == []
