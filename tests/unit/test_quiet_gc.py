"""The quiet garbage collector: when it collects (pure policy) and what a pass does to the heap."""

from __future__ import annotations

import gc

import pytest

from emu_base.quiet_gc import AUTOMATIC_FULL_AFTER, QuietCollector, QuietPolicy


def test_nothing_before_any_activity_then_once_after_a_quiet_spell() -> None:
    p = QuietPolicy(quiet=2.0, min_interval=30.0)
    assert not p.due(100.0)
    p.activity(100.0)
    assert not p.due(101.9)  # still busy
    assert p.due(102.0)
    p.collected(102.1)
    assert not p.due(200.0)  # nothing happened since: no second pass


def test_a_new_burst_is_collected_but_not_more_often_than_min_interval() -> None:
    p = QuietPolicy(quiet=2.0, min_interval=30.0)
    p.activity(0.0)
    p.collected(2.0)
    p.activity(5.0)
    assert not p.due(10.0)  # quiet again, but only 8 s after the last pass
    assert p.due(32.0)
    p.collected(32.0)
    p.activity(40.0)
    p.activity(70.0)  # activity keeps moving: no pass while busy
    assert not p.due(71.0)
    assert p.due(72.0)


def test_activity_is_read_from_the_counter_and_a_pass_freezes_the_survivors() -> None:
    counter = [0]
    c = QuietCollector(lambda: counter[0], quiet=1.0, min_interval=0.0)
    try:
        assert not c.tick(10.0)  # first reading counts as activity
        assert not c.tick(10.5)
        assert c.tick(11.0)  # quiet for 1 s: collected
        assert gc.get_freeze_count() > 0 and c.passes == 1
        assert not c.tick(20.0)  # counter unchanged: nothing new to collect
        counter[0] += 1
        assert not c.tick(20.5)
        assert c.tick(21.6)
        assert c.passes == 2
    finally:
        gc.unfreeze()


@pytest.mark.asyncio
async def test_start_makes_automatic_full_passes_rarer_and_stop_restores_everything() -> None:
    before = gc.get_threshold()
    c = QuietCollector(lambda: 0)
    c.start()
    assert gc.get_threshold() == (before[0], before[1], AUTOMATIC_FULL_AFTER)
    c.tick(0.0)
    c.tick(10.0)
    assert gc.get_freeze_count() > 0
    await c.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
