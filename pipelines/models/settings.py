"""The settings the SQL models read, and how they reach SQL without templating.

The model SQL never contains a setting. The runner validates the settings here and writes them
to two tables the models join:

- `staging.model_settings`, one row: the attribution window, the currency, the Gameball
  player id choice and event name, and the destination keys the outbound rows carry
  (Qubit vertical and `meta.source`, OWOX `tid`);
- `staging.model_converted_statuses`, one row per converted status.

The one setting that names a column, the Infinity custom field that carries each target's
visitor id, cannot be data. For it, one small model, `staging.stg_infinity__trigger_custom_fields`,
is built with sqlglot's expression builder from the validated column names (never by string
formatting), so the same expression is written for DuckDB or BigQuery like any other model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from sqlglot import exp

from pipelines.models.tables import RAW_TRIGGERS
from pipelines.runtime import settings
from pipelines.runtime.settings import SettingError
from pipelines.runtime.transpile import text_literal

SETTINGS_TABLE = "staging.model_settings"
STATUSES_TABLE = "staging.model_converted_statuses"
CUSTOM_FIELDS_TABLE = "staging.stg_infinity__trigger_custom_fields"
# The generated model's first two lines, as a file's would be (`pipelines.models.plan`)
CUSTOM_FIELDS_GRAIN = (
    "-- grain: trigger_id\n"
    "-- one row per Infinity trigger: the custom fields that carry visitor ids"
)

# Qubit's verticals, as in the reference's table; sql/outbound/qubit_events.sql maps each to
# its transaction event type.
QUBIT_VERTICALS = ("ecommerce", "egaming", "publisher", "logistics", "travel", "finance")
GAMEBALL_PLAYER_IDS = ("client_id", "user_external_id")
_CUSTOM_FIELD = re.compile(r"^(c|pt)_[a-z0-9_]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class ModelSettings:
    """Every setting the models read; `from_config` reads and checks them."""

    attribution_window_days: int = 30
    converted_statuses: tuple[str, ...] = ("customer",)
    currency: str | None = None
    qubit_visitor_id_field: str = "c_qubit_visitor_id"
    ga_client_id_field: str = "c_ga_client_id"
    gameball_player_id: str = "client_id"
    qubit_vertical: str = "ecommerce"
    qubit_source: str = "callsync"
    owox_tid: str | None = None
    gameball_event_name: str = "crm_conversion"

    @classmethod
    def from_config(cls) -> ModelSettings:
        """Read and check every setting; raises `SettingError` naming the key."""
        models = settings.ModelsConfig
        raw = settings.resolve(models)
        window = settings.bounded(
            models, "attribution_window_days", raw.attribution_window_days, minimum=1, maximum=3650
        )
        currency = _optional_text(raw.currency)
        if currency is not None:
            currency = currency.upper()
            if not _CURRENCY.match(currency):
                raise SettingError(
                    "models.currency", f"must be an ISO 4217 code such as RON, got {currency!r}"
                )
        player_id = raw.gameball_player_id
        if player_id not in GAMEBALL_PLAYER_IDS:
            raise SettingError(
                "models.gameball_player_id",
                f"must be one of {', '.join(GAMEBALL_PLAYER_IDS)}, got {player_id!r}",
            )
        qubit = settings.resolve(settings.QubitConfig)
        if qubit.vertical not in QUBIT_VERTICALS:
            raise SettingError(
                "destination.qubit.vertical",
                f"must be one of {', '.join(QUBIT_VERTICALS)}, got {qubit.vertical!r}",
            )
        tid = _optional_text(settings.resolve(settings.OwoxConfig).tid)
        if tid is not None and not settings.UA_PROPERTY.match(tid):
            raise SettingError(
                "destination.owox.tid", f"must be a property id like UA-12345-1, got {tid!r}"
            )
        default = cls()
        event_name = _optional_text(settings.resolve(settings.GameballConfig).event_name)
        return cls(
            attribution_window_days=window,
            converted_statuses=_statuses(
                settings.text_list(models, "converted_statuses", raw.converted_statuses)
            ),
            currency=currency,
            qubit_visitor_id_field=_custom_field(
                "models.qubit_visitor_id_field", raw.qubit_visitor_id_field
            ),
            ga_client_id_field=_custom_field("models.ga_client_id_field", raw.ga_client_id_field),
            gameball_player_id=player_id,
            qubit_vertical=qubit.vertical,
            qubit_source=_optional_text(qubit.source) or default.qubit_source,
            owox_tid=tid,
            gameball_event_name=event_name or default.gameball_event_name,
        )

    def check_custom_fields(self, columns: set[str]) -> None:
        """Fail, naming the key, when a configured custom field is not a column of the raw
        triggers table (`columns`: its column names)."""
        for key, column in (
            ("models.qubit_visitor_id_field", self.qubit_visitor_id_field),
            ("models.ga_client_id_field", self.ga_client_id_field),
        ):
            if column not in columns:
                known = sorted(c for c in columns if _CUSTOM_FIELD.match(c))
                raise SettingError(
                    key,
                    f"names {column}, which {RAW_TRIGGERS} does not have; its custom fields "
                    f"are: {', '.join(known) or 'none'}",
                )


def _optional_text(value: str | None) -> str | None:
    text = None if value is None else str(value).strip()
    return text or None


def _custom_field(key: str, value: str) -> str:
    column = value.strip()
    if not _CUSTOM_FIELD.match(column):
        raise SettingError(
            key,
            f"must name an Infinity custom field (c_... or pt_..., lowercase), got {column!r}",
        )
    return column


def _statuses(raw: list[str]) -> tuple[str, ...]:
    statuses = tuple(dict.fromkeys(str(s).strip() for s in raw if str(s).strip()))
    if not statuses:
        raise SettingError("models.converted_statuses", "must name at least one Footprints status")
    return statuses


def settings_select(config: ModelSettings) -> exp.Select:
    """The one row of `staging.model_settings`."""
    values: dict[str, exp.Expression] = {}
    for field in fields(config):
        value = getattr(config, field.name)
        if field.name in ("converted_statuses", "qubit_visitor_id_field", "ga_client_id_field"):
            continue  # a table of their own, and column names (the generated model)
        values[field.name] = (
            exp.Literal.number(value) if isinstance(value, int) else text_literal(value)
        )
    return exp.select(*(exp.alias_(v, name) for name, v in values.items()))


def statuses_select(config: ModelSettings) -> exp.Query:
    """`staging.model_converted_statuses`: one row per status."""
    rows = [exp.select(exp.alias_(text_literal(s), "status")) for s in config.converted_statuses]
    query: exp.Query = rows[0]
    for row in rows[1:]:
        query = exp.union(query, row, distinct=False)
    return query


def custom_fields_select(config: ModelSettings) -> exp.Select:
    """The generated model: trigger id and the configured custom fields, renamed.

    Built with sqlglot's expression builder from validated column names; the values are cast
    to text (dlt types a custom field by what it has seen) and '' becomes null, as in the
    other Infinity staging model.
    """

    def custom_field(column: str, alias: str) -> exp.Expression:
        text = exp.cast(exp.column(column), "text")
        return exp.alias_(exp.Nullif(this=text, expression=exp.Literal.string("")), alias)

    schema, table = RAW_TRIGGERS.split(".")
    return exp.select(
        exp.alias_(exp.column("row_id"), "trigger_id"),
        custom_field(config.qubit_visitor_id_field, "qubit_visitor_id"),
        custom_field(config.ga_client_id_field, "ga_client_id"),
    ).from_(exp.table_(table, db=schema))
