"""``run --attach``: the fault steps remember what they left in place, a later heal forgets it, and
the run's end undoes the rest (a kill by a start, an injected fault by a heal), recorded in the
history; one that cannot be undone is said, not raised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emu_base.history import History
from finesse_emu.deployment import chaos
from finesse_emu.runs.scenario import runner, steps
from finesse_emu.runs.scenario.spec import parse
from tests.unit.test_scenario_steps import FakeHistory


class FaultRun:
    def __init__(self) -> None:
        self.history = FakeHistory()
        self.run_dir = Path("/nowhere")
        self.injected: dict[str, str] = {}
        self.phase_fault_t: float | None = None


async def test_fault_steps_track_what_is_left_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[tuple[str, str]] = []

    async def fake_chaos(
        run_dir: Path, action: str, name: str, ms: float | None = None, params: dict[str, Any] | None = None
    ) -> str:
        done.append((action, name))
        return f"{name} {action}"

    async def fake_inject(run_dir: Path, name: str, fault: dict[str, Any]) -> str:
        done.append(("inject", name))
        return f"{name}: {fault}"

    monkeypatch.setattr(chaos, "chaos", fake_chaos)
    monkeypatch.setattr(chaos, "inject", fake_inject)
    sc = parse(
        {
            "name": "t",
            "deployment": {"agents": 2},
            "steps": [
                {"fault": {"action": "kill", "target": "publisher"}},
                {"fault": {"action": "hang", "target": "cti-a"}},
                {"fault": {"action": "inject", "target": "awdb-b", "fault": {"kind": "hang"}}},
                {"fault": {"action": "start", "target": "finesse-a"}},
            ],
        }
    )
    run = FaultRun()
    for step in sc.steps:
        await steps.STEPS[step.kind].run(run, step)  # type: ignore[arg-type]
    # finesse-a was started again by the scenario itself: only the rest is left to undo.
    assert run.injected == {"xmpp-a": "start", "cti-a": "heal", "awdb-b": "heal"}


async def test_the_run_end_heals_what_is_left(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    done: list[tuple[str, str]] = []

    async def fake_chaos(
        run_dir: Path, action: str, name: str, ms: float | None = None, params: dict[str, Any] | None = None
    ) -> str:
        if name == "awdb-b":
            raise chaos.ChaosError("awdb-b refused heal: 401")
        if name == "finesse-a":
            raise chaos.ChaosError("finesse-a is running (pid 7)")
        done.append((action, name))
        return f"{name} {action}"

    monkeypatch.setattr(chaos, "chaos", fake_chaos)
    history = History(tmp_path / "history.jsonl")
    injected = {"xmpp-a": "start", "cti-a": "heal", "awdb-b": "heal", "finesse-a": "start"}
    await runner.heal(tmp_path, injected, history)
    history.close()
    assert done == [("start", "xmpp-a"), ("heal", "cti-a")]
    assert injected == {"awdb-b": "heal"}  # the one that could not be undone
    events = [(e["event"], e.get("target")) for e in history.events]
    assert events == [("heal", "xmpp-a"), ("heal", "cti-a"), ("heal_failed", "awdb-b")]
