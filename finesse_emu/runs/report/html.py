"""``render_html(events, summary)``: one self-contained HTML page (inline CSS, SVG and a little JS).

Nothing is fetched: no CDN, fonts, images or scripts from elsewhere, so the file opens from a
laptop with no network. Every piece of text from the history goes through ``html.escape``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from emu_base.history_events import AnyEntry, HttpError
from finesse_emu.runs.report.calls import calls_table
from finesse_emu.runs.report.history import Line, entries
from finesse_emu.runs.report.text import faults_text, on_nodes, phase_table, route_table, secs
from finesse_emu.runs.report.traffic import FaultGroup, around_faults, is_fault, nice_step

MAX_EVENTS = 2000
STATUS_COLOURS = {"IN_SERVICE": "#43a047", "OUT_OF_SERVICE": "#e53935"}
ROLE_COLOURS = {"active": "#43a047", "idle": "#90a4ae", "down": "#e53935"}
OTHER_COLOUR = "#fbc02d"  # a value we do not know: visible, and neither "good" nor "bad"
NODE_COLOURS = ("#1e88e5", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#546e7a")
FAULT_COLOUR = "#b71c1c"
HEAL_COLOUR = "#2e7d32"

# Chart geometry, in SVG user units (the SVG scales to the page width through its viewBox).
WIDTH = 1100
LEFT = 140
RIGHT = 20
LANE = 22
GAP = 6
MARKS = 34
CHART = 170
AXIS = 30

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #cfd8dc;padding:2px 8px;text-align:left;vertical-align:top}
th{background:#eceff1}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#fff;background:#43a047;padding:0 6px;border-radius:3px}
.fail{color:#fff;background:#e53935;padding:0 6px;border-radius:3px}
tr.scenario td{background:#fff8e1}tr.error td{background:#ffebee}
tr.fault td{background:#ffcdd2;font-weight:bold}
.legend span.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
svg{width:100%;height:auto;max-width:1400px}svg text{font:11px system-ui,sans-serif}
table.events td{font-family:ui-monospace,monospace;font-size:12px}
.note{color:#616161}
.wide{max-width:100%;overflow-x:auto}
table.events td{white-space:nowrap}table.events td:last-child{white-space:normal;overflow-wrap:anywhere}
"""

