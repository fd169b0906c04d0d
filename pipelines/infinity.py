"""Infinity Reports API v2 triggers (call tracking) as a dlt source.

Reference: ../shared/api-docs/infinity-reports-api-v2-triggers.txt. Quirks handled here:
- Keyset paging only: `sort[]=rowId-asc`, `filter[]=rowId-gt-value-<last>`, `limit<=10000`,
  until a page comes back empty. rowIds do not start at 1, have gaps, and `triggerDatetime`
  is out of order with them, so rowId is the only safe cursor.
- Every value arrives as a string, rowId included; it is compared as an integer (as text
  "10" < "9" and rows are silently skipped).
- `format=json` is one object per line, and lines can be invalid JSON (the reference's own
  sample embeds a JSON array in `notes` unescaped): such lines are repaired or set aside in
  `triggers_rejected`, never dropped (see `pipelines.ndjson`).
- v2 authenticates with HTTP basic, v2.1 with `Authorization: ApiKey <key>`; simple errors
  come back as a bare JSON string.
- Custom fields (`pt_*` pass-through, `c_*` variables) vary by account: kept as text columns.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import dlt
import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import APIKeyAuth, HttpBasicAuth
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from pipelines import settings
from pipelines.http import retrying_session
from pipelines.ndjson import BrokenLine, ParsedPage, parse_page
from pipelines.phones import e164_array
from pipelines.settings import SettingError, SyncError

ROUTES = (
    "all",
    "calls",
    "goals",
    "transactions",
    "callsGoalsTransactions",
    "users",
    "touchPoints",
    "visits",
    "itemisedCalls",
)
ROW_CAP = 10_000
UPSERT = {"disposition": "merge", "strategy": "upsert"}

# API field -> DuckDB type; everything else stays text. A value that does not cast is kept,
# verbatim, in `invalid_values` instead of being lost.
_DURATIONS = ("callDuration", "bridgeDuration", "ringTime", "ivrDuration", "queueDuration")
_MONEY = ("txv", "goalValue", "callCharge", "perMinuteCharge")
_FLAGS = (
    "goal",
    "rec",
    "callPciDataChecked",
    "callPciDataFound",
    "callSsnDataChecked",
    "callSsnDataFound",
    "callPiiDataChecked",
    "callPiiDataFound",
    "callKeywordSpotting",
    "callTranscription",
)
_COUNTS = (
    "visitorPageCount",
    "visitorGoalCount",
    "visitorCallCount",
    "lands",
    "leadScore",
    "transcriptionConfidence",
    "totalKeywordScore",
    "totalOperatorKeywordScore",
    "totalContactKeywordScore",
    "operatorPositiveKeywordCount",
    "operatorNeutralKeywordCount",
    "operatorNegativeKeywordCount",
    "contactPositiveKeywordCount",
    "contactNeutralKeywordCount",
    "contactNegativeKeywordCount",
)
TYPED_FIELDS: dict[str, str] = {
    "rowId": "BIGINT",
    "triggerDatetime": "TIMESTAMP",
    "visitorFirstDatetime": "TIMESTAMP",
    "lat": "DOUBLE",
    "long": "DOUBLE",
    **dict.fromkeys(_DURATIONS, "INTEGER"),
    **dict.fromkeys(_MONEY, "DECIMAL(38,9)"),
    **dict.fromkeys(_FLAGS, "BOOLEAN"),
    **dict.fromkeys(_COUNTS, "INTEGER"),
}
# Arrow carries the types to dlt; these add what Arrow cannot say. Infinity's datetimes
# are UTC wall-clock values, stored as TIMESTAMP (no time zone) as analysts expect.
# (dlt writes each column's name into its hint dict, so no two columns may share one.)
TRIGGER_COLUMNS: dict[str, Any] = {
    "row_id": {"data_type": "bigint", "nullable": False},
    "trigger_datetime": {"data_type": "timestamp", "timezone": False},
    "visitor_first_datetime": {"data_type": "timestamp", "timezone": False},
    "caller_phone_e164": {"data_type": "text"},
    "invalid_values": {"data_type": "text"},
}
ITEMISED_CALL_COLUMNS: dict[str, Any] = {
    "row_id": {"data_type": "bigint", "nullable": False},
    "trigger_datetime": {"data_type": "timestamp", "timezone": False},
    "caller_phone_e164": {"data_type": "text"},
    "invalid_values": {"data_type": "text"},
}
REJECTED_COLUMNS: dict[str, Any] = {
    "rejected_id": {"data_type": "text", "nullable": False},
    "route": {"data_type": "text"},
    "row_id": {"data_type": "bigint"},
    "raw_line": {"data_type": "text"},
    "error": {"data_type": "text"},
    "fetched_at": {"data_type": "timestamp"},
}
REJECTED_SCHEMA = pa.schema(
    [
        ("rejected_id", pa.string()),
        ("route", pa.string()),
        ("row_id", pa.int64()),
        ("raw_line", pa.string()),
        ("error", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
    ]
)
_naming = NamingConvention()
T = TypeVar("T")


@dataclass(frozen=True)
class InfinitySettings:
    """Validated `[sources.infinity]` settings."""

    base_url: str
    igrp: str
    routes: tuple[str, ...]
    page_size: int
    default_region: str
    auth: HttpBasicAuth | APIKeyAuth
    pages_per_load: int = 20

    @classmethod
    def from_config(cls) -> InfinitySettings:
        """Read and check every setting; raises `SettingError` naming the key."""
        spec = settings.InfinityConfig
        raw = settings.resolve(spec)
        igrp = settings.required(spec, "igrp", raw.igrp, "your Infinity IGRP id")
        routes = settings.text_list(spec, "routes", raw.routes)
        unknown = [r for r in routes if r not in ROUTES]
        if unknown or not routes:
            raise SettingError(
                "sources.infinity.routes", f"has unknown routes {unknown}; use some of {ROUTES}"
            )
        page_size = settings.bounded(spec, "page_size", raw.page_size, minimum=1, maximum=ROW_CAP)
        pages_per_load = settings.bounded(spec, "pages_per_load", raw.pages_per_load, minimum=1)
        region = raw.default_region.upper()
        base_url = raw.base_url.rstrip("/")
        api_key, username, password = raw.api_key, raw.username, raw.password
        auth: HttpBasicAuth | APIKeyAuth
        if api_key:
            # API keys belong to v2.1; basic auth to v2.
            if base_url.endswith("/reports/v2"):
                base_url += ".1"
            auth = APIKeyAuth(name="Authorization", api_key=f"ApiKey {api_key}")
        elif username and password:
            auth = HttpBasicAuth(str(username), str(password))
        else:
            missing = "sources.infinity.password" if username else "sources.infinity.username"
            raise SettingError(
                missing,
                "is required: set sources.infinity.username and sources.infinity.password "
                "[SOURCES__INFINITY__PASSWORD] (API v2), or sources.infinity.api_key "
                "[SOURCES__INFINITY__API_KEY] (API v2.1)",
            )
        return cls(base_url, igrp, tuple(routes), page_size, region, auth, pages_per_load)


@dataclass(frozen=True)
class Backfill:
    """A bounded re-read of a date range; it never moves the persisted cursors."""

    start_date: date
    end_date: date
    tz: str = "UTC"


@dataclass
class TriggerPage:
    """One page of a route as parsed: API field names, every value as the API sent it."""

    table: pa.Table
    broken: list[BrokenLine]
    repaired: int
    last_row_id: int | None


class RowIdPaginator(BasePaginator):
    """Keyset paging on rowId exactly as the reference describes, until an empty page."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def init_request(self, request: Request) -> None:
        self.update_request(request)

    def update_state(self, response: Response, data: list[TriggerPage] | None = None) -> None:
        page = data[0] if data else None
        if page is None or (page.table.num_rows == 0 and not page.broken):
            self._has_next_page = False
            return
        if page.last_row_id is None or page.last_row_id <= self.after:
            raise SyncError(
                f"Infinity paging cannot advance past rowId {self.after}: the page's lines "
                "carry no readable rowId. They were kept in infinity.triggers_rejected."
            )
        self.after = page.last_row_id

    def update_request(self, request: Request) -> None:
        request.params["filter[]"] = f"rowId-gt-value-{self.after}"


