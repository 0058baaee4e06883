"""Reload distribution (server/reload.py), in virtual time: "failover and consequent desktop
reloads are evenly distributed to prevent overwhelming of the Finesse server"."""

from __future__ import annotations

from collections import Counter

import pytest

from emu_base.timers import Timers
from finesse_emu.deployment.launcher import node_options
from finesse_emu.runs.scenario.failover_bench import scenario
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.layout import DesktopLayout, gadgets_from_counts
from finesse_emu.server.layout_admin import LayoutState
from finesse_emu.server.reload import (
    DESKTOP_RESOURCES,
    DesktopContent,
    ReloadDistribution,
    desktop_content,
    layout_requests,
)

# The default layout's desktop: six XML gadgets and the desktop's resources.
PER_DESKTOP = 6 + DESKTOP_RESOURCES


def desktops(n: int) -> DesktopContent:
    return DesktopContent.uniform(n, PER_DESKTOP)


def policy() -> ReloadDistribution:
    t = Timers.build(1.0)
    return ReloadDistribution(t.reload_spread, t.reload_burst)


def serve(p: ReloadDistribution, arrivals: list[float], content: DesktopContent) -> list[float]:
    """When each request of ``arrivals`` (in order) starts being served."""
    return [now + p.delay(now, content) for now in arrivals]


def test_on_by_default() -> None:
    assert NodeConfig().reload_distribution is True
    assert NodeConfig().reload_rate == 0.0


def test_a_quiet_node_serves_a_desktop_reload_at_once() -> None:
    for n in (1, 40, 2000):
        assert serve(policy(), [100.0] * PER_DESKTOP, desktops(n)) == [100.0] * PER_DESKTOP
    # Reloads one after the other, at no more than the rate, never wait.
    p = policy()
    rate = p.rate_for(desktops(40))
    arrivals = [i / rate for i in range(1000)]
    assert serve(p, arrivals, desktops(40)) == arrivals


def test_a_failover_burst_is_spread_evenly_over_the_spread() -> None:
    t = Timers.build(1.0)
    p = policy()
    agents = desktops(40)
    requests = agents.requests  # every desktop of the node reloads at once
    starts = serve(p, [0.0] * requests, agents)
    assert starts == sorted(starts)  # first come, first served
    at_once = sum(1 for s in starts if s == 0.0)
    assert at_once == p.burst_for(agents) == 40 * PER_DESKTOP / t.reload_spread * t.reload_burst
    # The rest at the rate, evenly: the last within the spread (before a browser gives up).
    gaps = {round(b - a, 9) for a, b in zip(starts[at_once:], starts[at_once + 1 :], strict=False)}
    assert gaps == {round(1 / p.rate_for(agents), 9)}
    assert starts[-1] <= t.reload_spread < t.desktop_request_timeout
    per_second = Counter(int(s) for s in starts)
    assert max(per_second.values()) <= p.burst_for(agents) + p.rate_for(agents)


def test_the_rate_follows_the_node_size_and_the_time_scale() -> None:
    t = Timers.build(0.05)
    p = ReloadDistribution(t.reload_spread, t.reload_burst)
    # 2000 agents: 20000 requests over 8 emulated seconds = 0.4 real seconds at time_scale 0.05.
    assert p.rate_for(desktops(2000)) == 2000 * PER_DESKTOP / (8.0 * 0.05)
    assert p.rate_for(desktops(2000)) == 50 * p.rate_for(desktops(40))
    assert p.rate_for(desktops(0)) == p.rate_for(desktops(1))  # no directory yet: one desktop's worth


def test_an_explicit_rate_has_no_burst() -> None:
    p = ReloadDistribution(8.0, 0.5, rate=20.0)
    assert serve(p, [0.0] * 5, desktops(2000)) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])


