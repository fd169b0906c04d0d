"""The Qubit, OWOX BI and Gameball emulators, over real HTTP: what the push step relies on."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from emulators.gameball import GameballEmulator
from emulators.owox import MAX_PAYLOAD_BYTES, PIXEL, OwoxEmulator
from emulators.qubit import QubitEmulator, server_error
from emulators.server import EmulatorServer, Fault

ROOT = Path(__file__).resolve().parents[2]
TRACKING_ID = "demo-tracking-id"
TID = "UA-12345-1"
API_KEY = "demo-gameball-key"
TS = 1_792_000_000_000  # 2026-10-14 in milliseconds
EVENT_ID = re.compile(r"[0-9a-z]{11}-[0-9a-z]{9}-[0-9a-z]{7}")  # the reference's shape


# --- payload builders ----------------------------------------------------------------------


def put(document: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of `document` with `dotted` set to `value`, or removed when value is ...."""
    document = copy.deepcopy(document)
    *parents, last = dotted.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return document


def qubit_event(transaction_id: str = "T-1", amount: str = "basket", **meta: Any) -> dict:
    return {
        "context": {"id": "6o2diu81w9o-0irxltk5b-u9t1cv4"},
        "meta": {
            "type": meta.pop("type", "ecBasketTransactionSummary"),
            "ts": TS,
            "source": "callsync",
            **meta,
        },
        amount: {"total": {"value": 80.5, "currency": "GBP"}},
        "transaction": {"id": transaction_id},
    }


def post_events(qubit: QubitEmulator, events: list[Any], **kwargs: Any) -> requests.Response:
    return requests.post(f"{qubit.url}/events/{TRACKING_ID}", json={"events": events}, **kwargs)


def owox_hit(**overrides: str | None) -> dict[str, str]:
    """A valid event hit as the product sends it; an override of None leaves the param out."""
    hit = {
        "v": "1",
        "tid": TID,
        "cid": "1281044359.1435239978",
        "t": "event",
        "ec": "offline conversion",
        "ea": "customer",
        "el": "lead-1",
        "ev": "120",
        "tel": "+12015550111",
        "ds": "call center",
        "qt": "3600000",
    }
    hit.update(overrides)
    return {name: value for name, value in hit.items() if value is not None}


def gameball_body(player: str = "player-1", **extra: Any) -> dict[str, Any]:
    metadata = {"total_amount": 120.5, "currency": "GBP", "lead_id": "lead-1", "tags": ["call"]}
    return {"playerUniqueId": player, **extra, "events": {"crm_conversion": metadata}}


def post_gameball(
    gameball: GameballEmulator, body: Any = None, *, raw: str | None = None, key: str = API_KEY
) -> requests.Response:
    headers = {"APIKey": key, "Content-Type": "application/json"}
    data = raw if raw is not None else json.dumps(gameball_body() if body is None else body)
    return requests.post(f"{gameball.base_url}/integrations/event", data=data, headers=headers)


# --- Qubit ---------------------------------------------------------------------------------


def test_qubit_valid_ecommerce_batch_is_accepted() -> None:
    with QubitEmulator() as qubit:
        events = [qubit_event("T-1"), qubit_event("T-2")]
        response = post_events(qubit, events)
        assert response.status_code == 200
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["success", "success"]
        assert {r["eventType"] for r in results} == {"ecBasketTransactionSummary"}
        assert all(EVENT_ID.fullmatch(r["eventId"]) for r in results)
        assert results[0]["eventId"] != results[1]["eventId"]
        assert all(r["warnings"] == [] for r in results)
        assert qubit.accepted == {"T-1": events[0], "T-2": events[1]}
        assert qubit.batches == [2]
        assert qubit.failed == []


def test_qubit_travel_vertical_wants_package_total() -> None:
    with QubitEmulator(vertical="travel") as qubit:
        events = [
            qubit_event("T-1", amount="package", type="trPackageTransactionSummary"),
            qubit_event("T-2", amount="package", type="someco.trPackageTransactionSummary"),
            qubit_event("T-3", amount="basket", type="trPackageTransactionSummary"),
            qubit_event("T-4", amount="package"),
        ]
        results = post_events(qubit, events).json()["results"]
        assert [r["status"] for r in results] == ["success", "success", "failed", "failed"]
        assert results[1]["eventType"] == "someco.trPackageTransactionSummary"
        assert results[2]["error"] == "Missing package.total.value"
        assert results[3]["error"] == (
            "Invalid meta.type for vertical travel: ecBasketTransactionSummary"
        )
        assert set(qubit.accepted) == {"T-1", "T-2"}


