"""Histories of a run after the fact: merging several processes' files into one timeline
(``finesse-emu history merge``, finesse_emu/cli/report.py) and taking the components' JSON log lines into it.

The writer every component appends to is :class:`emu_base.history.History`; the events, typed, are
in :mod:`emu_base.history_events`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def merge(paths: list[Path]) -> list[dict[str, Any]]:
    """The histories of several processes of one run (swarm slices, say) as one timeline: ordered by
    wall time, ``t`` counted from the earliest event of all (each file's ``t`` is its own)."""
    events: list[dict[str, Any]] = []
    for path in paths:
        with path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut by a killed process: the report counts those, merging skips
                if isinstance(event, dict) and isinstance(event.get("wall"), int | float):
                    events.append(event)
    events.sort(key=lambda e: e["wall"])
    if events:
        wall0 = events[0]["wall"]
        for e in events:
            e["t"] = round(e["wall"] - wall0, 6)
    return events


# The log's own keys: the envelope is the history's (``t``, ``wall``, ``source`` = the component).
_LOG_SKIP = {"event", "timestamp", "level", "component", "logger", "t", "wall", "source"}


def ingest_logs(events: list[dict[str, Any]], logs: dict[str, Path]) -> list[dict[str, Any]]:
    """The run's timeline with every component's JSON log lines in it (source = the component),
    ordered by time: one history of all components and clients. ``logs``: component -> log file.

    A line keeps its name: a component emits a history event (:func:`emu_base.history_events.emit`)
    under the name the readers parse, so nothing is translated here; the readers type the lines they
    know and keep the others for the timeline."""
    from datetime import datetime

    anchored = next((e for e in events if isinstance(e.get("wall"), int | float)), None)
    if anchored is None:
        return events
    wall0 = float(anchored["wall"]) - float(anchored["t"])
    out = list(events)
    for component, path in logs.items():
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                record = json.loads(line)
                wall = datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).timestamp()
                name = str(record["event"])
            except (ValueError, KeyError, TypeError):
                continue  # not a JSON log line (a traceback, Prosody's own log)
            fields = {k: v for k, v in record.items() if k not in _LOG_SKIP}
            out.append(
                {"t": round(wall - wall0, 6), "wall": round(wall, 6), "source": component}
                | {"event": name, **fields}
            )
    out.sort(key=lambda e: e["t"])
    return out
