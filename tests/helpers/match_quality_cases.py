"""The match-quality models' data, hand-computed: `analytics.lead_match_diagnostics` per lead,
and `analytics.daily_funnel` over four days with a delivery ledger
(tests/models/test_match_quality.py; on BigQuery tests/models/test_models_bigquery.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from helpers.model_cases import DAY, SECOND, T, call, customer, lead
from pipelines.push.ledger import Entry

HOUR = timedelta(hours=1)


def number(n: int) -> str:
    return f"+4477009003{n:02d}"


@dataclass
class DiagnosticsCase:
    name: str
    leads: list[dict]
    triggers: list[dict]
    # lead id -> its row, every column but lead_id and created_at
    expected: dict[str, dict[str, Any]]


def diagnosed(
    outcome: str,
    kind: str,
    phone: str | None,
    calls: int = 0,
    matched: int = 0,
    before: datetime | None = None,
    after: datetime | None = None,
) -> dict[str, Any]:
    return {
        "phone_e164": phone,
        "phone_raw_kind": kind,
        "match_outcome": outcome,
        "calls_from_number": calls,
        "matched_calls": matched,
        "nearest_call_before_at": before,
        "nearest_call_after_at": after,
    }


DIAGNOSTICS_CASES = [
    DiagnosticsCase(
        "a call exactly at the window's edge matches; a later one is the nearest after",
        [lead("d1", T, number(1))],
        [call(3001, T - 30 * DAY, number(1)), call(3002, T + 2 * DAY, number(1))],
        {"d1": diagnosed("matched", "e164", number(1), 2, 1, T - 30 * DAY, T + 2 * DAY)},
    ),
    DiagnosticsCase(
        "a call one second before the window's edge: called only before the window",
        [lead("d2", T, number(2))],
        [call(3003, T - 30 * DAY - SECOND, number(2))],
        {
            "d2": diagnosed(
                "calls_only_before_window", "e164", number(2), 1, 0, T - 30 * DAY - SECOND
            )
        },
    ),
    DiagnosticsCase(
        "a call in the same second as the lead is at or before it: matched",
        [lead("d3", T, number(3))],
        [call(3004, T, number(3))],
        {"d3": diagnosed("matched", "e164", number(3), 1, 1, T)},
    ),
    DiagnosticsCase(
        "every call in the window counts as matched; the nearest before is the latest",
        [lead("d4", T, number(4))],
        [
            call(3005, T - 20 * DAY, number(4)),
            call(3006, T - HOUR, number(4)),
            call(3007, T - 3 * DAY, number(4)),
            call(3008, T - 45 * DAY, number(4)),
        ],
        {"d4": diagnosed("matched", "e164", number(4), 4, 3, T - HOUR)},
    ),
    DiagnosticsCase(
        "calls only after the lead; the nearest after is the earliest",
        [lead("d5", T, number(5), user_phone="+44 7700 900305")],
        [call(3009, T + 5 * DAY, number(5)), call(3010, T + SECOND, number(5))],
        {"d5": diagnosed("calls_only_after_lead", "e164", number(5), 2, 0, None, T + SECOND)},
    ),
    DiagnosticsCase(
        "called long before and again after: before the window comes first",
        [lead("d6", T, number(6), user_phone="0044 7700 900306")],
        [call(3011, T - 40 * DAY, number(6)), call(3012, T + DAY, number(6))],
        {
            "d6": diagnosed(
                "calls_only_before_window", "national", number(6), 2, 0, T - 40 * DAY, T + DAY
            )
        },
    ),
    DiagnosticsCase(
        "a national number read with the default region that never called",
        [lead("d7", T, number(7), user_phone="07700 900307")],
        [call(3013, T - DAY, number(99))],
        {"d7": diagnosed("no_calls_from_number", "national", number(7))},
    ),
    DiagnosticsCase(
        "only customer calls count: outgoing calls, charges and visits from the number do not",
        [lead("d8", T, number(8), user_phone="(+44) 7700-900.308")],
        [
            call(3014, T - DAY, number(8), act="callUser"),
            call(3015, T - DAY, number(8), act="callRate"),
            call(3016, T - DAY, number(8), act="land"),
            call(3017, T + DAY, number(8), act="goal"),
            call(3018, T - 2 * DAY, number(8), act="callBlegStart"),
        ],
        {"d8": diagnosed("matched", "e164", number(8), 1, 1, T - 2 * DAY)},
    ),
    DiagnosticsCase(
        "a number with outgoing calls and visits only never called",
        [lead("d11", T, number(11))],
        [
            call(3022, T - DAY, number(11), act="callUser"),
            call(3023, T + DAY, number(11), act="land"),
        ],
        {"d11": diagnosed("no_calls_from_number", "e164", number(11))},
    ),
    DiagnosticsCase(
        "no number, a blank one or one that cannot be read: no phone, whatever called",
        [
            lead("d9a", T, None),
            lead("d9b", T, None, user_phone="   "),
            lead("d9c", T, None, user_phone="n/a"),
            lead("d9d", T, None, user_phone="12345"),
        ],
        [call(3019, T - DAY, None)],
        {
            "d9a": diagnosed("no_phone", "empty", None),
            "d9b": diagnosed("no_phone", "empty", None),
            "d9c": diagnosed("no_phone", "unparseable", None),
            "d9d": diagnosed("no_phone", "unparseable", None),
        },
    ),
    DiagnosticsCase(
        "two leads from one number: the same calls, each placed around its own lead",
        [lead("d10a", T, number(10)), lead("d10b", T + 45 * DAY, number(10))],
        [call(3020, T - DAY, number(10)), call(3021, T + 10 * DAY, number(10))],
        {
            "d10a": diagnosed("matched", "e164", number(10), 2, 1, T - DAY, T + 10 * DAY),
            "d10b": diagnosed("calls_only_before_window", "e164", number(10), 2, 0, T + 10 * DAY),
        },
    ),
]


# --- the daily funnel ------------------------------------------------------------------------

X, Y, Z, W = number(51), number(52), number(53), number(54)
DAY_1 = T - DAY  # 2026-09-30 12:00
FUNNEL_TRIGGERS = [
    call(4001, DAY_1, X),
    call(4002, DAY_1 + HOUR, X),
    call(4003, DAY_1 + 2 * HOUR, Y, act="callBlegStart"),
    call(4004, DAY_1 + 3 * HOUR, None),  # a withheld number: a call, not a caller
    call(4005, DAY_1, X, act="land"),
    call(4006, DAY_1, Y, act="callUser"),
    call(4007, T + 12 * HOUR - SECOND, Z),  # 23:59:59 of the lead's day, after the lead
]
FUNNEL_LEADS = [
    lead("f1", T, X),
    lead("f2", T, Z),
    customer("f3", Y),  # created at T, converted two days later, worth 1,200.50
    lead(
        "f4",
        DAY_1,
        W,
        status="customer",
        timestamp_status_change=T + 2 * DAY,
        contract_value=99.5,
        client_id=None,
    ),
    lead("f5", DAY_1, None, status="customer", timestamp_status_change=None),
]


def entry(target: str, lead_id: str, status: str, at: datetime, attempts: int = 1) -> Entry:
    """A ledger row as the push records it."""
    return Entry(
        target=target,
        outbound_id=f"{target}:{lead_id}",
        lead_id=lead_id,
        status=status,
        attempts=attempts,
        first_attempt_at=at - (attempts - 1) * DAY,
        last_attempt_at=at,
        http_status=200 if status == "sent" else None,
        message=None,
        payload_hash=None,
        retryable=False,
        confirmed=True,
    )


FUNNEL_LEDGER = [
    entry("qubit", "f3", "sent", T + 2 * DAY + HOUR),
    entry("qubit", "f4", "skipped", T + 2 * DAY + HOUR),
    entry("owox", "f3", "sent", T + 3 * DAY - 3 * HOUR),
    entry("gameball", "f3", "sent", T + 3 * DAY, attempts=2),  # failed once the day before
    entry("gameball", "f4", "failed", T + 3 * DAY),
]


def funnel_day(day: date, **counts: Any) -> dict[str, Any]:
    """One row of the funnel: zeros but for `counts`, no match rate unless given."""
    row: dict[str, Any] = {
        "day": day,
        "calls": 0,
        "callers": 0,
        "leads": 0,
        "leads_matched": 0,
        "match_rate": None,
        "conversions": 0,
        "conversion_value": 0.0,
    }
    for target in ("qubit", "owox", "gameball"):
        row.update({f"{target}_{what}": 0 for what in ("sendable", "skipped", "delivered")})
    assert set(counts) <= set(row), set(counts) - set(row)
    return {**row, **counts}


# Before any push: the ledger is empty, so nothing is delivered and 2026-10-04 has no row.
FUNNEL_BEFORE_PUSH = [
    # f4 and f5 created; four customer calls, from two numbers and one withheld
    funnel_day(DAY_1.date(), calls=4, callers=2, leads=2, match_rate=0.0),
    # f1 (X) and f3 (Y) matched the day before's calls; f2's number called after it
    funnel_day(T.date(), calls=1, callers=1, leads=3, leads_matched=2, match_rate=2 / 3),
    # 2026-10-02: nothing happened, no row. f3 and f4 converted (f5 has no conversion time);
    # f4 has no call and no client id: every target skips it
    funnel_day(
        (T + 2 * DAY).date(),
        conversions=2,
        conversion_value=1300.0,
        qubit_sendable=1,
        qubit_skipped=1,
        owox_sendable=1,
        owox_skipped=1,
        gameball_sendable=1,
        gameball_skipped=1,
    ),
]
FUNNEL_AFTER_PUSH = [
    *FUNNEL_BEFORE_PUSH[:2],
    {**FUNNEL_BEFORE_PUSH[2], "qubit_delivered": 1},
    # delivered on a day of its own; the failed and skipped ledger rows are not delivered
    funnel_day((T + 3 * DAY).date(), owox_delivered=1, gameball_delivered=1),
]