BROKEN_EVENTS = [
    (put(qubit_event("B-1"), "context.id", ...), "Missing context.id"),
    (put(qubit_event("B-2"), "context.id", 42), "Invalid context.id: must be a non-empty string"),
    (put(qubit_event("B-3"), "meta.type", ...), "Missing meta.type"),
    (
        qubit_event("B-4", type="trPackageTransactionSummary"),
        "Invalid meta.type for vertical ecommerce: trPackageTransactionSummary",
    ),
    (put(qubit_event("B-5"), "meta.ts", ...), "Missing meta.ts"),
    (
        put(qubit_event("B-6"), "meta.ts", TS // 1000),
        "Invalid meta.ts: must be an integer number of milliseconds since the epoch",
    ),
    (
        put(qubit_event("B-7"), "meta.ts", TS + 0.5),
        "Invalid meta.ts: must be an integer number of milliseconds since the epoch",
    ),
    (put(qubit_event(), "transaction.id", ...), "Missing transaction.id"),
    (put(qubit_event(), "transaction.id", ""), "Missing transaction.id"),
    (put(qubit_event("B-8"), "basket", ...), "Missing basket.total.value"),
    (
        put(qubit_event("B-9"), "basket.total.value", "80.50"),
        "Invalid basket.total.value: must be a number",
    ),
    (put(qubit_event("B-10"), "basket.total.currency", ...), "Missing basket.total.currency"),
    (
        put(qubit_event("B-11"), "basket.total.currency", "gbp"),
        "Invalid basket.total.currency: must be a three-letter code like GBP",
    ),
    ("not an event", "Invalid event: must be an object"),
]


def test_qubit_mixed_batch_maps_results_to_events_in_order() -> None:
    batch, expected = [], []
    for number, (broken, error) in enumerate(BROKEN_EVENTS):
        batch += [qubit_event(f"OK-{number}"), broken]
        expected += [None, error]
    with QubitEmulator() as qubit:
        response = post_events(qubit, batch)
        assert response.status_code == 200
        results = response.json()["results"]
        assert len(results) == len(batch)
        for result, error in zip(results, expected, strict=True):
            if error is None:
                assert result["status"] == "success"
            else:
                assert result == {"status": "failed", "error": error}
        assert set(qubit.accepted) == {f"OK-{n}" for n in range(len(BROKEN_EVENTS))}
        assert [error for _, error in qubit.failed] == [e for e in expected if e]
        assert qubit.batches == [len(batch)]


def test_qubit_warns_when_meta_source_is_missing() -> None:
    with QubitEmulator() as qubit:
        events = [put(qubit_event("T-1"), "meta.source", ...), qubit_event("T-2")]
        results = post_events(qubit, events).json()["results"]
        assert results[0]["status"] == "success"
        assert results[0]["warnings"] == ["Missing meta.source"]
        assert results[1]["warnings"] == []
        assert set(qubit.accepted) == {"T-1", "T-2"}


def test_qubit_stores_a_repeated_transaction_id_once() -> None:
    with QubitEmulator() as qubit:
        first = post_events(qubit, [qubit_event("T-1"), qubit_event("T-1")]).json()["results"]
        again = post_events(qubit, [qubit_event("T-1")]).json()["results"]
        assert [r["status"] for r in first + again] == ["success"] * 3
        assert list(qubit.accepted) == ["T-1"]
        assert qubit.duplicates == 2
        assert qubit.batches == [2, 1]


def test_qubit_fail_transactions_rejects_only_those_events() -> None:
    with QubitEmulator() as qubit:
        qubit.fail_transactions(["T-2"], error="Upstream timeout")
        events = [qubit_event(f"T-{n}") for n in (1, 2, 3)]
        for _ in range(2):
            results = post_events(qubit, events).json()["results"]
            assert results[1] == {"status": "failed", "error": "Upstream timeout"}
            assert results[0]["status"] == results[2]["status"] == "success"
        assert set(qubit.accepted) == {"T-1", "T-3"}
        assert qubit.failed == [(events[1], "Upstream timeout")] * 2
        qubit.clear_event_failures()
        assert post_events(qubit, events).json()["results"][1]["status"] == "success"
        assert set(qubit.accepted) == {"T-1", "T-2", "T-3"}


def test_qubit_server_error_fault_has_the_reference_body() -> None:
    with QubitEmulator() as qubit:
        qubit.add_fault(server_error())
        qubit.add_fault(server_error(500, "Internal Server Error"))
        failed = post_events(qubit, [qubit_event()])
        assert failed.status_code == 502
        assert failed.json() == {"status": 502, "message": "Bad Gateway"}
        failed = post_events(qubit, [qubit_event()])
        assert failed.status_code == 500
        assert failed.json() == {"status": 500, "message": "Internal Server Error"}
        assert qubit.accepted == {}
        assert post_events(qubit, [qubit_event()]).status_code == 200
        assert list(qubit.accepted) == ["T-1"]


def test_qubit_rate_limit_fault_then_success() -> None:
    with QubitEmulator() as qubit:
        qubit.add_fault(Fault(status=429, headers={"Retry-After": "0"}))
        limited = post_events(qubit, [qubit_event()])
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "0"
        assert post_events(qubit, [qubit_event()]).status_code == 200
        assert qubit.batches == [1]


def test_qubit_unknown_tracking_id_path_and_method() -> None:
    with QubitEmulator() as qubit:
        unknown = requests.post(f"{qubit.url}/events/someone-else", json={"events": []})
        assert unknown.status_code == 404
        assert unknown.json() == {"status": 404, "message": "Not Found"}
        elsewhere = requests.post(f"{qubit.url}/collect", json={"events": []})
        assert elsewhere.status_code == 404
        wrong_method = requests.get(f"{qubit.url}/events/{TRACKING_ID}")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["status"] == 405
        assert qubit.batches == []


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'{"events": [', "application/json", "Invalid JSON"),
        (b'{"events": [NaN]}', "application/json", "Invalid JSON"),
        (b'{"event": []}', "application/json", "events list"),
        (b'[{"context": {}}]', "application/json", "events list"),
        (b'{"events": {"context": {}}}', "application/json", "events list"),
        (b'{"events": []}', "text/plain", "Content-Type"),
    ],
)
def test_qubit_bad_body_is_a_400(body: bytes, content_type: str, message: str) -> None:
    with QubitEmulator() as qubit:
        response = requests.post(
            f"{qubit.url}/events/{TRACKING_ID}", data=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 400
        assert response.json()["status"] == 400
        assert message in response.json()["message"]
        assert qubit.batches == []


def test_qubit_rejects_an_unknown_vertical() -> None:
    with pytest.raises(ValueError, match="vertical"):
        QubitEmulator(vertical="retail")


# --- OWOX BI -------------------------------------------------------------------------------


def test_owox_valid_get_hit_is_recorded() -> None:
    with OwoxEmulator() as owox:
        response = requests.get(owox.collect_url, params=owox_hit())
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/gif"
        assert response.content == PIXEL
        [hit] = owox.hits
        assert hit.valid, hit.problems
        assert hit.method == "GET"
        assert hit.params == owox_hit()
        assert "tel=%2B12015550111" in hit.raw
        assert owox.valid_hits == [hit] and owox.invalid_hits == []


def test_owox_valid_post_hit_is_recorded() -> None:
    with OwoxEmulator() as owox:
        response = requests.post(owox.collect_url, data=owox_hit(el="lead-2"))
        assert response.status_code == 200
        assert response.content == PIXEL
        [hit] = owox.valid_hits
        assert hit.method == "POST"
        assert hit.params["el"] == "lead-2"
        assert hit.params["tel"] == "+12015550111"
        assert hit.params["ds"] == "call center"


def test_owox_unencoded_plus_in_tel_is_invalid_but_answered_200() -> None:
    with OwoxEmulator() as owox:
        query = urlencode(owox_hit(tel=None)) + "&tel=+12015550111"
        response = requests.get(f"{owox.collect_url}?{query}")
        assert response.status_code == 200
        assert response.content == PIXEL
        [hit] = owox.invalid_hits
        assert hit.params["tel"] == " 12015550111"
        [problem] = hit.problems
        assert "unencoded" in problem and "%2B" in problem


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"cid": None}, "cid is missing"),
        ({"v": "2"}, "v must be 1"),
        ({"tid": None}, "tid is missing"),
        ({"tid": "UA-99-1"}, "not this access point's property"),
        ({"tid": "G-12345"}, "not a property id"),
        ({"t": None}, "t is missing"),
        ({"t": "conversion"}, "not a hit type"),
        ({"ec": None}, "ec is missing"),
        ({"ea": ""}, "ea is missing"),
        ({"ev": "-5"}, "ev '-5' is not a non-negative integer"),
        ({"ev": "12.5"}, "ev '12.5' is not a non-negative integer"),
        ({"qt": "-1"}, "qt '-1' is not a non-negative integer"),
        ({"tel": None}, "tel is missing"),
        ({"tel": "12015550111"}, "not an E.164 number"),
        ({"tel": "+44 7700 900123"}, "not an E.164 number"),
        ({"ds": None}, "ds must be 'call center'"),
        ({"ds": "web"}, "ds must be 'call center'"),
    ],
)
def test_owox_invalid_hit_is_answered_200_and_recorded_with_its_problem(
    overrides: dict[str, str | None], problem: str
) -> None:
    with OwoxEmulator() as owox:
        response = requests.get(owox.collect_url, params=owox_hit(**overrides))
        assert response.status_code == 200
        assert response.content == PIXEL
        [hit] = owox.invalid_hits
        assert len(hit.problems) == 1 and problem in hit.problems[0], hit.problems


