"""Qubit offline conversions: QProtocol transaction events, POSTed in batches.

Reference: shared/api-docs/qubit-offline-conversions.txt. What the push relies on:

- `POST {base_url}/events/{tracking_id}` with `{"events": [...]}`; up to
  `destination.qubit.batch_size` events per request.
- A 200 answer carries one `results` entry per event, in order: `success` (maybe with
  `warnings`, kept as the ledger message) or `failed` with an `error`, which fails that event
  alone, permanently. A results list of another length fails the batch, transiently.
- A 500-style answer (`{"status": 502, "message": "Bad Gateway"}`) fails the whole batch,
  transiently. A 401, 403 or 404 (an unknown tracking id) stops the push to Qubit.
- Qubit de-duplicates on `transaction.id` (the lead id), so a batch whose answer was lost can
  be sent again: the push sends first and records after, and retries timeouts.

Every field comes from `outbound.qubit_events`; the vertical decided the event type and the
object holding the total (`total_object`) in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from requests import Session

from pipelines.push.delivery import (
    Outcome,
    Pending,
    failure_of,
    failure_of_error,
    json_value,
)
from pipelines.runtime import settings
from pipelines.runtime.http import retrying_session

DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000


@dataclass(frozen=True)
class QubitTarget:
    base_url: str
    tracking_id: str
    batch_size: int = DEFAULT_BATCH_SIZE

    name: ClassVar[str] = "qubit"
    table: ClassVar[str] = "outbound.qubit_events"
    id_column: ClassVar[str] = "qubit_event_id"
    deduplicates: ClassVar[bool] = True
    required_keys: ClassVar[tuple[str, ...]] = ("destination.qubit.tracking_id",)

    @classmethod
    def from_config(cls) -> QubitTarget:
        spec = settings.QubitConfig
        raw = settings.resolve(spec)
        return cls(
            base_url=raw.base_url.rstrip("/"),
            tracking_id=settings.required(spec, "tracking_id", raw.tracking_id),
            batch_size=settings.bounded(
                spec, "batch_size", raw.batch_size, minimum=1, maximum=MAX_BATCH_SIZE
            ),
        )

    @property
    def url(self) -> str:
        return f"{self.base_url}/events/{self.tracking_id}"

    def payload(self, row: dict[str, Any]) -> dict[str, Any]:
        meta = {"type": row["meta__type"], "ts": json_value(row["meta__ts"])}
        if row["meta__source"]:
            meta["source"] = row["meta__source"]
        total = {"value": json_value(row["total__value"]), "currency": row["total__currency"]}
        return {
            "context": {"id": row["context__id"]},
            "meta": meta,
            row["total_object"]: {"total": total},
            "transaction": {"id": row["transaction__id"]},
        }

    def check(self, payload: dict[str, Any]) -> str | None:
        total_object = next(k for k in payload if k not in ("context", "meta", "transaction"))
        required = {
            "context.id": payload["context"]["id"],
            "meta.type": payload["meta"]["type"],
            "meta.ts": payload["meta"]["ts"],
            "transaction.id": payload["transaction"]["id"],
            f"{total_object}.total.value": payload[total_object]["total"]["value"],
            f"{total_object}.total.currency": payload[total_object]["total"]["currency"],
        }
        missing = [name for name, value in required.items() if value in (None, "")]
        return f"missing {', '.join(missing)}" if missing else None

    def session(self) -> Session:
        return retrying_session(name="qubit", idempotent=True)

    def preview(self, pending: Pending) -> dict[str, Any]:
        return {"method": "POST", "url": self.url, "event": pending.payload}

    def send(self, session: Session, batch: list[Pending]) -> list[Outcome]:
        try:
            response = session.post(self.url, json={"events": [p.payload for p in batch]})
        except Exception as error:
            return [failure_of_error(error, deduplicates=True)] * len(batch)
        if not response.ok:
            outcome = failure_of(response, "Qubit", refused=(401, 403, 404))
            return [outcome] * len(batch)
        try:
            results = response.json()["results"]
        except (ValueError, KeyError, TypeError):
            results = None
        if not isinstance(results, list) or len(results) != len(batch):
            outcome = Outcome.transient(
                f"HTTP {response.status_code}: expected {len(batch)} results, got "
                f"{len(results) if isinstance(results, list) else 'none'}",
                response.status_code,
            )
            return [outcome] * len(batch)
        return [_result(result, response.status_code) for result in results]


def _result(result: Any, http_status: int) -> Outcome:
    if isinstance(result, dict) and result.get("status") == "success":
        warnings = result.get("warnings") or []
        return Outcome.sent(http_status, "; ".join(map(str, warnings)) or None)
    error = result.get("error") if isinstance(result, dict) else None
    return Outcome.permanent(f"Qubit: {error if error else repr(result)}", http_status)
