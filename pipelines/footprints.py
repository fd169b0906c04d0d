"""Footprints for Retail (CRM) leads, their actions and customer profiles as a dlt source.

Reference: ../shared/api-docs/footprints-api.txt. Quirks handled here:
- Leads are listed by day (`startDate`/`endDate` Y-m-d on their creation date) and page number,
  with no "next" link: a day is read page by page until a page comes back short.
- Leads change status after they are created, so every run re-reads the last `lookback_days`
  and merges on the lead id. A lead whose content did not change since it was loaded is not
  loaded again, and only new or changed leads have their actions and customer looked up.
- `GET /api/lead/actions/{id}` is documented as `[ data: [...] ]`, which is not JSON: both
  `{"data": [...]}` and a bare array are accepted (the same for the other list endpoints).
- Timestamps come in three shapes (`2020-03-15 16:12:56`, `2018-09-24T19:00:00.000Z`, and
  JavaScript's `Fri Oct 21 1960 00:00:00 GMT+0000 (UTC)` for birthdays); all are stored as UTC
  wall-clock TIMESTAMPs, like Infinity's. A value that cannot be read is kept as text in a
  `<column>_text` column and the row still loads; money fields the same way.
- Mongo-style `_id` keys become `id` (`offer._id` -> `offer__id`), which is what analysts type.
- The access token travels in the query string: see `pipelines.footprints_client`.
"""

from __future__ import annotations

import hashlib
import queue
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
import orjson
from dlt.extract.source import DltSource

from pipelines import settings
from pipelines.footprints_client import GRANT_TYPES, Credentials, FootprintsClient, FootprintsError
from pipelines.phones import to_e164
from pipelines.settings import SettingError

# table -> (path, paged). Paged lists take `page` (1-based) and answer X-Total-Pages.
REFERENCE_LISTS: dict[str, tuple[str, bool]] = {
    "lead_action_types": ("/api/lead/action-types", False),
    "channels": ("/api/channels", False),
    "locations": ("/api/location", False),
    "offers": ("/api/offer", True),
    "offer_categories": ("/api/offerCategory", True),
    "skus": ("/api/sku", True),
    "offline_campaigns": ("/api/offlineCampaign", False),
    "business_users": ("/api/business-users", False),
}
TIMESTAMP_FIELDS = frozenset(
    {
        "timestamp",
        "timestampStatusChange",
        "createdAt",
        "updatedAt",
        "userBirthday",
        "contractDate",
        "date",
        "startDate",
        "endDate",
    }
)
NUMBER_FIELDS = frozenset({"contractValue", "price", "userIncome"})
MAX_PAGES = 10_000  # per day or list: a server that ignores `page` must not loop forever
_JS_DATE = re.compile(
    r"^[A-Z][a-z]{2} ([A-Z][a-z]{2} \d{1,2} \d{4} \d{2}:\d{2}:\d{2}) GMT([+-]\d{4})"
)


def _timestamp_hint() -> dict[str, Any]:
    return {"data_type": "timestamp", "timezone": False}


# dlt writes each column's name into its hint dict, so every column gets a dict of its own.
LEAD_COLUMNS: dict[str, Any] = {
    "id": {"data_type": "text", "nullable": False},
    "created_at": _timestamp_hint(),
    "updated_at": _timestamp_hint(),
    "timestamp": _timestamp_hint(),
    "timestamp_status_change": _timestamp_hint(),
    "contract_date": _timestamp_hint(),
    "user_birthday": _timestamp_hint(),
    "contract_value": {"data_type": "double"},
    "user_phone_e164": {"data_type": "text"},
    "content_hash": {"data_type": "text"},
}
ACTION_COLUMNS: dict[str, Any] = {
    "id": {"data_type": "text", "nullable": False},
    "lead_id": {"data_type": "text", "nullable": False},
    "date": _timestamp_hint(),
    "created_at": _timestamp_hint(),
    "updated_at": _timestamp_hint(),
}
CUSTOMER_COLUMNS: dict[str, Any] = {
    "id": {"data_type": "text", "nullable": False},
    "created_at": _timestamp_hint(),
    "timestamp": _timestamp_hint(),
    "user_phone_e164": {"data_type": "text"},
}
REJECTED_COLUMNS: dict[str, Any] = {
    "rejected_id": {"data_type": "text", "nullable": False},
    "endpoint": {"data_type": "text"},
    "raw": {"data_type": "text"},
    "error": {"data_type": "text"},
    "fetched_at": {"data_type": "timestamp"},
}


