"""Local emulator of the Infinity Reports API v2 trigger lists, for the tests and `make demo`.

Reference: shared/api-docs/infinity-reports-api-v2-triggers.txt and the Infinity notes in
FINDINGS.md. What it reproduces, because a client has to cope with each of these:

- Routes `GET /reports/v2/igrps/{igrp}/triggers/{route}` with HTTP basic auth (account username
  and password) and `/reports/v2.1/...` with `Authorization: ApiKey <key>`. Routes: `all`,
  `calls` (call acts such as `call` and `callBlegStart`), `users` (act `callUser`), `goals`
  (goal "1"), `transactions` (transaction or goal currency set, `callRate` excluded),
  `callsGoalsTransactions` (the union of those three), `touchPoints` (land, call and goal
  triggers), `visits` (act `land`) and `itemisedCalls` (one line of charges per call).
- Simple errors are a bare JSON string: 401 "auth required" without credentials (and 401 with
  wrong ones), 403 "access denied" for another installation, 404 for an unknown route, 400 for
  a bad parameter.
- At most `max_limit` rows per request (10,000 as in the reference); asking for more is a 400,
  not a silent cap, so a client must page. The way to page is keyset paging on rowId:
  `filter[]=rowId-gt-value-<last rowId seen>` until an empty page. rowIds have gaps and do not
  start at 1, and triggerDatetime is not in rowId order, so only rowId paging is correct.
- `filter[]=<field>-<op>-value-<value>` (repeatable, all must hold) with op gt, lt or eq (gte and
  lte too). Values compare as integers when both sides are integers, else as strings, so
  `callDuration-gt-value-60` is numeric and `triggerDatetime-gt-value-2026-10-01` textual.
  Custom fields (`pt_*` pass-through, `c_*` variables) cannot be filtered or sorted on: 400.
- `sort[]=<field>-asc|desc`, repeatable. Without it rows come in rowId order.
- `startDate`/`endDate` (YYYY-MM-DD, end inclusive) select on triggerDatetime; `tz` (IANA name,
  default UTC) says which day boundaries are meant. triggerDatetime is stored and returned in UTC.
- `format=json` is one JSON object per line, `format=jsonarray` one JSON array, and no format
  CSV with a header row. An empty json answer is an empty body with status 200.
- Lines that are not valid JSON are served verbatim (`add_raw_line`): the reference's own sample
  rows embed unescaped quotes in `notes`, so a client must not let one bad line sink a page.

Not emulated: `format=xml` (400), call recordings, visitor traces, touchPoints' retention limit,
and converting triggerDatetime into `tz` in the output.

Rows are kept pre-rendered as JSON lines sorted by rowId, with the few fields that routing and
date ranges need, so a page of 10,000 rows of 2.5 KB is a bisect, a scan and a join. Other
filters and sorts parse the lines they look at.

Run standalone: `python -m emulators.infinity --port 8765 --rows 50000 --seed 7`
prints its URL on one line, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import operator
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from emulators.infinity_data import REFERENCE_SAMPLE_LINES, iter_triggers
from emulators.server import EmulatorServer, Request, Response, json_response

DEFAULT_MAX_LIMIT = 10_000

_PATH = re.compile(r"/reports/(v2|v2\.1)/igrps/([^/]+)/triggers/([^/]+)/?")
_INTEGER = re.compile(r"-?[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

_ALL, _CALLS, _USERS, _GOALS, _TRANSACTIONS, _TOUCH_POINTS, _VISITS = (1 << n for n in range(7))
_ROUTES = {
    "all": _ALL,
    "calls": _CALLS,
    "users": _USERS,
    "goals": _GOALS,
    "transactions": _TRANSACTIONS,
    "callsGoalsTransactions": _CALLS | _GOALS | _TRANSACTIONS,
    "touchPoints": _TOUCH_POINTS,
    "visits": _VISITS,
}
_ITEMISED_ROUTE = "itemisedCalls"
# Acts that start with "call" but are not calls: a hosted PBX user's own call has its own route,
# and a call's rating is bookkeeping.
_NOT_CALL_ACTS = frozenset({"callUser", "callRate"})
_ITEMISED_FIELDS = (
    "rowId",
    "callDuration",
    "srcPhoneNumber",
    "dialledPhoneNumber",
    "destPhoneNumber",
    "callDirection",
    "callCharge",
    "chargeCurrencyCode",
    "perMinuteCharge",
    "triggerDatetime",
    "igrp",
    "dgrp",
    "ch",
    "segment",
    "segmentGroupId",
    "chName",
    "chType",
    "dgrpName",
    "dgrpRef",
    "callRatingId",
    "segmentName",
    "segmentRef",
    "orgId",
    "segmentGroupName",
)
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "lt": operator.lt,
    "eq": operator.eq,
    "gte": operator.ge,
    "lte": operator.le,
}
_CONTENT_TYPES = {
    "json": "application/x-ndjson; charset=utf-8",
    "jsonarray": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}


def _routes(act: str, goal: str, has_currency: bool) -> int:
    call = act.startswith("call") and act not in _NOT_CALL_ACTS
    routes = _ALL
    if call:
        routes |= _CALLS
    if act == "callUser":
        routes |= _USERS
    if goal == "1":
        routes |= _GOALS
    if has_currency and act != "callRate":
        routes |= _TRANSACTIONS
    if call or act == "land" or goal == "1":
        routes |= _TOUCH_POINTS
    if act == "land":
        routes |= _VISITS
    return routes


@dataclass(slots=True)
class _Row:
    row_id: int
    when: str
    act: str
    goal: str
    routes: int
    line: bytes
    # The fields known for a line that is not valid JSON; None when the line parses.
    known: dict[str, str] | None = None

    def fields(self) -> dict[str, Any]:
        return self.known if self.known is not None else orjson.loads(self.line)

    def value(self, field: str) -> str:
        if field == "rowId":
            return str(self.row_id)
        if field == "triggerDatetime":
            return self.when
        if field == "act":
            return self.act
        if field == "goal":
            return self.goal
        value = self.fields().get(field)
        return "" if value is None else str(value)


class _Store:
    """Rows sorted by rowId. Readers take a snapshot; writers replace it (copy on write)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: tuple[list[int], list[_Row]] = ([], [])

    def snapshot(self) -> tuple[list[int], list[_Row]]:
        return self._snapshot

    def add(self, new: list[_Row]) -> None:
        if not new:
            return
        new = sorted(new, key=lambda row: row.row_id)
        with self._lock:
            ids, rows = self._snapshot
            if not ids or new[0].row_id > ids[-1]:
                merged = rows + new
            else:
                merged = sorted(rows + new, key=lambda row: row.row_id)
            merged_ids = [row.row_id for row in merged]
            for previous, current in pairwise(merged_ids):
                if previous == current:
                    raise ValueError(f"rowId {current} is already present")
            self._snapshot = (merged_ids, merged)


