"""The demo's warehouse for the report's tests: `make demo` run as its own process, twice."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import CliResult, Workspace, cli_pythonpath
from pipelines.demo import PIPELINES_DIR, REPORT, WAREHOUSE


@dataclass(frozen=True)
class Demo:
    root: Path
    warehouse: Path
    runs_log: Path
    report: Path  # the report the last demo run wrote
    outputs: tuple[str, ...]  # stdout of each run


def run_demo(root: Path, runs: int, rows: int = 3_000) -> Demo:
    """`python -m pipelines demo` `runs` times in `root`, as `make demo` starts it."""
    env = {**os.environ, "PYTHONPATH": cli_pythonpath(), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    outputs = []
    for _ in range(runs):
        run = subprocess.run(
            [sys.executable, "-m", "pipelines", "demo", "--rows", str(rows)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        outputs.append(run.stdout)
    return Demo(
        root, root / WAREHOUSE, root / PIPELINES_DIR / "runs.jsonl", root / REPORT, tuple(outputs)
    )


def report_cli(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path, out: Path, *args: str
) -> CliResult:
    """`python -m pipelines report --out <out> <args>` on the DuckDB file `warehouse`."""
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(warehouse))
    return Workspace(out.parent, warehouse, {}).run("report", "--out", str(out), *args)
