"""A real browser for the tests: Debian's headless Chromium (/usr/bin/chromium, which `make test`
installs when it is missing), driven by Playwright's Python package without any browser
download of its own.

`render_offline` opens an HTML file with the network switched off and every request other
than the file itself refused and recorded, waits for the page's own "charts drawn" mark (no
sleeps), and returns what a person would notice: what was drawn in each chart, the words in
each panel without one, console errors, requests tried, and a screenshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Long enough for a slow, shared 2-core machine; the wait ends as soon as the page says so.
DRAWN_TIMEOUT_MS = 60_000

# For every `.chart`: whether plotly drew its SVG, how many traces and data points it drew.
_CHARTS = """
() => Array.from(document.querySelectorAll('.chart')).map(div => ({
  id: div.id,
  svg: div.querySelectorAll('svg.main-svg').length,
  traces: div.querySelectorAll('g.trace').length,
  points: div.querySelectorAll('g.trace .point').length,
}))
"""
_ABSENT = """
() => Object.fromEntries(Array.from(document.querySelectorAll('[data-absent]'))
  .map(p => [p.dataset.absent, p.textContent]))
"""


@dataclass
class Chart:
    id: str
    svg: int
    traces: int
    points: int


@dataclass
class Rendered:
    charts: dict[str, Chart]
    absent: dict[str, str]  # panel -> the sentence shown instead of its chart
    drawn: str | None  # the page's own count of charts drawn
    chart_error: str | None
    console_errors: list[str]
    requests: list[str]  # every request but the file's own, refused
    text: str  # the page's visible text
    screenshot: Path


def chromium() -> Path:
    """Debian's Chromium; the test fails (never skips) without it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make chromium` (or `apt-get install chromium`) installs it",
            pytrace=False,
        )
    return CHROMIUM


def render_offline(
    page_file: Path, screenshot: Path, width: int = 1200, scale: float = 1.0
) -> Rendered:
    """Open `page_file` in headless Chromium with no network, and read what it shows; the
    screenshot is of the whole page, `width` CSS pixels wide, at `scale` image pixels each."""
    url = page_file.resolve().as_uri()
    errors: list[str] = []
    requests: list[str] = []

    def refuse(route: Route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium()))
        try:
            context = browser.new_context(
                offline=True, viewport={"width": width, "height": 900}, device_scale_factor=scale
            )
            context.route("**/*", refuse)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            page.wait_for_function(
                "() => document.body.dataset.chartsDrawn !== undefined"
                " || document.body.dataset.chartError !== undefined",
                timeout=DRAWN_TIMEOUT_MS,
            )
            charts = {c["id"]: Chart(**c) for c in page.evaluate(_CHARTS)}
            absent = page.evaluate(_ABSENT)
            drawn = page.evaluate("() => document.body.dataset.chartsDrawn ?? null")
            chart_error = page.evaluate("() => document.body.dataset.chartError ?? null")
            text = page.inner_text("body")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return Rendered(charts, absent, drawn, chart_error, errors, requests, text, screenshot)
