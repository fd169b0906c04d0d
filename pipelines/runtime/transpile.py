"""SQL written once in DuckDB's dialect (models, ledger, checks), in the dialect of the warehouse
that runs it.

sqlglot does the translation. Its DuckDB -> BigQuery mapping assumes that a DuckDB `TIMESTAMP`
is a BigQuery `DATETIME`, but dlt loads every timestamp into BigQuery as `TIMESTAMP`
(dlt/destinations/impl/bigquery/factory.py: "we disable DATETIME"), so three rules restate
that fact before sqlglot writes BigQuery:

- a `timestamp` type or literal is a BigQuery `TIMESTAMP`, never a `DATETIME`;
- `date_diff` in a unit below a day (hour ... microsecond) is `TIMESTAMP_DIFF`: BigQuery's
  `DATE_DIFF` takes dates only. Model SQL never takes a difference in days of timestamps,
  because DuckDB counts midnights there and BigQuery counts 24-hour periods;
- `ts - interval (n) day` is `TIMESTAMP_SUB(ts, INTERVAL n DAY)` (and `+` is `TIMESTAMP_ADD`).

`bigquery_problems` then reads the output back in BigQuery's dialect and lists every
construct BigQuery lacks. Functions are checked against an allowlist, not a denylist: sqlglot
passes a function it does not know through by name (`epoch_us(ts)`), and renders some it does
know under names BigQuery has never had (`TIME_TO_UNIX`), so only names known to exist in
BigQuery pass. A model that needs a new function adds it here after checking BigQuery's
function reference. The local BigQuery emulator is more lenient than BigQuery (FINDINGS), so
this check runs in the tests and before any model is sent to BigQuery.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

SOURCE_DIALECT = "duckdb"

_SUB_DAY_UNITS = {"HOUR", "MINUTE", "SECOND", "MILLISECOND", "MICROSECOND"}
_NAIVE_TIMESTAMPS = {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ}

# Functions BigQuery has (GoogleSQL function reference), as sqlglot writes them.
BIGQUERY_FUNCTIONS = frozenset(
    {
        "ABS",
        "ANY_VALUE",
        "AVG",
        "CAST",
        "COALESCE",
        "CONCAT",
        "COUNT",
        "COUNTIF",
        "CURRENT_TIMESTAMP",
        "DENSE_RANK",
        "FIRST_VALUE",
        "GREATEST",
        "IF",
        "IFNULL",
        "LAG",
        "LAST_VALUE",
        "LEAD",
        "LEAST",
        "LENGTH",
        "LOGICAL_AND",
        "LOGICAL_OR",
        "LOWER",
        "MAX",
        "MD5",
        "MIN",
        "NULLIF",
        "RANK",
        "REGEXP_CONTAINS",
        "REPLACE",
        "ROUND",
        "ROW_NUMBER",
        "SAFE_CAST",
        "SHA256",
        "STARTS_WITH",
        "STRING_AGG",
        "SUBSTR",
        "SUM",
        "TIMESTAMP_ADD",
        "TIMESTAMP_DIFF",
        "TIMESTAMP_SUB",
        "TIMESTAMP_TRUNC",
        "TO_HEX",
        "TRIM",
        "UNIX_MILLIS",
        "UNIX_SECONDS",
        "UPPER",
    }
)
# Names sqlglot is known to emit for BigQuery that are wrong on this warehouse, with the
# reason; the local emulator accepts all of them (FINDINGS).
_KNOWN_TRAPS = {
    "TIME_TO_UNIX": "not a BigQuery function (sqlglot's rendering of DuckDB epoch())",
    "TIMESTAMP_MILLIS": "BigQuery's ms -> timestamp; sqlglot reads DuckDB epoch_ms(ts) as that",
    "FORMAT_DATE": "takes a DATE; the warehouse's timestamps are TIMESTAMP (FORMAT_TIMESTAMP)",
    "DATE_DIFF": "takes DATEs; the warehouse's timestamps are TIMESTAMP (TIMESTAMP_DIFF)",
    "DATE_SUB": "takes a DATE; the warehouse's timestamps are TIMESTAMP (TIMESTAMP_SUB)",
    "DATE_ADD": "takes a DATE; the warehouse's timestamps are TIMESTAMP (TIMESTAMP_ADD)",
    "EPOCH": "DuckDB only",
    "EPOCH_MS": "DuckDB only",
    "STRFTIME": "DuckDB only",
    "LIST_VALUE": "DuckDB only",
}
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _timestamps_as_timestamp(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DataType) and node.this in _NAIVE_TIMESTAMPS:
        return exp.DataType.build("TIMESTAMPTZ")
    return node


def _timestamp_functions(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DateDiff) and node.unit and node.unit.name.upper() in _SUB_DAY_UNITS:
        return exp.TimestampDiff(this=node.this, expression=node.expression, unit=node.unit)
    if isinstance(node, exp.Sub | exp.Add) and isinstance(node.expression, exp.Interval):
        interval = node.expression
        amount = interval.this.unnest() if isinstance(interval.this, exp.Paren) else interval.this
        shift = exp.TimestampSub if isinstance(node, exp.Sub) else exp.TimestampAdd
        return shift(this=node.this, expression=amount, unit=interval.unit)
    return node


def text_literal(value: str | None) -> exp.Expression:
    """`value` as a SQL string literal, or a NULL typed as text (so a union of rows agrees)."""
    return exp.cast(exp.null(), "text") if value is None else exp.Literal.string(value)


def to_dialect(expression: exp.Expression, dialect: str, *, pretty: bool = True) -> str:
    """`expression` (parsed from DuckDB SQL) as SQL for `dialect` ("duckdb" or "bigquery")."""
    if dialect == "bigquery":
        # Two passes: `transform` does not descend into a node it has just replaced.
        expression = expression.copy().transform(_timestamps_as_timestamp)
        expression = expression.transform(_timestamp_functions)
    return expression.sql(dialect=dialect, pretty=pretty)


def transpile(sql: str, dialect: str, *, pretty: bool = True) -> str:
    """DuckDB SQL text (one statement) as SQL for `dialect`."""
    return to_dialect(sqlglot.parse_one(sql, read=SOURCE_DIALECT), dialect, pretty=pretty)


def bigquery_problems(sql: str) -> list[str]:
    """What in `sql` (BigQuery SQL) BigQuery lacks; empty when there is nothing.

    Raises sqlglot's `ParseError` when `sql` does not parse as BigQuery SQL at all.
    """
    problems: list[str] = []
    for statement in sqlglot.parse(sql, read="bigquery"):
        if statement is None:
            continue
        for node in statement.walk():
            if isinstance(node, exp.DataType) and node.sql("bigquery").upper() == "DATETIME":
                problems.append(
                    f"{node.sql('bigquery')}: the warehouse's timestamps are TIMESTAMP, and "
                    "BigQuery does not compare DATETIME with TIMESTAMP"
                )
            if not isinstance(node, exp.Func):
                continue
            match = _CALL.match(node.sql("bigquery"))
            if not match:
                continue
            name = match.group(1).upper()
            if name in _KNOWN_TRAPS:
                problems.append(f"{name}(): {_KNOWN_TRAPS[name]}")
            elif name not in BIGQUERY_FUNCTIONS:
                problems.append(
                    f"{name}(): "
                    "not on the list of BigQuery functions in pipelines/runtime/transpile.py"
                )
    return list(dict.fromkeys(problems))