class TriggerClient(RESTClient):
    """RESTClient whose pages are newline-delimited JSON, typed into Arrow as they arrive."""

    def __init__(self, config: InfinitySettings) -> None:
        super().__init__(
            base_url=f"{config.base_url}/igrps/{config.igrp}",
            auth=config.auth,
            session=retrying_session(),
        )
        self.config = config
        # Pages are fetched and parsed in one thread and typed in another (`_prefetched`);
        # each has its own connection to the in-memory database.
        self._typing_db = duckdb.connect()
        self._paging_db = self._typing_db.cursor()

    def close(self) -> None:
        """Release the HTTP connections and the in-memory databases."""
        self.session.close()
        self._paging_db.close()
        self._typing_db.close()

    def extract_response(self, response: Response, data_selector: Any) -> list[TriggerPage]:
        # Checked here, after the session's retries, not in a response hook: hooks run
        # inside `send`, and raising there would stop 429s and 5xx from being retried.
        raise_for_infinity_status(response)
        parsed = parse_page(response.content)
        last_row_id = _last_row_id(parsed, self._paging_db)
        return [TriggerPage(parsed.table, parsed.broken, parsed.repaired, last_row_id)]

    def type_page(self, page: TriggerPage) -> pa.Table:
        """The page's rows typed for loading (see `type_triggers`)."""
        return type_triggers(page.table, self._typing_db, self.config.default_region)


