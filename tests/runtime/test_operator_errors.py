"""An operator breaks the environment on purpose; every command answers in one sentence.

Each case runs the real CLI as its own process against the emulators: a warehouse setting on
a text or SQLite file, a damaged warehouse, one from a newer DuckDB, a read-only or blocked
folder, a disk that fills during a load, a source nobody answers for. Each command must exit
with the case's code and sentence, print no traceback (the debug log it names holds it),
change nothing it cannot use, and the sync after the fix must hold exactly the source's rows.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from helpers import CliResult, Workspace, cli_pythonpath, source_row_ids
from helpers.breakage import (
    debug_log,
    fill,
    refusing_port,
    remount,
    run_cli,
    set_storage_version,
    tmpfs,
)

from emulators.infinity import InfinityEmulator
from emulators.infinity_data import generate_triggers
from emulators.server import Fault
from pipelines.push.delivery import failure_of_error
from pipelines.runtime.http import RetryPolicy, Unreachable, retrying_session

COUNT_SQL = "select count(*) as triggers from infinity.triggers"
COMMANDS = [
    ("sync",),
    ("extract", "infinity"),
    ("models",),
    ("push",),
    ("status",),
    ("query", COUNT_SQL),
]
# `status` and `query` only read: with a folder the next sync cannot write, they still
# answer, then say what the sync would meet.
READS = ("status", "query")
WAREHOUSE, STORAGE = 5, 6
CREDENTIALS = "DESTINATION__DUCKDB__CREDENTIALS"


def assert_refused(result: CliResult, code: int, sentence: str, in_log: str) -> None:
    """The exit code and sentence, no traceback in the output, and one in the debug log."""
    assert result.code == code, result.output
    assert sentence in result.output
    assert "Traceback" not in result.output
    details = debug_log(result)
    assert "Traceback (most recent call last):" in details
    assert in_log in details


def assert_every_command_refused(
    workspace: Workspace, code: int, sentence: str, in_log: str, **env: str
) -> None:
    for args in COMMANDS:
        assert_refused(run_cli(workspace, *args, **env), code, sentence, in_log)


def assert_reads_answer_then_warn(workspace: Workspace, sentence: str, rows: int) -> None:
    """`status` and `query` show what is there, then exit 6 with the storage sentence."""
    status = run_cli(workspace, "status")
    assert status.code == STORAGE, status.output
    assert f"infinity.triggers: {rows:,} rows" in status.stdout
    query = run_cli(workspace, "query", COUNT_SQL)
    assert query.code == STORAGE, query.output
    assert f"│ {rows:>8} │" in query.stdout
    for result in (status, query):
        assert sentence in result.stderr
        assert "Traceback" not in result.output


def synced(emulator: InfinityEmulator, workspace: Workspace, rows: int, seed: int) -> int:
    """Serve `rows` more triggers and sync them; the warehouse's row count after."""
    first = 10**11 * seed
    emulator.add_triggers(generate_triggers(rows, seed=seed, first_row_id=first))
    result = run_cli(workspace, "sync")
    assert result.code == 0, result.output
    assert workspace.row_ids() == source_row_ids(emulator)
    return len(workspace.row_ids())


def foreign_file(path: Path, kind: str) -> str:
    """Write a file that is not DuckDB; what the sentence calls it."""
    if kind == "text":
        path.write_text("call list for Monday\n07700 900123, 07700 900456\n", encoding="utf-8")
        return "it holds text"
    with sqlite3.connect(path) as con:
        con.execute("create table calls (phone text)")
        con.execute("insert into calls values ('+447700900123')")
    return "it is a SQLite database"


@pytest.mark.parametrize("kind", ["text", "sqlite"])
def test_warehouse_on_a_foreign_file_refuses_every_command_and_leaves_it_as_it_is(
    emulator: InfinityEmulator, workspace: Workspace, tmp_path: Path, kind: str
) -> None:
    synced(emulator, workspace, 600, seed=1)
    foreign = tmp_path / ("notes.txt" if kind == "text" else "crm.sqlite")
    what = foreign_file(foreign, kind)
    before = foreign.read_bytes()

    assert_every_command_refused(
        workspace,
        WAREHOUSE,
        f"The warehouse {foreign} is not a DuckDB database ({what}): set "
        f"destination.duckdb.credentials [{CREDENTIALS}] to the warehouse's file",
        "WarehouseUnusable",
        **{CREDENTIALS: str(foreign)},
    )

    assert foreign.read_bytes() == before
    synced(emulator, workspace, 200, seed=2)


