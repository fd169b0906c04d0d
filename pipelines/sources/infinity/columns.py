"""Infinity's columns: every value arrives as text and is typed here, nothing lost.

A value that does not cast is kept verbatim in `invalid_values`; a line without a readable
rowId is set aside as a rejected row.
"""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming.snake_case import NamingConvention

from pipelines.sources.infinity.ndjson import BrokenLine
from pipelines.sources.phones import e164_array

NAMING = NamingConvention()  # dlt's snake_case, as dlt names the columns itself

# API field -> DuckDB type; everything else stays text. A value that does not cast is kept,
# verbatim, in `invalid_values` instead of being lost.
_DURATIONS = ("callDuration", "bridgeDuration", "ringTime", "ivrDuration", "queueDuration")


_MONEY = ("txv", "goalValue", "callCharge", "perMinuteCharge")


_FLAGS = (
    "goal",
    "rec",
    "callPciDataChecked",
    "callPciDataFound",
    "callSsnDataChecked",
    "callSsnDataFound",
    "callPiiDataChecked",
    "callPiiDataFound",
    "callKeywordSpotting",
    "callTranscription",
)


_COUNTS = (
    "visitorPageCount",
    "visitorGoalCount",
    "visitorCallCount",
    "lands",
    "leadScore",
    "transcriptionConfidence",
    "totalKeywordScore",
    "totalOperatorKeywordScore",
    "totalContactKeywordScore",
    "operatorPositiveKeywordCount",
    "operatorNeutralKeywordCount",
    "operatorNegativeKeywordCount",
    "contactPositiveKeywordCount",
    "contactNeutralKeywordCount",
    "contactNegativeKeywordCount",
)


TYPED_FIELDS: dict[str, str] = {
    "rowId": "BIGINT",
    "triggerDatetime": "TIMESTAMP",
    "visitorFirstDatetime": "TIMESTAMP",
    "lat": "DOUBLE",
    "long": "DOUBLE",
    **dict.fromkeys(_DURATIONS, "INTEGER"),
    **dict.fromkeys(_MONEY, "DECIMAL(38,9)"),
    **dict.fromkeys(_FLAGS, "BOOLEAN"),
    **dict.fromkeys(_COUNTS, "INTEGER"),
}


# Arrow carries the types to dlt; these add what Arrow cannot say. Infinity's datetimes
# are UTC wall-clock values, stored as TIMESTAMP (no time zone) as analysts expect.
# (dlt writes each column's name into its hint dict, so no two columns may share one.)
TRIGGER_COLUMNS: dict[str, Any] = {
    "row_id": {"data_type": "bigint", "nullable": False},
    "trigger_datetime": {"data_type": "timestamp", "timezone": False},
    "visitor_first_datetime": {"data_type": "timestamp", "timezone": False},
    "caller_phone_e164": {"data_type": "text"},
    "invalid_values": {"data_type": "text"},
}


ITEMISED_CALL_COLUMNS: dict[str, Any] = {
    "row_id": {"data_type": "bigint", "nullable": False},
    "trigger_datetime": {"data_type": "timestamp", "timezone": False},
    "caller_phone_e164": {"data_type": "text"},
    "invalid_values": {"data_type": "text"},
}


def rejected_row_id(text: str) -> int | None:
    """The rowId of a line that is not valid JSON, when it can still be read."""
    marker = text.find('"rowId"')
    if marker < 0:
        return None
    digits = "".join(ch for ch in text[marker + 7 : marker + 40].split(",")[0] if ch.isdigit())
    return int(digits) if digits else None


def type_triggers(table: pa.Table, con: duckdb.DuckDBPyConnection, region: str) -> pa.Table:
    """Snake-case names, typed columns, `invalid_values` and `caller_phone_e164`.

    The casts run in DuckDB over the Arrow page (no row-by-row Python), TRY_CAST so one bad
    value never fails a page; values that did not cast are kept in `invalid_values` as JSON.
    Text columns that stay text (most of a page) do not go through DuckDB at all.
    """
    if table.num_columns == 0:
        return table
    # Each typed value is cast once, next to its trimmed text; the outer query compares the
    # two to find values that did not cast, then drops the text columns.
    selects, texts, invalid = [], [], []
    for name in table.column_names:
        if _stays_text(name, table.schema.field(name).type):
            continue
        column = _quote(name)
        snake = NAMING.normalize_identifier(name)
        alias, text_alias = _quote(snake), _quote(f"__text__{snake}")
        sql_type = TYPED_FIELDS.get(name)
        if sql_type:
            text = _text(name)
            selects.append(f"{typed_sql(name, sql_type)} as {alias}, {text} as {text_alias}")
            texts.append(text_alias)
            invalid.append(
                f"case when {text_alias} is not null and {alias} is null "
                f"then {_literal(orjson.dumps(snake).decode())} || ':' || to_json({text_alias}) end"
            )
        elif pa.types.is_nested(table.schema.field(name).type):
            selects.append(f"{column} as {alias}")
        else:
            selects.append(f"cast({column} as varchar) as {alias}")
    invalid_values = (
        f"nullif('{{' || concat_ws(',', {', '.join(invalid)}) || '}}', '{{}}')"
        if invalid
        else "cast(null as varchar)"
    )
    excluded = f" exclude ({', '.join(texts)})" if texts else ""
    sql = (
        f"select *{excluded}, {invalid_values} as invalid_values "
        f"from (select {', '.join(selects) or '1 as __none__'} from page)"
    )
    con.register("page", table)
    try:
        typed = con.sql(sql).to_arrow_table()
    finally:
        con.unregister("page")
    names, columns = [], []
    for name in table.column_names:
        snake = NAMING.normalize_identifier(name)
        passed = _stays_text(name, table.schema.field(name).type)
        names.append(snake)
        columns.append(table.column(name) if passed else typed.column(snake))
    phones = (
        e164_array(columns[names.index("src_phone_number")], region)
        if "src_phone_number" in names
        else pa.nulls(table.num_rows, pa.string())
    )
    names += ["invalid_values", "caller_phone_e164"]
    columns += [typed.column("invalid_values"), phones]
    return pa.Table.from_arrays(columns, names=names)


def _text(name: str) -> str:
    """SQL for a field's value as trimmed text, NULL when empty."""
    return f"nullif(trim(cast({_quote(name)} as varchar)), '')"


def typed_sql(name: str, sql_type: str) -> str:
    """SQL for a field's value as `sql_type`, NULL when it does not cast."""
    return f"try_cast({_text(name)} as {sql_type})"


def _stays_text(name: str, arrow_type: pa.DataType) -> bool:
    """An untyped column Arrow already reads as text: it is kept as it is."""
    return name not in TYPED_FIELDS and pa.types.is_string(arrow_type)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def split_rows_without_id(table: pa.Table) -> tuple[pa.Table, list[BrokenLine]]:
    """Rows whose rowId is missing or not an integer cannot be merged: set them aside."""
    if table.num_rows == 0:
        return table, []
    lines = []
    if table.column("row_id").null_count:
        missing = pc.is_null(table.column("row_id"))
        lines = [
            BrokenLine(orjson.dumps(row, default=str).decode(), "rowId missing or not an integer")
            for row in table.filter(missing).to_pylist()
        ]
        table = table.filter(pc.invert(missing))
    # Declared NOT NULL, as the table's primary key is.
    index = table.schema.get_field_index("row_id")
    return table.cast(
        table.schema.set(index, table.schema.field(index).with_nullable(False))
    ), lines
