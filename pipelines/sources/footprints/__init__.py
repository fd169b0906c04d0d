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
- The access token travels in the query string: see `pipelines.sources.footprints.client`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import dlt
from dlt.extract.source import DltSource

from pipelines.sources import rejected
from pipelines.sources.footprints.fetch import Chunk


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
    # the number as the CRM holds it: the match diagnostics say how it was read
    "user_phone": {"data_type": "text"},
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
    )
    resources: list[Any] = [leads, rejected.resource(_batch(chunk.rejected))]
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
