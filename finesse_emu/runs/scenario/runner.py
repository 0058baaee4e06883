"""``finesse-emu run SCENARIO.yaml``: bring up (or attach to) a deployment, run a swarm, apply the
steps, check the expectations, write the report. Exit code 0 only when every expectation held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from emu_base import eventloop
from emu_base.admin import auth_headers
from emu_base.history import History
from emu_base.history_events import (
    Call,
    Expectation,
    FailoverDetected,
    FailoverDone,
    Fault,
    Heal,
    HttpError,
    Load,
    Moved,
    Phase,
    ScenarioEnd,
    ScenarioStart,
    SignInFailed,
)
from emu_base.timers import Timers
from finesse_emu.deployment.chaos import ChaosError, chaos, inject
from finesse_emu.deployment.launcher import Deployment, read_admin_token
from finesse_emu.deployment.topology import DEFAULT_NETWORK
from finesse_emu.desktop.client import DesktopClient, LoadPlan
from finesse_emu.desktop.swarm import (
    Swarm,
    SwarmConfig,
    directory_agents,
    endpoints_from_deployment,
    take_slice,
)
from finesse_emu.runs.history import ingest_logs
from finesse_emu.runs.report import render_summary_table, write_report
from finesse_emu.runs.scenario.observer import Observer
from finesse_emu.runs.scenario.slices import RemoteSlices
from finesse_emu.runs.scenario.spec import Scenario, ScenarioError, Step

# Waiting for a condition is not a measurement: give slow machines at least this much real time.
MIN_UNTIL_SECONDS = 20.0


@dataclass
class Outcome:
    name: str
    ok: bool
    detail: str


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
) -> bool:
    """Run one scenario; True when every expectation held. Writes the report into ``report_dir``."""
    report_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before anything runs)
    run_dir = run_dir or report_dir / "deployment"
    history = History(report_dir / "history.jsonl")
    deployment: Deployment | None = None
    if attach:
        state = json.loads((run_dir / "deployment.json").read_text())
        scale = float(state.get("time_scale", 1.0))
    else:
        scale = time_scale or scenario.time_scale
        # The nodes log every publish, REST answer and authentication into the run's history (for
        # finesse-emu check) unless the scenario says otherwise.
        node_options = {"event_log": True, **scenario.node_options}
        deployment = Deployment(
            run_dir, scenario.agents, scale, network, list(scenario.cti_options), node_options
        )
    timers = Timers.build(scale)
    history.record("scenario", ScenarioStart(name=scenario.name, time_scale=scale, agents=scenario.agents))
    observer: Observer | None = None
    swarm: Swarm | None = None
    remote: RemoteSlices | None = None
    remote_events: list[dict[str, Any]] = []
    processes = int(scenario.swarm.get("processes", 1))
    ok = False
    try:
        if deployment is not None:
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
        run = Run(scenario, scale, history, swarm, observer, run_dir, remote=remote)
        await swarm.start()
        for step in scenario.steps:
            await _step(run, step)
        ok = all(o.ok for o in run.outcomes)
        history.record("scenario", ScenarioEnd(ok=ok, expectations=len(run.outcomes)))
    finally:
        if swarm is not None:
            await swarm.stop()
        if remote is not None:
            remote_events = await remote.stop()
        if observer is not None:
            await observer.stop()
        if deployment is not None:
            await deployment.stop()
        history.close()
    # One timeline: the components' own log events join the run's history (docs/reports.md).
    logs = {p.stem: p for p in sorted(run_dir.glob("*.log")) if p.stem != "launcher"}
    events = ingest_logs(_with_slices(history.events, remote_events), logs)
    with (report_dir / "history.jsonl").open("w", encoding="utf-8") as out:
        for e in events:
            out.write(json.dumps(e, separators=(",", ":")) + "\n")
    summary = write_report(report_dir, events)
    if not quiet:
        print(render_summary_table(summary))
        print(f"report: {report_dir / 'report.html'}")
    return ok


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
    token = s.get("token_lifetime")
    processes = int(s.get("processes", 1))
    return SwarmConfig(
        endpoints=endpoints_from_deployment(run_dir),
        # Slice 0 here; the others in their own processes (slices.py).
        agents=take_slice(directory_agents(scenario.agents)[:desktops], 0, processes),
        timers=timers,
        ippa=int(s.get("ippa", 0)),
        publisher_share=float(s.get("publisher_share", 0.5)),
        plan=LoadPlan(
            gadgets=int(s.get("gadgets", 6)),
            kind=str(s.get("gadget_kind", "xml")),
            bypass_cache=bool(s.get("bypass_cache", False)),
            preload_secondary=bool(s.get("preload_secondary", True)),
        ),
        hold=int(s.get("hold", 0)),
        token_lifetime=None if token is None else float(token) * timers.time_scale,
        rtt_ms=float(s.get("rtt_ms", 0.0)),
    )


async def _step(run: Run, step: Step) -> None:
    a, h = step.args, run.history
    if step.kind == "phase":
        run.phase_index = len(h.events)
        run.phase_fault_t = None
        h.record("scenario", Phase(name=a["name"]))
    elif step.kind == "wait":
        await asyncio.sleep(a["seconds"] * run.scale)
    elif step.kind == "until":
        await _until(run, step)
    elif step.kind == "fault":
        for target in a["targets"]:
            try:
                if a["action"] == "inject":
                    message = await inject(run.run_dir, target, a["fault"])
                else:
                    message = await chaos(run.run_dir, a["action"], target, a.get("ms"))
            except ChaosError as exc:
                raise ScenarioError(f"{step.where()}: {exc}") from exc
            heals = a["action"] in ("start", "heal")
            record = h.record(
                "scenario", (Heal if heals else Fault)(target=target, action=a["action"], detail=message)
            )
            if not heals and run.phase_fault_t is None:
                run.phase_fault_t = record["t"]
    elif step.kind == "clients":
        _clients(run, step)
    elif step.kind == "call":
        await _call(run, step)
    elif step.kind == "expect":
        for name, arg in a["checks"].items():
            ok, detail = await _cti_agent(run, arg) if name == "cti_agent" else _check(run, name, arg)
            label = f"{a['name']}: {name}"
            run.outcomes.append(Outcome(label, ok, detail))
            h.record("scenario", Expectation(name=label, ok=ok, detail=detail))


async def _until(run: Run, step: Step) -> None:
    cond, arg = step.args["condition"], step.args["arg"]
    deadline = time.monotonic() + max(step.args["timeout"] * run.scale, MIN_UNTIL_SECONDS)
    detail = ""
    while time.monotonic() < deadline:
        ok, detail = _condition(run, cond, arg)
        if ok:
            run.history.append("scenario", "until", condition=cond, ok=True)
            return
        await asyncio.sleep(max(0.02, 0.2 * run.scale))
    run.history.append("scenario", "until", condition=cond, ok=False, detail=detail)
    run.outcomes.append(Outcome(f"until {cond}", False, f"timed out: {detail}"))
    run.history.record("scenario", Expectation(name=f"until {cond}", ok=False, detail=f"timed out: {detail}"))


def _condition(run: Run, cond: str, arg: Any) -> tuple[bool, str]:
    if cond == "all_signed_in":
        held = {id(c) for c in run.swarm.held} if not run.opened_held else set()
        clients = [c for c in run.swarm.clients if id(c) not in held and c.agent.id not in run.removed]
        n, total = sum(1 for c in clients if c.state == "SIGNED_IN"), len(clients)
        if run.remote is not None:
            n, total = n + run.remote.signed_in(), total + run.remote.remote_desktops
        return n == total, f"{n}/{total} signed in"
    if cond == "desktops_on":
        return run.desktops_on(arg)
    if cond == "node_status":
        return run.node_status(arg)
    if cond == "ippa_state":
        return run.ippa_in(arg)
    if cond == "cti_active":
        return run.observer.latest.get(str(arg)) == "active", f"roles {run.observer.latest}"
    raise ScenarioError(f"unknown condition {cond}")


def _active_cti(run: Run) -> dict[str, Any] | None:
    state = json.loads((run.run_dir / "deployment.json").read_text())
    latest = run.observer.latest
    active = [c for c in state["components"] if c["role"] == "cti" and latest.get(c["name"]) == "active"]
    return active[0] if active else None


async def _call(run: Run, step: Step) -> None:
    """A call offered to an agent on the active CTI side, answered and ended by the PG itself."""
    a = step.args
    c = _active_cti(run)
    if c is None:
        raise ScenarioError(f"{step.where()}: no active CTI side")
    body = {"agent_id": a["agent"], "answer_after": a["answer_after"], "talk_time": a["talk_time"]}
    url = f"http://{c['host']}:{c['ports']['admin']}/emu/calls"
    try:
        headers = auth_headers(read_admin_token(run.run_dir))  # the deployment's control-plane token
    except ValueError as exc:
        raise ScenarioError(f"{step.where()}: {exc}") from exc
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as resp:
        answer = await resp.json()
        if resp.status not in (200, 201):
            raise ScenarioError(f"{step.where()}: {c['name']} refused the call: {answer}")
    run.history.record("scenario", Call(agent=a["agent"], talk_time=a["talk_time"], cti=c["name"]))


async def _cti_agent(run: Run, spec: dict[str, Any]) -> tuple[bool, str]:
    """An agent's state on the active CTI side (its admin API): ``{agent, state, reason, mrd}``."""
    c = _active_cti(run)
    if c is None:
        return False, "no active CTI side"
    url = f"http://{c['host']}:{c['ports']['admin']}/emu/agents/{spec['agent']}"
    try:
        headers = auth_headers(read_admin_token(run.run_dir))
        async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
            agent = await resp.json()
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return False, f"{c['name']}: {exc}"
    if "mrd" in spec:  # a non-voice MRD's state instead of the voice state
        mrd_state = agent.get("mrd_states", {}).get(str(spec["mrd"]))
        ok = mrd_state == spec.get("state")
        detail = f"agent {spec['agent']} MRD {spec['mrd']} on {c['name']}: {mrd_state}"
        return ok, detail if ok else f"{detail}, want {spec.get('state')}"
    problems = []
    if "state" in spec and agent.get("state") != spec["state"]:
        problems.append(f"state {agent.get('state')}, want {spec['state']}")
    if "reason" in spec and agent.get("reason_code") != spec["reason"]:
        problems.append(f"reason {agent.get('reason_code')}, want {spec['reason']}")
    shown = f"agent {spec['agent']} on {c['name']}: {agent.get('state')} reason {agent.get('reason_code')}"
    return not problems, f"{shown}; " + "; ".join(problems) if problems else shown


