"""The cache guidelines' effect on a deployment of real processes: the expectations of
bypass-server-cache.yaml and no-preload-secondary.yaml fail on the same failover with a default
desktop (they measure the effect, not the run), and browsers that defeat their cache (Firefox race
cache with network, the cache cleared at every launch) cost the node full fetches where a default
browser revalidates."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from finesse_emu.runs.scenario.runner import run_scenario
from finesse_emu.runs.scenario.spec import load

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def expectations(report: Path) -> dict[str, dict[str, Any]]:
    summary = json.loads((report / "summary.json").read_text())
    return {e["name"]: e for e in summary["expectations"]}


def megabytes(detail: str) -> float:
    found = re.search(r"([0-9.]+) MB in this phase", detail)
    assert found, detail
    return float(found.group(1))


async def test_a_default_desktop_fails_the_cache_scenarios_expectations(tmp_path: Path) -> None:
    """The same failover as bypass-server-cache.yaml with desktops that keep their cache and preload
    (the node's default): the subscriber serves well under the 3 MB those scenarios expect and
    renders no gadget spec, while every desktop still fails over."""
    bypass = load(ROOT / "finesse_emu" / "scenarios" / "bypass-server-cache.yaml")
    default = dataclasses.replace(bypass, swarm={"desktops": 20, "gadgets": 6}, node_options={})
    ok = await run_scenario(default, tmp_path / "report", network="127.0.46", quiet=True)
    seen = expectations(tmp_path / "report")
    assert not ok
    assert seen["every desktop on the subscriber: desktops_on"]["ok"]
    load_check = seen["every gadget and resource in full, every gadget spec rendered again: node_load"]
    renders = seen["every gadget and resource in full, every gadget spec rendered again: node_counter"]
    assert not load_check["ok"] and megabytes(load_check["detail"]) < 2.5, load_check
    assert not renders["ok"] and renders["detail"].startswith("0 content_renders"), renders
    preload = load(ROOT / "finesse_emu" / "scenarios" / "no-preload-secondary.yaml")
    assert {"node_load": {"node": "finesse-b", "megabytes": {"min": 3.0}}} in [
        s.args["checks"] for s in preload.steps if s.kind == "expect"
    ]  # the same bound, which the default failed above


BROWSERS = """\
name: browsers reloading
deployment: {{agents: 8, time_scale: 0.05}}
swarm: {{desktops: 8, gadgets: 6{options}}}
steps:
  - until: {{all_signed_in: true}}
    timeout: 600
  - wait: 5
  - phase: reloads
  - clients: {{action: {action}, count: 4, node: finesse-a}}
{reopen}  - until: {{desktops_on: {{finesse-a: 4, finesse-b: 4}}}}
    timeout: 600
  - wait: 5
  - expect:
      name: reloads
      node_load: {{node: finesse-a}}
"""


@pytest.mark.parametrize(
    ("options", "action"),
    [
        ("", "refresh"),
        (", rcwn: 1.0", "refresh"),
        ("", "close"),
        (", clear_cache_on_launch: true", "close"),
    ],
    ids=["refresh", "refresh-rcwn", "relaunch", "relaunch-cache-cleared"],
)
async def test_browsers_that_defeat_their_cache_fetch_in_full(
    options: str, action: str, tmp_path: Path
) -> None:
    """Four desktops reload (a refresh, or the browser closed and launched again): a default
    browser revalidates its ten gadgets and resources (304s), one with Race Cache With Network
    or a cache cleared at launch fetches them in full (4 x 384 kB)."""
    reopen = "  - wait: 5\n  - clients: {action: open, count: 4}\n" if action == "close" else ""
    path = tmp_path / "browsers.yaml"
    path.write_text(BROWSERS.format(options=options, action=action, reopen=reopen))
    ok = await run_scenario(load(path), tmp_path / "report", network="127.0.47", quiet=True)
    detail = expectations(tmp_path / "report")["reloads: node_load"]["detail"]
    assert ok, detail
    served = megabytes(detail)
    if options:
        assert served > 1.2, detail  # ten in full for each of the four
    else:
        assert served < 0.5, detail  # revalidated
