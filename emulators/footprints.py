"""Local emulator of the Footprints for Retail CRM API, for the tests, the benchmark and the demo.

Reference: shared/api-docs/footprints-api.txt (Authentication, Get Leads, Update Lead, Get Lead
Actions, Get Lead Action Types, Get customers and the List methods). What it reproduces,
because a client has to cope with each of these:

- `POST /api/token` takes HTTP basic auth with the client key and secret and a form-encoded
  grant: `client_credentials`, `password` (+ username, password) or `pin` (+ pin). Errors are
  OAuth2's: 401 `invalid_client` for missing or wrong basic credentials, 400 `invalid_request`
  for a body that is not form-encoded or lacks a field, 400 `unsupported_grant_type`, 400
  `invalid_grant` for a wrong pin, username or password. Tokens are 64 random hex digits and
  expire after `token_ttl_seconds` (the reference's sample says a year; it does not document
  the lifetime); `expire_tokens()` ends them all at once.
- Every other endpoint wants the token as the `access_token` *query parameter*; an
  `Authorization: Bearer` header is ignored. Without a valid token: 401 `{"error":
  "invalid_token", "message": ...}`, for unknown paths too.
- `GET /api/lead?startDate=Y-m-d&endDate=Y-m-d&pageSize=N&page=P`: leads whose createdAt falls
  on those UTC days (both inclusive), ordered by createdAt then `_id`, as a bare JSON array with
  `X-Total-Pages`, `X-Records` and `X-Current-Page` headers. `page` is 1-based (default 1) and a
  page past the end is `[]`; `pageSize` is 1 to 500 (default 10); both dates are required. As
  the reference says, only leads with a locationId, an offerCategoryId, an offerId and a
  consultant are listed: the others exist (their actions and customer profile show them) but
  this endpoint never returns them. `appKey` is accepted and ignored.
- `GET /api/lead/actions/{leadId}` is documented as `[ data: [...] ]`, which is not JSON: the
  emulator answers `{"data": [...]}` or a bare array, per lead when `actions_envelope` is
  "mixed" (the default), so a client must accept both. Unknown lead: 404.
- `GET /api/lead/action-types` answers `{"data": [...]}`.
- `GET /api/client?userEmail=..&userPhone=..` (both mandatory, else 400) finds the customer by
  email in any letter case and by the phone exactly as stored on the lead (`+44 7700 900123`
  and `+447700900123` are different customers); none: 404 `{"message": "Client not found"}`.
  A `+` sent unencoded in the query arrives as a space and finds nobody.
- `/api/offerCategory`, `/api/offer` and `/api/sku` are paged by `page` (1-based) at 20 rows,
  with the same headers as leads; `/api/location`, `/api/offlineCampaign`,
  `/api/business-users` and `/api/channels` return every row as a bare array (the location
  filters `country_name` and `county_name` are accepted and ignored).
- Other errors are `{"message": ...}`: 400 for bad parameters, 404 for unknown paths, 405 for
  methods the emulator does not serve (the write endpoints are not emulated).

`latency_seconds` delays every answer (token included) without holding any lock, so concurrent
requests overlap as they would against a remote server; `max_in_flight` records how many were
ever answered at once. Faults (401, 429, 500, delays, dropped connections) come from
`EmulatorServer`.

Run standalone: `python -m emulators.footprints --port 8766 --leads 5000 --seed 7`
prints its URL on one line, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import secrets
import threading
import time
import zlib
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import orjson

from emulators.footprints_data import (
    STATUS_CHANGE_ACTION_TYPE,
    STATUSES,
    FootprintsData,
    ObjectIds,
    customer_key,
    generate_footprints,
    history_entry,
    iso_ms,
    parse_timestamp,
    plain,
    to_ms,
)
from emulators.server import EmulatorServer, Request, Response

REFERENCE_PATHS: dict[str, str] = {
    "lead_action_types": "/api/lead/action-types",
    "channels": "/api/channels",
    "locations": "/api/location",
    "offers": "/api/offer",
    "offer_categories": "/api/offerCategory",
    "skus": "/api/sku",
    "offline_campaigns": "/api/offlineCampaign",
    "business_users": "/api/business-users",
}
PAGED_REFERENCES = frozenset({"offers", "offer_categories", "skus"})
REFERENCE_PAGE_SIZE = 20
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 500
ENVELOPES = ("data", "bare", "mixed")
DEFAULT_DAYS = 60  # the standalone emulator serves the days up to today

_REFERENCE_BY_PATH = {path: name for name, path in REFERENCE_PATHS.items()}
_ACTIONS_PREFIX = "/api/lead/actions/"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INTEGER = re.compile(r"[0-9]{1,9}")
_DAY_MS = 86_400_000
_JSON = "application/json; charset=utf-8"
_PAGE_HEADERS = "X-Total-Pages, X-Records, X-Current-Page"
_INVALID_TOKEN = {
    "error": "invalid_token",
    "message": "The access token provided is invalid or has expired",
}


@dataclass(slots=True)
class _Lead:
    key: tuple[int, str]  # (createdAt in ms, _id): the listing order
    listed: bool
    line: bytes  # the lead as JSON


class _BadRequest(Exception):
    pass


def _compact_json(value: Any) -> bytes:
    # orjson's result keeps its oversized write buffer (about 4x the JSON) as long as it lives;
    # a copy is exactly as long as the JSON. Matters for what is stored, not what is sent.
    return bytes(memoryview(orjson.dumps(value)))


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(value), {"Content-Type": _JSON, **(headers or {})})


def _message(text: str, status: int) -> Response:
    return _json({"message": text}, status)


def _oauth_error(status: int, error: str, description: str) -> Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Service"'
    return _json({"error": error, "error_description": description}, status, headers)


def _listed(lead: dict[str, Any]) -> bool:
    """Whether GET /api/lead returns the lead (Get Leads: "will return only the leads with
    locationId, offerCategoryId, offerId and consultantId"; its sample has `consultant`)."""
    return bool(
        lead.get("locationId")
        and lead.get("offerCategoryId")
        and lead.get("offerId")
        and (lead.get("consultant") or lead.get("consultantId"))
    )


def _page_headers(total: int, page_size: int, page: int) -> dict[str, str]:
    return {
        "Access-Control-Expose-Headers": _PAGE_HEADERS,
        "X-Total-Pages": str(-(-total // page_size)),
        "X-Records": str(total),
        "X-Current-Page": str(page),
    }


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _positive(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    if not _INTEGER.fullmatch(text) or int(text) < 1:
        raise _BadRequest(f"{name} must be a positive integer")
    return int(text)


def _day_ms(text: str | None, name: str) -> int:
    if not text:
        raise _BadRequest(f"{name} is required, format Y-m-d")
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise _BadRequest(f"{name} must be a date in the format Y-m-d") from exc
    return to_ms(datetime.combine(day, datetime.min.time()))


class FootprintsEmulator(EmulatorServer):
    """The Footprints for Retail API's token, lead, customer and list endpoints on 127.0.0.1.

    Args:
        client_key: The key of the basic credentials of POST /api/token.
        client_secret: The secret of those credentials.
        pin: What the `pin` grant must present.
        username: What the `password` grant must present as username.
        password: What the `password` grant must present as password.
        token_ttl_seconds: How long a token is valid; `expires_in` is this as an integer.
        latency_seconds: Delay before every answer; settable at any time.
        actions_envelope: "data" wraps lead actions as `{"data": [...]}`, "bare" sends the
            array, "mixed" picks one per lead (a hash of its id), so both occur.
        port: Port to listen on; 0 picks a free one.
    """

    def __init__(
        self,
        *,
        client_key: str = "demo-client-key",
        client_secret: str = "demo-client-secret",
        pin: str = "1234567890",
        username: str = "demo@footprints.example",
        password: str = "demo-pass",
        token_ttl_seconds: float = 3600.0,
        latency_seconds: float = 0.0,
        actions_envelope: str = "mixed",
        port: int = 0,
    ) -> None:
        if actions_envelope not in ENVELOPES:
            raise ValueError(f"actions_envelope must be one of {', '.join(ENVELOPES)}")
        super().__init__(port=port)
        self.client_key = client_key
        self.client_secret = client_secret
        self.pin = pin
        self.username = username
        self.password = password
        self.token_ttl_seconds = token_ttl_seconds
        self.latency_seconds = latency_seconds
        self.actions_envelope = actions_envelope
        self.tokens_issued = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._contracts = 0
        # Guards everything below; reentrant so that load() replaces all of it in one go.
        # Leads, actions and profiles are kept as JSON, a fraction of the memory of dicts, and
        # served as they are; a change replaces them.
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}
        # every access and refresh token ever handed out, for tests that look for leaks
        self.issued_tokens: list[str] = []
        self._leads: dict[str, _Lead] = {}
        self._listed: list[_Lead] = []
        self._listed_keys: list[tuple[int, str]] = []
        self._actions: dict[str, bytes] = {}  # leadId -> JSON array
        self._customers: dict[str, bytes] = {}  # _id -> JSON object
        self._customer_ids: dict[tuple[str, str], str] = {}
        self._references: dict[str, list[dict[str, Any]]] = {name: [] for name in REFERENCE_PATHS}
        self._new_id = ObjectIds(random.Random("footprints-emulator"))

    @property
    def lead_count(self) -> int:
        """Every lead, listed by GET /api/lead or not."""
        with self._lock:
            return len(self._leads)

    def load(self, data: FootprintsData) -> None:
        """Serve `data` instead of whatever was served: leads, actions, customers and lists."""
        with self._lock:
            self._leads, self._listed, self._listed_keys = {}, [], []
            self._actions, self._customers, self._customer_ids = {}, {}, {}
            self._references = {name: [] for name in REFERENCE_PATHS}
            self.add_leads(data.leads)
            self.add_actions(data.actions)
            self.add_customers(data.customers)
            for name, rows in data.references.items():
                self.set_reference(name, rows)

    def add_leads(self, leads: Iterable[dict[str, Any]]) -> None:
        """Serve these leads too (safe while serving), shaped as GET /api/lead returns them.

        Each needs an `_id` not served yet and a createdAt that is ISO or `Y-m-d H:i:s` (UTC).
        """
        new: list[_Lead] = []
        for lead in leads:
            created = parse_timestamp(lead.get("createdAt"))
            lead_id = lead.get("_id")
            if created is None or not isinstance(lead_id, str):
                raise ValueError(f"a lead needs an _id and a parseable createdAt: {lead!r:.200}")
            new.append(_Lead((to_ms(created), lead_id), _listed(lead), _compact_json(lead)))
        with self._lock:
            seen: set[str] = set()
            for entry in new:
                lead_id = entry.key[1]
                if lead_id in self._leads or lead_id in seen:
                    raise ValueError(f"lead _id already present: {lead_id}")
                seen.add(lead_id)
            for entry in new:
                self._leads[entry.key[1]] = entry
            listed = sorted((lead for lead in new if lead.listed), key=lambda lead: lead.key)
            if listed and self._listed_keys and listed[0].key < self._listed_keys[-1]:
                self._listed = sorted(self._listed + listed, key=lambda lead: lead.key)
            else:
                self._listed = self._listed + listed
            self._listed_keys = [lead.key for lead in self._listed]

    def add_actions(self, actions: Iterable[dict[str, Any]]) -> None:
        """Serve these lead actions too; each has the `leadId` of its lead."""
        by_lead: dict[str, list[dict[str, Any]]] = {}
        for action in actions:
            by_lead.setdefault(str(action["leadId"]), []).append(action)
        with self._lock:
            for lead_id, added in by_lead.items():
                self._append_actions(lead_id, added)

    def add_customers(self, customers: Iterable[dict[str, Any]]) -> None:
        """Serve these customer profiles too, found by their userEmail and userPhone."""
        added = []
        for customer in customers:
            key = customer_key(customer.get("userEmail"), customer.get("userPhone"))
            if key is None or not isinstance(customer.get("_id"), str):
                raise ValueError(
                    f"a customer needs an _id, a userEmail and a userPhone: {customer!r:.200}"
                )
            added.append((key, customer["_id"], _compact_json(customer)))
        with self._lock:
            for key, customer_id, line in added:
                self._customers[customer_id] = line
                self._customer_ids[key] = customer_id

    def set_reference(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Serve `rows` as the list `name` (a key of REFERENCE_PATHS)."""
        if name not in REFERENCE_PATHS:
            raise ValueError(
                f"unknown reference list {name!r}; one of {', '.join(REFERENCE_PATHS)}"
            )
        with self._lock:
            self._references[name] = list(rows)

    def change_status(
        self, lead_id: str, status: str, at: datetime, contract_value: float | None = None
    ) -> None:
        """Move a lead to `status` at `at`, as a consultant would in the CRM.

        Sets status, timestampStatusChange and updatedAt (in the style of the lead's createdAt)
        and, for "customer", contractValue (`contract_value`, else the sku's or offer's price),
        contractNumber and contractDate. Adds a "Status changed to <status>" action and, when
        the lead has a customer, an entry in that profile's history of the lead.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        ms = to_ms(at)
        with self._lock:
            stored = self._leads.get(lead_id)
            if stored is None:
                raise KeyError(f"no lead {lead_id}")
            old = orjson.loads(stored.line)
            stamp = iso_ms if "T" in str(old.get("createdAt")) else plain
            body = {**old, "status": status, "timestampStatusChange": stamp(ms)}
            body["updatedAt"] = stamp(ms)
            if status == "customer":
                sku, offer = body.get("sku") or {}, body.get("offer") or {}
                price = sku.get("price", offer.get("price"))
                self._contracts += 1
                body["contractValue"] = price if contract_value is None else contract_value
                body["contractNumber"] = f"FP-{plain(ms)[:4]}-E{self._contracts:04d}"
                body["contractDate"] = plain(ms)[:10]
            stored.line = _compact_json(body)
            self._append_actions(lead_id, [self._status_action(lead_id, status, ms)])
            customer = self._customers.get(str(body.get("clientId")))
            if customer is not None:
                profile = orjson.loads(customer)
                self._add_history(profile, body, ms)
                self._customers[profile["_id"]] = _compact_json(profile)

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid, as if it had expired."""
        with self._lock:
            self._tokens.clear()

    def handle(self, request: Request) -> Response:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            latency = self.latency_seconds
            if latency > 0:
                time.sleep(latency)
            return self._route(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path == "/api/token":
            if request.method != "POST":
                return _json({"message": "Method not allowed"}, 405, {"Allow": "POST"})
            return self._token(request)
        if not self._token_valid(_last(request.query, "access_token")):
            return _json(_INVALID_TOKEN, 401)
        known = path in ("/api/lead", "/api/client") or path in _REFERENCE_BY_PATH
        if not known and not path.startswith(_ACTIONS_PREFIX):
            return _message(f"Cannot {request.method} {path}", 404)
        if request.method != "GET":
            return _json({"message": "Not emulated"}, 405, {"Allow": "GET"})
        try:
            if path == "/api/lead":
                return self._lead_page(request.query)
            if path.startswith(_ACTIONS_PREFIX):
                return self._lead_actions(path[len(_ACTIONS_PREFIX) :])
            if path == "/api/client":
                return self._client(request.query)
            return self._reference(_REFERENCE_BY_PATH[path], request.query)
        except _BadRequest as exc:
            return _message(str(exc), 400)

    def _token(self, request: Request) -> Response:
        content_type = request.headers.get("Content-Type") or ""
        if not content_type.lower().startswith("application/x-www-form-urlencoded"):
            return _oauth_error(
                400,
                "invalid_request",
                "Invalid request: content must be application/x-www-form-urlencoded",
            )
        if not self._client_authenticated(request.headers.get("Authorization")):
            return _oauth_error(401, "invalid_client", "Invalid client: client is invalid")
        try:
            form = parse_qs(request.body.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        grant = _last(form, "grant_type")
        if not grant:
            return _oauth_error(400, "invalid_request", "Missing parameter: `grant_type`")
        if grant == "client_credentials":
            granted = True
        elif grant == "pin":
            pin = _last(form, "pin")
            if not pin:
                return _oauth_error(400, "invalid_request", "Missing parameter: `pin`")
            granted = secrets.compare_digest(pin, self.pin)
        elif grant == "password":
            username, password = _last(form, "username"), _last(form, "password")
            if not username or not password:
                return _oauth_error(
                    400, "invalid_request", "Missing parameter: `username` or `password`"
                )
            granted = secrets.compare_digest(username, self.username) & secrets.compare_digest(
                password, self.password
            )
        else:
            return _oauth_error(
                400, "unsupported_grant_type", "Unsupported grant type: `grant_type` is invalid"
            )
        if not granted:
            return _oauth_error(400, "invalid_grant", "Invalid grant: user credentials are invalid")
        token, refresh = secrets.token_hex(32), secrets.token_hex(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_seconds
            self.tokens_issued += 1
            self.issued_tokens += (token, refresh)
        body = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(self.token_ttl_seconds),
            "refresh_token": refresh,
            "scope": ["app_scope", "hostess_scope"],
            "hostess_name": "Demo Hostess",
            "hostess_id": "5b30cb85e1267446c5784b75",
        }
        return _json(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _client_authenticated(self, header: str | None) -> bool:
        scheme, _, credentials = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return decoded == f"{self.client_key}:{self.client_secret}"

    def _token_valid(self, token: str | None) -> bool:
        if not token:
            return False
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and time.monotonic() < expires

    def _lead_page(self, query: dict[str, list[str]]) -> Response:
        start = _day_ms(_last(query, "startDate"), "startDate")
        end = _day_ms(_last(query, "endDate"), "endDate") + _DAY_MS
        page_size = _positive(_last(query, "pageSize"), "pageSize", DEFAULT_PAGE_SIZE)
        if page_size > MAX_PAGE_SIZE:
            raise _BadRequest(f"pageSize must not exceed {MAX_PAGE_SIZE}")
        page = _positive(_last(query, "page"), "page", 1)
        with self._lock:
            low = bisect_left(self._listed_keys, (start,))
            high = max(low, bisect_left(self._listed_keys, (end,)))
            first = min(low + (page - 1) * page_size, high)
            lines = [lead.line for lead in self._listed[first : min(first + page_size, high)]]
        body = b"[" + b",".join(lines) + b"]"
        headers = {"Content-Type": _JSON, **_page_headers(high - low, page_size, page)}
        return Response(200, body, headers)

    def _lead_actions(self, lead_id: str) -> Response:
        with self._lock:
            known = lead_id in self._leads
            actions = self._actions.get(lead_id, b"[]")
        if not known:
            return _message("Lead not found", 404)
        envelope = self.actions_envelope
        if envelope == "mixed":
            envelope = "data" if zlib.crc32(lead_id.encode()) % 2 else "bare"
        body = b'{"data":' + actions + b"}" if envelope == "data" else actions
        return Response(200, body, {"Content-Type": _JSON})

    def _client(self, query: dict[str, list[str]]) -> Response:
        email, phone = _last(query, "userEmail"), _last(query, "userPhone")
        key = customer_key(email, phone)
        if key is None:
            raise _BadRequest("userEmail and userPhone are mandatory")
        with self._lock:
            customer = self._customers.get(self._customer_ids.get(key, ""))
        if customer is None:
            return _message("Client not found", 404)
        return Response(200, customer, {"Content-Type": _JSON})

    def _reference(self, name: str, query: dict[str, list[str]]) -> Response:
        with self._lock:
            rows = self._references[name]
        if name == "lead_action_types":
            return _json({"data": rows})
        if name not in PAGED_REFERENCES:
            return _json(rows)
        page = _positive(_last(query, "page"), "page", 1)
        first = (page - 1) * REFERENCE_PAGE_SIZE
        page_rows = rows[first : first + REFERENCE_PAGE_SIZE]
        return _json(page_rows, headers=_page_headers(len(rows), REFERENCE_PAGE_SIZE, page))

    def _append_actions(self, lead_id: str, added: list[dict[str, Any]]) -> None:
        old = self._actions.get(lead_id)
        actions = added if old is None else [*orjson.loads(old), *added]
        self._actions[lead_id] = _compact_json(actions)

    def _status_action(self, lead_id: str, status: str, ms: int) -> dict[str, Any]:
        types = self._references["lead_action_types"]
        kind = next((t for t in types if t.get("name") == STATUS_CHANGE_ACTION_TYPE), None)
        if kind is None:
            kind = types[0] if types else {"_id": self._new_id(ms), "name": "Status change"}
        return {
            "_id": self._new_id(ms),
            "leadId": lead_id,
            "actionDetail": f"Status changed to {status}",
            "leadActionTypeId": {"_id": kind["_id"], "name": kind["name"]},
            "attachments": [],
            "date": iso_ms(ms),
            "createdAt": iso_ms(ms),
            "updatedAt": iso_ms(ms),
        }

    def _add_history(self, profile: dict[str, Any], lead: dict[str, Any], ms: int) -> None:
        """Give the profile's entry for `lead` the lead's new status and a history entry."""
        for entry in profile.get("leads") or []:
            if entry.get("_id") == lead["_id"]:
                history = entry.get("history") or []
                key = history[-1].get("applicationKey", "") if history else ""
                entry["history"] = [
                    *history,
                    history_entry(lead, lead["status"], ms, key, self._new_id),
                ]
                entry["__v"] = int(entry.get("__v") or 0) + 1
                entry["status"] = lead["status"]
                entry["timestampStatusChange"] = iso_ms(ms)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.footprints",
        description="Serve generated Footprints leads until SIGTERM or SIGINT.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--leads", type=int, default=1000, help="generated leads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of every answer")
    parser.add_argument(
        "--start", type=date.fromisoformat, help=f"default: {DEFAULT_DAYS - 1} days before --end"
    )
    parser.add_argument("--end", type=date.fromisoformat, help="default: today (UTC)")
    parser.add_argument("--caller-seed", type=int, default=7, help="seed of the Infinity data")
    parser.add_argument("--caller-count", type=int, default=1000)
    parser.add_argument("--actions-envelope", choices=ENVELOPES, default="mixed")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="seconds")
    parser.add_argument("--client-key", default="demo-client-key")
    parser.add_argument("--client-secret", default="demo-client-secret")
    parser.add_argument("--pin", default="1234567890")
    parser.add_argument("--username", default="demo@footprints.example")
    parser.add_argument("--password", default="demo-pass")
    args = parser.parse_args(argv)
    end = args.end or datetime.now(UTC).date()
    start = args.start or end - timedelta(days=DEFAULT_DAYS - 1)

    emulator = FootprintsEmulator(
        client_key=args.client_key,
        client_secret=args.client_secret,
        pin=args.pin,
        username=args.username,
        password=args.password,
        token_ttl_seconds=args.token_ttl,
        latency_seconds=args.latency_ms / 1000,
        actions_envelope=args.actions_envelope,
        port=args.port,
    )
    emulator.load(
        generate_footprints(
            args.leads,
            seed=args.seed,
            start=start,
            end=end,
            caller_seed=args.caller_seed,
            caller_count=args.caller_count,
        )
    )

    emulator.serve_until_signalled()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