def _bounds(values: list[float], spec: dict[str, Any], unit: str) -> tuple[bool, str]:
    problems = []
    if "count" in spec and len(values) < int(spec["count"]):
        problems.append(f"{len(values)} values, want at least {spec['count']}")
    if values and "max" in spec and max(values) > float(spec["max"]):
        problems.append(f"max {max(values):.2f}{unit} > {spec['max']}{unit}")
    if values and "min" in spec and min(values) < float(spec["min"]):
        problems.append(f"min {min(values):.2f}{unit} < {spec['min']}{unit}")
    if not values and spec.get("count", 1):
        problems.append("no values")
    shown = f"n={len(values)}" + (f", max {max(values):.2f}{unit}" if values else "")
    return not problems, "; ".join(problems) or shown


def _count(n: int, spec: dict[str, Any], what: str) -> tuple[bool, str]:
    lo, hi = int(spec.get("min", 0)), spec.get("max")
    ok = n >= lo and (hi is None or n <= int(hi))
    return ok, f"{n} {what} (want {lo}..{'' if hi is None else hi})"


def _check(run: Run, name: str, arg: Any) -> tuple[bool, str]:
    if name == "signed_in":  # desktops signed in on either node: "all" or a number
        have = sum(1 for c in run.desktops() if c.state == "SIGNED_IN")
        want = len(run.desktops()) if arg == "all" else int(arg)
        return have == want, f"{have} desktops signed in, want {want}"
    if name == "desktops_on":
        return run.desktops_on(arg)
    if name == "chat":  # a desktop's chat status and active chat sessions, now
        client = next((c for c in run.swarm.clients if c.agent.id == str(arg["agent"])), None)
        if client is None:
            return False, f"no desktop for agent {arg['agent']}"
        sessions, status = len(client.chats), client.chat_status
        ok = sessions == int(arg.get("sessions", sessions)) and status == str(arg.get("status", status))
        return ok, f"agent {arg['agent']}: {sessions} chat sessions, status {status!r}"
    if name == "peak_request_rate":  # the node's busiest seed second in this phase (observer samples)
        rates = [e["requests_per_second"] for e in run.phase_events(Load.NAME, arg["node"])]
        peak = max(rates, default=0.0)
        ok = peak <= float(arg.get("max", float("inf"))) and peak >= float(arg.get("min", 0))
        bounds = f"{arg.get('min', 0)}..{arg.get('max', '')}"
        return ok, f"{arg['node']}: peak {peak:.0f} requests/s (want {bounds})"
    if name == "none_returned_to":
        back = [e for e in run.history.of(Moved) if e.get("to") == arg]
        return not back, f"{len(back)} desktops moved to {arg}"
    if name == "failover_seconds":  # seed seconds: measured / time_scale
        done = [e["seconds"] / run.scale for e in run.phase_events(FailoverDone.NAME, "desktop")]
        return _bounds(done, arg, " s")
    if name == "detection_seconds":
        detected = run.phase_events(arg.get("event", FailoverDetected.NAME), arg.get("source", "desktop"))
        if run.phase_fault_t is None or not detected:
            return False, "no fault or no detection in this phase"
        first = (min(e["t"] for e in detected) - run.phase_fault_t) / run.scale
        return _bounds([first], arg, " s")
    if name == "ippa":
        return run.ippa_in(arg)
    if name == "node_status":
        return run.node_status(arg)
    if name == "http_errors":
        errors = [
            e for e in run.phase_events(HttpError.NAME) if "status" not in arg or e["status"] == arg["status"]
        ]
        return _count(len(errors), arg, f"HTTP {arg.get('status', '')} errors")
    if name == "sign_in_failures":
        fails = [
            e for e in run.phase_events(SignInFailed.NAME) if arg.get("error", "") in str(e.get("error", ""))
        ]
        return _count(len(fails), arg, "failed sign-ins")
    if name == "events":
        items = [
            e
            for e in run.phase_events(arg["event"], arg.get("source"))
            if all(e.get(k) == v for k, v in (arg.get("where") or {}).items())
        ]
        return _count(len(items), arg, f"{arg['event']} events")
    raise ScenarioError(f"unknown check {name}")