def test_no_request_waits_longer_than_the_spread() -> None:
    """Desktops loading more than the node's layout says (their own gadget list): the overflow is
    served at the spread, before a browser's request timeout, and the bucket does not run ahead."""
    t = Timers.build(1.0)
    p = policy()
    starts = serve(p, [0.0] * 40 * 3 * PER_DESKTOP, desktops(40))  # three times the content
    assert max(starts) == t.reload_spread < t.desktop_request_timeout
    assert starts[: 40 * PER_DESKTOP] == sorted(starts[: 40 * PER_DESKTOP])
    # Once the burst is over, the queue drains at the rate again: a request 1 s later waits no more
    # than the spread minus that second, plus one interval.
    assert p.delay(1.0, desktops(40)) <= t.reload_spread - 1.0 + 1 / p.rate_for(desktops(40)) + 1e-9


def test_a_desktops_content_is_its_layouts_gadgets_on_the_node_and_its_resources() -> None:
    """The rate follows the node's desktop layout ("Configuring fewer gadgets in the desktop layout
    results in faster desktop failover and startup"), not a fixed 10 requests per desktop."""
    assert layout_requests(DesktopLayout().default) == 6 + DESKTOP_RESOURCES  # the default desktop
    mixed = gadgets_from_counts({"xml": 3, "jsp": 2, "cuic_jsp": 1})  # a JSP gadget: one request too
    assert layout_requests(mixed) == 6 + DESKTOP_RESOURCES
    # A gadget at an absolute URL is loaded from its own server, not from the node.
    assert layout_requests(("/desktop/gadgets/xml/a", "https://cuic.example:8444/cuic/g.xml")) == 1 + 4
    layout = DesktopLayout(gadgets_from_counts({"xml": 2}), {7: gadgets_from_counts({"xml": 14, "jsp": 2})})
    content = desktop_content(layout, [1, 1, 1, 7])  # three of the default team, one of team 7
    assert content == DesktopContent(desktops=4, requests=3 * (2 + 4) + (16 + 4), largest=20)
    # No user known yet: none, and one default desktop as the largest (the rate never goes below it).
    assert desktop_content(layout, []) == DesktopContent(0, 0, 6)


def test_the_rate_follows_the_layout() -> None:
    t = Timers.build(1.0)
    p = ReloadDistribution(t.reload_spread, t.reload_burst)
    small = desktop_content(DesktopLayout(gadgets_from_counts({"xml": 2})), [1] * 2000)
    large = desktop_content(DesktopLayout(gadgets_from_counts({"xml": 16})), [1] * 2000)
    assert p.rate_for(small) == 2000 * (2 + 4) / t.reload_spread
    assert p.rate_for(large) == 2000 * (16 + 4) / t.reload_spread
    # A desktop alone reloads its 20 requests at once on the node with the larger layout.
    one = desktop_content(DesktopLayout(gadgets_from_counts({"xml": 16})), [1])
    assert serve(p, [5.0] * 20, one) == [5.0] * 20


def test_the_node_keeps_its_content_with_its_layout_and_users() -> None:
    """LayoutState computes the content when the layout or the users change, and the gate reads it."""
    teams: list[int] = []
    state = LayoutState(DesktopLayout(), 4, lambda: iter(teams))
    assert state.content == DesktopContent(0, 0, 10)  # before the directory is loaded
    teams += [1] * 30
    state.check()  # the directory loaded
    assert state.content == DesktopContent(30, 300, 10)
    state.set(DesktopLayout(gadgets_from_counts({"xml": 1})))
    assert state.content == DesktopContent(30, 150, 5)


def test_the_switch_is_reachable_from_deployment_files_and_the_failover_bench() -> None:
    assert node_options({"reload_distribution": False}, "deployment.yaml") == {"reload_distribution": False}
    with pytest.raises(ValueError, match="reload_distribution"):
        node_options({"reload_distribution": "off"}, "deployment.yaml")
    assert scenario(20, 6, "xml", 0.0, 0.1)["deployment"]["finesse"]["reload_distribution"] is True
    off = scenario(20, 6, "xml", 0.0, 0.1, reload_distribution=False)
    assert off["deployment"]["finesse"]["reload_distribution"] is False
