"""Which models there are and in what order: `sql/<layer>/<name>.sql` files and the generated one.

- `sql/<layer>/<name>.sql` is one select in DuckDB's dialect, reading plain `schema.table`
  names. It builds the table `<schema>.<name>`, the schema being its layer's: staging ->
  `staging`, intermediate -> `intermediate`, marts -> `analytics`, outbound -> `outbound`,
  reports -> `analytics`.
- Staging (rename and cast only) and reports (aggregates over whole tables, read by people,
  not by other models) are views; the other layers build tables.
- Order: sqlglot lists the tables each model reads; a model is built after the models that
  create them. A table no model creates is an input: a raw table or a settings table.
- A model's first line states its grain, the columns that tell its rows apart, in a form the
  build checks (`-- grain: lead_id` or `-- grain: lead_id, call_id`;
  `pipelines.models.contracts`); the second says in words what one row is. A model without
  that line, or whose grain names a column its select does not return, is refused here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify

from pipelines.models.settings import (
    CUSTOM_FIELDS_GRAIN,
    CUSTOM_FIELDS_TABLE,
    ModelSettings,
    custom_fields_select,
)
from pipelines.runtime.settings import SyncError
from pipelines.runtime.transpile import SOURCE_DIALECT

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
# sql/<layer>/ -> the schema its tables are built in, in build order
LAYERS = {
    "staging": "staging",
    "intermediate": "intermediate",
    "marts": "analytics",
    "outbound": "outbound",
    "reports": "analytics",
}
# The layers built as views: always current, nothing copied
VIEW_LAYERS = frozenset({"staging", "reports"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COLUMN = r"[a-z_][a-z0-9_]*"
_GRAIN = re.compile(rf"^--\s*grain:\s*(?P<columns>{_COLUMN}(?:\s*,\s*{_COLUMN})*)\s*$")


class ModelError(SyncError):
    """A model could not be read, ordered or built; the message names its file and line."""

    # A build that failed part-way sets this to its `ModelsReport` (`pipelines.models.build`).
    report: Any = None


def warehouse_message(error: BaseException) -> str:
    """The warehouse's own words for a failed statement, on one line (DuckDB's caret excerpt
    after `LINE n:` is left out: the error names the model's file and line instead)."""
    return " ".join(str(error).split("\nLINE ")[0].split())


@dataclass(frozen=True)
class Model:
    """One table or view to build: its select (DuckDB dialect) and the tables it reads."""

    table: str
    origin: str  # the file, relative to the project, or what generated the model
    sql: str  # the select as written (or generated), in DuckDB's dialect
    query: exp.Query
    reads: frozenset[str]
    grain: tuple[str, ...]  # the columns no two rows share, none of them null
    layer: str  # its folder in sql/ (a key of LAYERS)

    @property
    def kind(self) -> str:
        """What is built: a view for staging and reports, else a table."""
        return "view" if self.layer in VIEW_LAYERS else "table"

    @property
    def is_report(self) -> bool:
        """A report: read by people only, never by another model (`pipelines.models.build`
        does not follow the tables only reports read)."""
        return self.layer == "reports"


