"""The load mechanics every source shares: its dlt pipeline, packages left by a killed run,
normalize-and-load of one chunk, and keeping dlt's working folder small.

Each chunk is extract -> normalize -> load; dlt writes the cursor into the warehouse with
the chunk's rows, so a killed run loses at most one chunk of work and repeats no rows.
Pending packages left by a killed run are loaded before anything new is fetched.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dlt

from pipelines.runtime import dlt_private, settings, warehouse
from pipelines.runtime.report import RunReport

log = logging.getLogger("pipelines")

# loaded packages kept in dlt's working folder, per pipeline (see forget_loaded_packages)
KEPT_LOADED_PACKAGES = 10


def pipelines_dir() -> Path:
    """dlt's working folder (load packages, local state) and the sync lock live here."""
    path = Path(settings.resolve(settings.SyncConfig).pipelines_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_pipeline(name: str) -> dlt.Pipeline:
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


def wait_seconds() -> float:
    spec = settings.SyncConfig
    wait = settings.resolve(spec).warehouse_wait_seconds
    return float(settings.bounded(spec, "warehouse_wait_seconds", wait, minimum=0))


def load_pending(pipeline: Any) -> None:
    """Finish what a killed or failed run left behind, before fetching anything new."""
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    if pipeline.list_normalized_load_packages():
        log.info("%s: loading packages left by an earlier run", pipeline.pipeline_name)
        warehouse.while_warehouse_free(pipeline.load, wait_seconds())


def normalize_and_load(pipeline: Any, report: RunReport, wait: float) -> dict[str, int]:
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
    dlt_private.delete_loaded_packages(pipeline, keep)
