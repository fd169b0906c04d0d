"""Local emulator of Gameball's event API (v3.0), for the tests, the benchmark and the demo.

Reference: shared/api-docs/gameball-event-api.txt ("Event", POST /integrations/event under
the product's default base url `https://api.gameball.co/api/v3.0`). What it reproduces,
because a client has to cope with each of these:

- `POST /api/v3.0/integrations/event` with the client API key in the `APIKey` header: with
  another key 401, without one 403 (as FINDINGS measured). Other paths 404, other methods
  405, a body that is not `Content-Type: application/json` 415.
- The body: `playerUniqueId` (a non-empty string, required), `mobile` and `email` (optional
  strings, sent when the account merges channels; null counts as absent), and `events`, a
  non-empty object of event name -> metadata object. Metadata values are numbers, strings or
  arrays of strings (the reference: "the keys must not be replicated. If the consumer has
  multiple values for a single metadata key it should be provided as an array of strings").
- The reference's remarks forbid repeating an event name or a metadata key. JSON allows it and
  most parsers keep only the last, silently losing an event; here any repeated name in the
  body is a 400 that names it.
- Gameball does not de-duplicate events: every accepted request counts, so a client's retry of
  a request that did succeed shows as a second event (`count_events`).
- With `rate_limit_per_second`, requests past that many in the current one-second window (it
  opens with the first request after the last one closed) are answered 429 with
  `Retry-After: 1`. Every request to the endpoint counts, whatever its key or body.

The reference documents neither error bodies nor the success body. Errors here are
`{"code": int, "message": str}`: `code` 4 for a bad request (FINDINGS measured
`{"code": 4, "message": ...}` on a 400), 1 for an invalid API key, the HTTP status otherwise.
A success is 200 with `{"message": "Event(s) tracked successfully"}`. A client
should rely on the status alone.

`latency_seconds` delays every answer without holding any lock, so concurrent requests overlap
as they would against a remote server; `max_in_flight` records how many were ever answered at
once. Faults (500, 429, delays, dropped connections) come from `EmulatorServer`.

Run standalone: `python -m emulators.gameball --port 8769 --rate-limit 10` prints its
URL on one line, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from emulators.server import EmulatorServer, Request, Response, json_response

API_PREFIX = "/api/v3.0"
EVENT_PATH = f"{API_PREFIX}/integrations/event"
INVALID_KEY_CODE = 1
BAD_REQUEST_CODE = 4
SUCCESS_BODY = {"message": "Event(s) tracked successfully"}


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers which of its keys were repeated."""

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.repeated: list[str] = []
        for key, value in pairs:
            if key in self and key not in self.repeated:
                self.repeated.append(key)
            self[key] = value


class _BadRequest(Exception):
    pass


