"""Run reports: summary numbers from synthetic histories, the text table, the HTML page, the files."""

from __future__ import annotations

import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from finesse_emu.cli.report import main
from finesse_emu.runs.report import (
    History,
    load_history,
    percentile,
    render_html,
    render_summary_table,
    summarize,
    write_report,
)

Event = dict[str, Any]

DESKTOPS = [str(1000 + i) for i in range(20)]
PHONES = [str(1050 + i) for i in range(5)]
# A permutation of 3.0, 3.7, ..., 16.3: sorted, the 10th is 9.3 (p50), the 19th 15.6 (p95), the 20th 16.3.
SECONDS = {a: round(3.0 + 0.7 * ((i * 7) % 20), 1) for i, a in enumerate(DESKTOPS)}
TRIGGERS = ["systeminfo"] * 10 + ["notification"] * 5 + ["presence"] * 5
WALL0 = 1_790_000_000.0


def ev(t: float, source: str, event: str, **fields: Any) -> Event:
    return {"t": t, "wall": WALL0 + t, "source": source, "event": event, **fields}


def publisher_killed() -> list[Event]:
    """Start on finesse-a; kill finesse-a (OUT_OF_SERVICE at 5, back at 65); then kill CTI side A.

    Desktop i detects at 5 + i and is signed in on finesse-b SECONDS[i] later; the 5 IP phones get
    three 503s each, show "server unavailable" at 20, and only two sign in again (on finesse-b).
    """
    out = [
        ev(0.1, "finesse-a", "status", status="IN_SERVICE", reason="started"),
        ev(0.2, "finesse-b", "status", status="IN_SERVICE", reason="started"),
        ev(0.3, "cti-a", "role", role="active"),
        ev(0.3, "cti-b", "role", role="idle"),
    ]
    for i, a in enumerate(DESKTOPS):
        out.append(ev(1.0 + i / 100, "desktop", "state", agent=a, **{"from": "SIGNING_IN"}, to="SIGNED_IN"))
        out.append(ev(1.0 + i / 100, "desktop", "signed_in", agent=a, node="finesse-a"))
    for a in PHONES:
        out.append(ev(2.0, "ippa", "state", agent=a, to="SIGNED_IN", node="finesse-a"))
    out += [
        ev(4.0, "scenario", "phase", name="publisher killed"),
        ev(4.5, "scenario", "fault", target="finesse-a", action="kill"),
        ev(5.0, "finesse-a", "status", status="OUT_OF_SERVICE", reason="killed"),
        ev(5.5, "finesse-a", "status", status="OUT_OF_SERVICE", reason="still"),  # a repeat, not a change
    ]
    for i, a in enumerate(DESKTOPS):
        t = 5.0 + i
        out.append(ev(t, "desktop", "failover_detected", agent=a, trigger=TRIGGERS[i], node="finesse-a"))
        out.append(
            ev(t, "desktop", "state", agent=a, **{"from": "SIGNED_IN"}, to="FAILING_OVER", node="finesse-a")
        )
        out.append(
            ev(
                t + 0.1,
                "desktop",
                "http_error",
                agent=a,
                status=503,
                error="SERVER_OUT_OF_SERVICE",
                node="finesse-a",
            )
        )
        done = t + SECONDS[a]
        out.append(ev(done, "desktop", "failover_done", agent=a, node="finesse-b", seconds=SECONDS[a]))
        out.append(ev(done, "desktop", "signed_in", agent=a, node="finesse-b"))
    for a in PHONES:
        for t in (5.0, 10.0, 15.0):
            out.append(
                ev(
                    t,
                    "ippa",
                    "http_error",
                    agent=a,
                    status=503,
                    error="SERVER_OUT_OF_SERVICE",
                    node="finesse-a",
                )
            )
        out.append(ev(20.0, "ippa", "state", agent=a, to="SERVER_UNAVAILABLE", node="finesse-a"))
    out.append(ev(40.0, "ippa", "state", agent=PHONES[0], to="SIGNED_IN", node="finesse-b"))
    out.append(ev(40.0, "ippa", "state", agent=PHONES[1], to="SIGNED_IN", node="finesse-b"))
    for a in PHONES[2:]:
        out.append(ev(40.0, "ippa", "state", agent=a, to="SIGN_IN_SCREEN", node="finesse-a"))
    out += [
        ev(59.0, "scenario", "expectation", name="desktops on finesse-b", ok=True, detail="20/20"),
        ev(59.5, "scenario", "expectation", name="phones back", ok=False, detail="3 on the sign-in screen"),
        ev(60.0, "scenario", "phase", name="cti side A killed"),
        ev(61.0, "scenario", "heal", target="finesse-a", action="start"),
        ev(62.0, "scenario", "fault", target="cti-a", action="kill"),
        ev(62.0, "cti-a", "role", role="down"),
        ev(62.5, "cti-b", "role", role="active"),
        ev(63.0, "finesse-b", "status", status="OUT_OF_SERVICE", reason="CTI failover"),
        ev(64.5, "finesse-b", "status", status="IN_SERVICE", reason="CTI up"),
        ev(65.0, "finesse-a", "status", status="IN_SERVICE", reason="restarted"),
        ev(70.0, "xmpp-a", "session_count", sessions=3),  # unknown event: timeline only
        ev(80.0, "scenario", "expectation", name="publisher back", ok=True, detail=""),
    ]
    return sorted(out, key=lambda e: e["t"])


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return summarize(publisher_killed())


