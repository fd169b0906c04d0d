"""Fixtures of the report's tests: the demo's warehouse after two `make demo` runs, built once.

The second demo run is the incremental one, so the runs chart has two runs to show.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.report_demo import Demo, run_demo


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return run_demo(tmp_path_factory.mktemp("demo"), runs=2)


@pytest.fixture(scope="session")
def full_demo(demo: Demo) -> Path:
    """The demo's warehouse: every table the report reads, built by the real flow."""
    return demo.warehouse
