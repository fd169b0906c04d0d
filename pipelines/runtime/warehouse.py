"""Where the data lands (the DuckDB file by default, or BigQuery), waiting for a held file, and
the one SQL adapter (`Warehouse`) everything that reads or writes the warehouse goes through.

`sync.warehouse` chooses: `duckdb` (default, `destination.duckdb.credentials` is the file) or
`bigquery` (dlt's standard `destination.bigquery.*` settings: credentials, project, location).
Nothing else changes: the same datasets, models and ledger.

DuckDB lets one process hold a database file for writing, and an analyst's open session
(even read-only) blocks the sync. Rather than fail with a stack trace, a run waits a bounded,
configurable time (`sync.warehouse_wait_seconds`) and then names the process holding it.
BigQuery has no such lock: there the wait is never needed.

A DuckDB file that cannot be used (not DuckDB at all, damaged, or written by a newer DuckDB)
fails every command with `WarehouseUnusable`, one sentence naming the file and what to do,
and the file is left exactly as it is. A file that is not DuckDB is refused from its first
bytes, before DuckDB opens it: DuckDB would open a SQLite file through its sqlite extension
(downloading it when it can) and write its tables into it. Damage and newer versions are
told by DuckDB's own words, wherever in a run they surface.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import dlt
import duckdb
import sqlglot
from dlt.destinations.job_client_impl import SqlJobClientBase
from sqlglot import exp

from pipelines.runtime import causes, settings
from pipelines.runtime.settings import Busy, SyncError
from pipelines.runtime.transpile import SOURCE_DIALECT, to_dialect

CREDENTIALS_KEY = "destination.duckdb.credentials"
WAREHOUSE_KEY = "sync.warehouse"
WAREHOUSES = ("duckdb", "bigquery")
# google-cloud-bigquery's own convention for an emulator (http://host:port): with it set, the
# client talks to the emulator, which wants a token but checks none.
EMULATOR_HOST = "BIGQUERY_EMULATOR_HOST"
LOAD_ID = "_dlt_load_id"
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+?\(PID \d+\))")
# A DuckDB file: an 8-byte checksum, then these magic bytes (DuckDB's storage format).
DUCKDB_MAGIC, MAGIC_OFFSET = b"DUCK", 8
SQLITE_MAGIC = b"SQLite format 3\x00"
_VERSION = re.compile(
    r"storage version number (?P<found>\d+), but we can only read storage versions between "
    r"(?P<low>\d+) and (?P<high>\d+)"
)
_DAMAGED = re.compile(
    r"Corrupt database file[^\n]*|Could not read enough bytes from file[^\n]*|"
    r"not a valid DuckDB database file"
)
log = logging.getLogger(__name__)
T = TypeVar("T")


class WarehouseBusy(Busy):
    """The warehouse file stayed locked by another process for the whole wait."""


class WarehouseUnusable(SyncError):
    """The warehouse file is not DuckDB, is damaged, or is from a newer DuckDB; left as it is."""


def kind() -> str:
    """`duckdb` or `bigquery`, from `sync.warehouse`."""
    chosen = settings.resolve(settings.SyncConfig).warehouse.strip().lower()
    if chosen not in WAREHOUSES:
        raise settings.SettingError(
            WAREHOUSE_KEY, f"must be one of {', '.join(WAREHOUSES)}, got {chosen!r}"
        )
    return chosen


def duckdb_path() -> Path:
    """The warehouse file: `destination.duckdb.credentials`, else data/warehouse.duckdb."""
    return Path(settings.resolve(settings.DuckDBConfig).credentials).expanduser()


def destination() -> Any:
    """The configured warehouse as a dlt destination."""
    if kind() == "bigquery":
        return _bigquery()
    path = duckdb_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return dlt.destinations.duckdb(str(path))


def _bigquery() -> Any:
    """BigQuery with dlt's own settings; against an emulator, a token it does not check."""
    if not os.environ.get(EMULATOR_HOST):
        return dlt.destinations.bigquery()
    from google.oauth2.credentials import Credentials

    spec = settings.BigQueryConfig
    raw = settings.resolve(spec)
    project = settings.required(spec, "project_id", raw.project_id)
    return dlt.destinations.bigquery(
        # dlt annotates service-account credentials but takes google-auth's own too.
        credentials=Credentials(token="emulator", quota_project_id=project),  # type: ignore[arg-type]
        project_id=project,
        location=raw.location,
    )


