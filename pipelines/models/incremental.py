"""Incremental model builds: which leads changed since the last build, and their rows redone.

A full build runs every model's select over all the data. Most of the data does not change
between two syncs, and every model table past staging is keyed by lead (`lead_id`): its rows
for a lead depend only on that lead's row in Footprints and on the Infinity calls matched to
it, or, for the models named in `BY_NUMBER`, on every call from the lead's number. So a later
build can redo only the leads that changed, and come out identical to a full build:

1. After every build, `staging.model_state` records one row per raw table the model tables
   read: its row count, the load id up to which its rows were seen, and a fingerprint of
   everything else the results depend on: every model's SQL (and, off DuckDB, its
   translation), the settings, the raw tables' columns, and the sqlglot version that writes
   the statements. dlt gives every row the `_dlt_load_id` of the load that last wrote it, and
   load ids increase. For the leads and the triggers, "seen" is the newest load complete in
   their dataset (`_dlt_loads`, status 0), so the rows of a load still in progress when a
   build runs count as changed at the next one; for any other raw table (or without
   `_dlt_loads`), its highest load id. A table only reports read (the ledger,
   `outbound.deliveries`) is not recorded: reports are views, always current, and every push
   changes the ledger.
2. The next build compares. It is full when: asked for (`full=True`); there is no state (the
   first build); the fingerprint differs (a model, a setting, a raw column or sqlglot changed); a
   model's table or view is missing or of the other kind; a raw table has fewer rows than
   recorded (rows were removed: the incremental rules only see rows that were written); a raw
   table has no `_dlt_load_id` column, or had none last time; a raw table other than the
   leads and the triggers changed; a model past staging has no `lead_id` column, reads the
   clock or randomness, or reads the triggers other than through the matches (directly or
   through any staging view, whose select is checked with the model that reads it) unless
   it is named in `BY_NUMBER`; or the state of the last build cannot be read; or the leads
   or triggers gained more rows than carry a load id newer than the last build's (rule 1
   assumes load ids increase; a clock that stepped back breaks it); or, when a `BY_NUMBER`
   model is built, more triggers carry a newer load id than the table gained (triggers were
   re-loaded, by a backfill or overlapping routes: rule d below needs the number a trigger
   was called from, and a re-loaded trigger's earlier number is not kept anywhere); or more
   than a tenth of the leads changed (a full build is then no slower).
   Reports (views) are never updated, so none of this looks at them.
3. Otherwise the changed leads are (the rows written since the recorded load ids):
   a. leads written since (new leads, and leads re-loaded because their status or any other
      field changed: Footprints is merged on the lead id);
   b. leads that the match model (`intermediate.int_calls_matched_to_leads`, run over the
      changed triggers only) pairs with a trigger written since: a new call can become a
      lead's attributed call, or a re-loaded trigger can now match;
   c. leads whose matches, as last built, include a trigger written since: its old version
      matched them, and its new one may not, or carries other fields;
   d. when a `BY_NUMBER` model is built: leads whose number is the caller's number of a
      trigger written since (any trigger with a number, so that the rule need not know
      which actions each model counts as calls), as a new call from a lead's number, even
      long before or after the lead, changes what those models say about it, and only that:
      a new call that a lead's matches gain is rule b's. So these leads are redone only in
      the `BY_NUMBER` models and the tables built from them (`redone_by_number`): the
      changed leads of rules a to c are kept in `CHANGED_LEADS_TABLE`, those of a to d in
      `NUMBER_CHANGED_LEADS_TABLE`.
   Their rows are deleted from every table past staging, in build order, and inserted again
   from the model's own select, restricted to those leads: sqlglot replaces each lead-keyed
   table the select reads by the same table filtered to the changed leads, so the SQL files
   stay plain and DuckDB reads only those leads' rows instead of filtering at the end. (The
   triggers are not keyed by lead: a `BY_NUMBER` model joins every call to the changed
   leads' numbers, as in a full build, and DuckDB keeps only theirs as it reads.)

What incremental cannot see, and so never relies on:
- Rows deleted from a raw table are seen only as a lower row count (then: full build). A
  deletion that the same build's new rows exactly make up for is not seen; dlt's merge and
  upsert never delete rows, so only a hand edit could do that: run a full build after one.
- A model whose rows for a lead depend on other leads (e.g. a first lead per phone number)
  breaks the rule above; a new model of that kind must come with a change to these rules,
  as one that depends on every call from the lead's number must be named in `BY_NUMBER`.

Staging models and reports are views, so they cost nothing to build and need no incremental
step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from pipelines.models.tables import RAW_LEADS, RAW_TRIGGERS
from pipelines.runtime.transpile import SOURCE_DIALECT, text_literal

if TYPE_CHECKING:
    from pipelines.models.plan import Model

STATE_TABLE = "staging.model_state"
CHANGED_LEADS_TABLE = "staging.model_changed_leads"  # rules a, b and c
# and rule d: the leads whose rows of the BY_NUMBER models (and tables built from them) are redone
NUMBER_CHANGED_LEADS_TABLE = "staging.model_number_changed_leads"
FOLLOWED = frozenset({RAW_LEADS, RAW_TRIGGERS})  # the raw tables followed lead by lead
LEADS_VIEW = "staging.stg_footprints__leads"
TRIGGERS_VIEW = "staging.stg_infinity__triggers"
CUSTOM_FIELDS_VIEW = "staging.stg_infinity__trigger_custom_fields"
MATCHES = "intermediate.int_calls_matched_to_leads"
# Models whose rows for a lead depend on every call from its number (rule d, and the full
# build after re-loaded triggers), not only on its matches.
BY_NUMBER = frozenset({"analytics.lead_match_diagnostics"})
MATCH_CALL_ID, TRIGGER_ID = "call_id", "trigger_id"
LEAD_ID = "lead_id"
LEAD_PHONE, CALLER_PHONE = "phone_e164", "caller_phone_e164"  # the views' number columns
LOAD_ID = "_dlt_load_id"
# Above this share of changed leads a full build is as fast: measured with 10,000,000
# triggers and 1,000,000 leads, leads spread over the year changed (the worst case).
FULL_ABOVE = 0.1
# Part of the fingerprint: a change to the rules in this module makes the next build full.
RULES_VERSION = "2"
_VOLATILE: tuple[type[exp.Expression], ...]
_VOLATILE = (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime, exp.CurrentDatetime)
_VOLATILE += (exp.Rand, exp.Uuid)
_VOLATILE_NAMES = frozenset({"NOW", "TODAY", "RANDOM", "GET_CURRENT_TIMESTAMP", "GEN_RANDOM_UUID"})


@dataclass(frozen=True)
class InputState:
    """A raw table as a build saw it."""

    table: str
    rows: int
    has_load_ids: bool
    # the load id up to which its rows were seen (rule 1); None: none yet
    last_load_id: str | None


@dataclass(frozen=True)
class State:
    fingerprint: str
    inputs: dict[str, InputState]


def fingerprint(parts: Iterable[str]) -> str:
    """sha256 of `parts`, in order, and of the rules' version."""
    digest = hashlib.sha256(RULES_VERSION.encode())
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part.encode())
    return digest.hexdigest()


