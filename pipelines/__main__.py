"""Command line: `python -m pipelines sync | extract <source> | models | push | status | query |
report | demo`.

Exit codes: 0 success, 1 the run failed, 2 a setting is missing or invalid, 3 another sync
is running or the warehouse stayed held, 4 a data-quality gate was breached, 5 the warehouse
file is unusable (damaged, not a DuckDB database, or written by a newer DuckDB), 6 storage: a
folder the run writes (the warehouse's, the pipelines folder) is full, read-only or cannot be
created. Every run ends with a one-paragraph summary; a command that cannot start says why in
one sentence. Tracebacks never reach the output: they go to the debug log
(`pipelines.runtime.logs`), which a failure names.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from pipelines.push import TARGETS
from pipelines.runtime import logs, runner, settings, storage, warehouse
from pipelines.runtime.report import describe, error_kind
from pipelines.sources.infinity.settings import Backfill

EXIT_FAILED, EXIT_SETTINGS, EXIT_BUSY, EXIT_GATE, EXIT_WAREHOUSE, EXIT_STORAGE = 1, 2, 3, 4, 5, 6
EXIT_CODES = {
    "failed": EXIT_FAILED,
    "settings": EXIT_SETTINGS,
    "busy": EXIT_BUSY,
    "warehouse": EXIT_WAREHOUSE,
    "storage": EXIT_STORAGE,
}
# Failures that say all there is to say: no traceback is worth pointing at.
_SELF_EXPLAINED = ("settings", "busy")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sync", help="extract every source, build the models, push the conversions")
    extract = commands.add_parser("extract", help="extract one source")
    extract.add_argument("source", choices=runner.SOURCES)
    extract.add_argument(
        "--start-date", type=date.fromisoformat, help="infinity only: backfill from (Y-m-d)"
    )
    extract.add_argument("--end-date", type=date.fromisoformat, help="backfill to, inclusive")
    extract.add_argument("--tz", default="UTC", help="time zone of the backfill dates")
    models = commands.add_parser(
        "models", help="build the SQL models in sql/ (staging to outbound)"
    )
    models.add_argument(
        "--full", action="store_true", help="rebuild every model from all rows, not only changes"
    )
    push = commands.add_parser("push", help="deliver the outbound rows to the targets")
    push.add_argument("target", nargs="?", choices=tuple(TARGETS), help="default: every one")
    push.add_argument(
        "--dry-run", action="store_true", help="send nothing; write the requests to data/dry-run"
    )
    commands.add_parser("status", help="cursors, row counts, rejected rows, deliveries, last run")
    query = commands.add_parser(
        "query", help="SQL on the DuckDB warehouse (read-only): one statement, or a prompt"
    )
    query.add_argument("sql", nargs="?", help="the statement; without it, a prompt (or stdin)")
    report = commands.add_parser(
        "report", help="one self-contained HTML file with charts of the last days (offline)"
    )
    report.add_argument(
        "--days", type=_days, default=30, help="the UTC days up to today to chart (default 30)"
    )
    report.add_argument(
        "--out", type=Path, default=Path("data/report.html"), help="default: data/report.html"
    )
    demo = commands.add_parser("demo", help="the whole flow against bundled emulators")
    demo.add_argument("--rows", type=int, default=50_000, help="triggers in the demo data set")
    return parser


def _query(sql: str | None) -> int:
    from pipelines.runtime.query import prompt, run_statement

    if warehouse.kind() != "duckdb":
        raise settings.SettingError(
            warehouse.WAREHOUSE_KEY, "is bigquery: query BigQuery with its own console or bq"
        )
    path = warehouse.duckdb_path()
    if not path.exists():
        if _storage_check():  # what keeps a sync from creating it
            return EXIT_STORAGE
        print(
            f"No warehouse at {path} yet: run a sync first, or set "
            f"{warehouse.CREDENTIALS_KEY} [{settings.env_name(warehouse.CREDENTIALS_KEY)}].",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if sql is None:
        code = prompt(path)
    else:
        code = 0 if run_statement(path, sql, sys.stdout) else EXIT_FAILED
    return code or _storage_check()


def _days(text: str) -> int:
    """--days: a whole number of days, 1 to 3660."""
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= 3660:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 3660, got {text!r}")
    return days


def _report(days: int, out: Path) -> int:
    from pipelines.report import NoData, NotWritten, write_report

    try:
        path = write_report(days, out)
    except (NoData, NotWritten) as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    except settings.SettingError as error:
        print(error, file=sys.stderr)
        return EXIT_SETTINGS
    except settings.SyncError as error:  # a sync holds the DuckDB file
        print(error, file=sys.stderr)
        return EXIT_BUSY
    print(f"Report of the last {days} days written to {path}")
    return 0


def _status() -> int:
    from pipelines.runtime.status import report

    print(report())
    return _storage_check()


def _storage_check() -> int:
    """After a read (`status`, `query`): 6 and the sentence when the next sync could not
    write (a full disk, a read-only folder), else 0."""
    problem = storage.check()
    if problem is None:
        return 0
    print(problem, file=sys.stderr)
    return EXIT_STORAGE


def _refused(command: str, error: Exception) -> int:
    """A command that could not run: one sentence on stderr, the traceback in the debug log."""
    kind = error_kind(error)
    message = describe(error)
    if kind not in _SELF_EXPLAINED:
        logs.record(error, f"{command} failed")
        message += logs.details()
    print(message, file=sys.stderr)
    return EXIT_CODES[kind]


def _backfill(args: argparse.Namespace) -> Backfill | None:
    if args.start_date is None and args.end_date is None:
        return None
    if args.start_date is None or args.end_date is None:
        raise settings.SettingError("--start-date/--end-date", "must be given together")
    if args.source != "infinity":
        raise settings.SettingError(
            "--start-date/--end-date",
            "only apply to infinity; Footprints re-reads sources.footprints.lookback_days",
        )
    return Backfill(args.start_date, args.end_date, args.tz)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # dlt sends usage telemetry unless told not to; customer data stays here.
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    logs.configure()
    logs.log.debug("python -m pipelines %s (pid %d)", " ".join(argv or sys.argv[1:]), os.getpid())
    try:
        return _command(args)
    except Exception as error:
        return _refused(args.command, error)


def _command(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from pipelines.demo import run_demo

        return run_demo(args.rows)
    if args.command == "query":
        return _query(args.sql)
    if args.command == "report":
        return _report(args.days, args.out)
    if args.command == "status":
        return _status()
    command = f"extract {args.source}" if args.command == "extract" else args.command
    if args.command == "sync":
        result = runner.run(command, models=True, targets=tuple(TARGETS))
    elif args.command == "models":
        command += " --full" * args.full
        result = runner.run(command, sources=(), models=True, full_models=args.full)
    elif args.command == "push":
        targets = (args.target,) if args.target else tuple(TARGETS)
        command = " ".join(["push", *targets[:1] * bool(args.target)])
        command += " --dry-run" * args.dry_run
        result = runner.run(command, sources=(), targets=targets, dry_run=args.dry_run)
    else:
        result = runner.run(command, sources=(args.source,), backfill=_backfill(args))
    if result.error_kind is None:
        print(result.summary())
        return EXIT_GATE if result.breaches else 0
    details = "" if result.error_kind in _SELF_EXPLAINED else logs.details()
    print(result.summary() + details)
    return EXIT_CODES.get(result.error_kind, EXIT_FAILED)


if __name__ == "__main__":
    logs.install_hooks()
    sys.exit(main())