def phase(summary: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in summary["phases"] if p["name"] == name)
    return found


def signed_in_at(summary: dict[str, Any], t: float) -> dict[str, int]:
    nodes = summary["signed_in"]["nodes"]
    last = [p for p in summary["signed_in"]["points"] if p[0] <= t][-1]
    return dict(zip(nodes, last[1:], strict=True))


# --- percentiles ----------------------------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(20, 0, -1)]
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 19.0
    assert percentile(values, 100) == 20.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # no interpolation: never 2.5
    assert percentile([7.0], 1) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 0)


# --- summary --------------------------------------------------------------------------------------


def test_phases_and_their_bounds(summary: dict[str, Any]) -> None:
    names = [(p["name"], p["start"], p["end"]) for p in summary["phases"]]
    assert names == [("start", 0.0, 4.0), ("publisher killed", 4.0, 60.0), ("cti side A killed", 60.0, 80.0)]
    assert summary["run"]["duration"] == 80.0
    assert summary["run"]["events"] == len(publisher_killed())
    assert summary["run"]["clients"] == {"desktop": 20, "ippa": 5}
    assert summary["run"]["wall_start"] == WALL0
    assert summary["run"]["wall_start_utc"] == "2026-09-21T14:13:20+00:00"


def test_no_implicit_start_phase_when_the_scenario_opens_one_at_once() -> None:
    s = summarize([ev(0.0, "scenario", "phase", name="only"), ev(3.0, "desktop", "noise")])
    assert [(p["name"], p["start"], p["end"], p["events"]) for p in s["phases"]] == [("only", 0.0, 3.0, 2)]


def test_detection_is_measured_from_the_first_fault_of_the_phase(summary: dict[str, Any]) -> None:
    killed = phase(summary, "publisher killed")["detection"]
    assert killed == {
        "fault_t": 4.5,
        "desktop": 0.5,
        "desktop_trigger": "systeminfo",
        "desktop_agent": "1000",
        "out_of_service": 0.5,
        "out_of_service_node": "finesse-a",
    }
    cti = phase(summary, "cti side A killed")["detection"]
    assert cti["fault_t"] == 62.0  # the heal at 61 is not a fault
    assert cti["out_of_service"] == 1.0
    assert cti["out_of_service_node"] == "finesse-b"
    assert cti["desktop"] is None
    assert phase(summary, "start")["detection"]["fault_t"] is None


