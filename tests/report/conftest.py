"""Fixtures of the report's tests: the demo's warehouse after two `make demo` runs, built once.

The second demo run is the incremental one, so the runs chart has two runs to show.
`full_demo` is a copy with the four tables other branches of issue 15 build added from the
real ones where they are missing (tests/helpers/report_tables.py), so every panel has a chart.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.report_demo import Demo, run_demo
from helpers.report_tables import add_missing_report_tables


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return run_demo(tmp_path_factory.mktemp("demo"), runs=2)


@pytest.fixture(scope="session")
def full_demo(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo's warehouse with every table the report reads."""
    copy = tmp_path_factory.mktemp("full") / "demo.duckdb"
    shutil.copyfile(demo.warehouse, copy)
    add_missing_report_tables(copy, demo.runs_log)
    return copy
