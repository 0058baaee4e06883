"""The PG side arbiter: exactly one active side, the preferred side wins ties."""

from __future__ import annotations

from cti_stub.core import Role
from cti_stub.duplex import AskPeerToTakeOver, BecomeActive, BecomeIdle, DuplexArbiter


def test_no_peer_means_active_at_once() -> None:
    arb = DuplexArbiter("A", preferred=True, takeover_delay=5, has_peer=False, now=0)
    assert arb.decisions() == [BecomeActive(False, "no peer side configured")]


def test_unreachable_peer_takes_over_after_the_delay() -> None:
    arb = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    arb.tick(4.99)
    assert arb.decisions() == []
    assert arb.next_deadline() == 5
    arb.tick(5.0)
    assert [type(d) for d in arb.decisions()] == [BecomeActive]
    assert arb.role is Role.ACTIVE


def test_hearing_an_active_peer_makes_a_starting_side_idle() -> None:
    arb = DuplexArbiter("A", preferred=True, takeover_delay=5, has_peer=True, now=0)
    arb.on_link_up(1)
    arb.on_peer_role(Role.ACTIVE, 1)
    assert arb.decisions() == [BecomeIdle("peer side is active")]
    arb.tick(100)  # the peer is still active: no takeover
    assert arb.decisions() == []


def test_preferred_side_activates_when_peer_is_not_active() -> None:
    a = DuplexArbiter("A", preferred=True, takeover_delay=5, has_peer=True, now=0)
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    a.on_peer_role(Role.STARTING, 1)
    b.on_peer_role(Role.STARTING, 1)
    assert [type(d) for d in a.decisions()] == [BecomeActive]
    assert b.decisions() == [BecomeIdle("waiting for the preferred side")]
    b.on_peer_role(Role.ACTIVE, 1)
    assert b.role is Role.IDLE


def test_split_brain_non_preferred_yields() -> None:
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    b.tick(5)
    assert b.role is Role.ACTIVE
    b.decisions()
    b.on_peer_role(Role.ACTIVE, 6)
    assert b.decisions() == [BecomeIdle("both sides active: the preferred side keeps it")]


def test_idle_side_takes_over_when_the_link_drops_and_flags_the_takeover() -> None:
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    b.on_link_up(0)
    b.on_peer_role(Role.ACTIVE, 0)
    b.decisions()
    b.on_link_down(10)
    b.tick(14.9)
    assert b.decisions() == []
    b.tick(15)
    assert b.decisions() == [BecomeActive(True, "no active peer side")]


def test_link_back_within_the_delay_cancels_the_takeover() -> None:
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    b.on_peer_role(Role.ACTIVE, 0)
    b.decisions()
    b.on_link_down(10)
    b.on_link_up(12)
    b.on_peer_role(Role.ACTIVE, 12)
    b.tick(16)
    assert b.role is Role.IDLE


def test_deactivate_hands_over_and_holds_off() -> None:
    a = DuplexArbiter("A", preferred=True, takeover_delay=5, has_peer=True, now=0)
    a.on_link_up(0)
    a.on_peer_role(Role.IDLE, 0)
    a.decisions()
    a.deactivate(10)
    assert a.decisions() == [BecomeIdle("deactivated"), AskPeerToTakeOver()]
    b = DuplexArbiter("B", preferred=False, takeover_delay=5, has_peer=True, now=0)
    b.on_peer_role(Role.ACTIVE, 0)
    b.decisions()
    b.on_takeover_request(10)
    assert b.decisions() == [BecomeActive(True, "peer side handed over")]
    # A hears that B is active and stays idle; the preferred side does not grab it back.
    a.on_peer_role(Role.ACTIVE, 10.1)
    a.tick(100)
    assert a.decisions() == [] and a.role is Role.IDLE