def cluster_by_load(resources: Iterable[Any]) -> None:
    """On BigQuery, have dlt create these resources' tables clustered by `_dlt_load_id`.

    The incremental model build reads the rows of the loads since its last build; clustered
    by load id (which only grows), BigQuery scans and bills only those rows' blocks. Applies
    when dlt creates a table: an existing one keeps its layout.
    """
    if kind() != "bigquery":
        return
    from dlt.destinations.adapters import bigquery_adapter

    for resource in resources:
        bigquery_adapter(resource, cluster=[LOAD_ID])


def lock_holder(error: BaseException | None) -> str | None:
    """The 'program (PID n)' DuckDB names in a lock conflict, if `error` is one."""
    while error is not None:
        text = str(error)
        if "Could not set lock on file" in text:
            match = _LOCK_HOLDER.search(text)
            return match.group("holder").strip() if match else "another process"
        error = error.__cause__ or error.__context__
    return None


def while_warehouse_free(action: Callable[[], T], wait_seconds: float) -> T:
    """Run `action`, re-running it while the warehouse file is locked by someone else.

    dlt resumes its pending load packages, so re-running after a lock conflict repeats no
    rows. After `wait_seconds` the run fails with a message naming the holder.
    """
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        try:
            return action()
        except Exception as error:
            holder = lock_holder(error)
            if holder is None:
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"The warehouse {duckdb_path()} is held by {holder} and was still held "
                    f"after waiting {wait_seconds:g} s. Close that DuckDB session (or raise "
                    "sync.warehouse_wait_seconds [SYNC__WAREHOUSE_WAIT_SECONDS]) and run again."
                ) from None
            if not announced:
                log.warning(
                    "warehouse %s is held by %s; waiting up to %g s",
                    duckdb_path(),
                    holder,
                    wait_seconds,
                )
                announced = True
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def probe_free() -> None:
    """Open and close the file once, so a held or unusable warehouse is noticed before any
    request."""
    if kind() != "duckdb":
        return
    path = duckdb_path()
    check_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(path)).close()


def literal(value: Any) -> str:
    """A value as a DuckDB SQL literal, for statements `Warehouse.query` then writes for the
    warehouse: BigQuery's DB-API cannot type a None parameter, and sqlglot quotes and escapes
    literals for each dialect. Timestamps are written as naive UTC."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return f"timestamp '{stamp.isoformat(sep=' ')}'"
    return exp.Literal.string(str(value)).sql(SOURCE_DIALECT)


def check_file(path: Path) -> None:
    """Refuse a file at `path` that is not a DuckDB database, from its first bytes.

    Raises:
        WarehouseUnusable: it is something else (text, SQLite, empty, a folder).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except FileNotFoundError:
        return  # a new warehouse: DuckDB creates it
    except IsADirectoryError:
        raise WarehouseUnusable(
            f"The warehouse {path.absolute()} is a folder, not a DuckDB file: set "
            f"{_credentials()} to a file's path, and run again."
        ) from None
    if head[MAGIC_OFFSET : MAGIC_OFFSET + len(DUCKDB_MAGIC)] == DUCKDB_MAGIC:
        return
    raise WarehouseUnusable(
        f"The warehouse {path.absolute()} is not a DuckDB database ({_contents(head)}): set "
        f"{_credentials()} to the warehouse's file, or move this file away so the next sync "
        "creates a new warehouse; it was left as it is."
    )


def unusable(error: BaseException | None) -> WarehouseUnusable | None:
    """The DuckDB warehouse as the cause of `error`, described: damaged, from another DuckDB
    version, or not DuckDB; None if DuckDB said none of that (or the warehouse is BigQuery)."""
    texts = [str(cause) for cause in causes.raw(error)]
    if not texts:
        return None
    try:
        if kind() != "duckdb":
            return None
        path = duckdb_path().absolute()
    except settings.SettingError:
        return None
    for text in texts:
        version = _VERSION.search(text)
        if version:
            return _other_version(path, version)
        damaged = _DAMAGED.search(text)
        if damaged:
            return WarehouseUnusable(
                f"The warehouse {path} is damaged (DuckDB: {damaged[0].rstrip('!.')}): "
                "restore it from a backup, or move it aside so the next sync loads what the "
                "sources serve into a new one; it was left as it is."
            )
    return None


