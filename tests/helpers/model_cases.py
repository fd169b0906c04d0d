"""The model tests' data: raw rows written as dlt would load them, and the hand-checked
match and conversion cases (tests/models/test_models.py; tests/models/test_models_incremental.py
and tests/push/test_push.py start from them too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from pipelines.models.settings import ModelSettings

T = datetime(2026, 10, 1, 12, 0, 0)


DAY = timedelta(days=1)


SECOND = timedelta(seconds=1)


RAW_COLUMNS = {
    "infinity.triggers": {
        "row_id": "bigint",
        "trigger_datetime": "timestamp",
        "act": "varchar",
        "caller_phone_e164": "varchar",
        "ch_name": "varchar",
        "ch_type": "varchar",
        "src": "varchar",
        "campaign": "varchar",
        "ad_group": "varchar",
        "term": "varchar",
        "vid": "varchar",
        "call_duration": "integer",
        "c_qubit_visitor_id": "varchar",
        "c_ga_client_id": "varchar",
        "pt_qubit_id": "varchar",
    },
    "footprints.leads": {
        "id": "varchar",
        "created_at": "timestamp",
        "status": "varchar",
        "timestamp_status_change": "timestamp",
        "contract_value": "double",
        "sku__price": "bigint",
        "offer__price": "bigint",
        "user_phone": "varchar",
        "user_phone_e164": "varchar",
        "user_email": "varchar",
        "client_id": "varchar",
        "user_external_id": "varchar",
    },
}


SETTINGS = ModelSettings(
    converted_statuses=("customer", "won"), currency="RON", owox_tid="UA-12345-1"
)


def call(row_id: int, at: datetime, phone: str | None, act: str = "call", **fields: Any) -> dict:
    """An Infinity call trigger from an online visitor, with both visitor ids set."""
    return {
        "row_id": row_id,
        "trigger_datetime": at,
        "act": act,
        "caller_phone_e164": phone,
        "ch_name": "Google Ads",
        "ch_type": "ppc",
        "src": "google",
        "campaign": "Boiler Cover",
        "ad_group": "Boiler Cover - Exact",
        "term": "boiler cover",
        "vid": f"vid-{row_id}",
        "call_duration": 120,
        "c_qubit_visitor_id": f"qv-{row_id}",
        "c_ga_client_id": f"{row_id}.1789000000",
        "pt_qubit_id": f"pt-{row_id}",
        **fields,
    }


def lead(lead_id: str, created_at: datetime, phone: str | None, **fields: Any) -> dict:
    """A Footprints lead, by default still a lead (not converted), its number written as
    E.164 (`user_phone` is what the lead typed, `user_phone_e164` what the extract read)."""
    return {
        "id": lead_id,
        "created_at": created_at,
        "status": "lead",
        "timestamp_status_change": created_at,
        "user_phone": phone,
        "user_phone_e164": phone,
        "user_email": f"{lead_id}@example.com",
        "client_id": f"client-{lead_id}",
        "user_external_id": f"EXT-{lead_id}",
        **fields,
    }


def customer(lead_id: str, phone: str | None, **fields: Any) -> dict:
    """A lead created at T that became a customer two days later, worth 1,200.50."""
    values = {"status": "customer", "timestamp_status_change": T + 2 * DAY}
    return lead(lead_id, T, phone, **{**values, "contract_value": 1200.5, **fields})


def write_raw(path: Path, triggers: list[dict], leads: list[dict]) -> None:
    with duckdb.connect(str(path)) as con:
        for table, rows in (("infinity.triggers", triggers), ("footprints.leads", leads)):
            columns = RAW_COLUMNS[table]
            con.execute(f"create schema if not exists {table.split('.')[0]}")
            definition = ", ".join(f"{c} {t}" for c, t in columns.items())
            con.execute(f"create or replace table {table} ({definition})")
            for row in rows:
                assert set(row) <= set(columns), set(row) - set(columns)
            if rows:
                con.executemany(
                    f"insert into {table} ({', '.join(columns)}) "
                    f"values ({', '.join('?' * len(columns))})",
                    [[row.get(c) for c in columns] for row in rows],
                )


@dataclass
class MatchCase:
    name: str
    leads: list[dict]
    triggers: list[dict]
    expected: list[tuple[str, int, int, bool]]  # lead_id, call_id, call_rank, is_attributed


MATCH_CASES = [
    MatchCase(
        "call exactly 30 days before the lead matches",
        [lead("m1", T, "+447700900101")],
        [call(101, T - 30 * DAY, "+447700900101")],
        [("m1", 101, 1, True)],
    ),
    MatchCase(
        "call 30 days and 1 second before the lead does not match",
        [lead("m2", T, "+447700900102")],
        [call(102, T - 30 * DAY - SECOND, "+447700900102")],
        [],
    ),
    MatchCase(
        "call 1 second after the lead was created does not match",
        [lead("m3", T, "+447700900103")],
        [call(103, T + SECOND, "+447700900103")],
        [],
    ),
    MatchCase(
        "call in the same second as the lead matches",
        [lead("m4", T, "+447700900104")],
        [call(104, T, "+447700900104")],
        [("m4", 104, 1, True)],
    ),
    MatchCase(
        "the last call before the lead is the attributed one",
        [lead("m5", T, "+447700900105")],
        [
            call(151, T - 5 * DAY, "+447700900105"),
            call(152, T - timedelta(hours=1), "+447700900105"),
            call(153, T - 2 * DAY, "+447700900105"),
        ],
        [("m5", 152, 1, True), ("m5", 153, 2, False), ("m5", 151, 3, False)],
    ),
    MatchCase(
        "calls in the same second: the later trigger (higher row id) wins",
        [lead("m6", T, "+447700900106")],
        [call(162, T - DAY, "+447700900106"), call(161, T - DAY, "+447700900106")],
        [("m6", 162, 1, True), ("m6", 161, 2, False)],
    ),
    MatchCase(
        "repeat caller: each lead from the number gets the calls before it",
        [lead("m7a", T, "+447700900107"), lead("m7b", T + 3 * DAY, "+447700900107")],
        [call(171, T - DAY, "+447700900107"), call(172, T + DAY, "+447700900107")],
        [("m7a", 171, 1, True), ("m7b", 172, 1, True), ("m7b", 171, 2, False)],
    ),
    MatchCase(
        "a lead with calls from two numbers matches only its own number",
        [lead("m8", T, "+447700900108")],
        [call(181, T - 2 * DAY, "+447700900108"), call(182, T - DAY, "+447700900199")],
        [("m8", 181, 1, True)],
    ),
    MatchCase(
        "a call with no phone number never matches",
        [lead("m9", T, "+447700900109"), lead("m9b", T, None)],
        [call(191, T - DAY, None)],
        [],
    ),
    MatchCase(
        "a lead with no phone number matches nothing",
        [lead("m10", T, None)],
        [call(1001, T - DAY, "+447700900110")],
        [],
    ),
    MatchCase(
        "outgoing calls, charges, visits and goals are not calls from the customer",
        [lead("m11", T, "+447700900111")],
        [
            call(1101, T - DAY, "+447700900111", act="callUser"),
            call(1102, T - DAY, "+447700900111", act="callRate"),
            call(1103, T - DAY, "+447700900111", act="land"),
            call(1104, T - DAY, "+447700900111", act="goal"),
            call(1105, T - 2 * DAY, "+447700900111", act="callBlegStart"),
        ],
        [("m11", 1105, 1, True)],
    ),
]

# --- conversions and outbound -------------------------------------------------------------


@dataclass
class ConversionCase:
    name: str
    lead: dict
    triggers: list[dict] = field(default_factory=list)
    expected: dict[str, Any] | None = field(default_factory=dict)  # None: no conversion row
    skips: tuple[str | None, str | None, str | None] = (None, None, None)  # qubit, owox, gameball


def phone(n: int) -> str:
    return f"+4420794600{n:02d}"


CONVERSION_CASES = [
    ConversionCase(
        "contract value first, currency from settings",
        customer("c1", phone(1), sku__price=900, offer__price=800),
        [call(2001, T - DAY, phone(1))],
        {"value": 1200.5, "value_source": "contract_value", "currency": "RON"},
    ),
    ConversionCase(
        "SKU price when there is no contract value",
        customer("c2", phone(2), contract_value=None, sku__price=900, offer__price=800),
        [call(2002, T - DAY, phone(2))],
        {"value": 900.0, "value_source": "sku_price"},
    ),
    ConversionCase(
        "offer price when there is neither",
        customer("c3", phone(3), contract_value=None, offer__price=800),
        [call(2003, T - DAY, phone(3))],
        {"value": 800.0, "value_source": "offer_price"},
    ),
    ConversionCase(
        "no value at all: Qubit needs one, the others do not",
        customer("c4", phone(4), contract_value=None),
        [call(2004, T - DAY, phone(4))],
        {"value": None, "value_source": None},
        ("no_value", None, None),
    ),
    ConversionCase(
        "every configured converted status counts",
        customer("c5", phone(5), status="won"),
        [call(2005, T - DAY, phone(5))],
        {"lead_status": "won"},
    ),
    ConversionCase(
        "a lead in another status is not a conversion",
        customer("c6", phone(6), status="prospect"),
        [call(2006, T - DAY, phone(6))],
        None,
    ),
    ConversionCase(
        "conversion time is the status change time",
        customer("c7", phone(7), timestamp_status_change=T + 3 * DAY + SECOND),
        [call(2007, T - DAY, phone(7))],
        {"converted_at": T + 3 * DAY + SECOND, "lead_created_at": T},
    ),
    ConversionCase(
        "the attributed call's marketing fields and visitor ids",
        customer("c8", phone(8)),
        [
            call(2081, T - 2 * DAY, phone(8), ch_name="Email", src="newsletter"),
            call(2082, T - DAY, phone(8), campaign="Autumn", c_ga_client_id="555.1789"),
        ],
        {
            "attributed_call_id": 2082,
            "attributed_called_at": T - DAY,
            "channel_name": "Google Ads",
            "channel_type": "ppc",
            "source": "google",
            "campaign": "Autumn",
            "ad_group": "Boiler Cover - Exact",
            "search_term": "boiler cover",
            "qubit_visitor_id": "qv-2082",
            "ga_client_id": "555.1789",
            "gameball_player_id": "client-c8",
        },
    ),
    ConversionCase(
        "no call before the lead: no attributed call, only Gameball can be sent",
        customer("c9", phone(9)),
        [call(2009, T + SECOND, phone(9))],
        {"attributed_call_id": None, "qubit_visitor_id": None, "channel_name": None},
        ("no_attributed_call", "no_attributed_call", None),
    ),
    ConversionCase(
        "an offline call carries no visitor ids ('' in Infinity)",
        customer("c10", phone(10)),
        [call(2010, T - DAY, phone(10), c_qubit_visitor_id="", c_ga_client_id="")],
        {"attributed_call_id": 2010, "qubit_visitor_id": None, "ga_client_id": None},
        ("no_qubit_visitor_id", "no_ga_client_id", None),
    ),
    ConversionCase(
        "visitor ids come from the attributed call only, not from earlier calls",
        customer("c11", phone(11)),
        [
            call(2111, T - 2 * DAY, phone(11)),
            call(2112, T - DAY, phone(11), c_qubit_visitor_id=None, c_ga_client_id=None),
        ],
        {"attributed_call_id": 2112, "qubit_visitor_id": None},
        ("no_qubit_visitor_id", "no_ga_client_id", None),
    ),
    ConversionCase(
        "no status change time: Qubit and OWOX need one",
        customer("c12", phone(12), timestamp_status_change=None),
        [call(2012, T - DAY, phone(12))],
        {"converted_at": None},
        ("no_conversion_time", "no_conversion_time", None),
    ),
    ConversionCase(
        "no Footprints client id: no Gameball player",
        customer("c13", phone(13), client_id=None),
        [call(2013, T - DAY, phone(13))],
        {"gameball_player_id": None},
        (None, None, "no_player_id"),
    ),
    ConversionCase(
        "a customer without a phone number is still a conversion",
        customer("c14", None),
        [call(2014, T - DAY, None)],
        {"phone_e164": None, "attributed_call_id": None},
        ("no_attributed_call", "no_attributed_call", None),
    ),
]


# As dlt merges them: on their primary key
KEYS = {"infinity.triggers": "row_id", "footprints.leads": "id"}


class Raw:
    """The raw tables of one warehouse file, loaded as dlt loads them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loads = 0
        with duckdb.connect(str(path)) as con:
            for table, columns in RAW_COLUMNS.items():
                schema = table.split(".")[0]
                con.execute(f"create schema if not exists {schema}")
                definition = ", ".join(f"{c} {t}" for c, t in columns.items())
                con.execute(
                    f"create table {table} ({definition}, _dlt_load_id varchar, _dlt_id varchar)"
                )
                con.execute(
                    f"create table {schema}._dlt_loads (load_id varchar, schema_name varchar, "
                    "status bigint, inserted_at timestamptz, schema_version_hash varchar)"
                )

    def load(
        self,
        triggers: list[dict] | None = None,
        leads: list[dict] | None = None,
        *,
        load_id: str | None = None,
        complete: bool = True,
    ) -> str:
        """Merge rows on their key in one load; list it as complete unless told not to."""
        if load_id is None:
            self.loads += 1
            load_id = f"{1_760_000_000 + self.loads * 3600}.{self.loads:06d}"
        with duckdb.connect(str(self.path)) as con:
            for table, rows in (("infinity.triggers", triggers), ("footprints.leads", leads)):
                if not rows:
                    continue
                columns, key = list(RAW_COLUMNS[table]), KEYS[table]
                keys = [row[key] for row in rows]
                con.execute(
                    f"delete from {table} where {key} in ({', '.join('?' * len(keys))})", keys
                )
                con.executemany(
                    f"insert into {table} ({', '.join(columns)}, _dlt_load_id, _dlt_id) "
                    f"values ({', '.join('?' * (len(columns) + 2))})",
                    [
                        [row.get(c) for c in columns] + [load_id, f"{load_id}-{n}"]
                        for n, row in enumerate(rows)
                    ],
                )
                if complete:
                    self.complete(load_id, table.split(".")[0], con)
        return load_id

    def complete(
        self, load_id: str, schema: str, con: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        if con is None:
            with duckdb.connect(str(self.path)) as own:
                self.complete(load_id, schema, own)
            return
        con.execute(
            f"insert into {schema}._dlt_loads select ?, ?, 0, now(), 'test' "
            f"where ? not in (select load_id from {schema}._dlt_loads)",
            [load_id, schema, load_id],
        )

    def execute(self, sql: str) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute(sql)


def write_models(root: Path, models: dict[str, str]) -> Path:
    """Model files (`{"marts/a.sql": sql}`) under `root/sql`, the folder returned."""
    for name, sql in models.items():
        path = root / "sql" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    return root / "sql"
