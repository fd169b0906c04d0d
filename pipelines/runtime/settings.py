"""Every setting, as dlt config specs, with errors that name the key and its variable.

Every setting has a dotted key (`sources.infinity.igrp`) that lives in `.dlt/config.toml`,
`.dlt/secrets.toml` or the environment (`SOURCES__INFINITY__IGRP`). An operator reading a
failed run needs both spellings, so every error raised here carries them.

Secrets are `TSecretStrValue` fields: dlt then reads them only from secret providers
(environment, secrets.toml) and never writes their values into its trace or state. A value
read any other way (`dlt.config.get`) is recorded in plain text in `trace.pickle`.

Each spec is resolved under its section, so `sources.infinity.password` is looked up as
`SOURCES__INFINITY__PASSWORD`, then dlt's shorter `INFINITY__PASSWORD`; never as a bare
`PASSWORD` or `USERNAME` from the shell's environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.exceptions import (
    ConfigValueCannotBeCoercedException,
    ValueNotSecretException,
)
from dlt.common.configuration.inject import inject_section
from dlt.common.configuration.specs import BaseConfiguration, ConfigSectionContext
from dlt.common.typing import TSecretStrValue

Spec = TypeVar("Spec", bound="SettingsSection")
Number = TypeVar("Number", int, float)


class SettingError(Exception):
    """A setting is missing or invalid; raised before any request is made."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        super().__init__(f"Setting {key} [{env_name(key)}] {problem}")


class SyncError(Exception):
    """A run failed for a reason the operator can act on; the message says what to do."""


class Busy(SyncError):
    """Another process holds what this run needs (the sync lock, the warehouse file)."""


def env_name(key: str) -> str:
    """The environment variable dlt reads for a dotted config key."""
    return key.upper().replace(".", "__")


@configspec
class SettingsSection(BaseConfiguration):
    """A config section; `SECTION` is its dotted path (`sources.infinity`)."""

    SECTION: ClassVar[str] = ""

    @classmethod
    def key(cls, name: str) -> str:
        return f"{cls.SECTION}.{name}"


@configspec
class InfinityConfig(SettingsSection):
    SECTION: ClassVar[str] = "sources.infinity"

    base_url: str = "https://api.infinitycloud.com/reports/v2"
    igrp: str | None = None
    routes: str = '["callsGoalsTransactions"]'  # a list: see text_list
    page_size: int = 10_000
    pages_per_load: int = 20
    default_region: str = "GB"
    username: str | None = None
    password: TSecretStrValue | None = None
    api_key: TSecretStrValue | None = None


@configspec
class FootprintsConfig(SettingsSection):
    SECTION: ClassVar[str] = "sources.footprints"

    base_url: str | None = None
    client_key: TSecretStrValue | None = None
    client_secret: TSecretStrValue | None = None
    grant_type: str = "client_credentials"
    pin: TSecretStrValue | None = None
    username: str | None = None
    password: TSecretStrValue | None = None
    start_date: str | None = None
    lookback_days: int = 30
    page_size: int = 100
    max_workers: int = 8
    default_region: str = "RO"
    days_per_load: int = 30


@configspec
class ModelsConfig(SettingsSection):
    SECTION: ClassVar[str] = "models"

    attribution_window_days: int = 30
    converted_statuses: str = '["customer"]'  # a list: see text_list
    currency: str | None = None
    qubit_visitor_id_field: str = "c_qubit_visitor_id"
    ga_client_id_field: str = "c_ga_client_id"
    gameball_player_id: str = "client_id"


@configspec
class QubitConfig(SettingsSection):
    SECTION: ClassVar[str] = "destination.qubit"

    base_url: str = "https://offline-conversions.qubit.com"
    tracking_id: str | None = None
    vertical: str = "ecommerce"
    source: str | None = None
    batch_size: int = 100


# A Universal Analytics property id, the only kind OWOX BI's Measurement Protocol accepts.
UA_PROPERTY = re.compile(r"^UA-\d+-\d+$")


@configspec
class OwoxConfig(SettingsSection):
    SECTION: ClassVar[str] = "destination.owox"

    endpoint: str | None = None
    tid: str | None = None


@configspec
class GameballConfig(SettingsSection):
    SECTION: ClassVar[str] = "destination.gameball"

    base_url: str = "https://api.gameball.co/api/v3.0"
    api_key: TSecretStrValue | None = None
    event_name: str | None = None
    channel_merging: bool = False
    max_requests_per_second: float = 40.0


@configspec
class PushConfig(SettingsSection):
    SECTION: ClassVar[str] = "push"

    max_attempts: int = 5
    max_workers: int = 8
    dry_run_dir: str = "data/dry-run"


@configspec
class HttpConfig(SettingsSection):
    SECTION: ClassVar[str] = "http"

    timeout_seconds: float = 60.0
    max_attempts: int = 6
    min_retry_delay_seconds: float = 1.0
    max_retry_delay_seconds: float = 60.0
    max_retry_total_seconds: float = 300.0


@configspec
class SyncConfig(SettingsSection):
    SECTION: ClassVar[str] = "sync"

    warehouse: str = "duckdb"
    pipelines_dir: str = "data/pipelines"
    warehouse_wait_seconds: float = 120.0


