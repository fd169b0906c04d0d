"""Footprints records as analysts read them: UTC timestamps, numbers, `_id` keys as `id`.

A value that cannot be read is kept as text in a `<column>_text` column and the row still
loads.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

TIMESTAMP_FIELDS = frozenset(
    {
        "timestamp",
        "timestampStatusChange",
        "createdAt",
        "updatedAt",
        "userBirthday",
        "contractDate",
        "date",
        "startDate",
        "endDate",
    }
)


NUMBER_FIELDS = frozenset({"contractValue", "price", "userIncome"})


_JS_DATE = re.compile(
    r"^[A-Z][a-z]{2} ([A-Z][a-z]{2} \d{1,2} \d{4} \d{2}:\d{2}:\d{2}) GMT([+-]\d{4})"
)


def shape(value: Any) -> Any:
    """`_id` -> `id` at every level, typed timestamps and money, unreadable values kept as text."""
    if isinstance(value, list):
        return [shape(item) for item in value]
    if not isinstance(value, dict):
        return value
    shaped: dict[str, Any] = {}
    for key, item in value.items():
        name = "id" if key == "_id" else key
        if item is None:
            # Absent and null load the same; an always-null column only makes dlt warn.
            continue
        if key in TIMESTAMP_FIELDS and isinstance(item, str):
            parsed = shaped[name] = parse_timestamp(item)
            if parsed is None and item.strip():
                shaped[f"{name}_text"] = item
        elif key in NUMBER_FIELDS and not isinstance(item, (int, float)):
            number = parse_number(item)
            shaped[name] = number
            if number is None and str(item).strip():
                shaped[f"{name}_text"] = str(item)
        else:
            shaped[name] = shape(item)
    return shaped


def parse_timestamp(text: str) -> datetime | None:
    """UTC wall-clock time of any of the reference's timestamp shapes; None if unreadable."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        match = _JS_DATE.match(text)
        if match is None:
            return None
        try:
            moment = datetime.strptime(f"{match[1]} {match[2]}", "%b %d %Y %H:%M:%S %z")
        except ValueError:
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def parse_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(str(value).strip().replace(",", ""))
    except ValueError:
        return None