@dataclass(frozen=True)
class FootprintsSettings:
    """Validated `[sources.footprints]` settings."""

    base_url: str
    credentials: Credentials
    start_date: date | None
    lookback_days: int
    page_size: int
    max_workers: int
    default_region: str
    days_per_load: int

    @classmethod
    def from_config(cls) -> FootprintsSettings:
        """Read and check every setting; raises `SettingError` naming the key."""
        spec = settings.FootprintsConfig
        raw = settings.resolve(spec)
        base_url = settings.required(spec, "base_url", raw.base_url, "your Footprints API address")
        key = settings.required(spec, "client_key", raw.client_key, "a secret")
        secret = settings.required(spec, "client_secret", raw.client_secret, "a secret")
        grant = raw.grant_type
        if grant not in GRANT_TYPES:
            raise SettingError("sources.footprints.grant_type", f"must be one of {GRANT_TYPES}")
        pin, username, password = raw.pin, raw.username, raw.password
        if grant == "pin" and not pin:
            raise SettingError("sources.footprints.pin", "is required with grant_type pin")
        if grant == "password":
            for name, value in (("username", username), ("password", password)):
                if not value:
                    raise SettingError(
                        f"sources.footprints.{name}", "is required with grant_type password"
                    )
        credentials = Credentials(
            key,
            secret,
            grant,
            str(pin) if pin else None,
            str(username) if username else None,
            str(password) if password else None,
        )
        try:
            start = date.fromisoformat(raw.start_date) if raw.start_date else None
        except ValueError:
            raise SettingError(
                "sources.footprints.start_date", f"must be a date as Y-m-d, got {raw.start_date!r}"
            ) from None
        return cls(
            base_url=base_url,
            credentials=credentials,
            start_date=start,
            lookback_days=settings.bounded(spec, "lookback_days", raw.lookback_days, minimum=0),
            page_size=settings.bounded(spec, "page_size", raw.page_size, minimum=1),
            max_workers=settings.bounded(
                spec, "max_workers", raw.max_workers, minimum=1, maximum=64
            ),
            default_region=raw.default_region.upper(),
            days_per_load=settings.bounded(spec, "days_per_load", raw.days_per_load, minimum=1),
        )

    def client(self) -> FootprintsClient:
        return FootprintsClient(self.base_url, self.credentials, max_workers=self.max_workers)

    def first_day(self, complete_through: date | None, today: date) -> date:
        """Where this run starts: after the last complete day, or the lookback, if earlier."""
        lookback = today - timedelta(days=self.lookback_days)
        if complete_through is None:
            return self.start_date or lookback
        first = min(complete_through + timedelta(days=1), lookback)
        return max(first, self.start_date) if self.start_date else first


