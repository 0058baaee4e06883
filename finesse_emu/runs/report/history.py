"""Reading a run's event history (``history.jsonl``); the format itself is described in the package doc."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

HISTORY_FILE = "history.jsonl"

Event = dict[str, Any]


class History(list[Event]):
    """The events of a run, plus what :func:`load_history` had to skip.

    A plain list of dicts to every consumer; the extra attributes let the summary report how many
    lines were dropped without changing ``load_history``'s return type.
    """

    def __init__(self, events: list[Event] | None = None, malformed_lines: list[int] | None = None) -> None:
        super().__init__(events or [])
        self.malformed_lines: list[int] = list(malformed_lines or [])

    @property
    def malformed(self) -> int:
        return len(self.malformed_lines)


def parse_event(line: str) -> Event | None:
    """One history line as an event, or None when it breaks the contract.

    Required: a JSON object with a finite numeric ``t`` and string ``source`` and ``event``. ``wall``
    is only used for display, so a missing one is tolerated.
    """
    try:
        obj = json.loads(line)
    except ValueError:  # JSONDecodeError, and NaN/Infinity oddities
        return None
    if not isinstance(obj, dict):
        return None
    t = obj.get("t")
    # bool is an int subclass: {"t": true} is not a time.
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        return None
    if not isinstance(obj.get("source"), str) or not isinstance(obj.get("event"), str):
        return None
    obj["t"] = float(t)
    return obj


def load_history(path: str | Path) -> History:
    """Every well-formed event of a ``history.jsonl`` file, in file order.

    Malformed lines (bad JSON or UTF-8, not an object, missing ``t``/``source``/``event``) are skipped
    and their 1-based line numbers kept in ``History.malformed_lines``: a component killed mid-write
    leaves a truncated last line, and that must not cost the whole report. Blank lines are ignored.
    """
    events: list[Event] = []
    bad: list[int] = []
    with Path(path).open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(number)
                continue
            if not line.strip():
                continue
            event = parse_event(line)
            if event is None:
                bad.append(number)
            else:
                events.append(event)
    return History(events, bad)
