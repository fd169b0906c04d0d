"""Newline-delimited JSON pages into Arrow tables, repairing or setting aside broken lines.

The fast path hands the whole page to Arrow's C++ JSON reader. When a page holds a line that
is not valid JSON (the Infinity reference's own samples embed a JSON array in a string without
escaping its quotes), the page is read line by line: a line is repaired when an embedded JSON
value can be re-quoted so the field keeps its text verbatim, and otherwise returned as a
`BrokenLine` for the caller to store where someone can see it. Nothing is dropped.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

# Blocks smaller than a page (10,000 rows are ~20 MB) let Arrow parse on every core.
_READ_OPTIONS = pa_json.ReadOptions(block_size=4 << 20)
# A string value that opens like JSON: `"key":"[` or `"key": "{`
_EMBEDDED_JSON_START = re.compile(r'"\s*:\s*"(?=[\[{])')
_DECODER = json.JSONDecoder()


@dataclass
class BrokenLine:
    """A line that could not be read as JSON, kept verbatim with the parser's complaint."""

    text: str
    error: str


@dataclass
class ParsedPage:
    """One page: the rows as an Arrow table plus what had to be repaired or set aside."""

    table: pa.Table
    broken: list[BrokenLine] = field(default_factory=list)
    repaired: int = 0


def parse_page(body: bytes) -> ParsedPage:
    """Read a page of newline-delimited JSON objects."""
    if not body or body.isspace():  # not strip(): that copies the whole page
        return ParsedPage(pa.table({}))
    try:
        return ParsedPage(_read_arrow(body))
    except pa.ArrowInvalid:
        return _parse_line_by_line(body)


def _read_arrow(body: bytes) -> pa.Table:
    return pa_json.read_json(io.BytesIO(body), read_options=_READ_OPTIONS)


def _parse_line_by_line(body: bytes) -> ParsedPage:
    good: list[bytes] = []
    broken: list[BrokenLine] = []
    repaired = 0
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            orjson.loads(line)
            good.append(line)
            continue
        except orjson.JSONDecodeError as error:
            first_error = str(error)
        fixed = repair_line(line)
        if fixed is None:
            broken.append(BrokenLine(line.decode("utf-8", "replace"), first_error))
        else:
            good.append(fixed)
            repaired += 1
    table = _read_arrow(b"\n".join(good)) if good else pa.table({})
    return ParsedPage(table, broken, repaired)


def repair_line(line: bytes) -> bytes | None:
    """Re-quote JSON values embedded unescaped in string fields; None if that is not enough.

    `"notes":"[{"note": "x"}]"` becomes `"notes":"[{\\"note\\": \\"x\\"}]"`, so the field's
    value is exactly the text the API meant to send.
    """
    text = line.decode("utf-8", "replace")
    position = 0
    while True:
        try:
            return orjson.dumps(orjson.loads(text))
        except orjson.JSONDecodeError:
            pass
        match = _EMBEDDED_JSON_START.search(text, position)
        if match is None:
            return None
        start = match.end()
        position = start
        try:
            _, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if text[end : end + 1] != '"':
            continue
        quoted = json.dumps(text[start:end], ensure_ascii=False)
        text = text[: start - 1] + quoted + text[end + 1 :]
        position = start - 1 + len(quoted)