def test_owox_non_event_hit_needs_no_event_fields() -> None:
    with OwoxEmulator() as owox:
        requests.get(owox.collect_url, params=owox_hit(t="pageview", ec=None, ea=None, ev=None))
        assert len(owox.valid_hits) == 1


def test_owox_repeated_parameter_is_invalid() -> None:
    with OwoxEmulator() as owox:
        requests.get(f"{owox.collect_url}?{urlencode(owox_hit())}&el=lead-2")
        [hit] = owox.invalid_hits
        assert hit.problems == ["el is sent more than once"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_owox_oversize_hit_is_answered_200_but_invalid(method: str) -> None:
    with OwoxEmulator() as owox:
        hit = owox_hit(cd1="x" * MAX_PAYLOAD_BYTES)
        if method == "GET":
            response = requests.get(owox.collect_url, params=hit)
        else:
            response = requests.post(owox.collect_url, data=hit)
        assert response.status_code == 200
        [recorded] = owox.invalid_hits
        assert len(recorded.raw) > MAX_PAYLOAD_BYTES
        assert recorded.problems == [
            f"payload is {len(recorded.raw)} bytes; Measurement Protocol allows at most 8192"
        ]


def test_owox_records_the_same_hit_twice() -> None:
    with OwoxEmulator() as owox, requests.Session() as session:
        for lead in ("lead-1", "lead-2", "lead-1"):
            assert session.get(owox.collect_url, params=owox_hit(el=lead)).status_code == 200
        session.get(owox.collect_url, params=owox_hit(el="lead-3", cid=None))
        assert len(owox.hits) == 4
        assert owox.count_by("el") == {"lead-1": 2, "lead-2": 1}
        assert owox.count_by("el", valid_only=False)["lead-3"] == 1
        doubles = [lead for lead, count in owox.count_by("el").items() if count > 1]
        assert doubles == ["lead-1"]


def test_owox_unknown_path_is_404_and_control_api_still_works() -> None:
    with OwoxEmulator() as owox:
        assert requests.get(f"{owox.url}/UA-99999-1", params=owox_hit()).status_code == 404
        assert requests.get(f"{owox.url}/collect", params=owox_hit()).status_code == 404
        assert requests.get(f"{owox.url}/_emulator/health").status_code == 200
        added = requests.post(f"{owox.url}/_emulator/faults", json=[{"status": 503}])
        assert added.json() == {"added": 1}
        assert requests.get(owox.collect_url, params=owox_hit()).status_code == 503
        assert owox.hits == []


def test_owox_dropped_connection_fault_loses_the_hit() -> None:
    with OwoxEmulator() as owox:
        owox.add_fault(Fault(drop_connection=True))
        with pytest.raises(requests.ConnectionError):
            requests.get(owox.collect_url, params=owox_hit())
        assert owox.hits == []
        assert requests.get(owox.collect_url, params=owox_hit()).status_code == 200
        assert len(owox.valid_hits) == 1


# --- Gameball ------------------------------------------------------------------------------


def test_gameball_valid_request_is_recorded() -> None:
    with GameballEmulator() as gameball:
        response = post_gameball(gameball)
        assert response.status_code == 200
        assert response.json() == {"message": "Event(s) tracked successfully"}
        assert gameball.received == [gameball_body()]
        assert gameball.count_events("crm_conversion") == {"player-1": 1}
        assert gameball.count_events("review") == {}
        assert gameball.base_url == f"{gameball.url}/api/v3.0"


def test_gameball_channel_merging_fields_are_optional() -> None:
    with GameballEmulator() as gameball:
        merged = gameball_body("player-2", mobile="+447700900123", email="a@example.com")
        assert post_gameball(gameball, merged).status_code == 200
        assert post_gameball(gameball, gameball_body("player-3", mobile=None)).status_code == 200
        assert post_gameball(gameball, gameball_body("player-4", email="b@example.com")).ok
        assert gameball.received[0]["mobile"] == "+447700900123"
        assert gameball.received[0]["email"] == "a@example.com"
        assert "mobile" not in gameball.received[2]
        refused = post_gameball(gameball, gameball_body("player-5", mobile=447700900123))
        assert refused.status_code == 400
        assert refused.json() == {"code": 4, "message": "mobile must be a string"}
        assert len(gameball.received) == 3


def test_gameball_wrong_api_key_is_a_401_and_a_missing_one_a_403() -> None:
    with GameballEmulator() as gameball:
        response = post_gameball(gameball, key="another-key")
        assert response.status_code == 401
        assert response.json() == {"code": 1, "message": "Invalid API key"}
        for key in ("", None):
            headers = {"APIKey": key} if key is not None else {}
            without = requests.post(
                f"{gameball.base_url}/integrations/event", json=gameball_body(), headers=headers
            )
            assert without.status_code == 403
            assert without.json() == {"code": 403, "message": "Missing API key"}
        assert gameball.received == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            '{"playerUniqueId": "p1", "events": {"buy": {"price": 1}, "buy": {"price": 2}}}',
            "Duplicate event name: buy",
        ),
        (
            '{"playerUniqueId": "p1", "events": {"buy": {"price": 1, "price": 2}}}',
            "Duplicate metadata key price in event buy",
        ),
        (
            '{"playerUniqueId": "p1", "playerUniqueId": "p2", "events": {"buy": {}}}',
            "Duplicate attribute: playerUniqueId",
        ),
    ],
)
def test_gameball_repeated_names_are_a_400(raw: str, message: str) -> None:
    with GameballEmulator() as gameball:
        response = post_gameball(gameball, raw=raw)
        assert response.status_code == 400
        assert response.json() == {"code": 4, "message": message}
        assert gameball.received == []


