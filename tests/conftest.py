"""Fixtures: a real Infinity emulator on a free port, a real DuckDB file, settings by env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import API_KEY, PASSWORD, USERNAME, Workspace

from emulators.infinity import InfinityEmulator
from emulators.infinity_data import generate_triggers


@pytest.fixture
def emulator() -> Iterator[InfinityEmulator]:
    server = InfinityEmulator(username=USERNAME, password=PASSWORD, api_key=API_KEY).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def workspace(
    tmp_path: Path, emulator: InfinityEmulator, monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    """Settings pointing at the emulator and a fresh warehouse, as environment variables."""
    env = {
        "SOURCES__INFINITY__BASE_URL": f"{emulator.url}/reports/v2",
        "SOURCES__INFINITY__IGRP": emulator.igrp,
        "SOURCES__INFINITY__USERNAME": USERNAME,
        "SOURCES__INFINITY__PASSWORD": PASSWORD,
        "SOURCES__INFINITY__ROUTES": '["callsGoalsTransactions"]',
        "SOURCES__INFINITY__PAGE_SIZE": "500",
        "SOURCES__INFINITY__PAGES_PER_LOAD": "4",
        "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "warehouse.duckdb"),
        "SYNC__PIPELINES_DIR": str(tmp_path / "dlt-state"),
        "SYNC__WAREHOUSE_WAIT_SECONDS": "30",
        "HTTP__MIN_RETRY_DELAY_SECONDS": "0.2",
        "HTTP__MAX_RETRY_DELAY_SECONDS": "1",
        "HTTP__TIMEOUT_SECONDS": "10",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        # The extract tests' triggers are dated up to emulators.infinity_data.DEFAULT_END, weeks
        # ago by now: their syncs would breach the freshness gate, which tests/quality covers.
        "QUALITY__MAX_HOURS_WITHOUT_TRIGGERS": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return Workspace(tmp_path, tmp_path / "warehouse.duckdb", env)


@pytest.fixture
def triggers() -> list[dict[str, str]]:
    """A realistic data set: repeat UK callers, rowId gaps, out-of-order datetimes."""
    return generate_triggers(3_000, seed=11)