def test_failover_percentiles_are_exact(summary: dict[str, Any]) -> None:
    fo = phase(summary, "publisher killed")["failover"]
    assert fo == {"count": 20, "min": 3.0, "p50": 9.3, "p95": 15.6, "max": 16.3, "mean": 9.65}
    assert summary["totals"]["failover"] == fo
    assert phase(summary, "cti side A killed")["failover"]["count"] == 0
    assert phase(summary, "cti side A killed")["failover"]["p50"] is None
    assert phase(summary, "publisher killed")["failover_triggers"] == {
        "notification": 5,
        "presence": 5,
        "systeminfo": 10,
    }
    slowest = summary["totals"]["slowest_failovers"]
    assert slowest[0] == {"agent": "1017", "node": "finesse-b", "seconds": 16.3, "t": 22.0 + 16.3}
    assert [s["seconds"] for s in slowest] == [16.3, 15.6, 14.9, 14.2, 13.5]


def test_out_of_service_per_node_per_phase_and_in_total(summary: dict[str, Any]) -> None:
    assert phase(summary, "start")["out_of_service"] == {"finesse-a": 0.0, "finesse-b": 0.0}
    assert phase(summary, "publisher killed")["out_of_service"] == {"finesse-a": 55.0, "finesse-b": 0.0}
    assert phase(summary, "cti side A killed")["out_of_service"] == {"finesse-a": 5.0, "finesse-b": 1.5}
    assert summary["totals"]["out_of_service"] == {"finesse-a": 60.0, "finesse-b": 1.5}
    assert summary["node_status"]["finesse-a"] == [
        [0.1, 5.0, "IN_SERVICE"],
        [5.0, 65.0, "OUT_OF_SERVICE"],
        [65.0, 80.0, "IN_SERVICE"],
    ]
    assert summary["cti_roles"]["cti-a"] == [[0.3, 62.0, "active"], [62.0, 80.0, "down"]]
    assert summary["cti_roles"]["cti-b"] == [[0.3, 62.5, "idle"], [62.5, 80.0, "active"]]


def test_where_clients_ended_each_phase(summary: dict[str, Any]) -> None:
    assert phase(summary, "start")["ended_on"] == {"desktop": {"finesse-a": 20}, "ippa": {"finesse-a": 5}}
    assert phase(summary, "publisher killed")["ended_on"] == {
        "desktop": {"finesse-b": 20},
        "ippa": {"finesse-b": 2},
    }
    assert summary["totals"]["ended_on"] == {"desktop": {"finesse-b": 20}, "ippa": {"finesse-b": 2}}
    ippa = phase(summary, "publisher killed")["ippa"]
    assert ippa == {"went_unavailable": 5, "states_at_end": {"SIGNED_IN": 2, "SIGN_IN_SCREEN": 3}}


def test_signed_in_step_series(summary: dict[str, Any]) -> None:
    assert summary["signed_in"]["nodes"] == ["finesse-a", "finesse-b"]
    assert summary["signed_in"]["points"][0] == [0.0, 0, 0]
    assert signed_in_at(summary, 1.0) == {"finesse-a": 1, "finesse-b": 0}  # 1000 signed in at 1.0
    assert signed_in_at(summary, 4.0) == {"finesse-a": 25, "finesse-b": 0}
    # At 8: desktops 1000..1003 are failing over (none done: the fastest takes 3 s from 5 s).
    assert signed_in_at(summary, 7.9) == {"finesse-a": 22, "finesse-b": 0}
    assert signed_in_at(summary, 8.0) == {"finesse-a": 21, "finesse-b": 1}  # 1000 took 3.0 s
    assert signed_in_at(summary, 80.0) == {"finesse-a": 0, "finesse-b": 22}
    assert phase(summary, "start")["signed_in_total"] == {"min": 0, "max": 25}
    times = [p[0] for p in summary["signed_in"]["points"]]
    assert times == sorted(times)
    assert len(times) == len(set(times))  # one point per instant


def test_errors_by_source_status_and_error(summary: dict[str, Any]) -> None:
    expected = [
        {"source": "desktop", "status": 503, "error": "SERVER_OUT_OF_SERVICE", "count": 20},
        {"source": "ippa", "status": 503, "error": "SERVER_OUT_OF_SERVICE", "count": 15},
    ]
    assert phase(summary, "publisher killed")["errors"] == expected
    assert summary["totals"]["errors"] == expected
    assert phase(summary, "cti side A killed")["errors"] == []


