"""The whole `sync` on BigQuery (local-bigquery) against the emulators of all five APIs.

The same data is synced twice, into a DuckDB file and into the BigQuery emulator, each run
with its own receivers; the row counts, matches, conversions, outbound rows, ledger and what
the receivers took must agree. Then the sources grow (new calls, new leads, leads that became
customers) and both sync again: the incremental case, where only the new conversions are sent.

Run by `make test-bigquery` (marker `bigquery`; `make test` leaves it out): the emulator needs
Python 3.13 and its own virtualenv (`make bigquery-emulator`).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from emulators.bigquery import LocalBigQuery
from emulators.footprints import FootprintsEmulator
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator
from emulators.scenario import Scenario
from pipelines.__main__ import main

pytestmark = [
    pytest.mark.bigquery,
    # google-cloud-bigquery reads results without its optional Storage API client
    pytest.mark.filterwarnings("ignore:Cannot create BigQuery Storage client:UserWarning"),
]

TRIGGERS, LEADS, DAYS = 3_000, 500, 60
TABLES = (
    "infinity.triggers",
    "footprints.leads",
    "footprints.customers",
    "footprints.lead_actions",
    "analytics.call_lead_matches",
    "analytics.conversions",
    "outbound.qubit_events",
    "outbound.owox_hits",
    "outbound.gameball_events",
)
FIGURES = {
    "attributed calls": "select count(*) from analytics.call_lead_matches where is_attributed",
    "conversion value": "select cast(round(sum(value)) as bigint) from analytics.conversions",
    "qubit sendable": "select count(*) from outbound.qubit_events where skip_reason is null",
    "owox sendable": "select count(*) from outbound.owox_hits where skip_reason is null",
    "gameball sendable": (
        "select count(*) from outbound.gameball_events where skip_reason is null"
    ),
    "ledger sent": "select count(*) from outbound.deliveries where status = 'sent'",
    "ledger skipped": "select count(*) from outbound.deliveries where status = 'skipped'",
    "ledger failed": "select count(*) from outbound.deliveries where status = 'failed'",
}


@dataclass
class Sources:
    """Fresh Infinity and Footprints emulators serving `scenario` as it looks now."""

    scenario: Scenario
    infinity: InfinityEmulator = field(init=False)
    crm: FootprintsEmulator = field(init=False)

    def start(self) -> None:
        self.infinity, self.crm = InfinityEmulator().start(), FootprintsEmulator().start()
        self.scenario.serve(self.infinity, self.crm)

    def stop(self) -> None:
        self.infinity.stop()
        self.crm.stop()

    def grow(self) -> None:
        """Now, an hour after the first run: new calls, new leads today, and some leads of
        the lookback became customers."""
        self.stop()
        self.scenario = self.scenario.then(datetime.now(UTC))
        self.start()


@dataclass
class Receivers:
    qubit: QubitEmulator
    owox: OwoxEmulator
    gameball: GameballEmulator

    def took(self) -> dict[str, int]:
        return {
            "qubit": len(self.qubit.accepted),
            "owox": len(self.owox.valid_hits),
            "gameball": len(self.gameball.received),
        }


@pytest.fixture(scope="module")
def bigquery() -> Iterator[LocalBigQuery]:
    emulator = LocalBigQuery()
    with emulator:
        yield emulator
    assert emulator.pid is None


@pytest.fixture(scope="module")
def sources() -> Iterator[Sources]:
    first_run = datetime.now(UTC) - timedelta(hours=1)
    scenario = Scenario(
        runs=(first_run,),
        triggers=TRIGGERS,
        leads=LEADS,
        days=DAYS,
        new_calls=300,
        new_leads=20,
        new_customers=10,
    )
    served = Sources(scenario)
    served.start()
    try:
        yield served
    finally:
        served.stop()


@contextlib.contextmanager
def receivers() -> Iterator[Receivers]:
    with QubitEmulator() as qubit, OwoxEmulator() as owox, GameballEmulator() as gameball:
        yield Receivers(qubit, owox, gameball)


def settings(sources: Sources, targets: Receivers, work: Path) -> dict[str, str]:
    return {
        "SOURCES__INFINITY__BASE_URL": f"{sources.infinity.url}/reports/v2",
        "SOURCES__INFINITY__IGRP": sources.infinity.igrp,
        "SOURCES__INFINITY__USERNAME": sources.infinity.username,
        "SOURCES__INFINITY__PASSWORD": sources.infinity.password,
        "SOURCES__FOOTPRINTS__BASE_URL": sources.crm.url,
        "SOURCES__FOOTPRINTS__CLIENT_KEY": sources.crm.client_key,
        "SOURCES__FOOTPRINTS__CLIENT_SECRET": sources.crm.client_secret,
        "SOURCES__FOOTPRINTS__START_DATE": str(sources.scenario.first_day),
        "MODELS__CURRENCY": "RON",
        "DESTINATION__QUBIT__BASE_URL": targets.qubit.url,
        "DESTINATION__QUBIT__TRACKING_ID": targets.qubit.tracking_id,
        "DESTINATION__OWOX__ENDPOINT": targets.owox.url,
        "DESTINATION__OWOX__TID": targets.owox.tid,
        "DESTINATION__GAMEBALL__BASE_URL": targets.gameball.base_url,
        "DESTINATION__GAMEBALL__API_KEY": targets.gameball.api_key,
        "DESTINATION__GAMEBALL__MAX_REQUESTS_PER_SECOND": "1000",
        "SYNC__PIPELINES_DIR": str(work / "dlt-state"),
        "HTTP__MIN_RETRY_DELAY_SECONDS": "0.2",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }


def sync(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *command: str) -> str:
    """`python -m pipelines sync` (or `command`) with `env`; its stdout."""
    with monkeypatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(list(command or ["sync"]))
    assert code == 0, out.getvalue()
    return out.getvalue()


def duckdb_figures(path: Path) -> dict[str, Any]:
    with duckdb.connect(str(path), read_only=True) as con:
        return _figures(lambda sql: con.execute(sql).fetchone()[0])


def bigquery_figures(emulator: LocalBigQuery) -> dict[str, Any]:
    with dlt.dataset(emulator.destination(), "infinity").destination_client as client:
        return _figures(lambda sql: client.sql_client.execute_sql(sql)[0][0])


def model_rows(emulator: LocalBigQuery) -> dict[str, list[str]]:
    """Every row of the model tables, in a stable order."""
    with dlt.dataset(emulator.destination(), "infinity").sql_client as client:
        return {
            table: sorted(repr(tuple(row)) for row in client.execute_sql(f"select * from {table}"))
            for table in TABLES[4:]
        }


def clustering(emulator: LocalBigQuery, tables: tuple[str, ...]) -> dict[str, list[str] | None]:
    """Each table's clustering columns, as BigQuery reports them."""
    with dlt.dataset(emulator.destination(), "infinity").sql_client as client:
        bigquery_client = client.native_connection
        return {
            table: bigquery_client.get_table(f"{emulator.project}.{table}").clustering_fields
            for table in tables
        }


