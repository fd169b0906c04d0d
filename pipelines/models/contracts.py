"""After every build, each model table's grain holds: no two rows share it and none of its
columns is null (`-- grain: lead_id, call_id`, line 1 of the model; `pipelines.models.plan`).

Why: every model's joins assume the grain of the tables they read (a match twice over counts a
conversion twice), and the push sends one request per outbound row, keyed by its outbound id:
two rows with one id would be two sends of one conversion, or one sent and one lost. A
breach fails the build with `ContractBreached`, naming the model's file and table, the grain
and one key breaking it; the runner then pushes nothing (`pipelines.runtime.runner`).

Where: inside the build's transaction. On DuckDB a breach rolls the whole build back and the
previous build's tables stay. BigQuery has no DDL in transactions, so the tables are already
replaced, but the build fails before it writes its state (removed at its start): the run
pushes nothing and the next build is full.

What is checked, each table with one query (DuckDB SQL, written for the warehouse by
`pipelines.runtime.transpile`). Costs measured on `bench/models_build.py`'s data at 10,000,000
triggers and 1,000,000 leads (2 cores), where a full build takes about 9 s and an incremental
one about 1.5 s:
- Full build: every row of every table past staging, 0.23 s for the seven.
- Incremental build: only the changed leads' rows were deleted and inserted; the rest are as
  the last build left them, and its check passed (an incremental build starts from the state
  only a passing build writes; a changed grain line changes the models' fingerprint, so the
  build after it is full). When the grain includes `lead_id`, a changed lead's row and an
  unchanged lead's row differ in it, so a duplicate or a null can only be among the changed
  leads' rows, and only those are checked (each table's changed leads: in the diagnostics
  also those whose number called, `incremental.leads_table`). A grain without `lead_id`
  (each outbound table's id) has no such guarantee: a new lead's id could equal an unchanged
  lead's. Those tables are checked whole; counting only the ids the changed leads' rows
  carry reads the whole id column all the same, and measured no faster (0.024 s per
  outbound table of 200,000 rows). In all 0.14 s for 10,800 changed leads. A build that
  changed no lead checks nothing.
- Views (staging, and reports such as `analytics.daily_funnel`) are not checked. Staging
  views rename raw tables that dlt merges on their keys (`row_id`, `id`), and checking them
  groups the raw rows on every build: 3.6 s for the two trigger views at 10,000,000
  triggers, more than a third of a full build and twice an incremental one. A duplicate in a
  view that reaches a table breaks that table's grain and is caught there; one that reaches
  no table changes nothing built. A report aggregates whole tables into its grain (one row
  per day): checking it would compute it on every build. Their grain lines are still
  checked against their selects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlglot import exp

from pipelines.models import incremental
from pipelines.models.plan import Model, ModelError, warehouse_message

ROW_COUNT, BREAKING_KEYS = "row_count", "breaking_keys"


class ContractBreached(ModelError):
    """A model table's rows break its grain; the message names the model and a key."""


def grain_select(
    model: Model, *, changed_only: bool = False, leads: str = incremental.CHANGED_LEADS_TABLE
) -> exp.Select:
    """The key of `model`'s table that breaks its grain worst (most rows, then the first by
    key, nulls first), its `row_count`, and how many keys break it (`breaking_keys`); no row
    when none does.

    `changed_only`: an incremental build's check, of the rows of the leads in `leads` (the
    changed leads table whose rows of `model` the build redid) when the grain includes
    `lead_id` (see the module docstring).
    """
    if changed_only and incremental.LEAD_ID in model.grain:
        rows = incremental.changed_rows(model.table, leads)
    else:
        rows = exp.select("*").from_(exp.to_table(model.table))
    grain = [exp.column(column) for column in model.grain]
    count = exp.Count(this=exp.Star())
    any_null = exp.or_(*(column.is_(exp.null()) for column in grain))
    # the grain's columns only: BigQuery bills the columns a query reads
    keys = (
        rows.select(*grain, exp.alias_(count, ROW_COUNT), append=False)
        .group_by(*grain)
        .having(exp.or_(exp.GT(this=count.copy(), expression=exp.Literal.number(1)), any_null))
    )
    every_key = exp.Window(this=exp.Count(this=exp.Star()))
    return (
        exp.select(*grain, ROW_COUNT, exp.alias_(every_key, BREAKING_KEYS))
        .from_(keys.subquery("keys"), copy=False)
        .order_by(
            exp.Ordered(this=exp.column(ROW_COUNT), desc=True),
            *(exp.Ordered(this=column.copy(), nulls_first=True) for column in grain),
        )
        .limit(1)
    )


def breach_message(model: Model, row: Sequence[Any]) -> str:
    """What `grain_select`'s row says, naming the model's file and table."""
    *key, rows, keys = row
    pairs = zip(model.grain, key, strict=True)
    values = ", ".join(f"{column} {_literal(value)}" for column, value in pairs)
    what = f"{rows} row{'s' if rows != 1 else ''} for {values}"
    if any(value is None for value in key):
        what += " (a grain column is never null)"
    more = int(keys) - 1
    if more:
        what += f" (and {more} more key{'s' if more != 1 else ''})"
    return f"{model.origin}: {model.table} breaks its grain ({', '.join(model.grain)}): {what}"


def check_grains(
    models: Iterable[Model],
    select: Callable[[exp.Select], Sequence[Sequence[Any]]],
    *,
    changed_only: bool = False,
) -> None:
    """Check the grain of every model table, in build order; raise `ContractBreached` for
    the first that breaks it, the earliest being the likeliest cause of the later ones.

    `select` runs a query on the warehouse and returns its rows.
    """
    models = list(models)
    number_redone = incremental.redone_by_number(models)
    for model in models:
        if model.kind != "table":
            continue
        leads = incremental.leads_table(model, number_redone)
        query = grain_select(model, changed_only=changed_only, leads=leads)
        try:
            rows = select(query)
        except Exception as error:  # e.g. a star hid that a grain column is not there
            raise ModelError(
                f"{model.origin}:1: {model.table}: its grain ({', '.join(model.grain)}) "
                f"could not be checked: {warehouse_message(error)}"
            ) from error
        if rows:
            raise ContractBreached(breach_message(model, rows[0]))


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