def _origin(path: Path) -> str:
    root = SQL_DIR.parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _parse(sql: str, origin: str) -> exp.Query:
    try:
        statements = [s for s in sqlglot.parse(sql, read=SOURCE_DIALECT) if s is not None]
    except ParseError as error:
        where = error.errors[0] if error.errors else {}
        line = f":{where['line']}:{where['col']}" if where.get("line") else ""
        description = where.get("description") or str(error)
        raise ModelError(f"{origin}{line}: cannot parse the SQL: {description}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ModelError(f"{origin}: a model is exactly one select statement")
    return statements[0]


def _reads(query: exp.Query, origin: str) -> frozenset[str]:
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    tables = set()
    for table in query.find_all(exp.Table):
        if not table.db:
            if table.name in ctes:
                continue
            line = table.this.meta.get("line") if isinstance(table.this, exp.Expression) else None
            raise ModelError(
                f"{origin}{f':{line}' if line else ''}: reads {table.name} without a schema; "
                "write schema.table"
            )
        tables.add(f"{table.db}.{table.name}")
    return frozenset(tables)


def returned_columns(query: exp.Query) -> tuple[str, ...] | None:
    """The names of the columns `query` returns; None when a star over a table hides them.

    Models end with `select * from <cte>`: that star is followed through the CTEs by name,
    which costs nothing. Any other star is expanded by sqlglot's `qualify`, as far as the CTEs
    tell, which costs about 5 ms a model: discovery, run by every build, stays fast.
    """
    ctes = {cte.alias_or_name: cte.this for cte in query.ctes}
    select: exp.Expression = query
    while isinstance(select, exp.Select) and (cte := _star_over_cte(select, ctes)):
        select = ctes.pop(cte)  # popped: a CTE is followed once
    names = select.named_selects if isinstance(select, exp.Query) else []
    if names and "*" not in names:
        return tuple(names)
    try:
        qualified = cast(  # qualify returns the query it is given, typed as any Expression
            exp.Query,
            qualify(query.copy(), dialect=SOURCE_DIALECT, validate_qualify_columns=False),
        )
    except SqlglotError:
        return None
    names = qualified.named_selects
    return None if not names or "*" in names else tuple(names)


def _star_over_cte(select: exp.Select, ctes: dict[str, exp.Expression]) -> str | None:
    """The CTE `select` returns every column of (`select * from <cte>`), if that is all it is."""
    source = select.args.get("from_")
    star = select.expressions[0] if len(select.expressions) == 1 else None
    if (
        isinstance(star, exp.Star)
        and not any(star.args.values())  # no exclude, replace or rename
        and source is not None
        and isinstance(source.this, exp.Table)
        and not source.this.db
        and source.this.name in ctes
        and not select.args.get("joins")
    ):
        return source.this.name
    return None


def _grain(sql: str, origin: str) -> tuple[str, ...]:
    """The columns line 1 names (`-- grain: lead_id, call_id`)."""
    first = sql.split("\n", 1)[0].strip()
    match = _GRAIN.match(first)
    if match is None:
        raise ModelError(
            f"{origin}:1: the first line states the model's grain, as "
            f"`-- grain: <column>[, <column>...]` (lowercase names); found {first!r}"
        )
    grain = tuple(column.strip() for column in match["columns"].split(","))
    if len(set(grain)) != len(grain):
        raise ModelError(f"{origin}:1: the grain names a column twice: {', '.join(grain)}")
    return grain


def _model(table: str, origin: str, sql: str, layer: str) -> Model:
    grain = _grain(sql, origin)
    query = _parse(sql, origin)
    # None: a star over another table hides the columns; then the first build's grain check
    # names a column that is not there (`pipelines.models.contracts`)
    columns = returned_columns(query)
    if columns is not None and (missing := [c for c in grain if c not in columns]):
        raise ModelError(
            f"{origin}:1: the grain names {', '.join(missing)}, which the select does not "
            f"return (it returns {', '.join(columns)})"
        )
    return Model(table, origin, sql, query, _reads(query, origin), grain, layer)


def discover(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Every `sql/<layer>/<name>.sql`, parsed."""
    models = []
    for path in sorted(sql_dir.rglob("*.sql")):
        origin = _origin(path)
        layer = path.parent.name
        if path.parent.parent != sql_dir or layer not in LAYERS:
            raise ModelError(f"{origin}: models live in sql/<{'|'.join(LAYERS)}>/<name>.sql")
        if not _NAME.match(path.stem):
            raise ModelError(f"{origin}: a model's name is lowercase letters, digits and _")
        sql = path.read_text(encoding="utf-8").strip().rstrip(";").rstrip()
        models.append(_model(f"{LAYERS[layer]}.{path.stem}", origin, sql, layer))
    return models


def generated_models(config: ModelSettings) -> list[Model]:
    """The models built from settings rather than files."""
    query = custom_fields_select(config)
    origin = (
        f"{CUSTOM_FIELDS_TABLE} (generated in pipelines/models/settings.py from "
        "models.qubit_visitor_id_field and models.ga_client_id_field)"
    )
    sql = CUSTOM_FIELDS_GRAIN + "\n" + query.sql(dialect=SOURCE_DIALECT, pretty=True)
    return [_model(CUSTOM_FIELDS_TABLE, origin, sql, "staging")]


def in_build_order(models: Iterable[Model]) -> list[Model]:
    """`models` ordered so that each comes after every model whose table it reads.

    Ties go by layer (staging first, reports last), then by table name, so the order never
    changes between runs. Raises `ModelError` for two models of one table, a model reading
    itself, a model reading a report, or a cycle.
    """
    by_table: dict[str, Model] = {}
    for model in models:
        if model.table in by_table:
            raise ModelError(
                f"{model.origin} and {by_table[model.table].origin} both build {model.table}"
            )
        if model.table in model.reads:
            raise ModelError(f"{model.origin}: reads {model.table}, the table it builds")
        by_table[model.table] = model
    for model in by_table.values():
        # a report reads whole tables and the ledger: a model built from one could not be
        # redone lead by lead, and its input would change with every push
        if reports := sorted(t for t in model.reads if t in by_table and by_table[t].is_report):
            raise ModelError(f"{model.origin}: reads {', '.join(reports)}, a report")
    layer_rank = {layer: rank for rank, layer in enumerate(LAYERS)}

    def key(model: Model) -> tuple[int, str]:
        return layer_rank[model.layer], model.table

    waiting = {t: {r for r in m.reads if r in by_table} for t, m in by_table.items()}
    ordered: list[Model] = []
    while waiting:
        ready = sorted((by_table[t] for t, deps in waiting.items() if not deps), key=key)
        if not ready:
            cycle = ", ".join(sorted(by_table[t].origin for t in waiting))
            raise ModelError(f"models read each other in a cycle: {cycle}")
        for model in ready:
            ordered.append(model)
            del waiting[model.table]
        for deps in waiting.values():
            deps.difference_update(m.table for m in ready)
    return ordered


def plan(config: ModelSettings, sql_dir: Path = SQL_DIR) -> list[Model]:
    """Every model, file and generated, in build order."""
    return in_build_order([*discover(sql_dir), *generated_models(config)])