def test_damaged_warehouse_refuses_every_command_and_a_restored_backup_resumes(
    emulator: InfinityEmulator, workspace: Workspace, tmp_path: Path
) -> None:
    synced(emulator, workspace, 600, seed=3)
    backup = tmp_path / "backup.duckdb"
    shutil.copy(workspace.warehouse, backup)
    damaged = bytearray(workspace.warehouse.read_bytes())
    damaged[4096 + 64 : 8192 + 64] = b"\xa5" * 4096  # both database headers
    workspace.warehouse.write_bytes(bytes(damaged))

    assert_every_command_refused(
        workspace,
        WAREHOUSE,
        f"The warehouse {workspace.warehouse} is damaged (DuckDB: Corrupt database file",
        "Corrupt database file",
    )

    assert workspace.warehouse.read_bytes() == bytes(damaged)
    shutil.copy(backup, workspace.warehouse)
    synced(emulator, workspace, 200, seed=4)


def test_warehouse_from_a_newer_duckdb_refuses_every_command_and_is_left_as_it_is(
    emulator: InfinityEmulator, workspace: Workspace, tmp_path: Path
) -> None:
    synced(emulator, workspace, 600, seed=5)
    backup = tmp_path / "backup.duckdb"
    shutil.copy(workspace.warehouse, backup)
    set_storage_version(workspace.warehouse, 10_000)
    with pytest.raises(duckdb.IOException, match="created with a newer version of DuckDB"):
        duckdb.connect(str(workspace.warehouse), read_only=True)
    newer = workspace.warehouse.read_bytes()

    assert_every_command_refused(
        workspace,
        WAREHOUSE,
        f"The warehouse {workspace.warehouse} was written by a newer DuckDB (storage version "
        f"10000; duckdb {duckdb.__version__} here reads storage versions",
        "created with a newer version of DuckDB",
    )

    assert workspace.warehouse.read_bytes() == newer
    shutil.copy(backup, workspace.warehouse)
    synced(emulator, workspace, 200, seed=6)


@pytest.mark.parametrize("folder", ["pipelines", "warehouse"])
def test_read_only_folder_refuses_every_run_and_the_rerun_once_writable_resumes(
    emulator: InfinityEmulator, workspace: Workspace, tmp_path: Path, folder: str
) -> None:
    with tmpfs(tmp_path / "mnt", "64m") as mount:
        if folder == "pipelines":
            workspace.env["SYNC__PIPELINES_DIR"] = str(mount)
            sentence = f"The pipelines folder {mount} cannot be written (Read-only file system)"
        else:
            workspace.warehouse = mount / "warehouse.duckdb"
            workspace.env[CREDENTIALS] = str(workspace.warehouse)
            sentence = f"The warehouse folder {mount} cannot be written (Read-only file system)"
        rows = synced(emulator, workspace, 600, seed=7)
        remount(mount, "ro")

        for args in COMMANDS:
            if args[0] not in READS:
                assert_refused(
                    run_cli(workspace, *args), STORAGE, sentence, "Read-only file system"
                )
        assert_reads_answer_then_warn(workspace, sentence, rows)

        remount(mount, "rw")
        synced(emulator, workspace, 200, seed=8)


