"""`make demo`: a first full sync, then a second run that loads only the new calls."""

from __future__ import annotations

from conftest import Workspace

from pipelines.demo import WAREHOUSE


def test_demo_runs_twice_and_the_second_run_is_incremental(workspace: Workspace) -> None:
    first = workspace.run("demo", "--rows", "3000")
    workspace.warehouse = workspace.root / WAREHOUSE
    after_first = workspace.count()
    second = workspace.run("demo", "--rows", "3000")

    assert first.code == 0, first.output
    assert second.code == 0, second.output
    assert after_first > 1_000
    added = workspace.count() - after_first
    assert 0 < added <= 1_000
    assert f"Rows loaded: {added:,} (infinity.triggers {added:,})" in second.stdout
    assert "1 unreadable line(s) set aside" in first.stdout
    assert "2 line(s) with unescaped JSON repaired" in first.stdout
    assert "-- Repeat callers" in second.stdout and "caller_phone_e164" in second.stdout
    assert workspace.count("infinity.triggers_rejected") == 1