def test_error_messages_the_desktops_showed_are_in_the_summary_and_its_table() -> None:
    shown = [
        ev(0.0, "scenario", "phase", name="both AWDBs killed"),
        *(
            ev(
                1.0 + i,
                "desktop",
                "error_shown",
                agent=f"10{i:02}",
                node="finesse-a",
                message="Invalid user ID or password",
                request="sign_in",
                status=401,
            )
            for i in range(3)
        ),
        ev(
            5.0,
            "desktop",
            "error_shown",
            agent="1020",
            node="finesse-a",
            message="Operation timed out",
            request="PUT /finesse/api/User/1020",
            status=401,
            seconds=5.0,
        ),
    ]
    s = summarize(shown)
    expected = [
        {"message": "Invalid user ID or password", "request": "sign_in", "status": 401, "count": 3},
        {
            "message": "Operation timed out",
            "request": "PUT /finesse/api/User/{id}",
            "status": 401,
            "count": 1,
        },
    ]
    assert s["totals"]["messages"] == expected
    assert phase(s, "both AWDBs killed")["messages"] == expected
    text = render_summary_table(s)
    assert "error messages shown by the desktops" in text and "Operation timed out" in text
    assert "Invalid user ID or password" in render_html(shown, s)


def test_expectations(summary: dict[str, Any]) -> None:
    assert phase(summary, "publisher killed")["expectations"] == {
        "passed": 1,
        "failed": 1,
        "failed_names": ["phones back"],
    }
    assert summary["totals"]["expectations"] == {"passed": 2, "failed": 1, "ok": False}
    assert [(e["name"], e["ok"], e["phase"]) for e in summary["expectations"]] == [
        ("desktops on finesse-b", True, "publisher killed"),
        ("phones back", False, "publisher killed"),
        ("publisher back", True, "cti side A killed"),
    ]
    # Only a JSON true passes: a string "true" is a failure, not a pass.
    s = summarize([ev(1.0, "scenario", "expectation", name="x", ok="true")])
    assert s["totals"]["expectations"] == {"passed": 0, "failed": 1, "ok": False}


def test_order_of_the_input_does_not_matter() -> None:
    events = publisher_killed()
    assert summarize(list(reversed(events))) == summarize(events)


def test_reconnecting_notification_keeps_the_agent_signed_in() -> None:
    s = summarize(
        [
            ev(1.0, "desktop", "signed_in", agent="1", node="finesse-a"),
            ev(2.0, "desktop", "state", agent="1", to="RECONNECTING_NOTIFICATION", node="finesse-a"),
            ev(3.0, "desktop", "state", agent="1", to="DISCONNECTED", node="finesse-a"),
            ev(4.0, "desktop", "state", agent="1", to="SIGNED_IN", node="finesse-b"),
            ev(5.0, "desktop", "signed_out", agent="1", node="finesse-b"),
        ]
    )
    assert s["signed_in"]["points"] == [[0.0, 0, 0], [1.0, 1, 0], [3.0, 0, 0], [4.0, 0, 1], [5.0, 0, 0]]


def test_empty_history() -> None:
    s = summarize([])
    assert [p["name"] for p in s["phases"]] == ["start"]
    assert s["totals"]["failover"]["count"] == 0
    assert s["totals"]["expectations"]["ok"] is True
    assert "run: 0.00 s" in render_summary_table(s)
    assert HtmlChecker.check(render_html([], s)).errors == []


# --- loading --------------------------------------------------------------------------------------