@pytest.mark.parametrize("folder", ["pipelines", "warehouse"])
def test_folder_blocked_by_a_file_refuses_every_command_and_the_rerun_resumes(
    emulator: InfinityEmulator, workspace: Workspace, tmp_path: Path, folder: str
) -> None:
    rows = synced(emulator, workspace, 600, seed=9)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder\n", encoding="utf-8")
    if folder == "pipelines":
        blocked, raised = blocker / "pipelines", "NotADirectoryError"
        env = {"SYNC__PIPELINES_DIR": str(blocked)}
    else:  # found before the run starts, by its check of both folders
        blocked, raised = blocker, "StorageError"
        env = {CREDENTIALS: str(blocker / "warehouse.duckdb")}
    sentence = (
        f"The {folder} folder {blocked} cannot be created: {blocker} is a file, not a folder. "
        "Move that file"
    )

    for args in COMMANDS:
        result = run_cli(workspace, *args, **env)
        if folder == "pipelines" and args == ("query", COUNT_SQL):
            assert f"│ {rows:>8} │" in result.stdout  # the warehouse can still be read
        if args[0] in READS and not (folder == "pipelines" and args[0] == "status"):
            assert result.code == STORAGE, result.output
            assert sentence in result.stderr and "Traceback" not in result.output
        else:
            assert_refused(result, STORAGE, sentence, raised)

    assert blocker.read_text(encoding="utf-8") == "not a folder\n"
    blocker.unlink()
    workspace.env.update(env)
    workspace.warehouse = Path(workspace.env[CREDENTIALS])
    synced(emulator, workspace, 200, seed=10)


@pytest.mark.parametrize(("folder", "size"), [("warehouse", "4m"), ("pipelines", "2m")])
def test_disk_full_during_a_load_is_named_and_the_rerun_after_freeing_space_loads_exactly(
    emulator: InfinityEmulator, workspace: Workspace, tmp_path: Path, folder: str, size: str
) -> None:
    workspace.env["SOURCES__INFINITY__PAGE_SIZE"] = "1000"
    workspace.env["SOURCES__INFINITY__PAGES_PER_LOAD"] = "8"
    with tmpfs(tmp_path / "small", size) as small:
        if folder == "pipelines":
            workspace.env["SYNC__PIPELINES_DIR"] = str(small)
        else:
            workspace.warehouse = small / "warehouse.duckdb"
            workspace.env[CREDENTIALS] = str(workspace.warehouse)
        before = synced(emulator, workspace, 600, seed=11)
        # A chunk of 8,000 of these takes about 3 MB in the warehouse (600 took about 1 MB),
        # and more than the 1.1 MB left free in the pipelines folder in dlt's load package.
        emulator.add_triggers(generate_triggers(13_000, seed=12, first_row_id=12 * 10**11))
        if folder == "pipelines":
            fill(small, leave=1_100_000)
        full = f"The disk holding the {folder} folder {small} is full ("

        loading = run_cli(workspace, "sync")

        assert_refused(loading, STORAGE, full, "No space left on device")
        assert "No space left on device" in loading.stdout
        assert "the next run resumes" in loading.stdout
        loaded = workspace.count()
        assert loaded >= before
        fill(small)
        # The run's check of both folders finds it, or, in the pipelines folder, the lock.
        raised = "StorageError" if folder == "warehouse" else "No space left on device"
        for args in COMMANDS:
            if args[0] not in READS:
                assert_refused(run_cli(workspace, *args), STORAGE, full, raised)
        assert_reads_answer_then_warn(workspace, full, loaded)

        for filler in small.glob("filler-*"):
            filler.unlink()
        remount(small, "size=64m")
        synced(emulator, workspace, 500, seed=13)


def test_unreachable_infinity_names_the_source_host_and_attempts_then_the_rerun_loads(
    emulator: InfinityEmulator, workspace: Workspace
) -> None:
    emulator.add_triggers(generate_triggers(600, seed=13))
    with refusing_port() as port:
        result = run_cli(
            workspace,
            "sync",
            SOURCES__INFINITY__BASE_URL=f"http://127.0.0.1:{port}/reports/v2",
            HTTP__MAX_ATTEMPTS="4",
        )

    assert_refused(
        result,
        1,
        f"infinity: cannot reach 127.0.0.1:{port} (connection refused) after 4 attempts over ",
        "ConnectionRefusedError",
    )
    assert "/triggers/callsGoalsTransactions." in result.stdout
    synced(emulator, workspace, 100, seed=14)


