"""Make docs/report.png, the README's picture of the report: the page in the tests' browser
(Debian's headless Chromium, network off), drawn 1,100 pixels wide and saved at 0.75 scale,
so the picture of the whole page stays under 200 KB.

    make demo && make demo    # two runs, so the runs chart has both
    PYTHONPATH=tests .venv/bin/python docs/screenshot.py data/demo-report.html docs/report.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from helpers.browser import render_offline


def main(page: str, picture: str) -> None:
    shown = render_offline(Path(page), Path(picture), width=1100, scale=0.75)
    if shown.console_errors or shown.chart_error or shown.requests:
        sys.exit(f"the page did not draw cleanly: {shown}")
    print(f"{picture}: {shown.drawn} charts drawn, {Path(picture).stat().st_size:,} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:])
