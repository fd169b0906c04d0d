"""The delivery ledger `outbound.deliveries`: what was sent where, so each conversion arrives once.

One row per (target, outbound id), next to the outbound tables it records, in the same
warehouse, so analysts can join it to `analytics.conversions` by `lead_id`:

- `status`: `sent`, `failed` or `skipped` (the outbound row's `skip_reason` is the message).
  While a request to a target that does not de-duplicate is in flight, its rows are
  `sending`; a row still `sending` when the next run starts was interrupted (see `push`).
- `attempts`, `first_attempt_at`, `last_attempt_at` (UTC), `http_status`, `message` (the
  target's own words: Qubit's `error` or `warnings`, an error body, a local check).
- `retryable`: a transient failure, tried again by later runs up to `push.max_attempts`.
- `confirmed`: false when the target's answer does not prove the status (Measurement
  Protocol's blanket 2xx; a request whose answer was lost).
- `payload_hash`: sha256 of what was sent, so a payload that changed since is noticed.

The ledger survives model rebuilds (no model writes it). Rows are written a group at a
time: delete and insert in one transaction, so a killed run leaves each row either as it
was or as recorded, never half-written. On DuckDB the group goes in as one Arrow table:
binding a dozen parameters per row cost 0.3 ms a row, which held up every group of sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlglot import exp

from pipelines.runtime.transpile import SOURCE_DIALECT
from pipelines.runtime.warehouse import Warehouse

LEDGER_TABLE = "outbound.deliveries"
# Rows per statement on DuckDB (an Arrow table), and per script on BigQuery, whose queries
# may be at most 1 MB: 100 rows of the longest messages (delivery.MESSAGE_CHARS characters,
# up to 4 bytes each in UTF-8) and their escaping stay well below it.
_ROWS_PER_STATEMENT = {"duckdb": 500, "bigquery": 100}


@dataclass(frozen=True)
class Entry:
    """One ledger row."""

    target: str
    outbound_id: str
    lead_id: str | None
    status: str
    attempts: int
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    http_status: int | None
    message: str | None
    payload_hash: str | None
    retryable: bool
    confirmed: bool


_TYPES = {
    "target": "varchar not null",
    "outbound_id": "varchar not null",
    "lead_id": "varchar",
    "status": "varchar not null",
    "attempts": "integer not null",
    "first_attempt_at": "timestamp",
    "last_attempt_at": "timestamp",
    "http_status": "integer",
    "message": "varchar",
    "payload_hash": "varchar",
    "retryable": "boolean not null",
    "confirmed": "boolean not null",
}
COLUMNS = tuple(f.name for f in fields(Entry))
assert tuple(_TYPES) == COLUMNS, "Entry and the ledger's columns must agree"
_ARROW = {"varchar": pa.string(), "integer": pa.int32(), "timestamp": pa.timestamp("us")}
_ARROW_SCHEMA = pa.schema(
    [(name, _ARROW.get(kind.split()[0], pa.bool_())) for name, kind in _TYPES.items()]
)


def _literal(value: Any) -> str:
    """A value as a DuckDB SQL literal (the ledger's SQL is then written for the warehouse)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return f"timestamp '{stamp.isoformat(sep=' ')}'"
    return exp.Literal.string(str(value)).sql(SOURCE_DIALECT)


class Ledger:
    """The ledger in the warehouse, through the one SQL adapter."""

    def __init__(self, db: Warehouse) -> None:
        self.db = db

    def ensure(self) -> None:
        """Create the schema and the table if this warehouse has none yet."""
        self.db.ensure_schemas([LEDGER_TABLE.split(".")[0]])
        columns = ", ".join(f"{name} {kind}" for name, kind in _TYPES.items())
        create = self.db.translate(f"create table if not exists {LEDGER_TABLE} ({columns})")
        if self.db.dialect == "bigquery":
            # Each write deletes its own rows first: clustered, it scans only those.
            create += " CLUSTER BY target, outbound_id"
        self.db.execute(create)

    def entries(self, target: str) -> dict[str, Entry]:
        """Every row of one target, by outbound id."""
        rows = self.db.query(
            f"select {', '.join(COLUMNS)} from {LEDGER_TABLE} where target = {_literal(target)}"
        )
        return {row[1]: Entry(*row) for row in rows}

    def record(self, entries: Iterable[Entry]) -> None:
        """Write these rows over any earlier rows of the same (target, outbound id)."""
        entries = list(entries)
        if not entries:
            return
        if self.db.transactional:
            with self.db.transaction():
                for chunk in _chunks(entries, _ROWS_PER_STATEMENT[SOURCE_DIALECT]):
                    self._replace_duckdb(chunk)
            return
        for script in self.scripts(entries):
            self.db.execute(script)

    def scripts(self, entries: Sequence[Entry]) -> list[str]:
        """Off DuckDB (BigQuery): the queries that write `entries`, each a script transaction.

        Each chunk is its own transaction, so every row is still either as it was or as
        recorded.
        """
        return [
            self.db.script(_replace_sql(chunk))
            for chunk in _chunks(entries, _ROWS_PER_STATEMENT["bigquery"])
        ]

    def _replace_duckdb(self, entries: Sequence[Entry]) -> None:
        rows = pa.Table.from_pylist(
            [dict(zip(COLUMNS, astuple(entry), strict=True)) for entry in entries],
            schema=_ARROW_SCHEMA,
        )
        connection = self.db.client.native_connection
        connection.register("_ledger_rows", rows)
        try:
            connection.execute(
                f"delete from {LEDGER_TABLE} where (target, outbound_id) in "
                "(select target, outbound_id from _ledger_rows)"
            )
            connection.execute(
                f"insert into {LEDGER_TABLE} ({', '.join(COLUMNS)}) "
                f"select {', '.join(COLUMNS)} from _ledger_rows"
            )
        finally:
            connection.unregister("_ledger_rows")


def _chunks(entries: Sequence[Entry], size: int) -> list[Sequence[Entry]]:
    return [entries[start : start + size] for start in range(0, len(entries), size)]


def _replace_sql(entries: Sequence[Entry]) -> list[str]:
    """Delete and insert `entries` (DuckDB dialect), values as literals: BigQuery's DB-API
    cannot type a None parameter, and sqlglot quotes and escapes literals for the dialect."""
    by_target: dict[str, list[str]] = {}
    for entry in entries:
        by_target.setdefault(entry.target, []).append(entry.outbound_id)
    deletes = [
        f"delete from {LEDGER_TABLE} where target = {_literal(target)} "
        f"and outbound_id in ({', '.join(_literal(i) for i in ids)})"
        for target, ids in by_target.items()
    ]
    rows = ", ".join(
        f"({', '.join(_literal(value) for value in astuple(entry))})" for entry in entries
    )
    return [*deletes, f"insert into {LEDGER_TABLE} ({', '.join(COLUMNS)}) values {rows}"]
