"""Run reports: a run's event history turned into a summary and a self-contained HTML page.

The history (the contract every emitter follows; docs/reports.md says the same) is a JSON-lines file
``history.jsonl`` in the run directory, one object per line, ordered by time, each with at least:

- ``t``: float, seconds since the run started (monotonic);
- ``wall``: float, epoch seconds (only used for display; tolerated when missing);
- ``source``: who emitted it: ``scenario``, ``finesse-a``, ``finesse-b``, ``cti-a``, ``cti-b``,
  ``awdb-a``, ``awdb-b``, ``xmpp-a``, ``xmpp-b``, ``imp-a``, ``imp-b``, ``desktop``, ``ippa``;
- ``event``: a name; the other fields depend on it.

Each event the summary (or the checker) reads is a class of :mod:`emu_base.history_events`; the
readers parse every line into an :class:`~emu_base.history_events.Entry` holding it. The events the
summary understands (any other event is kept in the timeline table only):

- ``scenario``/``phase`` ``{"name"}``: starts a phase, which lasts until the next one; events before
  the first phase belong to an implicit phase ``start`` (left out when there are none);
- ``scenario``/``fault`` ``{"target", "action"}`` and ``scenario``/``heal`` (same fields);
- ``scenario``/``expectation`` ``{"name", "ok", "detail"}``: passed only when ``ok`` is JSON ``true``;
- ``finesse-*``/``status`` ``{"status": "IN_SERVICE"|"OUT_OF_SERVICE", "reason"}``;
- ``cti-*``/``role`` ``{"role": "active"|"idle"|"down"}``;
- ``desktop``/``state`` ``{"agent", "from", "to", "node"}``, desktop states SIGNING_IN, SIGNED_IN,
  RECONNECTING_NOTIFICATION, FAILING_OVER, DISCONNECTED, SIGNED_OUT;
- ``desktop``/``failover_detected`` ``{"agent", "trigger": "systeminfo"|"notification"|"presence", "node"}``;
- ``desktop``/``failover_done`` ``{"agent", "node", "seconds"}`` (detection to signed in again);
- ``desktop``/``signed_in`` and ``signed_out`` ``{"agent", "node"}``;
- ``desktop``|``ippa``/``http_error`` ``{"agent", "status", "error", "node"}``;
- ``ippa``/``state`` ``{"agent", "to": "SERVER_UNAVAILABLE"|"SIGN_IN_SCREEN"|"SIGNED_IN", "node"}``.

A line that is not a JSON object with a finite numeric ``t`` and string ``source`` and ``event`` is
skipped and counted (``History.malformed_lines``), never fatal.

Files written next to ``history.jsonl`` by :func:`write_report`: ``summary.json``, ``summary.txt``
(the terminal table) and ``report.html``. ``finesse-emu report RUN_DIR`` (:func:`main`) rebuilds them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from emu_base.history_events import AnyEntry, FailoverDone, ScenarioStart
from finesse_emu.runs.report.history import HISTORY_FILE, History, Line, entries, load_history, parse_line
from finesse_emu.runs.report.html import render_html
from finesse_emu.runs.report.summary import summarize
from finesse_emu.runs.report.text import render_summary_table
from finesse_emu.runs.report.traffic import percentile

__all__ = [
    "HISTORY_FILE",
    "History",
    "Line",
    "entries",
    "load_history",
    "parse_line",
    "percentile",
    "render_html",
    "render_summary_table",
    "summarize",
    "write_report",
]

SUMMARY_JSON = "summary.json"
SUMMARY_TXT = "summary.txt"
REPORT_HTML = "report.html"


def _write(path: Path, text: str) -> None:
    # Through a temporary file, so that a browser or a script never reads half a report.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_time_scale(events: Sequence[AnyEntry]) -> float:
    """The run's time_scale, from the scenario's ``start`` event (1 when there is none)."""
    for e in events:
        if e.source == "scenario" and isinstance(e.event, ScenarioStart) and e.event.time_scale > 0:
            return e.event.time_scale
    return 1.0


def to_emulated_seconds(events: Sequence[AnyEntry], scale: float) -> History:
    """Times and durations divided by the run's time_scale, so the report speaks emulated seconds:
    the product's own time (a 20 s poll reads 20 whatever the scale the run used)."""
    out = History(malformed_lines=getattr(events, "malformed_lines", None))
    if scale == 1.0:
        out.extend(events)
        return out
    for e in events:
        ev = e.event
        if isinstance(ev, FailoverDone) and ev.seconds is not None:
            ev = replace(ev, seconds=ev.seconds / scale)
        out.append(replace(e, t=e.t / scale, event=ev))
    return out


def write_report(run_dir: str | Path, events: Sequence[AnyEntry | Line]) -> dict[str, Any]:
    """Write summary.json, summary.txt and report.html into ``run_dir``; return the summary.
    ``events``: the history's entries, or its objects as written (parsed here)."""
    events = entries(events)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    scale = run_time_scale(events)
    emulated = to_emulated_seconds(events, scale)
    summary = summarize(emulated)
    summary["run"]["time_scale"] = scale
    _write(run_dir / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
    _write(run_dir / SUMMARY_TXT, render_summary_table(summary))
    title = f"finesse-emu run report: {run_dir.resolve().name}"
    # The events table in the same emulated seconds as the charts it sits under.
    _write(run_dir / REPORT_HTML, render_html(emulated, summary, title=title))
    return summary