def columns_text(columns: dict[str, Any]) -> str:
    """A raw table's columns (dlt's storage schema) as fingerprint text: names and types."""
    kept = ("data_type", "precision", "scale", "timezone")
    return json.dumps(
        {name: {k: column.get(k) for k in kept} for name, column in sorted(columns.items())},
        sort_keys=True,
        default=str,
    )


def state_select(state: State, mode: str) -> exp.Query:
    """The rows of `STATE_TABLE`: one per raw table."""
    rows = [
        exp.select(
            exp.alias_(exp.Literal.string(state.fingerprint), "fingerprint"),
            exp.alias_(exp.Literal.string(mode), "mode"),
            exp.alias_(exp.Literal.string(i.table), "input_table"),
            exp.alias_(exp.Literal.number(i.rows), "input_rows"),
            exp.alias_(exp.Boolean(this=i.has_load_ids), "has_load_ids"),
            exp.alias_(text_literal(i.last_load_id), "last_load_id"),
            exp.alias_(exp.CurrentTimestamp(), "built_at"),
        )
        for i in sorted(state.inputs.values(), key=lambda i: i.table)
    ]
    query: exp.Query = rows[0]
    for row in rows[1:]:
        query = exp.union(query, row, distinct=False)
    return query


STATE_READ = (
    f"select fingerprint, input_table, input_rows, has_load_ids, last_load_id from {STATE_TABLE}"
)


