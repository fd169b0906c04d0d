"""The data-quality gates: each measure (`pipelines.quality.measures`) against its threshold
(`pipelines.quality.settings`), one line per breached gate with the value, the threshold and
the key that sets it.

- `freshness_triggers`, `freshness_leads`: hours since the newest trigger (`trigger_datetime`)
  or lead (`created_at`) up to now; for each source this sync extracted.
- `volume`: calls today since 00:00 UTC, against the median of the same hours on each of the
  14 days before. Early in the UTC day the span is short and a few calls more or less make a
  large ratio, so the gate waits for a median of `min_baseline_calls`; a median of 0 is no
  baseline at all.
- `match_rate`: the share of the leads created in the last 24 h that matched a call, at least
  `min_match_rate`; `match_rate_drop`: at most `max_match_rate_drop` below the share of the 14
  days before. Both wait for `min_leads_for_match_rate` leads in each window; they need the
  models of this sync.
- `rejected_share_<source>`: rows this sync set aside in `<source>.rejected`, against every row
  it read from that source (nested child tables not counted twice), once it read
  `min_rows_for_rejected_share`: one unreadable line among the few rows of a quiet 15-minute
  run is no sign of a broken feed.
- `skipped_share_<target>`: outbound rows of the last 14 days with a `skip_reason`, for each
  configured target, once it has `min_rows_for_skipped_share` rows. Qubit and OWOX skip every
  lead that did not call first and every call without a web visitor id: nine rows in ten
  skipped is an ordinary day for some businesses. So the default flags only a target to which
  next to nothing can be sent (a missing currency, a misnamed custom field), over enough rows
  that it is not chance; `max_skipped_share_<target>` tightens it where skips are rare.

A gate that cannot judge (no data yet, too few rows to tell noise from a fault, no models
this run) never breaches; the summary says it was not checked, and why.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipelines.models.tables import RAW_LEADS, RAW_TRIGGERS
from pipelines.push import TARGETS
from pipelines.quality import measures
from pipelines.quality.settings import QualitySettings, Threshold
from pipelines.runtime import settings
from pipelines.runtime.warehouse import Warehouse

SCHEMAS = ("infinity", "footprints", "staging", "intermediate", "analytics", "outbound")


@dataclass(frozen=True)
class Breach:
    """A gate whose measure is past its threshold."""

    gate: str
    value: float
    threshold: Threshold
    message: str  # the line an operator reads: value, threshold and the key that sets it

    def record(self) -> dict[str, Any]:
        """As `RunReport.breaches` (and ops.runs) keep it."""
        return {
            "gate": self.gate,
            "value": round(self.value, 4),
            "threshold": self.threshold.value,
            "key": self.threshold.key,
            "message": self.message,
        }


@dataclass(frozen=True)
class RunFacts:
    """What the sync did before the gates: they judge only what it produced."""

    sources: tuple[str, ...]  # the sources extracted
    models_built: bool
    targets: tuple[str, ...]  # the configured push targets
    rows: Mapping[str, int] = field(default_factory=dict)  # table -> rows read this run


@dataclass
class GateReport:
    """What the gates found: the gates passed, the breaches, and the gates that could not judge."""

    passed: list[str] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # "gate (why)"

    def judge(
        self, gate: str, breached: bool, value: float, threshold: Threshold, line: str
    ) -> None:
        """Record a gate's outcome; `line` says the measure, the threshold is added here."""
        if not breached:
            self.passed.append(gate)
            return
        self.breaches.append(
            Breach(gate, value, threshold, f"Gate {gate} breached: {line} ({threshold.setting}).")
        )

    def summary(self) -> str:
        parts = [f"{len(self.passed)} passed"]
        if self.breaches:
            parts.append("breached: " + ", ".join(breach.gate for breach in self.breaches))
        if self.unchecked:
            parts.append("not checked: " + ", ".join(self.unchecked))
        return "Quality gates: " + "; ".join(parts) + "."


def check(db: Warehouse, config: QualitySettings, now: datetime, run: RunFacts) -> GateReport:
    """Every gate that is on and has what it needs, against `now` (aware, UTC)."""
    report = GateReport()
    tables = set(db.relations(SCHEMAS))
    if "infinity" in run.sources:
        newest = _newest(db, now, tables, RAW_TRIGGERS, "trigger_datetime")
        _freshness(report, now, "trigger", newest, config.max_hours_without_triggers)
        _volume(report, db, now, config, newest is not None)
    if "footprints" in run.sources:
        newest = _newest(db, now, tables, RAW_LEADS, "created_at")
        _freshness(report, now, "lead", newest, config.max_hours_without_leads)
    _match_rate(report, db, now, config, run.models_built)
    for source in run.sources:
        _rejected_share(report, source, run.rows, config)
    for target in run.targets:
        _skipped_share(report, db, now, config, target, run.models_built)
    return report


def _newest(
    db: Warehouse, now: datetime, tables: set[str], table: str, column: str
) -> datetime | None:
    return measures.latest(db, table, column, now) if table in tables else None


def _freshness(
    report: GateReport,
    now: datetime,
    what: str,
    newest: datetime | None,
    threshold: Threshold | None,
) -> None:
    if threshold is None:
        return
    gate = f"freshness_{what}s"
    if newest is None:
        report.unchecked.append(f"{gate} (no {what} loaded yet)")
        return
    hours = (now - newest).total_seconds() / 3600
    report.judge(
        gate,
        hours > threshold.value,
        hours,
        threshold,
        f"no new {what} for {hours:.1f} h (the newest is of {newest:%Y-%m-%d %H:%M} UTC); "
        f"threshold: at most {threshold.value:g} h",
    )