@pytest.mark.parametrize(
    ("fault", "reason", "raised"),
    [
        (
            Fault(drop_connection=True, times=1_000),
            "connection closed without an answer",
            "RemoteDisconnected",
        ),
        (Fault(delay=3, times=1_000), "no answer within 0.5 s", "ReadTimeout"),
    ],
    ids=["dropped", "too-slow"],
)
def test_infinity_not_answering_is_named_with_the_reason_and_attempts(
    emulator: InfinityEmulator, workspace: Workspace, fault: Fault, reason: str, raised: str
) -> None:
    emulator.add_triggers(generate_triggers(600, seed=15))
    fault.path_contains = "/triggers/"
    emulator.add_fault(fault)

    result = run_cli(
        workspace, "extract", "infinity", HTTP__MAX_ATTEMPTS="2", HTTP__TIMEOUT_SECONDS="0.5"
    )

    host = emulator.url.removeprefix("http://")
    assert_refused(
        result, 1, f"infinity: no answer from {host} ({reason}) after 2 attempts over ", raised
    )
    emulator.clear_faults()
    synced(emulator, workspace, 100, seed=16)


def test_infinity_failing_every_attempt_is_named_with_its_host_and_attempts(
    emulator: InfinityEmulator, workspace: Workspace
) -> None:
    emulator.add_triggers(generate_triggers(600, seed=17))
    emulator.add_fault(Fault(status=503, times=1_000, path_contains="/triggers/"))

    result = run_cli(workspace, "extract", "infinity", HTTP__MAX_ATTEMPTS="3")

    host = emulator.url.removeprefix("http://")
    assert result.code == 1, result.output
    assert "Infinity answered HTTP 503 for /reports/v2/igrps/" in result.stdout
    assert f"from {host} after 3 attempts over " in result.stdout
    assert "Traceback" not in result.output
    emulator.clear_faults()
    synced(emulator, workspace, 100, seed=18)


def test_unreachable_footprints_names_the_source_host_and_attempts(
    workspace: Workspace,
) -> None:
    with refusing_port() as port:
        result = run_cli(
            workspace,
            "extract",
            "footprints",
            SOURCES__FOOTPRINTS__BASE_URL=f"http://127.0.0.1:{port}",
            SOURCES__FOOTPRINTS__CLIENT_KEY="key-0123456789",
            SOURCES__FOOTPRINTS__CLIENT_SECRET="secret-0123456789",
            HTTP__MAX_ATTEMPTS="2",
        )

    assert_refused(
        result,
        1,
        f"footprints: cannot reach 127.0.0.1:{port} (connection refused) after 2 attempts over ",
        "ConnectionRefusedError",
    )
    assert "at POST /api/token." in result.stdout


def test_unreachable_target_delivery_names_the_target_host_and_attempts() -> None:
    policy = RetryPolicy(timeout=5, max_attempts=3, min_delay=0.05, max_delay=0.1, max_total=30)
    session = retrying_session(policy, name="gameball", idempotent=False)
    with refusing_port() as port, pytest.raises(Unreachable) as caught:
        session.post(f"http://127.0.0.1:{port}/api/v3.0/integrations/event", json={})

    outcome = failure_of_error(caught.value, deduplicates=False)

    assert outcome.message == (
        f"gameball: cannot reach 127.0.0.1:{port} (connection refused) after 3 attempts over "
        f"{str(caught.value).split(' over ')[1]}"
    )
    assert outcome.message.endswith("s, at POST /api/v3.0/integrations/event.")
    assert outcome.retryable  # never sent: trying again on a later run cannot count it twice


# Each door a traceback could take to stderr, in one process: a thread that dies, a Python
# warning, dlt's own logger (as its loader reports a failed job), an exception nobody caught.
DOORS = """
import os, threading, traceback, warnings
import dlt
from dlt.common import logger
from pipelines.runtime import logs

logs.install_hooks()  # as `python -m pipelines` does
logs.configure()
# dlt sets its logger up, reusing our handler
dlt.pipeline(pipeline_name="doors", pipelines_dir=os.environ["SYNC__PIPELINES_DIR"])
worker = threading.Thread(target=lambda: 1 / 0, name="worker")
worker.start()
worker.join()
warnings.warn("an old API")
try:
    raise ValueError("bad job")
except ValueError:
    logger.exception("Transient exception in job triggers.1.parquet")
    logger.warning("Job triggers.1.parquet retried with message " + traceback.format_exc())
raise RuntimeError("nobody caught this")
"""


