"""The run history: every run's row in `ops.runs`, exactly once, also for runs that failed, lost
the lock, found the warehouse held or were killed between runs.jsonl and the warehouse; and
`status` showing it. Real emulators of all five APIs, a real DuckDB file, the real CLI.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import Workspace

from emulators.footprints import FootprintsEmulator
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator
from emulators.scenario import Scenario
from pipelines.runtime.lock import sync_lock

SCENARIO = Scenario(runs=(datetime.now(UTC),), triggers=400, leads=120, days=20)


class World(Workspace):
    """A workspace whose settings point at emulators of every source and target."""

    infinity: InfinityEmulator

    def runs(self) -> list[dict[str, Any]]:
        """The rows of ops.runs, oldest first."""
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            cursor = con.execute("select * from ops.runs order by started_at")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def lines(self) -> list[dict[str, Any]]:
        """The runs of runs.jsonl, oldest first."""
        path = self.root / "dlt-state" / "runs.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with (
        InfinityEmulator() as infinity,
        FootprintsEmulator() as crm,
        QubitEmulator() as qubit,
        OwoxEmulator() as owox,
        GameballEmulator() as gameball,
    ):
        SCENARIO.serve(infinity, crm)
        env = {
            "SOURCES__INFINITY__BASE_URL": f"{infinity.url}/reports/v2",
            "SOURCES__INFINITY__IGRP": infinity.igrp,
            "SOURCES__INFINITY__USERNAME": infinity.username,
            "SOURCES__INFINITY__PASSWORD": infinity.password,
            "SOURCES__FOOTPRINTS__BASE_URL": crm.url,
            "SOURCES__FOOTPRINTS__CLIENT_KEY": crm.client_key,
            "SOURCES__FOOTPRINTS__CLIENT_SECRET": crm.client_secret,
            "SOURCES__FOOTPRINTS__START_DATE": str(SCENARIO.first_day),
            "MODELS__CURRENCY": "RON",
            "DESTINATION__QUBIT__BASE_URL": qubit.url,
            "DESTINATION__QUBIT__TRACKING_ID": qubit.tracking_id,
            "DESTINATION__OWOX__ENDPOINT": owox.url,
            "DESTINATION__OWOX__TID": owox.tid,
            "DESTINATION__GAMEBALL__BASE_URL": gameball.base_url,
            "DESTINATION__GAMEBALL__API_KEY": gameball.api_key,
            "DESTINATION__GAMEBALL__MAX_REQUESTS_PER_SECOND": "1000",
            "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "warehouse.duckdb"),
            "SYNC__PIPELINES_DIR": str(tmp_path / "dlt-state"),
            "SYNC__WAREHOUSE_WAIT_SECONDS": "30",
            "HTTP__MIN_RETRY_DELAY_SECONDS": "0.05",
            "HTTP__MAX_RETRY_DELAY_SECONDS": "0.1",
            "HTTP__MAX_ATTEMPTS": "2",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        world = World(tmp_path, tmp_path / "warehouse.duckdb", env)
        world.infinity = infinity
        yield world


def test_history_has_a_row_for_each_sync_extract_models_and_push(world: World) -> None:
    commands = [("sync",), ("extract", "infinity"), ("models",), ("push",)]
    for command in commands:
        result = world.run(*command)
        assert result.code == 0, result.output

    runs = world.runs()
    assert [run["command"] for run in runs] == ["sync", "extract infinity", "models", "push"]
    assert [run["run_id"] for run in runs] == [line["run_id"] for line in world.lines()]
    assert all(run["status"] == "ok" and run["error"] is None for run in runs)
    sync, extract, models, push = runs
    loaded = json.loads(sync["rows"])
    assert loaded["infinity.triggers"] == world.count("infinity.triggers")
    assert loaded["footprints.leads"] == world.count("footprints.leads")
    assert sync["rejected"] == loaded["infinity.rejected"] == 1  # the scenario's broken line
    assert json.loads(sync["cursors_before"]) == {}
    (cursor,) = json.loads(sync["cursors_after"]).values()
    assert cursor == world.query("select max(row_id) from infinity.triggers")[0][0]
    assert json.loads(extract["cursors_before"]) == json.loads(sync["cursors_after"])
    assert json.loads(extract["rows"]) == {}
    assert (sync["model_mode"], models["model_mode"]) == ("full", "incremental")
    assert push["model_mode"] is None
    qubit_sent = world.query(
        "select count(*) from outbound.deliveries where target = 'qubit' and status = 'sent'"
    )
    assert json.loads(sync["push"])["qubit"]["sent"] == qubit_sent[0][0] > 0
    assert json.loads(push["push"])["qubit"]["sent_before"] == qubit_sent[0][0]
    assert json.loads(push["notes"])[-1].startswith("Push: qubit: 0 sent")
    assert all(run["host"] == socket.gethostname() for run in runs)
    assert all(run["started_at"] <= run["finished_at"] <= run["recorded_at"] for run in runs)

    status = world.run("status")
    assert status.code == 0, status.output
    assert "runs: 4 in ops.runs, the latest:" in status.stdout
    latest = status.stdout.split("runs: 4 in ops.runs, the latest:\n")[1].splitlines()
    assert [line.split("Z ", 1)[1].split(":")[0] for line in latest] == [
        "push",
        "models",
        "extract infinity",
        "sync",
    ]
    assert latest[-1].endswith(f", {sum(loaded.values()) - 1:,} rows (1 rejected)")


def test_history_failed_run_has_its_row_with_the_error(world: World) -> None:
    world.infinity.stop()  # Infinity is down; Footprints still loads

    result = world.run("sync")

    assert result.code == 1, result.output
    (run,) = world.runs()
    assert (run["command"], run["status"], run["error_kind"]) == ("sync", "failed", "failed")
    assert run["error"] and f" s: {run['error']} Rows loaded: " in result.stdout  # as printed
    assert json.loads(run["rows"])["footprints.leads"] == world.count("footprints.leads") > 0
    status = world.run("status").stdout
    assert f"sync: failed in {run['seconds']:.1f} s" in status


def test_history_run_kept_from_a_held_warehouse_is_written_by_the_next_run_once(
    world: World,
) -> None:
    assert world.run("extract", "infinity").code == 0
    analyst = duckdb.connect(str(world.warehouse), read_only=True)
    try:
        world.env["SYNC__WAREHOUSE_WAIT_SECONDS"] = "1"
        held = world.spawn("extract", "infinity")
        try:
            out, err = held.communicate(timeout=120)
        finally:
            held.kill()
            held.wait()
    finally:
        analyst.close()
    assert held.returncode == 3, out + err
    assert "still held after waiting 1 s" in out
    first, held_line = world.lines()
    assert (held_line["status"], held_line["error_kind"]) == ("busy", "busy")
    assert [run["run_id"] for run in world.runs()] == [first["run_id"]]
    status = world.run("status").stdout
    assert "1 more in runs.jsonl only, written to ops.runs by the next run" in status
    assert "extract infinity: busy" in status

    for _ in range(2):
        assert world.run("extract", "infinity").code == 0

    lines = world.lines()
    assert [run["run_id"] for run in world.runs()] == [line["run_id"] for line in lines]
    assert [run["status"] for run in world.runs()] == ["ok", "busy", "ok", "ok"]
    assert "runs.jsonl only" not in world.run("status").stdout


def test_history_run_that_lost_the_lock_is_recorded_as_busy(world: World) -> None:
    with sync_lock():  # another sync is running
        busy = world.run("push")
    assert busy.code == 3, busy.output
    (line,) = world.lines()
    assert (line["command"], line["status"], line["error_kind"]) == ("push", "busy", "busy")
    assert "Another sync is already running" in line["error"]
    assert not world.warehouse.exists(), "a run without the lock must not touch the warehouse"

    assert world.run("extract", "infinity").code == 0

    runs = world.runs()
    assert [(run["command"], run["status"]) for run in runs] == [
        ("push", "busy"),
        ("extract infinity", "ok"),
    ]
    assert runs[0]["run_id"] == line["run_id"]


# The CLI, killed while it records its run: after runs.jsonl has the line and before the
# warehouse write ("before"), or after the warehouse write and before the checkpoint moves
# past the line ("after"), so the next run writes it again.
KILLED_RECORDING = """
import os, signal, sys
from pipelines.runtime import history
from pipelines.__main__ import main

