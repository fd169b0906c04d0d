"""Builds the SQL models in sql/ on the configured warehouse, in the order their SQL implies.

- Which models there are, and their order: `pipelines.models.plan`. One more model, whose
  columns are named by settings, is generated (`pipelines.models.settings`).
- Settings reach the SQL as data: the runner writes them to one-row tables first
  (`pipelines.models.settings`).
- Staging models (rename and cast only) and reports are views, and so are the settings
  tables: nothing is copied. Every other model is a table keyed by lead (`lead_id`).
- Reports read the delivery ledger (`outbound.deliveries`), which the push writes: a build
  before the first push creates it empty (`pipelines.push.ledger`), so reports work from the
  first build.
- The first build runs every select in full (`create or replace table ... as`). Later builds
  redo only the leads that changed since the last one, with results identical to a full
  build, or build in full when that cannot be told: `pipelines.models.incremental` says how.
- A build that changed any row ends by checking each table's grain
  (`pipelines.models.contracts`): a breach fails it like a SQL error, before its state is
  written.
- On DuckDB a build is one transaction: a build that fails or is killed leaves every table as
  the last build left it. BigQuery has no DDL in transactions: there each statement commits
  on its own, and the state the next build compares with is removed first, so a build that
  stopped half-way is followed by a full one.

Why dlt's `sql_client` and not dlt's transformations (dlt 1.31, measured):
- `@dlt.hub.transformation` belongs to dltHub's licensed `dlthub` package.
- In OSS dlt, a resource that yields `dataset.query(sql)` loads a table through the pipeline,
  but the table came out with one column, `_dlt_load_id`, and the rows' values were gone.
  Before that, the relation resolves its columns against dlt schemas, so a model reading
  another model's table (never in a dlt schema) fails: "SELECT statement includes a `*`
  selection that can't be resolved".
So the runner asks dlt for the warehouse (`dlt.dataset(destination, ...)`): its `sql_client`
runs the statements and its sqlglot dialect says how to write them, for DuckDB now and
BigQuery later through the same calls. On DuckDB the file's own text runs, so DuckDB's error
positions are the file's lines; elsewhere the sqlglot translation runs
(`pipelines.runtime.transpile`), after a check that BigQuery has every function it uses. An error
names the model's file and line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from pipelines.models import contracts, incremental
from pipelines.models.plan import (
    SQL_DIR,
    Model,
    ModelError,
    plan,
    returned_columns,
    warehouse_message,
)
from pipelines.models.settings import (
    SETTINGS_TABLE,
    STATUSES_TABLE,
    ModelSettings,
    settings_select,
    statuses_select,
)
from pipelines.models.tables import RAW_LEADS, RAW_TRIGGERS
from pipelines.push.ledger import LEDGER_TABLE, Ledger
from pipelines.runtime import warehouse
from pipelines.runtime.transpile import SOURCE_DIALECT, bigquery_problems, to_dialect
from pipelines.runtime.warehouse import Warehouse

_DUCKDB_LINE = re.compile(r"\bLINE (\d+):")
_BIGQUERY_POSITION = re.compile(r"\[(\d+):(\d+)\]")
_OUTBOUND = ("qubit_events", "owox_hits", "gameball_events")
DIAGNOSTICS = "analytics.lead_match_diagnostics"


class InputsMissing(ModelError):
    """A raw table the models read has not been loaded yet (a source with no rows so far)."""


@dataclass(frozen=True)
class ModelRun:
    table: str
    origin: str
    # None for a report: counting its rows would compute it, over every raw row
    rows: int | None
    seconds: float
    # "view" or "table" (created), or "updated" (the changed leads' rows redone)
    action: str = "table"


@dataclass
class ModelsReport:
    """What a build did: rows and time per model, and the figures a summary shows."""

    dialect: str = SOURCE_DIALECT
    runs: list[ModelRun] = field(default_factory=list)
    seconds: float = 0.0
    mode: str = "full"  # or "incremental"
    reason: str = ""  # why full, or what changed
    changed_leads: int | None = None  # incremental: the leads whose rows were redone
    leads: int = 0
    matched_leads: int = 0
    conversions: int = 0
    attributed_conversions: int = 0
    # target -> skip reason (None: ready to send) -> rows
    outbound: dict[str, dict[str | None, int]] = field(default_factory=dict)
    # match_outcome of analytics.lead_match_diagnostics -> leads
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> dict[str, int]:
        """Rows per model table and view, reports left out (not counted)."""
        return {run.table: run.rows for run in self.runs if run.rows is not None}

    @property
    def match_rate(self) -> float:
        return self.matched_leads / self.leads if self.leads else 0.0

    def summary(self) -> str:
        """One paragraph: tables and rows, match rate, what each target would be sent."""
        tables = ", ".join(_run_text(run) for run in self.runs)
        if self.mode == "incremental":
            built = f"{len(self.runs)} tables updated for {self.changed_leads or 0:,} leads"
        else:
            views = sum(run.action == "view" for run in self.runs)
            built = f"{len(self.runs) - views} tables and {views} views built"
        parts = [
            f"Models ({self.mode}: {self.reason}): {built} in {self.seconds:.1f} s"
            + (f" ({tables})." if tables else ".")
        ]
        parts.append(
            f"Leads matched to a call: {self.matched_leads:,} of {self.leads:,} "
            f"({self.match_rate:.1%}). Conversions: {self.conversions:,}, "
            f"{self.attributed_conversions:,} with an attributed call."
        )
        unmatched = {o: n for o, n in self.outcomes.items() if o != "matched"}
        if unmatched:
            why = ", ".join(f"{o} {n:,}" for o, n in sorted(unmatched.items(), key=_by_count))
            parts.append(f"Unmatched leads: {why}.")
        targets = []
        for target, reasons in self.outbound.items():
            skipped = {r: n for r, n in reasons.items() if r is not None}
            why = ", ".join(f"{r} {n:,}" for r, n in sorted(skipped.items()))
            targets.append(
                f"{target} {reasons.get(None, 0):,} to send, {sum(skipped.values()):,} skipped"
                + (f" ({why})" if why else "")
            )
        if targets:
            parts.append("Outbound: " + "; ".join(targets) + ".")
        return " ".join(parts)


def _run_text(run: ModelRun) -> str:
    if run.rows is None:
        return f"{run.table} (report, {run.seconds:.2f} s)"
    return f"{run.table} {run.rows:,} ({run.seconds:.2f} s)"


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def create_sql(table: str, query: exp.Query, dialect: str, kind: str = "table") -> str:
    """`create or replace <kind> <table> as <query>` for `dialect`; kind "table" or "view".

    On BigQuery a table with a `lead_id` is clustered by it: an incremental build reads and
    rewrites the changed leads' rows only, and clustering lets BigQuery scan (and bill) only
    the blocks that hold them.
    """
    create = exp.Create(this=exp.to_table(table), kind=kind.upper(), replace=True, expression=query)
    if dialect == "bigquery" and kind == "table" and _has_lead_id(query):
        cluster = exp.Cluster(expressions=[exp.column(incremental.LEAD_ID)])
        create.set("properties", exp.Properties(expressions=[cluster]))
    return to_dialect(create, dialect)


def _has_lead_id(query: exp.Query) -> bool:
    return incremental.LEAD_ID in (returned_columns(query) or ())


def create_table_sql(table: str, query: exp.Query, dialect: str) -> str:
    """`create or replace table <table> as <query>` for `dialect`."""
    return create_sql(table, query, dialect, "table")


def error_location(model: Model, message: str, executed: str, header_lines: int | None) -> str:
    """`origin:line` of the error in the warehouse's `message`, as well as it can be told.

    `executed` is the statement that ran; `header_lines` is the number of lines put before
    the model's own text, or None when the warehouse ran sqlglot's translation instead.
    """
    if header_lines is not None and (match := _DUCKDB_LINE.search(message)):
        line = int(match.group(1)) - header_lines
        if line >= 1:
            return f"{model.origin}:{line}"
    if match := _BIGQUERY_POSITION.search(message):
        # The warehouse ran the translation: find the name at the position it gives in the
        # model's own text, dotted name first (calls.source), then its last part.
        executed_lines = executed.splitlines()
        row, col = int(match.group(1)) - 1, int(match.group(2)) - 1
        text = executed_lines[row][col:] if 0 <= row < len(executed_lines) else ""
        name = re.match(r"[A-Za-z_][A-Za-z0-9_.]*", text)
        candidates = [name.group(0), name.group(0).split(".")[-1]] if name else []
        for candidate in candidates:
            pattern = re.compile(rf"(?<![\w.]){re.escape(candidate)}(?![\w])", re.IGNORECASE)
            for number, line_text in enumerate(model.sql.splitlines(), start=1):
                if pattern.search(line_text.split("--")[0]):
                    return f"{model.origin}:{number}"
    return model.origin


class _ModelWarehouse(Warehouse):
    """The warehouse as a build sees it: what the model schemas hold, and model statements."""

    def __init__(self, db: Warehouse) -> None:
        super().__init__(db.client, db.dialect, db.job_client)
        # "schema.name" -> "table" or "view": what the model schemas hold, kept up to date
        self.catalog: dict[str, str] = {}

    def read_catalog(self, schemas: Iterable[str]) -> set[str]:
        """Fill `catalog`; returns the tables and views with a lead_id."""
        self.catalog = self.relations(schemas)
        return self.with_column(schemas, incremental.LEAD_ID)

    def _make_room(self, table: str, kind: str) -> None:
        """Drop `table` if it is of the other kind: neither replaces the other."""
        existing = self.catalog.get(table)
        if existing is not None and existing != kind:
            self.execute(f"drop {existing} {self.table_name(table)}")

    def drop(self, table: str) -> None:
        if table in self.catalog:
            kind = self.catalog.pop(table)
            self.execute(f"drop {kind} {self.table_name(table)}")

    def write(self, table: str, query: exp.Query, kind: str = "table") -> None:
        self._make_room(table, kind)
        self.execute(create_sql(table, query, self.dialect, kind))
        self.catalog[table] = kind

    def build(self, model: Model) -> None:
        """Create the model's table or view from its select, in full."""
        self._make_room(model.table, model.kind)
        if self.dialect == SOURCE_DIALECT:
            name = self.table_name(model.table)
            header = f"create or replace {model.kind} {name} as"
            self._run_model(model, f"{header}\n{model.sql}", header_lines=1)
        else:
            executed = create_sql(model.table, model.query, self.dialect, model.kind)
            self._run_model(model, executed, header_lines=None)
        self.catalog[model.table] = model.kind

    def update(self, model: Model, lead_keyed: set[str], leads: str) -> None:
        """Redo the rows of the leads in `leads` (a changed leads table) in the model's table."""
        for statement in (
            incremental.delete_changed(model.table, leads),
            incremental.insert_changed(model, lead_keyed, leads),
        ):
            self._run_model(model, to_dialect(statement, self.dialect), header_lines=None)

    def _run_model(self, model: Model, executed: str, header_lines: int | None) -> None:
        if self.dialect == "bigquery" and (problems := bigquery_problems(executed)):
            raise ModelError(f"{model.origin}: uses what BigQuery lacks: {'; '.join(problems)}")
        try:
            self.execute(executed)
        except Exception as error:
            where = error_location(model, str(error), executed, header_lines)
            raise ModelError(
                f"{where}: {model.table} failed: {warehouse_message(error)}"
            ) from error