def day_chunks(first: date, last: date, days_per_load: int) -> Iterator[list[date]]:
    """The days `first..last` in loads of at most `days_per_load` days."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for start in range(0, len(days), days_per_load):
        yield days[start : start + days_per_load]


@dataclass
class Chunk:
    """Everything one load of Footprints carries, fetched and shaped."""

    leads: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    references: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def fetch_chunk(
    client: FootprintsClient,
    config: FootprintsSettings,
    days: list[date],
    known: dict[str, str],
    *,
    with_references: bool = False,
    on_progress: Callable[[str], None] | None = None,
) -> Chunk:
    """Leads of `days`, and the actions and customers of those that are new or changed.

    Every request goes through one pool of `max_workers` threads: a day's pages are read in
    order, days in parallel, and each new or changed lead's actions and customer lookup are
    queued as soon as its day has been read.

    Args:
        known: lead id -> content hash of the leads already in the warehouse; a lead with the
            same hash is unchanged and skipped.
    """
    fetch = _ChunkFetch(client, config, known, ThreadPoolExecutor(config.max_workers))
    try:
        for day in days:
            fetch.submit(("day", day), _leads_of_day, client, day, config.page_size)
        if with_references:
            for table, (path, paged) in REFERENCE_LISTS.items():
                fetch.submit(("reference", table), _list_all, client, path, paged)
        while fetch.pending:
            future = fetch.done.get()
            fetch.take(fetch.pending.pop(future), future.result())
            if on_progress:
                on_progress(f"footprints: {len(fetch.chunk.leads):,} new or changed leads")
    finally:
        # On failure, queued requests are dropped rather than sent for nothing.
        fetch.pool.shutdown(wait=True, cancel_futures=True)
    return fetch.chunk


class _ChunkFetch:
    """The requests of one chunk in flight, and what their answers add to the chunk."""

    def __init__(
        self,
        client: FootprintsClient,
        config: FootprintsSettings,
        known: dict[str, str],
        pool: ThreadPoolExecutor,
    ) -> None:
        self.client, self.config, self.known, self.pool = client, config, known, pool
        self.chunk = Chunk()
        self.pending: dict[Future[Any], tuple[str, Any]] = {}
        # Finished futures, in the order they finish: `concurrent.futures.wait` would visit
        # every pending future (thousands) on each call.
        self.done: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        self.looked_up: set[tuple[str, str]] = set()

    def submit(self, task: tuple[str, Any], function: Callable[..., Any], *args: Any) -> None:
        future = self.pool.submit(function, *args)
        self.pending[future] = task
        future.add_done_callback(self.done.put)

    def take(self, task: tuple[str, Any], result: Any) -> None:
        kind, key = task
        chunk = self.chunk
        if kind == "day":
            for lead in _new_or_changed(result, self.known, self.config, chunk):
                self.submit(("actions", lead["id"]), _actions_of, self.client, lead["id"])
                self._look_up_customer(lead)
        elif kind == "actions":
            _add_actions(chunk, key, result)
        elif kind == "customer":
            _add_customers(chunk, result, self.config.default_region)
        else:
            rows, rejected = _split_valid(result, f"GET {REFERENCE_LISTS[key][0]}")
            chunk.references[key] = [shape(row) for row in rows]
            chunk.rejected += rejected

    def _look_up_customer(self, lead: dict[str, Any]) -> None:
        """One request per distinct (email, phone); leads without both are counted."""
        email, phone = _text(lead.get("userEmail")), _text(lead.get("userPhone"))
        if not (email and phone):
            self.chunk.counts["customer_lookups_skipped"] += 1
        elif (email, phone) not in self.looked_up:
            self.looked_up.add((email, phone))
            self.submit(("customer", (email, phone)), _customer, self.client, email, phone)


def _leads_of_day(client: FootprintsClient, day: date, page_size: int) -> list[Any]:
    leads: list[Any] = []
    previous_first: Any = None
    for page in range(1, MAX_PAGES + 1):
        params = {"startDate": day.isoformat(), "endDate": day.isoformat()}
        answer = client.get("/api/lead", {**params, "pageSize": page_size, "page": page})
        rows = _rows(answer.body if answer else [], "GET /api/lead")
        if rows and rows[0] == previous_first:
            raise FootprintsError(
                f"GET /api/lead for {day} returned page {page} equal to page {page - 1}: "
                "the server ignores `page`, so the day cannot be read completely"
            )
        leads += rows
        if len(rows) < page_size:
            return leads
        previous_first = rows[0]
    raise FootprintsError(f"GET /api/lead for {day} did not end within {MAX_PAGES} pages")


def _list_all(client: FootprintsClient, path: str, paged: bool) -> list[Any]:
    if not paged:
        answer = client.get(path)
        return _rows(answer.body if answer else [], f"GET {path}")
    rows: list[Any] = []
    for page in range(1, MAX_PAGES + 1):
        answer = client.get(path, {"page": page})
        page_rows = _rows(answer.body if answer else [], f"GET {path}")
        rows += page_rows
        total = _int_header(answer.headers if answer else {}, "X-Total-Pages")
        if not page_rows or (total is not None and page >= total):
            return rows
    raise FootprintsError(f"GET {path} did not end within {MAX_PAGES} pages")


def _actions_of(client: FootprintsClient, lead_id: str) -> list[Any] | None:
    answer = client.get(f"/api/lead/actions/{lead_id}")
    return None if answer is None else _rows(answer.body, "GET /api/lead/actions")


def _customer(client: FootprintsClient, email: str, phone: str) -> list[Any] | None:
    answer = client.get("/api/client", {"userEmail": email, "userPhone": phone})
    if answer is None:
        return None
    return answer.body if isinstance(answer.body, list) else [answer.body]


def _rows(body: Any, endpoint: str) -> list[Any]:
    """A list endpoint's rows, whether bare or wrapped in `data`."""
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return body["data"]
    if isinstance(body, list):
        return body
    raise FootprintsError(
        f"{endpoint} answered neither a list nor {{'data': [...]}}: {body!r:.200}"
    )


def _int_header(headers: dict[str, str], name: str) -> int | None:
    value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _new_or_changed(
    raw_leads: list[Any], known: dict[str, str], config: FootprintsSettings, chunk: Chunk
) -> Iterator[dict[str, Any]]:
    rows, rejected = _split_valid(raw_leads, "GET /api/lead")
    chunk.rejected += rejected
    for raw in rows:
        content_hash = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()
        if known.get(str(raw["_id"])) == content_hash:
            chunk.counts["leads_unchanged"] += 1
            continue
        lead = shape(raw)
        lead["content_hash"] = content_hash
        lead["user_phone_e164"] = to_e164(_text(raw.get("userPhone")), config.default_region)
        chunk.leads.append(lead)
        yield lead


