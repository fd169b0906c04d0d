"""One shape for the rows a source set aside: `<dataset>.rejected`, with the same columns in
`infinity` and `footprints`, so an operator (and `status`) reads both the same way.

A row is set aside, never dropped, when it cannot be loaded: an Infinity line that is not JSON
or has no integer rowId, a Footprints record without an `_id` to merge on. `raw` keeps its
text verbatim, `endpoint` names the request it came from as `GET <path>`, and `row_key` is
the source's own key of the row when it could be read. `rejected_id` hashes source, endpoint
and raw text, so the same row fetched again replaces its earlier copy instead of repeating it.
The table merges on it with dlt's delete-insert, which (unlike upsert) also collapses a row
fetched twice within one load package.

Infinity yields these rows as Arrow from its route resources (dlt keeps one incremental cursor
per item type: dicts would move the rowId cursor back), Footprints as dicts from a resource
of their own; dlt gives dict rows a `_dlt_id` as well, Arrow rows only `_dlt_load_id`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TDeleteInsertStrategyDict, TTableSchemaColumns
from dlt.extract.resource import DltResource

TABLE = "rejected"

Source = Literal["infinity", "footprints"]

COLUMNS: TTableSchemaColumns = {
    "rejected_id": {"data_type": "text", "nullable": False},
    "source": {"data_type": "text"},
    "endpoint": {"data_type": "text"},
    "row_key": {"data_type": "text"},
    "raw": {"data_type": "text"},
    "error": {"data_type": "text"},
    "fetched_at": {"data_type": "timestamp"},
}

SCHEMA = pa.schema(
    [
        pa.field("rejected_id", pa.string(), nullable=False),
        ("source", pa.string()),
        ("endpoint", pa.string()),
        ("row_key", pa.string()),
        ("raw", pa.string()),
        ("error", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
    ]
)

MERGE: TDeleteInsertStrategyDict = {"disposition": "merge", "strategy": "delete-insert"}
KEY = "rejected_id"


def rejected_row(
    source: Source,
    endpoint: str,
    raw: str,
    error: str,
    row_key: str | None = None,
    fetched_at: datetime | None = None,
) -> dict[str, Any]:
    """One rejected row; `fetched_at` is now unless the row was fetched earlier."""
    digest = hashlib.sha256(f"{source}\n{endpoint}\n{raw}".encode()).hexdigest()
    return {
        "rejected_id": digest,
        "source": source,
        "endpoint": endpoint,
        "row_key": row_key,
        "raw": raw,
        "error": error,
        "fetched_at": fetched_at or datetime.now(UTC),
    }


def as_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """Rejected rows as the Arrow table Infinity yields."""
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def resource(data: list[Any] | Iterator[Any]) -> DltResource:
    """A resource of its own that loads `data` (rows, or Arrow tables of them) into the table."""
    return dlt.resource(
        data,
        name=TABLE,
        table_name=TABLE,
        write_disposition=MERGE,
        primary_key=KEY,
        columns=COLUMNS,
    )


def add_variant(route: DltResource) -> None:
    """Lets `route` yield rejected rows, `dlt.mark.with_table_name(rows, TABLE)`, with this
    table's hints only: a table variant otherwise starts from the resource's own hints, and
    Infinity's (`row_id` BIGINT NOT NULL, the typed trigger columns) would land in it."""
    route.apply_hints(table_name=TABLE, columns={}, create_table_variant=True)
    route.apply_hints(
        table_name=TABLE,
        write_disposition=MERGE,
        primary_key=KEY,
        columns=COLUMNS,
        create_table_variant=True,
    )