def parse_state(rows: Sequence[Sequence[Any]]) -> State | None:
    """`STATE_READ`'s rows as a `State`; None when there is none or it is inconsistent."""
    prints = {row[0] for row in rows}
    if len(prints) != 1:
        return None
    inputs = {
        str(table): InputState(
            str(table), int(count), bool(has), None if last is None else str(last)
        )
        for _, table, count, has, last in rows
    }
    return State(prints.pop(), inputs)


def input_sql(table: str, has_load_ids: bool, loads_table: str | None) -> str:
    """One row: the table's row count and the load id up to which its rows are seen (DuckDB).

    With `loads_table` (the dataset's `_dlt_loads`), the newest load that is complete (status
    0): rows of a load still in progress are above it, so the next build counts them as
    changed too. Without it, the highest load id in the table.
    """
    if not has_load_ids:
        return f"select count(*), cast(null as text) from {table}"
    if loads_table:
        return (
            f"select (select count(*) from {table}), "
            f"(select max(load_id) from {loads_table} where status = 0)"
        )
    return f"select count(*), max({LOAD_ID}) from {table}"


def replace_tables(query: exp.Query, replacements: dict[str, exp.Query]) -> exp.Query:
    """A copy of `query` with every read of a table in `replacements` replaced by its query,
    under the name `query` uses for it (its alias, or the table's name)."""
    query = query.copy()
    for node in list(query.find_all(exp.Table)):
        replacement = replacements.get(f"{node.db}.{node.name}") if node.db else None
        if replacement is not None:
            node.replace(replacement.subquery(node.alias_or_name))
    return query


def _written_since(raw_table: str, last_load_id: str | None) -> exp.Select:
    rows = exp.select("*").from_(exp.to_table(raw_table))
    # No load id recorded: the table was empty, so every row (with a load id) is new.
    since = exp.GT(this=exp.column(LOAD_ID), expression=exp.Literal.string(last_load_id or ""))
    return rows.where(since)


def written_since_count(raw_table: str, last_load_id: str | None) -> exp.Select:
    """How many rows of `raw_table` carry a load id newer than `last_load_id`."""
    return exp.select("count(*)").from_(_written_since(raw_table, last_load_id).subquery("new"))


def unseen_rows_reason(table: str, grown: int, written_since: int) -> str | None:
    """Why to build in full when `table` gained more rows than carry a newer load id.

    Every row a load adds carries that load's id, and load ids (Unix timestamps) increase:
    rows beyond those were written with an older or no load id (a clock that stepped back, a
    hand edit), which rule 3 would never see as changed.
    """
    if grown <= written_since:
        return None
    return (
        f"{table} gained {grown:,} row(s) but only {written_since:,} carry a load id newer than "
        "the last build's (a clock that stepped back?)"
    )


def by_number(tables: Iterable[str]) -> list[str]:
    """The `BY_NUMBER` models among `tables`, sorted."""
    return sorted(BY_NUMBER.intersection(tables))


def counts_reloads(table: str, tables: Iterable[str]) -> bool:
    """Whether rows of `table` written again since the last build make it full (rule 2)."""
    return table == RAW_TRIGGERS and bool(by_number(tables))


def reloaded_rows_reason(
    table: str, grown: int, written_since: int, tables: Iterable[str]
) -> str | None:
    """Why to build in full when more rows of `table` carry a newer load id than it gained:
    rows that were there before were written again (re-loaded), and a `BY_NUMBER` model
    among `tables` needs the number each one had before, which nothing keeps."""
    models = by_number(tables)
    if not counts_reloads(table, models) or written_since <= grown:
        return None
    return (
        f"{written_since - grown:,} row(s) of {table} were re-loaded since the last build, and "
        f"{', '.join(models)} counts every call from a lead's number: a re-loaded trigger's "
        "earlier number is not known"
    )


