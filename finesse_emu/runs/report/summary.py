"""``summarize(events)``: the numbers of a run, per phase and in total, as a JSON-ready dict.

Every time is in run seconds (the events' ``t``) rounded to the microsecond; every duration is in
seconds. ``None`` means "did not happen" (no fault in the phase, no failover done, ...). The shape is
documented in docs/reports.md.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emu_base.history_events import (
    AnyEntry,
    ErrorShown,
    Expectation,
    FailoverDetected,
    FailoverDone,
    Fault,
    Heal,
    HttpError,
    Load,
    Phase,
    Role,
    SignedIn,
    SignedOut,
    State,
    Status,
)
from finesse_emu.runs.report.calls import calls_summary
from finesse_emu.runs.report.history import History, Line, entries

SUMMARY_VERSION = 1
IN_SERVICE = "IN_SERVICE"
OUT_OF_SERVICE = "OUT_OF_SERVICE"
SIGNED_IN = "SIGNED_IN"
# Sources whose agents are counted as signed in on a node.
CLIENT_SOURCES = ("desktop", "ippa")
START_PHASE = "start"
UNKNOWN_NODE = "unknown"
# A desktop whose Notification Service connection is reconnecting still holds its REST session on
# the node, so that state does not change where the agent is signed in.
KEEPS_SIGN_IN = frozenset({"RECONNECTING_NOTIFICATION"})
SLOWEST_KEPT = 5

Interval = list[Any]  # [start, end, value]: JSON has no tuples


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


def failover_stats(seconds: Sequence[float]) -> dict[str, Any]:
    if not seconds:
        return {"count": 0, "min": None, "p50": None, "p95": None, "max": None, "mean": None}
    return {
        "count": len(seconds),
        "min": _r(min(seconds)),
        "p50": _r(percentile(seconds, 50)),
        "p95": _r(percentile(seconds, 95)),
        "max": _r(max(seconds)),
        "mean": _r(sum(seconds) / len(seconds)),
    }


def _node_status(ev: AnyEntry) -> tuple[str, str] | None:
    if isinstance(ev.event, Status) and ev.source.startswith("finesse-"):
        return ev.source, ev.event.status
    return None


def _cti_role(ev: AnyEntry) -> tuple[str, str] | None:
    if isinstance(ev.event, Role) and ev.source.startswith("cti-"):
        return ev.source, ev.event.role
    return None


def _changes(
    events: Sequence[AnyEntry], pick: Callable[[AnyEntry], tuple[str, str] | None]
) -> dict[str, list[Any]]:
    """Per key, the (t, value) points where the value changed (repeated reports are not changes)."""
    out: dict[str, list[Any]] = {}
    for ev in events:
        picked = pick(ev)
        if picked is None:
            continue
        key, value = picked
        points = out.setdefault(key, [])
        if not points or points[-1][1] != value:
            points.append((ev.t, value))
    return out


def _intervals(changes: list[Any], end: float) -> list[Interval]:
    """Change points as [start, end, value] bands; the last band runs to the end of the run."""
    out: list[Interval] = []
    for i, (t, value) in enumerate(changes):
        stop = changes[i + 1][0] if i + 1 < len(changes) else max(end, t)
        out.append([_r(t), _r(stop), value])
    return out


def _time_in(intervals: list[Interval], value: str, start: float, end: float) -> float:
    return _r(sum(max(0.0, min(e, end) - max(s, start)) for s, e, v in intervals if v == value))


class _SignIns:
    """Where each client (source, agent) is signed in, from signed_in/signed_out/state events."""

    def __init__(self) -> None:
        self.where: dict[tuple[str, str], str] = {}
        self.per_node: Counter[str] = Counter()  # kept up to date: a change must not cost O(clients)

    def apply(self, ev: AnyEntry) -> bool:
        """Update from one event; True when a client's node changed."""
        agent = ev.agent
        if ev.source not in CLIENT_SOURCES or agent is None:
            return False
        key = (ev.source, agent)
        e = ev.event
        new: str | None
        if isinstance(e, SignedIn | FailoverDone) or (isinstance(e, State) and e.to == SIGNED_IN):
            new = ev.node or self.where.get(key) or UNKNOWN_NODE
        elif isinstance(e, SignedOut):
            new = None
        elif isinstance(e, State) and e.to not in KEEPS_SIGN_IN:
            new = None  # signing in, failing over, disconnected, server unavailable, ...
        else:
            return False
        if self.where.get(key) == new:
            return False
        old = self.where.pop(key, None)
        if old is not None:
            self.per_node[old] -= 1
        if new is not None:
            self.where[key] = new
            self.per_node[new] += 1
        return True

    def counts(self, source: str | None = None) -> dict[str, int]:
        if source is None:
            return {node: n for node, n in sorted(self.per_node.items()) if n}
        c = Counter(node for (src, _), node in self.where.items() if src == source)
        return dict(sorted(c.items()))


