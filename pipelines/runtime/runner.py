"""Runs the steps of a sync in order, under the lock, and collects what each did.

`sync` extracts every configured source (each source owns how it loads: `sources/*/load.py`),
builds the models, checks the data-quality gates (`pipelines.quality`), then pushes; a run ends
with one summary and its row in the run history (`runtime/history`: runs.jsonl, then
`ops.runs`), and a sync's change of state is alerted (`runtime/alerts.py`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial

from pipelines import quality
from pipelines.models.build import InputsMissing, ModelRun, build_models
from pipelines.models.settings import ModelSettings
from pipelines.push import PushFailed, check_settings, push
from pipelines.runtime import alerts, history, settings, storage, warehouse
from pipelines.runtime.loading import wait_seconds
from pipelines.runtime.lock import sync_lock
from pipelines.runtime.progress import Progress
from pipelines.runtime.report import RunReport, describe, find_cause, known_problem
from pipelines.runtime.settings import SyncError
from pipelines.sources.footprints import load as footprints_load
from pipelines.sources.footprints.settings import FootprintsSettings
from pipelines.sources.infinity import load as infinity_load
from pipelines.sources.infinity.settings import Backfill, InfinitySettings

log = logging.getLogger("pipelines")

SOURCES = ("infinity", "footprints")  # the order `sync` extracts them in
# Each source checks its settings before any request, and loads itself in its own way.
SETTINGS: dict[str, type[InfinitySettings] | type[FootprintsSettings]] = {
    "infinity": InfinitySettings,
    "footprints": FootprintsSettings,
}
EXTRACT = {"infinity": infinity_load.extract, "footprints": footprints_load.extract}
# A source none of whose keys is set is not in use: `sync` skips it and says so. One with
# some keys set is in use, and a missing one fails the run before any request.
IDENTIFYING_KEYS = {
    "infinity": ("igrp", "username", "password", "api_key"),
    "footprints": ("base_url", "client_key", "client_secret"),
}


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

    Raises `SyncBusy` when another sync holds the lock (the run is recorded as `busy` first);
    every other failure is recorded in the report (and the run history) so the summary can
    say what was loaded before it.
    """
    report = RunReport(command)
    progress = Progress()
    # The scheduled command: its data is gated and its changes of state alerted.
    scheduled = command == "sync"
    with history.busy_recorded(report), sync_lock():
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
            if scheduled:
                quality.check_settings()
                alerts.check_settings()
            storage.require()
            warehouse.while_warehouse_free(warehouse.probe_free, wait_seconds())
            failed = extract_sources(report, progress, sources, backfill)
            if failed is not None:
                if models or targets:
                    report.notes.append(
                        "Models and push skipped: they wait for a sync in which every source "
                        "loads, so no conversion is sent without its calls."
                    )
                raise failed
            built = build_models_step(report, progress, full_models) if models else False
            held = scheduled and quality.gate_run(report, sources, built, targets)
            if targets and models and not built:
                report.notes.append("Push skipped: the models were not built.")
            elif targets and held:
                report.notes.append(quality.HELD)
            elif targets:
                push_step(report, progress, targets, dry_run)
        except Exception as error:
            log.debug("run failed", exc_info=True)
            report.fail(error)
        finally:
            report.repaired = progress.repaired
            report.finished_at = datetime.now(UTC).isoformat()
            history.record(report)
            if scheduled:
                alerts.notify(report)
    return report


class SourcesFailed(SyncError):
    """More than one source failed in one run; the message names each."""


def extract_sources(
    report: RunReport, progress: Progress, sources: tuple[str, ...], backfill: Backfill | None
) -> BaseException | None:
    """Extract every source in turn; one that fails does not keep the others from loading.

    Returns what failed (None when every source loaded), for the caller to raise after the
    rest ran. A warehouse held by another process, unusable, or a full or unwritable folder
    is raised at once: every later source would meet the same.
    """
    failures: dict[str, BaseException] = {}
    for source in sources:
        try:
            EXTRACT[source](report, progress, backfill)
        except Exception as error:
            if find_cause(error, (warehouse.WarehouseBusy,)) or known_problem(error):
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
        rows = "" if run.rows is None else f" {run.rows:,} rows"  # a report is not counted
        progress.step(f"models: {run.table}{rows} in {run.seconds:.2f} s")

    try:
        result = warehouse.while_warehouse_free(
            partial(build_models, on_model=built, full=full), wait_seconds()
        )
    except InputsMissing as missing:
        if report.command.startswith("models"):
            raise
        # A source with no rows yet (a new account) is not a failed sync.
        report.notes.append(f"Models skipped: {missing}.")
        return False
    report.model_mode, report.model_reason = result.mode, result.reason
    report.notes.append(result.summary())
    return True


def push_step(
    report: RunReport, progress: Progress, targets: tuple[str, ...], dry_run: bool
) -> None:
    """Deliver the outbound rows; fails the run when something was not delivered."""
    result = warehouse.while_warehouse_free(
        partial(push, targets, dry_run=dry_run, on_progress=progress.update, run_id=report.run_id),
        wait_seconds(),
    )
    report.push = {target.target: target.counts() for target in result.targets}
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
