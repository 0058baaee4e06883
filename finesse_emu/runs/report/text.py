"""``render_summary_table(summary)``: the summary as plain text for a terminal (what ``make demo`` prints)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from finesse_emu.runs.report.calls import calls_table


def secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def on_nodes(counts: dict[str, int]) -> str:
    """``{"finesse-a": 0, "finesse-b": 20}`` as ``finesse-b 20``; ``-`` when nobody is signed in."""
    shown = [f"{node} {n}" for node, n in counts.items() if n]
    return ", ".join(shown) or "-"


def faults_text(faults: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"{f.get('action')} {f.get('target')}" for f in faults) or "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] | None = None) -> list[str]:
    """Columns separated by two spaces; columns in ``right`` are right-aligned (numbers)."""
    right = right or set()
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def phase_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]], set[int]]:
    """Headers, rows (one per phase, then the run total) and right-aligned columns of the phase table.

    Shared with the HTML page so that both show the same numbers.
    """
    nodes = list(summary["node_status"])
    phones = summary["run"]["clients"].get("ippa", 0) > 0
    headers = ["phase", "start", "end", "faults", "detect desktop", "detect OOS"]
    headers += [f"OOS {n}" for n in nodes]
    headers += ["failovers", "p50", "p95", "max", "desktops on"]
    headers += ["phones on"] if phones else []
    loaded = bool(summary["totals"].get("peak_request_rate"))
    headers += ["peak req/s"] if loaded else []
    headers += ["errors", "expect ok"]

    def row(
        name: str, start: float, end: float, faults: str, det: dict[str, Any], block: dict[str, Any]
    ) -> list[str]:
        desk = "-" if det.get("desktop") is None else f"{secs(det['desktop'])} {det['desktop_trigger']}"
        oos = (
            "-"
            if det.get("out_of_service") is None
            else f"{secs(det['out_of_service'])} {det['out_of_service_node']}"
        )
        fo = block["failover"]
        exp = block["expectations"]
        cells = [name, secs(start), secs(end), faults, desk, oos]
        cells += [secs(block["out_of_service"].get(n, 0.0)) for n in nodes]
        cells += [str(fo["count"]), secs(fo["p50"]), secs(fo["p95"]), secs(fo["max"])]
        cells += [on_nodes(block["ended_on"].get("desktop", {}))]
        cells += [on_nodes(block["ended_on"].get("ippa", {}))] if phones else []
        peaks, mbps = block.get("peak_request_rate", {}), block.get("peak_mbps", {})
        shown = [f"{n} {v:.0f}" + (f" ({mbps[n]:.1f} Mb/s)" if n in mbps else "") for n, v in peaks.items()]
        cells += [", ".join(shown) or "-"] if loaded else []
        cells += [
            str(sum(e["count"] for e in block["errors"])),
            f"{exp['passed']}/{exp['passed'] + exp['failed']}",
        ]
        return cells

    rows = [
        row(p["name"], p["start"], p["end"], faults_text(p["faults"]), p["detection"], p)
        for p in summary["phases"]
    ]
    run, totals = summary["run"], summary["totals"]
    rows.append(row("run total", run["start"], run["end"], f"{totals['faults']} faults", {}, totals))
    numeric = {"start", "end", "failovers", "p50", "p95", "max", "errors", "expect ok"}
    right = {i for i, h in enumerate(headers) if h in numeric or h.startswith("OOS ")}
    return headers, rows, right


@dataclass(frozen=True)
class TableSpec:
    """One table of the summary: headers, rows, right-aligned columns (numbers). The plain text
    joins them with two spaces (:func:`table`); ``finesse-emu`` renders them fitted to the
    terminal (finesse_emu/cli/progress.py)."""

    headers: list[str]
    rows: list[list[str]]
    right: set[int] = field(default_factory=set)


def summary_parts(summary: dict[str, Any]) -> list[str | TableSpec]:
    """The summary as lines of text and tables, in order: a run line, the phase table, errors, the
    desktops' error messages, calls, failed expectations."""
    run, totals = summary["run"], summary["totals"]
    exp = totals["expectations"]
    head = f"run: {secs(run['duration'])} s"
    if run.get("wall_start_utc"):
        head += f" from {run['wall_start_utc']}"
    head += f", {run['events']} events"
    if run["malformed_lines"]:
        head += f" ({run['malformed_lines']} malformed lines skipped)"
    clients = run["clients"]
    head += f", {clients.get('desktop', 0)} desktops, {clients.get('ippa', 0)} IP phones"
    verdict = "all passed" if exp["ok"] else "FAILED"
    scale = run.get("time_scale", 1.0)
    out: list[str | TableSpec] = [head]
    if scale != 1.0:
        real = secs(run["duration"] * scale)
        out.append(f"times in emulated seconds (run at time_scale {scale:g}: {real} s of real time)")
    out += [f"expectations: {exp['passed']} passed, {exp['failed']} failed ({verdict})", ""]
    headers, rows, right = phase_table(summary)
    out.append(TableSpec(headers, rows, right))
    if totals["errors"]:
        out += ["", "errors"]
        out.append(
            TableSpec(
                ["source", "status", "error", "count"],
                [[e["source"], str(e["status"]), str(e["error"]), str(e["count"])] for e in totals["errors"]],
                {3},
            )
        )
    if totals.get("messages"):
        out += ["", "error messages shown by the desktops"]
        out.append(
            TableSpec(
                ["message", "request", "status", "count"],
                [[m["message"], m["request"], str(m["status"]), str(m["count"])] for m in totals["messages"]],
                {3},
            )
        )
    if summary.get("calls"):
        calls = summary["calls"]
        placed = ", ".join(f"{k} {n}" for k, n in calls["placed"].items())
        out += ["", "calls seen by the desktops" + (f" (placed: {placed})" if placed else "")]
        headers, rows = calls_table(calls)
        out.append(TableSpec(headers, rows, {1, 2}))
    failed = [e for e in summary["expectations"] if not e["ok"]]
    if failed:
        out += ["", "failed expectations"]
        out.append(
            TableSpec(
                ["t", "phase", "expectation", "detail"],
                [[secs(e["t"]), e["phase"], e["name"], e["detail"] or ""] for e in failed],
                {0},
            )
        )
    return out


def render_summary_table(summary: dict[str, Any]) -> str:
    """The summary as plain text (summary.txt): :func:`summary_parts`, tables at their full width."""
    out: list[str] = []
    for part in summary_parts(summary):
        out += [part] if isinstance(part, str) else table(part.headers, part.rows, part.right)
    return "\n".join(out) + "\n"
