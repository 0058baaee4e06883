"""The report's calls table: the desktops' calls by state before the run's first fault and at its end.

Read from the desktops' ``dialog_seen`` events (finesse_emu/desktop/calls.py): each (agent, call)
counts once, in the state of the agent's own participant as the desktop last saw it; a call the
desktop saw end (DELETE, or gone from its reload) counts as ``ENDED``. ``placed`` counts the calls the
run set up, by kind (``calls_placed``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from emu_base.history_events import AnyEntry, CallsPlaced, DialogSeen, Fault, Heal

ENDED = "ENDED"


def _state(e: DialogSeen) -> str:
    if e.verb in ("DELETE", "GONE") or e.mine in ("DROPPED", "FAILED"):
        return ENDED
    return e.mine or e.state


def calls_summary(events: Sequence[AnyEntry]) -> dict[str, Any] | None:
    """``{"fault_t", "placed": {kind: n}, "before": {state: n}, "after": {state: n}}`` (times as the
    events give them), or None for a run in which no desktop saw a call."""
    fault_t = next(
        (
            e.t
            for e in events
            if e.source == "scenario" and isinstance(e.event, Fault) and not isinstance(e.event, Heal)
        ),
        None,
    )
    placed: Counter[str] = Counter()
    before: dict[tuple[str, str], str] = {}
    after: dict[tuple[str, str], str] = {}
    for ev in events:
        e = ev.event
        if isinstance(e, CallsPlaced):
            placed[e.kind] += 1
        elif isinstance(e, DialogSeen) and ev.source == "desktop":
            key = (e.agent, e.dialog)
            after[key] = _state(e)
            if fault_t is None or ev.t < fault_t:
                before[key] = after[key]
    if not after:
        return None
    return {
        "fault_t": fault_t,
        "placed": dict(sorted(placed.items())),
        "before": dict(sorted(Counter(before.values()).items())),
        "after": dict(sorted(Counter(after.values()).items())),
    }


def calls_table(calls: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one row per state, the count before the first fault and at the end."""
    states = sorted(set(calls["before"]) | set(calls["after"]), key=lambda s: (s == ENDED, s))
    rows = [[s, str(calls["before"].get(s, 0)), str(calls["after"].get(s, 0))] for s in states]
    rows.append(["total", str(sum(calls["before"].values())), str(sum(calls["after"].values()))])
    return ["call state (own participant)", "before the first fault", "at the end"], rows
