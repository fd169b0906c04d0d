"""What a run did: rows per table, cursors, notes and the error, for the summary and the log.

An error is also sorted into the kind an operator acts on, which the CLI's exit code follows:
a setting, a busy lock or file, an unusable warehouse file, storage (a full disk, a folder
that cannot be written), or any other failure. dlt wraps what went wrong in its own
exceptions, so the cause is looked for along the whole chain, in our exceptions first and
then in the words of the operating system and DuckDB.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.runtime import causes, settings, storage, warehouse
from pipelines.runtime.settings import Busy, SyncError
from pipelines.runtime.storage import StorageError
from pipelines.runtime.warehouse import WarehouseUnusable


@dataclass
class RunReport:
    """What a run did, for the closing summary and the run log."""

    command: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None  # set when the run ends
    rows: Counter[str] = field(default_factory=Counter)
    repaired: int = 0
    cursors_before: dict[str, int] = field(default_factory=dict)  # route -> rowId at the start
    cursors: dict[str, int] = field(default_factory=dict)  # route -> rowId at the end
    model_mode: str | None = None  # "full" or "incremental"; None: no models built
    model_reason: str | None = None  # why full, or what changed
    # target -> counts of the push ("sent", "failed", "skipped", "unknown", ...)
    push: dict[str, dict[str, int]] = field(default_factory=dict)
    # data-quality gates breached: {"gate", "value", "threshold", "key", "message"}
    breaches: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    # "settings", "busy", "warehouse" (the file is unusable), "storage" or "failed"
    error_kind: str | None = None

    @property
    def status(self) -> str:
        """`ok`, `failed`, `gate_failed` or `busy`, as `ops.runs` records it."""
        if self.error_kind == "busy":
            return "busy"
        if self.error:
            return "failed"
        return "gate_failed" if self.breaches else "ok"

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def summary(self) -> str:
        """One paragraph an operator can read at 3 a.m."""
        loaded = sum(n for t, n in self.rows.items() if not t.endswith("rejected"))
        rejected_tables = sorted(t for t, n in self.rows.items() if t.endswith("rejected") and n)
        rejected = sum(self.rows[t] for t in rejected_tables)
        tables = ", ".join(f"{t} {n:,}" for t, n in sorted(self.rows.items())) or "none"
        head = (
            f"{self.command} FAILED after {self.seconds:.1f} s: {self.error}"
            if self.error
            else f"{self.command} finished in {self.seconds:.1f} s."
        )
        parts = [head, f"Rows loaded: {loaded:,} ({tables})."]
        if rejected:
            parts.append(
                f"{rejected:,} unreadable row(s) set aside in {', '.join(rejected_tables)} "
                "(raw text kept; see `python -m pipelines status`)."
            )
        else:
            parts.append("No rows rejected.")
        if self.repaired:
            parts.append(f"{self.repaired:,} line(s) with unescaped JSON repaired.")
        if self.cursors:
            parts.append(
                "Cursors: " + ", ".join(f"{r} at rowId {v}" for r, v in self.cursors.items()) + "."
            )
        parts += self.notes
        if self.error:
            parts.append("Everything loaded before the failure is kept; the next run resumes.")
        # A line per breached gate after the paragraph: its value, threshold and key.
        return "\n".join([" ".join(parts), *(breach["message"] for breach in self.breaches)])

    def fail(self, error: BaseException) -> None:
        self.error = describe(error)
        self.error_kind = error_kind(error)

    def as_record(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "command": self.command,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
            "status": self.status,
            "rows": dict(self.rows),
            "repaired": self.repaired,
            "cursors_before": self.cursors_before,
            "cursors": self.cursors,
            "model_mode": self.model_mode,
            "model_reason": self.model_reason,
            "push": self.push,
            "breaches": self.breaches,
            "notes": self.notes,
            "error": self.error,
        }


def find_cause(error: BaseException, kinds: tuple[type, ...]) -> BaseException | None:
    """The first exception of one of `kinds` in the chain dlt wrapped around it."""
    return next((e for e in causes.chain(error) if isinstance(e, kinds)), None)


def known_problem(error: BaseException) -> WarehouseUnusable | StorageError | None:
    """An unusable warehouse file or a storage failure behind `error`, however deep dlt
    wrapped it: raised by us, or told by the operating system's or DuckDB's words."""
    raised = find_cause(error, (WarehouseUnusable, StorageError))
    if isinstance(raised, WarehouseUnusable | StorageError):
        return raised
    # A full disk can make DuckDB call its file invalid as well: the disk is the cause.
    return storage.problem(error) or warehouse.unusable(error)


def error_kind(error: BaseException) -> str:
    """`settings`, `busy`, `warehouse`, `storage` or `failed`: what the operator acts on."""
    cause = find_cause(error, (settings.SettingError, Busy))
    if isinstance(cause, settings.SettingError):
        return "settings"
    if cause is not None:
        return "busy"
    problem = known_problem(error)
    if isinstance(problem, WarehouseUnusable):
        return "warehouse"
    return "failed" if problem is None else "storage"


def describe(error: BaseException) -> str:
    """The operator-facing message of an error: ours when we raised one, a storage or
    warehouse problem in its chain, else the root cause."""
    ours = find_cause(error, (SyncError, settings.SettingError))
    if ours is not None:
        return str(ours)
    problem = known_problem(error)
    if problem is not None:
        return str(problem)
    root = list(causes.chain(error))[-1]
    return f"{type(root).__name__}: {root}"
