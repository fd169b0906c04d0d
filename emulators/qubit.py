"""Local emulator of Qubit's offline-conversions endpoint, for the tests, bench and demo.

Reference: shared/api-docs/qubit-offline-conversions.txt ("Set up call center tracking"). What
it reproduces, because a client has to cope with each of these:

- `POST /events/{trackingId}` with `Content-Type: application/json` and a body `{"events":
  [...]}`. An unknown tracking id is a 404; a body that is not JSON, or has no `events` list, is
  a 400; other paths 404 and other methods 405. Every such error has the body the reference
  shows for its 500s, `{"status": <HTTP status>, "message": ...}`. A body sent with another
  Content-Type is not parsed (as with a JSON body parser), so it is a 400 too.
- A 200 carries one result per event, in the order sent, and a batch can mix both kinds: a
  success `{"eventId", "eventType", "status": "success", "warnings"}` (the warning "Missing
  meta.source" when the event does not say who produced it) or a failure `{"status": "failed",
  "error": ...}` naming the first problem found. A client must map results back by position.
  (The reference's note says failures have status "error"; its sample says "failed", which is
  what is answered here.)
- Each event needs `context.id` (the visitor id), `meta.type` the transaction event of the
  property's vertical (the reference's table, see VERTICALS; a namespaced type such as
  `someco.trPackageTransactionSummary` counts), `meta.ts` an integer in milliseconds,
  `transaction.id`, and the vertical's amount object (`basket`, `betslip` or `package`) with a
  numeric `total.value` and a three-letter upper-case `total.currency`. A `meta.ts` under
  10^11 is refused as well: that is 1973 in milliseconds, so almost surely seconds, and Qubit
  would file the sale in 1970.
- Qubit de-duplicates on `transaction.id`: sending an accepted transaction again is answered
  with success but stored once, so retrying a whole batch after a timeout is safe.
- Per-event rejections from upstream (`fail_transactions`), while the rest of the batch is
  ingested, and `server_error()` for the reference's 500-style body on any status.

`latency_seconds` delays every answer without holding any lock, so concurrent requests overlap
as they would against a remote server; `max_in_flight` records how many were ever answered at
once. Faults (500, 429, delays, dropped connections) come from `EmulatorServer`.

Run standalone: `python -m emulators.qubit --port 8767 --vertical travel` prints its
URL on one line, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any

from emulators.server import EmulatorServer, Fault, Request, Response, json_response

# vertical -> (transaction event type, object holding `total`), as in the reference's table.
VERTICALS: dict[str, tuple[str, str]] = {
    "ecommerce": ("ecBasketTransactionSummary", "basket"),
    "egaming": ("egBetslipTransactionSummary", "betslip"),
    "publisher": ("pbBasketTransactionSummary", "basket"),
    "logistics": ("loBasketTransactionSummary", "basket"),
    "travel": ("trPackageTransactionSummary", "package"),
    "finance": ("fiBasketTransactionSummary", "basket"),
}
MISSING_SOURCE = "Missing meta.source"
DEFAULT_EVENT_ERROR = "Upstream rejected event"
# Milliseconds since the epoch reach 10^11 in March 1973; seconds will not before year 5138.
MIN_TS_MS = 10**11

_PATH = re.compile(r"/events/([^/]+)/?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def server_error(status: int = 502, message: str = "Bad Gateway", *, times: int = 1) -> Fault:
    """A fault answering the reference's body for unexpected errors, `{"status", "message"}`.

    Args:
        status: The HTTP status, repeated in the body.
        message: The body's message.
        times: How many requests it applies to.

    Returns:
        A Fault for `QubitEmulator.add_fault` (or, as a dict, the control endpoint).
    """
    return Fault(status=status, body={"status": status, "message": message}, times=times)


def _error(
    status: int, message: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    body = {"status": status, "message": message or _REASONS[status]}
    return json_response(body, status, headers)


def _event_id() -> str:
    # The shape of the reference's ids, e.g. 'g2w06o5z9nc-0ivwki51j-km2859c'.
    return "-".join("".join(secrets.choice(_BASE36) for _ in range(size)) for size in (11, 9, 7))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _field(event: dict[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class QubitEmulator(EmulatorServer):
    """Qubit's offline-conversions endpoint for one tracking id and vertical on 127.0.0.1.

    Args:
        tracking_id: The only tracking id whose path is served; others are 404.
        vertical: A key of VERTICALS; decides the accepted `meta.type` and amount object.
        latency_seconds: Delay before every answer; settable at any time.
        port: Port to listen on; 0 picks a free one.

    Attributes:
        accepted: transaction id -> the first accepted event with that id.
        duplicates: How many successes repeated an already accepted transaction id.
        failed: (event, error) for every event answered "failed", injected failures included.
        batches: The number of events of every request that carried an `events` list.
        max_in_flight: The most requests ever being answered at once.
    """

    def __init__(
        self,
        *,
        tracking_id: str = "demo-tracking-id",
        vertical: str = "ecommerce",
        latency_seconds: float = 0.0,
        port: int = 0,
    ) -> None:
        if vertical not in VERTICALS:
            raise ValueError(f"vertical must be one of {', '.join(VERTICALS)}")
        super().__init__(port=port)
        self.tracking_id = tracking_id
        self.vertical = vertical
        self.latency_seconds = latency_seconds
        self.max_in_flight = 0
        self.accepted: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.failed: list[tuple[dict[str, Any], str]] = []
        self.batches: list[int] = []
        self._in_flight = 0
        self._event_failures: dict[str, str] = {}
        # Guards everything above that handlers change.
        self._lock = threading.Lock()

    @property
    def event_type(self) -> str:
        return VERTICALS[self.vertical][0]

    @property
    def amount_object(self) -> str:
        return VERTICALS[self.vertical][1]

    def fail_transactions(self, ids: Iterable[str], error: str = DEFAULT_EVENT_ERROR) -> None:
        """Answer valid events with these transaction ids `{"status": "failed", "error": error}`.

        Applies every time, until `clear_event_failures()`; the rest of a batch still succeeds.
        """
        with self._lock:
            self._event_failures.update(dict.fromkeys(ids, error))

    def clear_event_failures(self) -> None:
        with self._lock:
            self._event_failures.clear()

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
        match = _PATH.fullmatch(request.path)
        if match is None:
            return _error(404)
        if request.method != "POST":
            return _error(405, headers={"Allow": "POST"})
        if match.group(1) != self.tracking_id:
            return _error(404)
        content_type = (request.headers.get("Content-Type") or "").lower()
        if not content_type.startswith("application/json"):
            return _error(400, "Content-Type must be application/json")
        try:
            body = json.loads(request.body, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"Invalid JSON: {exc}")
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            return _error(400, "Body must be an object with an events list")
        with self._lock:
            self.batches.append(len(events))
        return json_response({"results": [self._ingest(event) for event in events]})

    def _ingest(self, event: Any) -> dict[str, Any]:
        error = self._problem(event)
        if error is None:
            transaction_id = event["transaction"]["id"]
            with self._lock:
                error = self._event_failures.get(transaction_id)
                if error is None:
                    if transaction_id in self.accepted:
                        self.duplicates += 1
                    else:
                        self.accepted[transaction_id] = event
        if error is not None:
            with self._lock:
                self.failed.append((event, error))
            return {"status": "failed", "error": error}
        warnings = [] if event["meta"].get("source") else [MISSING_SOURCE]
        return {
            "eventId": _event_id(),
            "eventType": event["meta"]["type"],
            "status": "success",
            "warnings": warnings,
        }

    def _problem(self, event: Any) -> str | None:
        """The first reason the event cannot be ingested, None when it can."""
        if not isinstance(event, dict):
            return "Invalid event: must be an object"
        amount = self.amount_object
        for name in ("context.id", "meta.type"):
            value = _field(event, name)
            if value is None or value == "":
                return f"Missing {name}"
            if not isinstance(value, str):
                return f"Invalid {name}: must be a non-empty string"
        event_type = event["meta"]["type"]
        if not re.fullmatch(rf"(?:[A-Za-z0-9_-]+\.)?{self.event_type}", event_type):
            return f"Invalid meta.type for vertical {self.vertical}: {event_type}"
        ts = _field(event, "meta.ts")
        if ts is None:
            return "Missing meta.ts"
        if not isinstance(ts, int) or isinstance(ts, bool) or ts < MIN_TS_MS:
            return "Invalid meta.ts: must be an integer number of milliseconds since the epoch"
        transaction_id = _field(event, "transaction.id")
        if transaction_id is None or transaction_id == "":
            return "Missing transaction.id"
        if not isinstance(transaction_id, str):
            return "Invalid transaction.id: must be a non-empty string"
        value = _field(event, f"{amount}.total.value")
        if value is None:
            return f"Missing {amount}.total.value"
        if not _is_number(value):
            return f"Invalid {amount}.total.value: must be a number"
        currency = _field(event, f"{amount}.total.currency")
        if currency is None or currency == "":
            return f"Missing {amount}.total.currency"
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            return f"Invalid {amount}.total.currency: must be a three-letter code like GBP"
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.qubit",
        description="Receive Qubit offline conversions until SIGTERM or SIGINT.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of every answer")
    parser.add_argument("--tracking-id", default="demo-tracking-id")
    parser.add_argument("--vertical", choices=tuple(VERTICALS), default="ecommerce")
    args = parser.parse_args(argv)

    emulator = QubitEmulator(
        tracking_id=args.tracking_id,
        vertical=args.vertical,
        latency_seconds=args.latency_ms / 1000,
        port=args.port,
    )
    emulator.serve_until_signalled()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