@pytest.mark.parametrize("value", [True, None, {"nested": 1}, [1, 2], ["a", 2]])
def test_gameball_bad_metadata_value_is_a_400(value: Any) -> None:
    with GameballEmulator() as gameball:
        body = put(gameball_body(), "events.crm_conversion.channel", value)
        response = post_gameball(gameball, body)
        assert response.status_code == 400
        assert response.json()["message"] == (
            "Metadata channel of event crm_conversion must be a number, a string "
            "or an array of strings"
        )
        assert gameball.received == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"events": {"buy": {}}}', "playerUniqueId is required"),
        ('{"playerUniqueId": "", "events": {"buy": {}}}', "playerUniqueId is required"),
        ('{"playerUniqueId": 7, "events": {"buy": {}}}', "playerUniqueId is required"),
        ('{"playerUniqueId": "p1"}', "events is required"),
        ('{"playerUniqueId": "p1", "events": {}}', "events is required"),
        ('{"playerUniqueId": "p1", "events": {"buy": null}}', "metadata of event buy"),
    ],
)
def test_gameball_malformed_body_is_a_400(body: str, message: str) -> None:
    with GameballEmulator() as gameball:
        response = post_gameball(gameball, raw=body)
        assert response.status_code == 400
        assert message in response.json()["message"]
        assert gameball.received == []


