"""Runs the steps of a sync: one at a time, in bounded chunks, with a summary at the end.

- A second sync while one runs exits at once: an OS lock (flock) on `sync.lock` in the
  pipelines folder, released by the kernel even when the holder is killed.
- Each chunk is extract -> normalize -> load; dlt writes the cursor into the warehouse with
  the chunk's rows, so a killed run loses at most one chunk of work and repeats no rows.
- Pending packages left by a killed run are loaded before anything new is fetched.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import SupportsPipeline
from dlt.common.storages.load_package import PackageStorage
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from pipelines import settings, warehouse
from pipelines.footprints import (
    FootprintsSettings,
    day_chunks,
    fetch_chunk,
    footprints_source,
    leads_cursor,
)
from pipelines.infinity import (
    ROUTES,
    Backfill,
    InfinitySettings,
    TriggerClient,
    infinity_source,
    route_resource_name,
    route_table,
)
from pipelines.model_settings import ModelSettings
from pipelines.models import InputsMissing, ModelRun, build_models
from pipelines.progress import Progress
from pipelines.push import PushFailed, check_settings, push
from pipelines.settings import SyncError

log = logging.getLogger("pipelines")

SOURCES = ("infinity", "footprints")  # the order `sync` extracts them in
SETTINGS = {"infinity": InfinitySettings, "footprints": FootprintsSettings}
# A source none of whose keys is set is not in use: `sync` skips it and says so. One with
# some keys set is in use, and a missing one fails the run before any request.
IDENTIFYING_KEYS = {
    "infinity": ("igrp", "username", "password", "api_key"),
    "footprints": ("base_url", "client_key", "client_secret"),
}


# loaded packages kept in dlt's working folder, per pipeline (see forget_loaded_packages)
KEPT_LOADED_PACKAGES = 10


class SyncBusy(SyncError):
    """Another sync holds the lock."""


@dataclass
class RunReport:
    """What a run did, for the closing summary and the run log."""

    command: str
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    rows: Counter[str] = field(default_factory=Counter)
    repaired: int = 0
    cursors: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None  # "settings", "busy" or "failed"

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def summary(self) -> str:
        """One paragraph an operator can read at 3 a.m."""
        loaded = sum(n for t, n in self.rows.items() if not t.endswith("rejected"))
        rejected_tables = sorted(t for t, n in self.rows.items() if t.endswith("rejected") and n)
        rejected = sum(self.rows[t] for t in rejected_tables)
        tables = ", ".join(f"{t} {n:,}" for t, n in sorted(self.rows.items())) or "none"
        head = (
            f"{self.command} FAILED after {self.seconds:.1f} s: {self.error}"
            if self.error
            else f"{self.command} finished in {self.seconds:.1f} s."
        )
        parts = [head, f"Rows loaded: {loaded:,} ({tables})."]
        if rejected:
            parts.append(
                f"{rejected:,} unreadable row(s) set aside in {', '.join(rejected_tables)} "
                "(raw text kept; see `python -m pipelines status`)."
            )
        else:
            parts.append("No rows rejected.")
        if self.repaired:
            parts.append(f"{self.repaired:,} line(s) with unescaped JSON repaired.")
        if self.cursors:
            parts.append(
                "Cursors: " + ", ".join(f"{r} at rowId {v}" for r, v in self.cursors.items()) + "."
            )
        parts += self.notes
        if self.error:
            parts.append("Everything loaded before the failure is kept; the next run resumes.")
        return " ".join(parts)

    def fail(self, error: BaseException) -> None:
        self.error = describe(error)
        cause = find_cause(error, (settings.SettingError, warehouse.WarehouseBusy, SyncBusy))
        if isinstance(cause, settings.SettingError):
            self.error_kind = "settings"
        elif cause is not None:
            self.error_kind = "busy"
        else:
            self.error_kind = "failed"

    def as_record(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 3),
            "status": "failed" if self.error else "ok",
            "rows": dict(self.rows),
            "repaired": self.repaired,
            "cursors": self.cursors,
            "notes": self.notes,
            "error": self.error,
        }


def pipelines_dir() -> Path:
    """dlt's working folder (load packages, local state) and the sync lock live here."""
    path = Path(settings.resolve(settings.SyncConfig).pipelines_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def sync_lock() -> Iterator[None]:
    """Hold the one-sync-at-a-time lock, or raise `SyncBusy` at once."""
    path = pipelines_dir() / "sync.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise SyncBusy(
                f"Another sync is already running ({holder}); this one exits without "
                "touching anything. It will pick up where that one stops."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()


def record_run(report: RunReport) -> None:
    """Append the run to runs.jsonl, which `status` reads for 'last run'."""
    with open(pipelines_dir() / "runs.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(report.as_record()) + "\n")


def make_pipeline(name: str) -> SupportsPipeline:
    # Arrow tables (Infinity's) get the `_dlt_load_id` of the load that wrote each row too, as
    # dict rows always do: the incremental model build tells changed rows by it.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    # A loaded package's data files are in the warehouse by then; dlt keeps them otherwise.
    dlt.config["load.delete_completed_jobs"] = True
    return dlt.pipeline(
        pipeline_name=name,
        destination=warehouse.destination(),
        dataset_name=name,
        pipelines_dir=str(pipelines_dir()),
    )


def _wait_seconds() -> float:
    spec = settings.SyncConfig
    wait = settings.resolve(spec).warehouse_wait_seconds
    return float(settings.bounded(spec, "warehouse_wait_seconds", wait, minimum=0))


def _load_pending(pipeline: Any, report: RunReport) -> None:
    """Finish what a killed or failed run left behind, before fetching anything new."""
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    if pipeline.list_normalized_load_packages():
        log.info("%s: loading packages left by an earlier run", pipeline.pipeline_name)
        warehouse.while_warehouse_free(pipeline.load, _wait_seconds())


def extract_infinity(report: RunReport, progress: Progress, backfill: Backfill | None) -> None:
    """Infinity triggers into `infinity.*`, chunk by chunk until every route is drained."""
    config = InfinitySettings.from_config()
    pages_per_load = config.pages_per_load
    wait = _wait_seconds()
    pipeline = make_pipeline("infinity")
    warehouse.while_warehouse_free(pipeline.sync_destination, wait)
    if warehouse.kind() == "duckdb":
        # BigQuery load jobs are atomic and dlt finds a started one again by its job id.
        warehouse.while_warehouse_free(partial(_undo_uncertain_row_copies, pipeline), wait)
    _load_pending(pipeline, report)
    client = TriggerClient(config)
    try:
        # Routes overlap (`calls` is inside `all`) and dlt's upsert does not de-duplicate rows
        # within one load package, so each route is loaded in packages of its own.
        for route in config.routes:
            chunk = 0
            more: list[int] = []  # the rowId the last chunk stopped after, when it did
            while chunk == 0 or more:
                chunk += 1
                # A backfill has no cursor to resume from: it continues from the last chunk.
                after = more[-1] if backfill and more else None
                more.clear()
                # Rows above everything in the table cannot be updates: appending them skips
                # dlt's staging copy and MERGE, half the load time. A backfill merges.
                append_above = (
                    None
                    if backfill
                    else warehouse.while_warehouse_free(
                        partial(_append_floor, pipeline, route), wait
                    )
                )
                source = infinity_source(
                    replace(config, routes=(route,)),
                    max_pages=pages_per_load,
                    backfill=backfill,
                    on_page=progress.page,
                    on_more_pending=more.append,
                    client=client,
                    append_above=append_above,
                    after=after,
                )
                warehouse.cluster_by_load(source.resources.values())
                pipeline.extract(source)
                counts = _normalize_and_load(pipeline, report, wait)
                report.cursors = infinity_cursors(pipeline.state)
                loaded = ", ".join(f"{t} {n:,}" for t, n in counts.items()) or "no new rows"
                progress.step(f"infinity/{route}: chunk {chunk} loaded: {loaded}")
    finally:
        client.close()


def _append_floor(pipeline: Any, route: str) -> int | None:
    """The highest row_id in the route's table (-1 if none) when the route's cursor is at or
    above it, so every row the route can still fetch is new; None when it is not."""
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(route_table(route))
        try:
            ((highest,),) = client.execute_sql(f"select max(row_id) from {table}")
        except DatabaseUndefinedRelation:
            highest = None
    highest = -1 if highest is None else int(highest)
    resources = pipeline.state.get("sources", {}).get("infinity", {}).get("resources", {})
    incremental = resources.get(route_resource_name(route), {}).get("incremental", {})
    cursor = int(incremental.get("row_id", {}).get("last_value") or 0)
    return highest if cursor >= highest else None


def _undo_uncertain_row_copies(pipeline: Any) -> None:
    """Delete rows that a killed load may have committed without dlt recording it.

    dlt re-runs a load job that was started but not recorded as finished. A job that copies a
    file of rows is not idempotent: killed after DuckDB committed the copy but before dlt
    recorded it, the re-run would insert the rows a second time. In Infinity's packages the
    file's row_ids are found nowhere else in the job's target (an appended chunk is above the
    table's highest row_id; a merged one is copied to a staging table emptied for its
    package), so deleting them there first makes the re-run load each row exactly once.
    """
    row_tables = {route_table(route) for route in ROUTES}
    for load_id in pipeline.list_normalized_load_packages():
        package = pipeline.get_load_package_info(load_id)
        for job in package.jobs.get("started_jobs", []):
            name = job.job_file_info.table_name
            if name not in row_tables or job.job_file_info.file_format != "parquet":
                continue
            # dlt writes this marker once it knows the job's outcome, and then never re-runs it.
            marker = Path(
                package.package_path,
                PackageStorage.PENDING_TRANSITIONS_FOLDER,
                Path(job.file_path).name,
            )
            if marker.exists():
                continue
            staging = package.schema.tables[name].get("write_disposition") == "merge"
            with pipeline.sql_client() as client:
                with client.with_staging_dataset() if staging else nullcontext():
                    table = client.make_qualified_table_name(name)
                source = str(job.file_path).replace("'", "''")
                client.execute_sql(
                    f"delete from {table} where row_id in "
                    f"(select row_id from read_parquet('{source}'))"
                )
            log.info("infinity: re-running an interrupted copy into %s exactly once", table)


def infinity_cursors(state: dict[str, Any]) -> dict[str, int]:
    """route resource -> last loaded rowId, from dlt state (local or restored)."""
    resources = state.get("sources", {}).get("infinity", {}).get("resources", {})
    cursors = {}
    for name, resource_state in resources.items():
        value = resource_state.get("incremental", {}).get("row_id", {}).get("last_value")
        if value is not None:
            cursors[name.removeprefix("route_")] = int(value)
    return cursors


def extract_footprints(report: RunReport, progress: Progress) -> None:
    """Footprints leads, actions, customers and reference lists into `footprints.*`.

    Days are loaded in chunks of `days_per_load`; the last complete day is saved with each
    chunk's rows, so a run killed mid-backfill resumes from there.
    """
    config = FootprintsSettings.from_config()
    wait = _wait_seconds()
    pipeline = make_pipeline("footprints")
    warehouse.while_warehouse_free(pipeline.sync_destination, wait)
    _load_pending(pipeline, report)
    client = config.client()
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    counts: Counter[str] = Counter()
    first = config.first_day(leads_cursor(pipeline.state), today)
    # Parquet, not dlt's default INSERT statements: several times faster into DuckDB. BigQuery
    # cannot load dlt's json columns (nested lists in the CRM's records) from parquet, but
    # loads them natively from jsonl.
    file_format = "parquet" if warehouse.kind() == "duckdb" else "jsonl"
    for number, days in enumerate(day_chunks(first, today, config.days_per_load), start=1):
        known = warehouse.while_warehouse_free(partial(known_lead_hashes, pipeline, days[0]), wait)
        chunk = fetch_chunk(
            client, config, days, known, with_references=number == 1, on_progress=progress.update
        )
        source = footprints_source(chunk, complete_through=min(days[-1], yesterday))
        warehouse.cluster_by_load([source.resources["leads"]])
        pipeline.extract(source, loader_file_format=file_format)
        loaded = _normalize_and_load(pipeline, report, wait)
        counts += chunk.counts
        described = ", ".join(f"{t} {n:,}" for t, n in loaded.items()) or "no new rows"
        progress.step(f"footprints: {days[0]} to {days[-1]} loaded: {described}")
    cursor = leads_cursor(pipeline.state)
    report.notes.append(
        f"Footprints: leads complete through {cursor or 'no day yet'}, "
        f"{counts['leads_unchanged']:,} re-read lead(s) unchanged, "
        f"{counts['customer_lookups_skipped']:,} lead(s) without email or phone not looked up "
        f"as customers, {counts['customers_not_found']:,} customer lookup(s) found no profile, "
        f"{client.requests_made:,} requests."
    )


def _normalize_and_load(pipeline: Any, report: RunReport, wait: float) -> dict[str, int]:
    """Normalize and load the extracted package; rows per table, also added to the report."""
    counts = {
        table: rows
        for table, rows in pipeline.normalize().row_counts.items()
        if not table.startswith("_dlt")
    }
    warehouse.while_warehouse_free(pipeline.load, wait)
    forget_loaded_packages(pipeline)
    for table, rows in counts.items():
        report.rows[f"{pipeline.dataset_name}.{table}"] += rows
    return counts


def forget_loaded_packages(pipeline: Any, keep: int = KEPT_LOADED_PACKAGES) -> None:
    """Delete all but the newest `keep` loaded packages from dlt's working folder.

    dlt keeps every loaded package (its schema, state and list of jobs, about 30 KB each even
    without the data files): every 15 minutes, gigabytes a year. The newest are kept for
    whoever investigates a recent load.
    """
    storage = pipeline._get_load_storage()  # dlt has no public call that deletes a loaded package
    for load_id in sorted(storage.list_loaded_packages(), key=float)[:-keep]:
        storage.delete_loaded_package(load_id)


def known_lead_hashes(pipeline: Any, since: date) -> dict[str, str]:
    """id -> content hash of the loaded leads created since `since` (or with no readable date)."""
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("leads")
        try:
            rows = client.execute_sql(
                f"select id, content_hash from {table} "
                f"where created_at >= '{since.isoformat()}' or created_at is null"
            )
        except DatabaseUndefinedRelation:
            return {}
    return {str(lead_id): str(content_hash) for lead_id, content_hash in rows or []}


def run(
    command: str,
    *,
    sources: tuple[str, ...] | None = None,
    backfill: Backfill | None = None,
    models: bool = False,
    full_models: bool = False,
    targets: tuple[str, ...] = (),
    dry_run: bool = False,
) -> RunReport:
    """Run `sync`, one `extract`, `models` or `push` under the lock; the report says what happened.

    Args:
        sources: The sources to extract; None means every configured one (`sync`).
        models: Build the SQL models after extracting. With `sources=None`, only when every
            source is configured, since the models read both.
        full_models: Build every model in full, not only the leads changed since the last build.
        targets: Push the outbound rows to these targets last (unconfigured ones are skipped).
            In a `sync`, only after the models were built.
        dry_run: Push sends nothing and writes the requests it would make to files.

    Raises `SyncBusy` when another sync holds the lock; every other failure is recorded in
    the report (and in runs.jsonl) so the summary can say what was loaded before it.
    """
    report = RunReport(command)
    progress = Progress()
    with sync_lock():
        try:
            if sources is None:
                sources = _configured_sources(report)
                if models and sources != SOURCES:
                    models = False
                    report.notes.append("Models skipped: they read both sources.")
            # Every setting of every step is checked before the first request.
            for source in sources:
                SETTINGS[source].from_config()
            if models:
                ModelSettings.from_config()
            check_settings(targets)
            warehouse.while_warehouse_free(warehouse.probe_free, _wait_seconds())
            failed = extract_sources(report, progress, sources, backfill)
            if failed is not None:
                if models or targets:
                    report.notes.append(
                        "Models and push skipped: they wait for a sync in which every source "
                        "loads, so no conversion is sent without its calls."
                    )
                raise failed
            built = build_models_step(report, progress, full_models) if models else False
            if targets and (built or not models):
                push_step(report, progress, targets, dry_run)
            elif targets:
                report.notes.append("Push skipped: the models were not built.")
        except Exception as error:
            log.debug("run failed", exc_info=True)
            report.fail(error)
        finally:
            report.repaired = progress.repaired
            record_run(report)
    return report


class SourcesFailed(SyncError):
    """More than one source failed in one run; the message names each."""


def extract_sources(
    report: RunReport, progress: Progress, sources: tuple[str, ...], backfill: Backfill | None
) -> BaseException | None:
    """Extract every source in turn; one that fails does not keep the others from loading.

    Returns what failed (None when every source loaded), for the caller to raise after the
    rest ran. A warehouse held by another process is raised at once: every later source
    would wait for the same file.
    """
    failures: dict[str, BaseException] = {}
    for source in sources:
        try:
            if source == "infinity":
                extract_infinity(report, progress, backfill)
            else:
                extract_footprints(report, progress)
        except Exception as error:
            if find_cause(error, (warehouse.WarehouseBusy,)) is not None:
                raise
            failures[source] = error
            if source != sources[-1]:
                log.error("%s failed, going on with the other sources: %s", source, describe(error))
    if len(failures) > 1:
        # Each message names its source already.
        messages = [describe(error).rstrip(".") + "." for error in failures.values()]
        return SourcesFailed(
            f"{len(failures)} sources failed. "
            + " ".join(f"{n}) {message}" for n, message in enumerate(messages, start=1))
        )
    return next(iter(failures.values()), None)


def build_models_step(report: RunReport, progress: Progress, full: bool = False) -> bool:
    """The SQL models in sql/, on the warehouse the sources loaded into; False if skipped."""

    def built(run: ModelRun) -> None:
        progress.step(f"models: {run.table} {run.rows:,} rows in {run.seconds:.2f} s")

    try:
        result = warehouse.while_warehouse_free(
            partial(build_models, on_model=built, full=full), _wait_seconds()
        )
    except InputsMissing as missing:
        if report.command.startswith("models"):
            raise
        # A source with no rows yet (a new account) is not a failed sync.
        report.notes.append(f"Models skipped: {missing}.")
        return False
    report.notes.append(result.summary())
    return True


def push_step(
    report: RunReport, progress: Progress, targets: tuple[str, ...], dry_run: bool
) -> None:
    """Deliver the outbound rows; fails the run when something was not delivered."""
    result = warehouse.while_warehouse_free(
        partial(push, targets, dry_run=dry_run, on_progress=progress.update), _wait_seconds()
    )
    report.notes.append(result.summary())
    if result.problem:
        raise PushFailed("not everything was delivered (see Push below)")


def _configured_sources(report: RunReport) -> tuple[str, ...]:
    configured = tuple(
        source
        for source in SOURCES
        if settings.any_set(f"sources.{source}.{key}" for key in IDENTIFYING_KEYS[source])
    )
    if not configured:
        raise settings.SettingError(
            "sources.infinity.igrp",
            "and every other source setting are missing: nothing is configured to sync "
            "(see .dlt/example.secrets.toml)",
        )
    for source in SOURCES:
        if source not in configured:
            keys = ", ".join(f"sources.{source}.{key}" for key in IDENTIFYING_KEYS[source])
            report.notes.append(f"{source.capitalize()} is not configured ({keys}): skipped.")
            log.info("%s is not configured: skipped", source)
    return configured


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def find_cause(error: BaseException, kinds: tuple[type, ...]) -> BaseException | None:
    """The first exception of one of `kinds` in the chain dlt wrapped around it."""
    return next((e for e in _chain(error) if isinstance(e, kinds)), None)


def describe(error: BaseException) -> str:
    """The operator-facing message of an error: ours when we raised one, else the root cause."""
    ours = find_cause(error, (SyncError, settings.SettingError))
    if ours is not None:
        return str(ours)
    root = list(_chain(error))[-1]
    return f"{type(root).__name__}: {root}"
