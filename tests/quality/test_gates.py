"""The data-quality gates on real DuckDB warehouses: one that breaches each gate and one that
breaches none, built from raw rows by the real models and judged at an injected moment; then
the real `sync` against the emulators: exit code 4, one line per breached gate, the record in
runs.jsonl, and `quality.block_push` holding the push until a sync passes every gate."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dlt
import pytest
from dlt.common.configuration import is_secret_hint
from helpers import ROOT, Workspace, cli_pythonpath
from helpers.model_cases import SETTINGS
from helpers.quality_cases import NOW, ORDINARY_ROWS, Business, write_raw_tables

from emulators.footprints import FootprintsEmulator
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator
from emulators.scenario import Scenario
from pipelines.models.build import build_models
from pipelines.models.settings import ModelSettings
from pipelines.push import TARGETS as PUSH_TARGETS
from pipelines.quality.gates import GateReport, RunFacts, check
from pipelines.quality.settings import QualitySettings
from pipelines.runtime import settings, warehouse

HOUR = timedelta(hours=1)
TARGETS = tuple(PUSH_TARGETS)
# Every gate that is on by default (min_match_rate is off: a floor only the business knows).
DEFAULT_GATES = {
    "freshness_triggers",
    "freshness_leads",
    "volume",
    "match_rate_drop",
    "rejected_share_infinity",
    "rejected_share_footprints",
    "skipped_share_qubit",
    "skipped_share_owox",
    "skipped_share_gameball",
}


@pytest.fixture(autouse=True)
def no_settings_around(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec's defaults: no .dlt/ folder and no [quality] variable from whoever runs this."""
    monkeypatch.chdir(tmp_path)
    for name in os.environ:
        if name.startswith("QUALITY__"):
            monkeypatch.delenv(name)


def judge(
    tmp_path: Path,
    business: Business,
    *,
    rows: dict[str, int] = ORDINARY_ROWS,
    models: ModelSettings | None = SETTINGS,
    now: datetime = NOW,
) -> GateReport:
    """The gates on a warehouse of `business`, its models built with `models` (None: none)."""
    path = tmp_path / "warehouse.duckdb"
    write_raw_tables(path, *business.rows())
    destination = dlt.destinations.duckdb(str(path))
    if models is not None:
        build_models(destination, config=models)
    facts = RunFacts(("infinity", "footprints"), models is not None, TARGETS, rows)
    with warehouse.connect(destination) as db:
        return check(db, QualitySettings.from_config(), now, facts)


def test_gates_ordinary_day_breaches_none(tmp_path: Path) -> None:
    report = judge(tmp_path, Business(NOW))

    assert report.breaches == []
    assert set(report.passed) == DEFAULT_GATES
    assert report.unchecked == []
    assert report.summary() == "Quality gates: 9 passed."


@dataclass(frozen=True)
class Case:
    name: str
    business: Business
    breached: set[str]  # every gate the world breaches, the one under test among them
    gate: str
    value: tuple[float, float]  # the range its measured value lies in
    threshold: float
    key: str
    line: str  # a part of its message
    env: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=lambda: ORDINARY_ROWS)
    models: ModelSettings = SETTINGS