def _raw_inputs(models: list[Model]) -> tuple[list[str], list[str]]:
    """The tables the models read that no model builds (the raw tables): those the model
    tables and staging read, followed from build to build (`pipelines.models.incremental`),
    and those only reports read (the ledger), which are not: a report is a view, current
    whenever it is read, and following the ledger would make the build after a push full."""
    built = {model.table for model in models} | {SETTINGS_TABLE, STATUSES_TABLE}
    followed = {table for model in models if not model.is_report for table in model.reads}
    by_reports = {table for model in models if model.is_report for table in model.reads}
    return sorted(followed - built), sorted(by_reports - followed - built)


def _check_inputs(columns: dict[str, dict[str, Any]]) -> None:
    """Every raw table the models read exists; else `InputsMissing` naming them."""
    missing = [table for table, found in columns.items() if not found]
    if missing:
        raise InputsMissing(
            f"{', '.join(missing)} not in the warehouse yet: the models need a first load "
            "of every source (python -m pipelines sync)"
        )


def _read_state(db: _ModelWarehouse) -> tuple[incremental.State | None, str | None]:
    """What the last build recorded (None when there is nothing usable), and why it could not
    be read when it is there but unreadable (the build is then full, and says why)."""
    if db.catalog.get(incremental.STATE_TABLE) != "table":
        return None, None
    try:
        state = incremental.parse_state(db.query(incremental.STATE_READ))
    except Exception as error:  # another layout, or the warehouse refused the read
        return None, f"the last build's state could not be read ({warehouse_message(error)})"
    return state, None if state else "the last build's state is empty or inconsistent"


