"""Settings are dlt config specs: secrets only from secret providers, each key under its own
section, errors naming the key and its variable before any request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import cli_pythonpath

from pipelines.runtime import settings


def _cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a folder of its own, so its .dlt/ is the one the test wrote."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "SYNC__"))}
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": cli_pythonpath(), "RUNTIME__DLTHUB_TELEMETRY": "false", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_settings_refuse_a_secret_written_in_config_toml(tmp_path: Path) -> None:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text(
        '[sources.infinity]\nigrp = "1"\nusername = "ops"\npassword = "in-plain-sight"\n'
    )
    result = _cli(tmp_path, {}, "extract", "infinity")

    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "Setting sources.infinity.password [SOURCES__INFINITY__PASSWORD] is a secret: set it in "
        ".dlt/secrets.toml or the environment, not config.toml"
    ) in result.stdout
    assert "in-plain-sight" not in result.stdout + result.stderr
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()


def test_settings_never_read_a_bare_username_or_password_from_the_shell(tmp_path: Path) -> None:
    env = {"SOURCES__INFINITY__IGRP": "1", "USERNAME": "someone", "PASSWORD": "shell-password"}
    result = _cli(tmp_path, env, "extract", "infinity")

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Setting sources.infinity.username [SOURCES__INFINITY__USERNAME] is required" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PUSH__MAX_WORKERS", "eight", "push.max_workers [PUSH__MAX_WORKERS] must be a whole"),
        ("HTTP__TIMEOUT_SECONDS", "soon", "http.timeout_seconds [HTTP__TIMEOUT_SECONDS] must be a"),
        (
            "DESTINATION__GAMEBALL__CHANNEL_MERGING",
            "maybe",
            "destination.gameball.channel_merging [DESTINATION__GAMEBALL__CHANNEL_MERGING] "
            "must be true or false, got 'maybe'",
        ),
    ],
)
def test_settings_name_the_key_of_a_value_of_the_wrong_type(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    section = variable.lower().rsplit("__", 1)[0].replace("__", ".")

    with pytest.raises(settings.SettingError) as raised:
        settings.resolve(settings.SECTIONS[section])

    assert message in str(raised.value)


def test_settings_mark_every_secret_as_a_secret() -> None:
    from dlt.common.configuration import is_secret_hint

    secret_fields = {
        f"{spec.SECTION}.{name}"
        for spec in settings.SECTIONS.values()
        for name, hint in spec.get_resolvable_fields().items()
        if is_secret_hint(hint)
    }

    assert secret_fields == {
        "sources.infinity.password",
        "sources.infinity.api_key",
        "sources.footprints.client_key",
        "sources.footprints.client_secret",
        "sources.footprints.pin",
        "sources.footprints.password",
        "destination.gameball.api_key",
        "alerts.webhook_url",
    }


@pytest.mark.parametrize(
    ("value", "routes"),
    [
        ('["calls", "all"]', ["calls", "all"]),
        ("calls, all", ["calls", "all"]),
        ("calls", ["calls"]),
        ("[calls, all]", ["calls", "all"]),
    ],
)
def test_settings_read_a_list_as_json_or_plain_text(
    monkeypatch: pytest.MonkeyPatch, value: str, routes: list[str]
) -> None:
    monkeypatch.setenv("SOURCES__INFINITY__ROUTES", value)
    spec = settings.InfinityConfig

    assert settings.text_list(spec, "routes", settings.resolve(spec).routes) == routes