def _other_version(path: Path, version: re.Match[str]) -> WarehouseUnusable:
    found, low, high = (int(version[name]) for name in ("found", "low", "high"))
    reads = f"duckdb {duckdb.__version__} here reads storage versions {low} to {high}"
    if found > high:
        return WarehouseUnusable(
            f"The warehouse {path} was written by a newer DuckDB (storage version {found}; "
            f"{reads}): upgrade duckdb (requirements.lock) to the version that wrote it, or set "
            f"{_credentials()} to another file; it was left as it is."
        )
    return WarehouseUnusable(
        f"The warehouse {path} was written by an older DuckDB (storage version {found}; "
        f"{reads}): export it with that DuckDB (EXPORT DATABASE) and import it with this one, "
        f"or set {_credentials()} to another file; it was left as it is."
    )


def _contents(head: bytes) -> str:
    """What a file that is not DuckDB is, as far as its first bytes tell."""
    if not head:
        return "it is empty"
    if head.startswith(SQLITE_MAGIC):
        return "it is a SQLite database"
    # 64 bytes may end inside a character: a partial one is no sign of binary data.
    text = head.decode("utf-8", errors="ignore")
    return (
        "it holds text"
        if all(c.isprintable() or c.isspace() for c in text)
        else "it holds other data"
    )


def _credentials() -> str:
    return f"{CREDENTIALS_KEY} [{settings.env_name(CREDENTIALS_KEY)}]"


