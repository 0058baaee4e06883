"""The report's REST traffic, failover CDF, fault window and events around the faults, from
hand-built histories (finesse_emu/runs/report/traffic.py and what summary.json, summary.txt and
report.html make of it)."""

from __future__ import annotations

from typing import Any

import pytest

from finesse_emu.runs.report import entries, render_html, render_summary_table, summarize
from finesse_emu.runs.report.traffic import (
    AFTER_FAULT_S,
    BEFORE_FAULT_S,
    WINDOW_MARGIN_MIN_S,
    around_faults,
    failover_cdf,
    fault_window,
    request_series,
    route_stats,
)

Event = dict[str, Any]
USER = "/finesse/api/User/{user}"
SYSINFO = "/finesse/api/SystemInfo"


def ev(t: float, source: str, event: str, **fields: Any) -> Event:
    return {"t": t, "source": source, "event": event, **fields}


def req(t: float, node: str, route: str, status: int, ms: float | None, method: str = "GET") -> Event:
    path = route.replace("{user}", "1001")
    return ev(
        t, node, "request", method=method, path=path, status=status, service="IN_SERVICE", route=route, ms=ms
    )


# --- per-route statistics --------------------------------------------------------------------------


def test_route_stats_count_status_codes_and_nearest_rank_percentiles() -> None:
    # 20 GETs of a user, 1..20 ms: p50 is the 10th (10 ms), p95 the 19th (19 ms); two were 503s.
    events = [req(float(i), "finesse-a", USER, 503 if i < 2 else 200, float(i + 1)) for i in range(20)]
    events += [req(30.0, "finesse-b", USER, 202, 40.0, method="PUT")]
    events += [req(31.0, "finesse-b", SYSINFO, 200, 2.0), req(32.0, "finesse-b", SYSINFO, 200, None)]
    rows = route_stats(entries(events))
    assert rows == [
        {
            "route": USER,
            "method": "GET",
            "count": 20,
            "statuses": {"200": 18, "503": 2},
            "p50_ms": 10.0,
            "p95_ms": 19.0,
        },
        {"route": SYSINFO, "method": "GET", "count": 2, "statuses": {"200": 2}, "p50_ms": 2.0, "p95_ms": 2.0},
        {"route": USER, "method": "PUT", "count": 1, "statuses": {"202": 1}, "p50_ms": 40.0, "p95_ms": 40.0},
    ]


def test_a_request_written_before_routes_were_recorded_is_one_bounded_row() -> None:
    old = [
        ev(1.0, "finesse-a", "request", method="GET", path=f"/finesse/api/User/{n}", status=200)
        for n in range(5)
    ]
    (row,) = route_stats(entries(old))
    assert (row["route"], row["count"], row["p50_ms"], row["p95_ms"]) == ("(not recorded)", 5, None, None)


# --- rate and latency over time --------------------------------------------------------------------


def test_request_series_bins_rate_and_latency_per_node_with_empty_bins_as_zero() -> None:
    # finesse-a: 4 answers in [10, 12) then none (killed); finesse-b: 2 in [14, 16).
    events = [req(10.0, "finesse-a", USER, 200, 1.0), req(10.5, "finesse-a", USER, 200, 3.0)]
    events += [req(11.0, "finesse-a", USER, 200, 5.0), req(11.9, "finesse-a", USER, 200, 7.0)]
    events += [req(14.0, "finesse-b", USER, 200, 20.0), req(15.5, "finesse-b", USER, 200, None)]
    series = request_series(entries(events), end=17.0, bin_seconds=2.0)
    assert series["bin"] == 2.0 and series["nodes"] == ["finesse-a", "finesse-b"]
    # [t, count, rate per emulated second, p50 ms, p95 ms] per bin from the first request's bin.
    assert series["series"]["finesse-a"] == [
        [10.0, 4, 2.0, 3.0, 7.0],
        [12.0, 0, 0.0, None, None],
        [14.0, 0, 0.0, None, None],
        [16.0, 0, 0.0, None, None],
    ]
    assert series["series"]["finesse-b"][2] == [14.0, 2, 1.0, 20.0, 20.0]
    assert sum(r[1] for r in series["series"]["finesse-b"]) == 2


