"""`extract footprints` against the Footprints emulator, into a real DuckDB file."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest
import requests
from helpers import Workspace

from emulators.footprints import FootprintsEmulator
from emulators.footprints_data import FootprintsData, generate_footprints
from emulators.infinity_data import caller_pool
from emulators.server import Fault

KEY, SECRET, PIN = "fp-key-7c1e0f", "fp-secret-9a8b7c6d5e", "4815162342"
TODAY = datetime.now(UTC).date()


@pytest.fixture(autouse=True)
def _today() -> None:
    """TODAY as each test starts, not as the module was imported: the extract reads the clock
    when it runs, and a session can run past midnight UTC (autouse: before other fixtures)."""
    global TODAY
    TODAY = datetime.now(UTC).date()


@pytest.fixture
def footprints_data() -> FootprintsData:
    return generate_footprints(
        400, seed=5, start=TODAY - timedelta(days=20), end=TODAY - timedelta(days=1)
    )


@pytest.fixture
def crm(footprints_data: FootprintsData) -> Iterator[FootprintsEmulator]:
    server = FootprintsEmulator(client_key=KEY, client_secret=SECRET, pin=PIN).start()
    server.load(footprints_data)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fp(workspace: Workspace, crm: FootprintsEmulator, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace with Footprints settings (pin grant, so every kind of secret is set)."""
    env = {
        "SOURCES__FOOTPRINTS__BASE_URL": crm.url,
        "SOURCES__FOOTPRINTS__CLIENT_KEY": KEY,
        "SOURCES__FOOTPRINTS__CLIENT_SECRET": SECRET,
        "SOURCES__FOOTPRINTS__GRANT_TYPE": "pin",
        "SOURCES__FOOTPRINTS__PIN": PIN,
        "SOURCES__FOOTPRINTS__START_DATE": (TODAY - timedelta(days=25)).isoformat(),
        "SOURCES__FOOTPRINTS__LOOKBACK_DAYS": "30",
        "SOURCES__FOOTPRINTS__PAGE_SIZE": "7",
        "SOURCES__FOOTPRINTS__MAX_WORKERS": "4",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    workspace.env.update(env)
    return workspace


def api_leads(crm: FootprintsEmulator, start: date) -> list[dict]:
    """What the API itself lists from `start` to today, read in one go by a plain client."""
    token = requests.post(
        f"{crm.url}/api/token",
        auth=(KEY, SECRET),
        data={"grant_type": "pin", "pin": PIN},
        timeout=10,
    ).json()["access_token"]
    leads: list[dict] = []
    for page in range(1, 100):
        params = {
            "access_token": token,
            "startDate": start.isoformat(),
            "endDate": TODAY.isoformat(),
            "pageSize": 500,
            "page": page,
        }
        rows = requests.get(f"{crm.url}/api/lead", params=params, timeout=10).json()
        leads += rows
        if len(rows) < 500:
            return leads
    raise AssertionError("too many leads for the test")


def lead_requests(crm: FootprintsEmulator) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(r.path).query) for r in crm.requests if r.path.startswith("/api/lead?")
    ]


def paths(crm: FootprintsEmulator, prefix: str) -> list[str]:
    return [urlsplit(r.path).path for r in crm.requests if r.path.startswith(prefix)]