def _current_state(
    db: _ModelWarehouse,
    models: list[Model],
    settings: dict[str, exp.Query],
    columns: dict[str, dict[str, Any]],
    loads_tables: dict[str, bool],
) -> incremental.State:
    # sqlglot writes every incremental statement (and, off DuckDB, every statement): a new
    # version may write them otherwise, so rows built before and after it could differ.
    parts = [sqlglot.__version__, db.dialect]
    for model in models:
        parts += [model.table, model.kind, model.sql]
        if db.dialect != SOURCE_DIALECT:
            parts.append(to_dialect(model.query, db.dialect))  # as `transpile` writes it
    for table, query in settings.items():
        parts += [table, to_dialect(query, SOURCE_DIALECT)]
    inputs = {}
    for table, found in columns.items():
        parts += [table, incremental.columns_text(found)]
        has_load_ids = incremental.LOAD_ID in found
        schema = table.split(".")[0]
        followed = table in incremental.FOLLOWED
        loads = f"{schema}._dlt_loads" if followed and loads_tables[schema] else None
        sql = incremental.input_sql(table, has_load_ids, loads)
        ((rows, last_load_id),) = db.query(sql)
        inputs[table] = incremental.InputState(
            table, int(rows), has_load_ids, None if last_load_id is None else str(last_load_id)
        )
    return incremental.State(incremental.fingerprint(parts), inputs)