def test_request_series_picks_a_round_bin_and_is_empty_without_requests() -> None:
    events = [req(0.0, "finesse-a", USER, 200, 1.0), req(300.0, "finesse-a", USER, 200, 1.0)]
    series = request_series(entries(events), end=300.0)
    assert series["bin"] == 5.0  # 300 s over about 60 bins
    assert len(series["series"]["finesse-a"]) == 61
    assert request_series(entries([ev(1.0, "desktop", "signed_in", agent="1")]), end=5.0) == {
        "bin": None,
        "nodes": [],
        "series": {},
    }


# --- failover CDF -----------------------------------------------------------------------------------


def test_failover_cdf_is_the_share_done_within_each_time() -> None:
    assert failover_cdf([9.0, 3.0, 6.0, 3.0]) == [[3.0, 0.25], [3.0, 0.5], [6.0, 0.75], [9.0, 1.0]]
    assert failover_cdf([]) == []


# --- the fault window -------------------------------------------------------------------------------


def failover_run() -> list[Event]:
    """Signed in by 2; a fault at 100; desktops back at 110, 120 and 140; a heal at 300; a late
    failover_done before the fault (a refresh) that must not count."""
    out = [
        ev(0.0, "scenario", "phase", name="sign in"),
        ev(2.0, "desktop", "signed_in", agent="1", node="finesse-a"),
    ]
    out += [ev(50.0, "desktop", "failover_done", agent="9", node="finesse-a", seconds=1.0)]
    out += [ev(100.0, "scenario", "fault", target="finesse-a", action="kill")]
    for t, agent in ((110.0, "1"), (120.0, "2"), (140.0, "3")):
        out.append(ev(t, "desktop", "failover_done", agent=agent, node="finesse-b", seconds=t - 100.0))
    out += [ev(300.0, "scenario", "heal", target="finesse-a", action="restart")]
    return out


def test_fault_window_runs_from_the_first_fault_to_the_last_desktop_back_with_margins() -> None:
    window = fault_window(entries(failover_run()), 0.0, 300.0)
    # 15 % of the 40 s span (6 s) each side: the span is 40 / 52 of the chart, well over half.
    assert window == {"start": 94.0, "end": 146.0, "first_fault": 100.0, "last_recovered": 140.0}


def test_fault_window_margins_have_a_floor_and_stay_in_the_run() -> None:
    events = entries(
        [ev(1.0, "scenario", "fault", target="cti-a", action="kill"), ev(1.5, "cti-b", "role", role="active")]
    )
    window = fault_window(events, 0.0, 1.5)
    assert window is not None
    # No desktop failed over: the window ends at the last fault, with a 2 s margin cut to the run.
    assert (window["first_fault"], window["last_recovered"]) == (1.0, 1.0)
    assert window["start"] == 0.0 and window["end"] == 1.5
    window = fault_window(events, -5.0, 10.0)
    assert window is not None
    assert (window["start"], window["end"]) == (1.0 - WINDOW_MARGIN_MIN_S, 1.0 + WINDOW_MARGIN_MIN_S)
    assert fault_window(entries([ev(1.0, "desktop", "signed_in", agent="1")]), 0.0, 1.0) is None


# --- events around the faults -----------------------------------------------------------------------


