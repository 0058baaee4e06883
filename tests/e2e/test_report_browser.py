"""The run report as a person sees it: a real run's history (the publisher killed under a small
swarm, at time_scale 0.05) rendered to report.html and opened in headless Chromium (Debian's, by
executable path) at 1280 px.

Checked as a picture: the focused timeline of the fault window and the failover CDF are on screen,
inside the viewport's width; the span from the first fault to the last desktop back fills more than
half of the focused chart's plot; the page does not scroll sideways; the charts' screenshots are not
blank (decoded by Chromium itself: the PNG drawn on a canvas and its pixels counted). Chromium missing
fails the run, it never skips.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, FloatRect, Page, ViewportSize

from finesse_emu.runs.report.html import LEFT, RIGHT, WIDTH
from finesse_emu.runs.scenario.runner import run_scenario
from finesse_emu.runs.scenario.spec import load
from tests.integration.test_event_tunnel_browser import browser

__all__ = ["browser"]  # the fixture
pytestmark = pytest.mark.e2e
NETWORK = "127.0.79"  # this test's deployment only
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
SCENARIO = """\
name: report in a browser
deployment: {agents: 8, time_scale: 0.05}
swarm: {desktops: 8}
steps:
  - phase: sign in
  - until: {all_signed_in: true}
    timeout: 600
  - phase: publisher killed
  - fault: {action: kill, target: publisher}
  - until: {desktops_on: {finesse-b: all}}
    timeout: 600
  - expect:
      name: every desktop on the subscriber
      desktops_on: {finesse-a: 0, finesse-b: all}
"""

# Counts the pixels of a PNG (a data URL) that are not the page's white, and its distinct colours.
PIXELS = """async (url) => {
  const img = new Image();
  img.src = url;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  let inked = 0; const colours = new Set();
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240) inked++;
    colours.add((data[i] >> 4) + ',' + (data[i + 1] >> 4) + ',' + (data[i + 2] >> 4));
  }
  return {inked: inked / (img.width * img.height), colours: colours.size, width: img.width};
}"""


async def picture(page: Page, selector: str) -> dict[str, Any]:
    png = await page.locator(selector).screenshot()
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    result: dict[str, Any] = await page.evaluate(PIXELS, url)
    return result


async def box(page: Page, selector: str) -> FloatRect:
    found = await page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return found


@pytest.fixture
async def report_dir(tmp_path: Path) -> Path:
    base = tmp_path
    (base / "scenario.yaml").write_text(SCENARIO)
    ok = await run_scenario(load(base / "scenario.yaml"), base / "report", network=NETWORK, quiet=True)
    assert ok, (base / "report" / "summary.txt").read_text()
    return base / "report"


async def test_the_report_reads_at_a_glance_in_chromium(report_dir: Path, browser: Browser) -> None:
    summary = json.loads((report_dir / "summary.json").read_text())
    window = summary["fault_window"]
    assert window and window["last_recovered"] > window["first_fault"]
    assert len(summary["failover_cdf"]) == summary["totals"]["failover"]["count"] > 0
    routes = {(r["method"], r["route"]): r for r in summary["requests"]["routes"]}
    assert routes[("PUT", "/finesse/api/User/{user}")]["statuses"].get("202", 0) >= 8  # the sign-ins
    assert "REST requests per route" in (report_dir / "summary.txt").read_text()

    page = await browser.new_page(viewport=VIEWPORT)
    try:
        await page.goto((report_dir / "report.html").as_uri())
        await page.screenshot(path=str(report_dir / "report-top.png"))  # kept for a person to look at
        scroll = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll[0] <= scroll[1] <= VIEWPORT["width"], f"horizontal scroll: {scroll}"

        focused = await box(page, "#focused-timeline")
        assert focused["y"] < VIEWPORT["height"], "the fault window is not on the first screen"
        for selector in ("#focused-timeline", "#failover-cdf", "#traffic"):
            b = await box(page, selector)
            assert b["x"] >= 0 and b["x"] + b["width"] <= VIEWPORT["width"], (selector, b)
            assert b["width"] > VIEWPORT["width"] / 2 and b["height"] > 100, (selector, b)
            seen = await picture(page, selector)
            # Not blank: lanes, bands, lines and text leave ink, in several colours.
            assert seen["inked"] > 0.03 and seen["colours"] >= 4, (selector, seen)

        # The span from the first fault to the last desktop back, against the focused chart's plot.
        shaded = await box(page, "#focused-timeline .fault-window")
        plot = focused["width"] * (WIDTH - LEFT - RIGHT) / WIDTH
        assert shaded["width"] / plot > 0.5, (shaded, plot)
        assert (
            shaded["x"] >= focused["x"] and shaded["x"] + shaded["width"] <= focused["x"] + focused["width"]
        )

        # The events table opens on the faults; the others are one click away.
        first_table = await page.locator("#fault-1").text_content()
        assert first_table and "kill" in first_table
        assert not await page.locator("#other-events").evaluate("d => d.open")
    finally:
        await page.close()