def _add_figures(report: ModelsReport, db: _ModelWarehouse, built: set[str]) -> None:
    """The match rate and what each target would be sent, for the summary."""
    if {"staging.stg_footprints__leads", "intermediate.int_calls_matched_to_leads"} <= built:
        ((report.leads, report.matched_leads),) = db.query(
            "select (select count(*) from staging.stg_footprints__leads), "
            # a matched lead has exactly one call ranked 1: no distinct count needed
            "(select count(*) from intermediate.int_calls_matched_to_leads where call_rank = 1)"
        )
    if "analytics.conversions" in built:
        ((report.conversions, report.attributed_conversions),) = db.query(
            "select count(*), count(attributed_call_id) from analytics.conversions"
        )
    if DIAGNOSTICS in built:
        rows = db.query(f"select match_outcome, count(*) from {DIAGNOSTICS} group by 1")
        report.outcomes = {str(outcome): int(n) for outcome, n in rows}
    for name in _OUTBOUND:
        if f"outbound.{name}" in built:
            rows = db.query(
                f"select skip_reason, count(*) from outbound.{name} group by skip_reason"
            )
            report.outbound[name.split("_")[0]] = {reason: int(n) for reason, n in rows}


def build_models(
    destination: Any = None,
    *,
    config: ModelSettings | None = None,
    sql_dir: Path = SQL_DIR,
    on_model: Callable[[ModelRun], None] | None = None,
    full: bool = False,
) -> ModelsReport:
    """Build every model, in dependency order, on the warehouse: in full, or only the leads
    that changed since the last build when that gives the same rows
    (`pipelines.models.incremental`).

    Args:
        destination: A dlt destination; default: the configured warehouse
            (`pipelines.runtime.warehouse.destination()`).
        config: The model settings; default: read from config (`ModelSettings.from_config`).
        on_model: Called after each model is built or updated, e.g. to print progress.
        full: Build every model in full even if an incremental build would do.

    Returns:
        Full or incremental and why, rows and seconds per model, the match rate and the
        outbound rows per target.

    Raises:
        SettingError: A setting is invalid, or names a custom field the triggers lack.
        ModelError: A model could not be read, ordered or built; names its file and line.
            On DuckDB nothing was changed (one transaction); `error.report` lists the models
            that ran before it. `ContractBreached` (a subclass): a table broke its grain.
    """
    started = time.monotonic()
    config = config or ModelSettings.from_config()
    models = plan(config, sql_dir)
    # A schema of its own: the runner reads the warehouse's catalog, not dlt's stored schema,
    # and looking that up cost a fifth of a second per build.
    with warehouse.connect(destination, RAW_TRIGGERS.split(".")[0]) as connection:
        db = _ModelWarehouse(connection)
        report = ModelsReport(dialect=db.dialect)
        followed, by_reports = _raw_inputs(models)
        columns = {table: db.storage_columns(table) for table in followed}
        _check_inputs(columns)
        config.check_custom_fields(set(columns[RAW_TRIGGERS]))
        loads_tables = {
            schema: bool(db.storage_columns(f"{schema}._dlt_loads"))
            for schema in {table.split(".")[0] for table in columns}
        }
        schemas = {
            table.split(".")[0]
            for table in (SETTINGS_TABLE, STATUSES_TABLE, incremental.STATE_TABLE)
        } | {model.table.split(".")[0] for model in models}
        db.ensure_schemas(schemas)
        lead_keyed = db.read_catalog(schemas)
        previous, unreadable = _read_state(db)
        settings = {
            SETTINGS_TABLE: settings_select(config),
            STATUSES_TABLE: statuses_select(config),
        }
        try:
            with db.transaction():
                if not db.transactional:
                    # Removed first, so a build that stops half-way is followed by a full one.
                    db.drop(incremental.STATE_TABLE)
                if LEDGER_TABLE in by_reports and LEDGER_TABLE not in db.catalog:
                    # as the push does: empty before the first push; a failed build undoes it
                    Ledger(db).ensure()
                others = [table for table in by_reports if table != LEDGER_TABLE]
                _check_inputs({table: db.storage_columns(table) for table in others})
                for table, query in settings.items():
                    db.write(table, query, "view")
                state = _current_state(db, models, settings, columns, loads_tables)
                reason = incremental.full_build_reason(
                    full, models, previous, state, db.catalog, lead_keyed
                )
                if unreadable and not full:
                    reason = unreadable
                if reason is None and previous is not None:
                    reason = _unseen_rows(db, models, previous, state) or _update_changed_leads(
                        db, models, previous, state, lead_keyed, report, on_model
                    )
                if reason is not None:
                    report.mode, report.reason = "full", reason
                    _build_in_full(db, models, report, on_model)
                # Before the state is written: a build that breaks a grain is never the
                # base of an incremental one (`pipelines.models.contracts`).
                if report.mode == "full" or report.changed_leads:
                    contracts.check_grains(
                        models,
                        lambda query: db.execute(to_dialect(query, db.dialect)),
                        changed_only=report.mode == "incremental",
                    )
                db.drop(incremental.CHANGED_LEADS_TABLE)
                db.drop(incremental.NUMBER_CHANGED_LEADS_TABLE)
                db.write(incremental.STATE_TABLE, incremental.state_select(state, report.mode))
        except ModelError as error:
            report.seconds = time.monotonic() - started
            error.report = report
            raise
        _add_figures(report, db, {model.table for model in models})
    report.seconds = time.monotonic() - started
    return report


