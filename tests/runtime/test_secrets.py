"""No secret or token is written anywhere: files, output or warehouse, after runs that succeed
and runs that fail with wrong credentials, for every source and target, and after a target
echoed the key in its error (the run history `ops.runs`, runs.jsonl and the delivery attempts
included).

Each run is the real CLI in its own process with its own HOME and TMPDIR, so everything dlt or
the project writes (trace.pickle, state, load packages, logs, runs.jsonl) is in one of the
folders searched. Files are read decoded: gzip, zlib, base64 (dlt's compressed state),
pickles and parquet, and the warehouse's every text value.
"""

from __future__ import annotations

import base64
import gzip
import io
import os
import pickle
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from helpers import cli_pythonpath

from emulators.footprints import FootprintsEmulator
from emulators.gameball import GameballEmulator
from emulators.infinity import InfinityEmulator
from emulators.owox import OwoxEmulator
from emulators.qubit import QubitEmulator
from emulators.scenario import Scenario
from emulators.server import Fault

# Distinct, long enough never to occur by chance; the wrong ones are secrets too: a mistyped
# password is usually one character away from the right one.
SECRETS = {
    "infinity_password": "inf-pass-5f1c9e0a77d2",
    "infinity_api_key": "inf-key-8b2d41c6e90f",
    "footprints_client_key": "fp-key-3a9e77d10c54",
    "footprints_client_secret": "fp-secret-c4d8e2a61b37",
    "footprints_pin": "fp-pin-90417263",
    "footprints_password": "fp-pass-e7a3b9c2d145",
    "gameball_api_key": "gb-key-1d6f0e9a8c72",
}
WRONG = {name: value.replace("-", "-WRONG-", 1) for name, value in SECRETS.items()}
INFINITY_USER = "ops@infinity.example"
FOOTPRINTS_USER = "ops@footprints.example"


