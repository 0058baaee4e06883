"""``run --junit``: the expectations as JUnit XML, read back as a CI system reads it (xml.etree):
one suite per scenario, one testcase per expectation, a failure saying what was expected and seen,
an error for a scenario that could not run, the totals on the root."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from finesse_emu.runs.scenario.context import Outcome
from finesse_emu.runs.scenario.junit import ScenarioResult, write_junit
from finesse_emu.runs.scenario.steps import _shown


def test_junit_has_one_testcase_per_expectation(tmp_path: Path) -> None:
    ok = ScenarioResult(
        "publisher killed",
        "publisher-killed",
        seconds=12.5,
        outcomes=[
            Outcome("agents split evenly: desktops_on", True, "{'finesse-a': 20}", "{finesse-a: 20}", 3),
            Outcome("every call: call_invariants", True, "no violation", "true", 9),
        ],
        report=tmp_path / "r1",
    )
    bad = ScenarioResult(
        "impossible",
        "impossible",
        outcomes=[
            Outcome(
                "too many: desktops_on",
                False,
                "finesse-a: 2 desktops signed in, want 99",
                "{finesse-a: 99}",
                2,
            )
        ],
    )
    broken = ScenarioResult("broken", "broken", error="step 2 (fault): cti-a is already down")
    out = tmp_path / "ci" / "junit.xml"
    write_junit(out, [ok, bad, broken])
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["publisher killed", "impossible", "broken"]
    assert suites[0].get("time") == "12.500" and suites[0].get("failures") == "0"
    assert suites[0][0].tag == "properties"  # before the testcases
    cases = suites[0].findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("publisher-killed", "agents split evenly: desktops_on"),
        ("publisher-killed", "every call: call_invariants"),
    ]
    assert all(c.find("failure") is None for c in cases)
    failure = suites[1].find("testcase/failure")
    assert failure is not None
    assert failure.get("message") == (
        "expected {finesse-a: 99}; seen finesse-a: 2 desktops signed in, want 99"
    )
    assert failure.text is not None and failure.text.startswith("step 2: too many: desktops_on")
    error = suites[2].find("testcase/error")
    assert error is not None and error.get("message") == "step 2 (fault): cti-a is already down"


def test_a_check_argument_is_shown_as_the_file_wrote_it() -> None:
    assert _shown({"finesse-a": 0, "finesse-b": "all"}) == "{finesse-a: 0, finesse-b: all}"
    assert _shown({"count": 20, "max": 60.0}) == "{count: 20, max: 60}"
    assert _shown(True) == "true" and _shown(["a", 1.5]) == "[a, 1.5]"
