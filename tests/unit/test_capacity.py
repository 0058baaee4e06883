"""The capacity model's pure cores on a virtual clock (ManualClock through the sans-IO Driver)."""

from __future__ import annotations

import pytest

from emu_base.clock import ManualClock
from emu_base.sansio import Driver
from finesse_emu.capacity import (
    COSTS,
    AgentPg,
    Capacity,
    Kind,
    Link,
    LoggedIn,
    NodeCapacity,
    Output,
    Served,
    Worked,
    profile,
)

NO_LINK = Link(rtt=0.0)


def _drive(core: NodeCapacity | AgentPg) -> tuple[ManualClock, Driver[Output], list[tuple[float, Output]]]:
    clock = ManualClock(start=0.0)
    seen: list[tuple[float, Output]] = []
    driver: Driver[Output] = Driver(core, clock, lambda out: seen.append((clock.now(), out)))
    return clock, driver, seen


def _run(clock: ManualClock, until: float) -> None:
    while (when := clock.next_timer()) is not None and when <= until:
        clock.advance(when - clock.now())


def test_four_vcpus_serve_eight_equal_requests_in_two_waves() -> None:
    core = NodeCapacity(Capacity(vcpus=4, link=NO_LINK))
    clock, driver, seen = _drive(core)
    for i in range(8):
        core.submit(clock.now(), i, Kind.XML_GADGET)
    driver.pump()
    _run(clock, 10.0)
    service = COSTS.service(Kind.XML_GADGET)
    worked = {out.request_id: when for when, out in seen if isinstance(out, Worked)}
    assert [worked[i] for i in range(8)] == pytest.approx([service] * 4 + [2 * service] * 4)


def test_eight_vcpus_serve_the_same_eight_in_one_wave() -> None:
    core = NodeCapacity(Capacity(vcpus=8, link=NO_LINK))
    clock, driver, seen = _drive(core)
    for i in range(8):
        core.submit(clock.now(), i, Kind.XML_GADGET)
    driver.pump()
    _run(clock, 10.0)
    assert [when for when, _ in seen] == pytest.approx([COSTS.service(Kind.XML_GADGET)] * 8)


def test_a_request_arrives_one_one_way_delay_after_it_is_sent_and_resync_at_once() -> None:
    core = NodeCapacity(Capacity(vcpus=2, link=Link(rtt=0.4)))
    clock, driver, seen = _drive(core)
    core.submit(0.0, "rest", Kind.REST)
    core.submit(0.0, "resync", Kind.RESYNC)
    driver.pump()
    _run(clock, 10.0)
    at = {out.request_id: when for when, out in seen}
    assert at["rest"] == pytest.approx(0.2 + COSTS.rest)
    assert at["resync"] == pytest.approx(COSTS.resync)


def test_the_agent_pg_logs_agents_in_one_at_a_time() -> None:
    pg = AgentPg(COSTS.pg_sign_in)
    clock, driver, seen = _drive(pg)
    for i in range(3):
        pg.login(0.0, i)
    driver.pump()
    _run(clock, 10.0)
    assert [out for _, out in seen] == [LoggedIn(0), LoggedIn(1), LoggedIn(2)]
    assert [when for when, _ in seen] == pytest.approx([COSTS.pg_sign_in * k for k in (1, 2, 3)])
    assert pg.busy == pytest.approx(3 * COSTS.pg_sign_in)


def test_the_egress_link_sends_one_response_after_another_at_its_bandwidth() -> None:
    core = NodeCapacity(Capacity(vcpus=4, bandwidth_mbps=8.0, link=NO_LINK))  # 1 MB/s
    clock, driver, seen = _drive(core)
    for i in range(3):
        core.respond(0.0, i, 500_000)
    driver.pump()
    _run(clock, 10.0)
    assert [when for when, _ in seen] == pytest.approx([0.5, 1.0, 1.5])
    assert all(isinstance(out, Served) for _, out in seen)
    assert core.peak_mbps() == pytest.approx(8.0)
    assert sum(core.bins.values()) == 1_500_000


def test_serve_chains_vcpu_pg_and_link_and_puts_out_only_served() -> None:
    core = NodeCapacity(Capacity(vcpus=4, link=NO_LINK))
    clock, driver, seen = _drive(core)
    core.serve(0.0, "a", Kind.SIGN_IN)
    core.serve(0.0, "b", Kind.SIGN_IN)
    core.serve(0.0, "c", Kind.REST)
    driver.pump()
    _run(clock, 10.0)
    assert all(isinstance(out, Served) for _, out in seen)
    at = {out.request_id: when for when, out in seen}
    link = 8 / (1000.0 * 1e6)
    # Both sign-ins are worked at once on two vCPUs; the PG takes them one after the other.
    assert at["a"] == pytest.approx(COSTS.sign_in + COSTS.pg_sign_in + COSTS.sign_in_bytes * link)
    assert at["b"] == pytest.approx(COSTS.sign_in + 2 * COSTS.pg_sign_in + COSTS.sign_in_bytes * link)
    assert at["c"] == pytest.approx(COSTS.rest + COSTS.rest_bytes * link)


def test_profiles_and_none() -> None:
    assert profile("none") is None
    four, eight = profile("4vcpu"), profile("8vcpu")
    assert four is not None and four.vcpus == 4 and four.costs is COSTS
    assert eight is not None and eight.vcpus == 8
    with pytest.raises(ValueError, match="capacity must be one of none, 4vcpu, 8vcpu"):
        profile("16vcpu")
    with pytest.raises(ValueError):
        Capacity(vcpus=0)
