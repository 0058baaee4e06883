"""The presence-driven forced logout (server/presence.py): every branch, on explicit times.

Cisco, "Desktop Behavior": Unavailable -> 60 s -> forced logout with reason 255, unless the browser
came back (refresh); after the call if the agent is on one; for an agent already signed out too
("Finesse tries to sign the agent out; however, that agent is already signed out").
And the generated Prosody configuration that detects a crashed browser within Cisco's 120 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emu_base.timers import ENV_TIME_SCALE, Timers
from finesse_emu.server.presence import (
    CALL_STATES,
    Action,
    Cancelled,
    CancelReason,
    ForcedLogout,
    Phase,
    PresenceTracker,
    Skipped,
    TimerStarted,
    WaitingForCall,
)
from finesse_emu.xmpp.prosody import ProsodyConfig, ProsodyProcess, render_config

DELAY = 60.0


class Stepped:
    """A tracker whose every input answers the outputs it produced (drained with ``outputs()``):
    what these tests compare, one input at a time."""

    def __init__(self, tracker: PresenceTracker) -> None:
        self.tracker = tracker

    def presence(self, now: float, agent_id: str, resource: str, available: bool) -> list[Action]:
        self.tracker.presence(now, agent_id, resource, available)
        return self.tracker.outputs()

    def agent_state(self, now: float, agent_id: str, state: str) -> list[Action]:
        self.tracker.agent_state(now, agent_id, state)
        return self.tracker.outputs()

    def service(self, now: float, in_service: bool) -> list[Action]:
        self.tracker.service(now, in_service)
        return self.tracker.outputs()

    def handle_timer(self, now: float) -> list[Action]:
        self.tracker.handle_timer(now)
        return self.tracker.outputs()

    def __getattr__(self, name: str) -> Any:  # the queries: next_deadline, pending, state, ...
        return getattr(self.tracker, name)


def tracker(state: str = "READY", *agents: str) -> Stepped:
    """IN_SERVICE, agents (default 1000) available on resource "desktop" in ``state``."""
    t = Stepped(PresenceTracker(DELAY, 255, in_service=True))
    for agent in agents or ("1000",):
        assert t.agent_state(0.0, agent, state) == []
        assert t.presence(0.0, agent, "desktop", True) == []
    return t


def test_unavailable_then_sixty_seconds_then_forced_logout_255() -> None:
    t = tracker()
    assert t.presence(10.0, "1000", "desktop", False) == [TimerStarted("1000", 10.0, 70.0)]
    assert t.next_deadline() == 70.0 and not t.available("1000")
    pending = t.pending("1000")
    assert pending is not None and pending.phase is Phase.TIMER and pending.unavailable_since == 10.0
    assert t.handle_timer(69.999) == []
    [action] = t.handle_timer(70.0)
    assert action == ForcedLogout("1000", 70.0, 255, 10.0, 0.0)
    assert isinstance(action, ForcedLogout) and action.waited == DELAY
    assert t.pending("1000") is None and t.next_deadline() is None
    assert t.handle_timer(200.0) == []  # once


def test_timers_come_from_ciscos_values() -> None:
    timers = Timers.build(0.02)
    t = Stepped(
        PresenceTracker(timers.forced_logout_after_unavailable, timers.forced_logout_reason_code, True)
    )
    t.agent_state(0.0, "1000", "NOT_READY")
    t.presence(0.0, "1000", "desktop", True)
    [started] = t.presence(1.0, "1000", "desktop", False)
    assert isinstance(started, TimerStarted) and (started.agent_id, started.at) == ("1000", 1.0)
    assert started.fires_at == pytest.approx(2.2)
    [action] = t.handle_timer(2.2)
    assert isinstance(action, ForcedLogout) and action.reason_code == 255


def test_refresh_available_again_before_the_timer_cancels_it() -> None:
    t = tracker()
    t.presence(10.0, "1000", "desktop", False)
    assert t.presence(12.5, "1000", "desktop", True) == [
        Cancelled("1000", 12.5, CancelReason.AVAILABLE, 10.0)
    ]
    assert t.available("1000") and t.next_deadline() is None
    assert t.handle_timer(100.0) == []


def test_refresh_on_another_resource_also_cancels() -> None:
    t = tracker()
    t.presence(10.0, "1000", "desktop", False)
    [action] = t.presence(11.0, "1000", "reloaded", True)
    assert isinstance(action, Cancelled) and action.reason is CancelReason.AVAILABLE


def test_agent_already_signed_out_still_gets_the_request() -> None:
    """Cisco: the agent closes the browser after signing out: "Finesse tries to sign the agent out;
    however, that agent is already signed out" (the CTI server refuses; the node core handles it)."""
    t = tracker("LOGOUT")
    assert t.presence(5.0, "1000", "desktop", False) == [TimerStarted("1000", 5.0, 5.0 + DELAY)]
    [fired] = t.handle_timer(5.0 + DELAY)
    assert isinstance(fired, ForcedLogout) and fired.agent_id == "1000" and fired.reason_code == 255


