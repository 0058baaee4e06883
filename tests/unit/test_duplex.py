"""The PG side arbiter: exactly one active side, the preferred side wins ties."""

from __future__ import annotations

from cti_stub.core import Role
from cti_stub.duplex import (
    AskPeerToTakeOver,
    BecomeActive,
    BecomeIdle,
    DuplexArbiter,
    PeerSilent,
    PeerWatch,
    Ping,
)


def test_no_peer_means_active_at_once() -> None:
    arb = DuplexArbiter("A", preferred=True, takeover_delay=5, has_peer=False, now=0)
    assert arb.outputs() == [BecomeActive(False, "no peer side configured")]


def test_unreachable_peer_takes_over_after_the_delay() -> None:
    arb = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    arb.handle_timer(4.99)
    assert arb.outputs() == []
    assert arb.next_deadline() == 5
    arb.handle_timer(5.0)
    assert [type(d) for d in arb.outputs()] == [BecomeActive]
    assert arb.role is Role.ACTIVE


def test_hearing_an_active_peer_makes_a_starting_side_idle() -> None:
    arb = DuplexArbiter("A", preferred=True, takeover_delay=5, has_peer=True, now=0)
    arb.on_link_up(1)
    arb.on_peer_role(1, Role.ACTIVE)
    assert arb.outputs() == [BecomeIdle("peer side is active")]
    arb.handle_timer(100)  # the peer is still active: no takeover
    assert arb.outputs() == []


def test_preferred_side_activates_when_peer_is_not_active() -> None:
    a = DuplexArbiter("A", preferred=True, takeover_delay=5, has_peer=True, now=0)
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    a.on_peer_role(1, Role.STARTING)
    b.on_peer_role(1, Role.STARTING)
    assert [type(d) for d in a.outputs()] == [BecomeActive]
    assert b.outputs() == [BecomeIdle("waiting for the preferred side")]
    b.on_peer_role(1, Role.ACTIVE)
    assert b.role is Role.IDLE


def test_split_brain_non_preferred_yields() -> None:
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    b.handle_timer(5)
    assert b.role is Role.ACTIVE
    b.outputs()
    b.on_peer_role(6, Role.ACTIVE)
    assert b.outputs() == [BecomeIdle("both sides active: the preferred side keeps it")]


def test_idle_side_takes_over_when_the_link_drops_and_flags_the_takeover() -> None:
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    b.on_link_up(0)
    b.on_peer_role(0, Role.ACTIVE)
    b.outputs()
    b.on_link_down(10)
    b.handle_timer(14.9)
    assert b.outputs() == []
    b.handle_timer(15)
    assert b.outputs() == [BecomeActive(True, "no active peer side")]


def test_link_back_within_the_delay_cancels_the_takeover() -> None:
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    b.on_peer_role(0, Role.ACTIVE)
    b.outputs()
    b.on_link_down(10)
    b.on_link_up(12)
    b.on_peer_role(12, Role.ACTIVE)
    b.handle_timer(16)
    assert b.role is Role.IDLE


def test_deactivate_hands_over_and_holds_off() -> None:
    a = DuplexArbiter("A", preferred=True, takeover_delay=5, has_peer=True, now=0)
    a.on_link_up(0)
    a.on_peer_role(0, Role.IDLE)
    a.outputs()
    a.deactivate(10)
    assert a.outputs() == [BecomeIdle("deactivated"), AskPeerToTakeOver()]
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    b.on_peer_role(0, Role.ACTIVE)
    b.outputs()
    b.on_takeover_request(10)
    assert b.outputs() == [BecomeActive(True, "peer side handed over")]
    # A hears that B is active and stays idle; the preferred side does not grab it back.
    a.on_peer_role(10.1, Role.ACTIVE)
    a.handle_timer(100)
    assert a.outputs() == [] and a.role is Role.IDLE


def test_peer_watch_pings_and_declares_a_silent_peer() -> None:
    watch = PeerWatch(10.0, ping_interval=1.0, timeout=3.0)
    assert watch.next_deadline() == 10.0  # the first ping at once
    watch.handle_timer(10.0)
    assert watch.outputs() == [Ping()]
    assert watch.next_deadline() == 11.0
    watch.line_received(11.5)  # anything heard counts, pings included
    watch.handle_timer(12.7)  # late: one ping, not two
    assert watch.outputs() == [Ping()]
    assert watch.next_deadline() == 13.0
    watch.handle_timer(13.0)
    watch.handle_timer(14.0)
    assert watch.outputs() == [Ping(), Ping()]
    assert watch.next_deadline() == 14.5  # silent since 11.5
    watch.handle_timer(14.5)
    assert watch.outputs() == [PeerSilent(3.0)]
    assert watch.next_deadline() is None
    watch.handle_timer(20.0)
    assert watch.outputs() == []