def test_footprints_full_load_matches_the_api(
    fp: Workspace, crm: FootprintsEmulator, footprints_data: FootprintsData
) -> None:
    expected = api_leads(crm, TODAY - timedelta(days=25))
    assert len(expected) > 300

    result = fp.run("extract", "footprints")

    assert result.code == 0, result.output
    assert "extract footprints finished" in result.stdout
    ids = [r[0] for r in fp.query("select id from footprints.leads order by id")]
    assert ids == sorted(lead["_id"] for lead in expected)
    # Every listed lead's actions, whichever envelope (bare or `data`) the API used for it.
    assert set(paths(crm, "/api/lead/actions/")) == {f"/api/lead/actions/{i}" for i in ids}
    listed = set(ids)
    expected_actions = sorted(a["_id"] for a in footprints_data.actions if a["leadId"] in listed)
    loaded_actions = fp.query("select id, lead_id from footprints.lead_actions order by id")
    assert [a for a, _ in loaded_actions] == expected_actions
    assert {lead for _, lead in loaded_actions} <= listed
    # One customer lookup per distinct (email, phone); leads without either are counted.
    pairs = {
        (lead["userEmail"], lead["userPhone"])
        for lead in expected
        if lead.get("userEmail") and lead.get("userPhone")
    }
    skipped = sum(1 for lead in expected if not (lead.get("userEmail") and lead.get("userPhone")))
    assert len(paths(crm, "/api/client")) == len(pairs)
    assert f"{skipped:,} lead(s) without email or phone not looked up" in result.stdout
    client_ids = {lead["clientId"] for lead in expected if lead.get("clientId")}
    loaded_customers = {r[0] for r in fp.query("select id from footprints.customers")}
    assert loaded_customers and loaded_customers <= client_ids
    assert fp.count("footprints.customers__leads") > 0
    assert fp.count("footprints.customers__leads__history") > 0
    # Reference lists, paged ones included, as the API lists them.
    for table, rows in footprints_data.references.items():
        assert fp.count(f"footprints.{table}") == len(rows), table


def test_footprints_phones_timestamps_and_money_are_typed(
    fp: Workspace, crm: FootprintsEmulator
) -> None:
    assert fp.run("extract", "footprints").code == 0

    callers = set(caller_pool(7, 1000))
    rows = fp.query("select user_phone, user_phone_e164 from footprints.leads")
    uk = [
        (raw, e164)
        for raw, e164 in rows
        if raw and raw.replace(" ", "").startswith(("+44", "0044"))
    ]
    assert uk and all(e164 in callers for _, e164 in uk)
    ro = [e164 for raw, e164 in rows if raw and raw.replace(" ", "").startswith(("07", "021"))]
    assert ro and all(e164.startswith("+40") for e164 in ro if e164)
    odd = [e164 for raw, e164 in rows if raw in ("n/a", "07", "-", "tel")]
    assert odd and set(odd) == {None}

    types = dict(
        fp.query(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'footprints' and table_name = 'leads'"
        )
    )
    assert types["created_at"] == "TIMESTAMP"
    assert types["user_birthday"] == "TIMESTAMP"
    assert types["contract_value"] == "DOUBLE"
    assert fp.query("select count(*) from footprints.leads where created_at is null") == [(0,)]
    # Unreadable birthdays stay as text next to a NULL timestamp; the row still loads.
    unreadable = fp.query(
        "select user_birthday, user_birthday_text from footprints.leads "
        "where user_birthday_text is not null"
    )
    assert unreadable and all(b is None and t for b, t in unreadable)
    js = fp.query("select count(*) from footprints.leads where user_birthday is not null")[0][0]
    assert js > 0
    customers = fp.query(
        "select count(*), count(contract_value) from footprints.leads where status = 'customer'"
    )[0]
    assert customers[0] > 0 and customers[1] == customers[0]


def test_footprints_rerun_reads_only_new_or_changed_leads(
    fp: Workspace, crm: FootprintsEmulator
) -> None:
    assert fp.run("extract", "footprints").code == 0
    before = fp.count("footprints.leads")
    old = [
        r[0]
        for r in fp.query(
            "select id from footprints.leads where status = 'lead' order by id limit 3"
        )
    ]
    crm.requests.clear()
    moment = datetime.now(UTC).replace(microsecond=0)
    for lead_id in old:
        crm.change_status(lead_id, "customer", moment, contract_value=1234.5)

    second = fp.run("extract", "footprints")

    assert second.code == 0, second.output
    assert fp.count("footprints.leads") == before
    changed = fp.query(
        "select id, status, contract_value, timestamp_status_change from footprints.leads "
        f"where id in ({', '.join(repr(i) for i in old)}) order by id"
    )
    assert changed == [(i, "customer", 1234.5, moment.replace(tzinfo=None)) for i in sorted(old)]
    assert sorted(paths(crm, "/api/lead/actions/")) == sorted(f"/api/lead/actions/{i}" for i in old)
    status_actions = fp.query(
        "select count(distinct lead_id) from footprints.lead_actions "
        f"where lead_id in ({', '.join(repr(i) for i in old)}) and action_detail like '%customer%'"
    )
    assert status_actions == [(3,)]
    assert "footprints.leads 3" in second.stdout
    assert f"{before - 3:,} re-read lead(s) unchanged" in second.stdout


