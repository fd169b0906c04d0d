"""Alerts: the real `sync` against the Infinity emulator, alerting a local webhook receiver
(emulators/webhook.py) once per change of state, surviving a webhook that is down, and never
letting the webhook's URL (a secret) out."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from helpers import PASSWORD, CliResult, Workspace, cli_pythonpath

from emulators.infinity import InfinityEmulator
from emulators.server import Fault
from emulators.webhook import WebhookReceiver

WRONG_PASSWORD = "not-the-Pa55word"
NOT_DELIVERED = "; alerts.webhook_url [ALERTS__WEBHOOK_URL]); the next sync sends it again."


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def ws(
    workspace: Workspace,
    emulator: InfinityEmulator,
    triggers: list[dict[str, str]],
    webhook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> Workspace:
    """An Infinity-only sync (the quickest whole sync) that alerts `webhook`."""
    emulator.add_triggers(triggers)
    monkeypatch.setenv("ALERTS__WEBHOOK_URL", webhook.webhook_url)
    return workspace


def sync(ws: Workspace, monkeypatch: pytest.MonkeyPatch, *, failing: bool) -> CliResult:
    """A sync that fails (Infinity refuses the password) or succeeds."""
    monkeypatch.setenv("SOURCES__INFINITY__PASSWORD", WRONG_PASSWORD if failing else PASSWORD)
    return ws.run("sync")


def last_run(ws: Workspace) -> dict:
    return json.loads((ws.root / "dlt-state" / "runs.jsonl").read_text().splitlines()[-1])


def alert_state(ws: Workspace) -> dict:
    return json.loads((ws.root / "dlt-state" / "alerts.json").read_text())


def test_alerts_once_per_change_of_state(
    ws: Workspace, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = sync(ws, monkeypatch, failing=False)
    assert healthy.code == 0, healthy.output
    assert webhook.received == []  # nothing has changed

    first = sync(ws, monkeypatch, failing=True)
    failed_run = last_run(ws)
    second = sync(ws, monkeypatch, failing=True)

    assert (first.code, second.code) == (1, 1)
    assert len(webhook.received) == 1, "the second failure is not news"
    alert = webhook.received[0]
    assert (alert["state"], alert["status"], alert["command"]) == ("failing", "failed", "sync")
    assert alert["run_id"] == failed_run["run_id"]
    assert alert["failing_since"] == failed_run["started_at"]
    assert alert["error"].startswith("Infinity refused the credentials (HTTP 401")
    assert f"`sync` on {alert['host']} FAILED: Infinity refused the credentials" in alert["text"]
    assert alert["counts"] == {
        "rows_loaded": 0,
        "rows_rejected": 0,
        "lines_repaired": 0,
        "push": {},
    }
    assert "Alert sent: the sync is failing." in first.stdout
    assert "Alert" not in second.stdout

    recovered = sync(ws, monkeypatch, failing=False)
    again = sync(ws, monkeypatch, failing=False)

    assert (recovered.code, again.code) == (0, 0)
    assert len(webhook.received) == 2
    healthy_again = webhook.received[1]
    assert (healthy_again["state"], healthy_again["status"]) == ("healthy", "ok")
    assert healthy_again["error"] is None
    assert f"is healthy again (failing since {failed_run['started_at']})" in healthy_again["text"]
    assert "Alert sent: the sync is healthy." in recovered.stdout
    assert alert_state(ws)["told"] == "healthy"


def test_alerts_a_breached_gate_alerts_and_a_failure_after_it_is_no_news(
    ws: Workspace, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The extract tests' triggers are weeks old: with the freshness gate on, a breach.
    monkeypatch.setenv("QUALITY__MAX_HOURS_WITHOUT_TRIGGERS", "24")

    breached = sync(ws, monkeypatch, failing=False)
    failed = sync(ws, monkeypatch, failing=True)

    assert (breached.code, failed.code) == (4, 1)
    assert len(webhook.received) == 1
    alert = webhook.received[0]
    assert (alert["state"], alert["status"], alert["error"]) == ("failing", "gate_failed", None)
    assert [breach["gate"] for breach in alert["breaches"]] == ["freshness_triggers"]
    gate_line = alert["breaches"][0]["message"]
    assert gate_line.startswith("Gate freshness_triggers breached: no new trigger for ")
    assert alert["text"].endswith(": 1 data-quality gate(s) breached.\n" + gate_line)
    assert alert["counts"]["rows_loaded"] == ws.count("infinity.triggers") > 0


def take_down(webhook: WebhookReceiver, how: str) -> None:
    if how == "not listening":
        webhook.stop()
    else:  # the next request only
        webhook.add_fault(Fault(status=503) if how == "HTTP 503" else Fault(drop_connection=True))


@contextmanager
def back_up(webhook: WebhookReceiver, how: str, port: int) -> Iterator[WebhookReceiver]:
    """The receiver answering again, at the same URL."""
    if how != "not listening":
        yield webhook
        return
    token = webhook.path.rsplit("/", 1)[1]
    with WebhookReceiver(port=port, token=token) as again:
        yield again


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("not listening", "the connection to the webhook failed"),
        ("HTTP 503", "the webhook answered HTTP 503"),
        ("drops the connection", "the connection to the webhook failed"),
    ],
)
def test_alerts_webhook_down_never_fails_the_sync_and_the_next_sync_delivers(
    ws: Workspace,
    webhook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    how: str,
    problem: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="pipelines")
    not_delivered = f"Alert not delivered ({problem}{NOT_DELIVERED}"
    port, secret = webhook.port, webhook.path.rsplit("/", 1)[1]
    take_down(webhook, how)
    failed_unheard = sync(ws, monkeypatch, failing=True)

    assert failed_unheard.code == 1, failed_unheard.output  # as without alerts
    assert not_delivered in failed_unheard.stdout
    assert not_delivered in caplog.text
    assert alert_state(ws)["told"] == "healthy"
    assert webhook.received == []

    answering = []  # the receivers that were up, in order (one, or one per start)
    with back_up(webhook, how, port) as up:
        answering.append(up)
        failed_heard = sync(ws, monkeypatch, failing=True)
        assert failed_heard.code == 1
        assert [alert["state"] for alert in up.received] == ["failing"]
        assert alert_state(ws)["told"] == "failing"
        take_down(up, how)
        ok_unheard = sync(ws, monkeypatch, failing=False)

    assert ok_unheard.code == 0, ok_unheard.output  # as without alerts
    assert not_delivered in ok_unheard.stdout
    assert alert_state(ws)["told"] == "failing"

    with back_up(webhook, how, port) as up:
        answering.append(up)
        ok_heard = sync(ws, monkeypatch, failing=False)

    assert ok_heard.code == 0
    received = [alert for up in dict.fromkeys(answering) for alert in up.received]
    assert [alert["state"] for alert in received] == ["failing", "healthy"]
    assert alert_state(ws)["told"] == "healthy"

    # What was said about the webhook, here and everywhere, never quotes its URL.
    printed = (
        "".join(r.output for r in (failed_unheard, failed_heard, ok_unheard, ok_heard))
        + caplog.text
    )
    assert secret not in printed
    for path in ws.root.rglob("*"):
        if path.is_file():
            assert secret.encode() not in _decoded(path.read_bytes()), path
    assert not any(secret in json.dumps(alert) for alert in received)


def _decoded(data: bytes) -> bytes:
    """The bytes of a file, and what gzip or zlib would unpack from them."""
    for unpack in (gzip.decompress, zlib.decompress):
        with suppress(OSError, zlib.error, EOFError):
            data += unpack(data)
    return data


def test_alerts_carry_no_secret_of_the_run(
    ws: Workspace, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync(ws, monkeypatch, failing=True)
    sync(ws, monkeypatch, failing=False)

    bodies = json.dumps(webhook.received)
    assert len(webhook.received) == 2
    for secret in (WRONG_PASSWORD, PASSWORD, webhook.path):
        assert secret not in bodies


def test_alerts_reach_the_webhook_when_the_warehouse_is_unusable(
    ws: Workspace, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = ws.root / "not-a-warehouse.duckdb"
    garbage.write_bytes(b"this is not a DuckDB file\n" * 100)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(garbage))

    result = sync(ws, monkeypatch, failing=False)

    assert result.code != 0, result.output
    assert [(a["state"], a["status"]) for a in webhook.received] == [("failing", "failed")]
    assert alert_state(ws)["told"] == "failing"


def test_alerts_a_webhook_url_that_is_no_address_stops_the_sync_unshown(
    ws: Workspace, emulator: InfinityEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTS__WEBHOOK_URL", "hooks.example.com/services/T1/B2/tok-3f9a0c")

    result = ws.run("sync")

    assert result.code == 2, result.output
    assert (
        "Setting alerts.webhook_url [ALERTS__WEBHOOK_URL] must be an http:// or https:// "
        "address (value not shown)"
    ) in result.output
    assert "tok-3f9a0c" not in result.output
    assert emulator.requests == []


def test_alerts_a_webhook_url_in_config_toml_is_refused_as_a_secret(tmp_path: Path) -> None:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text(
        '[alerts]\nwebhook_url = "https://hooks.example.com/services/T1/B2/tok-in-sight"\n'
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "ALERTS__"))}
    env = {**clean, "PYTHONPATH": cli_pythonpath(), "SOURCES__INFINITY__IGRP": "1"}

    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "sync"],
        cwd=tmp_path,
        env={**env, "SOURCES__INFINITY__USERNAME": "ops", "SOURCES__INFINITY__PASSWORD": "x"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "Setting alerts.webhook_url [ALERTS__WEBHOOK_URL] is a secret: set it in "
        ".dlt/secrets.toml or the environment, not config.toml"
    ) in result.stdout
    assert "tok-in-sight" not in result.stdout + result.stderr