CASES = [
    Case(
        "Infinity silent for 30 h",
        Business(NOW, triggers_stopped=30 * HOUR),
        # no calls today, and no call before today's leads
        {"freshness_triggers", "volume", "match_rate_drop"},
        "freshness_triggers",
        (30.0, 30.25),  # a call every 15 minutes until then
        24,
        "quality.max_hours_without_triggers",
        "no new trigger for 30.",
    ),
    Case(
        "Footprints silent for 50 h",
        Business(NOW, leads_stopped=50 * HOUR),
        {"freshness_leads"},  # the match rate waits for leads
        "freshness_leads",
        (50.0, 50.6),  # a lead every 36 minutes until then
        48,
        "quality.max_hours_without_leads",
        "no new lead for 50.",
    ),
    Case(
        "today's calls a sixth of the usual",
        Business(NOW, other_calls_today=False),
        {"volume"},
        "volume",
        (0.1, 0.25),
        0.25,
        "quality.min_volume_ratio",
        "calls today by 15:30 UTC",
    ),
    Case(
        "fewer of the last 24 h's leads called first",
        Business(NOW, recent_matched_every=8),
        {"match_rate_drop"},
        "match_rate_drop",
        (0.35, 0.40),  # 5 of 40 (12.5%) against 50%
        0.3,
        "quality.max_match_rate_drop",
        "of the 40 leads created in the last 24 h matched a call, 37.5 points below the 14 "
        "days before (50.0% of 560)",
    ),
    Case(
        "phone numbers unreadable since yesterday, with a floor set",
        Business(NOW, recent_phones=False),
        {"match_rate", "match_rate_drop"},
        "match_rate",
        (0.0, 0.0),
        0.05,
        "quality.min_match_rate",
        "0.0% of the 40 leads created in the last 24 h matched a call; threshold: at least 5.0%",
        env={"QUALITY__MIN_MATCH_RATE": "0.05"},
    ),
    Case(
        "a tenth of Infinity's rows rejected",
        Business(NOW),
        {"rejected_share_infinity"},
        "rejected_share_infinity",
        (0.1, 0.1),
        0.05,
        "quality.max_rejected_share",
        "40 of the 400 rows read from infinity this run were set aside in infinity.rejected",
        rows={**ORDINARY_ROWS, "infinity.triggers": 360, "infinity.rejected": 40},
    ),
    Case(
        "Footprints rows rejected: its nested rows do not dilute the share",
        Business(NOW),
        {"rejected_share_footprints"},
        "rejected_share_footprints",
        (0.0625, 0.0625),
        0.05,
        "quality.max_rejected_share",
        "2 of the 32 rows read from footprints",
        rows={**ORDINARY_ROWS, "footprints.leads": 30, "footprints.rejected": 2},
    ),
    Case(
        "no currency: nothing can be sent to Qubit",
        Business(NOW),
        {"skipped_share_qubit"},
        "skipped_share_qubit",
        (1.0, 1.0),
        0.98,
        "quality.max_skipped_share",
        "qubit rows of the last 14 days are skipped (100.0%, most for",
        models=replace(SETTINGS, currency=None),
    ),
    Case(
        "a quarter of Gameball's rows skipped, against its own threshold",
        Business(NOW, no_player_id_every=4),
        {"skipped_share_gameball"},
        "skipped_share_gameball",
        (0.24, 0.26),
        0.2,
        "quality.max_skipped_share_gameball",
        "48 of the 196 gameball rows of the last 14 days are skipped (24.5%",
        env={"QUALITY__MAX_SKIPPED_SHARE_GAMEBALL": "0.2"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_gates_breached_name_value_threshold_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)

    report = judge(tmp_path, case.business, rows=case.rows, models=case.models)

    assert {breach.gate for breach in report.breaches} == case.breached, report.summary()
    breach = next(b.record() for b in report.breaches if b.gate == case.gate)
    assert case.value[0] <= breach["value"] <= case.value[1], breach
    assert (breach["threshold"], breach["key"]) == (case.threshold, case.key)
    message = breach["message"]
    assert message.startswith(f"Gate {case.gate} breached: ")
    assert case.line in message
    assert message.endswith(f"({case.key} [{settings.env_name(case.key)}]).")
    assert set(report.passed) == DEFAULT_GATES - case.breached - {
        u.split(" ")[0] for u in report.unchecked
    }


def test_gates_volume_waits_for_a_baseline_early_in_the_utc_day(tmp_path: Path) -> None:
    early = NOW.replace(hour=1, minute=0)

    report = judge(tmp_path, Business(early, other_calls_today=False), now=early)

    assert "volume" not in {breach.gate for breach in report.breaches}
    assert (
        "volume (the 14 days before had a median of 5 calls by 01:00 UTC, below "
        "quality.min_baseline_calls 30)"
    ) in report.unchecked


def test_gates_on_a_new_account_wait_for_history(tmp_path: Path) -> None:
    report = judge(tmp_path, Business(NOW, days=1))

    assert report.breaches == []
    assert "volume (no calls by 15:30 UTC on most of the 14 days before)" in report.unchecked
    assert (
        "match_rate_drop (26 leads created in the last 24 h, below "
        "quality.min_leads_for_match_rate 30)"
    ) in report.unchecked
    assert "skipped_share_qubit (9 qubit rows in the last 14 days, below " in report.summary()


def test_gates_without_models_judge_only_what_the_sources_loaded(tmp_path: Path) -> None:
    report = judge(tmp_path, Business(NOW, recent_phones=False), models=None)

    assert report.breaches == []
    assert set(report.passed) == {
        "freshness_triggers",
        "freshness_leads",
        "volume",
        "rejected_share_infinity",
        "rejected_share_footprints",
    }
    assert "match_rate_drop (the models were not built)" in report.unchecked
    assert "skipped_share_owox (the models were not built)" in report.unchecked


@pytest.mark.parametrize("off", ["0", "none", "NONE"])
def test_gates_turned_off_by_0_or_none_are_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, off: str
) -> None:
    for name in ("MAX_HOURS_WITHOUT_TRIGGERS", "MIN_VOLUME_RATIO", "MAX_MATCH_RATE_DROP"):
        monkeypatch.setenv(f"QUALITY__{name}", off)

    report = judge(tmp_path, Business(NOW, triggers_stopped=30 * HOUR))

    assert report.breaches == []
    judged = set(report.passed) | {u.split(" ")[0] for u in report.unchecked}
    assert judged == DEFAULT_GATES - {"freshness_triggers", "volume", "match_rate_drop"}


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("MIN_VOLUME_RATIO", "half", "must be a number, or 0 or none to turn the gate off"),
        ("MAX_REJECTED_SHARE", "5", "must be between 0 and 1, got '5'"),
        ("MAX_SKIPPED_SHARE_QUBIT", "", "must be a number, or 0 or none"),
        ("MAX_HOURS_WITHOUT_LEADS", "-1", "must be between 0 and 8760, got '-1'"),
        ("MIN_BASELINE_CALLS", "many", "must be a whole number, got 'many'"),
        ("BLOCK_PUSH", "maybe", "must be true or false, got 'maybe'"),
    ],
)
def test_quality_settings_a_bad_value_names_its_key_and_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(f"QUALITY__{variable}", value)

    with pytest.raises(settings.SettingError) as error:
        QualitySettings.from_config()

    key = f"quality.{variable.lower()}"
    assert str(error.value).startswith(f"Setting {key} [QUALITY__{variable}] {problem}")