def _figures(scalar: Any) -> dict[str, Any]:
    figures = {table: scalar(f"select count(*) from {table}") for table in TABLES}
    figures.update({name: scalar(sql) for name, sql in FIGURES.items()})
    return figures


def test_bigquery_sync_matches_duckdb_then_stays_incremental(
    bigquery: LocalBigQuery,
    sources: Sources,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"
    for key, value in bigquery.client_env().items():
        monkeypatch.setenv(key, value)
    on_bigquery = {
        "SYNC__WAREHOUSE": "bigquery",
        "DESTINATION__BIGQUERY__PROJECT_ID": bigquery.project,
        "DESTINATION__BIGQUERY__LOCATION": "US",
    }
    took: dict[str, list[dict[str, int]]] = {"duckdb": [], "bigquery": []}
    figures: dict[str, list[dict[str, Any]]] = {"duckdb": [], "bigquery": []}
    summaries: dict[str, list[str]] = {"duckdb": [], "bigquery": []}
    for run in range(2):
        if run == 1:
            sources.grow()
        with receivers() as on_duckdb_targets:
            env = settings(sources, on_duckdb_targets, tmp_path / "duckdb")
            summaries["duckdb"].append(
                sync({**env, "DESTINATION__DUCKDB__CREDENTIALS": str(warehouse)}, monkeypatch)
            )
            took["duckdb"].append(on_duckdb_targets.took())
        figures["duckdb"].append(duckdb_figures(warehouse))
        with receivers() as on_bigquery_targets:
            env = settings(sources, on_bigquery_targets, tmp_path / "bigquery")
            summaries["bigquery"].append(sync({**env, **on_bigquery}, monkeypatch))
            took["bigquery"].append(on_bigquery_targets.took())
        figures["bigquery"].append(bigquery_figures(bigquery))

    assert figures["bigquery"] == figures["duckdb"]
    # BigQuery's incremental build left every model table as a full build of the same data.
    incremental_rows = model_rows(bigquery)
    rebuilt = sync({**env, **on_bigquery}, monkeypatch, "models", "--full")
    assert "Models (full: asked for)" in rebuilt
    assert model_rows(bigquery) == incremental_rows
    for summary in summaries["bigquery"]:
        assert "Push: qubit:" in summary
    # The second build redid only the leads the grown sources changed, on both warehouses.
    for warehouse_summaries in summaries.values():
        assert "Models (full: no earlier build to update)" in warehouse_summaries[0]
        assert "Models (incremental: " in warehouse_summaries[1], warehouse_summaries[1]
    assert took["bigquery"] == took["duckdb"]
    first, second = figures["bigquery"]
    assert first["analytics.conversions"] > 0 and first["attributed calls"] > 0
    assert second["infinity.triggers"] > first["infinity.triggers"]
    assert second["footprints.leads"] > first["footprints.leads"]
    # Every sendable row was delivered once over the two runs: the second sent only new ones.
    assert second["ledger sent"] == sum(
        second[f"{target} sendable"] for target in ("qubit", "owox", "gameball")
    )
    assert second["ledger failed"] == 0
    sent_twice = [sum(runs[t] for runs in took["bigquery"]) for t in ("qubit", "owox", "gameball")]
    assert sum(sent_twice) == second["ledger sent"]
    assert os.environ.get("SYNC__WAREHOUSE") is None
    # What incremental builds and ledger writes read is clustered, so BigQuery scans only it.
    assert clustering(bigquery, (*TABLES, "outbound.deliveries")) == {
        "infinity.triggers": ["_dlt_load_id"],
        "footprints.leads": ["_dlt_load_id"],
        "footprints.customers": None,
        "footprints.lead_actions": None,
        **{table: ["lead_id"] for table in TABLES[4:]},
        "outbound.deliveries": ["target", "outbound_id"],
    }
