"""The grain checks' cases (tests/models/test_contracts.py, and on BigQuery
tests/models/test_models_bigquery.py): first rows on which every grain holds, and model
directories, the real models plus one broken model, with the rows that break it."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from helpers.model_cases import DAY, T, call, customer, lead, phone, write_models
from pipelines.models.plan import SQL_DIR

# Every grain holds, the broken models' too: one call per lead, each converted lead's own
# number, every conversion attributed.
FIRST_TRIGGERS = [call(n, T - DAY, phone(n)) for n in (1, 2, 3)]
FIRST_LEADS = [customer("L1", phone(1)), customer("L2", phone(2)), lead("L3", T, phone(3))]
LEAD_CALLS = (
    "-- grain: lead_id\n"
    "-- one row per lead (wrongly: a lead with two calls has two)\n"
    "select lead_id, call_id from intermediate.int_calls_matched_to_leads"
)
ATTRIBUTED = (
    "-- grain: lead_id, attributed_call_id\n"
    "-- one row per conversion and its attributed call (wrongly: some have none)\n"
    "select lead_id, attributed_call_id from analytics.conversions"
)
GAMEBALL = SQL_DIR / "outbound" / "gameball_events.sql"
# Gameball's id from the phone number: two customers with one number share it.
GAMEBALL_BY_PHONE = GAMEBALL.read_text().replace(
    "md5('gameball:' || conversions.lead_id)", "md5('gameball:' || conversions.phone_e164)"
)


@dataclass
class Breach:
    name: str
    models: dict[str, str]
    triggers: list[dict] = field(default_factory=list)
    leads: list[dict] = field(default_factory=list)
    message: str = ""


BREACHES = [
    Breach(
        "duplicate keys",
        {"marts/lead_calls.sql": LEAD_CALLS},
        triggers=[
            call(11, T - 2 * DAY, phone(1)),
            call(12, T - 3 * DAY, phone(1)),
            call(21, T - 2 * DAY, phone(2)),
        ],
        message="{sql}/marts/lead_calls.sql: analytics.lead_calls breaks its grain (lead_id): "
        "3 rows for lead_id 'L1' (and 1 more key)",
    ),
    Breach(
        "null key",
        {"marts/attributed_conversions.sql": ATTRIBUTED},
        leads=[customer("L4", phone(4))],
        message="{sql}/marts/attributed_conversions.sql: analytics.attributed_conversions breaks "
        "its grain (lead_id, attributed_call_id): 1 row for lead_id 'L4', attributed_call_id "
        "NULL (a grain column is never null)",
    ),
    Breach(
        # Incremental: a new lead's id equal to an unchanged lead's
        "outbound id shared by two leads",
        {"outbound/gameball_events.sql": GAMEBALL_BY_PHONE},
        leads=[customer("L5", phone(1))],
        message="{sql}/outbound/gameball_events.sql: outbound.gameball_events breaks its grain "
        "(gameball_event_id): 2 rows for gameball_event_id "
        f"'{hashlib.md5(f'gameball:{phone(1)}'.encode()).hexdigest()}'",
    ),
]


def broken_models(root: Path, models: dict[str, str]) -> Path:
    """The real models with `models` added or replacing theirs, under `root/sql`."""
    shutil.copytree(SQL_DIR, root / "sql")
    return write_models(root, models)
