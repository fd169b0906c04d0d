"""A killed run, a second sync, a warehouse held by an analyst: the rows end up exactly right."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import duckdb
import pytest
from helpers import Workspace, trigger_requests

from emulators.infinity import InfinityEmulator
from emulators.infinity_data import generate_triggers
from emulators.server import Fault

SLOW = Fault(delay=0.25, times=10_000, path_contains="/triggers/")


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=30)


@pytest.fixture(autouse=True)
def small_pages(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')
    monkeypatch.setenv("SOURCES__INFINITY__PAGE_SIZE", "300")
    monkeypatch.setenv("SOURCES__INFINITY__PAGES_PER_LOAD", "3")
    workspace.env.update(
        SOURCES__INFINITY__ROUTES='["all"]',
        SOURCES__INFINITY__PAGE_SIZE="300",
        SOURCES__INFINITY__PAGES_PER_LOAD="3",
    )


@pytest.mark.parametrize("killed_after_requests", [2, 5, 8, 13])
def test_sigkill_mid_extraction_then_rerun_loads_exactly_the_source(
    emulator: InfinityEmulator, workspace: Workspace, killed_after_requests: int
) -> None:
    rows = generate_triggers(4_500, seed=5)
    emulator.add_triggers(rows)
    emulator.add_fault(SLOW)
    process = workspace.spawn("sync")
    try:
        _wait_for(
            lambda: len(trigger_requests(emulator)) >= killed_after_requests, "the sync to page"
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        _stop(process)
    assert process.returncode == -signal.SIGKILL
    assert workspace.count() < len(rows)
    emulator.clear_faults()

    result = workspace.run("sync")

    assert result.code == 0, result.output
    assert workspace.row_ids() == sorted(int(r["rowId"]) for r in rows)
    assert workspace.query("select count(*) = count(distinct row_id) from infinity.triggers") == [
        (True,)
    ]


# The CLI, killed the moment DuckDB has committed the first copy of trigger rows: before dlt
# records that the job is done ("copied"), so the next run re-runs it, or just after ("recorded"),
# so the next run must not.
KILLED_AFTER_COPY = """
import os, signal, sys
from dlt.common.storages.load_package import PackageStorage
from dlt.destinations.impl.duckdb import duck
from pipelines.__main__ import main

def die():
    os.kill(os.getpid(), signal.SIGKILL)

copy = duck.DuckDbCopyJob.run
record = PackageStorage.save_pending_transition

def copy_then_die(job):
    copy(job)
    if job.load_table_name == "triggers" and sys.argv[1] == "copied":
        die()

def record_then_die(storage, load_id, file_name, *args, **kwargs):
    record(storage, load_id, file_name, *args, **kwargs)
    if file_name.startswith("triggers.") and sys.argv[1] == "recorded":
        die()

duck.DuckDbCopyJob.run = copy_then_die
PackageStorage.save_pending_transition = record_then_die
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("killed", ["copied", "recorded"])
@pytest.mark.parametrize("load", ["append", "backfill merge"])
def test_sigkill_right_after_a_copy_commits_then_rerun_loads_each_row_once(
    emulator: InfinityEmulator, workspace: Workspace, load: str, killed: str
) -> None:
    rows = generate_triggers(1_500, seed=12)
    emulator.add_triggers(rows)
    args = ["sync"]
    if load == "backfill merge":
        assert workspace.run("sync").code == 0
        args = ["extract", "infinity", "--start-date", "2026-01-01", "--end-date", "2026-12-31"]
    process = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_COPY, killed, *args],
        cwd=workspace.root,
        env={**os.environ, **workspace.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == -signal.SIGKILL, process.stdout + process.stderr

    result = workspace.run("sync")

    assert result.code == 0, result.output
    assert workspace.row_ids() == sorted(int(r["rowId"]) for r in rows)
    assert workspace.query("select count(*) = count(distinct row_id) from infinity.triggers") == [
        (True,)
    ]


def test_second_sync_exits_at_once_while_one_runs(
    emulator: InfinityEmulator, workspace: Workspace
) -> None:
    emulator.add_triggers(generate_triggers(1_500, seed=6))
    emulator.add_fault(SLOW)
    first = workspace.spawn("sync")
    try:
        _wait_for(lambda: len(trigger_requests(emulator)) >= 1, "the first sync to start")

        started = time.monotonic()
        second = workspace.run("sync")

        assert time.monotonic() - started < 15, "it must not wait for the running sync"
        assert second.code == 3
        assert f"Another sync is already running (pid {first.pid}" in second.stderr
        emulator.clear_faults()
        out, err = first.communicate(timeout=120)
    finally:
        _stop(first)
    assert first.returncode == 0, out + err
    assert len(workspace.row_ids()) == 1_500


def test_held_warehouse_fails_after_the_wait_naming_the_holder(
    emulator: InfinityEmulator, workspace: Workspace
) -> None:
    emulator.add_triggers(generate_triggers(600, seed=8))
    assert workspace.run("sync").code == 0
    emulator.add_triggers(generate_triggers(10, seed=9, first_row_id=10**12))
    analyst = duckdb.connect(str(workspace.warehouse), read_only=True)
    try:
        workspace.env["SYNC__WAREHOUSE_WAIT_SECONDS"] = "1"
        process = workspace.spawn("sync")
        try:
            out, err = process.communicate(timeout=120)
        finally:
            _stop(process)
    finally:
        analyst.close()

    assert process.returncode == 3, out + err
    assert f"(PID {os.getpid()})" in out
    assert "still held after waiting 1 s" in out
    assert "SYNC__WAREHOUSE_WAIT_SECONDS" in out
    assert "Traceback" not in out + err
    assert len(workspace.row_ids()) == 600

    result = workspace.run("sync")
    assert result.code == 0, result.output
    assert len(workspace.row_ids()) == 610


def test_scheduler_output_is_log_lines_without_terminal_control(
    emulator: InfinityEmulator, workspace: Workspace
) -> None:
    emulator.add_triggers(generate_triggers(1_000, seed=10))
    process = workspace.spawn("sync")
    try:
        out, err = process.communicate(timeout=120)
    finally:
        _stop(process)

    assert process.returncode == 0, out + err
    assert "\r" not in err and "\033[" not in err
    assert "INFO infinity/all: chunk 1 loaded: triggers 900" in err
    assert out.startswith("sync finished in ")
    assert "Rows loaded: 1,000 (infinity.triggers 1,000)" in out
