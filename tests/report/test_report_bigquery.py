"""The report on BigQuery (the local-bigquery emulator): the same data synced into DuckDB and
into BigQuery gives the same charts, and the same sentences where a table is missing.

Run by `make test-bigquery` (marker `bigquery`): the emulator needs `make bigquery-emulator`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import Workspace

from emulators.bigquery import MISSING, LocalBigQuery, available
from emulators.footprints import FootprintsEmulator
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator
from emulators.scenario import Scenario
from pipelines.report import write_report

pytestmark = [
    pytest.mark.bigquery,
    pytest.mark.filterwarnings("ignore:Cannot create BigQuery Storage client:UserWarning"),
]

_FIGURE = re.compile(r'<script type="application/json" id="figure-([\w-]+)">(.*?)</script>', re.S)
_ABSENT = re.compile(r'<p class="absent" data-absent="([\w-]+)">(.*?)</p>', re.S)


def _panels(page: str) -> dict[str, Any]:
    """Each chart's figure and each missing panel's sentence, by panel.

    The runs chart is placed by when each run started and tells how long it took: the two
    warehouses' runs differ there and only there, so those are left out of the comparison.
    """
    charts = {name: json.loads(data) for name, data in _FIGURE.findall(page)}
    for trace in charts.get("runs", {}).get("data", []):
        trace["x"] = len(trace["x"])
        trace["customdata"] = [[command, sent] for command, _seconds, sent in trace["customdata"]]
    return {**charts, **dict(_ABSENT.findall(page))}


def test_report_on_bigquery_draws_what_duckdb_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not available():
        pytest.fail(MISSING, pytrace=False)
    now = datetime.now(UTC)
    scenario = Scenario(runs=(now - timedelta(minutes=5),), triggers=1_500, leads=300, days=20)
    monkeypatch.chdir(tmp_path)
    pages = {}
    with (
        LocalBigQuery() as bigquery,
        InfinityEmulator() as infinity,
        FootprintsEmulator() as crm,
        QubitEmulator() as qubit,
        OwoxEmulator() as owox,
        GameballEmulator() as gameball,
    ):
        scenario.serve(infinity, crm)
        common = {
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
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            **bigquery.client_env(),
        }
        warehouses = {
            "duckdb": {"DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "warehouse.duckdb")},
            "bigquery": {
                "SYNC__WAREHOUSE": "bigquery",
                "DESTINATION__BIGQUERY__PROJECT_ID": bigquery.project,
                "DESTINATION__BIGQUERY__LOCATION": "US",
            },
        }
        for name, chosen in warehouses.items():
            with monkeypatch.context() as patch:
                env = {**common, **chosen, "SYNC__PIPELINES_DIR": str(tmp_path / name)}
                for key, value in env.items():
                    patch.setenv(key, value)
                synced = Workspace(tmp_path, tmp_path / "warehouse.duckdb", env).run("sync")
                assert synced.code == 0, synced.output
                for label, at in (("now", now), ("later", now + timedelta(days=100))):
                    out = tmp_path / f"{name}-{label}.html"
                    pages[name, label] = write_report(30, out, at).read_text(encoding="utf-8")

    for label in ("now", "later"):
        on_duckdb, on_bigquery = _panels(pages["duckdb", label]), _panels(pages["bigquery", label])
        assert on_bigquery == on_duckdb, label
    assert {"channels", "skips", "runs"} <= set(_panels(pages["bigquery", "now"]))
    assert _panels(pages["bigquery", "later"])["channels"].startswith(
        "No rows in analytics.conversions in the last 30 days"
    )
    assert "from BigQuery;" in pages["bigquery", "now"]
