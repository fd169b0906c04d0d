"""`python -m pipelines query [SQL]`: SQL on the DuckDB warehouse with the project's own duckdb.

PyPI's `duckdb-cli` is older than the duckdb this project pins and refuses its files ("version
number 69, but we can only read versions between 64 and 68"), so the prompt runs on the
installed package. Each statement opens the file read-only and closes it again: an idle
prompt never keeps a scheduled sync from writing. A warehouse that cannot be read at all (not
DuckDB, damaged, from a newer DuckDB) or a storage failure ends the command with that
problem's sentence, not with an SQL error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import duckdb

from pipelines.runtime.report import known_problem
from pipelines.runtime.warehouse import check_file

HELP = (
    "End each statement with ';'. `.tables` lists the tables, `.help` shows this, `.quit` "
    "(or Ctrl-D) leaves."
)
TABLES_SQL = (
    "select table_schema || '.' || table_name as table_name, table_type "
    "from information_schema.tables "
    "where table_schema not like '%staging' and table_name not like '\\_dlt%' escape '\\' "
    "order by 1"
)


def run_statement(warehouse: Path, sql: str, out: TextIO) -> bool:
    """Print the result of one statement; False (with the error printed) when it failed.

    Raises:
        WarehouseUnusable, StorageError: the file, or the disk, is the problem, not the SQL.
    """
    if sql.strip() in (".tables", ".tables;"):
        sql = TABLES_SQL
    check_file(warehouse)
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            relation = con.sql(sql)
            # DuckDB's own rendering: a box table that elides the middle of long results.
            print("OK" if relation is None else str(relation).rstrip("\n"), file=out, flush=True)
    except duckdb.Error as error:
        problem = known_problem(error)
        if problem is not None:
            raise problem from error
        print(f"Error: {error}", file=out, flush=True)
        return False
    return True


def statements(lines: Iterable[str]) -> Iterable[str]:
    """Statements from lines of input: up to a ';' at a line's end, or one dot command."""
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not pending and stripped.startswith("."):
            yield stripped
            continue
        if stripped:
            pending.append(line.rstrip("\n"))
        if stripped.endswith(";"):
            yield "\n".join(pending)
            pending = []
    if any(part.strip() for part in pending):
        yield "\n".join(pending)


def prompt(warehouse: Path, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """An interactive prompt (or a script on standard input); 1 if any statement failed."""
    interactive = stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())

        print(f"SQL on {warehouse} (read-only). {HELP}", file=out)
    failed = False
    for sql in statements(_lines(stdin, interactive)):
        if sql in (".quit", ".exit"):
            break
        if sql == ".help":
            print(HELP, file=out)
            continue
        failed |= not run_statement(warehouse, sql, out)
    return 1 if failed else 0


def _lines(stdin: TextIO, interactive: bool) -> Iterable[str]:
    if not interactive:
        yield from stdin
        return
    continuing = False
    while True:
        try:
            line = input("   ...> " if continuing else "duckdb> ")
        except EOFError:
            print()
            return
        stripped = line.strip()
        dot_command = not continuing and stripped.startswith(".")
        continuing = bool(stripped) and not stripped.endswith(";") and not dot_command
        yield line + "\n"
