"""A scenario run as its steps, conditions and checks see it (steps.py, checks.py): the deployment's
directory, the swarm, the observer, the history, the current phase, the expectations so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emu_base.history import History
from emu_base.history_events import Expectation
from finesse_emu.desktop.client import DesktopClient
from finesse_emu.desktop.swarm import Swarm
from finesse_emu.runs.scenario.base import Scenario
from finesse_emu.runs.scenario.observer import Observer
from finesse_emu.runs.scenario.slices import RemoteSlices


@dataclass
class Outcome:
    name: str
    ok: bool
    detail: str  # what was seen
    expected: str = ""  # what the scenario file asked for (the check's argument), for JUnit
    step: int = 0  # the step's number in the file (1-based)


@dataclass
class Run:
    scenario: Scenario
    scale: float
    history: History
    swarm: Swarm
    observer: Observer
    run_dir: Path
    phase_index: int = 0  # first history event of the current phase
    phase_fault_t: float | None = None  # history time of the phase's first fault
    outcomes: list[Outcome] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)  # desktops closed by the scenario
    opened_held: bool = False  # the held desktops were opened (they count from then on)
    remote: RemoteSlices | None = None  # the swarm's other processes (swarm.processes > 1)
    # Faults the run's steps left in place, component -> the chaos action that undoes it ("start"
    # after kill/stop, "heal" otherwise): healed when the run ends on an attached deployment.
    injected: dict[str, str] = field(default_factory=dict)

    # -- views -----------------------------------------------------------------------------------
    def phase_events(self, event: str, source: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.history.events[self.phase_index :]
            if e["event"] == event and (source is None or e["source"] == source)
        ]

    def desktops(self) -> list[DesktopClient]:
        """Desktops the scenario counts: opened (or to be opened at start), not closed by a step."""
        held = {id(c) for c in self.swarm.held}
        return [
            c
            for c in self.swarm.clients
            if c.source == "desktop" and id(c) not in held and c.agent.id not in self.removed
        ]

    def phones(self, node: str | None = None) -> list[DesktopClient]:
        return [c for c in self.swarm.clients if c.source == "ippa" and (node is None or c.home == node)]

    def desktops_on(self, spec: dict[str, Any]) -> tuple[bool, str]:
        problems = []
        for node, want in spec.items():
            have = sum(1 for c in self.desktops() if c.state == "SIGNED_IN" and c.node == node)
            total = len(self.desktops())
            if self.remote is not None:
                have += self.remote.signed_in(node)
                total += self.remote.remote_desktops
            target = total if want == "all" else int(want)
            if have != target:
                problems.append(f"{node}: {have} desktops signed in, want {target}")
        return not problems, "; ".join(problems) or f"{spec}"

    def ippa_in(self, spec: dict[str, Any]) -> tuple[bool, str]:
        phones = self.phones(spec.get("node"))
        state = spec.get("state", "SIGNED_IN")
        have = sum(
            1 for c in phones if c.state == state and (spec.get("node") is None or c.node == spec["node"])
        )
        want = len(phones) if spec.get("count", "all") == "all" else int(spec["count"])
        return have == want, f"{have}/{len(phones)} phones {state}, want {want}"

    def node_status(self, spec: dict[str, str]) -> tuple[bool, str]:
        bad = {n: self.observer.latest.get(n) for n, s in spec.items() if self.observer.latest.get(n) != s}
        return not bad, f"now {bad}" if bad else f"{spec}"

    def expectation(self, name: str, ok: bool, detail: str, expected: str = "", step: int = 0) -> None:
        """One expectation's outcome, kept for the exit code and recorded in the history."""
        self.outcomes.append(Outcome(name, ok, detail, expected, step))
        self.history.record("scenario", Expectation(name=name, ok=ok, detail=detail))