def _build_in_full(
    db: _ModelWarehouse,
    models: list[Model],
    report: ModelsReport,
    on_model: Callable[[ModelRun], None] | None,
) -> None:
    for model in models:
        model_started = time.monotonic()
        db.build(model)
        run = ModelRun(
            model.table,
            model.origin,
            None if model.is_report else db.count(model.table),
            time.monotonic() - model_started,
            model.kind,
        )
        report.runs.append(run)
        if on_model:
            on_model(run)


def _unseen_rows(
    db: _ModelWarehouse,
    models: list[Model],
    previous: incremental.State,
    state: incremental.State,
) -> str | None:
    """Why to build in full when a followed raw table grew by rows the rules cannot see, or
    had rows re-loaded that a model needs the earlier version of."""
    tables = [model.table for model in models]
    for table in sorted(incremental.FOLLOWED):
        grown = state.inputs[table].rows - previous.inputs[table].rows
        if grown > 0 or incremental.counts_reloads(table, tables):
            count = incremental.written_since_count(table, previous.inputs[table].last_load_id)
            ((written,),) = db.execute(to_dialect(count, db.dialect))
            if why := incremental.unseen_rows_reason(
                table, grown, int(written)
            ) or incremental.reloaded_rows_reason(table, grown, int(written), tables):
                return why
    return None