def test_tracebacks_from_threads_warnings_dlt_and_uncaught_errors_reach_only_the_debug_log(
    workspace: Workspace,
) -> None:
    process = subprocess.run(
        [sys.executable, "-c", DOORS],
        cwd=workspace.root,
        env={**os.environ, **workspace.env, "PYTHONPATH": cli_pythonpath()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = CliResult(process.returncode, process.stdout, process.stderr)

    assert result.code == 1
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.output
    assert any(
        line.endswith("ERROR thread worker stopped (ZeroDivisionError: division by zero)")
        for line in lines
    )
    assert any("WARNING py.warnings: " in line and "an old API" in line for line in lines)
    assert any(
        line.endswith(
            "ERROR dlt: Transient exception in job triggers.1.parquet (ValueError: bad job)"
        )
        for line in lines
    )
    assert any(
        line.endswith(
            "WARNING dlt: Job triggers.1.parquet retried with message ValueError: bad job"
        )
        for line in lines
    )
    assert any(
        line.endswith(
            "CRITICAL python -m pipelines stopped by an error (RuntimeError: nobody caught this)"
        )
        for line in lines
    )
    details = debug_log(result)
    assert details.count("Traceback (most recent call last):") == 4
    for words in ("ZeroDivisionError", "ValueError: bad job", "RuntimeError: nobody caught this"):
        assert words in details


FLOOD = """
from pipelines.runtime import logs

logs.DEBUG_LOG_BYTES = 20_000
logs.configure()
for n in range(3_000):
    logs.log.debug("line %d %s", n, "x" * 100)
"""


def test_debug_log_rotates_so_it_cannot_grow_without_bound(workspace: Workspace) -> None:
    folder = Path(workspace.env["SYNC__PIPELINES_DIR"])
    for _ in range(2):  # a second process goes on rotating the same files
        process = subprocess.run(
            [sys.executable, "-c", FLOOD],
            cwd=workspace.root,
            env={**os.environ, **workspace.env, "PYTHONPATH": cli_pythonpath()},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert process.returncode == 0, process.stderr

    logs = sorted(p.name for p in folder.iterdir() if p.name.startswith("debug.log"))
    assert logs == ["debug.log", "debug.log.1", "debug.log.2"]
    assert all((folder / name).stat().st_size <= 20_000 for name in logs)
    assert (
        (folder / "debug.log")
        .read_text(encoding="utf-8")
        .rstrip()
        .endswith("line 2999 " + "x" * 100)
    )


SECRET_LINES = """
from pipelines.runtime import logs

logs.configure()
logs.log.warning("GET http://crm/api/lead?page=2&access_token=tok-3a9f1c&x=1 failed")
logs.log.warning("connecting to http://ops:hunter22@infinity/reports/v2")
try:
    raise ValueError("wrong password s3cret-Pa55word")
except ValueError as error:
    logs.record(error, "a failure quoting the password")
"""


def test_debug_log_and_stderr_mask_tokens_and_configured_secrets(workspace: Workspace) -> None:
    process = subprocess.run(
        [sys.executable, "-c", SECRET_LINES],
        cwd=workspace.root,
        env={**os.environ, **workspace.env, "PYTHONPATH": cli_pythonpath()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    details = (Path(workspace.env["SYNC__PIPELINES_DIR"]) / "debug.log").read_text(encoding="utf-8")

    for text in (process.stderr, details):
        assert "access_token=***&x=1" in text
        assert "http://ops:***@infinity" in text
        for secret in ("tok-3a9f1c", "hunter22", workspace.env["SOURCES__INFINITY__PASSWORD"]):
            assert secret not in text
    assert "ValueError: wrong password ***" in details
