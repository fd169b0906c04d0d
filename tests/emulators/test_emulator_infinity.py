"""The Infinity emulator, over real HTTP: what a client relies on it to get right."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import orjson
import pytest
import requests

from emulators.infinity import InfinityEmulator
from emulators.infinity_data import (
    DEFAULT_FIRST_ROW_ID,
    ITEMISED_CALLS_SAMPLE_LINES,
    REFERENCE_SAMPLE_LINES,
    caller_pool,
    generate_triggers,
)
from emulators.server import Fault

AUTH = ("demo", "demo-pass")
API_KEY_HEADER = {"Authorization": "ApiKey demo-key"}
ROWS = 3000


@pytest.fixture(scope="module")
def triggers() -> list[dict[str, str]]:
    return generate_triggers(ROWS, seed=11)


@pytest.fixture
def emulator(triggers: list[dict[str, str]]) -> Iterator[InfinityEmulator]:
    emulator = InfinityEmulator(max_limit=1000)
    emulator.add_triggers(triggers)
    with emulator:
        yield emulator


@pytest.fixture
def empty_emulator() -> Iterator[InfinityEmulator]:
    with InfinityEmulator() as emulator:
        yield emulator


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = AUTH
        yield session


def triggers_url(emulator: InfinityEmulator, route: str = "all", version: str = "v2") -> str:
    return f"{emulator.url}/reports/{version}/igrps/1/triggers/{route}"


def json_lines(response: requests.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return [orjson.loads(line) for line in response.content.splitlines()]


def fetch(session: requests.Session, url: str, **params: object) -> list[dict[str, str]]:
    return json_lines(session.get(url, params={"format": "json", **params}))


def trigger(row_id: int, when: str, act: str = "call", **fields: str) -> dict[str, str]:
    return {"rowId": str(row_id), "triggerDatetime": when, "act": act, "goal": "0", **fields}


def test_keyset_paging_returns_every_row_once(
    emulator: InfinityEmulator, session: requests.Session, triggers: list[dict[str, str]]
) -> None:
    url = triggers_url(emulator)
    seen: list[str] = []
    last = 0
    while True:
        params = {"filter[]": f"rowId-gt-value-{last}", "sort[]": "rowId-asc"}
        page = fetch(session, url, limit=700, **params)
        if not page:
            break
        seen += [row["rowId"] for row in page]
        last = int(page[-1]["rowId"])

    expected = [row["rowId"] for row in triggers]
    assert seen == expected
    ids = [int(row_id) for row_id in seen]
    assert ids[0] == DEFAULT_FIRST_ROW_ID
    assert any(b - a > 1 for a, b in pairwise(ids)), "rowIds have gaps"
    # Five pages of 700 and the empty page that ends the loop.
    assert len(emulator.requests) == 6
    assert f"rowId-gt-value-{ids[-1]}" in emulator.requests[-1].path


def test_trigger_datetime_is_out_of_rowid_order(triggers: list[dict[str, str]]) -> None:
    stamps = [row["triggerDatetime"] for row in triggers]
    assert stamps != sorted(stamps)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["callDuration-gt-value-600"], lambda r: int(r["callDuration"]) > 600),
        (["callDuration-lt-value-60"], lambda r: int(r["callDuration"]) < 60),
        (["act-eq-value-callUser"], lambda r: r["act"] == "callUser"),
        # Not integers on both sides: compared as strings, which works for these datetimes.
        (["triggerDatetime-lt-value-2026-09-15"], lambda r: r["triggerDatetime"] < "2026-09-15"),
        (
            ["act-eq-value-call", "callDuration-gt-value-300", "ch-eq-value-3"],
            lambda r: r["act"] == "call" and int(r["callDuration"]) > 300 and r["ch"] == "3",
        ),
        (
            ["rowId-gte-value-141248000", "rowId-lte-value-141249000"],
            lambda r: 141248000 <= int(r["rowId"]) <= 141249000,
        ),
    ],
)
def test_filters_select_matching_rows(
    emulator: InfinityEmulator,
    session: requests.Session,
    triggers: list[dict[str, str]],
    filters: list[str],
    expected: Callable[[dict[str, str]], bool],
) -> None:
    wanted = [row["rowId"] for row in triggers if expected(row)]
    assert wanted, "the test data should contain matching rows"
    got = [row["rowId"] for row in fetch(session, triggers_url(emulator), **{"filter[]": filters})]
    assert got == wanted[:1000]


def test_filter_compares_integers_as_numbers(
    empty_emulator: InfinityEmulator, session: requests.Session
) -> None:
    empty_emulator.add_triggers(
        [
            trigger(8, "2026-10-01 10:00:00", callDuration="9"),
            trigger(9, "2026-10-01 10:00:00", callDuration="10"),
            trigger(10, "2026-10-01 10:00:00", callDuration="100"),
        ]
    )
    url = triggers_url(empty_emulator)
    by_row = fetch(session, url, **{"filter[]": "rowId-gt-value-8"})
    assert [row["rowId"] for row in by_row] == ["9", "10"]
    by_duration = fetch(session, url, **{"filter[]": "callDuration-gt-value-9"})
    assert [row["rowId"] for row in by_duration] == ["9", "10"]
    exact = fetch(session, url, **{"filter[]": "rowId-eq-value-10"})
    assert [row["rowId"] for row in exact] == ["10"]


def test_malformed_filter_is_a_bad_request(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    response = session.get(triggers_url(emulator), params={"filter[]": "rowId>5"})
    assert response.status_code == 400
    assert isinstance(response.json(), str)


@pytest.mark.parametrize(
    "params",
    [
        {"filter[]": "pt_utm_source-eq-value-google"},
        {"filter[]": "c_ga_client_id-gt-value-0"},
        {"sort[]": "c_qubit_visitor_id-asc"},
    ],
)
def test_custom_fields_cannot_be_filtered_or_sorted_on(
    emulator: InfinityEmulator, session: requests.Session, params: dict[str, str]
) -> None:
    response = session.get(triggers_url(emulator), params={"format": "json", **params})
    assert response.status_code == 400
    message = response.json()
    assert isinstance(message, str)
    assert "custom field" in message


def test_limit_above_the_maximum_is_an_error_not_a_cap(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    url = triggers_url(emulator)
    response = session.get(url, params={"format": "json", "limit": 1001})
    assert response.status_code == 400
    assert response.json() == "limit must not exceed 1000"
    assert len(fetch(session, url, limit=1000)) == 1000
    assert len(fetch(session, url)) == 1000, "the default limit is the maximum"


def test_default_maximum_is_ten_thousand(
    empty_emulator: InfinityEmulator, session: requests.Session
) -> None:
    response = session.get(triggers_url(empty_emulator), params={"limit": 10001})
    assert response.status_code == 400
    assert "10000" in response.json()


def test_both_auth_styles_are_accepted(emulator: InfinityEmulator) -> None:
    basic = requests.get(triggers_url(emulator), params={"format": "json", "limit": 3}, auth=AUTH)
    api_key = requests.get(
        triggers_url(emulator, version="v2.1"),
        params={"format": "json", "limit": 3},
        headers=API_KEY_HEADER,
    )
    assert json_lines(basic) == json_lines(api_key)
    assert len(json_lines(basic)) == 3
    assert emulator.requests[-1].headers["Authorization"] == "ApiKey demo-key"


@pytest.mark.parametrize(
    ("version", "kwargs", "status", "message"),
    [
        ("v2", {}, 401, "auth required"),
        ("v2.1", {}, 401, "auth required"),
        ("v2", {"auth": ("demo", "wrong")}, 401, None),
        ("v2.1", {"headers": {"Authorization": "ApiKey wrong"}}, 401, None),
        # Each version takes only its own scheme.
        ("v2.1", {"auth": AUTH}, 401, None),
        ("v2", {"headers": API_KEY_HEADER}, 401, None),
    ],
)
def test_missing_or_wrong_credentials_are_unauthorised(
    emulator: InfinityEmulator,
    version: str,
    kwargs: dict[str, object],
    status: int,
    message: str | None,
) -> None:
    response = requests.get(triggers_url(emulator, version=version), **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert isinstance(response.json(), str)
    if message is not None:
        assert response.json() == message


def test_other_installation_is_forbidden(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    response = session.get(f"{emulator.url}/reports/v2/igrps/2/triggers/all")
    assert response.status_code == 403
    assert response.json() == "access denied"


def test_unknown_route_is_not_found(emulator: InfinityEmulator, session: requests.Session) -> None:
    response = session.get(triggers_url(emulator, route="everything"))
    assert response.status_code == 404
    assert isinstance(response.json(), str)


ROUTE_ROWS = [
    trigger(101, "2026-10-01 09:00:00", "call"),
    trigger(102, "2026-10-01 09:00:01", "callBlegStart"),
    trigger(103, "2026-10-01 09:00:02", "callUser"),
    trigger(104, "2026-10-01 09:00:03", "callRate", txc="GBP", txv="0.02"),
    trigger(105, "2026-10-01 09:00:04", "land"),
    {**trigger(106, "2026-10-01 09:00:05", "goal"), "goal": "1"},
    {**trigger(107, "2026-10-01 09:00:06", "goal"), "goal": "1", "goalCurrency": "GBP"},
    trigger(108, "2026-10-01 09:00:07", "call", txc="GBP", txv="120.00"),
    trigger(109, "2026-10-01 09:00:08", "view"),
]


@pytest.mark.parametrize(
    ("route", "row_ids"),
    [
        ("all", [101, 102, 103, 104, 105, 106, 107, 108, 109]),
        ("calls", [101, 102, 108]),
        ("users", [103]),
        ("goals", [106, 107]),
        ("transactions", [107, 108]),
        ("callsGoalsTransactions", [101, 102, 106, 107, 108]),
        ("touchPoints", [101, 102, 105, 106, 107, 108]),
        ("visits", [105]),
        ("itemisedCalls", [101, 102, 108]),
    ],
)
def test_routes_select_their_triggers(
    empty_emulator: InfinityEmulator, session: requests.Session, route: str, row_ids: list[int]
) -> None:
    empty_emulator.add_triggers(ROUTE_ROWS)
    rows = fetch(session, triggers_url(empty_emulator, route=route))
    assert [int(row["rowId"]) for row in rows] == row_ids


def test_itemised_calls_have_the_reference_fields(
    emulator: InfinityEmulator, session: requests.Session, triggers: list[dict[str, str]]
) -> None:
    rows = fetch(session, triggers_url(emulator, route="itemisedCalls"), limit=50)
    reference_fields = re.findall(r'"(\w+)":', ITEMISED_CALLS_SAMPLE_LINES[0])
    assert all(list(row) == reference_fields for row in rows)
    calls = {row["rowId"]: row for row in triggers if row["act"] in ("call", "callBlegStart")}
    for row in rows:
        call = calls[row["rowId"]]
        assert row["callDuration"] == call["callDuration"]
        assert row["srcPhoneNumber"] == call["srcPhoneNumber"]
        assert float(row["callCharge"]) >= 0


def test_date_range_is_in_the_requested_timezone(
    empty_emulator: InfinityEmulator, session: requests.Session
) -> None:
    # London is UTC+1 in July: its 1 July is 30 June 23:00 to 1 July 22:59:59 UTC.
    empty_emulator.add_triggers(
        [
            trigger(1, "2026-06-30 22:59:59"),
            trigger(2, "2026-06-30 23:00:00"),
            trigger(3, "2026-07-01 22:59:59"),
            trigger(4, "2026-07-01 23:00:00"),
            trigger(5, "2026-07-02 12:00:00"),
        ]
    )
    url = triggers_url(empty_emulator)
    day = {"startDate": "2026-07-01", "endDate": "2026-07-01"}
    london = fetch(session, url, tz="Europe/London", **day)
    assert [row["rowId"] for row in london] == ["2", "3"]
    utc = fetch(session, url, **day)
    assert [row["rowId"] for row in utc] == ["3", "4"]
    open_ended = fetch(session, url, startDate="2026-07-02")
    assert [row["rowId"] for row in open_ended] == ["5"]
    bad_zone = session.get(url, params={"tz": "Mars/Olympus", **day})
    assert bad_zone.status_code == 400
    bad_date = session.get(url, params={"startDate": "01/07/2026"})
    assert bad_date.status_code == 400


def test_sort_orders_rows(emulator: InfinityEmulator, session: requests.Session) -> None:
    url = triggers_url(emulator)
    descending = fetch(session, url, limit=5, **{"sort[]": "rowId-desc"})
    assert [int(r["rowId"]) for r in descending] == sorted(
        (int(r["rowId"]) for r in descending), reverse=True
    )
    longest = fetch(session, url, limit=20, **{"sort[]": "callDuration-desc"})
    durations = [int(row["callDuration"]) for row in longest]
    assert durations == sorted(durations, reverse=True)
    assert durations[0] > 600


def test_formats_json_lines_json_array_and_csv(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    url = triggers_url(emulator)
    lines = fetch(session, url, limit=5)
    array = session.get(url, params={"format": "jsonarray", "limit": 5})
    assert array.json() == lines
    csv_response = session.get(url, params={"limit": 5})
    assert csv_response.headers["Content-Type"].startswith("text/csv")
    header, *records = csv_response.text.splitlines()
    assert header.startswith("rowId,triggerDatetime,")
    assert len(records) == 5


def test_empty_result_is_an_empty_body(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    response = session.get(
        triggers_url(emulator), params={"format": "json", "filter[]": "rowId-gt-value-999999999"}
    )
    assert response.status_code == 200
    assert response.content == b""


def test_broken_lines_are_served_verbatim(
    empty_emulator: InfinityEmulator, session: requests.Session
) -> None:
    for row_id, line in enumerate(REFERENCE_SAMPLE_LINES, start=1):
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
        act = "land" if row_id == 1 else "callBlegStart"
        when = f"2018-01-{15 + row_id} 10:00:00"
        empty_emulator.add_raw_line(line, row_id=row_id, trigger_datetime=when, act=act)
    empty_emulator.add_triggers([trigger(3, "2018-01-20 10:00:00")])

    response = session.get(triggers_url(empty_emulator), params={"format": "json"})
    lines = response.content.decode().splitlines()
    assert lines[:2] == REFERENCE_SAMPLE_LINES
    assert json.loads(lines[2])["rowId"] == "3"
    # The keyword arguments route the broken lines: the second one is a call.
    calls = session.get(triggers_url(empty_emulator, route="calls"), params={"format": "json"})
    assert calls.content.decode().splitlines()[0] == REFERENCE_SAMPLE_LINES[1]


def test_rows_added_while_serving_are_visible(
    empty_emulator: InfinityEmulator, session: requests.Session
) -> None:
    url = triggers_url(empty_emulator)
    empty_emulator.add_triggers([trigger(20, "2026-10-01 10:00:00")])
    assert [r["rowId"] for r in fetch(session, url)] == ["20"]
    empty_emulator.add_triggers([trigger(10, "2026-10-01 09:00:00")])
    assert [r["rowId"] for r in fetch(session, url)] == ["10", "20"]
    with pytest.raises(ValueError, match="already present"):
        empty_emulator.add_triggers([trigger(10, "2026-10-01 09:00:00")])


def test_rate_limit_fault_applies_the_given_number_of_times(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    emulator.add_fault(Fault(status=429, headers={"Retry-After": "0"}, times=2))
    url = triggers_url(emulator)
    first, second, third = (session.get(url, params={"limit": 1}) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "0"
    assert isinstance(first.json(), str)
    assert emulator.pending_faults == 0
    assert len(emulator.requests) == 3


def test_server_error_fault_only_hits_matching_paths(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    emulator.add_fault(Fault(status=500, body="database unavailable", path_contains="/calls"))
    assert session.get(triggers_url(emulator), params={"limit": 1}).status_code == 200
    failed = session.get(triggers_url(emulator, route="calls"), params={"limit": 1})
    assert failed.status_code == 500
    assert failed.json() == "database unavailable"
    assert session.get(triggers_url(emulator, route="calls"), params={"limit": 1}).ok


def test_delay_fault_slows_one_response(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    url = triggers_url(emulator)
    emulator.add_fault(Fault(delay=30))
    with pytest.raises(requests.ReadTimeout):
        session.get(url, params={"limit": 1}, timeout=0.2)
    assert session.get(url, params={"limit": 1}, timeout=10).ok

    emulator.add_fault(Fault(delay=0.3))
    started = time.monotonic()
    slow = session.get(url, params={"format": "json", "limit": 1}, timeout=10)
    assert time.monotonic() - started >= 0.3
    assert len(json_lines(slow)) == 1


def test_dropped_connection_fault_then_recovery(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    emulator.add_fault(Fault(drop_connection=True))
    with pytest.raises(requests.ConnectionError):
        session.get(triggers_url(emulator), params={"limit": 1})
    assert session.get(triggers_url(emulator), params={"limit": 1}).ok


def test_faults_over_the_control_endpoint(
    emulator: InfinityEmulator, session: requests.Session
) -> None:
    control = f"{emulator.url}/_emulator/faults"
    faults = [{"status": 503, "times": 2}, {"status": 502, "body_raw": "<html>Bad gateway</html>"}]
    assert requests.post(control, json=faults).json() == {"added": 2}
    responses = [session.get(triggers_url(emulator)) for _ in range(4)]
    assert [response.status_code for response in responses] == [503, 503, 502, 200]
    assert responses[2].text == "<html>Bad gateway</html>"
    assert requests.post(control, json=[{"bogus": 1}]).status_code == 400
    assert requests.get(f"{emulator.url}/_emulator/health").text == "ok"
    # Control requests are not part of what the client sent.
    assert len(emulator.requests) == 4


def test_generator_is_deterministic(triggers: list[dict[str, str]]) -> None:
    assert generate_triggers(ROWS, seed=11) == triggers
    assert generate_triggers(200, seed=12) != generate_triggers(200, seed=11)
    end = datetime(2026, 5, 1, tzinfo=UTC)
    assert generate_triggers(100, end=end, days=5) == generate_triggers(100, end=end, days=5)


def test_generated_rows_look_like_the_api(triggers: list[dict[str, str]]) -> None:
    assert all(isinstance(value, str) for row in triggers for value in row.values())
    ids = [int(row["rowId"]) for row in triggers]
    assert all(a < b for a, b in pairwise(ids))
    fields = set().union(*triggers)
    assert {"pt_utm_source", "pt_utm_campaign", "c_qubit_visitor_id", "c_ga_client_id"} <= fields
    assert 75 <= sum(len(row) for row in triggers) / len(triggers) <= 95
    stamps = [row["triggerDatetime"] for row in triggers]
    assert min(stamps) >= "2026-09-02 00:00:00"
    assert max(stamps) < "2026-11-01 00:00:00"
    acts = {row["act"] for row in triggers}
    assert {"call", "land", "goal"} <= acts
    assert any(row["goal"] == "1" for row in triggers)
    assert any(row.get("txc") == "GBP" and row["act"] != "callRate" for row in triggers)
    assert all(row["srcPhoneNumber"] == "" for row in triggers if row["act"] == "land")
    ga_ids = [row["c_ga_client_id"] for row in triggers if row["c_ga_client_id"]]
    assert ga_ids and all(re.fullmatch(r"\d{10}\.\d{10}", ga_id) for ga_id in ga_ids)


def test_callers_repeat_and_come_from_the_caller_pool(triggers: list[dict[str, str]]) -> None:
    pool = caller_pool(11, 500)
    assert caller_pool(11, 100) == pool[:100], "the pool is stable whatever its size"
    numbers = [row["srcPhoneNumber"] for row in triggers if row["act"] == "call"]
    assert {"anonymous", "test.user2"} <= set(numbers)
    phones = [n for n in numbers if n not in ("anonymous", "test.user2")]
    # Same number, different spellings: normalise by hand to compare with the pool.
    digits = [re.sub(r"\D", "", n.replace("(0)", "")) for n in phones]
    normalised = {"+44" + re.sub(r"^(0044|44|0)", "", d) for d in digits}
    assert normalised <= set(pool)
    assert len(normalised) < len(phones), "some callers call more than once"
    spellings = {n for n in phones if re.sub(r"\D", "", n).endswith(pool[0][-6:])}
    assert len(spellings) > 1, "a repeat caller's number is written in several ways"


def test_standalone_emulator_serves_the_days_up_to_now_by_default() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.infinity", "--rows", "200", "--days", "3"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        before = datetime.now(UTC).replace(tzinfo=None)
        response = requests.get(
            f"{url}/reports/v2/igrps/1/triggers/all", params={"format": "json"}, auth=AUTH
        )
        stamps = [datetime.fromisoformat(row["triggerDatetime"]) for row in json_lines(response)]
        assert len(stamps) == 200
        assert max(stamps) <= before
        assert (before - min(stamps)).days <= 3
        assert (before - max(stamps)).days < 1
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_standalone_emulator_prints_its_url_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "emulators.infinity", "--rows", "50", "--seed"]
    process = subprocess.Popen(
        [*command, "3", "--end", "2026-11-01"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        # The URL is printed once the emulator accepts connections.
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        response = requests.get(
            f"{url}/reports/v2/igrps/1/triggers/all", params={"format": "json"}, auth=AUTH
        )
        end = datetime(2026, 11, 1, tzinfo=UTC)
        assert json_lines(response) == generate_triggers(50, seed=3, end=end)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
