"""``finesse-emu run SCENARIO.yaml`` (finesse_emu/cli/run.py): bring up (or attach to) a deployment,
run a swarm, apply the steps (steps.py), check the expectations, write the report.

Progress goes to a :data:`Reporter` the caller passes in (the CLI's live line, finesse_emu/cli/progress.py):
this layer says where the run is, never how it is shown.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from emu_base.history import History
from emu_base.history_events import (
    Heal,
    ScenarioEnd,
    ScenarioStart,
)
from emu_base.timers import Timers
from finesse_emu.deployment.launcher import Deployment
from finesse_emu.deployment.topology import DEFAULT_NETWORK
from finesse_emu.desktop.client import LoadPlan
from finesse_emu.desktop.swarm import (
    Swarm,
    SwarmConfig,
    directory_agents,
    endpoints_from_deployment,
    ids_from_deployment,
    imp_from_deployment,
    take_slice,
)
from finesse_emu.runs.history import ingest_logs
from finesse_emu.runs.report import render_summary_table, write_report
from finesse_emu.runs.scenario.context import Outcome, Run
from finesse_emu.runs.scenario.observer import Observer
from finesse_emu.runs.scenario.slices import RemoteSlices
from finesse_emu.runs.scenario.spec import Scenario, Step
from finesse_emu.runs.scenario.steps import STEPS


@dataclass(frozen=True)
class Progress:
    """Where a run is: its phase, the step it is on (0 before the steps), real seconds since it
    began, and the real seconds its remaining waits take (``open_ended``: an ``until`` remains too,
    so that is a minimum)."""

    scenario: str
    phase: str
    step: int
    steps: int
    doing: str
    elapsed: float
    left: float | None
    open_ended: bool = False


Reporter = Callable[[Progress], None]


def describe(step: Step) -> str:
    """A step in a few words, for the progress line."""
    args = step.args
    if step.kind == "wait":
        return f"wait {args['seconds']:g} s"
    if step.kind == "until":
        return f"until {args['condition']}"
    if step.kind == "phase":
        return "phase"
    words = [str(v) for v in args.values() if isinstance(v, str | int | float) and not isinstance(v, bool)]
    return " ".join([step.kind, *words])[:60]


def time_left(steps: list[Step], scale: float) -> tuple[float, bool]:
    """Real seconds the waits of ``steps`` take, and whether an ``until`` among them makes it open."""
    waits = sum(float(s.args["seconds"]) for s in steps if s.kind == "wait") * scale
    return waits, any(s.kind == "until" for s in steps)


async def run_scenario(
    scenario: Scenario,
    report_dir: Path,
    *,
    run_dir: Path | None = None,
    attach: bool = False,
    time_scale: float | None = None,
    network: str = DEFAULT_NETWORK,
    quiet: bool = False,
    resources: bool = False,
    progress: Reporter | None = None,
    outcomes: list[Outcome] | None = None,
) -> bool:
    """Run one scenario; True when every expectation held. Writes the report into ``report_dir``.
    ``progress`` hears of each phase and step (finesse_emu/cli/progress.py shows them); ``outcomes``
    (when given) receives every expectation's outcome, also when a step failed."""
    began = time.monotonic()
    steps = list(scenario.steps)
    phase = ""

    def report(what: str, step: int = 0, left: float | None = None, open_ended: bool = False) -> None:
        if progress is not None:
            elapsed = time.monotonic() - began
            progress(Progress(scenario.name, phase, step, len(steps), what, elapsed, left, open_ended))

    report_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before anything runs)
    run_dir = run_dir or report_dir / "deployment"
    history = History(report_dir / "history.jsonl")
    deployment: Deployment | None = None
    if attach:
        state = json.loads((run_dir / "deployment.json").read_text())
        scale = float(state.get("time_scale", 1.0))
        wanted = time_scale or scenario.time_scale
        if wanted != scale:
            # The deployment's timers run at the scale it was started with; the run's waits must too.
            # Said even when quiet (the CLI prints its own summary): the user asked for another scale.
            print(
                f"using the deployment's time scale {scale:g} (from {run_dir}), not "
                f"{'--time-scale' if time_scale else 'the scenario'}'s {wanted:g}",
                flush=True,
            )
    else:
        scale = time_scale or scenario.time_scale
        # The nodes log every publish, REST answer and authentication into the run's history (for
        # finesse-emu check) unless the scenario says otherwise.
        node_options = {"event_log": True, **scenario.node_options}
        deployment = Deployment(
            run_dir,
            scenario.agent_spec or scenario.agents,
            scale,
            network,
            list(scenario.cti_options),
            node_options,
            sso=scenario.sso,
        )
    timers = Timers.build(scale)
    history.record("scenario", ScenarioStart(name=scenario.name, time_scale=scale, agents=scenario.agents))
    observer: Observer | None = None
    swarm: Swarm | None = None
    remote: RemoteSlices | None = None
    remote_events: list[dict[str, Any]] = []
    processes = int(scenario.swarm.get("processes", 1))
    ok = False
    injected: dict[str, str] = {}
    run: Run | None = None
    try:
        if deployment is not None:
            report("starting the deployment")
            await deployment.start()
        observer = Observer(
            run_dir, history, interval=max(0.02, 0.5 * scale), time_scale=scale, resources=resources
        )
        await observer.start()
        if processes > 1:
            desktops = int(scenario.swarm.get("desktops", scenario.agents))
            remote = RemoteSlices(scenario.swarm, desktops, processes, run_dir, report_dir)
            await remote.start()
            observer.extra_processes.update(remote.pids)
        swarm = Swarm(_swarm_config(scenario, run_dir, timers), history)
        run = Run(scenario, scale, history, swarm, observer, run_dir, remote=remote, injected=injected)
        report("starting the swarm")
        await swarm.start()
        for i, step in enumerate(steps):
            if step.kind == "phase":
                phase = step.args["name"]
            report(describe(step), i + 1, *time_left(steps[i:], scale))
            await STEPS[step.kind].run(run, step)
        ok = all(o.ok for o in run.outcomes)
        history.record("scenario", ScenarioEnd(ok=ok, expectations=len(run.outcomes)))
    finally:
        if run is not None and outcomes is not None:
            outcomes.extend(run.outcomes)
        if attach:
            # Someone else's deployment: leave it as it was found, even when the run failed or was
            # interrupted (a deployment started here stops with the run anyway).
            await heal(run_dir, injected, history)
        if swarm is not None:
            await swarm.stop()
        if remote is not None:
            remote_events = await remote.stop()
        if observer is not None:
            await observer.stop()
        if deployment is not None:
            await deployment.stop()
        history.close()
    report("writing the report", len(steps), 0.0)
    # One timeline: the components' own log events join the run's history (docs/reports.md).
    logs = {p.stem: p for p in sorted(run_dir.glob("*.log")) if p.stem != "launcher"}
    events = ingest_logs(_with_slices(history.events, remote_events), logs)
    if attach:
        # An attached deployment's logs go back to its `up`: the run's timeline starts with the run.
        events = [e for e in events if e["t"] >= 0]
    with (report_dir / "history.jsonl").open("w", encoding="utf-8") as out:
        for e in events:
            out.write(json.dumps(e, separators=(",", ":")) + "\n")
    summary = write_report(report_dir, events)
    if not quiet:
        print(render_summary_table(summary))
        print(f"report: {report_dir / 'report.html'}")
    return ok