def test_events_around_each_fault_come_first_and_overlapping_windows_merge() -> None:
    events = [ev(float(t), "desktop", "tick", agent=str(t)) for t in range(0, 200, 1)]
    events += [ev(50.0, "scenario", "fault", target="finesse-a", action="kill")]
    events += [ev(60.0, "scenario", "fault", target="cti-a", action="kill")]  # within 50's window
    events += [ev(150.0, "scenario", "fault", target="finesse-b", action="hang")]
    events += [req(52.0, "finesse-b", USER, 200, 1.0)]  # REST answers stay with the others
    groups, rest = around_faults(entries(events))
    assert [(g.start, g.end) for g in groups] == [
        (50.0 - BEFORE_FAULT_S, 60.0 + AFTER_FAULT_S),
        (150.0 - BEFORE_FAULT_S, 150.0 + AFTER_FAULT_S),
    ]
    assert [f.line["target"] for f in groups[0].faults] == ["finesse-a", "cti-a"]
    ticks = [e.t for e in groups[0].events if e.name == "tick"]
    assert ticks == [float(t) for t in range(45, 91)]
    assert all(e.name != "request" for g in groups for e in g.events)
    shown = sum(len(g.events) for g in groups)
    assert shown + len(rest) == len(events)
    assert [e.t for e in rest] == sorted(e.t for e in rest)
    assert 52.0 in [e.t for e in rest if e.name == "request"]


def test_events_around_a_fault_are_capped_nearest_to_it() -> None:
    events = [ev(10.0 + i / 100, "desktop", "tick", agent=str(i)) for i in range(-300, 1000)]
    events += [ev(10.0, "scenario", "fault", target="finesse-a", action="kill")]
    (group,), rest = around_faults(entries(events), limit=11)
    assert [round(e.t, 2) for e in group.events] == [
        9.95,
        9.96,
        9.97,
        9.98,
        9.99,
        10.0,
        10.0,
        10.01,
        10.02,
        10.03,
        10.04,
    ]
    assert group.left_out == len(events) - 11 - sum(1 for e in rest if not group.start <= e.t <= group.end)


# --- in summary.json, summary.txt and report.html -----------------------------------------------------


def test_summary_json_text_and_page_carry_the_new_numbers() -> None:
    events = [
        *failover_run(),
        req(101.0, "finesse-b", USER, 200, 4.0),
        req(102.0, "finesse-b", USER, 401, 8.0),
    ]
    summary = summarize(events)
    assert summary["failover_cdf"] == [[1.0, 0.25], [10.0, 0.5], [20.0, 0.75], [40.0, 1.0]]
    assert summary["fault_window"]["first_fault"] == 100.0
    assert summary["requests"]["routes"][0]["statuses"] == {"200": 1, "401": 1}
    assert summary["requests"]["series"]["finesse-b"][0][1] >= 1
    text = render_summary_table(summary)
    assert "REST requests per route" in text
    assert f"GET     {USER}      2  200 1, 401 1     4.0     8.0" in text
    page = render_html(events, summary)
    for ident in (
        'id="focused-timeline"',
        'id="failover-cdf"',
        'id="traffic"',
        'id="fault-1"',
        'class="fault-window"',
    ):
        assert ident in page
    assert 'id="fault-2"' not in page  # the heal at 300 is no fault
    assert "emulated seconds" in page and "Cisco Finesse Failover Mechanisms" in page
    assert "seed" not in page.lower()


def test_a_run_without_faults_or_requests_has_no_new_charts() -> None:
    summary = summarize([ev(1.0, "desktop", "signed_in", agent="1", node="finesse-a")])
    assert summary["fault_window"] is None and summary["failover_cdf"] == []
    assert summary["requests"] == {"bin": None, "nodes": [], "series": {}, "routes": []}
    page = render_html([], summary)
    assert 'id="focused-timeline"' not in page and 'id="traffic"' not in page
    assert "No desktop failed over." in page


@pytest.mark.parametrize("scale", [0.05, 1.0])
def test_text_names_emulated_seconds(scale: float) -> None:
    summary = summarize(failover_run())
    summary["run"]["time_scale"] = scale
    text = render_summary_table(summary)
    assert "seed" not in text
    assert ("times in emulated seconds" in text) == (scale != 1.0)


def test_the_page_says_how_emulated_seconds_relate_to_real_time() -> None:
    summary = summarize(failover_run())
    assert "time_scale 1, in real time" in render_html([], summary)
    summary["run"]["time_scale"] = 0.05
    assert "each real second standing for 20 emulated seconds" in render_html([], summary)