@dataclass
class _Phase:
    name: str
    start: float
    events: list[AnyEntry] = field(default_factory=list)
    end: float = 0.0


def _split_phases(events: Sequence[AnyEntry], run_start: float, run_end: float) -> list[_Phase]:
    phases = [_Phase(START_PHASE, run_start)]
    for ev in events:
        if ev.source == "scenario" and isinstance(ev.event, Phase):
            phases.append(_Phase(ev.event.name or "(unnamed)", ev.t))
        phases[-1].events.append(ev)
    if len(phases) > 1 and not phases[0].events:
        phases.pop(0)  # the scenario opened its first phase at once: no implicit "start"
    for i, ph in enumerate(phases):
        ph.end = phases[i + 1].start if i + 1 < len(phases) else max(run_end, ph.start)
    return phases


def _error_rows(errors: Counter[tuple[str, Any, Any]]) -> list[dict[str, Any]]:
    rows = [{"source": s, "status": st, "error": e, "count": n} for (s, st, e), n in errors.items()]
    rows.sort(key=lambda r: (-r["count"], r["source"], str(r["status"]), str(r["error"])))
    return rows


def _message_rows(messages: Counter[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """The error messages the desktops showed (Cisco's wording), with what was asked."""
    ordered = sorted(messages.items(), key=lambda item: (-item[1], item[0]))
    return [{"message": m, "request": r, "status": st, "count": n} for (m, r, st), n in ordered]


def _fault_info(ev: AnyEntry, fault: Fault) -> dict[str, Any]:
    # The target as written (one name, or a list in a merged history).
    return {"t": _r(ev.t), "target": ev.line.get("target", fault.target), "action": fault.action}


def summarize(events: Sequence[AnyEntry | Line]) -> dict[str, Any]:
    """Per-phase and whole-run numbers of a run's history (see docs/reports.md for every key).

    ``events`` (entries, or objects as written) need not be sorted (a stable sort by ``t`` is
    applied); when it is a :class:`History`, its malformed-line count is reported too.
    """
    malformed = events.malformed if isinstance(events, History) else 0
    evs = sorted(entries(events), key=lambda e: e.t)
    run_start = min(0.0, evs[0].t) if evs else 0.0
    run_end = evs[-1].t if evs else 0.0
    phases = _split_phases(evs, run_start, run_end)

    node_status = {n: _intervals(c, run_end) for n, c in sorted(_changes(evs, _node_status).items())}
    cti_roles = {n: _intervals(c, run_end) for n, c in sorted(_changes(evs, _cti_role).items())}

    last_status: dict[str, str] = {}
    ippa_state: dict[str, str] = {}
    signins = _SignIns()
    series: list[tuple[float, dict[str, int]]] = [(run_start, {})]
    all_seconds: list[float] = []
    all_triggers: Counter[str] = Counter()
    all_errors: Counter[tuple[str, Any, Any]] = Counter()
    all_messages: Counter[tuple[str, str, int]] = Counter()
    slowest: list[dict[str, Any]] = []
    expectations: list[dict[str, Any]] = []
    clients: dict[str, set[str]] = {s: set() for s in CLIENT_SOURCES}
    faults = heals = 0
    phase_rows: list[dict[str, Any]] = []
    all_peak_rate: dict[str, float] = {}
    all_peak_mbps: dict[str, float] = {}

    for ph in phases:
        fault_t: float | None = None
        detect: dict[str, Any] = {"desktop": None, "desktop_trigger": None, "desktop_agent": None}
        detect |= {"out_of_service": None, "out_of_service_node": None}
        ph_faults: list[dict[str, Any]] = []
        ph_heals: list[dict[str, Any]] = []
        seconds: list[float] = []
        triggers: Counter[str] = Counter()
        errors: Counter[tuple[str, Any, Any]] = Counter()
        messages: Counter[tuple[str, str, int]] = Counter()
        passed, failed = 0, []
        peak_rate: dict[str, float] = {}
        peak_mbps: dict[str, float] = {}
        went_unavailable: set[str] = set()
        low = high = len(signins.where)

        for ev in ph.events:
            source, e, t, agent = ev.source, ev.event, ev.t, ev.agent
            if source in clients and agent is not None:
                clients[source].add(agent)
            if source == "scenario" and isinstance(e, Heal):
                ph_heals.append(_fault_info(ev, e))
            elif source == "scenario" and isinstance(e, Fault):
                ph_faults.append(_fault_info(ev, e))
                fault_t = t if fault_t is None else fault_t
            elif source == "scenario" and isinstance(e, Expectation):
                ok = e.ok  # anything but a real true reads as False: a failure
                passed += ok
                if not ok:
                    failed.append(str(e.name))
                expectations.append(
                    {"t": _r(t), "phase": ph.name, "name": str(e.name), "ok": ok, "detail": e.detail}
                )
            elif isinstance(e, Load):
                rate = e.requests_per_second
                peak_rate[source] = max(peak_rate.get(source, 0.0), rate)
                all_peak_rate[source] = max(all_peak_rate.get(source, 0.0), rate)
                if e.mbps is not None:
                    peak_mbps[source] = max(peak_mbps.get(source, 0.0), e.mbps)
                    all_peak_mbps[source] = max(all_peak_mbps.get(source, 0.0), e.mbps)
            elif (status := _node_status(ev)) is not None:
                node, value = status
                entered = value == OUT_OF_SERVICE and last_status.get(node) != OUT_OF_SERVICE
                if entered and fault_t is not None and detect["out_of_service"] is None:
                    detect["out_of_service"], detect["out_of_service_node"] = _r(t - fault_t), node
                last_status[node] = value
            elif source == "desktop" and isinstance(e, FailoverDetected):
                triggers[str(e.trigger)] += 1
                if fault_t is not None and detect["desktop"] is None:
                    detect["desktop"], detect["desktop_trigger"] = _r(t - fault_t), e.trigger
                    detect["desktop_agent"] = agent
            elif source == "desktop" and isinstance(e, FailoverDone):
                if e.seconds is not None:
                    seconds.append(e.seconds)
                    slowest.append({"agent": agent, "node": e.node, "seconds": _r(e.seconds), "t": _r(t)})
            elif isinstance(e, HttpError):
                errors[(source, e.status, e.error)] += 1
            elif isinstance(e, ErrorShown):
                # A sign-in's path is the agent's own: one row per kind of request, not per agent.
                request = e.request.replace(f"/{e.agent}", "/{id}")
                messages[(e.message, request, e.status)] += 1
            elif source == "ippa" and isinstance(e, State):
                ippa_state[e.agent] = e.to
                if e.to == "SERVER_UNAVAILABLE":
                    went_unavailable.add(e.agent)
            if signins.apply(ev):
                counts = signins.counts()
                total = len(signins.where)
                low, high = min(low, total), max(high, total)
                if series[-1][0] == t:  # several changes at one instant: keep the last
                    series[-1] = (t, counts)
                else:
                    series.append((t, counts))

        faults += len(ph_faults)
        heals += len(ph_heals)
        all_seconds += seconds
        all_triggers += triggers
        all_errors += errors
        all_messages += messages
        phase_rows.append(
            {
                "name": ph.name,
                "start": _r(ph.start),
                "end": _r(ph.end),
                "duration": _r(ph.end - ph.start),
                "events": len(ph.events),
                "faults": ph_faults,
                "heals": ph_heals,
                "detection": {"fault_t": None if fault_t is None else _r(fault_t)} | detect,
                "out_of_service": {
                    n: _time_in(iv, OUT_OF_SERVICE, ph.start, ph.end) for n, iv in node_status.items()
                },
                "failover": failover_stats(seconds),
                "failover_triggers": dict(sorted(triggers.items())),
                "ended_on": {s: signins.counts(s) for s in CLIENT_SOURCES},
                "signed_in_total": {"min": low, "max": high},
                "ippa": {
                    "went_unavailable": len(went_unavailable),
                    "states_at_end": dict(sorted(Counter(ippa_state.values()).items())),
                },
                "errors": _error_rows(errors),
                "messages": _message_rows(messages),
                "peak_request_rate": {n: _r(v) for n, v in sorted(peak_rate.items())},
                "peak_mbps": {n: _r(v) for n, v in sorted(peak_mbps.items())},
                "expectations": {"passed": passed, "failed": len(failed), "failed_names": failed},
            }
        )

    nodes = sorted({n for _, counts in series for n in counts})
    passed_total = sum(1 for e in expectations if e["ok"])
    first_wall = next((e.wall - e.t for e in evs if e.wall is not None), None)
    wall_start = first_wall
    slowest.sort(key=lambda s: -s["seconds"])
    return {
        "version": SUMMARY_VERSION,
        "run": {
            "start": _r(run_start),
            "end": _r(run_end),
            "duration": _r(run_end - run_start),
            "wall_start": None if wall_start is None else _r(wall_start),
            "wall_start_utc": None
            if wall_start is None
            else datetime.fromtimestamp(wall_start, UTC).isoformat(timespec="seconds"),
            "events": len(evs),
            "malformed_lines": malformed,
            "sources": dict(sorted(Counter(e.source for e in evs).items())),
            "clients": {s: len(a) for s, a in clients.items()},
        },
        "phases": phase_rows,
        "totals": {
            "faults": faults,
            "heals": heals,
            "out_of_service": {
                n: _time_in(iv, OUT_OF_SERVICE, run_start, run_end) for n, iv in node_status.items()
            },
            "failover": failover_stats(all_seconds),
            "failover_triggers": dict(sorted(all_triggers.items())),
            "slowest_failovers": slowest[:SLOWEST_KEPT],
            "ended_on": {s: signins.counts(s) for s in CLIENT_SOURCES},
            "errors": _error_rows(all_errors),
            "messages": _message_rows(all_messages),
            "peak_request_rate": {n: _r(v) for n, v in sorted(all_peak_rate.items())},
            "peak_mbps": {n: _r(v) for n, v in sorted(all_peak_mbps.items())},
            "expectations": {
                "passed": passed_total,
                "failed": len(expectations) - passed_total,
                "ok": passed_total == len(expectations),
            },
        },
        "expectations": expectations,
        "calls": calls_summary(evs),
        "node_status": node_status,
        "cti_roles": cti_roles,
        "signed_in": {
            "nodes": nodes,
            "points": [[_r(t), *(counts.get(n, 0) for n in nodes)] for t, counts in series],
        },
    }
