"""The run's event history: one timeline of JSON objects (the contract is in docs/reports.md).

Every component and client of a run appends here; ``t`` is seconds since the run started on the
shared clock, ``wall`` the epoch time. Written as JSON lines, so a crashed run keeps what it had.
An event the report or the checker reads is recorded typed (:meth:`History.record`, the classes of
:mod:`emu_base.history_events`); :meth:`History.append` takes only the others, by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from emu_base.clock import Clock, LoopClock
from emu_base.history_events import EVENTS, HistoryEvent


class History:
    def __init__(self, path: Path | None = None, clock: Clock | None = None, keep: bool = True) -> None:
        self.clock = clock or LoopClock()
        self.t0: float | None = None
        self.events: list[dict[str, Any]] = []
        self.keep = keep  # keep events in memory too (tests, summaries)
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path is not None else None

    def record(self, source: str, event: HistoryEvent) -> dict[str, Any]:
        """Append a typed event under its class's name; the line as written is returned."""
        return self._write(source, event.NAME, event.fields())

    def append(self, source: str, event: str, **fields: Any) -> dict[str, Any]:
        """Append an event no reader types (``resources``, ``chat_started``, ...) by name."""
        if event in EVENTS:
            # Written by name it could drift from the class the readers parse it with.
            raise ValueError(f"history event {event!r} is typed: record {EVENTS[event].__name__}(...)")
        return self._write(source, event, fields)

    def _write(self, source: str, event: str, fields: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        if self.t0 is None:
            self.t0 = now
        record = {"t": round(now - self.t0, 6), "wall": round(self.clock.wall(), 6), "source": source}
        record["event"] = event
        record.update(fields)
        if self.keep:
            self.events.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        return record

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def of(self, event: type[HistoryEvent], source: str | None = None) -> list[dict[str, Any]]:
        """The lines of one typed event (and source), as written."""
        return [e for e in self.events if e["event"] == event.NAME and source in (None, e["source"])]
