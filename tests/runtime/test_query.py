"""`python -m pipelines query`: SQL on the warehouse with the project's own duckdb."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
from helpers import cli_pythonpath


def _env(warehouse: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": cli_pythonpath(),
        "DESTINATION__DUCKDB__CREDENTIALS": str(warehouse),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }


def _warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema analytics")
        con.execute("create table analytics.conversions as select 'L1' as lead_id, 12.5 as value")
    return path


def _query(warehouse: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", "query", *args],
        input=stdin,
        env=_env(warehouse),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_query_prints_the_result_of_one_statement(tmp_path: Path) -> None:
    result = _query(
        _warehouse(tmp_path), "select lead_id, value * 2 as doubled from analytics.conversions"
    )

    assert result.returncode == 0, result.stderr
    assert "lead_id" in result.stdout and "L1" in result.stdout and "25.0" in result.stdout


def test_query_reads_a_script_goes_on_after_an_error_and_writes_nothing(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    script = (
        "select count(*) as n\nfrom analytics.conversions;\n"
        "select nope;\n"
        "delete from analytics.conversions;\n"
        ".tables\n"
    )
    result = _query(warehouse, stdin=script)

    assert result.returncode == 1
    assert 'Binder Error: Referenced column "nope" was not found' in result.stdout
    assert "read-only" in result.stdout
    assert "analytics.conversions" in result.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from analytics.conversions").fetchone() == (1,)


def test_query_at_the_prompt_never_holds_the_warehouse(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "query"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(warehouse),
        text=True,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout])
        reader.start()
        process.stdin.write("select 'first' as marker;\n")
        process.stdin.flush()
        # The answer's box, five lines; bounded, so a prompt that never answers fails here.
        answer = [lines.get(timeout=30) for _ in range(5)]
        assert any("first" in line for line in answer), answer
        # The prompt waits for its next statement: a sync can write meanwhile.
        with duckdb.connect(str(warehouse)) as con:
            con.execute("insert into analytics.conversions values ('L2', 1.0)")
        process.stdin.write("select count(*) as leads from analytics.conversions;\n")
        process.stdin.close()
        assert process.wait(timeout=30) == 0
        reader.join(timeout=30)
        rest = "".join(lines.queue)
        assert "│     2 │" in rest, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_query_names_the_setting_when_there_is_no_warehouse(tmp_path: Path) -> None:
    result = _query(tmp_path / "missing.duckdb", "select 1")

    assert result.returncode == 1
    assert f"No warehouse at {tmp_path / 'missing.duckdb'} yet" in result.stderr
    assert "destination.duckdb.credentials [DESTINATION__DUCKDB__CREDENTIALS]" in result.stderr
