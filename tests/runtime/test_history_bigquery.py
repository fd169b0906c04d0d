"""The run history and the delivery attempts on BigQuery (the local-bigquery emulator): the same
`ops.runs` rows, once each, and the same attempts, in the ledger's script transactions.

Run by `make test-bigquery` (marker `bigquery`), like tests/runtime/test_bigquery_sync.py.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pytest

from emulators.bigquery import LocalBigQuery
from emulators.footprints import FootprintsEmulator
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator
from emulators.scenario import Scenario
from emulators.server import Fault
from pipelines.__main__ import main
from pipelines.runtime.lock import sync_lock

pytestmark = [
    pytest.mark.bigquery,
    pytest.mark.filterwarnings("ignore:Cannot create BigQuery Storage client:UserWarning"),
]


@pytest.fixture(scope="module")
def bigquery() -> Iterator[LocalBigQuery]:
    with LocalBigQuery() as emulator:
        yield emulator


def _rows(emulator: LocalBigQuery, sql: str) -> list[dict[str, Any]]:
    with (
        dlt.dataset(emulator.destination(), "ops").sql_client as client,
        client.execute_query(sql) as cursor,
    ):
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _run(*command: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(command))
    return code, out.getvalue()


def test_bigquery_history_and_delivery_attempts(
    bigquery: LocalBigQuery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scenario = Scenario(runs=(datetime.now(UTC),), triggers=400, leads=120, days=20)
    with (
        InfinityEmulator() as infinity,
        FootprintsEmulator() as crm,
        QubitEmulator() as qubit,
        OwoxEmulator() as owox,
        GameballEmulator() as gameball,
    ):
        scenario.serve(infinity, crm)
        env = {
            **bigquery.client_env(),
            "SYNC__WAREHOUSE": "bigquery",
            "DESTINATION__BIGQUERY__PROJECT_ID": bigquery.project,
            "DESTINATION__BIGQUERY__LOCATION": "US",
            "SOURCES__INFINITY__BASE_URL": f"{infinity.url}/reports/v2",
            "SOURCES__INFINITY__IGRP": infinity.igrp,
            "SOURCES__INFINITY__USERNAME": infinity.username,
            "SOURCES__INFINITY__PASSWORD": infinity.password,
            "SOURCES__FOOTPRINTS__BASE_URL": crm.url,
            "SOURCES__FOOTPRINTS__CLIENT_KEY": crm.client_key,
            "SOURCES__FOOTPRINTS__CLIENT_SECRET": crm.client_secret,
            "SOURCES__FOOTPRINTS__START_DATE": str(scenario.first_day),
            "MODELS__CURRENCY": "RON",
            "DESTINATION__QUBIT__BASE_URL": qubit.url,
            "DESTINATION__QUBIT__TRACKING_ID": qubit.tracking_id,
            "DESTINATION__OWOX__ENDPOINT": owox.url,
            "DESTINATION__OWOX__TID": owox.tid,
            "DESTINATION__GAMEBALL__BASE_URL": gameball.base_url,
            "DESTINATION__GAMEBALL__API_KEY": gameball.api_key,
            "DESTINATION__GAMEBALL__MAX_REQUESTS_PER_SECOND": "1000",
            "SYNC__PIPELINES_DIR": str(tmp_path / "dlt-state"),
            "HTTP__MIN_RETRY_DELAY_SECONDS": "0.05",
            "PUSH__MAX_WORKERS": "1",  # so the fault hits the first Gameball event
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        gameball.add_fault(Fault(status=503, times=1))
        failed, out = _run("sync")
        assert failed == 1, out
        with sync_lock():  # another sync is running: this push is recorded locally
            assert _run("push")[0] == 3
        ok, out = _run("sync")
        assert ok == 0, out

    lines = [
        json.loads(line)
        for line in (tmp_path / "dlt-state" / "runs.jsonl").read_text().splitlines()
    ]
    runs = _rows(bigquery, "select * from ops.runs order by started_at")
    assert [run["run_id"] for run in runs] == [line["run_id"] for line in lines]
    assert [(run["command"], run["status"]) for run in runs] == [
        ("sync", "failed"),
        ("push", "busy"),
        ("sync", "ok"),
    ]
    assert json.loads(runs[0]["push"])["gameball"]["failed"] == 1
    assert json.loads(runs[2]["rows"]).get("infinity.triggers", 0) == 0  # nothing new since

    first, _, last = (run["run_id"] for run in runs)
    (retried,) = _rows(
        bigquery,
        "select lead_id from outbound.deliveries where target = 'gameball' and attempts = 2",
    )
    attempts = _rows(
        bigquery,
        "select outcome, http_status, run_id from outbound.delivery_attempts "
        f"where target = 'gameball' and lead_id = '{retried['lead_id']}' order by attempted_at",
    )
    assert [(a["outcome"], a["http_status"], a["run_id"]) for a in attempts] == [
        ("sending", None, first),
        ("failed", 503, first),
        ("sending", None, last),
        ("sent", 200, last),
    ]
    # Every ledger row's latest attempt is its status.
    disagree = _rows(
        bigquery,
        "select d.target, d.outbound_id, d.status, a.outcome from outbound.deliveries d "
        "join (select target, outbound_id, outcome, row_number() over (partition by target, "
        "outbound_id order by attempted_at desc) as n from outbound.delivery_attempts) a "
        "on a.target = d.target and a.outbound_id = d.outbound_id and a.n = 1 "
        "where d.status != a.outcome",
    )
    assert disagree == []
    counts = _rows(
        bigquery,
        "select (select count(*) from outbound.deliveries) as ledger, "
        "(select count(distinct concat(target, outbound_id)) from outbound.delivery_attempts) "
        "as attempted",
    )
    assert counts[0]["ledger"] == counts[0]["attempted"] > 0