def test_load_history_skips_and_counts_malformed_lines(tmp_path: Path) -> None:
    good = [
        ev(0.5, "scenario", "phase", name="p"),
        ev(1.0, "desktop", "signed_in", agent="1", node="finesse-a"),
    ]
    lines = [
        json.dumps(good[0]).encode(),
        b"{not json",  # 2
        b"",  # blank: ignored, not counted
        b"[1, 2, 3]",  # 4: not an object
        json.dumps({"source": "desktop", "event": "x"}).encode(),  # 5: no t
        json.dumps({"t": True, "source": "desktop", "event": "x"}).encode(),  # 6: a bool is not a time
        b'{"t": NaN, "source": "desktop", "event": "x"}',  # 7
        json.dumps({"t": 1, "source": 3, "event": "x"}).encode(),  # 8: source not a string
        b'{"t": 1, "source": "desktop", "event": "\xff"}',  # 9: not UTF-8
        json.dumps(good[1]).encode(),
        b'{"t": 2.0, "source": "desk',  # 11: cut mid-write by a kill
    ]
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(lines))
    events = load_history(path)
    assert isinstance(events, History)
    assert [e.line for e in events] == good
    assert events.malformed_lines == [2, 4, 5, 6, 7, 8, 9, 11]
    assert events.malformed == 8
    assert summarize(events)["run"]["malformed_lines"] == 8
    assert "8 malformed lines skipped" in render_summary_table(summarize(events))


# --- text -----------------------------------------------------------------------------------------


def test_summary_table(summary: dict[str, Any]) -> None:
    text = render_summary_table(summary)
    lines = text.splitlines()
    assert lines[0].startswith("run: 80.00 s from 2026-09-21T14:13:20+00:00, ")
    assert "20 desktops, 5 IP phones" in lines[0]
    assert lines[1] == "expectations: 2 passed, 1 failed (FAILED)"
    header = next(line for line in lines if line.startswith("phase"))
    for column in (
        "detect desktop",
        "detect OOS",
        "OOS finesse-a",
        "OOS finesse-b",
        "p50",
        "p95",
        "phones on",
    ):
        assert column in header
    killed = next(line for line in lines if line.startswith("publisher killed"))
    for cell in ("kill finesse-a", "0.50 systeminfo", "0.50 finesse-a", "55.00", "9.30", "15.60", "16.30"):
        assert cell in killed
    assert "finesse-b 20" in killed
    assert "1/2" in killed
    total = next(line for line in lines if line.startswith("run total"))
    assert "60.00" in total
    assert "1.50" in total
    assert any("SERVER_OUT_OF_SERVICE" in line and line.rstrip().endswith("20") for line in lines)
    assert any("phones back" in line and "3 on the sign-in screen" in line for line in lines)
    assert "\t" not in text