def _clients(run: Run, step: Step) -> None:
    a = step.args
    seconds = a["seconds"] * run.scale
    try:
        agents = run.swarm.act(a["action"], a["count"], a["node"], seconds=seconds, source="scenario")
    except ValueError as exc:
        if a.get("optional"):
            run.history.append("scenario", "client_action_skipped", action=a["action"], reason=str(exc))
            return
        raise ScenarioError(f"{step.where()}: {exc}") from exc
    if a["action"] == "open":
        run.opened_held = True
    elif a["action"] in ("close", "back", "crash"):
        run.removed.update(agents)


def main(argv: list[str]) -> int:
    import argparse

    from emu_base.logs import configure_logging
    from finesse_emu.deployment.topology import check_network
    from finesse_emu.runs.scenario.spec import load

    p = argparse.ArgumentParser(prog="finesse-emu run", description="run scenario files and check them")
    p.add_argument("scenarios", nargs="+", type=Path)
    p.add_argument("--time-scale", type=float, help="override the scenario's time_scale")
    p.add_argument(
        "--report-dir", type=Path, default=Path("reports"), help="reports go to DIR/<name>-<time>/"
    )
    p.add_argument("--attach", type=Path, metavar="RUN_DIR", help="use the deployment of finesse-emu up")
    p.add_argument("--network", default=DEFAULT_NETWORK, help="loopback /24 for the deployment it starts")
    args = p.parse_args(argv)
    configure_logging("run", "WARNING")
    try:
        check_network(args.network)
        scenarios = [load(path) for path in args.scenarios]
    except ScenarioError as exc:
        print(f"finesse-emu run: {exc}", file=sys.stderr)
        return 2
    failed = []
    for sc in scenarios:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        slug = (sc.path.stem if sc.path else sc.name.replace(" ", "-"))[:60]
        report_dir = args.report_dir / f"{slug}-{stamp}"
        print(f"== {sc.name} ({sc.path})", flush=True)
        try:
            ok = eventloop.run(
                run_scenario(
                    sc,
                    report_dir,
                    run_dir=args.attach,
                    attach=args.attach is not None,
                    time_scale=args.time_scale,
                    network=args.network,
                )
            )
        except (ScenarioError, OSError, RuntimeError) as exc:
            print(f"finesse-emu run: {sc.name}: {exc}", file=sys.stderr)
            ok = False
        if not ok:
            failed.append(sc.name)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(scenarios)} scenario(s) passed")
    return 0
