"""``finesse-emu run --junit FILE``: the scenarios' expectations as JUnit XML, the format CI systems
read (GitLab, Jenkins, GitHub actions' test reporters): one ``testsuite`` per scenario, one
``testcase`` per expectation or invariant check, a ``failure`` saying what was expected and what
was seen, an ``error`` for a scenario that could not run."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from finesse_emu.runs.scenario.context import Outcome


@dataclass
class ScenarioResult:
    name: str  # the scenario's name
    slug: str  # its file's stem: the testcases' class name
    seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None  # it could not run (or stopped on a step): why
    report: Path | None = None


def failure_message(outcome: Outcome) -> str:
    seen = outcome.detail or "-"
    return f"expected {outcome.expected}; seen {seen}" if outcome.expected else f"seen {seen}"


def junit_xml(results: list[ScenarioResult]) -> bytes:
    root = ET.Element("testsuites", name="finesse-emu run")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=r.name, timestamp=stamp, time=f"{r.seconds:.3f}")
        if r.report is not None:  # before the testcases, as the JUnit schema orders them
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", name="report", value=str(r.report / "report.html"))
        failures = errors = 0
        for o in r.outcomes:
            case = ET.SubElement(suite, "testcase", classname=r.slug, name=o.name, time="0")
            if not o.ok:
                failures += 1
                where = f"step {o.step}: " if o.step else ""
                fail = ET.SubElement(case, "failure", message=failure_message(o), type="expectation")
                fail.text = f"{where}{o.name}\nexpected: {o.expected or '-'}\nseen: {o.detail or '-'}"
        if r.error is not None:
            errors += 1
            case = ET.SubElement(suite, "testcase", classname=r.slug, name="run", time=f"{r.seconds:.3f}")
            ET.SubElement(case, "error", message=r.error, type="ScenarioError").text = r.error
        tests = len(r.outcomes) + (r.error is not None)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        totals["tests"] += tests
        totals["failures"] += failures
        totals["errors"] += errors
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write_junit(path: Path, results: list[ScenarioResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(results))
