"""What every benchmark prints: progress notes on stderr and its figures as a Markdown table."""

from __future__ import annotations

import sys


def note(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def markdown_table(rows: list[tuple[str, str]]) -> str:
    """Two columns, metric and value, padded so the table reads in a terminal too."""
    header = ("metric", "value")
    left = max(len(r[0]) for r in [header, *rows])
    right = max(len(r[1]) for r in [header, *rows])
    lines = [
        f"| {header[0]:<{left}} | {header[1]:<{right}} |",
        f"|{'-' * (left + 2)}|{'-' * (right + 2)}|",
    ]
    lines += [f"| {metric:<{left}} | {value:>{right}} |" for metric, value in rows]
    return "\n".join(lines)