def _in_changed_leads(leads_table: str = CHANGED_LEADS_TABLE) -> exp.Expression:
    return exp.column(LEAD_ID).isin(query=exp.select(LEAD_ID).from_(exp.to_table(leads_table)))


def _written_triggers(models: dict[str, Model], state: State) -> exp.Query:
    """The triggers view's select over the triggers written since the last build."""
    return replace_tables(
        models[TRIGGERS_VIEW].query,
        {RAW_TRIGGERS: _written_since(RAW_TRIGGERS, state.inputs[RAW_TRIGGERS].last_load_id)},
    )


def _not_null_ids(union: exp.Query) -> exp.Select:
    return (
        exp.select(LEAD_ID)
        .from_(union.subquery("changed"), copy=False)
        .where(exp.column(LEAD_ID).is_(exp.null()).not_(), copy=False)
    )


def changed_leads_select(models: dict[str, Model], state: State) -> exp.Query:
    """The lead ids whose rows must be redone (rules a, b and c of the module docstring)."""
    leads = replace_tables(
        models[LEADS_VIEW].query,
        {RAW_LEADS: _written_since(RAW_LEADS, state.inputs[RAW_LEADS].last_load_id)},
    )
    triggers = _written_triggers(models, state)
    matched_now = replace_tables(models[MATCHES].query, {TRIGGERS_VIEW: triggers})
    trigger_ids = exp.select(TRIGGER_ID).from_(triggers.subquery("triggers"), copy=False)
    matched_before = (
        exp.select(LEAD_ID)
        .from_(exp.to_table(MATCHES))
        .where(exp.column(MATCH_CALL_ID).isin(query=trigger_ids, copy=False), copy=False)
    )
    union = exp.union(
        exp.union(
            exp.select(LEAD_ID).from_(leads.subquery("leads"), copy=False),
            exp.select(LEAD_ID).from_(matched_now.subquery("matched_now"), copy=False),
            copy=False,
        ),
        matched_before,
        copy=False,
    )
    return _not_null_ids(union)


def number_changed_leads_select(models: dict[str, Model], state: State) -> exp.Query:
    """The changed leads (`CHANGED_LEADS_TABLE`, written first) and the leads whose number
    called since the last build (rule d): the leads whose rows of the tables in
    `redone_by_number` are redone."""
    triggers = _written_triggers(models, state)
    callers = exp.select(CALLER_PHONE).from_(triggers.subquery("triggers"), copy=False)
    called = (
        exp.select(LEAD_ID)
        .from_(exp.to_table(LEADS_VIEW))
        .where(exp.column(LEAD_PHONE).isin(query=callers, copy=False), copy=False)
    )
    changed = exp.select(LEAD_ID).from_(exp.to_table(CHANGED_LEADS_TABLE))
    return _not_null_ids(exp.union(changed, called, copy=False))


def redone_by_number(models: Sequence[Model]) -> set[str]:
    """The tables whose rows are redone for `NUMBER_CHANGED_LEADS_TABLE`'s leads: the
    `BY_NUMBER` models and every table built from one; `models` in build order."""
    tables = set(by_number(model.table for model in models))
    for model in models:
        if model.kind == "table" and model.reads & tables:
            tables.add(model.table)
    return tables


def leads_table(model: Model, number_redone: set[str]) -> str:
    """The table of the leads whose rows of `model` an incremental build redoes."""
    return NUMBER_CHANGED_LEADS_TABLE if model.table in number_redone else CHANGED_LEADS_TABLE


def changed_rows(table: str, leads: str = CHANGED_LEADS_TABLE) -> exp.Select:
    """The rows of `table` of the leads in `leads` (a changed leads table)."""
    return exp.select("*").from_(exp.to_table(table)).where(_in_changed_leads(leads))


def restricted(model: Model, lead_keyed: set[str], leads: str = CHANGED_LEADS_TABLE) -> exp.Query:
    """`model`'s select, for the leads in `leads` (a changed leads table) only.

    Every lead-keyed table or view it reads is replaced by the same rows filtered to those
    leads, so the filter applies where the rows are read; the outer filter makes the rule
    hold for whatever else the select reads.
    """
    query = replace_tables(
        model.query,
        {table: changed_rows(table, leads) for table in model.reads & lead_keyed},
    )
    return (
        exp.select("*")
        .from_(query.subquery("model"), copy=False)
        .where(_in_changed_leads(leads), copy=False)
    )


