"""Helpers the tests share: a workspace (warehouse file, settings by env), the CLI in- and
out-of-process, the emulator's request log, and the clock-travel environment."""

from __future__ import annotations

import contextlib
import glob
import io
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from emulators.infinity import InfinityEmulator
from pipelines.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
USERNAME, PASSWORD, API_KEY = "ops@example.com", "s3cret-Pa55word", "key-0123456789abcdef"


SITECUSTOMIZE_DIR = ROOT / "tests" / "faketime"


LIBFAKETIME_PATTERNS = (
    "/usr/lib/*-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)


INSTALL_HINT = (
    "libfaketime is needed to shift the clock of the CLI: `sudo apt-get install faketime` "
    "(Debian/Ubuntu; it provides {pattern})"
)


def libfaketime() -> str:
    """The preload library of libfaketime; the test fails (never skips) without it."""
    for pattern in LIBFAKETIME_PATTERNS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    pytest.fail(INSTALL_HINT.format(pattern=LIBFAKETIME_PATTERNS[0]), pytrace=False)


_OFFSET = re.compile(r"([+-][0-9]+(?:\.[0-9]+)?)([mhdy]?)")


_UNIT_SECONDS = {"": 1, "m": 60, "h": 3600, "d": 86_400, "y": 365 * 86_400}


def own_shift_seconds() -> float:
    """How far this process's own clock is shifted (the suite may itself run under faketime).

    Only relative offsets can be undone; anything else would put the CLI at an unknown time.
    """
    if "faketime" not in os.environ.get("LD_PRELOAD", ""):
        return 0.0
    spec = os.environ.get("FAKETIME", "").strip()
    match = _OFFSET.fullmatch(spec)
    if match is None:
        pytest.fail(
            f"this test process runs under libfaketime with FAKETIME={spec!r}; only a relative "
            "offset such as FAKETIME=+150d lets the tests shift the CLI to a chosen time",
            pytrace=False,
        )
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def shifted_env(at: datetime) -> dict[str, str]:
    """Environment that starts a Python process with its clock at `at` (UTC), moving on.

    A relative offset (so the process's own children agree), computed now: call this just
    before starting the process. Monotonic time is left alone, and sitecustomize.py replaces
    `time.sleep` (FINDINGS: "libfaketime 0.9.10 and Python sleeps").
    """
    real_now = datetime.now(UTC) - timedelta(seconds=own_shift_seconds())
    offset = math.ceil((at - real_now).total_seconds())  # never before `at`
    path = os.pathsep.join(p for p in (str(SITECUSTOMIZE_DIR), os.environ.get("PYTHONPATH")) if p)
    return {
        "LD_PRELOAD": libfaketime(),
        "FAKETIME": f"{offset:+d}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        # libfaketime's "monotonic fix" (on by default with glibc) makes the timed condition
        # wait behind CPython's GIL return at once: two busy threads ran 3-10x slower.
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
        "PYTHONPATH": path,
    }


def cli_pythonpath() -> str:
    """PYTHONPATH for a CLI process a test starts from another folder: the project first,
    and whatever was there kept (under `make test-shifted`, tests/faketime)."""
    return os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)


@dataclass
class Workspace:
    """One project checkout's worth of state: a warehouse file and dlt's working folder."""

    root: Path
    warehouse: Path
    env: dict[str, str]

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            # A missing table must be an error, not a Python variable of the same name.
            con.execute("set python_enable_replacements = false")
            return con.execute(sql).fetchall()

    def count(self, table: str = "infinity.triggers") -> int:
        """Rows in `table`, 0 when it (or the warehouse) does not exist yet."""
        if not self.warehouse.exists():
            return 0
        schema, name = table.split(".")
        exists = self.query(
            "select count(*) from information_schema.tables "
            f"where table_schema = '{schema}' and table_name = '{name}'"
        )[0][0]
        return self.query(f"select count(*) from {table}")[0][0] if exists else 0

    def row_ids(self, table: str = "infinity.triggers") -> list[int]:
        return [r[0] for r in self.query(f"select row_id from {table} order by row_id")]

    def run(self, *args: str) -> CliResult:
        """The CLI in this process (fast), with its output captured."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return CliResult(code, out.getvalue(), err.getvalue())

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """The CLI as its own process, as a scheduler would start it."""
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines", *args],
            cwd=self.root,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def trigger_requests(emulator: InfinityEmulator) -> list[dict[str, list[str]]]:
    """The query strings of every trigger request the emulator received, in order."""
    return [parse_qs(urlsplit(r.path).query) for r in emulator.requests if "/triggers/" in r.path]


def source_row_ids(emulator: InfinityEmulator, route: str = "callsGoalsTransactions") -> list[int]:
    """Ask the emulator itself (one big unauthenticated-by-client read) which rows a route has."""
    import requests

    response = requests.get(
        f"{emulator.url}/reports/v2/igrps/{emulator.igrp}/triggers/{route}",
        params={"format": "jsonarray", "limit": emulator.max_limit, "sort[]": "rowId-asc"},
        auth=(USERNAME, PASSWORD),
        timeout=30,
    )
    response.raise_for_status()
    ids = [int(row["rowId"]) for row in response.json()]
    assert len(ids) < emulator.max_limit, "test data set too large for one read"
    return ids