@configspec
class QualityConfig(SettingsSection):
    """The data-quality gates (`pipelines.quality`). A threshold is text so that `none` can be
    written in TOML and the environment alike; 0 or none turns its gate off."""

    SECTION: ClassVar[str] = "quality"

    block_push: bool = False
    max_hours_without_triggers: str | None = "24"
    max_hours_without_leads: str | None = "48"
    min_volume_ratio: str | None = "0.25"
    min_baseline_calls: int = 30
    min_match_rate: str | None = "none"  # a floor only the business knows: off by default
    max_match_rate_drop: str | None = "0.3"
    min_leads_for_match_rate: int = 30
    max_rejected_share: str | None = "0.05"
    min_rows_for_rejected_share: int = 20
    max_skipped_share: str | None = "0.98"
    # unset: max_skipped_share applies to the target
    max_skipped_share_qubit: str | None = None
    max_skipped_share_owox: str | None = None
    max_skipped_share_gameball: str | None = None
    min_rows_for_skipped_share: int = 50


@configspec
class AlertsConfig(SettingsSection):
    SECTION: ClassVar[str] = "alerts"

    webhook_url: TSecretStrValue | None = None
    timeout_seconds: float = 10.0


@configspec
class DuckDBConfig(SettingsSection):
    SECTION: ClassVar[str] = "destination.duckdb"

    credentials: str = "data/warehouse.duckdb"


@configspec
class BigQueryConfig(SettingsSection):
    """Only what the emulator path reads; real BigQuery takes dlt's own settings."""

    SECTION: ClassVar[str] = "destination.bigquery"

    project_id: str | None = None
    location: str = "US"


SECTIONS: dict[str, type[SettingsSection]] = {
    spec.SECTION: spec
    for spec in (
        InfinityConfig,
        FootprintsConfig,
        ModelsConfig,
        QubitConfig,
        OwoxConfig,
        GameballConfig,
        PushConfig,
        HttpConfig,
        SyncConfig,
        QualityConfig,
        AlertsConfig,
        DuckDBConfig,
        BigQueryConfig,
    )
}
_KINDS = {
    int: "must be a whole number",
    float: "must be a number",
    bool: "must be true or false",
}


def resolve(spec: type[Spec]) -> Spec:
    """The section's values from every provider dlt knows, typed; `SettingError` if one
    cannot be read as its type."""
    *parents, section = spec.SECTION.split(".")
    blank = spec()
    # dlt declares `__section__` a ClassVar but reads it off the instance: set per instance,
    # the spec class is left as it is.
    blank.__section__ = section  # type: ignore[misc]
    try:
        # A clean section context: inside a dlt pipeline or source, dlt would otherwise look
        # under that one first (`SOURCES__INFINITY__HTTP__TIMEOUT_SECONDS`).
        with inject_section(ConfigSectionContext(), merge_existing=False):
            return resolve_configuration(blank, sections=tuple(parents))
    except ConfigValueCannotBeCoercedException as error:
        kind = getattr(error.hint, "__origin__", error.hint)
        problem = _KINDS.get(kind, f"cannot be read as {kind}")
        key = spec.key(error.field_name)
        raise SettingError(key, f"{problem}, got {error.field_value!r}") from None
    except ValueNotSecretException as error:
        raise SettingError(
            spec.key(error.key.rsplit(".", 1)[-1]),
            "is a secret: set it in .dlt/secrets.toml or the environment, not config.toml",
        ) from None


def text_list(spec: type[SettingsSection], name: str, value: str) -> list[str]:
    """A list setting. dlt hands a TOML list over as JSON text, and environment variables
    have always taken JSON (`["calls", "goals"]`) or plain `calls, goals`: both are read."""
    text = value.strip()
    if not text.startswith("["):
        return [item.strip() for item in text.split(",") if item.strip()]
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        if not text.endswith("]"):
            raise SettingError(
                spec.key(name), f'must be a list such as ["a", "b"], got {text!r}'
            ) from None
        items = text[1:-1].replace('"', "").split(",")
    if not isinstance(items, list):
        raise SettingError(spec.key(name), f'must be a list such as ["a", "b"], got {text!r}')
    return [str(item).strip() for item in items if str(item).strip()]


def any_set(keys: Iterable[str]) -> bool:
    """Whether any dotted key (`destination.gameball.api_key`) has a non-empty value; each
    section is resolved once."""
    sections: dict[str, SettingsSection] = {}
    for key in keys:
        section, name = key.rsplit(".", 1)
        if section not in sections:
            sections[section] = resolve(SECTIONS[section])
        value = getattr(sections[section], name)
        if value is not None and str(value).strip() != "":
            return True
    return False


def required(spec: type[SettingsSection], name: str, value: Any, why: str = "") -> str:
    """`value` as stripped text, or `SettingError` naming the key when it is empty."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise SettingError(spec.key(name), f"is required{': ' + why if why else ''}")
    return text


def bounded(
    spec: type[SettingsSection],
    name: str,
    value: Number,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Number:
    """`value` when within its bounds, else `SettingError` naming the key."""
    if minimum is not None and value < minimum:
        raise SettingError(spec.key(name), f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingError(spec.key(name), f"must be at most {maximum}, got {value}")
    return value
