"""Reading a run's event history (``history.jsonl``) into typed entries
(:class:`emu_base.history_events.Entry`); the format itself is described in the package doc."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from emu_base.history_events import AnyEntry, Entry, parse_entry

HISTORY_FILE = "history.jsonl"

# What the readers take: entries, or the objects of a history as written (the writer's records,
# merged histories, test histories), which they parse with the same rules as a file's lines.
Line = Mapping[str, Any]


class History(list[AnyEntry]):
    """The entries of a run, plus what :func:`load_history` had to skip.

    A plain list of entries to every consumer; the extra attributes let the summary report how many
    lines were dropped without changing ``load_history``'s return type.
    """

    def __init__(
        self, events: Iterable[AnyEntry] | None = None, malformed_lines: list[int] | None = None
    ) -> None:
        super().__init__(events or [])
        self.malformed_lines: list[int] = list(malformed_lines or [])

    @property
    def malformed(self) -> int:
        return len(self.malformed_lines)


def parse_line(line: str) -> AnyEntry | None:
    """One history line as an entry, or None when it breaks the contract.

    Required: a JSON object with a finite numeric ``t`` and string ``source`` and ``event``. ``wall``
    is only used for display, so a missing one is tolerated.
    """
    try:
        obj = json.loads(line)
    except ValueError:  # JSONDecodeError, and NaN/Infinity oddities
        return None
    if not isinstance(obj, dict):
        return None
    return parse_entry(obj)


def entries(events: Iterable[AnyEntry | Line]) -> History:
    """Entries as they are, objects parsed (one that breaks the envelope is left out, as a file's
    line would be); a :class:`History`'s malformed lines are kept."""
    out = History(malformed_lines=getattr(events, "malformed_lines", None))
    for e in events:
        entry = e if isinstance(e, Entry) else parse_entry(e)
        if entry is not None:
            out.append(entry)
    return out


def load_history(path: str | Path) -> History:
    """Every well-formed entry of a ``history.jsonl`` file, in file order.

    Malformed lines (bad JSON or UTF-8, not an object, missing ``t``/``source``/``event``) are skipped
    and their 1-based line numbers kept in ``History.malformed_lines``: a component killed mid-write
    leaves a truncated last line, and that must not cost the whole report. Blank lines are ignored.
    """
    events: list[AnyEntry] = []
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
            event = parse_line(line)
            if event is None:
                bad.append(number)
            else:
                events.append(event)
    return History(events, bad)