write = history._write

def write_then_die(db, runs):
    if sys.argv[1] == "after":
        write(db, runs)
    os.kill(os.getpid(), signal.SIGKILL)

history._write = write_then_die
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("killed", ["before", "after"])
def test_history_run_killed_while_recording_is_in_ops_runs_once_after_the_next(
    world: World, killed: str
) -> None:
    assert world.run("extract", "infinity").code == 0
    process = subprocess.run(
        [sys.executable, "-c", KILLED_RECORDING, killed, "extract", "infinity"],
        cwd=world.root,
        env={**os.environ, **world.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == -signal.SIGKILL, process.stdout + process.stderr
    first, killed_line = world.lines()
    in_warehouse = [run["run_id"] for run in world.runs()]
    assert in_warehouse == (
        [first["run_id"], killed_line["run_id"]] if killed == "after" else [first["run_id"]]
    )

    assert world.run("extract", "infinity").code == 0

    assert [run["run_id"] for run in world.runs()] == [line["run_id"] for line in world.lines()]
    assert len(world.runs()) == 3


def test_history_older_lines_and_a_rotated_runs_jsonl_are_written_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Lines of versions before run ids reach ops.runs with the next run, once, past a line
    broken by hand; a runs.jsonl truncated by log rotation (copytruncate) loses nothing."""
    folder = world.root / "dlt-state"
    folder.mkdir()
    older = [
        {"command": "sync", "started_at": "2026-01-05T10:00:00+00:00", "seconds": 12.5,
         "status": "ok", "rows": {"infinity.triggers": 10}, "repaired": 0, "cursors": {},
         "notes": [], "error": None},
        {"command": "sync", "started_at": "2026-01-05T10:15:00+00:00", "seconds": 1.0,
         "rows": {}, "repaired": 0, "cursors": {}, "error": "Infinity answered 500"},
    ]  # fmt: skip
    broken = ['{"command": "sync", "started_at": "2026-01-05T10:3', '{"rows": [1], "seconds": "x"}']
    lines = [json.dumps(older[0]), broken[0], broken[1], json.dumps(older[1])]
    (folder / "runs.jsonl").write_text("".join(line + "\n" for line in lines))

    assert world.run("extract", "infinity").code == 0
    assert world.run("extract", "infinity").code == 0

    runs = world.runs()
    assert [(run["command"], run["status"], run["seconds"]) for run in runs[:2]] == [
        ("sync", "ok", 12.5),
        ("sync", "failed", 1.0),
    ]
    assert runs[1]["error"] == "Infinity answered 500"
    assert "run history: an unreadable line in " in caplog.text
    # The line with the wrong types is kept as far as it can be read.
    (odd,) = [run for run in runs if run["command"] is None]
    assert (odd["rows"], odd["seconds"], odd["status"]) == ("{}", None, "ok")
    assert len(runs) == len({run["run_id"] for run in runs}) == 5

    with open(folder / "runs.jsonl", "r+") as handle:
        handle.truncate(0)
    assert world.run("extract", "infinity").code == 0

    assert len(world.runs()) == len({run["run_id"] for run in world.runs()}) == 6
    (line,) = world.lines()  # the only line since the truncation
    assert line["run_id"] in {run["run_id"] for run in world.runs()}


def test_status_lists_runs_of_runs_jsonl_before_the_warehouse_has_any(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first run with a broken setting reaches no warehouse; status shows it from the file."""
    monkeypatch.setenv("SOURCES__INFINITY__PAGE_SIZE", "many")
    assert workspace.run("extract", "infinity").code == 2

    status = workspace.run("status")

    assert status.code == 0, status.output
    assert f"No warehouse at {workspace.warehouse} yet" in status.stdout
    assert "runs: none in ops.runs yet; the latest in " in status.stdout
    assert (
        "extract infinity: failed" in status.stdout
        and "Setting sources.infinity.page_size [SOURCES__INFINITY__PAGE_SIZE] must be a whole "
        "number, got 'many'"
        in status.stdout
    )