def test_unknown_agent_counts_as_signed_out() -> None:
    t = Stepped(PresenceTracker(DELAY, in_service=True))
    assert t.state("2000") == "LOGOUT" and not t.available("2000")
    t.presence(0.0, "2000", "desktop", True)
    assert t.presence(1.0, "2000", "desktop", False) == [TimerStarted("2000", 1.0, 1.0 + DELAY)]


def test_no_timer_while_out_of_service() -> None:
    """The network-glitch rule applies because "Finesse is IN_SERVICE"."""
    t = tracker()
    assert t.service(3.0, False) == []
    assert t.presence(5.0, "1000", "desktop", False) == [Skipped("1000", 5.0, CancelReason.OUT_OF_SERVICE)]
    assert t.service(6.0, True) == []  # coming back does not start one retroactively
    assert t.next_deadline() is None and t.handle_timer(1000.0) == []


def test_a_new_tracker_is_out_of_service_until_told() -> None:
    t = Stepped(PresenceTracker(DELAY))
    t.agent_state(0.0, "1000", "READY")
    t.presence(0.0, "1000", "desktop", True)
    assert t.presence(1.0, "1000", "desktop", False) == [Skipped("1000", 1.0, CancelReason.OUT_OF_SERVICE)]


def test_going_out_of_service_cancels_every_pending_forced_logout() -> None:
    t = tracker("READY", "1000", "1001")
    t.agent_state(0.0, "1001", "TALKING")
    t.presence(10.0, "1000", "desktop", False)
    t.presence(20.0, "1001", "desktop", False)
    # 1001 waits for its call
    assert [type(a) for a in t.handle_timer(80.0)] == [ForcedLogout, WaitingForCall]
    t.presence(81.0, "1000", "desktop", True)
    t.presence(82.0, "1000", "desktop", False)
    assert t.service(90.0, False) == [
        Cancelled("1001", 90.0, CancelReason.OUT_OF_SERVICE, 20.0),
        Cancelled("1000", 90.0, CancelReason.OUT_OF_SERVICE, 82.0),
    ]
    assert t.pending_agents == {} and t.next_deadline() is None
    assert t.agent_state(95.0, "1001", "READY") == []  # the call ends: nothing is waiting any more


def test_on_a_call_the_request_waits_until_the_call_ends() -> None:
    t = tracker("TALKING")
    assert t.presence(10.0, "1000", "desktop", False) == [TimerStarted("1000", 10.0, 70.0)]
    assert t.agent_state(50.0, "1000", "HOLD") == []  # still the 60 s
    assert t.handle_timer(70.0) == [WaitingForCall("1000", 70.0, "HOLD")]
    pending = t.pending("1000")
    assert pending is not None and pending.phase is Phase.CALL and pending.call_wait_since == 70.0
    assert t.next_deadline() is None  # no timer: the call's end decides
    assert t.handle_timer(500.0) == []
    assert t.agent_state(80.0, "1000", "TALKING") == []  # held call picked up again
    [action] = t.agent_state(100.0, "1000", "READY")  # the call ended (the CTI server said AVAILABLE)
    assert action == ForcedLogout("1000", 100.0, 255, 10.0, 30.0)
    assert isinstance(action, ForcedLogout) and action.waited == 90.0


@pytest.mark.parametrize("after_call", ["WORK", "WORK_READY", "NOT_READY"])
def test_wrap_up_or_not_ready_after_the_call_is_the_end_of_it(after_call: str) -> None:
    t = tracker("RESERVED")
    t.presence(0.0, "1000", "desktop", False)
    t.handle_timer(60.0)
    [action] = t.agent_state(61.0, "1000", after_call)
    assert isinstance(action, ForcedLogout) and action.call_wait == 1.0


def test_call_states_are_ciscos_on_a_call() -> None:
    assert {"TALKING", "HOLD", "RESERVED"} == CALL_STATES


def test_logged_out_during_the_call_wait_cancels() -> None:
    """E.g. a LOGOUT the agent asked for before (pending) applied by the CTI server at the call's end."""
    t = tracker("TALKING")
    t.presence(0.0, "1000", "desktop", False)
    t.handle_timer(60.0)
    assert t.agent_state(65.0, "1000", "LOGOUT") == [Cancelled("1000", 65.0, CancelReason.SIGNED_OUT, 0.0)]
    assert t.pending("1000") is None


def test_desktop_back_during_the_call_wait_cancels() -> None:
    t = tracker("TALKING")
    t.presence(0.0, "1000", "desktop", False)
    t.handle_timer(60.0)
    assert t.presence(62.0, "1000", "desktop", True) == [Cancelled("1000", 62.0, CancelReason.AVAILABLE, 0.0)]
    assert t.agent_state(70.0, "1000", "READY") == []


def test_signed_out_while_the_timer_runs_cancels() -> None:
    t = tracker()
    t.presence(0.0, "1000", "desktop", False)
    assert t.agent_state(30.0, "1000", "LOGOUT") == [Cancelled("1000", 30.0, CancelReason.SIGNED_OUT, 0.0)]
    assert t.next_deadline() is None and t.handle_timer(60.0) == []


