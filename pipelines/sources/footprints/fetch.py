"""What one load of Footprints fetches: leads by day and page, and each new or changed lead's
actions and customer profile, over one pool of `max_workers` threads.

Reference: ../shared/api-docs/footprints-api.txt (day windows, paging, list shapes).
"""

from __future__ import annotations

import hashlib
import queue
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import orjson

from pipelines.sources import rejected
from pipelines.sources.footprints.client import (
    FootprintsClient,
    FootprintsError,
)
from pipelines.sources.footprints.settings import FootprintsSettings
from pipelines.sources.footprints.shape import shape
from pipelines.sources.phones import to_e164

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


MAX_PAGES = 10_000  # per day or list: a server that ignores `page` must not loop forever


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
            rows, set_aside = _split_valid(result, f"GET {REFERENCE_LISTS[key][0]}")
            chunk.references[key] = [shape(row) for row in rows]
            chunk.rejected += set_aside

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
    rows, set_aside = _split_valid(raw_leads, "GET /api/lead")
    chunk.rejected += set_aside
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
    valid, set_aside = [], []
    for row in rows:
        if row_key(row) is None:
            set_aside.append(rejected_row(endpoint, row, "no _id: cannot be merged"))
        else:
            valid.append(row)
    return valid, set_aside


def rejected_row(endpoint: str, raw: Any, error: str) -> dict[str, Any]:
    """A `footprints.rejected` row for a record as the API sent it."""
    text = orjson.dumps(raw, default=str).decode()
    return rejected.rejected_row("footprints", endpoint, text, error, row_key(raw))


def row_key(raw: Any) -> str | None:
    """A record's `_id`, when it has one."""
    key = raw.get("_id") if isinstance(raw, dict) else None
    return None if key in (None, "") else str(key)


def _add_actions(chunk: Chunk, lead_id: str, rows: list[Any] | None) -> None:
    if rows is None:
        chunk.counts["leads_without_actions_endpoint"] += 1
        return
    valid, set_aside = _split_valid(rows, "GET /api/lead/actions")
    chunk.rejected += set_aside
    for raw in valid:
        action = shape(raw)
        action["lead_id"] = lead_id
        chunk.actions.append(action)


def _add_customers(chunk: Chunk, rows: list[Any] | None, region: str) -> None:
    if rows is None:
        chunk.counts["customers_not_found"] += 1
        return
    valid, set_aside = _split_valid(rows, "GET /api/client")
    chunk.rejected += set_aside
    for raw in valid:
        customer = shape(raw)
        customer["user_phone_e164"] = to_e164(_text(raw.get("userPhone")), region)
        chunk.customers.append(customer)


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None