def delete_changed(table: str, leads: str = CHANGED_LEADS_TABLE) -> exp.Delete:
    """Delete the rows of the leads in `leads` (a changed leads table) from `table`."""
    return exp.delete(exp.to_table(table), where=_in_changed_leads(leads))


def insert_changed(
    model: Model, lead_keyed: set[str], leads: str = CHANGED_LEADS_TABLE
) -> exp.Insert:
    """Insert the rows of the leads in `leads` into `model`'s table, from its own select."""
    return exp.insert(restricted(model, lead_keyed, leads), exp.to_table(model.table), copy=False)


def not_incremental(model: Model, views: dict[str, Model] | None = None) -> str | None:
    """Why `model` (past staging) cannot be redone lead by lead, as far as its SQL tells.

    A view's select runs inside every model that reads it, so the views `model` reads (from
    `views`, by table), and the views they read, are checked with it.
    """
    views = views or {}
    queries, reads = [model.query], set(model.reads)
    pending, seen = [t for t in model.reads if t in views], set()
    while pending:
        view = views[pending.pop()]
        if view.table not in seen:
            seen.add(view.table)
            queries.append(view.query)
            reads |= view.reads
            pending += [t for t in view.reads if t in views]
    for query in queries:
        for node in query.walk():
            if isinstance(node, _VOLATILE) or (
                isinstance(node, exp.Anonymous) and node.name.upper() in _VOLATILE_NAMES
            ):
                return f"{model.origin} reads the clock or randomness ({node.sql(SOURCE_DIALECT)})"
    triggers = reads & {TRIGGERS_VIEW, CUSTOM_FIELDS_VIEW, RAW_TRIGGERS}
    through_matches = model.table == MATCHES or MATCHES in model.reads
    if triggers and not through_matches and model.table not in BY_NUMBER:
        return f"{model.origin} reads {', '.join(sorted(triggers))} other than through {MATCHES}"
    return None


def full_build_reason(
    full: bool,
    models: Sequence[Model],
    previous: State | None,
    state: State,
    relations: dict[str, str],
    lead_keyed: set[str],
) -> str | None:
    """Why this build must be full (rule 2 of the module docstring); None if it need not.

    `relations`: the model schemas' tables and views ("table" or "view"); `lead_keyed`: those
    of them with a `lead_id` column.
    """
    if full:
        return "asked for"
    if previous is None:
        return "no earlier build to update"
    if previous.fingerprint != state.fingerprint:
        return "the models, the settings, the raw tables' columns or sqlglot changed"
    for model in models:
        if relations.get(model.table) != model.kind:
            return f"{model.table} is not in the warehouse as a {model.kind}"
    followed_models = {LEADS_VIEW, TRIGGERS_VIEW, MATCHES}
    if not followed_models <= {m.table for m in models} or not state.inputs.keys() >= FOLLOWED:
        return f"the models do not match leads to calls through {MATCHES}"
    for table, now in sorted(state.inputs.items()):
        before = previous.inputs.get(table)
        if before is None:
            return f"{table} was not read by the last build"
        if not now.has_load_ids:
            return (
                f"{table} has no {LOAD_ID} column (dlt adds it to Arrow tables with "
                "normalize.parquet_normalizer.add_dlt_load_id = true)"
            )
        if not before.has_load_ids:
            return f"{table} had no {LOAD_ID} column at the last build"
        if now.rows < before.rows:
            return f"{table} has fewer rows than at the last build"
        if table not in FOLLOWED and now != before:
            return f"{table} changed, and only leads and triggers are followed lead by lead"
    views = {model.table: model for model in models if model.kind == "view"}
    for model in models:
        if model.kind == "view":
            continue
        if model.table not in lead_keyed:
            return f"{model.table} has no {LEAD_ID} column"
        if why := not_incremental(model, views):
            return why
    return None
