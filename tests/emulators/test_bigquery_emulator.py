"""dlt against the local-bigquery emulator: load and merge, read back, and the SQL the delivery
ledger and the models need, as the emulator answers it (`emulators.bigquery`).

Marked `bigquery`: it needs `make bigquery-emulator` (Python 3.13), and fails, naming that target,
when `.bqenv` is missing rather than skipping. The emulator is more lenient than BigQuery, so what
passes here is necessary, not sufficient; what fails here is a gap of the emulator or of dlt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.destinations.exceptions import DatabaseTransientException

from emulators import bigquery as bigquery_module
from emulators.bigquery import (
    MISSING,
    EmulatorNotInstalled,
    LocalBigQuery,
    available,
)
from pipelines.push.delivery import MESSAGE_CHARS
from pipelines.push.ledger import LEDGER_TABLE, Entry, Ledger
from pipelines.runtime import warehouse

pytestmark = [
    pytest.mark.bigquery,
    # dlt's bigquery extra leaves out google-cloud-bigquery-storage; results come over REST.
    pytest.mark.filterwarnings("ignore:Cannot create BigQuery Storage client:UserWarning"),
]


@pytest.fixture(scope="module")
def local_bigquery() -> Iterator[LocalBigQuery]:
    if not available():
        pytest.fail(MISSING, pytrace=False)
    with LocalBigQuery() as emulator, pytest.MonkeyPatch.context() as patch:
        for key, value in {**emulator.client_env(), "RUNTIME__DLTHUB_TELEMETRY": "false"}.items():
            patch.setenv(key, value)
        yield emulator


def _calls(ids: range, version: int) -> list[dict[str, Any]]:
    return [{"call_id": i, "caller": f"+4420790000{i:02d}", "version": version} for i in ids]


def _sql(client: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in client.execute_sql(sql, *args) or []]


def test_bigquery_emulator_is_installed() -> None:
    assert available(), MISSING


def test_local_bigquery_start_without_bqenv_names_the_make_target(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bigquery_module, "STAMP", tmp_path / "missing" / ".installed")

    with pytest.raises(EmulatorNotInstalled, match="make bigquery-emulator"):
        LocalBigQuery(tmp_path).start()


def test_local_bigquery_stops_by_pid_and_removes_its_data() -> None:
    emulator = LocalBigQuery().start()
    pid, workdir = emulator.pid, emulator.log_path.parent
    assert pid is not None and workdir.is_dir()

    emulator.stop()
    emulator.stop()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert emulator.pid is None
    assert not workdir.exists()


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_bigquery_emulator_merges_a_second_load_on_the_primary_key(
    local_bigquery: LocalBigQuery, tmp_path: Path, file_format: str
) -> None:
    dataset_name = f"raw_{file_format}"
    pipeline = dlt.pipeline(
        pipeline_name=f"bq_{file_format}",
        destination=local_bigquery.destination(),
        dataset_name=dataset_name,
        pipelines_dir=str(tmp_path / "dlt"),
    )
    hints: dict[str, Any] = {
        "table_name": "calls",
        "write_disposition": "merge",
        "primary_key": "call_id",
        "loader_file_format": file_format,
    }

    pipeline.run(_calls(range(1, 4), version=1), **hints)
    second = pipeline.run(_calls(range(2, 5), version=2), **hints)

    jobs = second.load_packages[0].jobs["completed_jobs"]
    assert any(job.file_path.endswith(f".{file_format}") for job in jobs)
    dataset = dlt.dataset(local_bigquery.destination(), dataset_name)
    rows = dataset("select call_id, version from calls order by call_id").fetchall()
    assert [tuple(row) for row in rows] == [(1, 1), (2, 2), (3, 2), (4, 2)]


def test_bigquery_emulator_runs_the_sql_the_ledger_and_models_need(
    local_bigquery: LocalBigQuery,
) -> None:
    dataset = dlt.dataset(local_bigquery.destination(), "outbound")
    with dataset.sql_client as client:
        schema = client.fully_qualified_dataset_name()
        table, copy, view = (client.make_qualified_table_name(n) for n in ("t", "t_copy", "t_view"))

        client.execute_sql(f"create schema if not exists {schema}")
        client.execute_sql(f"create schema if not exists {schema}")
        client.execute_sql(f"create table {table} (id int64, target string)")
        client.execute_sql(
            f"insert into {table} (id, target) values (%s, %s), (%s, %s), (%s, %s)",
            *(1, "qubit", 2, "owox", 3, "gameball"),
        )
        client.execute_sql(f"create or replace table {copy} as select id, target from {table}")
        client.execute_sql(f"create or replace view {view} as select id from {copy} where id > 1")
        client.execute_sql(f"delete from {copy} where id in (%s, %s)", 1, 9)
        client.execute_sql(
            f"merge into {copy} as d using (select 3 as id, 'gb' as target union all "
            "select 4, 'qubit') as s on d.id = s.id "
            "when matched then update set target = s.target "
            "when not matched then insert (id, target) values (s.id, s.target)"
        )

        assert _sql(client, f"select id, target from {table} order by id") == [
            (1, "qubit"),
            (2, "owox"),
            (3, "gameball"),
        ]
        assert _sql(client, f"select id, target from {copy} order by id") == [
            (2, "owox"),
            (3, "gb"),
            (4, "qubit"),
        ]
        assert _sql(client, f"select id from {view} order by id") == [(2,), (3,), (4,)]
        assert _sql(
            client, f"select table_name, table_type from {schema}.INFORMATION_SCHEMA.TABLES"
        ) == [("t", "BASE TABLE"), ("t_copy", "BASE TABLE"), ("t_view", "VIEW")]
        assert _sql(
            client,
            f"select column_name, data_type from {schema}.INFORMATION_SCHEMA.COLUMNS "
            "where table_name = %s order by ordinal_position",
            "t",
        ) == [("id", "INT64"), ("target", "STRING")]


def test_bigquery_emulator_script_transaction_is_all_or_nothing(
    local_bigquery: LocalBigQuery,
) -> None:
    """One query `BEGIN TRANSACTION; ...; COMMIT TRANSACTION;`, BigQuery's own way."""
    dataset = dlt.dataset(local_bigquery.destination(), "scripted")
    with dataset.sql_client as client:
        client.create_dataset()
        table = client.make_qualified_table_name("deliveries")
        client.execute_sql(f"create table {table} (id int64, status string)")

        client.execute_sql(
            f"begin transaction; insert into {table} (id, status) values (%s, %s); "
            f"delete from {table} where id in (%s); commit transaction;",
            1,
            "sent",
            9,
        )
        with pytest.raises(DatabaseTransientException, match="division by zero"):
            client.execute_sql(
                f"begin transaction; insert into {table} (id, status) values (2, 'sent'); "
                "select 1 / 0; commit transaction;"
            )

        assert _sql(client, f"select id, status from {table} order by id") == [(1, "sent")]