# Filters the events table by a substring; static text, never built from the history.
JS = """
document.getElementById('filter').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('table.events tbody tr').forEach(function (r) {
    r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  });
});
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _n(x: float) -> str:
    """A coordinate: short, and never ``nan``/``inf`` (which would break the SVG)."""
    return f"{x:.1f}" if math.isfinite(x) else "0"


class _Chart:
    """Maps run seconds to x and collects SVG elements."""

    def __init__(self, t0: float, t1: float) -> None:
        self.t0, self.t1 = t0, t1 if t1 > t0 else t0 + 1.0
        self.parts: list[str] = []

    def x(self, t: float) -> float:
        # Kept inside the plot: a focused chart shows a part of the run, and what lies outside it
        # folds onto its edges instead of spilling over the labels.
        x = LEFT + (t - self.t0) / (self.t1 - self.t0) * (WIDTH - LEFT - RIGHT)
        return min(max(x, LEFT), WIDTH - RIGHT)

    def inside(self, t: float) -> bool:
        return self.t0 <= t <= self.t1

    def add(self, part: str) -> None:
        self.parts.append(part)

    def label(self, y: float, text: str) -> None:
        self.add(f'<text x="{LEFT - 8}" y="{_n(y + LANE / 2 + 4)}" text-anchor="end">{_e(text)}</text>')

    def bands(self, y: float, name: str, intervals: list[Any], colours: dict[str, str]) -> None:
        """One lane: a grey background (value unknown) under a coloured band per interval."""
        self.label(y, name)
        self.add(
            f'<rect x="{LEFT}" y="{_n(y)}" width="{WIDTH - LEFT - RIGHT}" height="{LANE}" fill="#f5f5f5"/>'
        )
        for start, end, value in intervals:
            x0, x1 = self.x(start), self.x(end)
            tip = f"{name} {value} {secs(start)}-{secs(end)} s ({secs(end - start)} s)"
            self.add(
                f'<rect x="{_n(x0)}" y="{_n(y)}" width="{_n(max(x1 - x0, 0.5))}" height="{LANE}" '
                f'fill="{colours.get(value, OTHER_COLOUR)}"><title>{_e(tip)}</title></rect>'
            )

    def vline(self, t: float, y0: float, y1: float, colour: str, dash: str = "") -> None:
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        x = _n(self.x(t))
        self.add(f'<line x1="{x}" y1="{_n(y0)}" x2="{x}" y2="{_n(y1)}" stroke="{colour}"{dashed}/>')


def _thin(points: list[list[float]], chart: _Chart) -> list[list[float]]:
    """At most the first and last point per half-unit of x: a 2000-desktop run has tens of thousands
    of changes, far more than the chart has pixels. A change shorter than that can vanish."""
    out: list[list[float]] = []
    bucket_of_last: int | None = None
    for i, p in enumerate(points):
        bucket = math.floor(chart.x(p[0]) * 2)
        is_last = i + 1 == len(points) or math.floor(chart.x(points[i + 1][0]) * 2) != bucket
        if bucket != bucket_of_last or is_last:
            out.append(p)
        bucket_of_last = bucket
    return out


def _stacked(chart: _Chart, top: float, signed_in: dict[str, Any], end: float) -> list[str]:
    """A stacked step-area chart of clients signed in per node; returns the legend entries."""
    nodes: list[str] = signed_in["nodes"]
    points = _thin([list(p) for p in signed_in["points"]], chart)
    bottom = top + CHART
    peak = max([sum(p[1:]) for p in points] + [1])
    step = max(1.0, nice_step(peak, 4))
    for v in [k * step for k in range(int(peak // step) + 1)]:
        grid_y = bottom - v / peak * (CHART - 10)
        chart.add(
            f'<line x1="{LEFT}" y1="{_n(grid_y)}" x2="{WIDTH - RIGHT}" y2="{_n(grid_y)}" stroke="#e0e0e0"/>'
        )
        chart.add(f'<text x="{LEFT - 8}" y="{_n(grid_y + 4)}" text-anchor="end">{v:g}</text>')
    chart.add(f'<text x="{LEFT - 8}" y="{_n(top + 10)}" text-anchor="end">signed in</text>')
    legend: list[str] = []
    if not points:
        return legend
    ts = [p[0] for p in points]
    x_end = _n(chart.x(max(end, ts[-1])))
    below = [0.0] * len(points)

    def y(v: float) -> str:
        return _n(bottom - v / peak * (CHART - 10))

    for k, node in enumerate(nodes):
        above = [below[i] + points[i][k + 1] for i in range(len(points))]
        d = [f"M{_n(chart.x(ts[0]))},{y(above[0])}"]
        d += [f"H{_n(chart.x(ts[i]))}V{y(above[i])}" for i in range(1, len(ts))]
        d += [f"H{x_end}V{y(below[-1])}"]
        d += [f"H{_n(chart.x(ts[i]))}V{y(below[i - 1])}" for i in range(len(ts) - 1, 0, -1)]
        d += [f"H{_n(chart.x(ts[0]))}Z"]
        colour = NODE_COLOURS[k % len(NODE_COLOURS)]
        peak_node = max(p[k + 1] for p in points)
        chart.add(
            f'<path d="{"".join(d)}" fill="{colour}" fill-opacity="0.75" stroke="{colour}">'
            f"<title>{_e(node)}: at most {peak_node:g} signed in</title></path>"
        )
        legend.append(f'<span class="sw" style="background:{colour}"></span>{_e(node)} (max {peak_node:g})')
        below = above
    return legend


def render_chart(summary: dict[str, Any], window: dict[str, Any] | None = None) -> str:
    """The timeline: phases, fault and heal markers, node status and CTI role lanes, clients per node.
    With ``window`` (the summary's ``fault_window``), only that part of the run, the span from the
    first fault to the last desktop back shaded."""
    run = summary["run"]
    chart = _Chart(*((window["start"], window["end"]) if window else (run["start"], run["end"])))
    y = 0.0
    plot_w = WIDTH - LEFT - RIGHT
    # Phase lane.
    chart.label(y, "phase")
    for i, ph in enumerate(summary["phases"]):
        x0, x1 = chart.x(ph["start"]), chart.x(ph["end"])
        fill = "#eceff1" if i % 2 == 0 else "#cfd8dc"
        chart.add(
            f'<rect x="{_n(x0)}" y="{_n(y)}" width="{_n(max(x1 - x0, 0.5))}" height="{LANE}" fill="{fill}">'
            f"<title>{_e(ph['name'])} {secs(ph['start'])}-{secs(ph['end'])} s</title></rect>"
        )
        room = int((x1 - x0 - 6) / 6.5)  # about 6.5 units per character at 11px
        if room >= 3:
            name = ph["name"] if len(ph["name"]) <= room else ph["name"][: room - 1] + "…"
            chart.add(f'<text x="{_n(x0 + 3)}" y="{_n(y + 15)}">{_e(name)}</text>')
    y += LANE + GAP
    marks_y = y
    chart.label(y + MARKS / 2 - LANE / 2, "faults")
    y += MARKS + GAP
    lanes_y = y
    for node, intervals in summary["node_status"].items():
        chart.bands(y, node, intervals, STATUS_COLOURS)
        y += LANE + GAP
    for side, intervals in summary["cti_roles"].items():
        chart.bands(y, f"{side} role", intervals, ROLE_COLOURS)
        y += LANE + GAP
    chart_top = y
    legend = _stacked(chart, chart_top, summary["signed_in"], run["end"])
    bottom = chart_top + CHART
    chart.add(
        f'<line x1="{LEFT}" y1="{_n(bottom)}" x2="{WIDTH - RIGHT}" y2="{_n(bottom)}" stroke="#616161"/>'
    )
    # Phase boundaries, then faults and heals on top of everything.
    for ph in [p for p in summary["phases"][1:] if chart.inside(p["start"])]:
        chart.vline(ph["start"], lanes_y - GAP, bottom, "#9e9e9e", "3,3")
    marks = [(f, FAULT_COLOUR, "") for p in summary["phases"] for f in p["faults"]]
    marks += [(h, HEAL_COLOUR, "6,3") for p in summary["phases"] for h in p["heals"]]
    marks.sort(key=lambda m: m[0]["t"])
    marks = [m for m in marks if chart.inside(m[0]["t"])]
    if window:
        x0, x1 = chart.x(window["first_fault"]), chart.x(window["last_recovered"])
        span = f"{secs(window['first_fault'])}-{secs(window['last_recovered'])} s"
        tip = f"first fault to last desktop back: {span}"
        chart.add(
            f'<rect class="fault-window" x="{_n(x0)}" y="{_n(marks_y)}" width="{_n(max(x1 - x0, 0.5))}" '
            f'height="{_n(bottom - marks_y)}" fill="{FAULT_COLOUR}" fill-opacity="0.08" '
            f'stroke="{FAULT_COLOUR}" stroke-opacity="0.4"><title>{_e(tip)}</title></rect>'
        )
    for i, (mark, colour, dash) in enumerate(marks):
        chart.vline(mark["t"], marks_y + (i % 2) * MARKS / 2, bottom, colour, dash)
        text = faults_text([mark]) if colour == FAULT_COLOUR else f"heal {mark.get('target')}"
        chart.add(
            f'<text x="{_n(chart.x(mark["t"]) + 3)}" y="{_n(marks_y + (i % 2) * MARKS / 2 + 12)}" '
            f'fill="{colour}">{_e(text)}<title>{_e(text)} at {secs(mark["t"])} s</title></text>'
        )
    _time_axis(chart, bottom)
    height = bottom + AXIS
    what, ident = ("the fault window", "focused-timeline") if window else ("the run", "timeline")
    svg = (
        f'<svg id="{ident}" viewBox="0 0 {WIDTH} {_n(height)}" role="img" aria-label="timeline of {what}">'
        f'<rect x="{LEFT}" y="0" width="{plot_w}" height="{_n(height - AXIS)}" fill="none"/>'
        + "".join(chart.parts)
        + "</svg>"
    )
    swatches = [f'<span class="sw" style="background:{c}"></span>{_e(v)}' for v, c in STATUS_COLOURS.items()]
    swatches += [
        f'<span class="sw" style="background:{c}"></span>CTI {_e(v)}' for v, c in ROLE_COLOURS.items()
    ]
    swatches += [f'<span class="sw" style="background:{OTHER_COLOUR}"></span>other']
    swatches += [f'<span class="sw" style="background:{FAULT_COLOUR}"></span>fault']
    swatches += [f'<span class="sw" style="background:{HEAL_COLOUR}"></span>heal']
    return (
        svg
        + f'<p class="legend">{"".join(swatches)}</p>'
        + (f'<p class="legend">signed in per node: {"".join(legend)}</p>' if legend else "")
    )


PANEL = 150  # height of one panel of the traffic chart and of the CDF


def _y_axis(chart: _Chart, top: float, peak: float, label: str) -> Callable[[float], float]:
    """Grid lines and values on the left for 0..``peak``; returns the value-to-y mapping."""
    bottom = top + PANEL
    peak = peak if peak > 0 else 1.0
    step = nice_step(peak, 4)
    v = 0.0
    while v <= peak + 1e-9:
        gy = bottom - v / peak * (PANEL - 24)
        chart.add(f'<line x1="{LEFT}" y1="{_n(gy)}" x2="{WIDTH - RIGHT}" y2="{_n(gy)}" stroke="#e0e0e0"/>')
        chart.add(f'<text x="{LEFT - 8}" y="{_n(gy + 4)}" text-anchor="end">{v:g}</text>')
        v += step
    chart.add(f'<text x="{LEFT - 8}" y="{_n(top + 9)}" text-anchor="end">{_e(label)}</text>')
    axis = f'<line x1="{LEFT}" y1="{_n(bottom)}" x2="{WIDTH - RIGHT}" y2="{_n(bottom)}" stroke="#616161"/>'
    chart.add(axis)
    return lambda value: bottom - value / peak * (PANEL - 24)


def _time_axis(chart: _Chart, y: float) -> None:
    step = nice_step(chart.t1 - chart.t0)
    k = math.ceil(chart.t0 / step)
    while k * step <= chart.t1 + 1e-9:
        t = k * step
        chart.vline(t, y, y + 5, "#616161")
        chart.add(f'<text x="{_n(chart.x(t))}" y="{_n(y + 18)}" text-anchor="middle">{t:g} s</text>')
        k += 1


def _polyline(points: list[tuple[float, float]], colour: str, dash: str = "") -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    coords = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5"{dashed}/>'


def render_traffic(summary: dict[str, Any]) -> str:
    """REST answers per node over the run: rate (per emulated second) and latency (p50 dashed, p95)."""
    req = summary.get("requests") or {}
    series: dict[str, list[list[Any]]] = req.get("series") or {}
    if not series:
        return "<p>No REST requests recorded (the nodes write them when their event log is on).</p>"
    first = min(rows[0][0] for rows in series.values())
    chart = _Chart(first, max(summary["run"]["end"], first + req["bin"]))
    half = req["bin"] / 2  # a bin's value drawn at its middle
    rate_y = _y_axis(chart, 0, max(r[2] for rows in series.values() for r in rows), "req/s")
    lat_top = PANEL + 2 * GAP + AXIS
    peak_ms = max([r[4] for rows in series.values() for r in rows if r[4] is not None] + [1.0])
    lat_y = _y_axis(chart, lat_top, peak_ms, "ms")
    legend = []
    for k, (node, rows) in enumerate(series.items()):
        colour = NODE_COLOURS[k % len(NODE_COLOURS)]
        chart.add(_polyline([(chart.x(r[0] + half), rate_y(r[2])) for r in rows], colour))
        for col, dash in ((3, "4,3"), (4, "")):
            run_pts: list[tuple[float, float]] = []
            for r in [*rows, [0, 0, 0, None, None]]:  # a sentinel closes the last run of points
                if r[col] is None:
                    if run_pts:
                        chart.add(_polyline(run_pts, colour, dash))
                    run_pts = []
                else:
                    run_pts.append((chart.x(r[0] + half), lat_y(r[col])))
        legend.append(f'<span class="sw" style="background:{colour}"></span>{_e(node)}')
    window = summary.get("fault_window")
    if window:
        x0, x1 = chart.x(window["first_fault"]), chart.x(window["last_recovered"])
        chart.add(
            f'<rect x="{_n(x0)}" y="0" width="{_n(max(x1 - x0, 0.5))}" height="{_n(lat_top + PANEL)}" '
            f'fill="{FAULT_COLOUR}" fill-opacity="0.08"/>'
        )
    for t in [f["t"] for p in summary["phases"] for f in p["faults"]]:
        chart.vline(t, 0, lat_top + PANEL, FAULT_COLOUR)
    _time_axis(chart, PANEL)
    _time_axis(chart, lat_top + PANEL)
    height = lat_top + PANEL + AXIS
    svg = (
        f'<svg id="traffic" viewBox="0 0 {WIDTH} {_n(height)}" role="img" '
        f'aria-label="REST requests per node over time">' + "".join(chart.parts) + "</svg>"
    )
    note = (
        f'<p class="legend">{"".join(legend)}<span class="sw" style="background:{FAULT_COLOUR}"></span>'
        f"fault. Top: REST answers per emulated second, per {secs(req['bin'])} s bin. Bottom: the "
        "node's time to answer (real ms): p95 solid, p50 dashed.</p>"
    )
    return svg + note


def render_cdf(summary: dict[str, Any]) -> str:
    """The desktops' failover times (detection to signed in again) as a cumulative distribution."""
    points: list[list[float]] = summary.get("failover_cdf") or []
    if not points:
        return "<p>No desktop failed over.</p>"
    top_s = points[-1][0]
    chart = _Chart(0.0, top_s * 1.05 if top_s > 0 else 1.0)
    y = _y_axis(chart, 0, 1.0, "share")
    d = [f"M{_n(chart.x(0))},{_n(y(0))}"]
    for s, frac in points:
        d.append(f"H{_n(chart.x(s))}V{_n(y(frac))}")
    d.append(f"H{_n(chart.x(chart.t1))}")
    chart.add(f'<path d="{"".join(d)}" fill="none" stroke="{NODE_COLOURS[0]}" stroke-width="2"/>')
    fo = summary["totals"]["failover"]
    for name in ("p50", "p95"):
        if fo.get(name) is not None:
            x = chart.x(fo[name])
            chart.vline(fo[name], 0, PANEL, "#616161", "3,3")
            # Left of the line near the right edge, so the label stays inside the chart.
            anchor = ' text-anchor="end"' if x > WIDTH - RIGHT - 100 else ""
            dx = -3 if anchor else 3
            text = f"{name} {secs(fo[name])} s"
            chart.add(f'<text x="{_n(x + dx)}" y="{12 if name == "p50" else 24}"{anchor}>{text}</text>')
    _time_axis(chart, PANEL)
    svg = (
        f'<svg id="failover-cdf" viewBox="0 0 {WIDTH} {_n(PANEL + AXIS)}" role="img" '
        f'aria-label="failover time CDF">' + "".join(chart.parts) + "</svg>"
    )
    return svg + (
        f'<p class="note">{len(points)} desktop failovers: the share of them signed in again within '
        "x emulated seconds of detecting the failure.</p>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{_e(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _details(ev: AnyEntry) -> str:
    # Every field of the line as written: the timeline shows events no rule reads too.
    rest = {k: v for k, v in ev.line.items() if k not in ("t", "wall", "source", "event", "agent")}
    return " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in rest.items())


def _event_rows(events: Sequence[AnyEntry]) -> str:
    rows = []
    for ev in events:
        fault = is_fault(ev)
        css = "fault" if fault else "scenario" if ev.source == "scenario" else ""
        css = "error" if isinstance(ev.event, HttpError) else css
        cls = f' class="{css}"' if css else ""
        agent = "" if ev.agent is None else ev.agent
        cells = [secs(ev.t), ev.source, ev.name, agent, _details(ev)]
        rows.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return "".join(rows)


EVENT_HEAD = "".join(f"<th>{h}</th>" for h in ("t (emulated s)", "source", "event", "agent", "details"))


def _event_table(events: Sequence[AnyEntry], ident: str = "") -> str:
    attr = f' id="{ident}"' if ident else ""
    return (
        f'<div class="wide"><table class="events"{attr}><thead><tr>{EVENT_HEAD}</tr></thead>'
        f"<tbody>{_event_rows(events)}</tbody></table></div>"
    )


def _group_title(g: FaultGroup) -> str:
    faults = ", ".join(
        f"{ev.line.get('action')} {ev.line.get('target')} at {secs(ev.t)} s" for ev in g.faults
    )
    return f"{faults} ({secs(g.start)}-{secs(g.end)} s)"


def _events_table(events: Sequence[AnyEntry], limit: int) -> str:
    """The events around each fault first (one table per fault, linked from a list), then the others
    collapsed; without faults, the first ``limit`` events."""
    groups, rest = around_faults(events)
    out = ['<p><label>filter <input id="filter" type="search" placeholder="text in any column"></label></p>']
    if groups:
        links = "".join(
            f'<li><a href="#fault-{i + 1}">{_e(_group_title(g))}</a>: {len(g.events)} events</li>'
            for i, g in enumerate(groups)
        )
        out.append(f'<ul>{links}<li><a href="#other-events">the other events</a>: {len(rest)}</li></ul>')
        for i, g in enumerate(groups):
            more = f" ({g.left_out} more in this span: history.jsonl has them)" if g.left_out else ""
            out.append(f'<h3 id="fault-{i + 1}">Around {_e(_group_title(g))}{more}</h3>')
            out.append('<p class="note">REST request events are under the other events.</p>')
            out.append(_event_table(g.events))
    shown = rest[:limit]
    note = ""
    if len(rest) > limit:
        note = f'<p class="note">Showing the first {limit} of {len(rest)} events'
        note += "; history.jsonl has them all.</p>"
    if not groups:
        return "".join(out) + note + _event_table(shown, "events")
    return (
        "".join(out)
        + f'<details id="other-events"><summary>The other {len(rest)} events</summary>'
        + note
        + _event_table(shown, "events")
        + "</details>"
    )


def _calls_section(calls: dict[str, Any] | None) -> list[str]:
    """The calls the desktops saw, by state, before the first fault and at the end (none: nothing)."""
    if not calls:
        return []
    headers, rows = calls_table(calls)
    placed = ", ".join(f"{_e(k)} {n}" for k, n in calls["placed"].items())
    note = f'<p class="note">Calls placed: {placed}.</p>' if placed else ""
    return ["<h2>Calls</h2>", note, _table(headers, rows, {1, 2})]


def render_html(
    events: Sequence[AnyEntry | Line],
    summary: dict[str, Any],
    *,
    title: str = "finesse-emu run report",
    max_events: int = MAX_EVENTS,
) -> str:
    """The whole page: overview, phases, failovers, out of service, errors, expectations, timeline, events."""
    run, totals = summary["run"], summary["totals"]
    exp = totals["expectations"]
    verdict = '<span class="pass">PASS</span>' if exp["ok"] else '<span class="fail">FAIL</span>'
    overview = _table(
        ["run", ""],
        [
            ["duration (s)", secs(run["duration"])],
            ["started (UTC)", run["wall_start_utc"] or "-"],
            ["events", run["events"]],
            ["malformed lines skipped", run["malformed_lines"]],
            ["desktops / IP phones", f"{run['clients'].get('desktop', 0)} / {run['clients'].get('ippa', 0)}"],
            ["faults / heals", f"{totals['faults']} / {totals['heals']}"],
            ["desktops at the end", on_nodes(totals["ended_on"].get("desktop", {}))],
            ["IP phones at the end", on_nodes(totals["ended_on"].get("ippa", {}))],
            ["expectations", f"{exp['passed']} passed, {exp['failed']} failed"],
        ],
    )
    headers, rows, right = phase_table(summary)
    fo = totals["failover"]
    failover = _table(
        ["count", "min", "p50", "p95", "max", "mean", "triggers"],
        [
            [
                fo["count"],
                *(secs(fo[k]) for k in ("min", "p50", "p95", "max", "mean")),
                ", ".join(f"{k} {v}" for k, v in totals["failover_triggers"].items()) or "-",
            ]
        ],
        {0, 1, 2, 3, 4, 5},
    )
    slowest = _table(
        ["agent", "node", "seconds", "done at (s)"],
        [[s["agent"], s["node"], secs(s["seconds"]), secs(s["t"])] for s in totals["slowest_failovers"]],
        {2, 3},
    )
    oos = _table(
        ["node", "out of service (s)", "intervals (s)"],
        [
            [
                node,
                secs(totals["out_of_service"].get(node, 0.0)),
                ", ".join(f"{secs(s)}-{secs(e)}" for s, e, v in iv if v == "OUT_OF_SERVICE") or "-",
            ]
            for node, iv in summary["node_status"].items()
        ],
        {1},
    )
    errors = _table(
        ["source", "status", "error", "count"],
        [[e["source"], e["status"], e["error"], e["count"]] for e in totals["errors"]],
        {3},
    )
    messages = _table(
        ["message", "request", "status", "count"],
        [[m["message"], m["request"], m["status"], m["count"]] for m in totals.get("messages", [])],
        {3},
    )
    exp_rows = "".join(
        f"<tr><td class=num>{secs(e['t'])}</td><td>{_e(e['phase'])}</td><td>{_e(e['name'])}</td>"
        f"<td>{'<span class=pass>pass</span>' if e['ok'] else '<span class=fail>FAIL</span>'}</td>"
        f"<td>{_e(e['detail'] or '')}</td></tr>"
        for e in summary["expectations"]
    )
    expectations = (
        '<div class="wide"><table><thead><tr><th>t (s)</th><th>phase</th><th>expectation</th><th>result</th>'
        f"<th>detail</th></tr></thead><tbody>{exp_rows}</tbody></table></div>"
        if exp_rows
        else "<p>No expectations in this run.</p>"
    )
    scale = run.get("time_scale", 1.0)
    pace = (
        f"the run went at time_scale {scale:g}, each real second standing for {1 / scale:g} emulated seconds"
        if scale != 1.0
        else "the run went at time_scale 1, in real time"
    )
    units = (
        '<p class="note">Times are emulated seconds: the product\'s own time (' + pace + "; timers "
        "as Cisco Finesse Failover Mechanisms states them read as written). REST latencies are real ms.</p>"
    )
    window = summary.get("fault_window")
    focused = (
        [
            "<h2>Fault window</h2>",
            f'<p class="note">From a little before the first fault ({secs(window["first_fault"])} s) to a '
            f"little after the last desktop signed in again ({secs(window['last_recovered'])} s), shaded; "
            'the <a href="#run-timeline">whole run</a> is further down.</p>',
            render_chart(summary, window),
        ]
        if window
        else []
    )
    routes = summary.get("requests", {}).get("routes", [])
    route_headers, route_rows = route_table(routes)
    body = [
        f"<h1>{_e(title)} {verdict}</h1>",
        overview,
        units,
        *focused,
        "<h2>Phases</h2>",
        '<p class="note">Detection: from the phase\'s first fault to the first desktop failover_detected and '
        "to the first node going OUT_OF_SERVICE. Failover: failover_done seconds (detection to signed in "
        "again); p50/p95 are nearest-rank percentiles. OOS: seconds out of service within the phase.</p>",
        _table(headers, rows, right),
        "<h2>Desktop failovers</h2>",
        failover,
        "<h3>Failover time CDF</h3>",
        render_cdf(summary),
        "<h3>Slowest</h3>" + slowest if totals["slowest_failovers"] else "",
        "<h2>REST requests</h2>",
        render_traffic(summary),
        "<h3>Per route</h3>",
        _table(route_headers, route_rows, {2, 4, 5}) if routes else "<p>None recorded.</p>",
        "<h2>Out of service</h2>",
        oos if summary["node_status"] else "<p>No node status events.</p>",
        "<h2>Errors</h2>",
        errors if totals["errors"] else "<p>No HTTP errors.</p>",
        "<h3>Error messages the desktops showed</h3>",
        messages if totals.get("messages") else "<p>None.</p>",
        *_calls_section(summary.get("calls")),
        "<h2>Expectations</h2>",
        expectations,
        '<h2 id="run-timeline">Timeline of the whole run</h2>',
        render_chart(summary),
        "<h2>Events</h2>",
        _events_table(entries(events), max_events),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + f"<script>{JS}</script></body></html>\n"
    )