@dataclass(frozen=True, slots=True)
class _Filter:
    field: str
    op: str
    value: str
    number: int | None

    def holds(self, actual: str) -> bool:
        compare = _OPERATORS[self.op]
        if self.number is not None and _INTEGER.fullmatch(actual):
            return compare(int(actual), self.number)
        return compare(actual, self.value)


@dataclass(frozen=True, slots=True)
class _Sort:
    field: str
    descending: bool


class _BadRequest(Exception):
    pass


class InfinityEmulator(EmulatorServer):
    """The Infinity Reports API v2 trigger lists over HTTP on 127.0.0.1.

    Args:
        igrp: The installation the credentials may read; any other gets 403.
        username: v2 basic-auth user name.
        password: v2 basic-auth password.
        api_key: v2.1 API key.
        max_limit: Largest `limit` accepted, and the default limit.
        port: Port to listen on; 0 picks a free one.
    """

    def __init__(
        self,
        *,
        igrp: str = "1",
        username: str = "demo",
        password: str = "demo-pass",
        api_key: str = "demo-key",
        max_limit: int = DEFAULT_MAX_LIMIT,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.igrp = igrp
        self.username = username
        self.password = password
        self.api_key = api_key
        self.max_limit = max_limit
        self._triggers = _Store()
        self._itemised = _Store()

    @property
    def trigger_count(self) -> int:
        return len(self._triggers.snapshot()[0])

    def add_triggers(self, rows: Iterable[dict[str, Any]]) -> None:
        """Serve these triggers too (safe while serving). Each needs rowId and triggerDatetime."""
        triggers: list[_Row] = []
        itemised: list[_Row] = []
        for row in rows:
            try:
                row_id = int(row["rowId"])
                when = str(row["triggerDatetime"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"a trigger needs an integer rowId and a triggerDatetime: {row!r}"
                ) from exc
            act = str(row.get("act", ""))
            goal = str(row.get("goal", "0"))
            currency = bool(row.get("txc") or row.get("goalCurrency"))
            routes = _routes(act, goal, currency)
            triggers.append(_Row(row_id, when, act, goal, routes, _compact_json(row)))
            if routes & _CALLS:
                line = _compact_json(_itemised_call(row))
                itemised.append(_Row(row_id, when, "", "", _ALL, line))
        self._triggers.add(triggers)
        self._itemised.add(itemised)

    def add_raw_line(
        self,
        text: str,
        *,
        row_id: int,
        trigger_datetime: str,
        act: str = "call",
        goal: str = "0",
        txc: str = "",
    ) -> None:
        """Serve `text` verbatim as the line of trigger `row_id` in format=json.

        For lines that are not valid JSON, like the reference's own sample rows; the keyword
        arguments stand in for the fields that routing, filters and date ranges would read.
        """
        line = text.encode()
        try:
            orjson.loads(line)
            known = None
        except orjson.JSONDecodeError:
            known = {
                "rowId": str(row_id),
                "triggerDatetime": trigger_datetime,
                "act": act,
                "goal": goal,
                "txc": txc,
            }
        routes = _routes(act, goal, bool(txc))
        self._triggers.add([_Row(row_id, trigger_datetime, act, goal, routes, line, known)])

    def handle(self, request: Request) -> Response:
        match = _PATH.fullmatch(request.path)
        if match is None:
            return json_response("not found", 404)
        if request.method != "GET":
            return json_response("method not allowed", 405, {"Allow": "GET"})
        version, igrp, route = match.groups()
        denied = self._authenticate(version, request.headers.get("Authorization"))
        if denied is not None:
            return denied
        if igrp != self.igrp:
            return json_response("access denied", 403)
        if route == _ITEMISED_ROUTE:
            store, routes = self._itemised, _ALL
        elif route in _ROUTES:
            store, routes = self._triggers, _ROUTES[route]
        else:
            return json_response(f"unknown route: {route}", 404)
        try:
            return self._answer(store, routes, request.query)
        except _BadRequest as exc:
            return json_response(str(exc), 400)

    def _authenticate(self, version: str, header: str | None) -> Response | None:
        if not header:
            scheme = "Basic" if version == "v2" else "ApiKey"
            return json_response("auth required", 401, {"WWW-Authenticate": scheme})
        scheme, _, credentials = header.partition(" ")
        if version == "v2" and scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                decoded = None
            if decoded == f"{self.username}:{self.password}":
                return None
        elif (
            version == "v2.1" and scheme.lower() == "apikey" and credentials.strip() == self.api_key
        ):
            return None
        return json_response("invalid credentials", 401)

    def _answer(self, store: _Store, routes: int, query: dict[str, list[str]]) -> Response:
        fmt = _last(query, "format") or "csv"
        if fmt not in _CONTENT_TYPES:
            raise _BadRequest(f"unsupported format: {fmt}")
        limit = self._limit(_last(query, "limit"))
        filters = [_parse_filter(text) for text in query.get("filter[]", [])]
        sorts = [_parse_sort(text) for text in query.get("sort[]", [])]
        start, end = _date_range(
            _last(query, "startDate"), _last(query, "endDate"), _last(query, "tz") or "UTC"
        )
        rows = _select(store, routes, filters, sorts, start, end, limit)
        return _render(rows, fmt)

    def _limit(self, text: str | None) -> int:
        if text is None:
            return self.max_limit
        if not _INTEGER.fullmatch(text) or int(text) < 1:
            raise _BadRequest("limit must be a positive integer")
        if int(text) > self.max_limit:
            raise _BadRequest(f"limit must not exceed {self.max_limit}")
        return int(text)


def _compact_json(value: Any) -> bytes:
    # orjson's result keeps its oversized write buffer: about 8 KB held per 2 KB row, 2.7 GB for
    # 200,000 rows. A copy is exactly as long as the line.
    return bytes(memoryview(orjson.dumps(value)))


def _itemised_call(row: dict[str, Any]) -> dict[str, str]:
    """The itemised-calls line of a call: what the call cost the account."""
    # Tests feed deliberately malformed durations; they cost nothing rather than crash.
    text = str(row.get("callDuration") or "0")
    duration = int(text) if text.isdigit() else 0
    # Freephone numbers cost the receiving business more per minute than geographic ones.
    per_minute = 0.05 if str(row.get("dialledPhoneNumber", "")).startswith("080") else 0.02
    minutes = -(-duration // 60)
    derived = {
        "callCharge": f"{per_minute * minutes:.6f}",
        "chargeCurrencyCode": "",
        "perMinuteCharge": f"{per_minute:.6f}",
    }
    return {name: str(derived.get(name, row.get(name, ""))) for name in _ITEMISED_FIELDS}


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _custom(field: str) -> bool:
    return field.startswith(("pt_", "c_"))


def _parse_filter(text: str) -> _Filter:
    parts = text.split("-", 3)
    if len(parts) != 4 or parts[2] != "value" or not parts[0] or parts[1] not in _OPERATORS:
        raise _BadRequest(f"invalid filter: {text} (expected <field>-<gt|lt|eq>-value-<value>)")
    field, op, _, value = parts
    if _custom(field):
        raise _BadRequest(f"custom field {field} cannot be filtered on")
    number = int(value) if _INTEGER.fullmatch(value) else None
    return _Filter(field, op, value, number)


def _parse_sort(text: str) -> _Sort:
    field, _, direction = text.rpartition("-")
    if not field or direction not in ("asc", "desc"):
        raise _BadRequest(f"invalid sort: {text} (expected <field>-asc or <field>-desc)")
    if _custom(field):
        raise _BadRequest(f"custom field {field} cannot be sorted on")
    return _Sort(field, direction == "desc")


def _date_range(start: str | None, end: str | None, name: str) -> tuple[str | None, str | None]:
    """UTC triggerDatetime bounds, start inclusive and end exclusive, of dates local to `name`."""
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _BadRequest(f"unknown timezone: {name}") from exc

    def utc_midnight(text: str, parameter: str, days_after: int) -> str:
        try:
            if not _DATE.fullmatch(text):
                raise ValueError(text)
            day = date.fromisoformat(text) + timedelta(days=days_after)
        except ValueError as exc:
            raise _BadRequest(f"{parameter} must be a date as YYYY-MM-DD") from exc
        local = datetime.combine(day, time(), tzinfo=zone)
        return local.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    return (
        None if start is None else utc_midnight(start, "startDate", 0),
        None if end is None else utc_midnight(end, "endDate", 1),
    )


def _select(
    store: _Store,
    routes: int,
    filters: list[_Filter],
    sorts: list[_Sort],
    start: str | None,
    end: str | None,
    limit: int,
) -> list[_Row]:
    ids, rows = store.snapshot()
    low, high = 0, len(ids)
    others: list[_Filter] = []
    # rowId filters become a slice of the sorted rows: the keyset page is found by bisection.
    for f in filters:
        if f.field != "rowId" or f.number is None:
            others.append(f)
        elif f.op == "gt":
            low = max(low, bisect_right(ids, f.number))
        elif f.op == "gte":
            low = max(low, bisect_left(ids, f.number))
        elif f.op == "lt":
            high = min(high, bisect_left(ids, f.number))
        elif f.op == "lte":
            high = min(high, bisect_right(ids, f.number))
        else:
            low = max(low, bisect_left(ids, f.number))
            high = min(high, bisect_right(ids, f.number))

    def wanted(row: _Row) -> bool:
        if not row.routes & routes:
            return False
        if (start is not None and row.when < start) or (end is not None and row.when >= end):
            return False
        return all(f.holds(row.value(f.field)) for f in others)

    if not sorts or sorts[0].field == "rowId":
        # Already in rowId order: stop as soon as the page is full.
        indexes = (
            range(high - 1, low - 1, -1) if sorts and sorts[0].descending else range(low, high)
        )
        page: list[_Row] = []
        for index in indexes:
            row = rows[index]
            if wanted(row):
                page.append(row)
                if len(page) == limit:
                    break
        return page
    matched = [rows[index] for index in range(low, high) if wanted(rows[index])]
    for sort in reversed(sorts):
        matched.sort(key=partial(_row_sort_key, sort.field), reverse=sort.descending)
    return matched[:limit]


def _row_sort_key(field: str, row: _Row) -> tuple[int, int, str]:
    return _sort_key(row.value(field))


def _sort_key(value: str) -> tuple[int, int, str]:
    if _INTEGER.fullmatch(value):
        return (0, int(value), "")
    return (1, 0, value)


def _render(rows: list[_Row], fmt: str) -> Response:
    headers = {"Content-Type": _CONTENT_TYPES[fmt]}
    if fmt == "json":
        lines = [row.line for row in rows]
        body = b"\n".join(lines) + b"\n" if lines else b""
    elif fmt == "jsonarray":
        body = b"[" + b",".join(row.line for row in rows) + b"]"
    else:
        records = [row.fields() for row in rows]
        columns = list(dict.fromkeys(name for record in records for name in record))
        out = io.StringIO()
        if records:
            writer = csv.DictWriter(out, columns, restval="")
            writer.writeheader()
            writer.writerows(records)
        body = out.getvalue().encode()
    return Response(200, body, headers)


def _add_reference_samples(emulator: InfinityEmulator) -> None:
    for line in REFERENCE_SAMPLE_LINES:
        fields = dict(re.findall(r'"(rowId|triggerDatetime|act|goal|txc)":"([^"]*)"', line))
        emulator.add_raw_line(
            line,
            row_id=int(fields["rowId"]),
            trigger_datetime=fields["triggerDatetime"],
            act=fields.get("act", ""),
            goal=fields.get("goal", "0"),
            txc=fields.get("txc", ""),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.infinity",
        description="Serve generated Infinity triggers until SIGTERM or SIGINT.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--rows", type=int, default=1000, help="generated triggers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=60, help="days the triggers span")
    parser.add_argument("--end", default="now", help="YYYY-MM-DD (UTC) or 'now' (the default)")
    parser.add_argument("--igrp", default="1")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo-pass")
    parser.add_argument("--api-key", default="demo-key")
    parser.add_argument("--max-limit", type=int, default=DEFAULT_MAX_LIMIT)
    parser.add_argument(
        "--reference-samples",
        action="store_true",
        help="also serve the reference's two sample rows, which are not valid JSON",
    )
    args = parser.parse_args(argv)
    if args.end == "now":
        end = datetime.now(UTC)
    else:
        end = datetime.fromisoformat(args.end).replace(tzinfo=UTC)

    emulator = InfinityEmulator(
        igrp=args.igrp,
        username=args.username,
        password=args.password,
        api_key=args.api_key,
        max_limit=args.max_limit,
        port=args.port,
    )
    # In batches, so that large data sets never exist as dicts all at once.
    batch: list[dict[str, str]] = []
    for row in iter_triggers(args.rows, seed=args.seed, days=args.days, end=end, igrp=args.igrp):
        batch.append(row)
        if len(batch) == 10_000:
            emulator.add_triggers(batch)
            batch = []
    emulator.add_triggers(batch)
    if args.reference_samples:
        _add_reference_samples(emulator)

    emulator.serve_until_signalled()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
