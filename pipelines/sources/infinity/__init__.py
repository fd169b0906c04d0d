"""Infinity Reports API v2 triggers (call tracking) as a dlt source.

Reference: ../shared/api-docs/infinity-reports-api-v2-triggers.txt. Quirks handled here:
- Keyset paging only: `sort[]=rowId-asc`, `filter[]=rowId-gt-value-<last>`, `limit<=10000`,
  until a page comes back empty. rowIds do not start at 1, have gaps, and `triggerDatetime`
  is out of order with them, so rowId is the only safe cursor.
- Every value arrives as a string, rowId included; it is compared as an integer (as text
  "10" < "9" and rows are silently skipped).
- `format=json` is one object per line, and lines can be invalid JSON (the reference's own
  sample embeds a JSON array in `notes` unescaped): such lines are repaired or set aside in
  `infinity.rejected`, never dropped (see `pipelines.sources.infinity.ndjson`).
- v2 authenticates with HTTP basic, v2.1 with `Authorization: ApiKey <key>`; simple errors
  come back as a bare JSON string.
- Custom fields (`pt_*` pass-through, `c_*` variables) vary by account: kept as text columns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TUpsertStrategyDict

from pipelines.runtime import dlt_private
from pipelines.runtime.progress import PageReport
from pipelines.runtime.settings import SyncError
from pipelines.sources import rejected
from pipelines.sources.infinity.client import RowIdPaginator, TriggerClient, TriggerPage
from pipelines.sources.infinity.columns import (
    ITEMISED_CALL_COLUMNS,
    NAMING,
    TRIGGER_COLUMNS,
    rejected_row_id,
    split_rows_without_id,
)
from pipelines.sources.infinity.ndjson import BrokenLine
from pipelines.sources.infinity.settings import Backfill, InfinitySettings

UPSERT: TUpsertStrategyDict = {"disposition": "merge", "strategy": "upsert"}

# dlt's incremental reads its cursor column in every Arrow item of the resource, rejected rows
# included: they pass it with an empty one (a NULL neither moves the cursor nor is filtered
# out), removed again right after it.
_CURSOR = pa.field("row_id", pa.int64())


T = TypeVar("T")


def infinity_source(
    config: InfinitySettings | None = None,
    max_pages: int | None = None,
    backfill: Backfill | None = None,
    on_page: Callable[[PageReport], None] | None = None,
    on_more_pending: Callable[[int], None] | None = None,
    client: TriggerClient | None = None,
    append_above: int | None = None,
    after: int | None = None,
) -> Any:
    """The `infinity` dlt source: one resource per configured route, keyed on `row_id`.

    Settings are read and checked here, before any request, rather than by dlt's injection,
    so a bad value fails with its key and environment variable named.

    Args:
        config: validated settings; read from config when omitted.
        max_pages: stop each route after this many pages, so a long backfill is loaded (and
            its cursor saved) in bounded chunks; `on_more_pending` is called when it stopped.
        backfill: re-read a date range without moving the cursors.
        on_page: progress callback, called after every page.
        on_more_pending: called when a route stopped at `max_pages` with pages left, with
            the rowId it stopped after.
        client: the HTTP client to reuse across calls; a new one when omitted.
        append_above: for a single route, the highest row_id already in its table (-1 when
            it is empty). Rows are then appended instead of merged, which is only right when
            every row the run can fetch is above it: the cursor must be at or above it
            (checked), and no backfill. (Routes overlap, so two in one load would repeat rows.)
        after: start after this rowId if the cursor is below it. A backfill has no cursor,
            so this is how its next chunk continues where the last one stopped.
    """
    config = config or InfinitySettings.from_config()
    if append_above is not None and (backfill is not None or len(config.routes) != 1):
        raise ValueError("only one route, and no backfill, can be appended")
    client = client or TriggerClient(config)
    resources = [
        _route_resource(
            client, route, max_pages, backfill, on_page, on_more_pending, append_above, after
        )
        for route in config.routes
    ]

    @dlt.source(name="infinity", max_table_nesting=0)
    def infinity() -> Any:
        return resources

    return infinity()


def route_table(route: str) -> str:
    """The table a route's rows land in."""
    return "itemised_calls" if route == "itemisedCalls" else "triggers"


def route_resource_name(route: str) -> str:
    """The dlt resource (and cursor) name of a route."""
    return f"route_{NAMING.normalize_identifier(route)}"


def route_endpoint(route: str) -> str:
    """The request a route's rows come from, as `infinity.rejected` names it."""
    return f"GET /triggers/{route}"