def test_quality_settings_a_bad_value_stops_the_sync_before_any_request(
    workspace: Workspace, emulator: InfinityEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALITY__MAX_SKIPPED_SHARE", "most")

    result = workspace.run("sync")

    assert result.code == 2, result.output
    assert "Setting quality.max_skipped_share [QUALITY__MAX_SKIPPED_SHARE] must be a number" in (
        result.output
    )
    assert emulator.requests == []


def test_quality_and_alerts_keys_are_in_config_toml_and_the_readme() -> None:
    config = (ROOT / ".dlt" / "config.toml").read_text()
    secrets = (ROOT / ".dlt" / "example.secrets.toml").read_text()
    readme = (ROOT / "README.md").read_text()
    written = tomllib.loads(config)
    for spec in (settings.QualityConfig, settings.AlertsConfig):
        defaults = spec()
        section = written.get(spec.SECTION, {})
        for name, hint in spec.get_resolvable_fields().items():
            secret = is_secret_hint(hint)
            where = (
                (secrets, ".dlt/example.secrets.toml") if secret else (config, ".dlt/config.toml")
            )
            assert f"{name} =" in where[0], f"{spec.key(name)} is not in {where[1]}"
            assert f"`{spec.key(name)}`" in readme, f"{spec.key(name)} is not in the README"
            if name in section:  # an uncommented default is the spec's own
                assert _same(section[name], getattr(defaults, name)), spec.key(name)


def _same(written: object, default: object) -> bool:
    try:
        return float(str(written)) == float(str(default))
    except ValueError:
        return str(written).lower() == str(default).lower()


# --- the real sync, against the emulators -----------------------------------------------------

# Small enough for three syncs in well under a minute.
WORLD = dict(triggers=3_000, leads=300, days=20, new_calls=300, new_leads=40, new_customers=10)
OUTBOUND = {"qubit": "qubit_events", "owox": "owox_hits", "gameball": "gameball_events"}


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


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    with QubitEmulator() as qubit, OwoxEmulator() as owox, GameballEmulator() as gameball:
        yield Receivers(qubit, owox, gameball)


@dataclass
class Sources:
    """Fresh emulators serving the scenario as it looks at its last run."""

    scenario: Scenario
    infinity: InfinityEmulator
    crm: FootprintsEmulator

    def env(self, receivers: Receivers, work: Path) -> dict[str, str]:
        return {
            "SOURCES__INFINITY__BASE_URL": f"{self.infinity.url}/reports/v2",
            "SOURCES__INFINITY__IGRP": self.infinity.igrp,
            "SOURCES__INFINITY__USERNAME": self.infinity.username,
            "SOURCES__INFINITY__PASSWORD": self.infinity.password,
            "SOURCES__FOOTPRINTS__BASE_URL": self.crm.url,
            "SOURCES__FOOTPRINTS__CLIENT_KEY": self.crm.client_key,
            "SOURCES__FOOTPRINTS__CLIENT_SECRET": self.crm.client_secret,
            "SOURCES__FOOTPRINTS__START_DATE": str(self.scenario.first_day),
            "MODELS__CURRENCY": "RON",
            "DESTINATION__QUBIT__BASE_URL": receivers.qubit.url,
            "DESTINATION__QUBIT__TRACKING_ID": receivers.qubit.tracking_id,
            "DESTINATION__OWOX__ENDPOINT": receivers.owox.url,
            "DESTINATION__OWOX__TID": receivers.owox.tid,
            "DESTINATION__GAMEBALL__BASE_URL": receivers.gameball.base_url,
            "DESTINATION__GAMEBALL__API_KEY": receivers.gameball.api_key,
            "DESTINATION__GAMEBALL__MAX_REQUESTS_PER_SECOND": "1000",
            "DESTINATION__DUCKDB__CREDENTIALS": str(work / "warehouse.duckdb"),
            "SYNC__PIPELINES_DIR": str(work / "dlt-state"),
            "HTTP__MIN_RETRY_DELAY_SECONDS": "0.1",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            # Each gate has its own case above; the emulated world's volume and match rate
            # move with the hour the test runs at, so only freshness (and the shares) judge.
            "QUALITY__MIN_VOLUME_RATIO": "0",
            "QUALITY__MAX_MATCH_RATE_DROP": "0",
        }


@pytest.fixture
def sources() -> Iterator[list[Sources]]:
    """Emulators per sync (`serve`), all stopped at the end."""
    served: list[Sources] = []
    yield served
    for source in served:
        source.infinity.stop()
        source.crm.stop()


def serve(served: list[Sources], scenario: Scenario) -> Sources:
    infinity, crm = InfinityEmulator().start(), FootprintsEmulator().start()
    served.append(Sources(scenario, infinity, crm))
    scenario.serve(infinity, crm)
    return served[-1]


def sync_in_process(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, work: Path) -> Workspace:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Workspace(work, work / "warehouse.duckdb", env)


def sendable(ws: Workspace) -> dict[str, int]:
    return {
        target: ws.query(f"select count(*) from outbound.{table} where skip_reason is null")[0][0]
        for target, table in OUTBOUND.items()
    }


def last_run(work: Path) -> dict:
    return json.loads((work / "dlt-state" / "runs.jsonl").read_text().splitlines()[-1])


def test_gates_breach_exits_4_with_a_line_per_gate_and_block_push_holds_until_a_clean_sync(
    tmp_path: Path,
    receivers: Receivers,
    sources: list[Sources],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both feeds went quiet three days ago: what they serve ends then.
    stale = Scenario(runs=(datetime.now(UTC) - timedelta(days=3),), **WORLD)
    env = serve(sources, stale).env(receivers, tmp_path) | {"QUALITY__BLOCK_PUSH": "true"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUALITY__")}
    held = subprocess.run(
        [sys.executable, "-m", "pipelines", "sync"],
        cwd=tmp_path,
        env={**clean, **env, "PYTHONPATH": cli_pythonpath()},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert held.returncode == 4, held.stdout + held.stderr
    # The summary's last lines: one per breached gate.
    trigger_line, lead_line = held.stdout.splitlines()[-2:]
    found = re.fullmatch(
        r"Gate freshness_triggers breached: no new trigger for (\d+\.\d) h \(the newest is of "
        r"\S+ \S+ UTC\); threshold: at most 24 h \(quality.max_hours_without_triggers "
        r"\[QUALITY__MAX_HOURS_WITHOUT_TRIGGERS\]\)\.",
        trigger_line,
    )
    assert found is not None and float(found[1]) >= 72, trigger_line
    found = re.fullmatch(
        r"Gate freshness_leads breached: no new lead for (\d+\.\d) h .*; threshold: at most "
        r"48 h \(quality.max_hours_without_leads \[QUALITY__MAX_HOURS_WITHOUT_LEADS\]\)\.",
        lead_line,
    )
    assert found is not None and float(found[1]) >= 72, lead_line
    assert "Push held: a data-quality gate is breached and quality.block_push" in held.stdout
    assert receivers.took() == {"qubit": 0, "owox": 0, "gameball": 0}
    ws = Workspace(tmp_path, tmp_path / "warehouse.duckdb", env)
    assert ws.count("outbound.deliveries") == 0
    assert sum(sendable(ws).values()) > 0  # there was something to hold back
    record = last_run(tmp_path)
    assert record["status"] == "gate_failed"
    assert [b["gate"] for b in record["breaches"]] == ["freshness_triggers", "freshness_leads"]
    assert all(b["value"] >= 72 for b in record["breaches"])
    assert [(b["threshold"], b["key"]) for b in record["breaches"]] == [
        (24, "quality.max_hours_without_triggers"),
        (48, "quality.max_hours_without_leads"),
    ]

    # The feeds are back: new calls and leads dated now. The next sync sends everything due.
    fresh = serve(sources, stale.then(datetime.now(UTC)))
    env = fresh.env(receivers, tmp_path) | {"QUALITY__BLOCK_PUSH": "true"}
    resumed = sync_in_process(env, monkeypatch, tmp_path).run("sync")

    assert resumed.code == 0, resumed.output
    assert "Gate " not in resumed.stdout and "Push held" not in resumed.stdout
    assert receivers.took() == sendable(ws)
    sent = ws.query(
        "select target, count(*) from outbound.deliveries where status = 'sent' group by 1"
    )
    assert dict(sent) == sendable(ws)
    assert last_run(tmp_path)["status"] == "ok"


def test_gates_breach_without_block_push_still_pushes_and_exits_4(
    tmp_path: Path,
    receivers: Receivers,
    sources: list[Sources],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stale = Scenario(runs=(datetime.now(UTC) - timedelta(days=3),), **WORLD)
    ws = sync_in_process(serve(sources, stale).env(receivers, tmp_path), monkeypatch, tmp_path)

    result = ws.run("sync")

    assert result.code == 4, result.output
    assert result.stdout.count("\nGate freshness_") == 2
    assert "Push held" not in result.stdout
    assert receivers.took() == sendable(ws)
    assert last_run(tmp_path)["status"] == "gate_failed"
