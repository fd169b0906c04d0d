"""Push: deliver the outbound rows to Qubit, OWOX BI and Gameball, each once, via the ledger.

For each configured target: read its outbound model (`outbound.<target>_...`) and its rows
of the ledger (`pipelines.push.ledger`), decide per row, send what is due, record every outcome.

Per row: a row with a `skip_reason` is recorded `skipped`; one already `sent` is never sent
again (if its payload changed since, the summary says so); a permanent failure waits for its
payload to change; a transient one is retried until `push.max_attempts`; anything else is
checked locally and sent.

What a crash between sending and recording can cause, and the order chosen for each target:

- Qubit de-duplicates on `transaction.id`: send first, record after. A crash leaves sent
  events unrecorded; the next run sends them again and Qubit keeps one. Nothing is lost.
- OWOX (Measurement Protocol) and Gameball count every request: record the intent
  (`sending`) first, then send, then record the outcome. A crash leaves `sending` rows; the
  next run records them as failed with `confirmed` false ("delivery unknown") and does not
  send them again, since a second copy would count the conversion twice. The summary lists
  them and the run fails, so an operator can check the target and, to send one again,
  delete its ledger row. At most one group of requests (`_REQUESTS_PER_GROUP` per worker)
  can be in that state.

Every ledger write carries the attempts behind it (`outbound.delivery_attempts`, with the
run's id): the intent, each request's outcome, a local refusal, a new skip, an interruption
found.

Requests run `push.max_workers` at a time on one pooled session per target.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dlt.destinations.exceptions import DatabaseUndefinedRelation
from requests import Session

from pipelines.push.delivery import (
    FAILED,
    SENDING,
    SENT,
    SKIPPED,
    Outcome,
    Pending,
    Target,
    TargetRefused,
    payload_hash,
)
from pipelines.push.ledger import (
    INTERRUPTED,
    LEDGER_TABLE,
    NOT_SENT,
    UNKNOWN,
    Attempt,
    Entry,
    Ledger,
)
from pipelines.push.targets.gameball import GameballTarget
from pipelines.push.targets.owox import OwoxTarget
from pipelines.push.targets.qubit import QubitTarget
from pipelines.runtime import redaction, settings, warehouse
from pipelines.runtime.settings import SettingError, SyncError
from pipelines.runtime.warehouse import Warehouse

# Typed as the protocol, so mypy checks that each target class conforms to `Target`.
TARGETS: dict[str, type[Target]] = {
    "qubit": QubitTarget,
    "owox": OwoxTarget,
    "gameball": GameballTarget,
}
# Requests per worker between two ledger writes: fewer writes against at most this many
# deliveries left unknown by a crash (targets that do not de-duplicate).
_REQUESTS_PER_GROUP = 8
INTERRUPTED_MESSAGE = (
    "the run stopped between sending and recording: delivery unknown; not sent again "
    "automatically because this target does not de-duplicate (delete this ledger row to send "
    "it again)"
)
log = logging.getLogger("pipelines")


@dataclass
class TargetReport:
    """What one target's push did."""

    target: str
    sent: int = 0
    failed: int = 0  # failed in this run, retried later or not
    retry_later: int = 0  # of those, transient
    unknown: int = 0  # of those, maybe delivered: never retried automatically
    interrupted: int = 0  # left `sending` by a crashed run, found now
    skipped: int = 0
    sent_before: int = 0
    held: int = 0  # failed in earlier runs and not due again
    changed: list[str] = field(default_factory=list)  # sent earlier, payload differs now
    would_send: int = 0  # dry run
    dry_run_file: Path | None = None
    error: str | None = None
    first_failure: str | None = None  # its message, for the summary

    def count(self, outcome: Outcome) -> None:
        if outcome.status == SENT:
            self.sent += 1
            return
        self.failed += 1
        self.first_failure = self.first_failure or outcome.message
        self.retry_later += outcome.retryable
        self.unknown += not outcome.confirmed

    @property
    def problem(self) -> bool:
        return bool(self.error or self.failed or self.interrupted)

    def counts(self) -> dict[str, int]:
        """The figures of this push, for the run history (`ops.runs`)."""
        names = ("sent", "failed", "retry_later", "unknown", "interrupted", "skipped")
        figures = {name: getattr(self, name) for name in names}
        return figures | {
            "sent_before": self.sent_before,
            "held": self.held,
            "changed": len(self.changed),
            "would_send": self.would_send,
        }

    def summary(self, dry_run: bool) -> str:
        if self.error:
            return f"{self.target} FAILED: {self.error}"
        if dry_run:
            parts = [f"{self.would_send:,} would be sent (written to {self.dry_run_file})"]
        else:
            parts = [f"{self.sent:,} sent"]
            if self.failed:
                detail = [f"{self.retry_later:,} will be retried"] if self.retry_later else []
                detail += [f"{self.unknown:,} delivery unknown"] if self.unknown else []
                groups = [", ".join(detail)] if detail else []
                if self.first_failure:
                    groups.append(f"first: {self.first_failure.rstrip('.')}")
                reasons = f" ({'; '.join(groups)})" if groups else ""
                parts.append(f"{self.failed:,} failed{reasons}")
        parts.append(f"{self.skipped:,} skipped")
        if self.sent_before:
            parts.append(f"{self.sent_before:,} sent before")
        if self.held:
            parts.append(f"{self.held:,} failed before, not due again")
        if self.interrupted:
            parts.append(f"{self.interrupted:,} interrupted by an earlier run (delivery unknown)")
        if self.changed:
            shown = ", ".join(self.changed[:3]) + (", ..." if len(self.changed) > 3 else "")
            parts.append(f"{len(self.changed):,} changed since sent, not re-sent ({shown})")
        return f"{self.target}: {', '.join(parts)}"