def _update_changed_leads(
    db: _ModelWarehouse,
    models: list[Model],
    previous: incremental.State,
    state: incremental.State,
    lead_keyed: set[str],
    report: ModelsReport,
    on_model: Callable[[ModelRun], None] | None,
) -> str | None:
    """Redo the rows of the leads that changed since `previous`, leaving their ids in
    `CHANGED_LEADS_TABLE` (and `NUMBER_CHANGED_LEADS_TABLE`) for the grain checks; or, when
    so many changed that a full build is as fast, change nothing and return why to build in
    full."""
    by_table = {model.table: model for model in models}
    db.write(incremental.CHANGED_LEADS_TABLE, incremental.changed_leads_select(by_table, previous))
    changed = by_lead = db.count(incremental.CHANGED_LEADS_TABLE)
    number_redone = incremental.redone_by_number(models)
    if number_redone:
        db.write(
            incremental.NUMBER_CHANGED_LEADS_TABLE,
            incremental.number_changed_leads_select(by_table, previous),
        )
        changed = db.count(incremental.NUMBER_CHANGED_LEADS_TABLE)
    leads = state.inputs[RAW_LEADS].rows
    if changed > incremental.FULL_ABOVE * leads:
        db.drop(incremental.CHANGED_LEADS_TABLE)
        db.drop(incremental.NUMBER_CHANGED_LEADS_TABLE)
        return f"{changed:,} of {leads:,} leads changed since the last build"
    report.mode, report.changed_leads = "incremental", changed
    report.reason = f"{changed:,} leads new or changed since the last build"
    if changed > by_lead:
        report.reason += (
            f" ({changed - by_lead:,} of them for a call from their number, in "
            f"{', '.join(sorted(number_redone))} only)"
        )
    for model in models:
        if model.kind != "table":
            continue
        model_started = time.monotonic()
        if changed if model.table in number_redone else by_lead:
            leads_table = incremental.leads_table(model, number_redone)
            db.update(model, lead_keyed & by_table.keys(), leads_table)
        run = ModelRun(
            model.table,
            model.origin,
            db.count(model.table),
            time.monotonic() - model_started,
            "updated",
        )
        report.runs.append(run)
        if on_model:
            on_model(run)
    return None
