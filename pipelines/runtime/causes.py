"""Walking the chain of exceptions dlt wraps around what went wrong.

dlt re-raises a failure inside its own exceptions (`PipelineStepFailed`, load job
exceptions), often several layers deep, so the cause an operator can act on is found by
walking `__cause__` / `__context__`. `raw` walks only what the operating system, DuckDB and
dlt said: a message we wrote, or one about an HTTP request, may quote anything (an API's
error body, an OS error of a socket), so neither it nor what it wraps is read for words
like "No space left on device".
"""

from __future__ import annotations

from collections.abc import Iterator

from requests import RequestException
from urllib3.exceptions import HTTPError as Urllib3Error

from pipelines.runtime.settings import SettingError, SyncError

# Exceptions whose words are not the storage's or the database's own.
_NOT_RAW = (SyncError, SettingError, RequestException, Urllib3Error)


def chain(error: BaseException | None) -> Iterator[BaseException]:
    """`error`, then what caused it (or was being handled when it was raised), and so on."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def raw(error: BaseException | None) -> Iterator[BaseException]:
    """The chain up to the first exception that is ours or about an HTTP request."""
    for cause in chain(error):
        if isinstance(cause, _NOT_RAW):
            return
        yield cause
