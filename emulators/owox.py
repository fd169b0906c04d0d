"""Local emulator of an OWOX BI call-tracking access point, for the tests, bench and demo.

Reference: shared/api-docs/owox-bi-call-tracking-requirements.txt, which defers to Google
Analytics' Measurement Protocol (v1) for everything it does not state. What it reproduces,
because a client has to cope with each of these:

- Hits go to `/{tid}` (`https://[name].bi.owox.com/UA-XXXXX-X?v=1&cid=...&t=event&...`), one
  access point per Universal Analytics property; any other path is a 404. As Measurement
  Protocol allows, a hit is a GET with the payload as its query string or a POST with it as a
  form-encoded body.
- Like Measurement Protocol, every hit is answered 200 with a 1x1 GIF, valid or not: a client
  cannot learn from the answer that its hits are being thrown away. The emulator records each
  hit with the reasons it would not be usable (`Hit.problems`), for tests to look at.
- A hit is usable when: `v` is "1"; `tid` is the access point's property (`UA-\\d+-\\d+`);
  `cid` is present (the reference's example carries it; Measurement Protocol would also take
  a `uid`); `t` is one of Measurement Protocol's hit types; an event has `ec` and `ea`, and an
  `ev` that is a non-negative integer; `qt`, if sent, is a non-negative integer; `ds` is
  "call center"; no parameter is sent twice; the payload is at most 8192 bytes, Measurement
  Protocol's limit. And the OWOX addition: `tel` is an E.164 number, URL-encoded, so its `+`
  travels as `%2B`. A raw `+` in a query string decodes to a space, so the number arrives
  without its `+` and is refused with a reason saying so.
- Measurement Protocol does not de-duplicate: a hit sent twice counts twice, so a client's
  retries show as double hits (`count_by`).

`latency_seconds` delays every answer without holding any lock, so concurrent requests overlap
as they would against a remote server; `max_in_flight` records how many were ever answered at
once. Faults (500, 429, delays, dropped connections) come from `EmulatorServer`; the real
collector answers 5xx only when it is down, and then the hit is lost unless the client retries.

Run standalone: `python -m emulators.owox --port 8768 --tid UA-12345-1` prints its
URL on one line, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from emulators.server import EmulatorServer, Fault, Request, Response

HIT_TYPES = frozenset(
    {"pageview", "screenview", "event", "transaction", "item", "social", "exception", "timing"}
)
MAX_PAYLOAD_BYTES = 8192
CALL_CENTER = "call center"
# The 1x1 transparent GIF Google Analytics' collector answers with.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

_TID = re.compile(r"UA-\d+-\d+")
_E164 = re.compile(r"\+[1-9]\d{1,14}")
_NON_NEGATIVE = re.compile(r"\d+")
_PIXEL_HEADERS = {
    "Content-Type": "image/gif",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


@dataclass
class Hit:
    """One hit as received: decoded parameters, the payload as sent, and what is wrong with it.

    Attributes:
        params: Every parameter, URL-decoded (the last value of a repeated one).
        raw: The payload as sent, still encoded: the query string of a GET, the body of a POST.
        valid: Whether the hit would be usable, that is `problems` is empty.
        problems: The reasons it would not be, one per broken rule.
        method: "GET" or "POST".
    """

    params: dict[str, str]
    raw: str
    valid: bool
    problems: list[str] = field(default_factory=list)
    method: str = "GET"


def _raw_values(raw: str, name: str) -> list[str]:
    """The still-encoded values of parameter `name` in a payload."""
    values = []
    for pair in raw.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            values.append(value)
    return values


class OwoxEmulator(EmulatorServer):
    """An OWOX BI access point for one property on 127.0.0.1.

    Args:
        tid: The Universal Analytics property served at `/{tid}`.
        latency_seconds: Delay before every answer; settable at any time.
        port: Port to listen on; 0 picks a free one.

    Attributes:
        hits: Every hit received, valid or not, in the order received.
        max_in_flight: The most requests ever being answered at once.
    """

    def __init__(
        self, *, tid: str = "UA-12345-1", latency_seconds: float = 0.0, port: int = 0
    ) -> None:
        if not _TID.fullmatch(tid):
            raise ValueError(f"tid must look like UA-12345-1, got {tid!r}")
        super().__init__(port=port)
        self.tid = tid
        self.latency_seconds = latency_seconds
        self.max_in_flight = 0
        self.hits: list[Hit] = []
        self._in_flight = 0
        self._target = threading.local()
        # Guards `hits` and the in-flight count.
        self._lock = threading.Lock()

    @property
    def collect_url(self) -> str:
        """Where a client sends hits: the access point of the property."""
        return f"{self.url}/{self.tid}"

    @property
    def valid_hits(self) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if hit.valid]

    @property
    def invalid_hits(self) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if not hit.valid]

    def count_by(self, param: str, *, valid_only: bool = True) -> Counter[str]:
        """How many hits carried each value of `param`, e.g. `count_by("el")` per lead.

        Any count above 1 is a hit sent more than once. Hits without `param` are not counted.
        """
        with self._lock:
            hits = list(self.hits)
        return Counter(
            hit.params[param]
            for hit in hits
            if param in hit.params and (hit.valid or not valid_only)
        )

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
        if request.path.rstrip("/") != f"/{self.tid}":
            return Response(404, b"Not Found", {"Content-Type": "text/plain; charset=utf-8"})
        if request.method not in ("GET", "POST"):
            return Response(
                405,
                b"Method Not Allowed",
                {"Content-Type": "text/plain; charset=utf-8", "Allow": "GET, POST"},
            )
        if request.method == "GET":
            # The request line arrives decoded as ISO-8859-1, so this gives back its bytes.
            payload = getattr(self._target, "query", "").encode("latin-1")
        else:
            payload = request.body
        hit = self._inspect(payload, request.method)
        with self._lock:
            self.hits.append(hit)
        return Response(200, PIXEL, dict(_PIXEL_HEADERS))

    def _take_fault(self, path: str) -> Fault | None:
        # `Request.query` is decoded, which loses the difference between `+` and `%2B` that the
        # tel rule is about. The base calls this with the request target on the handler's own
        # thread just before `handle`, so a thread-local keeps the raw query string for it.
        self._target.query = urlsplit(path).query
        return super()._take_fault(path)

    def _inspect(self, payload: bytes, method: str) -> Hit:
        problems: list[str] = []
        if len(payload) > MAX_PAYLOAD_BYTES:
            problems.append(
                f"payload is {len(payload)} bytes; Measurement Protocol allows at most "
                f"{MAX_PAYLOAD_BYTES}"
            )
        try:
            raw = payload.decode("ascii")
        except UnicodeDecodeError:
            raw = payload.decode("latin-1")
            problems.append("payload has bytes that are not URL-encoded")
        try:
            pairs = parse_qsl(raw, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            pairs = parse_qsl(raw, keep_blank_values=True, errors="replace")
            problems.append("payload has percent-encoded bytes that are not UTF-8")
        params: dict[str, str] = {}
        for name, value in pairs:
            if name in params:
                problems.append(f"{name} is sent more than once")
            params[name] = value
        problems += self._problems(params, raw)
        return Hit(params, raw, not problems, problems, method)

    def _problems(self, params: dict[str, str], raw: str) -> list[str]:
        problems = []
        if params.get("v") != "1":
            problems.append(f"v must be 1, got {params.get('v')!r}")
        tid = params.get("tid")
        if not tid:
            problems.append("tid is missing")
        elif not _TID.fullmatch(tid):
            problems.append(f"tid {tid!r} is not a property id like UA-12345-1")
        elif tid != self.tid:
            problems.append(f"tid {tid!r} is not this access point's property {self.tid}")
        if not params.get("cid"):
            problems.append("cid is missing")
        hit_type = params.get("t")
        if not hit_type:
            problems.append("t is missing")
        elif hit_type not in HIT_TYPES:
            problems.append(f"t {hit_type!r} is not a hit type ({', '.join(sorted(HIT_TYPES))})")
        if hit_type == "event":
            for name in ("ec", "ea"):
                if not params.get(name):
                    problems.append(f"{name} is missing; an event needs ec and ea")
            if "ev" in params and not _NON_NEGATIVE.fullmatch(params["ev"]):
                problems.append(f"ev {params['ev']!r} is not a non-negative integer")
        if "qt" in params and not _NON_NEGATIVE.fullmatch(params["qt"]):
            problems.append(f"qt {params['qt']!r} is not a non-negative integer")
        problems += self._tel_problems(params.get("tel"), raw)
        if params.get("ds") != CALL_CENTER:
            problems.append(f"ds must be {CALL_CENTER!r}, got {params.get('ds')!r}")
        return problems

    def _tel_problems(self, tel: str | None, raw: str) -> list[str]:
        if tel is None or tel == "":
            return ["tel is missing"]
        encoded = _raw_values(raw, "tel")
        if any(value.startswith("+") for value in encoded):
            return [
                f"tel {encoded[-1]!r} has its + unencoded, which decodes to a space "
                f"({tel!r}); send it as %2B"
            ]
        if not _E164.fullmatch(tel):
            return [f"tel {tel!r} is not an E.164 number like +12015550111"]
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.owox",
        description="Receive OWOX BI call-tracking hits until SIGTERM or SIGINT.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of every answer")
    parser.add_argument("--tid", default="UA-12345-1", help="the property served at /{tid}")
    args = parser.parse_args(argv)

    emulator = OwoxEmulator(tid=args.tid, latency_seconds=args.latency_ms / 1000, port=args.port)
    emulator.serve_until_signalled()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
