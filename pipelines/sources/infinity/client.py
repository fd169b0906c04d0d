"""Infinity's HTTP side: a dlt RESTClient with keyset paging on rowId and NDJSON pages.

Reference: ../shared/api-docs/infinity-reports-api-v2-triggers.txt (paging, auth, errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from pipelines.runtime.http import error_excerpt, retrying_session, tries
from pipelines.runtime.settings import SyncError
from pipelines.sources.infinity.columns import (
    TYPED_FIELDS,
    rejected_row_id,
    type_triggers,
    typed_sql,
)
from pipelines.sources.infinity.ndjson import BrokenLine, ParsedPage, parse_page
from pipelines.sources.infinity.settings import InfinitySettings


@dataclass
class TriggerPage:
    """One page of a route as parsed: API field names, every value as the API sent it."""

    table: pa.Table
    broken: list[BrokenLine]
    repaired: int
    last_row_id: int | None


class RowIdPaginator(BasePaginator):
    """Keyset paging on rowId exactly as the reference describes, until an empty page."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def init_request(self, request: Request) -> None:
        self.update_request(request)

    def update_state(self, response: Response, data: list[TriggerPage] | None = None) -> None:
        page = data[0] if data else None
        if page is None or (page.table.num_rows == 0 and not page.broken):
            self._has_next_page = False
            return
        if page.last_row_id is None or page.last_row_id <= self.after:
            raise SyncError(
                f"Infinity paging cannot advance past rowId {self.after}: the page's lines "
                "carry no readable rowId. They were kept in infinity.rejected."
            )
        self.after = page.last_row_id

    def update_request(self, request: Request) -> None:
        request.params["filter[]"] = f"rowId-gt-value-{self.after}"


class TriggerClient(RESTClient):
    """RESTClient whose pages are newline-delimited JSON, typed into Arrow as they arrive."""

    def __init__(self, config: InfinitySettings) -> None:
        super().__init__(
            base_url=f"{config.base_url}/igrps/{config.igrp}",
            auth=config.auth,
            session=retrying_session(name="infinity"),
        )
        self.config = config
        # Pages are fetched and parsed in one thread and typed in another (`_prefetched`);
        # each has its own connection to the in-memory database.
        self._typing_db = duckdb.connect()
        self._paging_db = self._typing_db.cursor()

    def close(self) -> None:
        """Release the HTTP connections and the in-memory databases."""
        self.session.close()
        self._paging_db.close()
        self._typing_db.close()

    def extract_response(self, response: Response, data_selector: Any) -> list[TriggerPage]:
        # Checked here, after the session's retries, not in a response hook: hooks run
        # inside `send`, and raising there would stop 429s and 5xx from being retried.
        raise_for_infinity_status(response)
        parsed = parse_page(response.content)
        last_row_id = _last_row_id(parsed, self._paging_db)
        return [TriggerPage(parsed.table, parsed.broken, parsed.repaired, last_row_id)]

    def type_page(self, page: TriggerPage) -> pa.Table:
        """The page's rows typed for loading (see `type_triggers`)."""
        return type_triggers(page.table, self._typing_db, self.config.default_region)


def raise_for_infinity_status(response: Response) -> None:
    """Turn error responses into messages an operator can act on (no stack traces)."""
    if response.status_code < 400:
        return
    message = error_excerpt(response, limit=500)
    if response.status_code in (401, 403):
        raise SyncError(
            f"Infinity refused the credentials (HTTP {response.status_code}: {message}). "
            "Check sources.infinity.username/password [SOURCES__INFINITY__USERNAME, "
            "SOURCES__INFINITY__PASSWORD] or sources.infinity.api_key "
            "[SOURCES__INFINITY__API_KEY], and sources.infinity.igrp [SOURCES__INFINITY__IGRP]."
        )
    if response.status_code == 400:
        raise SyncError(
            f"Infinity rejected the request (HTTP 400): {message}. If it is about the row "
            "limit, lower sources.infinity.page_size [SOURCES__INFINITY__PAGE_SIZE]."
        )
    raise SyncError(
        f"Infinity answered HTTP {response.status_code} for {response.request.path_url} "
        f"from {tries(response)}: {message}"
    )


def _last_row_id(parsed: ParsedPage, con: duckdb.DuckDBPyConnection) -> int | None:
    """The highest rowId on the page, including lines that had to be set aside.

    Read with the same cast as the loaded `row_id` (see `type_triggers`), before the rest of
    the page is typed, so the next page can be requested meanwhile.
    """
    candidates = [rejected_row_id(b.text) for b in parsed.broken]
    if parsed.table.num_rows and "rowId" in parsed.table.column_names:
        con.register("row_ids", parsed.table.select(["rowId"]))
        try:
            ((highest,),) = con.execute(
                f"select max({typed_sql('rowId', TYPED_FIELDS['rowId'])}) from row_ids"
            ).fetchall()
        finally:
            con.unregister("row_ids")
        candidates.append(highest)
    known = [c for c in candidates if c is not None]
    return max(known) if known else None
