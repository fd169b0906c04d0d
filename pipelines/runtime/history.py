"""Run history: one row per `sync`, `extract`, `models` and `push` in `ops.runs`, with
`runs.jsonl` (in `sync.pipelines_dir`) as its local mirror.

Every run ends here (`runner.run`), the one that lost the sync lock (`busy`) and the one that
failed before it reached the warehouse too:

1. Its row is appended to runs.jsonl first, as one line in one write, so a run that cannot
   reach the warehouse still has it, and a run appending while another holds the lock cannot
   interleave with it.
2. Then, by a run holding the lock and not kept from the warehouse (`LOCAL_ONLY`), every line
   of runs.jsonl past the checkpoint `runs.offset` (the byte up to which every line is in
   `ops.runs`) is written to `ops.runs`: the rows of those run ids deleted and inserted, in
   one transaction (a script transaction per chunk on BigQuery). The checkpoint then moves
   to the end of what was written.

Exactly once: a row is only ever replaced by the row of its own run id, so a run killed
between the two writes, or between the warehouse write and the checkpoint, leaves lines the
next run writes again over themselves. Two runs writing the same lines end the same way.
Cheap: the pending lines are read from the checkpoint on (a seek), not from the start of the
35,000 lines a 15-minute schedule appends in a year; a runs.jsonl rotated or truncated under
it is read from its start again. Lines from before run ids (older versions) get a stable id
from their text, so they are written once too.

Never in the way of the run: a failure to write either is one log line, and the rows wait
for the next run. Everything recorded is redacted first (`pipelines.runtime.redaction`);
`ops` is not a model schema and no model reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.runtime import redaction, warehouse
from pipelines.runtime.loading import pipelines_dir
from pipelines.runtime.lock import SyncBusy
from pipelines.runtime.report import RunReport, describe
from pipelines.runtime.warehouse import Warehouse, literal

RUNS_TABLE = "ops.runs"
RUNS_FILE = "runs.jsonl"
CHECKPOINT_FILE = "runs.offset"
# Runs that leave their row in runs.jsonl only: their settings are unusable (the warehouse's
# may be among them), another process holds the lock or the warehouse, the warehouse file is
# unusable, or a folder is full or read-only.
LOCAL_ONLY = frozenset({"settings", "busy", "warehouse", "storage"})
_TYPES = {
    "run_id": "varchar not null",
    "command": "varchar",
    "started_at": "timestamp",
    "finished_at": "timestamp",
    "seconds": "double",
    "status": "varchar",
    "error_kind": "varchar",
    "rows": "varchar",  # JSON: table -> rows loaded
    "rejected": "bigint",
    "repaired": "bigint",
    "cursors_before": "varchar",  # JSON: Infinity route -> rowId
    "cursors_after": "varchar",
    "model_mode": "varchar",
    "model_reason": "varchar",
    "push": "varchar",  # JSON: target -> counts
    "breaches": "varchar",  # JSON: a list of gate breaches
    "notes": "varchar",  # JSON: a list of texts
    "error": "varchar",
    "host": "varchar",
    "recorded_at": "timestamp",
}
COLUMNS = tuple(_TYPES)
# Quoted: `rows` is a reserved word in BigQuery.
_COLUMN_LIST = ", ".join(f'"{name}"' for name in COLUMNS)
# Rows per statement, and at most this much SQL per BigQuery script (its limit is 1 MB).
_ROWS_PER_STATEMENT = 200
_SCRIPT_CHARS = 400_000
# The tail of runs.jsonl read for the latest runs when the warehouse has none yet.
_TAIL_BYTES = 256 * 1024
log = logging.getLogger("pipelines")


def runs_file() -> Path:
    return pipelines_dir() / RUNS_FILE


def record(report: RunReport) -> None:
    """Record a finished run: runs.jsonl, then `ops.runs` (with every row still pending).

    The report's error and notes are redacted in place first, so the summary printed after
    this carries no secret either. Never raises: a failure is one log line.
    """
    try:
        redact = redaction.redactor()
        report.error = redact.optional(report.error)
        report.notes = [redact(note) for note in report.notes]
        # default=str: a gate's breach may carry a value SQL returned (a Decimal, a date).
        _append(runs_file(), json.dumps(redact.deep(_line(report)), default=str))
    except Exception as error:
        log.warning("run history: this run is not recorded (%s)", describe(error))
        return
    if report.error_kind not in LOCAL_ONLY:
        write_pending(redact=redact)


@contextmanager
def busy_recorded(report: RunReport) -> Iterator[None]:
    """Around taking the sync lock: a run that loses it is recorded (locally: the run that
    holds it has the warehouse) before `SyncBusy` goes on up."""
    try:
        yield
    except SyncBusy as busy:
        report.fail(busy)
        report.finished_at = datetime.now(UTC).isoformat()
        record(report)
        raise


def write_pending(redact: redaction.Redactor | None = None) -> int:
    """Write every run of runs.jsonl not yet in `ops.runs`; how many were written.

    Never raises: when the warehouse cannot be written, one log line, and the runs wait.
    """
    redact = redact or redaction.redactor()
    try:
        pending = read_pending()
        if pending.runs:
            with warehouse.connect(dataset=RUNS_TABLE.split(".")[0]) as db:
                # Lines of older versions were not redacted when written.
                _write(db, [redact.deep(run) for run in pending.runs])
        if pending.end != pending.start:
            _save_checkpoint(pending)
    except Exception as error:
        log.warning(
            "run history: %s not brought up to date (%s); runs.jsonl keeps the runs for the "
            "next run",
            RUNS_TABLE,
            redact(describe(error)),
        )
        return 0
    return len(pending.runs)


@dataclass
class Pending:
    """The runs of runs.jsonl past the checkpoint: bytes `start` to `end` of the file."""

    path: Path
    inode: int
    start: int
    end: int
    runs: list[dict[str, Any]]


def read_pending() -> Pending:
    """The lines past the checkpoint, parsed; a line cut short at the end waits for its end."""
    path = runs_file()
    if not path.exists():
        return Pending(path, 0, 0, 0, [])
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        inode, size = stat.st_ino, stat.st_size
        start = _checkpoint(path, inode, size)
        handle.seek(start)
        data = handle.read(size - start)
    complete = data[: data.rfind(b"\n") + 1]
    runs = []
    for line in complete.splitlines():
        if line.strip():
            run = _parsed(line)
            if run is None:
                log.warning("run history: an unreadable line in %s is left out", path)
            else:
                runs.append(run)
    return Pending(path, inode, start, start + len(complete), runs)


def recorded_ids(db: Warehouse, run_ids: Sequence[str]) -> set[str]:
    """Which of these run ids `ops.runs` has."""
    if not run_ids:
        return set()
    ids = ", ".join(literal(run_id) for run_id in run_ids)
    rows = db.query(f'select "run_id" from {RUNS_TABLE} where "run_id" in ({ids})')
    return {row[0] for row in rows}


def latest(db: Warehouse, limit: int) -> tuple[int, list[dict[str, Any]]] | None:
    """How many runs `ops.runs` has and its latest `limit`, newest first; None without it."""
    schema, table = RUNS_TABLE.split(".")
    if table not in db.tables(schema):
        return None
    rows = db.query(
        f"select {_COLUMN_LIST} from {RUNS_TABLE} order by started_at desc, recorded_at desc "
        f"limit {int(limit)}"
    )
    return db.count(RUNS_TABLE), [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def latest_local(limit: int) -> list[dict[str, Any]]:
    """The latest `limit` runs of runs.jsonl, newest first, read from its tail."""
    path = runs_file()
    if not path.exists():
        return []
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - _TAIL_BYTES))
        lines = handle.read().splitlines()
    if size > _TAIL_BYTES:
        lines = lines[1:]  # the first may be cut
    runs = [run for run in map(_parsed, lines) if run is not None]
    return runs[::-1][:limit]


def _line(report: RunReport) -> dict[str, Any]:
    """The run's line in runs.jsonl: the report's record, its error kind and the host."""
    return {**report.as_record(), "error_kind": report.error_kind, "host": socket.gethostname()}


def _append(path: Path, line: str) -> None:
    """One line in one write (O_APPEND): lines of runs started at once never interleave. A
    file left without its last newline (a full disk) gets one first."""
    data = (line + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        os.write(fd, data)
    finally:
        os.close(fd)


def _parsed(line: bytes) -> dict[str, Any] | None:
    """One line as a run, with a run id (from its text when it has none); None if unreadable."""
    try:
        run = json.loads(line)
    except ValueError:
        return None
    if not isinstance(run, dict):
        return None
    run.setdefault("run_id", None)
    run["run_id"] = run["run_id"] or hashlib.md5(line.strip()).hexdigest()
    return run


def _checkpoint(path: Path, inode: int, size: int) -> int:
    """Where the unwritten lines start: 0 without a checkpoint, or when the file is not the
    one it was taken of (rotated, replaced) or is shorter now (truncated)."""
    try:
        saved = json.loads((path.parent / CHECKPOINT_FILE).read_text())
        if saved["inode"] == inode and 0 <= int(saved["offset"]) <= size:
            return int(saved["offset"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return 0


def _save_checkpoint(pending: Pending) -> None:
    checkpoint = pending.path.parent / CHECKPOINT_FILE
    temporary = checkpoint.with_suffix(".tmp")
    temporary.write_text(json.dumps({"inode": pending.inode, "offset": pending.end}))
    os.replace(temporary, checkpoint)


def _row(run: dict[str, Any], recorded_at: datetime) -> tuple[Any, ...]:
    """A run of runs.jsonl as a row of `ops.runs`. Every value is made its column's type or
    NULL: older lines lack fields, and a line edited by hand must not stop every later row."""
    rows: dict[str, Any] = run["rows"] if isinstance(run.get("rows"), dict) else {}
    rejected = sum(_number(n) or 0 for t, n in rows.items() if str(t).endswith("rejected"))
    error = _text(run.get("error"))
    return (
        str(run["run_id"]),
        _text(run.get("command")),
        parse_timestamp(run.get("started_at")),
        parse_timestamp(run.get("finished_at")),
        _number(run.get("seconds")),
        _text(run.get("status")) or ("failed" if error else "ok"),
        _text(run.get("error_kind")),
        json.dumps(rows, default=str),
        int(rejected),
        int(_number(run.get("repaired")) or 0),
        json.dumps(run.get("cursors_before") or {}, default=str),
        json.dumps(run.get("cursors") or {}, default=str),
        _text(run.get("model_mode")),
        _text(run.get("model_reason")),
        json.dumps(run.get("push") or {}, default=str),
        json.dumps(run.get("breaches") or [], default=str),
        json.dumps(run.get("notes") or [], default=str),
        error,
        _text(run.get("host")),
        recorded_at,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_timestamp(text: Any) -> datetime | None:
    """An ISO time of runs.jsonl as naive UTC (the warehouse's timestamps); None if unreadable."""
    try:
        stamp = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp


def _ensure(db: Warehouse) -> None:
    db.ensure_schemas([RUNS_TABLE.split(".")[0]])
    columns = ", ".join(f'"{name}" {kind}' for name, kind in _TYPES.items())
    db.execute(db.translate(f"create table if not exists {RUNS_TABLE} ({columns})"))


def _write(db: Warehouse, runs: list[dict[str, Any]]) -> None:
    """Each run's row over any row of its run id: one transaction (on BigQuery, one script
    transaction per chunk; a chunk written twice is still one row per run)."""
    _ensure(db)
    recorded_at = datetime.now(UTC).replace(tzinfo=None)
    latest_of = {run["run_id"]: run for run in runs}  # a line repeated by hand counts once
    values = [
        "(" + ", ".join(literal(value) for value in _row(run, recorded_at)) + ")"
        for run in latest_of.values()
    ]
    statements = [
        [
            f'delete from {RUNS_TABLE} where "run_id" in '
            f"({', '.join(literal(run_id) for run_id in ids)})",
            f"insert into {RUNS_TABLE} ({_COLUMN_LIST}) values {', '.join(chunk)}",
        ]
        for ids, chunk in _chunks(list(latest_of), values)
    ]
    if db.transactional:
        with db.transaction():
            for pair in statements:
                for statement in pair:
                    db.execute(statement)
        return
    for pair in statements:
        db.execute(db.script(pair))


def _chunks(ids: list[str], values: list[str]) -> Iterator[tuple[list[str], list[str]]]:
    """(run ids, their values) in chunks of at most `_ROWS_PER_STATEMENT` rows and about
    `_SCRIPT_CHARS` characters."""
    start = 0
    while start < len(values):
        end, chars = start, 0
        while end < len(values) and end - start < _ROWS_PER_STATEMENT:
            if end > start and chars + len(values[end]) > _SCRIPT_CHARS:
                break
            chars += len(values[end])
            end += 1
        yield ids[start:end], values[start:end]
        start = end