@dataclass
class World:
    infinity: InfinityEmulator
    crm: FootprintsEmulator
    qubit: QubitEmulator
    owox: OwoxEmulator
    gameball: GameballEmulator
    root: Path
    output: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    @property
    def warehouse(self) -> Path:
        return self.root / "work" / "data" / "warehouse.duckdb"

    def sync(self, *, expect: int, **overrides: str) -> None:
        """`python -m pipelines sync` with the right settings, changed by `overrides`."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SOURCES__", "DESTINATION__", "SYNC__", "MODELS__", "PUSH__"))
        }
        settings = {
            "SOURCES__INFINITY__BASE_URL": f"{self.infinity.url}/reports/v2",
            "SOURCES__INFINITY__IGRP": self.infinity.igrp,
            "SOURCES__INFINITY__USERNAME": INFINITY_USER,
            "SOURCES__INFINITY__PASSWORD": SECRETS["infinity_password"],
            "SOURCES__FOOTPRINTS__BASE_URL": self.crm.url,
            "SOURCES__FOOTPRINTS__CLIENT_KEY": SECRETS["footprints_client_key"],
            "SOURCES__FOOTPRINTS__CLIENT_SECRET": SECRETS["footprints_client_secret"],
            "SOURCES__FOOTPRINTS__START_DATE": str(SCENARIO.first_day),
            "MODELS__CURRENCY": "RON",
            "DESTINATION__QUBIT__BASE_URL": self.qubit.url,
            "DESTINATION__QUBIT__TRACKING_ID": self.qubit.tracking_id,
            "DESTINATION__OWOX__ENDPOINT": self.owox.url,
            "DESTINATION__OWOX__TID": self.owox.tid,
            "DESTINATION__GAMEBALL__BASE_URL": self.gameball.base_url,
            "DESTINATION__GAMEBALL__API_KEY": SECRETS["gameball_api_key"],
            "HTTP__MIN_RETRY_DELAY_SECONDS": "0.1",
            "HTTP__MAX_RETRY_DELAY_SECONDS": "0.2",
            "HTTP__MAX_ATTEMPTS": "2",
            "PUSH__MAX_ATTEMPTS": "1",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        settings.update(overrides)
        env.update(settings)
        env.update(
            HOME=str(self.root / "home"),
            TMPDIR=str(self.root / "tmp"),
            PYTHONPATH=cli_pythonpath(),
        )
        # data/pipelines and data/warehouse.duckdb: the defaults, under the run's folder.
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "sync"],
            cwd=self.root / "work",
            env={k: v for k, v in env.items() if v != ""},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            out, _ = process.communicate(timeout=240)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.output.append(out)
        assert process.returncode == expect, out
        # After every run: a later one may overwrite what this one wrote (dlt's trace).
        run = len(self.output)
        self.found += [
            f"after run {run}, {where}" for where in _leaks(self, self.crm.issued_tokens)
        ]


SCENARIO = Scenario(runs=(datetime.now(UTC),), triggers=400, leads=120, days=20)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    for folder in ("home", "tmp", "work"):
        (tmp_path / folder).mkdir()
    with (
        InfinityEmulator(
            username=INFINITY_USER,
            password=SECRETS["infinity_password"],
            api_key=SECRETS["infinity_api_key"],
        ) as infinity,
        FootprintsEmulator(
            client_key=SECRETS["footprints_client_key"],
            client_secret=SECRETS["footprints_client_secret"],
            pin=SECRETS["footprints_pin"],
            username=FOOTPRINTS_USER,
            password=SECRETS["footprints_password"],
        ) as crm,
        QubitEmulator() as qubit,
        OwoxEmulator() as owox,
        GameballEmulator(api_key=SECRETS["gameball_api_key"]) as gameball,
    ):
        SCENARIO.serve(infinity, crm)
        yield World(infinity, crm, qubit, owox, gameball, tmp_path)


def test_secrets_appear_in_no_file_output_or_warehouse_value(world: World) -> None:
    # Succeeding: basic auth and client credentials; the API key and the pin grant.
    world.sync(expect=0)
    world.sync(
        expect=0,
        SOURCES__INFINITY__PASSWORD="",
        SOURCES__INFINITY__API_KEY=SECRETS["infinity_api_key"],
        SOURCES__FOOTPRINTS__GRANT_TYPE="pin",
        SOURCES__FOOTPRINTS__PIN=SECRETS["footprints_pin"],
    )
    # Failing: every secret wrong, one source or target at a time where a failure stops
    # the others.
    world.sync(
        expect=1,
        SOURCES__INFINITY__PASSWORD=WRONG["infinity_password"],
        SOURCES__FOOTPRINTS__CLIENT_KEY=WRONG["footprints_client_key"],
        SOURCES__FOOTPRINTS__CLIENT_SECRET=WRONG["footprints_client_secret"],
    )
    world.sync(
        expect=1,
        SOURCES__INFINITY__PASSWORD="",
        SOURCES__INFINITY__API_KEY=WRONG["infinity_api_key"],
        SOURCES__FOOTPRINTS__GRANT_TYPE="pin",
        SOURCES__FOOTPRINTS__PIN=WRONG["footprints_pin"],
    )
    world.sync(
        expect=1,
        SOURCES__FOOTPRINTS__GRANT_TYPE="password",
        SOURCES__FOOTPRINTS__USERNAME=FOOTPRINTS_USER,
        SOURCES__FOOTPRINTS__PASSWORD=WRONG["footprints_password"],
    )
    # Failing after the token was issued, with it in every URL: answers of 500, then dropped
    # connections (requests' errors carry the whole URL, query string included).
    for fault in (
        Fault(status=500, times=1_000, path_contains="/api/lead?"),
        Fault(drop_connection=True, times=1_000, path_contains="/api/lead?"),
    ):
        world.crm.add_fault(fault)
        world.sync(expect=1)
        world.crm.clear_faults()
    # Sources right (the password grant too), Gameball's key wrong: the push fails.
    world.crm.change_status(_open_lead_with_player(world), "customer", datetime.now(UTC))
    world.sync(
        expect=1,
        SOURCES__FOOTPRINTS__GRANT_TYPE="password",
        SOURCES__FOOTPRINTS__USERNAME=FOOTPRINTS_USER,
        SOURCES__FOOTPRINTS__PASSWORD=SECRETS["footprints_password"],
        DESTINATION__GAMEBALL__API_KEY=WRONG["gameball_api_key"],
    )
    # Gameball refuses the right key and echoes it: the summary, the run history and the
    # delivery attempts carry its words, redacted.
    world.crm.change_status(_open_lead_with_player(world), "customer", datetime.now(UTC))
    echoed = f"APIKey {SECRETS['gameball_api_key']} is not valid for this account"
    world.gameball.add_fault(Fault(status=401, body={"message": echoed}))
    world.sync(expect=1)

    # The runs did what they were meant to: loaded, pushed, and failed where told to.
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        delivered = con.execute(
            "select target, count(*) from outbound.deliveries where status = 'sent' group by 1"
        ).fetchall()
        runs = con.execute("select status, notes from ops.runs order by started_at").fetchall()
        echoes = con.execute(
            "select count(*) from outbound.delivery_attempts where message like '%APIKey *** is%'"
        ).fetchall()
    assert {target for target, n in delivered if n} == {"qubit", "owox", "gameball"}
    assert "gameball FAILED: Gameball refused the request (HTTP 401" in world.output[-2]
    refused = "Gameball refused the request (HTTP 401: APIKey *** is not valid for this account)"
    assert refused in world.output[-1]
    assert len(runs) == len(world.output) and refused in runs[-1][1]
    assert echoes == [(1,)]
    assert all("FAILED" in out for out in world.output[2:7])
    assert len(world.crm.issued_tokens) >= 6
    assert (world.root / "work" / "data" / "pipelines" / "infinity" / "trace.pickle").exists()

    assert world.found == [], "\n".join(world.found)


def _open_lead_with_player(world: World) -> str:
    """A loaded lead, still open, with a customer profile: once a customer, Gameball has a
    conversion of it to send."""
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        ((lead_id,),) = con.execute(
            "select id from footprints.leads where status = 'lead' and client_id is not null "
            "order by id limit 1"
        ).fetchall()
    return str(lead_id)


def _leaks(world: World, tokens: list[str]) -> list[str]:
    """Where a secret or token was found in what the runs so far wrote or printed."""
    needles = _needles(tokens)
    return sorted(
        {
            f"{where}: {name}"
            for where, text in _everything_written(world)
            for name, needle in needles.items()
            if needle in text
        }
    )


def _needles(tokens: list[str]) -> dict[str, bytes]:
    needles = {f"secret {name}": value for name, value in SECRETS.items()}
    needles |= {f"wrong {name}": value for name, value in WRONG.items()}
    needles |= {f"token {n}": token for n, token in enumerate(tokens)}
    # As they would travel in a basic-auth header.
    for password in (SECRETS["infinity_password"], WRONG["infinity_password"]):
        pair = f"{INFINITY_USER}:{password}".encode()
        needles[f"basic auth {password}"] = base64.b64encode(pair).decode()
    return {name: value.encode() for name, value in needles.items()}


def _everything_written(world: World) -> Iterator[tuple[str, bytes]]:
    for n, out in enumerate(world.output, start=1):
        yield f"output of run {n}", out.encode()
    for folder in ("home", "tmp", "work"):
        for path in sorted((world.root / folder).rglob("*")):
            if path.is_file():
                for text in _decoded(path.read_bytes()):
                    yield str(path.relative_to(world.root)), text
    for where, value in _warehouse_texts(world.warehouse):
        for text in _decoded(value.encode()):
            yield where, text


def _decoded(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """`data`, and what it holds under every encoding dlt or the project might use."""
    yield data
    if depth > 3 or len(data) < 8:
        return
    inner: list[bytes] = []
    if data[:2] == b"\x1f\x8b":
        inner.append(_quietly(gzip.decompress, data))
    if data[:1] == b"\x78":
        inner.append(_quietly(zlib.decompress, data))
    if data[:4] == b"PAR1":
        table = _quietly(lambda d: pq.read_table(io.BytesIO(d)), data)
        if table is not None:
            inner.append(repr(table.to_pylist()).encode())
    if data[:1] == b"\x80":
        loaded = _quietly(pickle.loads, data)
        if loaded is not None:
            inner.append(repr(_plain(loaded)).encode())
    stripped = data.strip()
    if stripped and len(stripped) % 4 == 0 and stripped.isascii() and b" " not in stripped:
        inner.append(_quietly(lambda d: base64.b64decode(d, validate=True), stripped))
    for each in inner:
        if each:
            yield from _decoded(each, depth + 1)


def _plain(value: object, depth: int = 0) -> object:
    """Everything a pickled object holds, down to its attributes' values."""
    if depth > 12:
        return repr(value)
    if isinstance(value, dict):
        return {repr(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1) for v in value]
    if hasattr(value, "__dict__"):
        return {"repr": repr(value), **_plain(vars(value), depth + 1)}  # type: ignore[dict-item]
    if hasattr(value, "_asdict"):
        return _plain(value._asdict(), depth + 1)
    return value


def _quietly(function: Callable[[bytes], Any], data: bytes) -> Any:
    try:
        return function(data)
    except Exception:
        return None


def _warehouse_texts(path: Path) -> Iterator[tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR' or data_type like '%JSON%' or data_type like 'STRUCT%' "
            "or data_type like '%[]'"
        ).fetchall()
        for schema, table, column in columns:
            rows = con.execute(
                f'select distinct cast("{column}" as varchar) from "{schema}"."{table}" '
                f'where "{column}" is not null'
            ).fetchall()
            for (value,) in rows:
                yield f"{schema}.{table}.{column}", value
