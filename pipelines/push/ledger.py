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

Beside it, **`outbound.delivery_attempts`** keeps the history the ledger overwrites: one row
per thing that happened to an outbound row, appended, never changed: `target`, `outbound_id`,
`lead_id`, `attempted_at` (UTC: an intent just before its request left, an outcome when its
answer came, a decision when it was made), `outcome`, `http_status`, `message` and the
`run_id` of the run (`ops.runs`). Outcomes: `sending` (the intent, for targets that do not
de-duplicate), `sent`, `failed` (the target refused or the request failed; `http_status` and
`message` say how), `unknown` (no answer after sending), `not_sent` (a local check refused
the payload: no request), `skipped` (written once, when the skip or its reason is new) and
`interrupted` (a `sending` row a later run found: the run stopped between sending and
recording). Every ledger write carries the attempts it records, so the two always agree: a
row's latest attempt is its ledger status, and its `sending` rows (or, for Qubit, its
requests' outcomes) number its `attempts`. The ledger stays what decides "sent once".

The ledger survives model rebuilds (no model writes it). Rows are written a group at a
time: delete and insert (and the attempts' insert) in one transaction, so a killed run
leaves each row either as it was or as recorded, never half-written. On DuckDB the group
goes in as Arrow tables: binding a dozen parameters per row cost 0.3 ms a row, which held up
every group of sends. Messages are redacted (a target may echo a key in an error body).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from operator import attrgetter
from typing import Any, TypeVar

import pyarrow as pa

from pipelines.runtime.transpile import SOURCE_DIALECT
from pipelines.runtime.warehouse import Warehouse, literal

LEDGER_TABLE = "outbound.deliveries"
ATTEMPTS_TABLE = "outbound.delivery_attempts"
# Outcomes of `outbound.delivery_attempts` beyond the ledger's statuses (see the module).
UNKNOWN, NOT_SENT, INTERRUPTED = "unknown", "not_sent", "interrupted"
# Rows per statement on DuckDB (an Arrow table), and per script on BigQuery, whose queries
# may be at most 1 MB: 100 rows of the longest messages (delivery.MESSAGE_CHARS characters,
# up to 4 bytes each in UTF-8) and their escaping stay well below it. A script with attempts
# carries two rows per ledger row, so half as many ledger rows.
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


@dataclass(frozen=True)
class Attempt:
    """One row of `outbound.delivery_attempts`, less the run id the ledger adds."""

    target: str
    outbound_id: str
    lead_id: str | None
    attempted_at: datetime
    outcome: str
    http_status: int | None
    message: str | None

    @classmethod
    def of(cls, entry: Entry, outcome: str, at: datetime) -> Attempt:
        """What happened at `at` that left the ledger row as `entry`."""
        return cls(
            entry.target,
            entry.outbound_id,
            entry.lead_id,
            at,
            outcome,
            entry.http_status,
            entry.message,
        )


_ATTEMPT_TYPES = {
    "target": "varchar not null",
    "outbound_id": "varchar not null",
    "lead_id": "varchar",
    "attempted_at": "timestamp not null",
    "outcome": "varchar not null",
    "http_status": "integer",
    "message": "varchar",
    "run_id": "varchar",
}
ATTEMPT_COLUMNS = tuple(_ATTEMPT_TYPES)
assert tuple(f.name for f in fields(Attempt)) == ATTEMPT_COLUMNS[:-1], "Attempt and its table"
_ARROW = {"varchar": pa.string(), "integer": pa.int32(), "timestamp": pa.timestamp("us")}


def _arrow_schema(types: dict[str, str]) -> pa.Schema:
    return pa.schema(
        [(name, _ARROW.get(kind.split()[0], pa.bool_())) for name, kind in types.items()]
    )


_ARROW_SCHEMA = _arrow_schema(_TYPES)
_ATTEMPTS_ARROW_SCHEMA = _arrow_schema(_ATTEMPT_TYPES)
# A row's values in column order. Not dataclasses.astuple: it deep-copies every value, and
# took most of a ledger write's time.
_ENTRY_VALUES = attrgetter(*COLUMNS)
_ATTEMPT_VALUES = attrgetter(*ATTEMPT_COLUMNS[:-1])
Row = TypeVar("Row", Entry, Attempt)


class Ledger:
    """The ledger and its attempts in the warehouse, through the one SQL adapter.

    Args:
        run_id: The run whose attempts these are (`ops.runs`); None for a push on its own.
        redact: Applied to every message written (`Redactor.optional` of
            `pipelines.runtime.redaction`).
    """

    def __init__(
        self,
        db: Warehouse,
        run_id: str | None = None,
        redact: Callable[[str | None], str | None] = lambda message: message,
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.redact = redact

    def ensure(self) -> None:
        """Create the schema and the tables if this warehouse has none yet."""
        self.db.ensure_schemas([LEDGER_TABLE.split(".")[0]])
        for table, types, cluster in (
            # Each write deletes its own rows first: clustered, it scans only those.
            (LEDGER_TABLE, _TYPES, "target, outbound_id"),
            # Read by target and lead ("what happened to lead X's Qubit event").
            (ATTEMPTS_TABLE, _ATTEMPT_TYPES, "target, lead_id"),
        ):
            columns = ", ".join(f"{name} {kind}" for name, kind in types.items())
            create = self.db.translate(f"create table if not exists {table} ({columns})")
            if self.db.dialect == "bigquery":
                create += f" CLUSTER BY {cluster}"
            self.db.execute(create)

    def entries(self, target: str) -> dict[str, Entry]:
        """Every row of one target, by outbound id."""
        rows = self.db.query(
            f"select {', '.join(COLUMNS)} from {LEDGER_TABLE} where target = {literal(target)}"
        )
        return {row[1]: Entry(*row) for row in rows}

    def record(self, entries: Iterable[Entry], attempts: Iterable[Attempt] = ()) -> None:
        """Write these rows over any earlier rows of the same (target, outbound id), and
        append the attempts that left them so, in the same transaction."""
        entries = [self._redacted(entry) for entry in entries]
        attempts = [self._redacted(attempt) for attempt in attempts]
        if not entries and not attempts:
            return
        if self.db.transactional:
            size = _ROWS_PER_STATEMENT[SOURCE_DIALECT]
            with self.db.transaction():
                for chunk in _chunks(entries, size):
                    self._replace_duckdb(chunk)
                for attempt_chunk in _chunks(attempts, size):
                    self._append_attempts_duckdb(attempt_chunk)
            return
        for script in self.scripts(entries, attempts):
            self.db.execute(script)

    def scripts(self, entries: Sequence[Entry], attempts: Sequence[Attempt] = ()) -> list[str]:
        """Off DuckDB (BigQuery): the queries that write `entries` and `attempts`, each a
        script transaction.

        Each chunk of ledger rows is its own transaction with the attempts of those rows, so
        every row is still either as it was or as recorded, and its attempts with it.
        """
        size = _ROWS_PER_STATEMENT["bigquery"] // (2 if attempts else 1)
        chunks = _chunks(entries, size) or [[]]
        chunk_of = {(e.target, e.outbound_id): n for n, chunk in enumerate(chunks) for e in chunk}
        attempts_of: list[list[Attempt]] = [[] for _ in chunks]
        for attempt in attempts:
            # An attempt without its ledger row in this write goes with the last chunk.
            attempts_of[chunk_of.get((attempt.target, attempt.outbound_id), -1)].append(attempt)
        return [
            self.db.script(_replace_sql(chunk) + self._append_sql(chunk_attempts))
            for chunk, chunk_attempts in zip(chunks, attempts_of, strict=True)
        ]

    def _redacted(self, row: Row) -> Row:
        message = self.redact(row.message)
        return row if message == row.message else replace(row, message=message)

    def _replace_duckdb(self, entries: Sequence[Entry]) -> None:
        rows = pa.Table.from_pydict(_columns(entries, COLUMNS), schema=_ARROW_SCHEMA)
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

    def _append_attempts_duckdb(self, attempts: Sequence[Attempt]) -> None:
        columns = _columns(attempts, ATTEMPT_COLUMNS[:-1]) | {
            "run_id": [self.run_id] * len(attempts)
        }
        rows = pa.Table.from_pydict(columns, schema=_ATTEMPTS_ARROW_SCHEMA)
        connection = self.db.client.native_connection
        connection.register("_attempt_rows", rows)
        try:
            connection.execute(
                f"insert into {ATTEMPTS_TABLE} ({', '.join(ATTEMPT_COLUMNS)}) "
                f"select {', '.join(ATTEMPT_COLUMNS)} from _attempt_rows"
            )
        finally:
            connection.unregister("_attempt_rows")

    def _append_sql(self, attempts: Sequence[Attempt]) -> list[str]:
        if not attempts:
            return []
        rows = ", ".join(
            f"({', '.join(literal(v) for v in (*_ATTEMPT_VALUES(attempt), self.run_id))})"
            for attempt in attempts
        )
        return [f"insert into {ATTEMPTS_TABLE} ({', '.join(ATTEMPT_COLUMNS)}) values {rows}"]


def _chunks(rows: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def _columns(rows: Sequence[Any], names: Sequence[str]) -> dict[str, list[Any]]:
    """The rows' values column by column, as Arrow is quickest to take them."""
    return {name: [getattr(row, name) for row in rows] for name in names}


def _replace_sql(entries: Sequence[Entry]) -> list[str]:
    """Delete and insert `entries` (DuckDB dialect), values as literals (`literal`)."""
    if not entries:
        return []
    by_target: dict[str, list[str]] = {}
    for entry in entries:
        by_target.setdefault(entry.target, []).append(entry.outbound_id)
    deletes = [
        f"delete from {LEDGER_TABLE} where target = {literal(target)} "
        f"and outbound_id in ({', '.join(literal(i) for i in ids)})"
        for target, ids in by_target.items()
    ]
    rows = ", ".join(
        f"({', '.join(literal(value) for value in _ENTRY_VALUES(entry))})" for entry in entries
    )
    return [*deletes, f"insert into {LEDGER_TABLE} ({', '.join(COLUMNS)}) values {rows}"]