def _plain(value: Any) -> Any:
    """`value` with plain dicts, for what is recorded."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _error(
    status: int, message: str, *, code: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    if code is None:
        code = BAD_REQUEST_CODE if status == 400 else status
    body = {"code": code, "message": message}
    return json_response(body, status, headers)


def _is_metadata_value(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | str):
        return True
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _check(body: Any) -> None:
    """Raise _BadRequest naming the first thing wrong with a parsed body."""
    if not isinstance(body, _Object):
        raise _BadRequest("The request body must be a JSON object")
    if body.repeated:
        raise _BadRequest(f"Duplicate attribute: {body.repeated[0]}")
    player = body.get("playerUniqueId")
    if not isinstance(player, str) or not player.strip():
        raise _BadRequest("playerUniqueId is required and must be a non-empty string")
    for name in ("mobile", "email"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise _BadRequest(f"{name} must be a string")
    events = body.get("events")
    if not isinstance(events, _Object) or not events:
        raise _BadRequest("events is required and must be a non-empty object")
    if events.repeated:
        raise _BadRequest(f"Duplicate event name: {events.repeated[0]}")
    for name, metadata in events.items():
        if not name.strip():
            raise _BadRequest("An event name must not be empty")
        if not isinstance(metadata, _Object):
            raise _BadRequest(f"The metadata of event {name} must be an object")
        if metadata.repeated:
            raise _BadRequest(f"Duplicate metadata key {metadata.repeated[0]} in event {name}")
        for key, value in metadata.items():
            if not _is_metadata_value(value):
                raise _BadRequest(
                    f"Metadata {key} of event {name} must be a number, a string "
                    "or an array of strings"
                )


class GameballEmulator(EmulatorServer):
    """Gameball's event endpoint for one API key on 127.0.0.1.

    Args:
        api_key: The `APIKey` header value accepted.
        latency_seconds: Delay before every answer; settable at any time.
        rate_limit_per_second: Requests allowed per one-second window; None for no limit.
        clock: Seconds from any origin, for the rate limit's windows; tests pass a fake.
        port: Port to listen on; 0 picks a free one.

    Attributes:
        received: Every accepted body, parsed, in the order received.
        rate_limited: How many requests were answered 429 by the rate limit.
        max_in_flight: The most requests ever being answered at once.
    """

    def __init__(
        self,
        *,
        api_key: str = "demo-gameball-key",
        latency_seconds: float = 0.0,
        rate_limit_per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        port: int = 0,
    ) -> None:
        if rate_limit_per_second is not None and rate_limit_per_second <= 0:
            raise ValueError("rate_limit_per_second must be positive, or None for no limit")
        super().__init__(port=port)
        self.api_key = api_key
        self.latency_seconds = latency_seconds
        self.rate_limit_per_second = rate_limit_per_second
        self.max_in_flight = 0
        self.received: list[dict[str, Any]] = []
        self.rate_limited = 0
        self._clock = clock
        self._in_flight = 0
        self._window_start: float | None = None
        self._window_count = 0
        # Guards everything above that handlers change.
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What the product's Gameball base url setting should be to send here."""
        return f"{self.url}{API_PREFIX}"

    def count_events(self, name: str) -> Counter[str]:
        """How many accepted requests carried event `name`, per playerUniqueId.

        Any count above 1 for a conversion sent once is a double send.
        """
        with self._lock:
            bodies = list(self.received)
        return Counter(body["playerUniqueId"] for body in bodies if name in body["events"])

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
        if request.path.rstrip("/") != EVENT_PATH:
            return _error(404, "Not found")
        if request.method != "POST":
            return _error(405, "Method not allowed", headers={"Allow": "POST"})
        if not self._admit():
            return _error(429, "Too many requests", headers={"Retry-After": "1"})
        key = request.headers.get("APIKey") or ""
        if not key:
            return _error(403, "Missing API key")
        if not secrets.compare_digest(key.encode(), self.api_key.encode()):
            return _error(401, "Invalid API key", code=INVALID_KEY_CODE)
        content_type = (request.headers.get("Content-Type") or "").lower()
        if not content_type.startswith("application/json"):
            return _error(415, "Content-Type must be application/json")
        try:
            body = json.loads(
                request.body, object_pairs_hook=_Object, parse_constant=_reject_constant
            )
            _check(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"The request body is not valid JSON: {exc}")
        except _BadRequest as exc:
            return _error(400, str(exc))
        with self._lock:
            self.received.append(_plain(body))
        return json_response(SUCCESS_BODY)

    def _admit(self) -> bool:
        """Whether the current one-second window has room for one more request."""
        limit = self.rate_limit_per_second
        if limit is None:
            return True
        now = self._clock()
        with self._lock:
            if self._window_start is None or now - self._window_start >= 1.0:
                self._window_start, self._window_count = now, 0
            if self._window_count >= limit:
                self.rate_limited += 1
                return False
            self._window_count += 1
            return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.gameball",
        description="Receive Gameball events until SIGTERM or SIGINT.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of every answer")
    parser.add_argument("--api-key", default="demo-gameball-key")
    parser.add_argument(
        "--rate-limit", type=float, default=None, help="requests per second (default: no limit)"
    )
    args = parser.parse_args(argv)

    emulator = GameballEmulator(
        api_key=args.api_key,
        latency_seconds=args.latency_ms / 1000,
        rate_limit_per_second=args.rate_limit,
        port=args.port,
    )
    emulator.serve_until_signalled()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
