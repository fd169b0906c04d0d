"""Alerts: a JSON POST to `alerts.webhook_url` when the scheduled sync starts failing, and
again when it is healthy again; once per change of state, not on every run.

A sync is healthy when it ended `ok`, failing when it `failed` or breached a data-quality
gate (`gate_failed`). A `busy` run (the warehouse held by someone else) changes nothing: it
did not get to look at the data.

The body is Slack-compatible (`text`, which Slack's incoming webhooks show), plus the
command, status, counts and the first error for anything else that reads it. It carries no
secret: the error is the run's own message, which every source redacts already.

What the webhook was last told lives in `<sync.pipelines_dir>/alerts.json`, beside the run
log and not in the warehouse, so an alert that the warehouse is unreachable can still be
sent. A webhook that is down never fails the sync: the run logs it and the next one sends
the alert again (the state is only marked told once the webhook answered 2xx). If the state
flips back before an alert gets through, there is nothing left to tell.

The webhook URL is a secret (Slack's carries its token in the path): it is read as a
`TSecretStrValue` and never written to output, logs or the state file; request errors are
reported by kind, since `requests` puts the URL in its messages.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from pipelines.runtime import settings
from pipelines.runtime.loading import pipelines_dir
from pipelines.runtime.report import RunReport
from pipelines.runtime.settings import SettingError

HEALTHY, FAILING = "healthy", "failing"
STATE_FILE = "alerts.json"
WEBHOOK_KEY = "alerts.webhook_url"
_TEXT_LIMIT = 3_000  # Slack shows longer texts folded; the full error is in `error`
log = logging.getLogger("pipelines")


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str | None  # None: alerts are off
    timeout_seconds: float

    @classmethod
    def from_config(cls) -> AlertSettings:
        """Read and check the `[alerts]` settings; the error never shows the URL."""
        spec = settings.AlertsConfig
        raw = settings.resolve(spec)
        url = (raw.webhook_url or "").strip() or None
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SettingError(
                    WEBHOOK_KEY, "must be an http:// or https:// address (value not shown)"
                )
        timeout = settings.bounded(
            spec, "timeout_seconds", raw.timeout_seconds, minimum=0.1, maximum=300
        )
        return cls(url, float(timeout))


def check_settings() -> None:
    """The `[alerts]` settings, before any request of the run is made."""
    AlertSettings.from_config()


@dataclass
class AlertState:
    """What alerts.json keeps between runs."""

    state: str = HEALTHY  # of the last sync that was healthy or failing
    failing_since: str | None = None  # start of the first failing sync of the latest failure
    told: str = HEALTHY  # the state the webhook was last told of
    told_at: str | None = None
    undelivered: str | None = None  # why the last alert did not get through


def state_of(report: RunReport) -> str | None:
    """`healthy`, `failing`, or None for a run that says nothing about the data (busy)."""
    if report.status == "busy":
        return None
    return HEALTHY if report.status == "ok" else FAILING


def notify(report: RunReport) -> None:
    """Alert the webhook if this sync changed the state; never raises, so never fails a sync."""
    try:
        _notify(report)
    except Exception as error:  # an alert is never worth a failed sync
        problem = f"{type(error).__name__} while alerting"
        log.warning("alert not sent (%s); the next sync tries again", problem)
        report.notes.append(f"Alert not sent ({problem}); the next sync tries again.")


def _notify(report: RunReport) -> None:
    try:
        config = AlertSettings.from_config()
    except SettingError as error:
        log.warning("alert not sent: %s", error)
        report.notes.append(f"Alert not sent: {error}.")
        return
    state = state_of(report)
    if config.webhook_url is None or state is None:
        return
    path = pipelines_dir() / STATE_FILE
    saved = _load(path)
    if saved.state != state:
        saved.state = state
        if state == FAILING:
            saved.failing_since = report.started_at
    if saved.told == state:
        _save(path, saved)
        return
    problem = _post(config, payload(report, state, saved.failing_since))
    if problem is None:
        saved.told, saved.told_at, saved.undelivered = state, datetime.now(UTC).isoformat(), None
        report.notes.append(f"Alert sent: the sync is {state}.")
    else:
        saved.undelivered = problem
        message = (
            f"Alert not delivered ({problem}; {WEBHOOK_KEY} "
            f"[{settings.env_name(WEBHOOK_KEY)}]); the next sync sends it again."
        )
        log.warning("%s", message)
        report.notes.append(message)
    _save(path, saved)


def payload(report: RunReport, state: str, failing_since: str | None) -> dict[str, Any]:
    """The POST body: Slack's `text` and the run's figures."""
    return {
        "text": text(report, state, failing_since),
        "state": state,
        "command": report.command,
        "status": report.status,
        "run_id": report.run_id,
        "host": socket.gethostname(),
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "failing_since": failing_since,
        "counts": counts(report),
        "error": report.error,
        "error_kind": report.error_kind,
        "breaches": report.breaches,
    }


def counts(report: RunReport) -> dict[str, Any]:
    rejected = sum(n for table, n in report.rows.items() if table.endswith("rejected"))
    return {
        "rows_loaded": sum(report.rows.values()) - rejected,
        "rows_rejected": rejected,
        "lines_repaired": report.repaired,
        "push": report.push,
    }


def text(report: RunReport, state: str, failing_since: str | None) -> str:
    where = f"callsync `{report.command}` on {socket.gethostname()}"
    if state == HEALTHY:
        figures = counts(report)
        sent = ", ".join(f"{t} {c.get('sent', 0):,} sent" for t, c in report.push.items())
        line = (
            f"{where} is healthy again (failing since {failing_since or 'an earlier run'}): "
            f"{figures['rows_loaded']:,} rows loaded" + (f"; {sent}" if sent else "") + "."
        )
    elif report.error:
        line = f"{where} FAILED: {report.error}"
    else:
        gates = len(report.breaches)
        line = f"{where}: {gates} data-quality gate(s) breached.\n" + "\n".join(
            breach["message"] for breach in report.breaches
        )
    return line if len(line) <= _TEXT_LIMIT else line[: _TEXT_LIMIT - 3] + "..."


def _post(config: AlertSettings, body: dict[str, Any]) -> str | None:
    """POST the alert once; None when the webhook took it, else why not (no URL in it)."""
    assert config.webhook_url is not None
    try:
        response = requests.post(config.webhook_url, json=body, timeout=config.timeout_seconds)
    except requests.Timeout:
        return f"the webhook did not answer within {config.timeout_seconds:g} s"
    except requests.ConnectionError:
        return "the connection to the webhook failed"
    except requests.RequestException as error:
        return f"{type(error).__name__} sending to the webhook"
    if not 200 <= response.status_code < 300:
        return f"the webhook answered HTTP {response.status_code}"
    return None


def _load(path: Path) -> AlertState:
    """The saved state; an unreadable file starts over (at worst, one alert again)."""
    try:
        return AlertState(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return AlertState()
    except (ValueError, TypeError) as error:
        log.warning("%s unreadable (%s): alert state starts over", path, type(error).__name__)
        return AlertState()


def _save(path: Path, state: AlertState) -> None:
    """Written whole or not at all: a sync killed here leaves the previous state."""
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