def _split_valid(rows: Iterable[Any], endpoint: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """Rows with an `_id`, and the others set aside as rejected rows (kept, not dropped)."""
    valid, rejected = [], []
    for row in rows:
        if isinstance(row, dict) and row.get("_id") not in (None, ""):
            valid.append(row)
        else:
            rejected.append(rejected_row(endpoint, row, "no _id: cannot be merged"))
    return valid, rejected


def rejected_row(endpoint: str, raw: Any, error: str) -> dict[str, Any]:
    text = orjson.dumps(raw, default=str).decode()
    return {
        "rejected_id": hashlib.sha256(f"{endpoint}\n{text}".encode()).hexdigest(),
        "endpoint": endpoint,
        "raw": text,
        "error": error,
        "fetched_at": datetime.now(UTC),
    }


def _add_actions(chunk: Chunk, lead_id: str, rows: list[Any] | None) -> None:
    if rows is None:
        chunk.counts["leads_without_actions_endpoint"] += 1
        return
    valid, rejected = _split_valid(rows, "GET /api/lead/actions")
    chunk.rejected += rejected
    for raw in valid:
        action = shape(raw)
        action["lead_id"] = lead_id
        chunk.actions.append(action)


def _add_customers(chunk: Chunk, rows: list[Any] | None, region: str) -> None:
    if rows is None:
        chunk.counts["customers_not_found"] += 1
        return
    valid, rejected = _split_valid(rows, "GET /api/client")
    chunk.rejected += rejected
    for raw in valid:
        customer = shape(raw)
        customer["user_phone_e164"] = to_e164(_text(raw.get("userPhone")), region)
        chunk.customers.append(customer)


def shape(value: Any) -> Any:
    """`_id` -> `id` at every level, typed timestamps and money, unreadable values kept as text."""
    if isinstance(value, list):
        return [shape(item) for item in value]
    if not isinstance(value, dict):
        return value
    shaped: dict[str, Any] = {}
    for key, item in value.items():
        name = "id" if key == "_id" else key
        if item is None:
            # Absent and null load the same; an always-null column only makes dlt warn.
            continue
        if key in TIMESTAMP_FIELDS and isinstance(item, str):
            parsed = shaped[name] = parse_timestamp(item)
            if parsed is None and item.strip():
                shaped[f"{name}_text"] = item
        elif key in NUMBER_FIELDS and not isinstance(item, (int, float)):
            number = parse_number(item)
            shaped[name] = number
            if number is None and str(item).strip():
                shaped[f"{name}_text"] = str(item)
        else:
            shaped[name] = shape(item)
    return shaped


def parse_timestamp(text: str) -> datetime | None:
    """UTC wall-clock time of any of the reference's timestamp shapes; None if unreadable."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        match = _JS_DATE.match(text)
        if match is None:
            return None
        try:
            moment = datetime.strptime(f"{match[1]} {match[2]}", "%b %d %Y %H:%M:%S %z")
        except ValueError:
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def parse_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(str(value).strip().replace(",", ""))
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def footprints_source(chunk: Chunk, complete_through: date | None) -> DltSource:
    """The chunk as a dlt source; `complete_through` is saved as the cursor with its rows."""

    @dlt.resource(
        name="leads",
        primary_key="id",
        write_disposition="merge",
        columns=LEAD_COLUMNS,
    )
    def leads() -> Iterator[list[dict[str, Any]]]:
        if chunk.leads:
            yield chunk.leads
        if complete_through is not None:
            state = dlt.current.source_state()
            previous = state.get("leads_complete_through")
            if previous is None or complete_through.isoformat() > previous:
                state["leads_complete_through"] = complete_through.isoformat()

    merged = (
        ("lead_actions", chunk.actions, "id", ACTION_COLUMNS),
        ("customers", chunk.customers, "id", CUSTOMER_COLUMNS),
        ("rejected", chunk.rejected, "rejected_id", REJECTED_COLUMNS),
    )
    resources: list[Any] = [leads]
    for name, rows, key, columns in merged:
        resources.append(
            dlt.resource(
                _batch(rows),
                name=name,
                primary_key=key,
                write_disposition="merge",
                columns=columns,
            )
        )
    for table, rows in chunk.references.items():
        resources.append(dlt.resource(_batch(rows), name=table, write_disposition="replace"))

    @dlt.source(name="footprints", max_table_nesting=2)
    def footprints() -> list[Any]:
        return resources

    return footprints()


def _batch(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    if rows:
        yield rows


def leads_cursor(state: dict[str, Any]) -> date | None:
    """The last day whose leads are all loaded, from dlt state (local or restored)."""
    value = state.get("sources", {}).get("footprints", {}).get("leads_complete_through")
    return date.fromisoformat(value) if value else None