class Warehouse:
    """The one SQL adapter: statements, reads, the catalog, schemas and transactions.

    Everything that reads or writes the warehouse in SQL (the models, the ledger, `status`)
    goes through it, on DuckDB or BigQuery alike. SQL is written in DuckDB's dialect and
    translated for the warehouse that runs it (`pipelines.runtime.transpile`). It wraps dlt's
    `sql_client`, or, for `status` on DuckDB, a read-only connection of its own
    (`read_only_duckdb`), so an analyst's open session is no obstacle.
    """

    def __init__(
        self, client: Any, dialect: str, job_client: SqlJobClientBase | None = None
    ) -> None:
        self.client = client
        self.dialect = dialect
        self.job_client = job_client

    @property
    def transactional(self) -> bool:
        """Whether DDL can run in a transaction (DuckDB's can; BigQuery's cannot)."""
        return self.dialect == SOURCE_DIALECT

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement as it is written (already in the warehouse's dialect)."""
        return [tuple(row) for row in self.client.execute_sql(sql) or []]

    def translate(self, duckdb_sql: str) -> str:
        """A statement in DuckDB's dialect, written for this warehouse."""
        if self.dialect == SOURCE_DIALECT:
            return duckdb_sql
        return to_dialect(sqlglot.parse_one(duckdb_sql, read=SOURCE_DIALECT), self.dialect)

    def query(self, duckdb_sql: str) -> list[tuple[Any, ...]]:
        """Run a statement written in DuckDB's dialect."""
        return self.execute(self.translate(duckdb_sql))

    def records(self, duckdb_sql: str) -> list[dict[str, Any]]:
        """The rows of a read written in DuckDB's dialect, as dicts by column name."""
        with self.client.execute_query(self.translate(duckdb_sql)) as cursor:
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def count(self, table: str) -> int:
        ((rows,),) = self.execute(f"select count(*) from {self.table_name(table)}")
        return int(rows)

    def table_name(self, table: str) -> str:
        """`schema.table` quoted as this warehouse writes it."""
        return exp.to_table(table).sql(self.dialect)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction where DDL can be in one; else each statement commits on its own."""
        if not self.transactional:
            yield
        else:
            with self.client.begin_transaction():
                yield

    def script(self, duckdb_statements: Iterable[str]) -> str:
        """Off DuckDB (BigQuery): the statements as one query that is one transaction.

        dlt's begin_transaction() needs a BigQuery session, and local-bigquery fails at its
        commit; a script sent as one query is atomic on both.
        """
        statements = ";\n".join(self.translate(sql) for sql in duckdb_statements)
        return f"begin transaction;\n{statements};\ncommit transaction;"

    def has_schema(self, schema: str) -> bool:
        with self.client.with_alternative_dataset_name(schema):
            return bool(self.client.has_dataset())

    def ensure_schemas(self, schemas: Iterable[str]) -> None:
        for schema in sorted(set(schemas)):
            with self.client.with_alternative_dataset_name(schema):
                if not self.client.has_dataset():
                    self.client.create_dataset()

    def relations(self, schemas: Iterable[str]) -> dict[str, str]:
        """`schema.name` -> "table" or "view", for everything in `schemas`."""
        found = {}
        for schema, name, kind in self._catalog("TABLES", "table_type", schemas):
            found[f"{schema}.{name}"] = "view" if kind == "VIEW" else "table"
        return found

    def tables(self, schema: str) -> list[str]:
        """The names of the tables and views in `schema`, sorted; empty if it does not exist."""
        return sorted(name.split(".", 1)[1] for name in self.relations([schema]))

    def with_column(self, schemas: Iterable[str], column: str) -> set[str]:
        """The tables and views in `schemas` that have a column named `column`."""
        rows = self._catalog("COLUMNS", "column_name", schemas)
        return {f"{schema}.{name}" for schema, name, value in rows if value == column}

    def columns(self, table: str) -> set[str]:
        """The column names of `schema.table`; empty if there is no such table."""
        schema, name = table.split(".")
        rows = self._catalog("COLUMNS", "column_name", [schema])
        return {column for _, found, column in rows if found == name}

    def storage_columns(self, table: str) -> dict[str, Any]:
        """The columns of `schema.table` in dlt's terms (types as dlt loads them); empty if
        there is no such table."""
        if self.job_client is None:
            raise TypeError("storage_columns needs the warehouse through dlt (`connect`)")
        schema, name = table.split(".")
        with self.job_client.sql_client.with_alternative_dataset_name(schema):
            return dict(dict(self.job_client.get_storage_tables([name])).get(name) or {})

    def _catalog(self, view: str, column: str, schemas: Iterable[str]) -> list[tuple[Any, ...]]:
        """(schema, table, `column`) rows of INFORMATION_SCHEMA.`view` for `schemas`."""
        schemas = sorted(set(schemas))
        if self.dialect == SOURCE_DIALECT:
            names = ", ".join(f"'{schema}'" for schema in schemas)
            return self.execute(
                f"select table_schema, table_name, {column} from information_schema.{view} "
                f"where table_catalog = current_database() and table_schema in ({names})"
            )
        rows: list[tuple[Any, ...]] = []
        for schema in schemas:  # BigQuery: one INFORMATION_SCHEMA per dataset
            if self.has_schema(schema):
                sql = f"select table_name, {column} from {schema}.INFORMATION_SCHEMA.{view}"
                rows += [(schema, *row) for row in self.execute(sql)]
        return rows


@contextmanager
def connect(dlt_destination: Any = None, dataset: str = "staging") -> Iterator[Warehouse]:
    """The warehouse through dlt (`dlt_destination`, default: the configured one).

    `dataset` is where unqualified names would resolve; every statement here names its
    schema. A schema of its own (not the sources'), so dlt does not look up a stored schema.
    """
    found = dlt.dataset(dlt_destination or destination(), dataset, schema=dlt.Schema(dataset))
    with found.destination_client as job_client:
        # dlt types the client as any destination's; the warehouse's (DuckDB, BigQuery) is SQL.
        sql_job_client = cast(SqlJobClientBase, job_client)
        yield Warehouse(sql_job_client.sql_client, found.destination_dialect, sql_job_client)


@contextmanager
def read_only_duckdb() -> Iterator[Warehouse]:
    """The DuckDB file opened read-only.

    Raises:
        WarehouseBusy: a sync holds it, naming the holder.
        WarehouseUnusable: it is not DuckDB, is damaged or is from another DuckDB version.
    """
    path = duckdb_path()
    check_file(path)
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        holder = lock_holder(error)
        if holder:
            raise WarehouseBusy(
                f"The warehouse {path} is held by {holder}; try again later."
            ) from None
        problem = unusable(error)
        if problem is None:
            raise
        raise problem from error
    try:
        yield Warehouse(_ReadOnlyClient(con), SOURCE_DIALECT)
    finally:
        con.close()


class _ReadOnlyClient:
    """A DuckDB connection of its own, with the one call of dlt's sql_client `status` reads
    through (no dlt client: it would open the file for writing)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute_sql(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()
