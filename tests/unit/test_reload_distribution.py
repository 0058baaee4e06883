"""Reload distribution (server/reload.py), in virtual time: "failover and consequent desktop
reloads are evenly distributed to prevent overwhelming of the Finesse server"."""

from __future__ import annotations

from collections import Counter

import pytest

from emu_base.timers import Timers
from finesse_emu.deployment.launcher import node_options
from finesse_emu.runs.scenario.failover_bench import scenario
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.reload import CONTENT_PER_DESKTOP, ReloadDistribution


def policy() -> ReloadDistribution:
    t = Timers.build(1.0)
    return ReloadDistribution(t.reload_spread, t.reload_burst)


def serve(p: ReloadDistribution, arrivals: list[float], desktops: int) -> list[float]:
    """When each request of ``arrivals`` (in order) starts being served."""
    return [now + p.delay(now, desktops) for now in arrivals]


def test_on_by_default() -> None:
    assert NodeConfig().reload_distribution is True
    assert NodeConfig().reload_rate == 0.0


def test_a_quiet_node_serves_a_desktop_reload_at_once() -> None:
    for desktops in (1, 40, 2000):
        assert serve(policy(), [100.0] * CONTENT_PER_DESKTOP, desktops) == [100.0] * CONTENT_PER_DESKTOP
    # Reloads one after the other, at no more than the rate, never wait.
    p = policy()
    rate = p.rate_for(40)
    arrivals = [i / rate for i in range(1000)]
    assert serve(p, arrivals, 40) == arrivals


def test_a_failover_burst_is_spread_evenly_over_the_spread() -> None:
    t = Timers.build(1.0)
    p = policy()
    agents = 40
    requests = agents * CONTENT_PER_DESKTOP  # every desktop of the node reloads at once
    starts = serve(p, [0.0] * requests, agents)
    assert starts == sorted(starts)  # first come, first served
    at_once = sum(1 for s in starts if s == 0.0)
    assert at_once == p.burst_for(agents) == agents * CONTENT_PER_DESKTOP / t.reload_spread * t.reload_burst
    # The rest at the rate, evenly: the last within the spread (before a browser gives up).
    gaps = {round(b - a, 9) for a, b in zip(starts[at_once:], starts[at_once + 1 :], strict=False)}
    assert gaps == {round(1 / p.rate_for(agents), 9)}
    assert starts[-1] <= t.reload_spread < t.desktop_request_timeout
    per_second = Counter(int(s) for s in starts)
    assert max(per_second.values()) <= p.burst_for(agents) + p.rate_for(agents)


def test_the_rate_follows_the_node_size_and_the_time_scale() -> None:
    t = Timers.build(0.05)
    p = ReloadDistribution(t.reload_spread, t.reload_burst)
    # 2000 agents: 20000 requests over 8 seed seconds = 0.4 real seconds at time_scale 0.05.
    assert p.rate_for(2000) == 2000 * CONTENT_PER_DESKTOP / (8.0 * 0.05)
    assert p.rate_for(2000) == 50 * p.rate_for(40)
    assert p.rate_for(0) == p.rate_for(1)  # directory not loaded yet: one desktop's worth


def test_an_explicit_rate_has_no_burst() -> None:
    p = ReloadDistribution(8.0, 0.5, rate=20.0)
    assert serve(p, [0.0] * 5, 2000) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])


def test_no_request_waits_longer_than_the_spread() -> None:
    """Desktops loading more than CONTENT_PER_DESKTOP each: the overflow is served at the spread,
    before a browser's request timeout, and the bucket does not run ahead of it."""
    t = Timers.build(1.0)
    p = policy()
    starts = serve(p, [0.0] * 40 * 3 * CONTENT_PER_DESKTOP, 40)  # three times the content
    assert max(starts) == t.reload_spread < t.desktop_request_timeout
    assert starts[: 40 * CONTENT_PER_DESKTOP] == sorted(starts[: 40 * CONTENT_PER_DESKTOP])
    # Once the burst is over, the queue drains at the rate again: a request 1 s later waits no more
    # than the spread minus that second, plus one interval.
    assert p.delay(1.0, 40) <= t.reload_spread - 1.0 + 1 / p.rate_for(40) + 1e-9


def test_the_switch_is_reachable_from_deployment_files_and_the_failover_bench() -> None:
    assert node_options({"reload_distribution": False}, "deployment.yaml") == {"reload_distribution": False}
    with pytest.raises(ValueError, match="reload_distribution"):
        node_options({"reload_distribution": "off"}, "deployment.yaml")
    assert scenario(20, 6, "xml", 0.0, 0.1)["deployment"]["finesse"]["reload_distribution"] is True
    off = scenario(20, 6, "xml", 0.0, 0.1, reload_distribution=False)
    assert off["deployment"]["finesse"]["reload_distribution"] is False
