"""OWOX BI: one Measurement Protocol hit per conversion, with the caller's E.164 phone.

Reference: shared/api-docs/owox-bi-call-tracking-requirements.txt. What the push relies on:

- `GET {endpoint}/{tid}?v=1&tid=..&cid=..&t=event&...&tel=%2B...&ds=call%20center`, the
  parameters percent-encoded (`+` as `%2B`, a space as `%20`), as the reference's example.
- Measurement Protocol answers 2xx to every hit, valid or not. So the push checks what it can
  before sending (required parameters, E.164 `tel`, at most 8,192 bytes) and records each
  delivery as `sent` but not `confirmed`.
- Measurement Protocol does not de-duplicate: a hit sent twice counts twice. The push records
  its intent before sending, never repeats a request that may have arrived, and retries in
  the run only a 429 or a failure to connect.
- `qt` (queue time) is the time from the conversion to the sending, in ms, so it is computed
  when the hit leaves, from the row's `hit_ts`; it is not part of the payload's hash.

Every other parameter comes from `outbound.owox_hits`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from requests import Session

from pipelines.push.delivery import Outcome, Pending, failure_of, failure_of_error
from pipelines.runtime import settings
from pipelines.runtime.http import retrying_session
from pipelines.runtime.settings import SettingError, SyncError

# The row's columns that are Measurement Protocol parameters, in the order they are sent.
PARAMETERS = ("v", "tid", "cid", "t", "ec", "ea", "el", "ev", "tel", "ds", "cn", "cs", "cm", "ck")
REQUIRED = ("v", "tid", "cid", "t", "tel", "ds")
MAX_HIT_BYTES = 8192
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_QT_DIGITS = 13  # room kept for qt when the size is checked before sending
UNCONFIRMED = "Measurement Protocol answers 2xx to every hit: delivery is not confirmed"


@dataclass(frozen=True)
class OwoxTarget:
    endpoint: str
    tid: str

    name: ClassVar[str] = "owox"
    table: ClassVar[str] = "outbound.owox_hits"
    id_column: ClassVar[str] = "owox_hit_id"
    deduplicates: ClassVar[bool] = False
    required_keys: ClassVar[tuple[str, ...]] = ("destination.owox.endpoint", "destination.owox.tid")
    batch_size: ClassVar[int] = 1

    @classmethod
    def from_config(cls) -> OwoxTarget:
        spec = settings.OwoxConfig
        raw = settings.resolve(spec)
        endpoint = settings.required(spec, "endpoint", raw.endpoint).rstrip("/")
        tid = settings.required(spec, "tid", raw.tid)
        if not settings.UA_PROPERTY.match(tid):
            raise SettingError(
                "destination.owox.tid", f"must be a property id like UA-12345-1, got {tid!r}"
            )
        return cls(endpoint=endpoint, tid=tid)

    @property
    def url(self) -> str:
        return f"{self.endpoint}/{self.tid}"

    def payload(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["tid"] != self.tid:
            raise SyncError(
                f"outbound.owox_hits was built for tid {row['tid']!r} but destination.owox.tid "
                f"is {self.tid!r}: rebuild the models (python -m pipelines models) first"
            )
        return {name: str(row[name]) for name in PARAMETERS if row.get(name) is not None}

    def check(self, payload: dict[str, Any]) -> str | None:
        missing = [name for name in REQUIRED if not payload.get(name)]
        if missing:
            return f"missing Measurement Protocol parameter(s) {', '.join(missing)}"
        if payload["v"] != "1":
            return f"v must be 1, not {payload['v']!r}"
        if not _E164.match(payload["tel"]):
            return f"tel {payload['tel']!r} is not an E.164 number"
        if payload["t"] == "event" and not (payload.get("ec") and payload.get("ea")):
            return "an event hit needs ec and ea"
        size = len(_query({**payload, "qt": "9" * _QT_DIGITS}))
        if size > MAX_HIT_BYTES:
            return f"hit is {size:,} bytes; Measurement Protocol takes at most {MAX_HIT_BYTES:,}"
        return None

    def session(self) -> Session:
        return retrying_session(name="owox", idempotent=False)

    def hit(self, pending: Pending) -> str:
        """The query string as it leaves: the payload plus the queue time."""
        queue_ms = max(0, int(time.time() * 1000) - int(pending.row["hit_ts"]))
        return _query({**pending.payload, "qt": str(queue_ms)})

    def preview(self, pending: Pending) -> dict[str, Any]:
        return {"method": "GET", "url": f"{self.url}?{self.hit(pending)}"}

    def send(self, session: Session, batch: list[Pending]) -> list[Outcome]:
        (pending,) = batch
        try:
            response = session.get(f"{self.url}?{self.hit(pending)}")
        except Exception as error:
            return [failure_of_error(error, deduplicates=False)]
        if not response.ok:
            return [failure_of(response, "OWOX BI")]
        return [Outcome.sent(response.status_code, UNCONFIRMED, confirmed=False)]


def _query(parameters: dict[str, str]) -> str:
    return urlencode(parameters, quote_via=quote, safe="")