def raise_for_infinity_status(response: Response) -> None:
    """Turn error responses into messages an operator can act on (no stack traces)."""
    if response.status_code < 400:
        return
    message = _api_message(response)
    if response.status_code in (401, 403):
        raise SyncError(
            f"Infinity refused the credentials (HTTP {response.status_code}: {message}). "
            "Check sources.infinity.username/password [SOURCES__INFINITY__USERNAME, "
            "SOURCES__INFINITY__PASSWORD] or sources.infinity.api_key "
            "[SOURCES__INFINITY__API_KEY], and sources.infinity.igrp [SOURCES__INFINITY__IGRP]."
        )
    if response.status_code == 400:
        raise SyncError(
            f"Infinity rejected the request (HTTP 400): {message}. If it is about the row "
            "limit, lower sources.infinity.page_size [SOURCES__INFINITY__PAGE_SIZE]."
        )
    raise SyncError(
        f"Infinity answered HTTP {response.status_code} for {response.request.path_url} "
        f"after retries: {message}"
    )


def _api_message(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500].strip() or response.reason or "no message"
    return body if isinstance(body, str) else orjson.dumps(body).decode()[:500]


def _last_row_id(parsed: ParsedPage, con: duckdb.DuckDBPyConnection) -> int | None:
    """The highest rowId on the page, including lines that had to be set aside.

    Read with the same cast as the loaded `row_id` (see `type_triggers`), before the rest of
    the page is typed, so the next page can be requested meanwhile.
    """
    candidates = [rejected_row_id(b.text) for b in parsed.broken]
    if parsed.table.num_rows and "rowId" in parsed.table.column_names:
        con.register("row_ids", parsed.table.select(["rowId"]))
        try:
            ((highest,),) = con.execute(
                f"select max({_typed('rowId', TYPED_FIELDS['rowId'])}) from row_ids"
            ).fetchall()
        finally:
            con.unregister("row_ids")
        candidates.append(highest)
    known = [c for c in candidates if c is not None]
    return max(known) if known else None


def rejected_row_id(text: str) -> int | None:
    """The rowId of a line that is not valid JSON, when it can still be read."""
    marker = text.find('"rowId"')
    if marker < 0:
        return None
    digits = "".join(ch for ch in text[marker + 7 : marker + 40].split(",")[0] if ch.isdigit())
    return int(digits) if digits else None


def type_triggers(table: pa.Table, con: duckdb.DuckDBPyConnection, region: str) -> pa.Table:
    """Snake-case names, typed columns, `invalid_values` and `caller_phone_e164`.

    The casts run in DuckDB over the Arrow page (no row-by-row Python), TRY_CAST so one bad
    value never fails a page; values that did not cast are kept in `invalid_values` as JSON.
    Text columns that stay text (most of a page) do not go through DuckDB at all.
    """
    if table.num_columns == 0:
        return table
    # Each typed value is cast once, next to its trimmed text; the outer query compares the
    # two to find values that did not cast, then drops the text columns.
    selects, texts, invalid = [], [], []
    for name in table.column_names:
        if _stays_text(name, table.schema.field(name).type):
            continue
        column = _quote(name)
        snake = _naming.normalize_identifier(name)
        alias, text_alias = _quote(snake), _quote(f"__text__{snake}")
        sql_type = TYPED_FIELDS.get(name)
        if sql_type:
            text = _text(name)
            selects.append(f"{_typed(name, sql_type)} as {alias}, {text} as {text_alias}")
            texts.append(text_alias)
            invalid.append(
                f"case when {text_alias} is not null and {alias} is null "
                f"then {_literal(orjson.dumps(snake).decode())} || ':' || to_json({text_alias}) end"
            )
        elif pa.types.is_nested(table.schema.field(name).type):
            selects.append(f"{column} as {alias}")
        else:
            selects.append(f"cast({column} as varchar) as {alias}")
    invalid_values = (
        f"nullif('{{' || concat_ws(',', {', '.join(invalid)}) || '}}', '{{}}')"
        if invalid
        else "cast(null as varchar)"
    )
    excluded = f" exclude ({', '.join(texts)})" if texts else ""
    sql = (
        f"select *{excluded}, {invalid_values} as invalid_values "
        f"from (select {', '.join(selects) or '1 as __none__'} from page)"
    )
    con.register("page", table)
    try:
        typed = con.sql(sql).to_arrow_table()
    finally:
        con.unregister("page")
    names, columns = [], []
    for name in table.column_names:
        snake = _naming.normalize_identifier(name)
        passed = _stays_text(name, table.schema.field(name).type)
        names.append(snake)
        columns.append(table.column(name) if passed else typed.column(snake))
    phones = (
        e164_array(columns[names.index("src_phone_number")], region)
        if "src_phone_number" in names
        else pa.nulls(table.num_rows, pa.string())
    )
    names += ["invalid_values", "caller_phone_e164"]
    columns += [typed.column("invalid_values"), phones]
    return pa.Table.from_arrays(columns, names=names)