def _volume(
    report: GateReport, db: Warehouse, now: datetime, config: QualitySettings, loaded: bool
) -> None:
    threshold = config.min_volume_ratio
    if threshold is None:
        return
    if not loaded:
        report.unchecked.append("volume (no trigger loaded yet)")
        return
    volume = measures.call_volume(db, now)
    median = statistics.median(volume.earlier)
    by = f"by {now:%H:%M} UTC"
    if median == 0:
        report.unchecked.append(f"volume (no calls {by} on most of the 14 days before)")
        return
    if median < config.min_baseline_calls:
        report.unchecked.append(
            f"volume (the 14 days before had a median of {median:g} calls {by}, below "
            f"quality.min_baseline_calls {config.min_baseline_calls})"
        )
        return
    ratio = volume.today / median
    report.judge(
        "volume",
        ratio < threshold.value,
        ratio,
        threshold,
        f"{volume.today:,} calls today {by}, {ratio:.0%} of the median of the 14 days before "
        f"({median:g}) by the same time; threshold: at least {threshold.value:.0%}",
    )


def _match_rate(
    report: GateReport, db: Warehouse, now: datetime, config: QualitySettings, built: bool
) -> None:
    floor, drop = config.min_match_rate, config.max_match_rate_drop
    gates = [gate for gate, on in (("match_rate", floor), ("match_rate_drop", drop)) if on]
    if not gates:
        return
    if not built:
        report.unchecked += [f"{gate} (the models were not built)" for gate in gates]
        return
    rates = measures.match_rates(db, now)
    least = config.min_leads_for_match_rate
    if rates.recent_leads < max(least, 1):
        report.unchecked += [
            f"{gate} ({rates.recent_leads:,} leads created in the last 24 h, below "
            f"quality.min_leads_for_match_rate {least})"
            for gate in gates
        ]
        return
    recent = (
        f"{rates.recent:.1%} of the {rates.recent_leads:,} leads created in the last 24 h "
        "matched a call"
    )
    if floor is not None:
        report.judge(
            "match_rate",
            rates.recent < floor.value,
            rates.recent,
            floor,
            f"{recent}; threshold: at least {floor.value:.1%}",
        )
    if drop is None:
        return
    if rates.baseline_leads < max(least, 1):
        report.unchecked.append(
            f"match_rate_drop ({rates.baseline_leads:,} leads in the 14 days before the last "
            f"24 h, below quality.min_leads_for_match_rate {least})"
        )
        return
    fall = rates.baseline - rates.recent
    report.judge(
        "match_rate_drop",
        fall > drop.value,
        fall,
        drop,
        f"{recent}, {fall * 100:.1f} points below the 14 days before ({rates.baseline:.1%} of "
        f"{rates.baseline_leads:,}); threshold: at most {drop.value * 100:g} points",
    )


def _rejected_share(
    report: GateReport, source: str, rows: Mapping[str, int], config: QualitySettings
) -> None:
    threshold = config.max_rejected_share
    if threshold is None:
        return
    gate, rejected_table = f"rejected_share_{source}", f"{source}.rejected"
    rejected = rows.get(rejected_table, 0)
    # A child table (`customers__leads`) holds the nested lists of rows already counted.
    read = rejected + sum(
        n
        for table, n in rows.items()
        if table.startswith(f"{source}.") and table != rejected_table and "__" not in table
    )
    least = config.min_rows_for_rejected_share
    if read < max(least, 1):
        report.unchecked.append(
            f"{gate} ({read:,} rows read this run, below "
            f"quality.min_rows_for_rejected_share {least})"
        )
        return
    share = rejected / read
    report.judge(
        gate,
        share > threshold.value,
        share,
        threshold,
        f"{rejected:,} of the {read:,} rows read from {source} this run were set aside in "
        f"{rejected_table} ({share:.1%}; `python -m pipelines status` lists them); "
        f"threshold: at most {threshold.value:.1%}",
    )


def _skipped_share(
    report: GateReport,
    db: Warehouse,
    now: datetime,
    config: QualitySettings,
    target: str,
    built: bool,
) -> None:
    threshold = config.skipped_share(target)
    if threshold is None:
        return
    gate = f"skipped_share_{target}"
    if not built:
        report.unchecked.append(f"{gate} (the models were not built)")
        return
    found = measures.skipped_rows(db, TARGETS[target].table, now)
    least = config.min_rows_for_skipped_share
    if found.rows < max(least, 1):
        report.unchecked.append(
            f"{gate} ({found.rows:,} {target} rows in the last 14 days, below "
            f"quality.min_rows_for_skipped_share {least})"
        )
        return
    top = found.top_reason
    why = f", most for {top[0]} ({top[1]:,})" if top else ""
    report.judge(
        gate,
        found.share > threshold.value,
        found.share,
        threshold,
        f"{found.skipped:,} of the {found.rows:,} {target} rows of the last 14 days are skipped "
        f"({found.share:.1%}{why}); threshold: at most {threshold.value:.1%}",
    )


def configured_targets(names: tuple[str, ...]) -> tuple[str, ...]:
    """The targets the push will send to (the others are skipped, and so are their gates)."""
    return tuple(name for name in names if settings.any_set(TARGETS[name].required_keys))
