"""Gameball events: one conversion per request to the event API.

Reference: shared/api-docs/gameball-event-api.txt. What the push relies on:

- `POST {base_url}/integrations/event` with header `APIKey` and body `{"playerUniqueId",
  "mobile"?, "email"?, "events": {name: metadata}}`. `mobile` and `email` are sent only when
  the account merges channels (`destination.gameball.channel_merging`), as the reference says.
- An event name at most once per request, and metadata values are numbers, strings or lists
  of strings: one conversion per request keeps the first true; the second is checked here.
- Rate limit (FINDINGS: 100 requests/s and 1,200 per 30 s): requests are spaced to
  `destination.gameball.max_requests_per_second` (default 40, the 30-second limit's
  average), and a 429 is still retried within the run after its Retry-After, with the
  `[http]` floor. A 401 or 403 stops the push to Gameball; another 4xx fails that event,
  permanently.
- Gameball does not de-duplicate events (each may earn the player points), so the push
  records its intent before sending and never repeats a request that may have arrived.

Every field comes from `outbound.gameball_events`: `metadata__<key>` columns become the
event's metadata, null ones left out.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from requests import Session

from pipelines.push.delivery import Outcome, Pending, failure_of, failure_of_error, json_value
from pipelines.runtime import settings
from pipelines.runtime.http import retrying_session

METADATA_PREFIX = "metadata__"
DEFAULT_REQUESTS_PER_SECOND = 40.0


class Pacer:
    """Spaces calls from any number of threads at least `1 / per_second` apart."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


@dataclass(frozen=True)
class GameballTarget:
    base_url: str
    api_key: str = field(repr=False)  # a secret: never in output
    channel_merging: bool = False
    max_requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    pacer: Pacer = field(init=False, repr=False, compare=False)

    name: ClassVar[str] = "gameball"
    table: ClassVar[str] = "outbound.gameball_events"
    id_column: ClassVar[str] = "gameball_event_id"
    deduplicates: ClassVar[bool] = False
    required_keys: ClassVar[tuple[str, ...]] = ("destination.gameball.api_key",)
    batch_size: ClassVar[int] = 1

    @classmethod
    def from_config(cls) -> GameballTarget:
        spec = settings.GameballConfig
        raw = settings.resolve(spec)
        return cls(
            base_url=raw.base_url.rstrip("/"),
            api_key=settings.required(spec, "api_key", raw.api_key),
            channel_merging=raw.channel_merging,
            max_requests_per_second=settings.bounded(
                spec, "max_requests_per_second", raw.max_requests_per_second, minimum=0.1
            ),
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "pacer", Pacer(self.max_requests_per_second))

    @property
    def url(self) -> str:
        return f"{self.base_url}/integrations/event"

    def payload(self, row: dict[str, Any]) -> dict[str, Any]:
        metadata = {
            name.removeprefix(METADATA_PREFIX): json_value(value)
            for name, value in row.items()
            if name.startswith(METADATA_PREFIX) and value is not None
        }
        body: dict[str, Any] = {"playerUniqueId": row["player_unique_id"]}
        if self.channel_merging:
            body.update({k: row[k] for k in ("mobile", "email") if row.get(k)})
        body["events"] = {row["event_name"]: metadata}
        return body

    def check(self, payload: dict[str, Any]) -> str | None:
        if not payload["playerUniqueId"]:
            return "missing playerUniqueId"
        ((name, metadata),) = payload["events"].items()
        if not name:
            return "missing event name"
        for key, value in metadata.items():
            if not _metadata_value(value):
                return f"metadata {key!r} must be a number, a string or a list of strings"
        return None

    def session(self) -> Session:
        session = retrying_session(name="gameball", idempotent=False)
        session.headers["APIKey"] = self.api_key
        return session

    def preview(self, pending: Pending) -> dict[str, Any]:
        return {"method": "POST", "url": self.url, "json": pending.payload}

    def send(self, session: Session, batch: list[Pending]) -> list[Outcome]:
        (pending,) = batch
        self.pacer.wait()
        try:
            response = session.post(self.url, json=pending.payload)
        except Exception as error:
            return [failure_of_error(error, deduplicates=False)]
        if not response.ok:
            return [failure_of(response, "Gameball")]
        return [Outcome.sent(response.status_code)]


def _metadata_value(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | str):
        return True
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