def test_gameball_event_without_metadata_and_a_repeated_send_both_count() -> None:
    with GameballEmulator() as gameball:
        body = {"playerUniqueId": "player123", "events": {"review": {}}}
        assert post_gameball(gameball, body).status_code == 200
        assert post_gameball(gameball, body).status_code == 200
        assert gameball.count_events("review") == {"player123": 2}


def test_gameball_rate_limit_answers_429_with_retry_after() -> None:
    now = [1000.0]
    with GameballEmulator(rate_limit_per_second=2, clock=lambda: now[0]) as gameball:
        statuses = [post_gameball(gameball).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = post_gameball(gameball)
        assert limited.headers["Retry-After"] == "1"
        assert limited.json() == {"code": 429, "message": "Too many requests"}
        assert gameball.rate_limited == 2
        now[0] += 1.0
        assert post_gameball(gameball).status_code == 200
        assert len(gameball.received) == 3


def test_gameball_rate_limit_with_the_real_clock() -> None:
    with GameballEmulator(rate_limit_per_second=2) as gameball, requests.Session() as session:
        url = f"{gameball.base_url}/integrations/event"
        headers = {"APIKey": API_KEY}
        statuses = [
            session.post(url, json=gameball_body(), headers=headers).status_code for _ in range(12)
        ]
        # Twelve requests would have to take over 5 s for none to meet a full window.
        assert 429 in statuses
        assert set(statuses) == {200, 429}
        assert gameball.rate_limited == statuses.count(429)
        assert len(gameball.received) == statuses.count(200)


def test_gameball_timeout_fault_then_retry() -> None:
    with GameballEmulator() as gameball:
        gameball.add_fault(Fault(delay=30))
        with pytest.raises(requests.Timeout):
            requests.post(
                f"{gameball.base_url}/integrations/event",
                json=gameball_body(),
                headers={"APIKey": API_KEY},
                timeout=0.3,
            )
        assert post_gameball(gameball).status_code == 200
        # The first request is still being held, so only the retry has counted yet.
        assert gameball.count_events("crm_conversion") == {"player-1": 1}


def test_gameball_unknown_path_and_method() -> None:
    with GameballEmulator() as gameball:
        missing = requests.post(f"{gameball.url}/api/v3.0/integrations/player", json={})
        assert missing.status_code == 404
        assert missing.json() == {"code": 404, "message": "Not found"}
        wrong = requests.get(f"{gameball.base_url}/integrations/event")
        assert wrong.status_code == 405
        assert gameball.received == []


# --- all three: standalone processes and latency -------------------------------------------


def send_qubit(session: requests.Session, url: str) -> requests.Response:
    return session.post(f"{url}/events/{TRACKING_ID}", json={"events": [qubit_event()]})


def send_owox(session: requests.Session, url: str) -> requests.Response:
    return session.get(f"{url}/{TID}", params=owox_hit())


def send_gameball(session: requests.Session, url: str) -> requests.Response:
    return session.post(
        f"{url}/api/v3.0/integrations/event", json=gameball_body(), headers={"APIKey": API_KEY}
    )


Sender = Callable[[requests.Session, str], requests.Response]
TARGETS: dict[str, tuple[type[EmulatorServer], Sender]] = {
    "qubit": (QubitEmulator, send_qubit),
    "owox": (OwoxEmulator, send_owox),
    "gameball": (GameballEmulator, send_gameball),
}


@pytest.mark.parametrize("name", TARGETS)
def test_standalone_emulator_prints_its_url_and_stops_on_sigterm(name: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", f"emulators.{name}", "--port", "0", "--latency-ms", "1"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        with requests.Session() as session:
            response = TARGETS[name][1](session, url)
        assert response.status_code == 200
        if name == "qubit":
            assert response.json()["results"][0]["status"] == "success"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize("name", TARGETS)
def test_latency_delays_answers_without_serialising_them(name: str) -> None:
    factory, send = TARGETS[name]
    with factory() as emulator:
        # Connect first, so that the timed requests only wait for the latency.
        sessions = [requests.Session() for _ in range(4)]
        for session in sessions:
            assert send(session, emulator.url).status_code == 200
        emulator.latency_seconds = 0.2
        barrier = threading.Barrier(len(sessions))

        def fetch(session: requests.Session) -> int:
            barrier.wait(timeout=10)
            return send(session, emulator.url).status_code

        try:
            with ThreadPoolExecutor(len(sessions)) as pool:
                statuses = list(pool.map(fetch, sessions))
        finally:
            for session in sessions:
                session.close()
        assert statuses == [200] * len(sessions)
        assert emulator.max_in_flight > 1