async def heal(run_dir: Path, injected: dict[str, str], history: History) -> None:
    """Undo every fault the run left in place (``Run.injected``), each recorded as a heal; one that
    cannot be undone is recorded and said, never raised (the run's own outcome comes first)."""
    from finesse_emu.deployment import chaos

    for target, action in list(injected.items()):
        try:
            message = await chaos.chaos(run_dir, action, target)
        except (chaos.ChaosError, OSError, aiohttp.ClientError) as exc:
            if action == "start" and "is running" in str(exc):
                injected.pop(target)  # restarted already (by a later step or its supervisor)
                continue
            history.append("scenario", "heal_failed", target=target, action=action, reason=str(exc))
            print(f"could not heal {target} ({action}): {exc}", file=sys.stderr, flush=True)
            continue
        history.record("scenario", Heal(target=target, action=action, detail=f"{message} (run ended)"))
        injected.pop(target)


def _with_slices(events: list[dict[str, Any]], remote: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's history with the other swarm processes' events, on the run's own clock."""
    if not remote or not events:
        return events
    wall0 = events[0]["wall"] - events[0]["t"]
    for e in remote:
        e["t"] = round(e["wall"] - wall0, 6)
    return sorted(events + remote, key=lambda e: e["t"])


def _swarm_config(scenario: Scenario, run_dir: Path, timers: Timers) -> SwarmConfig:
    s = scenario.swarm
    desktops = int(s.get("desktops", scenario.agents))
    ids_url, ca_file = ids_from_deployment(run_dir)
    processes = int(s.get("processes", 1))
    return SwarmConfig(
        endpoints=endpoints_from_deployment(run_dir),
        # Slice 0 here; the others in their own processes (slices.py).
        agents=take_slice(directory_agents(scenario.agents)[:desktops], 0, processes),
        timers=timers,
        ippa=int(s.get("ippa", 0)),
        publisher_share=float(s.get("publisher_share", 0.5)),
        plan=LoadPlan(
            # Without gadgets: the node's desktop layout (the deployment's finesse.layout).
            gadgets=int(s["gadgets"]) if "gadgets" in s else None,
            kind=str(s.get("gadget_kind", "xml")),
            bypass_server_cache=bool(s.get("bypass_server_cache", False)),
            nocache=bool(s.get("nocache", False)),
            preload_secondary=None if s.get("preload_secondary") is None else bool(s["preload_secondary"]),
            rcwn=float(s.get("rcwn", 0.0)),
            clear_cache_on_launch=bool(s.get("clear_cache_on_launch", False)),
        ),
        hold=int(s.get("hold", 0)),
        ids_url=ids_url,  # single sign-on when the deployment runs an Identity Service
        ca_file=ca_file,
        rtt_ms=float(s.get("rtt_ms", 0.0)),
        # The chat gadget in the desktops' layout: each signs in to IM&P too (off by default, so
        # that load runs pay for no second XMPP session per desktop).
        imp=imp_from_deployment(run_dir) if s.get("chat") else [],
        slow_network=bool(s.get("slow_network", False)),
    )
