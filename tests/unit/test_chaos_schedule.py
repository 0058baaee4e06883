"""chaos-run schedules: a function of the seed only, every fault healed, valid scenarios, and every
invariant of finesse-emu check exercised whatever the seed."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from finesse_emu.runs.check import INVARIANTS
from finesse_emu.runs.scenario.chaos_run import IPPA_HOLD, KINDS, QUIET, exercised, plan, schedule
from finesse_emu.runs.scenario.spec import parse

NAMES = {i.name for i in INVARIANTS}
seeds = st.integers(0, 10**6)
durations = st.floats(0, 3000)


@settings(max_examples=50, deadline=None)
@given(seeds, durations)
def test_same_seed_same_schedule_and_every_fault_healed(seed: int, duration: float) -> None:
    spec = schedule(seed, duration, 20, 0.05)
    assert spec == schedule(seed, duration, 20, 0.05)
    parse(spec)  # a scenario finesse-emu run accepts
    faulted: list[str] = []
    for step in spec["steps"]:
        fault = step.get("fault")
        if fault is None:
            continue
        if fault["action"] in ("kill", "hang"):
            assert not faulted, f"{fault} while {faulted} is down: one fault at a time"
            faulted.append(fault["target"])
        else:
            faulted.remove(fault["target"])
    assert faulted == []  # nothing left broken: convergence can be checked after the last fault


def test_different_seeds_give_different_schedules() -> None:
    assert schedule(1, 600, 20, 0.05) != schedule(2, 600, 20, 0.05)


def test_every_invariant_of_the_checker_is_exercised_by_some_kind_of_fault() -> None:
    """A new invariant registered in finesse_emu.runs.check with no fault kind to exercise it fails here:
    chaos-run would otherwise check it on nothing and fail every run."""
    by_kinds = set().union(*(k.exercises for k in KINDS))
    assert by_kinds >= NAMES, f"no fault kind exercises {sorted(NAMES - by_kinds)}"
    assert by_kinds <= NAMES, f"kinds name unknown invariants {sorted(by_kinds - NAMES)}"


@settings(max_examples=200, deadline=None)
@given(seeds, durations, st.integers(12, 2000))
def test_every_schedule_exercises_every_invariant(seed: int, duration: float, agents: int) -> None:
    spec = schedule(seed, duration, agents, 0.05)
    found = exercised(spec)
    assert set(found) == NAMES, f"seed {seed}: not exercised {sorted(NAMES - set(found))}"
    # Phones on both nodes, and the browser faults of the issue among the faults.
    assert spec["swarm"]["ippa"] >= 2
    actions = [s["clients"]["action"] for s in spec["steps"] if "clients" in s]
    assert "close" in actions and "crash" in actions


@settings(max_examples=100, deadline=None)
@given(seeds, durations)
@example(853, 1800.0)  # waits of 110.3 + 109.7 summed to 219.99999999999997 against a quiet of 220
@example(62, 900.0)
def test_what_each_invariant_needs_is_in_every_schedule(seed: int, duration: float) -> None:
    """The conditions exercised() credits, checked on the steps themselves."""
    steps = schedule(seed, duration, 20, 0.05)["steps"]
    faults = [i for i, s in enumerate(steps) if "fault" in s and s["fault"]["action"] in ("kill", "hang")]
    # The first component fault kills a node that has phones, long enough for SERVER_UNAVAILABLE.
    first = steps[faults[0]]["fault"]
    assert first["action"] == "kill" and first["target"] in ("publisher", "subscriber")
    assert steps[faults[0] + 1]["wait"] >= IPPA_HOLD
    # A close or crash is followed by its quiet stretch (no component fault) before the next one.
    for i, step in enumerate(steps):
        action = step.get("clients", {}).get("action")
        if action in QUIET:
            waited = 0.0
            for later in steps[i + 1 :]:
                if "fault" in later:
                    break
                waited += later.get("wait", 0.0)
            assert waited >= QUIET[action], (seed, i, action, waited)
    # A CTI kill is always of the active side: the other one took over at the previous kill.
    active = "cti-a"
    for i in faults:
        target = steps[i]["fault"]["target"]
        if target.startswith("cti-"):
            assert target == active
            active = "cti-b" if active == "cti-a" else "cti-a"


def spec_of(*steps: dict[str, Any], ippa: int = 2) -> dict[str, Any]:
    return {"swarm": {"desktops": 12, "ippa": ippa}, "steps": [{"phase": "p"}, *steps]}


def kill(target: str, hold: float) -> list[dict[str, Any]]:
    undo = "start"
    return [{"fault": {"action": "kill", "target": target}}, {"wait": hold},
            {"fault": {"action": undo, "target": target}}]  # fmt: skip


def test_exercised_credits_only_what_can_work() -> None:
    # A node kill too short for three attempts, or with no phones: the IPPA rules are not exercised.
    assert "ippa-stays-on-its-node" not in exercised(spec_of(*kill("publisher", 10.0)))
    assert "ippa-stays-on-its-node" not in exercised(spec_of(*kill("publisher", 60.0), ippa=0))
    assert "ippa-stays-on-its-node" in exercised(spec_of(*kill("publisher", 60.0)))
    # The publisher's phones are on the Sign In screen after its first kill: a second one finds none.
    twice = exercised(
        spec_of({"phase": "one"}, *kill("publisher", 60.0), {"phase": "two"}, *kill("publisher", 60.0))
    )
    assert twice["ippa-stays-on-its-node"] == ["one"]
    # Killing the idle CTI side takes no node out of service.
    cti = exercised(spec_of({"phase": "a"}, *kill("cti-a", 20.0), {"phase": "a again"}, *kill("cti-a", 20.0)))
    assert cti["no-rest-success-while-out-of-service"] == ["a"]
    # A crash whose node is killed before its forced logout could land exercises nothing.
    crash = {"clients": {"action": "crash", "count": 1}}
    assert "forced-logout-code-255" not in exercised(spec_of(crash, {"wait": 100.0}, *kill("cti-a", 20.0)))
    assert "forced-logout-code-255" in exercised(spec_of(crash, {"wait": 230.0}, *kill("cti-a", 20.0)))
    assert "forced-logout-code-255" not in exercised(spec_of(crash, {"wait": 100.0}))  # the run ends first


def test_plan_keeps_the_phones_node_first_and_the_browser_faults_in() -> None:
    for seed in range(200):
        kinds = plan(seed, 0)
        assert kinds[0] in ("kill-publisher", "kill-subscriber")
        assert {"close", "crash"} <= set(kinds)
