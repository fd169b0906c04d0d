"""Where the data lands: the DuckDB file by default, or BigQuery; and waiting for a held file.

`sync.warehouse` chooses: `duckdb` (default, `destination.duckdb.credentials` is the file) or
`bigquery` (dlt's standard `destination.bigquery.*` settings: credentials, project, location).
Nothing else changes: the same datasets, models and ledger.

DuckDB lets one process hold a database file for writing, and an analyst's open session
(even read-only) blocks the sync. Rather than fail with a stack trace, a run waits a bounded,
configurable time (`sync.warehouse_wait_seconds`) and then names the process holding it.
BigQuery has no such lock: there the wait is never needed.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import dlt
import duckdb

from pipelines.runtime import settings
from pipelines.runtime.settings import Busy

CREDENTIALS_KEY = "destination.duckdb.credentials"
WAREHOUSE_KEY = "sync.warehouse"
WAREHOUSES = ("duckdb", "bigquery")
# google-cloud-bigquery's own convention for an emulator (http://host:port): with it set, the
# client talks to the emulator, which wants a token but checks none.
EMULATOR_HOST = "BIGQUERY_EMULATOR_HOST"
LOAD_ID = "_dlt_load_id"
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+?\(PID \d+\))")
log = logging.getLogger(__name__)
T = TypeVar("T")


class WarehouseBusy(Busy):
    """The warehouse file stayed locked by another process for the whole wait."""


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
    """Open and close the file once, so a held warehouse is noticed before any request."""
    if kind() != "duckdb":
        return
    path = duckdb_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(path)).close()