@dataclass
class PushReport:
    dry_run: bool = False
    targets: list[TargetReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problem(self) -> bool:
        return any(report.problem for report in self.targets)

    def summary(self) -> str:
        lines = [report.summary(self.dry_run) for report in self.targets] + self.notes
        head = "Push (dry run, nothing sent)" if self.dry_run else "Push"
        return f"{head}: " + "; ".join(lines) + "." if lines else f"{head}: nothing to do."


@dataclass(frozen=True)
class PushSettings:
    """Validated `[push]` settings; the defaults are the config spec's."""

    max_attempts: int
    max_workers: int
    dry_run_dir: Path

    @classmethod
    def from_config(cls) -> PushSettings:
        spec = settings.PushConfig
        raw = settings.resolve(spec)
        return cls(
            max_attempts=settings.bounded(spec, "max_attempts", raw.max_attempts, minimum=1),
            max_workers=settings.bounded(
                spec, "max_workers", raw.max_workers, minimum=1, maximum=64
            ),
            dry_run_dir=Path(raw.dry_run_dir).expanduser(),
        )


class PushFailed(SyncError):
    """Something was not delivered in this run; the summary says what."""


def configured_targets(names: Iterable[str], notes: list[str]) -> list[Target]:
    """The targets to push to: unconfigured ones skipped with a note, partial ones refused.

    Raises:
        SettingError: a target has some of its settings but not all, or an invalid one.
    """
    targets = []
    for name in names:
        kind = TARGETS[name]
        if not settings.any_set(kind.required_keys):
            notes.append(f"{name} is not configured ({', '.join(kind.required_keys)}): skipped")
            continue
        targets.append(kind.from_config())
    return targets


def check_settings(names: Iterable[str] = TARGETS) -> None:
    """Every push setting, before any request of the run is made."""
    PushSettings.from_config()
    configured_targets(names, [])


def push(
    names: Iterable[str] = TARGETS,
    *,
    dry_run: bool = False,
    destination: Any = None,
    on_progress: Callable[[str], None] | None = None,
    run_id: str | None = None,
) -> PushReport:
    """Deliver every due outbound row of the named targets.

    Args:
        names: Targets to push to (keys of `TARGETS`); unconfigured ones are skipped.
        dry_run: Send nothing and write nothing to the ledger; write each request that would
            be made to `<push.dry_run_dir>/<target>.jsonl`.
        destination: A dlt destination; default: the configured warehouse.
        on_progress: Called with a line of progress now and then.
        run_id: The run this push is part of, recorded with every delivery attempt.

    Returns:
        What happened per target. A target's failure (refused credentials, stale models) is
        in its report; the other targets still run.
    """
    config = PushSettings.from_config()
    report = PushReport(dry_run=dry_run)
    targets = configured_targets(names, report.notes)
    if not targets:
        return report
    redact = redaction.redactor()
    with warehouse.connect(destination, LEDGER_TABLE.split(".")[0]) as db:
        ledger = Ledger(db, run_id, redact.optional)
        if not dry_run:
            ledger.ensure()
        for target in targets:
            target_report = TargetReport(target.name)
            report.targets.append(target_report)
            try:
                _push_target(target, ledger, config, target_report, dry_run, on_progress)
            except (SyncError, SettingError) as error:
                target_report.error = redact(str(error))
            log.info("push %s", target_report.summary(dry_run))
    return report


def _push_target(
    target: Target,
    ledger: Ledger,
    config: PushSettings,
    report: TargetReport,
    dry_run: bool,
    on_progress: Callable[[str], None] | None,
) -> None:
    rows = _read_rows(ledger.db, target.table)
    if rows is None:
        raise SyncError(f"{target.table} is not built yet: run the models first")
    _check_unique_ids(target, rows)
    try:
        entries = ledger.entries(target.name)
    except DatabaseUndefinedRelation:  # a dry run before the first push
        entries = {}
    pending, decided = _plan(target, rows, entries, config.max_attempts, report)
    if dry_run:
        report.would_send = len(pending)
        report.dry_run_file = _write_dry_run(target, pending, config.dry_run_dir)
        return
    ledger.record(decided.entries, decided.attempts)
    _deliver(target, pending, entries, ledger, config.max_workers, report, on_progress)


def _check_unique_ids(target: Target, rows: list[dict[str, Any]]) -> None:
    """Refuse a table in which one outbound id is on two rows: the ledger keeps one row per
    id, so one of the two would be sent and the other lost, or both sent. Every build checks
    this (`pipelines.models.contracts`); this holds for a push on its own too, e.g. after a
    BigQuery build that failed its check had already replaced the table."""
    counts = Counter(row[target.id_column] for row in rows)
    repeated = sorted((i for i, n in counts.items() if n > 1), key=str)
    if repeated:
        raise SyncError(
            f"{target.table} has {len(repeated):,} {target.id_column} value(s) on more than "
            f"one row (e.g. {repeated[0]!r}, {counts[repeated[0]]} rows): nothing sent to "
            f"{target.name}. Rebuild the models (`python -m pipelines models --full`)."
        )


def _read_rows(db: Warehouse, table: str) -> list[dict[str, Any]] | None:
    """The outbound model's rows, oldest conversion first; None when it is not built."""
    try:
        return db.records(f"select * from {table} order by converted_at, lead_id")
    except DatabaseUndefinedRelation:
        return None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class _Writes:
    """Ledger rows and the attempts that left them so, for the next `Ledger.record`."""

    entries: list[Entry] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    def add(self, entry: Entry, outcome: str, at: datetime) -> None:
        self.entries.append(entry)
        self.attempts.append(Attempt.of(entry, outcome, at))


def _outcome_name(outcome: Outcome) -> str:
    """An answer as `outbound.delivery_attempts` names it."""
    if outcome.status == SENT:
        return SENT
    return FAILED if outcome.confirmed else UNKNOWN


def _entry(
    target: Target,
    outbound_id: str,
    lead_id: str | None,
    previous: Entry | None,
    outcome: Outcome | None,
    *,
    status: str | None = None,
    attempted: datetime | None = None,
    payload_digest: str | None = None,
) -> Entry:
    """The ledger row after an attempt (`attempted` set) or a decision without one."""
    attempts = (previous.attempts if previous else 0) + (attempted is not None)
    first = previous.first_attempt_at if previous else None
    return Entry(
        target=target.name,
        outbound_id=outbound_id,
        lead_id=lead_id,
        status=status or (outcome.status if outcome else SKIPPED),
        attempts=attempts,
        first_attempt_at=first or attempted,
        last_attempt_at=attempted or (previous.last_attempt_at if previous else None),
        http_status=outcome.http_status if outcome else None,
        message=outcome.message if outcome else None,
        payload_hash=payload_digest,
        retryable=bool(outcome and outcome.retryable),
        confirmed=outcome.confirmed if outcome else True,
    )


def _plan(
    target: Target,
    rows: list[dict[str, Any]],
    entries: dict[str, Entry],
    max_attempts: int,
    report: TargetReport,
) -> tuple[list[Pending], _Writes]:
    """What to send, and the ledger rows to write before sending (interruptions found,
    skips, local refusals) with their attempts."""
    pending: list[Pending] = []
    decided = _Writes()
    now = _now()
    for row in rows:
        outbound_id, lead_id = row[target.id_column], row.get("lead_id")
        entry = entries.get(outbound_id)
        if entry is not None and entry.status == SENDING:
            report.interrupted += 1
            interrupted = Outcome.unknown(INTERRUPTED_MESSAGE)
            digest = entry.payload_hash
            found = _entry(target, outbound_id, lead_id, entry, interrupted, payload_digest=digest)
            decided.add(found, INTERRUPTED, now)
            continue
        if entry is not None and entry.status == SENT:
            report.sent_before += 1
            if row["skip_reason"] is None and entry.payload_hash != payload_hash(
                target.payload(row)
            ):
                report.changed.append(outbound_id)
            continue
        if row["skip_reason"] is not None:
            report.skipped += 1
            skipped = Outcome(SKIPPED, message=row["skip_reason"])
            if entry is None or (entry.status, entry.message) != (SKIPPED, row["skip_reason"]):
                decided.add(_entry(target, outbound_id, lead_id, entry, skipped), SKIPPED, now)
            continue
        payload = target.payload(row)
        digest = payload_hash(payload)
        if (
            entry is not None
            and entry.status == FAILED
            and entry.payload_hash == digest
            and (not entry.retryable or entry.attempts >= max_attempts)
        ):
            report.held += 1
            continue
        problem = target.check(payload)
        if problem is not None:
            report.count(Outcome.permanent(problem))
            refused = _entry(
                target,
                outbound_id,
                lead_id,
                entry,
                Outcome.permanent(f"not sent: {problem}"),
                status=FAILED,
                payload_digest=digest,
            )
            decided.add(refused, NOT_SENT, now)
            continue
        pending.append(Pending(outbound_id, lead_id, payload, digest, row))
    return pending, decided


def _send(
    target: Target, session: Session, batch: list[Pending]
) -> tuple[list[Outcome], TargetRefused | None, datetime]:
    """One request's outcomes, the refusal that stops the target if any, and when it ended."""
    try:
        return target.send(session, batch), None, _now()
    except TargetRefused as refused:
        outcomes = [Outcome.transient(str(refused), refused.http_status)] * len(batch)
        return outcomes, refused, _now()


def _deliver(
    target: Target,
    pending: list[Pending],
    entries: dict[str, Entry],
    ledger: Ledger,
    workers: int,
    report: TargetReport,
    on_progress: Callable[[str], None] | None,
) -> None:
    """Send in groups, one ledger write per group (see the module for the order).

    A group's outcomes are written together with the next group's intent, in one
    transaction, before the next group is sent; the last group's after it. Each write
    carries its attempts: the intents when they were made, the outcomes when they came.
    """
    if not pending:
        return
    session = target.session()
    size = target.batch_size
    group_size = size * workers * _REQUESTS_PER_GROUP
    unwritten = _Writes()

    def attempt(item: Pending, attempted: datetime, outcome: Outcome | None) -> Entry:
        return _entry(
            target,
            item.outbound_id,
            item.lead_id,
            entries.get(item.outbound_id),
            outcome,
            status=None if outcome else SENDING,
            attempted=attempted,
            payload_digest=item.payload_hash,
        )

    with session, ThreadPoolExecutor(workers, thread_name_prefix=f"push-{target.name}") as pool:
        for start in range(0, len(pending), group_size):
            group = pending[start : start + group_size]
            attempted = _now()
            if not target.deduplicates:
                for item in group:
                    unwritten.add(attempt(item, attempted, None), SENDING, attempted)
            ledger.record(unwritten.entries, unwritten.attempts)
            unwritten, refused = _Writes(), None
            batches = [group[i : i + size] for i in range(0, len(group), size)]
            sent = pool.map(lambda batch: _send(target, session, batch), batches)
            for batch, (outcomes, batch_refused, answered) in zip(batches, sent, strict=True):
                refused = refused or batch_refused
                for item, outcome in zip(batch, outcomes, strict=True):
                    report.count(outcome)
                    done = attempt(item, attempted, outcome)
                    unwritten.add(done, _outcome_name(outcome), answered)
            if refused is not None:
                ledger.record(unwritten.entries, unwritten.attempts)
                raise refused
            if on_progress:
                on_progress(f"push {target.name}: {start + len(group):,} of {len(pending):,}")
        ledger.record(unwritten.entries, unwritten.attempts)


def _write_dry_run(target: Target, pending: list[Pending], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{target.name}.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for item in pending:
            line = {"outbound_id": item.outbound_id, "lead_id": item.lead_id}
            handle.write(json.dumps({**line, "request": target.preview(item)}) + "\n")
    return path