def rejected_rows(route: str, lines: list[BrokenLine]) -> list[dict[str, Any]]:
    """`infinity.rejected` rows for the lines of a route's page that could not be loaded."""
    fetched_at = datetime.now(UTC)
    rows = []
    for line in lines:
        row_id = rejected_row_id(line.text)
        row_key = None if row_id is None else str(row_id)
        rows.append(
            rejected.rejected_row(
                "infinity", route_endpoint(route), line.text, line.error, row_key, fetched_at
            )
        )
    return rows


def _route_resource(
    client: TriggerClient,
    route: str,
    max_pages: int | None,
    backfill: Backfill | None,
    on_page: Callable[[PageReport], None] | None,
    on_more_pending: Callable[[int], None] | None,
    append_above: int | None,
    start_after: int | None,
) -> Any:
    table_name = route_table(route)
    params: dict[str, Any] = {
        "format": "json",
        "sort[]": "rowId-asc",
        "limit": client.config.page_size,
    }
    if backfill:
        params.update(
            startDate=backfill.start_date.isoformat(),
            endDate=backfill.end_date.isoformat(),
            tz=backfill.tz,
        )
    # A backfill gives the incremental an end value: dlt then keeps its state out of the run.
    cursor = dlt.sources.incremental(
        "row_id",
        initial_value=0,
        end_value=2**63 - 1 if backfill else None,
        range_start="open",
        on_cursor_value_missing="include",
    )

    def fetch(row_id: dlt.sources.incremental[int] = cursor) -> Iterator[Any]:
        after = max(int(row_id.start_value or 0), start_after or 0)
        if append_above is not None and after < append_above:
            raise SyncError(
                f"Infinity route {route}: cannot append from rowId {after}, the table already "
                f"holds rows up to {append_above}"
            )
        paginator = RowIdPaginator(after=after)

        def pages() -> Iterator[tuple[TriggerPage, bool]]:
            # Runs ahead in a thread: has_next_page is read here, as each page arrives.
            for number, page_data in enumerate(
                client.paginate(
                    f"triggers/{route}",
                    params=dict(params),
                    paginator=paginator,
                    data_selector="$",  # never used: `extract_response` reads the NDJSON itself
                    hooks={"response": []},  # statuses are checked in extract_response
                ),
                start=1,
            ):
                yield page_data[0], paginator.has_next_page
                if max_pages and number >= max_pages:
                    return

        for number, (page, more) in enumerate(_prefetched(pages()), start=1):
            table, without_id = split_rows_without_id(client.type_page(page))
            set_aside = rejected_rows(route, page.broken + without_id)
            if table.num_rows:
                yield table
            if set_aside:
                # As Arrow, like the rows: dlt keeps one cursor per item type and saves the
                # last one to run, so a page ending in a dict of a low rowId moved it back.
                yield dlt.mark.with_table_name(
                    _with_empty_cursor(rejected.as_arrow(set_aside)), rejected.TABLE
                )
            if on_page:
                on_page(
                    PageReport(
                        route, table.num_rows, len(set_aside), page.repaired, page.last_row_id
                    )
                )
            if max_pages and number >= max_pages and more:
                if on_more_pending and page.last_row_id is not None:
                    on_more_pending(page.last_row_id)
                return

    resource = dlt.resource(
        fetch,
        name=route_resource_name(route),
        table_name=table_name,
        primary_key="row_id",
        write_disposition="append" if append_above is not None else UPSERT,
        columns=ITEMISED_CALL_COLUMNS if table_name == "itemised_calls" else TRIGGER_COLUMNS,
    )
    rejected.add_variant(resource)
    dlt_private.map_after_incremental(resource, _without_empty_cursor)
    return resource


def _with_empty_cursor(table: pa.Table) -> pa.Table:
    return table.append_column(_CURSOR, pa.nulls(table.num_rows, _CURSOR.type))


def _without_empty_cursor(item: pa.Table) -> pa.Table:
    if "rejected_id" in item.column_names:
        return item.drop_columns([_CURSOR.name])
    return item


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def _prefetched(items: Iterator[T], poll_seconds: float = 0.1) -> Iterator[T]:
    """`items`, produced by a background thread at most two items ahead of the consumer.

    While a page is typed and written, the next is fetched and parsed: the wait for the API,
    its own work and Arrow's parser (which releases the GIL) overlap with ours. An error in
    the thread is raised in the consumer; when the consumer stops early, the thread finishes
    the item in hand and stops.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=poll_seconds)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Failed(error))
        finally:
            close = getattr(items, "close", None)
            if close:
                close()

    producer = threading.Thread(target=produce, name="infinity-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        producer.join()