def _text(name: str) -> str:
    """SQL for a field's value as trimmed text, NULL when empty."""
    return f"nullif(trim(cast({_quote(name)} as varchar)), '')"


def _typed(name: str, sql_type: str) -> str:
    """SQL for a field's value as `sql_type`, NULL when it does not cast."""
    return f"try_cast({_text(name)} as {sql_type})"


def _stays_text(name: str, arrow_type: pa.DataType) -> bool:
    """An untyped column Arrow already reads as text: it is kept as it is."""
    return name not in TYPED_FIELDS and pa.types.is_string(arrow_type)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def rejected_rows(route: str, lines: list[BrokenLine], reason: str | None = None) -> list[dict]:
    """Rows for `triggers_rejected`; the id makes a re-fetched line replace, not repeat."""
    fetched_at = datetime.now(UTC)
    return [
        {
            "rejected_id": hashlib.sha256(f"{route}\n{line.text}".encode()).hexdigest()[:32],
            "route": route,
            "row_id": rejected_row_id(line.text),
            "raw_line": line.text,
            "error": reason or line.error,
            "fetched_at": fetched_at,
        }
        for line in lines
    ]


def _split_rows_without_id(table: pa.Table) -> tuple[pa.Table, list[BrokenLine]]:
    """Rows whose rowId is missing or not an integer cannot be merged: set them aside."""
    if table.num_rows == 0:
        return table, []
    lines = []
    if table.column("row_id").null_count:
        missing = pc.is_null(table.column("row_id"))
        lines = [
            BrokenLine(orjson.dumps(row, default=str).decode(), "rowId missing or not an integer")
            for row in table.filter(missing).to_pylist()
        ]
        table = table.filter(pc.invert(missing))
    # Declared NOT NULL, as the table's primary key is.
    index = table.schema.get_field_index("row_id")
    return table.cast(
        table.schema.set(index, table.schema.field(index).with_nullable(False))
    ), lines


@dataclass
class PageReport:
    """What one page contributed; passed to the caller's progress callback."""

    route: str
    rows: int
    rejected: int
    repaired: int
    last_row_id: int | None


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
    return f"route_{_naming.normalize_identifier(route)}"


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
            table, without_id = _split_rows_without_id(client.type_page(page))
            rejected = rejected_rows(route, page.broken) + rejected_rows(route, without_id)
            if table.num_rows:
                yield table
            if rejected:
                # As Arrow, like the rows: dlt keeps one cursor per item type and saves the
                # last one to run, so a page ending in a dict of a low rowId moved it back.
                yield dlt.mark.with_hints(
                    pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA),
                    dlt.mark.make_hints(
                        table_name="triggers_rejected",
                        write_disposition=UPSERT,
                        primary_key="rejected_id",
                        columns=REJECTED_COLUMNS,
                    ),
                    create_table_variant=True,
                )
            if on_page:
                on_page(
                    PageReport(
                        route, table.num_rows, len(rejected), page.repaired, page.last_row_id
                    )
                )
            if max_pages and number >= max_pages and more:
                if on_more_pending and page.last_row_id is not None:
                    on_more_pending(page.last_row_id)
                return

    return dlt.resource(
        fetch,
        name=route_resource_name(route),
        table_name=table_name,
        primary_key="row_id",
        write_disposition="append" if append_above is not None else UPSERT,
        columns=ITEMISED_CALL_COLUMNS if table_name == "itemised_calls" else TRIGGER_COLUMNS,
    )


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
