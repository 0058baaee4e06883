"""Run every atheris harness for a fixed number of runs and print a table (``make fuzz``).

A harness is a ``fuzz/<name>.py`` with a seed corpus in ``fuzz/corpus/<name>/``. Each runs in its
own process over a scratch copy of the corpus (libFuzzer writes new inputs to the first corpus
directory, and the committed seeds must not grow), stops at the first crash and writes the crashing
input under ``fuzz/crashes/<name>/`` (gitignored). Exit status 1 if any harness crashed or failed.

exec/s counts the runs after the seed corpus was loaded (libFuzzer's ``INITED`` line) over the time
since then, so interpreter start-up and instrumentation do not dilute it.

Usage: ``python fuzz/run.py [--runs N] [--max-time S] [--seed N] [NAME ...]``. Replay a crash with
``python fuzz/<name>.py fuzz/crashes/<name>/crash-<sha1>`` (a file argument runs just that input).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS = FUZZ_DIR / "corpus"
CRASHES = FUZZ_DIR / "crashes"
_INITED = re.compile(r"^#(\d+)\s+INITED")
_EXECUTED = re.compile(r"^stat::number_of_executed_units:\s*(\d+)")
_DONE = re.compile(r"^Done (\d+) runs")


@dataclass
class Result:
    name: str
    runs: int
    seconds: float
    exec_per_s: float
    crashes: list[Path]
    returncode: int
    tail: list[str]

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.crashes


def harnesses() -> list[str]:
    return sorted(p.stem for p in FUZZ_DIR.glob("*.py") if (CORPUS / p.stem).is_dir())


def run_one(name: str, runs: int, max_time: int, seed: int | None) -> Result:
    crash_dir = CRASHES / name
    crash_dir.mkdir(parents=True, exist_ok=True)
    before = set(crash_dir.iterdir())
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as work:
        cmd = [
            sys.executable,
            str(FUZZ_DIR / f"{name}.py"),
            f"-runs={runs}",
            "-print_final_stats=1",
            "-timeout=25",
            f"-artifact_prefix={crash_dir}/",
        ]
        if max_time:
            cmd.append(f"-max_total_time={max_time}")
        if seed is not None:
            cmd.append(f"-seed={seed}")
        cmd += [work, str(CORPUS / name)]
        start = time.perf_counter()
        inited_at, inited_runs, executed = start, 0, 0
        tail: list[str] = []
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if m := _INITED.match(line):
                    inited_at, inited_runs = time.perf_counter(), int(m.group(1))
                elif (m := _EXECUTED.match(line)) or (m := _DONE.match(line)):
                    executed = int(m.group(1))
                tail = [*tail[-39:], line.rstrip("\n")]
        end = time.perf_counter()
    rate = (executed - inited_runs) / (end - inited_at) if end > inited_at else 0.0
    crashes = sorted(set(crash_dir.iterdir()) - before)
    return Result(name, executed, end - start, rate, crashes, proc.returncode, tail)


def print_table(results: list[Result]) -> None:
    header = ("harness", "runs", "seconds", "exec/s", "crashes")
    rows = [
        (r.name, str(r.runs), f"{r.seconds:.1f}", f"{r.exec_per_s:.0f}", str(len(r.crashes))) for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        cells = (
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        print("  ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help=f"harnesses to run (default: all of {harnesses()})")
    parser.add_argument("--runs", type=int, default=200_000, help="runs per harness (default 200000)")
    parser.add_argument("--max-time", type=int, default=0, help="seconds per harness at most (0: no limit)")
    parser.add_argument("--seed", type=int, default=None, help="libFuzzer -seed (default: random)")
    args = parser.parse_args(argv)
    names: list[str] = args.names or harnesses()
    unknown = sorted(set(names) - set(harnesses()))
    if unknown:
        parser.error(f"unknown harness(es) {unknown}; known: {harnesses()}")
    results: list[Result] = []
    for name in names:
        print(f"fuzzing {name}: {args.runs} runs", flush=True)
        result = run_one(name, args.runs, args.max_time, args.seed)
        results.append(result)
        if not result.ok:
            print("\n".join(result.tail))
            for path in result.crashes:
                print(f"crashing input: {path.relative_to(FUZZ_DIR.parent)}")
    print()
    print_table(results)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
