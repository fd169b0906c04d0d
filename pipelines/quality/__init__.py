"""Data-quality gates: a stage of every `sync`, after extract and the models, before the push.

`gates` says what each gate checks, `measures` how it is read from the warehouse, `settings`
the `[quality]` thresholds. A breached gate makes the run exit 4, prints one line per gate
(the summary's last lines), and is kept in the run's record (`RunReport.breaches`). With
`quality.block_push = true` the push waits: nothing is sent by a sync that breached a gate,
and the next sync that passes them all sends everything due, as the ledger has it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.quality.gates import GateReport, RunFacts, check, configured_targets
from pipelines.quality.settings import QualitySettings
from pipelines.runtime import warehouse
from pipelines.runtime.loading import wait_seconds
from pipelines.runtime.report import RunReport

HELD = (
    "Push held: a data-quality gate is breached and quality.block_push "
    "[QUALITY__BLOCK_PUSH] is true; the next sync that passes every gate sends it all."
)


def check_settings() -> None:
    """The `[quality]` settings, before any request of the run is made."""
    QualitySettings.from_config()


def gate_run(
    report: RunReport, sources: tuple[str, ...], models_built: bool, targets: tuple[str, ...]
) -> bool:
    """Check this sync's data; breaches go into `report`. True when the push must wait."""
    config = QualitySettings.from_config()
    facts = RunFacts(sources, models_built, configured_targets(targets), dict(report.rows))
    now = datetime.now(UTC)

    def measure() -> GateReport:
        with warehouse.connect() as db:
            return check(db, config, now, facts)

    result = warehouse.while_warehouse_free(measure, wait_seconds())
    report.breaches = [breach.record() for breach in result.breaches]
    report.notes.append(result.summary())
    return config.block_push and bool(result.breaches)
