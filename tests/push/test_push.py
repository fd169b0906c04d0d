"""Push to the Qubit, OWOX and Gameball receivers over real HTTP, from a real DuckDB warehouse.

The warehouse is built by the real models from raw rows (the model tests' builders), so the
outbound rows are exactly what a sync would push. Every test asserts on what the receivers
recorded and on the ledger `outbound.deliveries`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from helpers import Workspace
from helpers.breakage import refusing_port
from helpers.model_cases import SETTINGS, T, call, customer, write_raw

from emulators.gameball import GameballEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator, server_error
from emulators.server import Fault
from pipelines.models.build import build_models

TRACKING_ID, TID, API_KEY = "track-7", "UA-12345-1", "gb-secret-key-0123456789"
EVENT = SETTINGS.gameball_event_name
CONVERSIONS = 30


def _lead_id(i: int) -> str:
    return f"L{i:04d}"


def raw_rows(count: int, **lead_fields: Any) -> tuple[list[dict], list[dict]]:
    """`count` customers, each called once the hour before becoming a lead.

    Every 10th (i % 10 == 9) has no call, so Qubit and OWOX skip it (no_attributed_call);
    every 10th (i % 10 == 8) has no Footprints client id, so Gameball skips it.
    """
    triggers, leads = [], []
    for i in range(count):
        phone = f"+447700{i:06d}"
        if i % 10 != 9:
            triggers.append(call(i + 1, T - timedelta(hours=1), phone))
        fields = {"client_id": None} if i % 10 == 8 else {}
        leads.append(customer(_lead_id(i), phone, **{**fields, **lead_fields}))
    return triggers, leads


def build_warehouse(path: Path, triggers: list[dict], leads: list[dict]) -> None:
    write_raw(path, triggers, leads)
    build_models(dlt.destinations.duckdb(str(path)), config=SETTINGS)


def sendable(target: str, count: int = CONVERSIONS) -> set[str]:
    """The lead ids of `raw_rows(count)` that `target` is sent."""
    skipped = 8 if target == "gameball" else 9
    return {_lead_id(i) for i in range(count) if i % 10 != skipped}


@dataclass
class Receivers:
    qubit: QubitEmulator
    owox: OwoxEmulator
    gameball: GameballEmulator

    def requests(self) -> int:
        return sum(len(r.requests) for r in (self.qubit, self.owox, self.gameball))


class PushWorkspace(Workspace):
    def deliveries(self, target: str | None = None) -> dict[str, dict[str, Any]]:
        """Ledger rows by lead id (of one target), as dicts."""
        where = f"where target = '{target}'" if target else ""
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            cursor = con.execute(f"select * from outbound.deliveries {where}")
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return {row["lead_id"]: row for row in rows}

    def statuses(self, target: str) -> dict[str, set[str]]:
        by_status: dict[str, set[str]] = {}
        for lead_id, row in self.deliveries(target).items():
            by_status.setdefault(row["status"], set()).add(lead_id)
        return by_status

    def attempts(self, target: str) -> dict[str, list[dict[str, Any]]]:
        """`outbound.delivery_attempts` of one target by lead id, oldest first."""
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            cursor = con.execute(
                "select * from outbound.delivery_attempts where target = ? order by attempted_at",
                [target],
            )
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        by_lead: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_lead.setdefault(row["lead_id"], []).append(row)
        return by_lead

    def run_ids(self) -> list[str]:
        """The run ids of runs.jsonl, oldest first."""
        lines = (self.root / "dlt-state" / "runs.jsonl").read_text().splitlines()
        return [json.loads(line)["run_id"] for line in lines]


# What an attempt leaves the ledger row as.
LEDGER_STATUS = {
    "sending": "sending",
    "sent": "sent",
    "skipped": "skipped",
    "failed": "failed",
    "unknown": "failed",
    "not_sent": "failed",
    "interrupted": "failed",
}


def assert_attempts_agree_with_ledger(ws: PushWorkspace, target: str) -> None:
    """Every ledger row has attempts, its latest one is its status, and its requests (the
    intents where the target does not de-duplicate, else the answers) number its attempts."""
    ledger, attempts = ws.deliveries(target), ws.attempts(target)
    requests = {"sent", "failed", "unknown"} if target == "qubit" else {"sending"}
    assert set(attempts) == set(ledger)
    for lead_id, row in ledger.items():
        history = attempts[lead_id]
        assert LEDGER_STATUS[history[-1]["outcome"]] == row["status"], (lead_id, history)
        assert sum(a["outcome"] in requests for a in history) == row["attempts"], history


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    with (
        QubitEmulator(tracking_id=TRACKING_ID) as qubit,
        OwoxEmulator(tid=TID) as owox,
        GameballEmulator(api_key=API_KEY) as gameball,
    ):
        yield Receivers(qubit, owox, gameball)


@pytest.fixture
def ws(tmp_path: Path, receivers: Receivers, monkeypatch: pytest.MonkeyPatch) -> PushWorkspace:
    """A warehouse with CONVERSIONS conversions and settings pointing at the receivers."""
    env = {
        "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "warehouse.duckdb"),
        "SYNC__PIPELINES_DIR": str(tmp_path / "dlt-state"),
        "SYNC__WAREHOUSE_WAIT_SECONDS": "30",
        "DESTINATION__QUBIT__BASE_URL": receivers.qubit.url,
        "DESTINATION__QUBIT__TRACKING_ID": TRACKING_ID,
        "DESTINATION__QUBIT__BATCH_SIZE": "10",
        "DESTINATION__OWOX__ENDPOINT": receivers.owox.url,
        "DESTINATION__OWOX__TID": TID,
        "DESTINATION__GAMEBALL__BASE_URL": receivers.gameball.base_url,
        "DESTINATION__GAMEBALL__API_KEY": API_KEY,
        "PUSH__DRY_RUN_DIR": str(tmp_path / "dry-run"),
        "HTTP__MIN_RETRY_DELAY_SECONDS": "0.05",
        "HTTP__MAX_RETRY_DELAY_SECONDS": "0.2",
        "HTTP__MAX_ATTEMPTS": "3",
        "HTTP__TIMEOUT_SECONDS": "5",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    workspace = PushWorkspace(tmp_path, tmp_path / "warehouse.duckdb", env)
    build_warehouse(workspace.warehouse, *raw_rows(CONVERSIONS))
    return workspace


def delivered_once(receivers: Receivers) -> dict[str, set[str]]:
    """Lead ids each receiver has; fails if any lead reached OWOX or Gameball twice."""
    owox = receivers.owox.count_by("el", valid_only=False)
    gameball = _gameball_leads(receivers)
    assert all(n == 1 for n in owox.values()), {k: n for k, n in owox.items() if n > 1}
    assert all(n == 1 for n in gameball.values()), {k: n for k, n in gameball.items() if n > 1}
    return {
        "qubit": set(receivers.qubit.accepted),
        "owox": set(owox),
        "gameball": set(gameball),
    }


def _gameball_leads(receivers: Receivers) -> dict[str, int]:
    counts: dict[str, int] = {}
    for body in receivers.gameball.received:
        lead_id = body["events"][EVENT]["lead_id"]
        counts[lead_id] = counts.get(lead_id, 0) + 1
    return counts


def test_push_delivers_each_conversion_once_across_runs(
    ws: PushWorkspace, receivers: Receivers
) -> None:
    first = ws.run("push")
    assert first.code == 0, first.output
    assert delivered_once(receivers) == {t: sendable(t) for t in ("qubit", "owox", "gameball")}
    assert not receivers.owox.invalid_hits, receivers.owox.invalid_hits[0].problems
    # 27 Qubit events at batch_size 10: three requests
    assert sorted(receivers.qubit.batches) == [7, 10, 10]
    for target in ("qubit", "owox", "gameball"):
        statuses = ws.statuses(target)
        assert statuses["sent"] == sendable(target)
        assert len(statuses["skipped"]) == CONVERSIONS // 10
    assert "qubit: 27 sent, 3 skipped" in first.stdout

    requests_before = receivers.requests()
    second = ws.run("push")
    assert second.code == 0, second.output
    assert receivers.requests() == requests_before
    assert "qubit: 0 sent, 3 skipped, 27 sent before" in second.stdout


def test_push_ledger_records_attempts_times_status_and_hash(ws: PushWorkspace) -> None:
    assert ws.run("push").code == 0
    sent = ws.deliveries("owox")[_lead_id(0)]
    assert sent["attempts"] == 1
    assert sent["first_attempt_at"] == sent["last_attempt_at"] is not None
    assert sent["http_status"] == 200
    assert sent["confirmed"] is False  # Measurement Protocol confirms nothing
    assert len(sent["payload_hash"]) == 64
    assert ws.deliveries("qubit")[_lead_id(0)]["confirmed"] is True
    skipped = ws.deliveries("qubit")[_lead_id(9)]
    assert (skipped["status"], skipped["message"], skipped["attempts"]) == (
        "skipped",
        "no_attributed_call",
        0,
    )
    assert ws.deliveries("gameball")[_lead_id(8)]["message"] == "no_player_id"


def test_push_qubit_partial_batch_failure_maps_results_to_rows(
    ws: PushWorkspace, receivers: Receivers
) -> None:
    refused = {_lead_id(3), _lead_id(14)}
    receivers.qubit.fail_transactions(refused, "Invalid basket.total.currency")
    result = ws.run("push", "qubit")
    assert result.code == 1
    statuses = ws.statuses("qubit")
    assert statuses["failed"] == refused
    assert statuses["sent"] == sendable("qubit") - refused
    row = ws.deliveries("qubit")[_lead_id(3)]
    assert row["message"] == "Qubit: Invalid basket.total.currency"
    assert row["retryable"] is False
    assert "2 failed" in result.stdout

    # Permanent: not sent again while the payload is the same, and the run is not failed again.
    requests_before = len(receivers.qubit.requests)
    again = ws.run("push", "qubit")
    assert again.code == 0, again.output
    assert len(receivers.qubit.requests) == requests_before
    assert "2 failed before, not due again" in again.stdout


def test_push_transient_failure_is_retried_by_the_next_run(
    ws: PushWorkspace, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Qubit: a 500-style body on all three attempts of the first batch (one request at a
    # time); Gameball: a 503 is not retried in the run (Gameball does not de-duplicate).
    monkeypatch.setenv("PUSH__MAX_WORKERS", "1")
    receivers.qubit.add_fault(server_error(502, "Bad Gateway", times=3))
    receivers.gameball.add_fault(Fault(status=503, times=2))
    first = ws.run("push")
    assert first.code == 1
    assert len(ws.statuses("qubit")["failed"]) == 10  # one batch of ten
    qubit_failed = ws.deliveries("qubit")[sorted(ws.statuses("qubit")["failed"])[0]]
    assert (qubit_failed["retryable"], qubit_failed["http_status"]) == (True, 502)
    assert "Bad Gateway" in qubit_failed["message"]
    assert len(ws.statuses("gameball")["failed"]) == 2

    second = ws.run("push")
    assert second.code == 0, second.output
    assert delivered_once(receivers) == {t: sendable(t) for t in ("qubit", "owox", "gameball")}
    retried = ws.deliveries("qubit")[qubit_failed["lead_id"]]
    assert (retried["status"], retried["attempts"]) == ("sent", 2)
    assert retried["first_attempt_at"] < retried["last_attempt_at"]


def test_push_attempts_show_a_transient_failure_then_the_success_with_their_runs(
    ws: PushWorkspace, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH__MAX_WORKERS", "1")  # so the faults hit the first leads
    receivers.qubit.add_fault(server_error(502, "Bad Gateway", times=3))
    receivers.gameball.add_fault(Fault(status=503, times=1))
    assert ws.run("push").code == 1
    assert ws.run("push").code == 0
    first_run, second_run = ws.run_ids()

    qubit = ws.attempts("qubit")[_lead_id(0)]
    assert [(a["outcome"], a["http_status"], a["run_id"]) for a in qubit] == [
        ("failed", 502, first_run),
        ("sent", 200, second_run),
    ]
    assert "Bad Gateway" in qubit[0]["message"]
    gameball = ws.attempts("gameball")[_lead_id(0)]
    assert [(a["outcome"], a["http_status"], a["run_id"]) for a in gameball] == [
        ("sending", None, first_run),
        ("failed", 503, first_run),
        ("sending", None, second_run),
        ("sent", 200, second_run),
    ]
    assert ws.deliveries("gameball")[_lead_id(0)]["last_attempt_at"] == gameball[2]["attempted_at"]
    for target in ("qubit", "owox", "gameball"):
        assert_attempts_agree_with_ledger(ws, target)


def test_push_attempts_record_a_skip_once_and_a_local_refusal(
    ws: PushWorkspace, receivers: Receivers
) -> None:
    triggers, leads = raw_rows(CONVERSIONS)
    triggers[0]["campaign"] = "c" * 9000  # an OWOX hit over Measurement Protocol's limit
    build_warehouse(ws.warehouse, triggers, leads)
    assert ws.run("push", "owox").code == 1
    assert ws.run("push", "owox").code == 0

    attempts = ws.attempts("owox")
    (refused,) = attempts[_lead_id(0)]
    assert refused["outcome"] == "not_sent"
    assert "Measurement Protocol takes at most 8,192" in refused["message"]
    skipped = {lead_id: history for lead_id, history in attempts.items() if lead_id.endswith("9")}
    assert len(skipped) == CONVERSIONS // 10
    assert all(
        [(a["outcome"], a["message"]) for a in history] == [("skipped", "no_attributed_call")]
        for history in skipped.values()
    )
    assert_attempts_agree_with_ledger(ws, "owox")


def test_push_transient_failures_stop_after_max_attempts(
    ws: PushWorkspace, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH__MAX_ATTEMPTS", "2")
    receivers.gameball.add_fault(Fault(status=500, times=100))
    assert ws.run("push", "gameball").code == 1
    assert ws.run("push", "gameball").code == 1
    received = len(receivers.gameball.requests)
    assert received == 2 * len(sendable("gameball"))
    third = ws.run("push", "gameball")
    assert len(receivers.gameball.requests) == received
    assert f"{len(sendable('gameball'))} failed before, not due again" in third.stdout
    row = ws.deliveries("gameball")[_lead_id(0)]
    assert (row["status"], row["attempts"], row["retryable"]) == ("failed", 2, True)


def test_push_gameball_rate_limit_is_respected(
    ws: PushWorkspace, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP__MAX_ATTEMPTS", "20")
    receivers.gameball.add_fault(Fault(status=429, headers={"Retry-After": "0"}, times=5))
    result = ws.run("push", "gameball")
    assert result.code == 0, result.output
    assert delivered_once(receivers)["gameball"] == sendable("gameball")


def test_push_gameball_requests_are_spaced_to_the_configured_rate(
    ws: PushWorkspace, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__GAMEBALL__MAX_REQUESTS_PER_SECOND", "20")
    receivers.gameball.rate_limit_per_second = 30
    result = ws.run("push", "gameball")
    assert result.code == 0, result.output
    assert receivers.gameball.rate_limited == 0
    assert delivered_once(receivers)["gameball"] == sendable("gameball")


def test_push_permanent_failure_is_recorded_and_not_retried(
    ws: PushWorkspace, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH__MAX_WORKERS", "1")  # so the fault hits the first lead
    body = {"code": 101, "message": "Player is blocked"}
    receivers.gameball.add_fault(Fault(status=400, body=body))
    assert ws.run("push", "gameball").code == 1
    row = ws.deliveries("gameball")[_lead_id(0)]
    assert (row["status"], row["retryable"], row["http_status"]) == ("failed", False, 400)
    assert row["message"] == "HTTP 400: Player is blocked"
    assert ws.run("push", "gameball").code == 0
    assert _lead_id(0) not in _gameball_leads(receivers)
    assert ws.deliveries("gameball")[_lead_id(0)]["attempts"] == 1


def test_push_changed_payload_is_reported_not_resent(
    ws: PushWorkspace, receivers: Receivers
) -> None:
    assert ws.run("push").code == 0
    requests_before = receivers.requests()
    triggers, leads = raw_rows(CONVERSIONS)
    leads[0]["contract_value"] = 999.0
    build_warehouse(ws.warehouse, triggers, leads)
    result = ws.run("push")
    assert result.code == 0, result.output
    assert receivers.requests() == requests_before
    for target in ("qubit", "owox", "gameball"):
        assert f"{target}: 0 sent" in result.stdout
    assert result.stdout.count("1 changed since sent, not re-sent") == 3


def test_push_skipped_row_is_sent_once_it_can_be(ws: PushWorkspace, receivers: Receivers) -> None:
    assert ws.run("push", "gameball").code == 0
    triggers, leads = raw_rows(CONVERSIONS)
    leads[8]["client_id"] = "client-late"
    build_warehouse(ws.warehouse, triggers, leads)
    assert ws.run("push", "gameball").code == 0
    assert _gameball_leads(receivers)[_lead_id(8)] == 1
    assert ws.deliveries("gameball")[_lead_id(8)]["status"] == "sent"


def test_push_oversize_owox_hit_is_refused_locally(ws: PushWorkspace, receivers: Receivers) -> None:
    triggers, leads = raw_rows(CONVERSIONS)
    triggers[0]["campaign"] = "c" * 9000
    build_warehouse(ws.warehouse, triggers, leads)
    assert ws.run("push", "owox").code == 1
    row = ws.deliveries("owox")[_lead_id(0)]
    assert row["status"] == "failed" and row["attempts"] == 0
    assert "Measurement Protocol takes at most 8,192" in row["message"]
    assert _lead_id(0) not in receivers.owox.count_by("el", valid_only=False)
    assert not receivers.owox.invalid_hits


def test_push_dry_run_sends_nothing_and_writes_every_request(
    ws: PushWorkspace, receivers: Receivers
) -> None:
    result = ws.run("push", "--dry-run")
    assert result.code == 0, result.output
    assert receivers.requests() == 0
    assert "Push (dry run, nothing sent)" in result.stdout
    assert "qubit: 27 would be sent" in result.stdout
    assert not ws.query("select * from outbound.deliveries")  # the build made it, empty
    for target in ("qubit", "owox", "gameball"):
        lines = (ws.root / "dry-run" / f"{target}.jsonl").read_text().splitlines()
        assert {json.loads(line)["lead_id"] for line in lines} == sendable(target)
    owox = json.loads((ws.root / "dry-run" / "owox.jsonl").read_text().splitlines()[0])
    assert owox["request"]["url"].startswith(f"{receivers.owox.url}/{TID}?v=1&tid={TID}&")
    assert "&tel=%2B447700" in owox["request"]["url"]
    assert "&ds=call%20center" in owox["request"]["url"]
    assert API_KEY not in (ws.root / "dry-run" / "gameball.jsonl").read_text()


def test_push_secret_never_in_output_ledger_or_files(
    ws: PushWorkspace, receivers: Receivers
) -> None:
    assert ws.run("push").code == 0
    receivers.gameball.api_key = "another-key"  # the configured key is now refused
    triggers, leads = raw_rows(CONVERSIONS + 10)
    build_warehouse(ws.warehouse, triggers, leads)
    refused = ws.run("push", "gameball")
    assert refused.code == 1
    assert "gameball FAILED: Gameball refused the request (HTTP 401" in refused.stdout
    # The push stopped at the first refused group instead of failing every conversion.
    assert len(receivers.gameball.requests) < len(sendable("gameball")) + 10
    texts = [refused.output, ws.run("status").output]
    texts += [p.read_text(errors="replace") for p in ws.root.rglob("*") if p.is_file()]
    texts += [json.dumps(ws.deliveries(), default=str)]
    assert not [text for text in texts if API_KEY in text]


def test_push_unconfigured_target_is_skipped_and_partial_one_refused(
    ws: PushWorkspace, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESTINATION__GAMEBALL__API_KEY")
    result = ws.run("push")
    assert result.code == 0, result.output
    assert "gameball is not configured (destination.gameball.api_key): skipped" in result.stdout
    assert not receivers.gameball.requests

    monkeypatch.delenv("DESTINATION__OWOX__TID")
    partial = ws.run("push")
    assert partial.code == 2
    assert "destination.owox.tid [DESTINATION__OWOX__TID] is required" in partial.output
    assert len(receivers.owox.requests) == len(sendable("owox"))


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.mark.parametrize("target", ["owox", "gameball", "qubit"])
def test_push_killed_mid_push_then_rerun_sends_nothing_twice(
    ws: PushWorkspace, receivers: Receivers, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 400
    build_warehouse(ws.warehouse, *raw_rows(count))
    monkeypatch.setenv("DESTINATION__QUBIT__BATCH_SIZE", "5")
    monkeypatch.setenv("PUSH__MAX_WORKERS", "4")
    emulator = getattr(receivers, target)
    emulator.latency_seconds = 0.01
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "push", target],
        cwd=ws.root,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # OWOX, Gameball: past the first recorded group (4 workers x 8 requests); Qubit: in it
        kill_after = 30 if target == "qubit" else 50
        _wait_for(lambda: len(emulator.requests) >= kill_after, "the push to be under way")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert len(emulator.requests) < len(sendable(target, count)) / (5 if target == "qubit" else 1)
    emulator.latency_seconds = 0.0
    assert_attempts_agree_with_ledger(ws, target)
    if target != "qubit":
        assert ws.statuses(target)["sending"]

    rerun = ws.run("push", target)
    delivered = delivered_once(receivers)[target]
    statuses = ws.statuses(target)
    assert set(statuses) <= {"sent", "failed", "skipped"}
    assert statuses["sent"] | statuses.get("failed", set()) == sendable(target, count)
    if target == "qubit":
        # sent first, recorded after: the rerun sent the unrecorded events again; Qubit kept one
        assert rerun.code == 0, rerun.output
        assert delivered == sendable(target, count)
        assert not statuses.get("failed")
    else:
        # intent recorded first: what may have been sent is reported, never sent again
        interrupted = statuses["failed"]
        assert rerun.code == 1
        assert 0 < len(interrupted) <= 4 * 8
        assert f"{len(interrupted)} interrupted by an earlier run" in rerun.stdout
        assert delivered >= statuses["sent"]
        assert delivered - statuses["sent"] <= interrupted
        assert all(
            row["confirmed"] is False and "delivery unknown" in row["message"]
            for lead_id, row in ws.deliveries(target).items()
            if lead_id in interrupted
        )
        found = {lead_id: history[-1] for lead_id, history in ws.attempts(target).items()}
        assert {lead_id for lead_id, a in found.items() if a["outcome"] == "interrupted"} == (
            interrupted
        )
        assert ws.run("push", target).code == 0  # reported once; the next run is clean
    assert_attempts_agree_with_ledger(ws, target)


def test_status_shows_deliveries_per_target(ws: PushWorkspace) -> None:
    assert ws.run("push").code == 0
    status = ws.run("status")
    assert "deliveries:" in status.stdout
    assert "qubit: 27 sent, 3 skipped" in status.stdout


def test_push_refuses_a_table_with_an_outbound_id_on_two_rows(
    ws: PushWorkspace, receivers: Receivers
) -> None:
    """A hand edit (or a BigQuery build that failed its grain check after replacing the
    table) leaves one Gameball event id on two rows: nothing goes to Gameball, the rest do."""
    with duckdb.connect(str(ws.warehouse)) as con:
        con.execute(
            "insert into outbound.gameball_events select * from outbound.gameball_events "
            f"where lead_id = '{_lead_id(0)}'"
        )
        ((event_id,),) = con.execute(
            "select gameball_event_id from outbound.gameball_events "
            f"where lead_id = '{_lead_id(0)}' limit 1"
        ).fetchall()

    result = ws.run("push")

    assert result.code == 1, result.output
    assert receivers.gameball.received == []
    assert ws.deliveries("gameball") == {}
    assert f"e.g. '{event_id}', 2 rows): nothing sent to gameball" in result.stdout
    assert delivered_once(receivers)["owox"] == sendable("owox")
    assert set(receivers.qubit.accepted) == sendable("qubit")


def test_push_to_an_unreachable_target_names_it_then_the_next_run_delivers(
    ws: PushWorkspace, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    with refusing_port() as port:
        monkeypatch.setenv("DESTINATION__GAMEBALL__BASE_URL", f"http://127.0.0.1:{port}/api/v3.0")
        first = ws.run("push")

    unreachable = f"gameball: cannot reach 127.0.0.1:{port} (connection refused) after 3 attempts"
    waiting = len(sendable("gameball"))
    assert first.code == 1
    assert f"gameball: 0 sent, {waiting:,} failed ({waiting:,} will be retried; first: " in (
        first.stdout
    )
    assert unreachable in first.stdout
    failed = ws.deliveries("gameball")
    assert {row["status"] for row in failed.values() if row["lead_id"] in sendable("gameball")} == {
        "failed"
    }
    assert all(
        row["message"].startswith(unreachable)
        for row in failed.values()
        if row["lead_id"] in sendable("gameball")
    )

    monkeypatch.setenv("DESTINATION__GAMEBALL__BASE_URL", receivers.gameball.base_url)
    second = ws.run("push")
    assert second.code == 0, second.output
    assert delivered_once(receivers) == {t: sendable(t) for t in ("qubit", "owox", "gameball")}