def test_state_changes_during_the_timer_do_not_fire_it() -> None:
    """Signed in again on the other node (same CTI agent): the publisher's timer still fires (the race)."""
    t = tracker()
    t.presence(0.0, "1000", "desktop", False)
    assert t.agent_state(20.0, "1000", "NOT_READY") == []
    assert t.agent_state(30.0, "1000", "READY") == []
    [action] = t.handle_timer(60.0)
    assert isinstance(action, ForcedLogout)


def test_state_without_a_pending_forced_logout_is_only_recorded() -> None:
    t = tracker()
    assert t.agent_state(1.0, "1000", "TALKING") == [] and t.state("1000") == "TALKING"


def test_unavailable_of_a_resource_while_another_stays_is_nothing() -> None:
    t = tracker()
    t.presence(1.0, "1000", "phone", True)
    assert t.presence(2.0, "1000", "desktop", False) == []  # "phone" keeps the agent present
    assert t.available("1000") and t.next_deadline() is None
    assert t.presence(3.0, "1000", "phone", False) == [TimerStarted("1000", 3.0, 63.0)]


def test_repeated_or_unknown_resource_reports_are_ignored() -> None:
    t = tracker()
    assert t.presence(1.0, "1000", "desktop", True) == []  # already available
    assert t.presence(2.0, "1000", "nothing", False) == []  # never seen, agent still available
    t.presence(3.0, "1000", "desktop", False)
    assert t.presence(4.0, "1000", "desktop", False) == []  # the timer is not restarted
    assert t.next_deadline() == 63.0


def test_several_timers_fire_in_order_and_the_deadline_is_the_earliest() -> None:
    t = tracker("READY", "1000", "1001", "1002")
    t.presence(5.0, "1002", "desktop", False)
    t.presence(1.0, "1000", "desktop", False)
    t.presence(1.0, "1001", "desktop", False)
    assert t.next_deadline() == 61.0
    assert [a.agent_id for a in t.handle_timer(61.0)] == ["1000", "1001"]
    assert t.next_deadline() == 65.0
    assert [a.agent_id for a in t.handle_timer(65.0)] == ["1002"]


def test_session_lost_forgets_resources_but_keeps_states() -> None:
    t = tracker()
    t.session_lost()
    assert not t.available("1000") and t.state("1000") == "READY"
    assert t.presence(5.0, "1000", "desktop", True) == []  # re-reported after the reconnect
    assert t.presence(6.0, "1000", "desktop", False) == [TimerStarted("1000", 6.0, 66.0)]


def test_zero_delay_fires_on_the_next_tick_and_negative_is_refused() -> None:
    t = Stepped(PresenceTracker(0.0, in_service=True))
    t.agent_state(0.0, "1000", "READY")
    t.presence(0.0, "1000", "d", True)
    assert t.presence(1.0, "1000", "d", False) == [TimerStarted("1000", 1.0, 1.0)]
    assert [type(a) for a in t.handle_timer(1.0)] == [ForcedLogout]
    with pytest.raises(ValueError, match="delay"):
        PresenceTracker(-1.0)


def test_generated_prosody_config_detects_a_dead_client_within_the_bound(tmp_path: Path) -> None:
    """Cisco: a crashed browser is detected "within up to 120 seconds": ping after 60 s of silence,
    close 54 s later if still silent (mod_finesse_roster), 114 s in the worst case."""
    bound = Timers.build(1.0).browser_crash_detection
    cfg = ProsodyConfig(domain="emu.test", run_dir=tmp_path, crash_detection=bound)
    assert cfg.ping_interval is not None and cfg.ping_timeout is not None
    assert cfg.ping_interval + cfg.ping_timeout <= bound
    lines = render_config(cfg).splitlines()
    assert "finesse_ping_interval = 60" in lines and "finesse_ping_timeout = 54" in lines
    assert '"finesse_roster"' in next(x for x in lines if x.startswith("modules_enabled"))  # sends the pings
    scaled = render_config(ProsodyConfig(domain="emu.test", run_dir=tmp_path, crash_detection=2.4))
    assert "finesse_ping_interval = 1.2" in scaled and "finesse_ping_timeout = 1.08" in scaled
    off = ProsodyConfig(domain="emu.test", run_dir=tmp_path, crash_detection=None)
    assert off.ping_interval is None and "finesse_ping" not in render_config(off)
    with pytest.raises(ValueError, match="crash_detection"):
        ProsodyConfig(domain="emu.test", run_dir=tmp_path, crash_detection=0.0)


def test_prosody_crash_detection_default_follows_the_time_scale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_TIME_SCALE, "0.1")
    assert ProsodyConfig(domain="emu.test", run_dir=tmp_path).crash_detection == pytest.approx(12.0)
    assert ProsodyProcess("emu.test", run_dir=tmp_path).config.crash_detection == pytest.approx(12.0)
    assert ProsodyProcess("emu.test", run_dir=tmp_path, crash_detection=None).config.crash_detection is None
    monkeypatch.delenv(ENV_TIME_SCALE)
    assert ProsodyConfig(domain="emu.test", run_dir=tmp_path).crash_detection == 120.0
