"""The numbers of the REST traffic and the fault window: what the summary adds to the phase table.

All pure functions of a history already in emulated seconds (the run's times divided by its
time_scale, :func:`finesse_emu.runs.report.to_emulated_seconds`):

- :func:`request_series`: per node, the REST answers (``request`` events) per time bin: count, rate
  (answers per emulated second) and latency p50/p95 (the node's own measure, real milliseconds);
- :func:`route_stats`: per route template and method: count, status codes, latency p50/p95;
- :func:`failover_cdf`: the desktops' ``failover_done`` seconds as a cumulative distribution;
- :func:`fault_window`: from a little before the first fault to a little after the last desktop
  signed in again, the part of the run the focused timeline shows;
- :func:`around_faults`: the events near each fault, for the events table.

Percentiles are nearest-rank, as everywhere in the report (:func:`percentile`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from emu_base.history_events import AnyEntry, FailoverDone, Fault, Heal, Request

TARGET_BINS = 60  # about this many bins over the run: enough to see a failover's dip and burst
NO_ROUTE = "(not recorded)"  # a request event written before routes were recorded
# The focused timeline's margins around [first fault, last desktop back]: a share of that span,
# at least a few emulated seconds, so a fault and its failover fill most of the chart.
WINDOW_MARGIN_SHARE = 0.15
WINDOW_MARGIN_MIN_S = 2.0
# The events table shows, around each fault, the events from this long before it to this long after
# (emulated seconds: a desktop polls SystemInfo every 20 s, so most detect within 30 s), at most
# AROUND_FAULT_MAX of them (the nearest to the fault).
BEFORE_FAULT_S = 5.0
AFTER_FAULT_S = 30.0
AROUND_FAULT_MAX = 300


def _r(x: float) -> float:
    return round(x, 6)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``p`` % of the values at or below it.

    Always one of the values (no interpolation), so a p95 can be matched to a real desktop.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} outside (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(p * len(ordered) / 100)  # p * n first: 0.95 * 20 is not exactly 19 in floats
    return ordered[max(rank, 1) - 1]


def nice_step(span: float, target: int = 10) -> float:
    """A 1/2/5 x 10^k step giving about ``target`` steps over ``span``."""
    raw = max(span, 1e-9) / target
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def is_fault(e: AnyEntry) -> bool:
    """A fault the scenario injected (a heal is a Fault event too: not one of them)."""
    return e.source == "scenario" and isinstance(e.event, Fault) and not isinstance(e.event, Heal)


def _requests(events: Sequence[AnyEntry]) -> list[tuple[AnyEntry, Request]]:
    return [(e, e.event) for e in events if isinstance(e.event, Request)]


def _latency(ms: list[float]) -> tuple[float | None, float | None]:
    if not ms:
        return None, None
    return _r(percentile(ms, 50)), _r(percentile(ms, 95))


def request_series(
    events: Sequence[AnyEntry], end: float, bin_seconds: float | None = None
) -> dict[str, Any]:
    """Per node (the event's source), one row ``[t, count, rate, p50_ms, p95_ms]`` per bin (``t`` its
    start) from the bin holding the first request to the one holding ``end``; an empty bin has count
    0 and no latency (an outage reads as a drop to zero, not as a gap). The bin is a 1/2/5 step
    giving about TARGET_BINS bins unless ``bin_seconds`` is given."""
    reqs = _requests(events)
    if not reqs:
        return {"bin": None, "nodes": [], "series": {}}
    start = min(e.t for e, _ in reqs)
    end = max([end, *(e.t for e, _ in reqs)])
    step = bin_seconds or nice_step(max(end - start, 1e-6), TARGET_BINS)
    first = math.floor(start / step)
    count = max(math.floor(end / step) - first + 1, 1)
    per: dict[str, list[list[float]]] = defaultdict(lambda: [[] for _ in range(count)])
    hits: dict[str, list[int]] = defaultdict(lambda: [0] * count)
    for e, ev in reqs:
        i = min(max(math.floor(e.t / step) - first, 0), count - 1)
        hits[e.source][i] += 1
        if ev.ms is not None:
            per[e.source][i].append(ev.ms)
    series: dict[str, list[list[Any]]] = {}
    for node in sorted(hits):
        rows = []
        for i in range(count):
            p50, p95 = _latency(per[node][i])
            rows.append([_r((first + i) * step), hits[node][i], _r(hits[node][i] / step), p50, p95])
        series[node] = rows
    return {"bin": _r(step), "nodes": sorted(hits), "series": series}


def route_stats(events: Sequence[AnyEntry]) -> list[dict[str, Any]]:
    """One row per (route template, method): ``count``, ``statuses`` (``{"200": n}``), ``p50_ms`` and
    ``p95_ms`` of the answers that carry a latency; the busiest route first."""
    counts: Counter[tuple[str, str]] = Counter()
    statuses: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    ms: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _e, ev in _requests(events):
        key = (ev.route or NO_ROUTE, ev.method)
        counts[key] += 1
        statuses[key][str(ev.status)] += 1
        if ev.ms is not None:
            ms[key].append(ev.ms)
    rows = []
    for (route, method), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        p50, p95 = _latency(ms[(route, method)])
        rows.append(
            {
                "route": route,
                "method": method,
                "count": n,
                "statuses": dict(sorted(statuses[(route, method)].items())),
                "p50_ms": p50,
                "p95_ms": p95,
            }
        )
    return rows


def failover_cdf(seconds: Sequence[float]) -> list[list[float]]:
    """``[seconds, fraction]`` per failover, fastest first: the fraction of the desktops that were
    signed in again within that many seconds (the last point is 1)."""
    ordered = sorted(seconds)
    n = len(ordered)
    return [[_r(s), _r((i + 1) / n)] for i, s in enumerate(ordered)]


def fault_window(events: Sequence[AnyEntry], run_start: float, run_end: float) -> dict[str, Any] | None:
    """``first_fault`` (the first scenario fault), ``last_recovered`` (the last desktop
    ``failover_done`` after it, or the last fault when no desktop failed over later) and the shown
    ``start``/``end``: that span with a margin each side, kept within the run. None without faults."""
    faults = [e.t for e in events if is_fault(e)]
    if not faults:
        return None
    first = min(faults)
    done = [
        e.t for e in events if e.source == "desktop" and isinstance(e.event, FailoverDone) and e.t >= first
    ]
    last = max([*done, max(faults)])
    margin = max((last - first) * WINDOW_MARGIN_SHARE, WINDOW_MARGIN_MIN_S)
    return {
        "start": _r(max(first - margin, run_start)),
        "end": _r(min(last + margin, max(run_end, last))),
        "first_fault": _r(first),
        "last_recovered": _r(last),
    }


@dataclass
class FaultGroup:
    """The events shown around one fault, or several whose windows overlap."""

    start: float
    end: float
    faults: list[AnyEntry] = field(default_factory=list)
    events: list[AnyEntry] = field(default_factory=list)
    left_out: int = 0  # in the window but beyond AROUND_FAULT_MAX


def around_faults(
    events: Sequence[AnyEntry],
    before: float = BEFORE_FAULT_S,
    after: float = AFTER_FAULT_S,
    limit: int = AROUND_FAULT_MAX,
) -> tuple[list[FaultGroup], list[AnyEntry]]:
    """The events from ``before`` seconds before each scenario fault to ``after`` seconds after it
    (overlapping windows merged), at most ``limit`` per group (those nearest its first fault), in
    time order; and every other event, in time order. REST ``request`` events stay with the others:
    one per answer, they would bury what happened (the REST charts show them)."""
    ordered = sorted(events, key=lambda e: e.t)
    groups: list[FaultGroup] = []
    for e in ordered:
        if is_fault(e):
            if groups and e.t - before <= groups[-1].end:
                groups[-1].end = max(groups[-1].end, e.t + after)
                groups[-1].faults.append(e)
            else:
                groups.append(FaultGroup(e.t - before, e.t + after, [e]))
    shown: set[int] = set()
    for g in groups:
        inside = [e for e in ordered if g.start <= e.t <= g.end and not isinstance(e.event, Request)]
        centre = g.faults[0].t
        kept = sorted(inside, key=lambda e: abs(e.t - centre))[:limit]
        kept_ids = {id(e) for e in kept}
        g.events = [e for e in inside if id(e) in kept_ids]
        g.left_out = len(inside) - len(kept)
        shown |= kept_ids
    return groups, [e for e in ordered if id(e) not in shown]