def test_bigquery_emulator_fails_dlt_begin_transaction_at_commit(
    local_bigquery: LocalBigQuery,
) -> None:
    """A gap of the emulator, not of BigQuery: dlt commits with one query
    `COMMIT TRANSACTION;CALL BQ.ABORT_SESSION()`, and the emulator knows BQ.ABORT_SESSION only
    as a query of its own ("Procedure not found: test-project.BQ.ABORT_SESSION"). The commit
    happens; the error then makes dlt roll back, which fails too, and that error is what the
    caller sees, again when the client closes. Until this test fails, ledger code must not use
    `sql_client.begin_transaction()` on the emulator: use a script transaction (above).
    """
    dataset = dlt.dataset(local_bigquery.destination(), "sessions")
    with dataset.sql_client as client:
        client.create_dataset()
        table = client.make_qualified_table_name("deliveries")
        client.execute_sql(f"create table {table} (id int64)")

    no_transaction = "cannot rollback - no transaction is active"
    with (
        pytest.raises(DatabaseTransientException, match=no_transaction),
        dataset.sql_client as client,
        client.begin_transaction(),
    ):
        client.execute_sql(f"insert into {table} (id) values (%s)", 1)

    # A new dataset: the failed rollback leaves the old one's client in its dead session.
    with dlt.dataset(local_bigquery.destination(), "sessions").sql_client as client:
        assert _sql(client, f"select id from {table}") == [(1,)]


def test_bigquery_ledger_round_trips_awkward_messages_in_chunked_scripts(
    local_bigquery: LocalBigQuery,
) -> None:
    """Each chunk is a script of literals: quotes, backslashes, newlines, SQL-looking text,
    multi-byte text at the longest message kept and NULLs must come back exactly."""
    longest = ("ș'\\\n" * MESSAGE_CHARS)[:MESSAGE_CHARS]
    messages = [longest, "it's \\'; drop table outbound.deliveries; --", "line\r\nnext\t€", None]
    stamp = datetime(2026, 11, 29, 12, 30, 15, 123456, tzinfo=UTC)  # BigQuery reads back UTC
    entries = [
        Entry(
            target="qubit",
            outbound_id=f"id-{n:04d}",
            lead_id=None if n % 3 else f"lead-{n}",
            status="failed" if n % 2 else "sent",
            attempts=n % 5 + 1,
            first_attempt_at=stamp,
            last_attempt_at=None if n % 4 else stamp,
            http_status=None if n % 2 else 200,
            message=messages[n % len(messages)],
            payload_hash=f"{n:064x}",
            retryable=bool(n % 2),
            confirmed=not n % 7,
        )
        for n in range(250)  # three scripts
    ]
    with warehouse.connect(local_bigquery.destination(), LEDGER_TABLE.split(".")[0]) as db:
        ledger = Ledger(db)
        ledger.ensure()
        scripts = ledger.scripts(entries)
        ledger.record(entries)
        ledger.record(entries[:3])  # written over, not repeated

        found = ledger.entries("qubit")

    # BigQuery refuses queries over 1 MB (the emulator does not): these are its worst case.
    assert len(scripts) == 3 and max(len(s.encode()) for s in scripts) < 1_000_000 // 2
    assert len(found) == len(entries)
    assert [found[e.outbound_id] for e in entries] == entries
