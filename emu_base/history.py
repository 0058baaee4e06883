"""The run's event history: one timeline of JSON objects (the contract is in docs/reports.md).

Every component and client of a run appends here; ``t`` is seconds since the run started on the
shared clock, ``wall`` the epoch time. Written as JSON lines, so a crashed run keeps what it had.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from emu_base.clock import Clock, LoopClock


class History:
    def __init__(self, path: Path | None = None, clock: Clock | None = None, keep: bool = True) -> None:
        self.clock = clock or LoopClock()
        self.t0: float | None = None
        self.events: list[dict[str, Any]] = []
        self.keep = keep  # keep events in memory too (tests, summaries)
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path is not None else None

    def append(self, source: str, event: str, **fields: Any) -> dict[str, Any]:
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

    def of(self, event: str, source: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event and (source is None or e["source"] == source)]