def test_footprints_cursor_starts_after_the_last_complete_day(
    fp: Workspace, crm: FootprintsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__FOOTPRINTS__LOOKBACK_DAYS", "2")
    assert fp.run("extract", "footprints").code == 0
    status = fp.run("status").stdout
    yesterday = TODAY - timedelta(days=1)
    assert f"cursor leads: complete through {yesterday}" in status
    crm.requests.clear()

    assert fp.run("extract", "footprints").code == 0

    days = sorted({q["startDate"][0] for q in lead_requests(crm)})
    assert days == [(TODAY - timedelta(days=n)).isoformat() for n in (2, 1, 0)]


def test_footprints_killed_mid_backfill_resumes_from_the_last_complete_day(
    fp: Workspace, crm: FootprintsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = sorted(lead["_id"] for lead in api_leads(crm, TODAY - timedelta(days=25)))
    for key, value in {
        "SOURCES__FOOTPRINTS__DAYS_PER_LOAD": "5",
        "SOURCES__FOOTPRINTS__LOOKBACK_DAYS": "3",
    }.items():
        monkeypatch.setenv(key, value)
        fp.env[key] = value
    crm.latency_seconds = 0.01
    process = fp.spawn("extract", "footprints")
    try:
        # Kill once the second chunk's days are being read: the first chunk is loaded.
        second_chunk = (TODAY - timedelta(days=20)).isoformat()
        deadline = time.monotonic() + 120
        while not any(q["startDate"][0] >= second_chunk for q in lead_requests(crm)):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    status = fp.run("status").stdout
    assert "cursor leads: complete through" in status
    cursor = date.fromisoformat(status.split("complete through ")[1].split()[0])
    assert TODAY - timedelta(days=25) + timedelta(days=4) <= cursor < TODAY - timedelta(days=1)
    crm.requests.clear()
    crm.latency_seconds = 0.0

    rerun = fp.run("extract", "footprints")

    assert rerun.code == 0, rerun.output
    first_day = min(q["startDate"][0] for q in lead_requests(crm))
    assert first_day == min(cursor + timedelta(days=1), TODAY - timedelta(days=3)).isoformat()
    ids = [r[0] for r in fp.query("select id from footprints.leads order by id")]
    assert ids == expected
    assert fp.query("select count(*) - count(distinct id) from footprints.lead_actions") == [(0,)]


def test_footprints_token_expiring_mid_run_is_fetched_again(
    fp: Workspace, crm: FootprintsEmulator
) -> None:
    crm.latency_seconds = 0.01
    process = fp.spawn("extract", "footprints")
    try:
        deadline = time.monotonic() + 60
        while len(paths(crm, "/api/lead/actions/")) < 20:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        crm.expire_tokens()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stdout + stderr
    assert crm.tokens_issued == 2
    assert fp.count("footprints.leads") == len(api_leads(crm, TODAY - timedelta(days=25)))


def test_footprints_second_401_fails_with_a_clear_message(
    fp: Workspace, crm: FootprintsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One worker, so the two 401s reach the same request: the first and its one repeat.
    monkeypatch.setenv("SOURCES__FOOTPRINTS__MAX_WORKERS", "1")
    crm.add_fault(Fault(status=401, times=2, path_contains="/api/lead?"))

    result = fp.run("extract", "footprints")

    assert result.code == 1
    assert "rejected a freshly issued access token on GET /api/lead" in result.stdout
    assert "Traceback" not in result.output
    assert crm.tokens_issued == 2


def test_footprints_rejected_client_secret_names_the_keys(
    fp: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__FOOTPRINTS__CLIENT_SECRET", "wrong-secret-value")

    result = fp.run("extract", "footprints")

    assert result.code == 1
    assert "sources.footprints.client_secret" in result.stdout
    assert "wrong-secret-value" not in result.output


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=429, headers={"Retry-After": "0"}, times=3, path_contains="/api/client"),
        Fault(status=500, times=2, path_contains="/api/lead/actions/"),
        Fault(status=503, times=2, path_contains="/api/lead?"),
        Fault(drop_connection=True, times=2, path_contains="/api/offer"),
    ],
    ids=["429-client", "500-actions", "503-leads", "dropped-offers"],
)
def test_footprints_transient_faults_are_retried_to_a_complete_load(
    fp: Workspace, crm: FootprintsEmulator, footprints_data: FootprintsData, fault: Fault
) -> None:
    crm.add_fault(fault)

    result = fp.run("extract", "footprints")

    assert result.code == 0, result.output
    assert crm.pending_faults == 0
    assert fp.count("footprints.leads") == len(api_leads(crm, TODAY - timedelta(days=25)))
    assert fp.count("footprints.offers") == len(footprints_data.references["offers"])


def test_footprints_missing_setting_fails_before_any_request(
    fp: Workspace, crm: FootprintsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCES__FOOTPRINTS__PIN")

    result = fp.run("extract", "footprints")

    assert result.code == 2
    assert "sources.footprints.pin [SOURCES__FOOTPRINTS__PIN]" in result.output
    assert crm.requests == []


def test_footprints_secrets_appear_nowhere(fp: Workspace, crm: FootprintsEmulator) -> None:
    # A dropped connection after retries puts a request URL (with its token) into an error.
    crm.add_fault(Fault(drop_connection=True, times=100, path_contains="/api/channels"))
    failed = fp.run("extract", "footprints")
    assert failed.code == 1
    crm.clear_faults()
    succeeded = fp.run("sync")
    assert succeeded.code == 0, succeeded.output
    status = fp.run("status")

    tokens = {
        parse_qs(urlsplit(r.path).query)["access_token"][0]
        for r in crm.requests
        if "access_token=" in r.path
    }
    assert tokens
    secrets = [KEY, SECRET, PIN, *tokens]
    printed = failed.output + succeeded.output + status.output
    files = [p for p in Path(fp.root).rglob("*") if p.is_file() and p != fp.warehouse]
    assert "footprints: no answer from" in failed.stdout
    assert "at GET /api/channels." in failed.stdout
    for secret in secrets:
        assert secret not in printed
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
    assert_not_in_warehouse(fp, secrets)


def assert_not_in_warehouse(fp: Workspace, secrets: list[str]) -> None:
    """No text value of any table, nor the decompressed dlt state, holds a secret."""
    from dlt.pipeline.state_sync import decompress_state

    columns: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in fp.query(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type = 'VARCHAR'"
    ):
        columns.setdefault((schema, table), []).append(column)
    assert ("footprints", "leads") in columns
    with duckdb.connect(str(fp.warehouse), read_only=True) as con:
        for (schema, table), names in columns.items():
            matches = " or ".join(
                f'contains("{name}", ${n + 1})' for name in names for n in range(len(secrets))
            )
            hits = con.execute(
                f'select count(*) from "{schema}"."{table}" where {matches}', secrets
            ).fetchone()
            assert hits == (0,), (schema, table)
        for (state,) in con.execute("select state from footprints._dlt_pipeline_state").fetchall():
            text = str(decompress_state(state))
            assert not any(secret in text for secret in secrets)


def test_sync_loads_footprints_when_infinity_fails_and_skips_models(
    fp: Workspace, crm: FootprintsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__PASSWORD", "not-the-password")

    result = fp.run("sync")

    assert result.code == 1, result.output
    assert "sync FAILED" in result.stdout
    assert "Infinity refused the credentials (HTTP 401" in result.stdout
    assert fp.count("footprints.leads") == len(api_leads(crm, TODAY - timedelta(days=25)))
    assert fp.count("infinity.triggers") == 0
    assert "Models and push skipped" in result.stdout
    assert fp.count("analytics.conversions") == 0  # never built


def test_sync_names_every_source_that_failed(
    fp: Workspace, crm: FootprintsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__PASSWORD", "not-the-password")
    monkeypatch.setenv("SOURCES__FOOTPRINTS__CLIENT_SECRET", "not-the-secret")

    result = fp.run("sync")

    assert result.code == 1, result.output
    head = result.stdout.split("sync FAILED", 1)[1]
    assert head.startswith(" after ") and ": 2 sources failed. 1) Infinity refused" in head
    assert "2) Footprints rejected the client key and secret" in head
    assert "not-the-secret" not in result.output
    assert fp.count("footprints.leads") == fp.count("infinity.triggers") == 0