# --- HTML -----------------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class HtmlChecker(HTMLParser):
    """Every non-void element closed in order, and where http(s) references appear."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()
        self.references: list[str] = []  # http(s) outside plain text: attributes, scripts, styles
        self.text: list[str] = []

    @classmethod
    def check(cls, page: str) -> HtmlChecker:
        checker = cls()
        checker.feed(page)
        checker.close()
        if checker.stack:
            checker.errors.append(f"unclosed: {checker.stack}")
        return checker

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.references += [v for _, v in attrs if v and ("http://" in v or "https://" in v)]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> while open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("script", "style"):
            if "http://" in data or "https://" in data:
                self.references.append(data)
        else:
            self.text.append(data)


def test_html_is_well_formed_and_self_contained(summary: dict[str, Any]) -> None:
    events = publisher_killed()
    events.append(ev(70.5, "desktop", "note", agent="1001", detail="see https://example.invalid/x"))
    page = render_html(events, summarize(events))
    checker = HtmlChecker.check(page)
    assert checker.errors == []
    assert checker.tags["svg"] == 1
    assert checker.tags["script"] == 1
    assert checker.tags["link"] == 0
    assert checker.tags["img"] == 0
    assert checker.references == []  # the only URL is the event's text
    assert any("https://example.invalid/x" in t for t in checker.text)
    assert page.startswith("<!DOCTYPE html>")
    for text in ("publisher killed", "kill finesse-a", "finesse-a OUT_OF_SERVICE 5.00-65.00 s", "cti-a role"):
        assert text in page
    assert "<path " in page  # the signed-in chart
    assert "Showing the first" not in page


def test_html_events_table_is_truncated_with_a_note() -> None:
    events = [ev(i / 10, "desktop", "tick", agent=str(i)) for i in range(2500)]
    page = render_html(events, summarize(events))
    table = page[page.index('id="events"') :]
    assert table.count("<tr") == 2001  # the header and 2000 events
    assert "Showing the first 2000 of 2500 events" in page
    assert HtmlChecker.check(page).errors == []


def test_html_escapes_hostile_text() -> None:
    hostile = "<script>alert(1)</script>"
    events = [
        ev(0.0, "scenario", "phase", name='"><img src=x onerror=alert(2)>'),
        ev(1.0, "desktop", "signed_in", agent=hostile, node="finesse-<b>a</b>"),
        ev(2.0, "desktop", "http_error", agent=hostile, status=503, error="<i>oops</i>", node="x"),
        ev(3.0, "scenario", "expectation", name="</td></tr></table>", ok=False, detail="&amp; <u>"),
        ev(4.0, "scenario", "fault", target="<svg onload=alert(3)>", action="kill"),
    ]
    page = render_html(events, summarize(events), title="<b>title</b>")
    checker = HtmlChecker.check(page)
    assert checker.errors == []
    assert checker.tags["script"] == 1  # ours, with no data in it
    assert checker.tags["svg"] == 1
    for tag in ("img", "b", "i", "u"):
        assert checker.tags[tag] == 0
    assert hostile not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&amp;amp; &lt;u&gt;" in page
    assert any(hostile in t for t in checker.text)  # shown as text


# --- files and command line -----------------------------------------------------------------------


def write_history(run_dir: Path, events: list[Event], extra: str = "") -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(e) + "\n" for e in events) + extra
    (run_dir / "history.jsonl").write_text(text, encoding="utf-8")


def test_write_report_writes_the_three_files(tmp_path: Path) -> None:
    events = publisher_killed()
    result = write_report(tmp_path, events)
    assert json.loads((tmp_path / "summary.json").read_text()) == result
    assert (tmp_path / "summary.txt").read_text() == render_summary_table(result)
    page = (tmp_path / "report.html").read_text()
    assert f"finesse-emu run report: {tmp_path.name}" in page
    assert HtmlChecker.check(page).errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "summary.json", "summary.txt"]


def test_main_rebuilds_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    write_history(run_dir, publisher_killed(), extra='{"t": 81, "sour')
    assert main([str(run_dir)]) == 0
    out, err = capsys.readouterr()
    assert "publisher killed" in out
    assert f"report: {run_dir / 'report.html'}" in out
    assert "skipped 1 malformed lines" in err
    assert json.loads((run_dir / "summary.json").read_text())["run"]["malformed_lines"] == 1
    assert main([str(run_dir), "--check"]) == 1  # "phones back" failed: an expectation
    write_history(run_dir, [ev(1.0, "scenario", "expectation", name="fine", ok=True)])
    assert main([str(run_dir), "--check"]) == 0


def test_main_without_a_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2  # cannot run
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


def test_a_scaled_run_is_reported_in_emulated_seconds(tmp_path: Path) -> None:
    events = [
        {"t": 0.0, "source": "scenario", "event": "start", "time_scale": 0.05},
        {"t": 1.0, "source": "scenario", "event": "phase", "name": "kill"},
        {"t": 1.0, "source": "scenario", "event": "fault", "target": "finesse-a", "action": "kill"},
        {"t": 1.5, "source": "desktop", "agent": "1", "event": "failover_detected", "trigger": "presence"},
        {
            "t": 2.5,
            "source": "desktop",
            "agent": "1",
            "event": "failover_done",
            "node": "finesse-b",
            "seconds": 1.0,
        },
    ]
    summary = write_report(tmp_path, events)
    assert summary["run"]["time_scale"] == 0.05
    assert summary["totals"]["failover"]["max"] == pytest.approx(20.0)
    assert summary["run"]["duration"] == pytest.approx(50.0)
    assert "time_scale 0.05: 2.50 s of real time" in (tmp_path / "summary.txt").read_text()
