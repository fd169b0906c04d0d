"""How Footprints loads: days in chunks of `days_per_load`, leads merged on their id, and
the last complete day saved with each chunk's rows (the cursor), so a run killed
mid-backfill resumes from there. A re-read lead whose content hash is unchanged is skipped.
Rejected rows of the code before the one shape of `footprints.rejected` are moved into it
before the first chunk (`pipelines.sources.rejected_migration`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from dlt.common.destination import TLoaderFileFormat
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from pipelines.runtime import dlt_private, warehouse
from pipelines.runtime.loading import load_pending, make_pipeline, normalize_and_load, wait_seconds
from pipelines.runtime.progress import Progress
from pipelines.runtime.report import RunReport
from pipelines.runtime.settings import SettingError
from pipelines.sources.footprints import footprints_source
from pipelines.sources.footprints.fetch import day_chunks, fetch_chunk
from pipelines.sources.footprints.settings import FootprintsSettings
from pipelines.sources.rejected_migration import migrate_footprints


def extract(report: RunReport, progress: Progress, backfill: Any = None) -> None:
    """Footprints leads, actions, customers and reference lists into `footprints.*`.

    Days are loaded in chunks of `days_per_load`; the last complete day is saved with each
    chunk's rows, so a run killed mid-backfill resumes from there.
    """
    if backfill is not None:
        raise SettingError(
            "--start-date/--end-date",
            "only apply to infinity; Footprints re-reads sources.footprints.lookback_days",
        )
    config = FootprintsSettings.from_config()
    wait = wait_seconds()
    pipeline = make_pipeline("footprints")
    warehouse.while_warehouse_free(pipeline.sync_destination, wait)
    load_pending(pipeline)
    # Parquet, not dlt's default INSERT statements: several times faster into DuckDB. BigQuery
    # cannot load dlt's json columns (nested lists in the CRM's records) from parquet, but
    # loads them natively from jsonl.
    file_format: TLoaderFileFormat = "parquet" if warehouse.kind() == "duckdb" else "jsonl"
    migrate_footprints(pipeline, report, wait, file_format)
    client = config.client()
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    counts: Counter[str] = Counter()
    first = config.first_day(leads_cursor(pipeline.state), today)
    for number, days in enumerate(day_chunks(first, today, config.days_per_load), start=1):
        known = warehouse.while_warehouse_free(partial(known_lead_hashes, pipeline, days[0]), wait)
        chunk = fetch_chunk(
            client, config, days, known, with_references=number == 1, on_progress=progress.update
        )
        source = footprints_source(chunk, complete_through=min(days[-1], yesterday))
        warehouse.cluster_by_load([source.resources["leads"]])
        pipeline.extract(source, loader_file_format=file_format)
        loaded = normalize_and_load(pipeline, report, wait)
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


def leads_cursor(state: Mapping[str, Any]) -> date | None:
    """The last day whose leads are all loaded, from dlt state (local or restored)."""
    value = dlt_private.source_state(state, "footprints").get("leads_complete_through")
    return date.fromisoformat(value) if value else None
