"""``finesse-emu run`` (scenario files, their expectations checked), ``finesse-emu demo`` (the
publisher killed under a swarm) and ``finesse-emu bench failover`` (failover measured)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from finesse_emu.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CannotRun, command, fail
from finesse_emu.cli.options import DEFAULT_NETWORK, network


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scenarios",
        nargs="+",
        metavar="SCENARIO",
        help="scenario files (YAML), or names of shipped scenarios (finesse-emu scenarios list)",
    )
    p.add_argument("--time-scale", type=float, help="override the scenario's time_scale")
    p.add_argument(
        "--report-dir", type=Path, default=Path("reports"), help="reports go to DIR/<name>-<time>/"
    )
    p.add_argument(
        "--attach",
        type=Path,
        metavar="RUN_DIR",
        help="use the deployment of finesse-emu up (its time scale; what the run injects is healed)",
    )
    p.add_argument(
        "--check-only",
        action="store_true",
        help="check the files and run nothing: every error, with its file:line (exit 2 if any)",
    )
    p.add_argument(
        "--junit", type=Path, metavar="FILE", help="also write the expectations as JUnit XML (for CI)"
    )
    p.add_argument(
        "--network", type=network, default=DEFAULT_NETWORK, help="loopback /24 for the deployment it starts"
    )


@command(
    "run",
    "run scenarios and check their expectations: run FILE.yaml or run NAME",
    _run_arguments,
    description="Bring up (or attach to) a deployment, run a swarm, apply each scenario's steps, check "
    "its expectations, write its report. Exit status 0 when every expectation held, 1 when one failed, "
    "2 when a scenario cannot run.",
)
def run(args: argparse.Namespace) -> int:
    if args.check_only:
        return check_scenarios(args.scenarios)
    return run_scenarios(
        args.scenarios, args.report_dir, args.attach, args.time_scale, args.network, junit=args.junit
    )


def check_scenarios(names: list[str] | list[Path], quiet: bool = False) -> int:
    """Every problem of every file at once, ``FILE:LINE: message`` on stderr; EXIT_USAGE if any."""
    from finesse_emu.runs.scenario.catalog import resolve
    from finesse_emu.runs.scenario.spec import ScenarioError
    from finesse_emu.runs.scenario.validate import Problem, check_file

    problems: list[Problem] = []
    for name in names:
        try:
            path = resolve(name)
        except ScenarioError as exc:
            problems.append(Problem(str(name), 0, str(exc).removeprefix(f"{name}: ")))
            continue
        found = check_file(path)
        problems += found
        if not found and not quiet:
            print(f"{path}: ok")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        files = len({p.file for p in problems})
        return fail("run", f"{len(problems)} problem(s) in {files} file(s), nothing run")
    return EXIT_OK


def run_scenarios(
    paths: list[str] | list[Path],
    report_root: Path,
    attach: Path | None,
    time_scale: float | None,
    net: str,
    junit: Path | None = None,
) -> int:
    from emu_base import eventloop
    from emu_base.logs import configure_logging
    from finesse_emu.cli.progress import RunProgress, print_summary
    from finesse_emu.runs.report import SUMMARY_JSON
    from finesse_emu.runs.scenario.catalog import resolve
    from finesse_emu.runs.scenario.junit import ScenarioResult, write_junit
    from finesse_emu.runs.scenario.runner import run_scenario
    from finesse_emu.runs.scenario.spec import ScenarioError, load

    # Every problem of every file before anything starts (not the first one, one run at a time).
    if check_scenarios(paths, quiet=True) != EXIT_OK:
        return EXIT_USAGE
    try:
        scenarios = [load(resolve(path)) for path in paths]
    except ScenarioError as exc:
        return fail("run", str(exc))
    configure_logging("run", "WARNING")
    failed, broken = [], []
    results: list[ScenarioResult] = []
    for sc in scenarios:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        slug = (sc.path.stem if sc.path else sc.name.replace(" ", "-"))[:60]
        report_dir = report_root / f"{slug}-{stamp}"
        print(f"== {sc.name} ({sc.path})", flush=True)
        result = ScenarioResult(sc.name, slug, report=report_dir)
        results.append(result)
        started = time.monotonic()
        try:
            # Progress on stderr (a live line on a terminal); the summary on stdout, fitted to it.
            with RunProgress() as progress:
                ok = eventloop.run(
                    run_scenario(
                        sc,
                        report_dir,
                        run_dir=attach,
                        attach=attach is not None,
                        time_scale=time_scale,
                        network=net,
                        quiet=True,
                        progress=progress,
                        outcomes=result.outcomes,
                    )
                )
        except (ScenarioError, OSError, RuntimeError) as exc:
            print(f"finesse-emu run: {sc.name}: {exc}", file=sys.stderr)
            broken.append(sc.name)
            result.error = str(exc)
            continue
        finally:
            result.seconds = time.monotonic() - started
            if junit is not None:  # after each scenario: an interrupted run still leaves the ones done
                write_junit(junit, results)
        print_summary(json.loads((report_dir / SUMMARY_JSON).read_text()))
        print(f"report: {report_dir / 'report.html'}", flush=True)
        if not ok:
            failed.append(sc.name)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    if failed or broken:
        print(f"FAILED: {', '.join(failed + broken)}", file=sys.stderr)
        return EXIT_USAGE if broken else EXIT_FAILED
    print(f"all {len(scenarios)} scenario(s) passed")
    return EXIT_OK


def _demo_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument(
        "--scenario",
        default="publisher-killed",
        help="a shipped scenario's name or a file (default publisher-killed)",
    )
    d.add_argument("--time-scale", type=float, default=None, help="default: the scenario's (0.05)")
    d.add_argument("--report-dir", default="reports", help="where reports go (default ./reports)")
    d.add_argument("--network", type=network, default=DEFAULT_NETWORK, help="loopback /24 (default 127.0.10)")
    d.add_argument("--junit", type=Path, metavar="FILE", help="also write the expectations as JUnit XML")


@command("demo", "bring everything up, kill the publisher under a swarm, write a report", _demo_arguments)
def demo(args: argparse.Namespace) -> int:
    """``make demo``: the whole deployment, a swarm of desktops and phones, the publisher killed."""
    from finesse_emu.runs.scenario.catalog import resolve
    from finesse_emu.runs.scenario.spec import ScenarioError

    try:
        scenario = resolve(args.scenario)
    except ScenarioError as exc:
        return fail("demo", str(exc))
    if not scenario.exists():
        return fail("demo", f"{scenario} not found")
    return run_scenarios(
        [scenario], Path(args.report_dir), None, args.time_scale, args.network, junit=args.junit
    )


def _scenarios_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="the shipped scenarios: name and one line of description")
    show = sub.add_parser("show", help="print a shipped scenario's file (copy it to make your own)")
    show.add_argument("name", help="a name from finesse-emu scenarios list")
    sub.add_parser("schema", help="the JSON Schema of scenario files (for editors)")


@command(
    "scenarios",
    "the scenarios shipped with finesse-emu: scenarios list, show NAME, schema",
    _scenarios_arguments,
    description="The scenarios shipped in the package, runnable from any directory with "
    "finesse-emu run NAME.",
)
def scenarios(args: argparse.Namespace) -> int:
    from finesse_emu.runs.scenario.catalog import find, shipped
    from finesse_emu.runs.scenario.spec import ScenarioError, load

    if args.action == "schema":
        from finesse_emu.runs.scenario.model import schema_text

        print(schema_text(), end="")
        return EXIT_OK
    if args.action == "list":
        files = shipped()
        width = max(len(p.stem) for p in files)
        for path in files:
            sc = load(path)
            line = " ".join(sc.description.split())
            first = line.split(". ")[0].rstrip(".")
            print(f"{path.stem:<{width}}  {first[:100]}")
        return EXIT_OK
    try:
        print(find(args.name).read_text(), end="")
    except ScenarioError as exc:
        return fail("scenarios", str(exc))
    return EXIT_OK


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    f = sub.add_parser(
        "failover",
        help="the publisher killed under a swarm: detection, sign-in and total failover times",
        description="Kill the publisher under a swarm and measure each desktop's failover (detection, "
        "sign-in, total) against the floor the timers allow. Exit status 1 when a desktop did not "
        "fail over.",
    )
    f.add_argument("--agents", type=int, default=200, help="desktops, split between the nodes (default 200)")
    f.add_argument("--gadgets", type=int, default=6, help="gadgets per desktop (default 6)")
    f.add_argument("--gadget-kind", choices=["xml", "jsp"], default="xml")
    f.add_argument("--rtt-ms", type=float, default=0.0, help="WAN round trip, injected in the desktops")
    f.add_argument("--time-scale", type=float, default=0.1, help="timer factor (default 0.1)")
    f.add_argument("--report-dir", type=Path, default=Path("reports"), help="where reports go")
    f.add_argument("--network", type=network, default=DEFAULT_NETWORK, help="loopback /24 (default 127.0.10)")
    f.add_argument(
        "--reload-distribution",
        choices=["on", "off"],
        default="on",
        help="the nodes' reload distribution (default on, as every deployment; off: for comparison)",
    )
    f.add_argument(
        "--processes",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="swarm processes, one slice of the desktops each (default: 2, or 1 on one CPU)",
    )


@command("bench", "bench failover --agents N --gadgets G [--rtt-ms R]: failover measured", _bench_arguments)
def bench(args: argparse.Namespace) -> int:
    from finesse_emu.cli.progress import RunProgress
    from finesse_emu.runs.scenario.failover_bench import bench_failover

    try:
        with RunProgress() as progress:
            return EXIT_OK if bench_failover(args, progress) else EXIT_FAILED
    except ValueError as exc:  # ScenarioError: the bench's scenario cannot run
        raise CannotRun(str(exc)) from exc
