"""What the operator sees, and what lands, when Infinity or the settings misbehave."""

from __future__ import annotations

import time

import pytest
from helpers import API_KEY, PASSWORD, Workspace, trigger_requests

from emulators.infinity import InfinityEmulator
from emulators.server import Fault


@pytest.fixture
def loaded(emulator: InfinityEmulator, triggers: list[dict[str, str]]) -> list[int]:
    emulator.add_triggers(triggers)
    return sorted(int(t["rowId"]) for t in triggers)


@pytest.fixture(autouse=True)
def all_route(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", '["all"]')


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=429, headers={"Retry-After": "0"}, times=2),
        Fault(status=500, times=2),
        Fault(status=502, times=1),
        Fault(drop_connection=True, times=2),
    ],
    ids=["429-retry-after-0", "500", "502", "dropped-connection"],
)
def test_transient_faults_are_retried_and_nothing_is_lost(
    emulator: InfinityEmulator, workspace: Workspace, loaded: list[int], fault: Fault
) -> None:
    fault.path_contains = "rowId-gt-value-"
    emulator.add_fault(fault)

    result = workspace.run("sync")

    assert result.code == 0, result.output
    assert emulator.pending_faults == 0
    assert workspace.row_ids() == loaded


def test_retry_after_zero_waits_at_least_the_floor(
    emulator: InfinityEmulator,
    workspace: Workspace,
    loaded: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP__MIN_RETRY_DELAY_SECONDS", "0.5")
    emulator.add_fault(Fault(status=429, headers={"Retry-After": "0"}, times=2))

    started = time.monotonic()
    result = workspace.run("sync")

    assert result.code == 0, result.output
    # Two 429s, each followed by a wait of at least the floor (exponential after that).
    assert time.monotonic() - started >= 1.0
    assert workspace.row_ids() == loaded


def test_slow_response_times_out_and_is_retried(
    emulator: InfinityEmulator,
    workspace: Workspace,
    loaded: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP__TIMEOUT_SECONDS", "0.5")
    emulator.add_fault(Fault(delay=2.0, times=1))

    result = workspace.run("sync")

    assert result.code == 0, result.output
    assert workspace.row_ids() == loaded


def test_persistent_server_error_fails_with_a_summary_and_keeps_loaded_chunks(
    emulator: InfinityEmulator,
    workspace: Workspace,
    loaded: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP__MAX_ATTEMPTS", "3")
    # Let the first chunk (4 pages) load, then fail every request.
    first_chunk_end = loaded[4 * 500 - 1]
    emulator.add_fault(
        Fault(
            status=503,
            body="maintenance",
            times=50,
            path_contains=f"rowId-gt-value-{first_chunk_end}",
        )
    )

    result = workspace.run("sync")

    assert result.code == 1
    assert "sync FAILED" in result.stdout
    assert "HTTP 503" in result.stdout and "maintenance" in result.stdout
    assert "Rows loaded: 2,000" in result.stdout
    assert "Traceback" not in result.output
    assert workspace.row_ids() == loaded[:2000]
    emulator.clear_faults()
    assert workspace.run("sync").code == 0
    assert workspace.row_ids() == loaded


def test_wrong_password_names_the_credential_keys_and_hides_the_secret(
    emulator: InfinityEmulator,
    workspace: Workspace,
    loaded: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__PASSWORD", "wrong-" + PASSWORD)

    result = workspace.run("sync")

    assert result.code == 1
    assert "HTTP 401" in result.stdout
    assert "SOURCES__INFINITY__USERNAME" in result.stdout
    assert "SOURCES__INFINITY__API_KEY" in result.stdout
    assert PASSWORD not in result.output
    assert len(trigger_requests(emulator)) == 1, "an auth failure is not retried"


def test_wrong_igrp_is_access_denied(
    emulator: InfinityEmulator, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__IGRP", "999")

    result = workspace.run("sync")

    assert result.code == 1
    assert "HTTP 403: access denied" in result.stdout
    assert "SOURCES__INFINITY__IGRP" in result.stdout


def test_api_key_uses_v21_and_its_header(
    emulator: InfinityEmulator,
    workspace: Workspace,
    loaded: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SOURCES__INFINITY__USERNAME")
    monkeypatch.delenv("SOURCES__INFINITY__PASSWORD")
    monkeypatch.setenv("SOURCES__INFINITY__API_KEY", API_KEY)

    result = workspace.run("sync")

    assert result.code == 0, result.output
    assert workspace.row_ids() == loaded
    request = next(r for r in emulator.requests if "/triggers/" in r.path)
    assert request.path.startswith("/reports/v2.1/")
    assert request.headers["Authorization"] == f"ApiKey {API_KEY}"
    assert API_KEY not in result.output


def test_row_cap_error_shows_the_api_message(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    capped = InfinityEmulator(max_limit=300, username="u", password="p").start()
    try:
        monkeypatch.setenv("SOURCES__INFINITY__BASE_URL", f"{capped.url}/reports/v2")
        monkeypatch.setenv("SOURCES__INFINITY__USERNAME", "u")
        monkeypatch.setenv("SOURCES__INFINITY__PASSWORD", "p")

        result = workspace.run("sync")
    finally:
        capped.stop()

    assert result.code == 1
    assert "HTTP 400" in result.stdout and "300" in result.stdout
    assert "SOURCES__INFINITY__PAGE_SIZE" in result.stdout
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SOURCES__INFINITY__PAGE_SIZE", "20000", "must be at most 10000"),
        ("SOURCES__INFINITY__PAGE_SIZE", "lots", "must be a whole number"),
        ("SOURCES__INFINITY__IGRP", "", "is required"),
        ("SOURCES__INFINITY__ROUTES", '["calls", "bogus"]', "unknown routes ['bogus']"),
        ("SOURCES__INFINITY__PASSWORD", "", "SOURCES__INFINITY__PASSWORD"),
    ],
)
def test_bad_settings_fail_before_any_request_naming_key_and_variable(
    emulator: InfinityEmulator,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)

    result = workspace.run("sync")

    assert result.code == 2
    assert variable in result.output
    assert variable.lower().replace("__", ".") in result.output
    assert message in result.output
    assert emulator.requests == []
