"""`make demo`: a first full sync, then a second run that loads only the new calls and leads."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

from helpers import Workspace, shifted_env

from pipelines.demo import NEW_CUSTOMERS_PER_RUN, NEW_LEADS_PER_RUN, WAREHOUSE


def test_demo_runs_twice_and_the_second_run_is_incremental(workspace: Workspace) -> None:
    first = workspace.run("demo", "--rows", "3000")
    workspace.warehouse = workspace.root / WAREHOUSE
    after_first = workspace.count()
    leads_after_first = workspace.count("footprints.leads")
    first_loads = workspace.query("select max(load_id) from footprints._dlt_loads")[0][0]
    leads_first = {row[0] for row in workspace.query("select id from footprints.leads")}
    sent_first = _sent(workspace)
    second = workspace.run("demo", "--rows", "3000")

    assert first.code == 0, first.output
    assert second.code == 0, second.output
    assert after_first > 1_000
    added = workspace.count() - after_first
    assert 0 < added <= 1_000
    assert f"infinity.triggers {added:,}" in second.stdout
    assert "1 unreadable row(s) set aside" in first.stdout
    assert "2 line(s) with unescaped JSON repaired" in first.stdout
    assert "-- Repeat callers" in second.stdout and "caller_phone_e164" in second.stdout
    assert workspace.count("infinity.rejected") == 1
    # Footprints: new leads and recent leads that became customers, nothing else re-loaded.
    assert leads_after_first > 1_000
    added_leads = workspace.count("footprints.leads") - leads_after_first
    assert 0 < added_leads <= NEW_LEADS_PER_RUN
    reloaded = workspace.query(
        f"select id, status from footprints.leads where _dlt_load_id > '{first_loads}'"
    )
    old_reloaded = Counter(status for lead_id, status in reloaded if lead_id in leads_first)
    old_reloaded = sorted(old_reloaded.items())
    assert [status for status, _ in old_reloaded] == ["customer"]
    assert 0 < old_reloaded[0][1] <= NEW_CUSTOMERS_PER_RUN
    assert f"footprints.leads {added_leads + old_reloaded[0][1]:,}" in second.stdout
    called_first = workspace.query(
        "select count(distinct l.id) from footprints.leads as l join infinity.triggers as t "
        "on t.caller_phone_e164 = l.user_phone_e164"
    )[0][0]
    assert called_first > 0
    assert "-- Conversions and their value" in second.stdout
    # The models ran after the sync: matches, conversions and a batch per target.
    assert "Leads matched to a call:" in second.stdout
    assert "Outbound: qubit" in second.stdout
    assert workspace.count("analytics.call_lead_matches") > 0
    conversions = workspace.count("analytics.conversions")
    assert conversions > 0
    for target in ("qubit_events", "owox_hits", "gameball_events"):
        assert workspace.count(f"outbound.{target}") == conversions, target
    # The push: every sendable row delivered once; the second run sent only the new ones.
    sent_second = _sent(workspace)
    for target, table in (
        ("qubit", "qubit_events"),
        ("owox", "owox_hits"),
        ("gameball", "gameball_events"),
    ):
        sendable = (
            workspace.count(f"outbound.{table}")
            - workspace.query(f"select count(skip_reason) from outbound.{table}")[0][0]
        )
        assert sent_second[target] == sendable > sent_first[target] > 0, target
        assert f"{target}: {sent_second[target] - sent_first[target]:,} sent," in second.stdout
        assert f"{sent_first[target]:,} sent before" in second.stdout
    assert (
        f"The receivers took {sent_second['qubit'] - sent_first['qubit']:,} Qubit events, "
        f"{sent_second['owox'] - sent_first['owox']:,} OWOX hits and "
        f"{sent_second['gameball'] - sent_first['gameball']:,} Gameball events in this run."
    ) in second.stdout


def _sent(workspace: Workspace) -> dict[str, int]:
    rows = workspace.query(
        "select target, count(*) from outbound.deliveries where status = 'sent' group by target"
    )
    return dict(rows)


def test_demo_last_run_longer_ago_than_the_lookback_starts_over(workspace: Workspace) -> None:
    first = workspace.run("demo", "--rows", "3000")
    workspace.warehouse = workspace.root / WAREHOUSE
    triggers_first = workspace.count()
    later = datetime.now(UTC) + timedelta(days=40)
    process = subprocess.run(
        [sys.executable, "-m", "pipelines", "demo", "--rows", "3000"],
        cwd=workspace.root,
        env={**os.environ, **shifted_env(later)},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert first.code == 0, first.output
    assert process.returncode == 0, process.stdout + process.stderr
    assert "outside the 30-day lookback: starting the demo over." in process.stdout
    assert f"Demo run 1 at {later:%Y-%m-%d}" in process.stdout
    # One fresh world, anchored to the later day: nothing of the first one left.
    assert workspace.count() == triggers_first
    (newest,) = workspace.query("select max(trigger_datetime) from infinity.triggers")[0]
    assert newest.date() in (later.date(), (later - timedelta(days=1)).date())
    assert "Leads matched to a call:" in process.stdout
