"""Every timer of the emulated system scales with time_scale, with no floor in real seconds."""

from __future__ import annotations

import dataclasses

from emu_base.timers import Timers

# The emulator's own housekeeping (not durations of the emulated system): real seconds.
HOUSEKEEPING = {
    "swarm_progress_interval",
    "swarm_poll",
    "swarm_stop_grace",
    "xmpp_close_wait",
    "xmpp_close_margin",
    "http_shutdown_grace",
}


def test_every_duration_of_the_emulated_system_is_scaled_with_no_floor() -> None:
    unscaled, small = Timers.build(1.0), Timers.build(0.001)
    for f in dataclasses.fields(Timers):
        if f.name == "time_scale" or not f.metadata["seconds"]:
            continue
        if f.name in HOUSEKEEPING:
            assert getattr(small, f.name) == getattr(unscaled, f.name)
        else:
            assert getattr(small, f.name) == getattr(unscaled, f.name) * 0.001, f.name


def test_a_desktop_request_timeout_is_the_emulated_seconds_times_the_scale() -> None:
    # At 0.05 a hung peer costs a desktop 0.5 s, Cisco's 10 s (a 2 s floor made it 40 emulated s).
    t = Timers.build(0.05)
    assert t.desktop_request_timeout == 0.5
    assert t.notification_reconnect_pause == 0.25
    assert t.unscaled("desktop_request_timeout") == 10.0
    assert not hasattr(t, "desktop_timeout") and not hasattr(t, "desktop_reconnect_pause")
