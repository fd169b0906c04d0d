"""Progress output: a live line in a terminal, sparse log lines under a scheduler."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import TextIO

log = logging.getLogger("pipelines")


@dataclass
class PageReport:
    """What one page of a source contributed; a source passes it to `Progress.page`."""

    route: str
    rows: int
    rejected: int
    repaired: int
    last_row_id: int | None


class Progress:
    """Counts pages as they arrive and shows them the way the reader can take them in."""

    def __init__(self, stream: TextIO | None = None, log_every_seconds: float = 30.0) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.log_every = log_every_seconds
        self.rows: dict[str, int] = {}
        self.rejected = 0
        self.repaired = 0
        self._last_log = time.monotonic()

    def page(self, report: PageReport) -> None:
        self.rows[report.route] = self.rows.get(report.route, 0) + report.rows
        self.rejected += report.rejected
        self.repaired += report.repaired
        detail = f"infinity/{report.route}: {self.rows[report.route]:,} rows fetched"
        if report.last_row_id is not None:
            detail += f", at rowId {report.last_row_id}"
        self.update(detail)

    def update(self, detail: str) -> None:
        """Where a step is now: the live line, or a log line every `log_every_seconds`."""
        if self.live:
            self.stream.write(f"\r\033[K{detail}")
            self.stream.flush()
        elif time.monotonic() - self._last_log >= self.log_every:
            log.info(detail)
            self._last_log = time.monotonic()

    def step(self, message: str) -> None:
        """A milestone (a chunk loaded): always logged, after clearing a live line."""
        if self.live:
            self.stream.write("\r\033[K")
        log.info(message)
