"""The run's history file: merging processes' histories, ingesting component logs."""

from __future__ import annotations

import json
from pathlib import Path

from emu_base.history_events import ForcedLogout
from finesse_emu.runs.history import ingest_logs, merge


def test_merge_orders_by_wall_time_and_counts_t_from_the_earliest(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"t": 0, "wall": 100.0, "source": "desktop", "event": "x"}\n{"t": 5, "wall": 105.0}\n')
    b.write_text('{"t": 0, "wall": 102.0, "source": "desktop", "event": "y"}\n{"cut": \n')
    events = merge([a, b])
    assert [(e["t"], e["wall"]) for e in events] == [(0.0, 100.0), (2.0, 102.0), (5.0, 105.0)]


def test_component_logs_join_the_timeline(tmp_path: Path) -> None:
    log = tmp_path / "finesse-a.log"
    lines = [
        {"agent": "1000", "reason_code": 255, "event": ForcedLogout.NAME, "component": "finesse-a",
         "level": "info", "timestamp": "2023-11-14T22:13:25Z", "source": "spoofed"},
        {"event": "finesse_status", "status": "IN_SERVICE", "timestamp": "2023-11-14T22:13:21Z"},
    ]  # fmt: skip
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\nTraceback (most recent call last):\n")
    events = [{"t": 0.0, "wall": 1_700_000_000.0, "source": "scenario", "event": "start"}]  # 22:13:20Z
    out = ingest_logs(events, {"finesse-a": log})
    assert [(e["t"], e["source"], e["event"]) for e in out] == [
        (0.0, "scenario", "start"),
        (1.0, "finesse-a", "finesse_status"),
        (5.0, "finesse-a", "forced_logout"),
    ]
    assert out[2]["reason_code"] == 255 and "timestamp" not in out[2]
