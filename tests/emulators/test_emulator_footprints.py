"""The Footprints emulator, over real HTTP: what a client relies on it to get right."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.footprints import REFERENCE_PATHS, FootprintsEmulator
from emulators.footprints_data import (
    STATUSES,
    FootprintsData,
    customer_key,
    generate_footprints,
    parse_timestamp,
)
from emulators.infinity_data import caller_pool
from emulators.server import Fault

CLIENT = ("demo-client-key", "demo-client-secret")
START, END = date(2026, 9, 1), date(2026, 9, 30)
LEADS = 600
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
PLAIN = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
JS_DATE = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d{4} 00:00:00 GMT\+0000 \(UTC\)")


@pytest.fixture(scope="module")
def data() -> FootprintsData:
    return generate_footprints(LEADS, seed=5, start=START, end=END)


@pytest.fixture(scope="module")
def big_data() -> FootprintsData:
    """Enough leads that the proportions of the demo data show."""
    return generate_footprints(3000, seed=9, start=START, end=END, caller_count=800)


def serve(data: FootprintsData | None = None, **kwargs: Any) -> FootprintsEmulator:
    emulator = FootprintsEmulator(port=0, **kwargs)
    if data is not None:
        emulator.load(data)
    return emulator.start()


@pytest.fixture
def emulator(data: FootprintsData, request: pytest.FixtureRequest) -> FootprintsEmulator:
    server = serve(data)
    request.addfinalizer(server.stop)
    return server


@pytest.fixture
def empty_emulator(request: pytest.FixtureRequest) -> FootprintsEmulator:
    server = serve()
    request.addfinalizer(server.stop)
    return server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get_token(emulator: FootprintsEmulator, **form: str) -> str:
    response = requests.post(
        f"{emulator.url}/api/token", auth=CLIENT, data=form or {"grant_type": "client_credentials"}
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def api(
    session: requests.Session, emulator: FootprintsEmulator, path: str, **params: Any
) -> requests.Response:
    token = params.pop("access_token", None) or get_token(emulator)
    return session.get(f"{emulator.url}{path}", params={"access_token": token, **params})


def listed(lead: dict[str, Any]) -> bool:
    return all(
        lead.get(name) for name in ("locationId", "offerCategoryId", "offerId", "consultant")
    )


def created(lead: dict[str, Any]) -> datetime:
    moment = parse_timestamp(lead["createdAt"])
    assert moment is not None
    return moment


def all_lead_pages(
    session: requests.Session,
    emulator: FootprintsEmulator,
    token: str,
    page_size: int,
    **dates: str,
) -> tuple[list[dict[str, Any]], list[requests.Response]]:
    rows: list[dict[str, Any]] = []
    responses = []
    page = 1
    while True:
        response = api(
            session,
            emulator,
            "/api/lead",
            access_token=token,
            pageSize=page_size,
            page=page,
            **dates,
        )
        assert response.status_code == 200, response.text
        responses.append(response)
        if not response.json():
            return rows, responses
        rows += response.json()
        page += 1


# --- token ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials"},
        {"grant_type": "pin", "pin": "1234567890"},
        {"grant_type": "password", "username": "demo@footprints.example", "password": "demo-pass"},
    ],
)
def test_token_grants_hand_out_bearer_tokens(
    empty_emulator: FootprintsEmulator, form: dict[str, str]
) -> None:
    response = requests.post(f"{empty_emulator.url}/api/token", auth=CLIENT, data=form)
    assert response.status_code == 200
    body = response.json()
    assert re.fullmatch(r"[0-9a-f]{64}", body["access_token"])
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == ["app_scope", "hostess_scope"]
    assert {"refresh_token", "hostess_name", "hostess_id"} <= set(body)
    assert empty_emulator.tokens_issued == 1
    recorded = empty_emulator.requests[-1]
    assert recorded.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert recorded.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"data": {"grant_type": "client_credentials"}}, 401, "invalid_client"),
        (
            {"auth": ("demo-client-key", "wrong"), "data": {"grant_type": "client_credentials"}},
            401,
            "invalid_client",
        ),
        ({"auth": CLIENT, "data": {"grant_type": "refresh_token"}}, 400, "unsupported_grant_type"),
        ({"auth": CLIENT, "data": {"grant_type": "pin", "pin": "0000"}}, 400, "invalid_grant"),
        (
            {
                "auth": CLIENT,
                "data": {"grant_type": "password", "username": "demo@footprints.example"}
                | {"password": "wrong"},
            },
            400,
            "invalid_grant",
        ),
        ({"auth": CLIENT, "data": {"grant_type": "pin"}}, 400, "invalid_request"),
        ({"auth": CLIENT, "data": {}}, 400, "invalid_request"),
        # The grant must be form-encoded, not JSON.
        ({"auth": CLIENT, "json": {"grant_type": "client_credentials"}}, 400, "invalid_request"),
    ],
)
def test_token_refusals_are_oauth_errors(
    empty_emulator: FootprintsEmulator, kwargs: dict[str, Any], status: int, error: str
) -> None:
    response = requests.post(f"{empty_emulator.url}/api/token", **kwargs)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert empty_emulator.tokens_issued == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/lead",
        "/api/lead/actions/5ce3b4089d5de975003244d2",
        "/api/client",
        "/api/nowhere",
        *REFERENCE_PATHS.values(),
    ],
)
def test_every_endpoint_wants_the_token_as_a_query_parameter(
    emulator: FootprintsEmulator, session: requests.Session, path: str
) -> None:
    token = get_token(emulator)
    url = f"{emulator.url}{path}"
    missing = session.get(url)
    wrong = session.get(url, params={"access_token": "0" * 64})
    as_header = session.get(url, headers={"Authorization": f"Bearer {token}"})
    for response in (missing, wrong, as_header):
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_token",
            "message": "The access token provided is invalid or has expired",
        }


def test_expired_tokens_are_refused_and_new_ones_work(
    emulator: FootprintsEmulator, session: requests.Session
) -> None:
    token = get_token(emulator)
    assert api(session, emulator, "/api/channels", access_token=token).status_code == 200
    emulator.expire_tokens()
    refused = api(session, emulator, "/api/channels", access_token=token)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    assert api(session, emulator, "/api/channels").status_code == 200
    assert emulator.tokens_issued == 2


def test_tokens_expire_after_their_lifetime(
    data: FootprintsData, request: pytest.FixtureRequest
) -> None:
    emulator = serve(data, token_ttl_seconds=0)
    request.addfinalizer(emulator.stop)
    response = requests.post(
        f"{emulator.url}/api/token", auth=CLIENT, data={"grant_type": "client_credentials"}
    )
    assert response.json()["expires_in"] == 0
    token = response.json()["access_token"]
    assert requests.get(f"{emulator.url}/api/channels?access_token={token}").status_code == 401


# --- leads ---------------------------------------------------------------------------------


def test_lead_pages_return_the_listed_leads_once_in_order(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    token = get_token(emulator)
    rows, responses = all_lead_pages(
        session, emulator, token, 37, startDate="2026-09-01", endDate="2026-09-30"
    )
    expected = sorted(
        (lead for lead in data.leads if listed(lead)), key=lambda r: (created(r), r["_id"])
    )
    assert rows == expected
    assert len(rows) < LEADS, "some leads are never listed"
    first, past_end = responses[0], responses[-1]
    assert first.headers["X-Records"] == past_end.headers["X-Records"] == str(len(expected))
    assert first.headers["X-Total-Pages"] == str(-(-len(expected) // 37))
    assert first.headers["X-Current-Page"] == "1"
    assert past_end.headers["X-Current-Page"] == str(len(responses))
    assert "X-Total-Pages" in first.headers["Access-Control-Expose-Headers"]
    assert len(responses) == int(first.headers["X-Total-Pages"]) + 1


def test_unlisted_leads_still_have_actions_and_a_profile(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    hidden = [lead for lead in data.leads if not listed(lead)]
    assert hidden
    token = get_token(emulator)
    with_customer = next(lead for lead in hidden if lead["clientId"])
    actions = api(
        session, emulator, f"/api/lead/actions/{with_customer['_id']}", access_token=token
    )
    assert actions.status_code == 200
    profile = api(
        session,
        emulator,
        "/api/client",
        access_token=token,
        userEmail=with_customer["userEmail"],
        userPhone=with_customer["userPhone"],
    ).json()
    assert with_customer["_id"] in [entry["_id"] for entry in profile["leads"]]


def test_lead_dates_are_whole_utc_days_both_inclusive(
    empty_emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    template = next(lead for lead in data.leads if listed(lead))

    def lead(lead_id: str, created_at: str) -> dict[str, Any]:
        return {**template, "_id": lead_id, "createdAt": created_at}

    empty_emulator.add_leads(
        [
            lead("a" * 24, "2026-09-30T23:59:59.999Z"),
            lead("b" * 24, "2026-10-01T00:00:00.000Z"),
            lead("c" * 24, "2026-10-01 23:59:59"),
            lead("d" * 24, "2026-10-01T23:59:59.999Z"),
            lead("e" * 24, "2026-10-02T00:00:00.000Z"),
            # Same createdAt: ordered by _id.
            lead("0" * 24, "2026-10-01T00:00:00.000Z"),
        ]
    )
    token = get_token(empty_emulator)
    one_day = {"startDate": "2026-10-01", "endDate": "2026-10-01", "pageSize": 10}
    rows = api(session, empty_emulator, "/api/lead", access_token=token, **one_day).json()
    assert [row["_id"][0] for row in rows] == ["0", "b", "c", "d"]
    reversed_range = {"startDate": "2026-10-02", "endDate": "2026-10-01"}
    empty = api(session, empty_emulator, "/api/lead", access_token=token, **reversed_range)
    assert empty.json() == []
    assert empty.headers["X-Records"] == "0"
    with pytest.raises(ValueError, match="already present"):
        empty_emulator.add_leads([lead("a" * 24, "2026-09-30T10:00:00.000Z")])


@pytest.mark.parametrize(
    "params",
    [
        {"endDate": "2026-09-30"},
        {"startDate": "2026-09-01"},
        {"startDate": "01/09/2026", "endDate": "2026-09-30"},
        {"startDate": "2026-02-30", "endDate": "2026-09-30"},
        {"startDate": "2026-09-01", "endDate": "2026-09-30", "pageSize": "0"},
        {"startDate": "2026-09-01", "endDate": "2026-09-30", "pageSize": "501"},
        {"startDate": "2026-09-01", "endDate": "2026-09-30", "pageSize": "ten"},
        {"startDate": "2026-09-01", "endDate": "2026-09-30", "page": "0"},
    ],
)
def test_bad_lead_parameters_are_a_bad_request(
    emulator: FootprintsEmulator, session: requests.Session, params: dict[str, str]
) -> None:
    response = api(session, emulator, "/api/lead", **params)
    assert response.status_code == 400
    assert isinstance(response.json()["message"], str)


def test_largest_page_size_is_five_hundred(
    emulator: FootprintsEmulator, session: requests.Session
) -> None:
    dates = {"startDate": "2026-09-01", "endDate": "2026-09-30"}
    response = api(session, emulator, "/api/lead", pageSize=500, **dates)
    assert len(response.json()) == 500
    assert response.headers["X-Total-Pages"] == "2"
    assert len(api(session, emulator, "/api/lead", **dates).json()) == 10, "default page size"


# --- lead actions --------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", ["data", "bare", "mixed"])
def test_lead_actions_come_wrapped_bare_or_both(
    data: FootprintsData,
    session: requests.Session,
    request: pytest.FixtureRequest,
    envelope: str,
) -> None:
    emulator = serve(data, actions_envelope=envelope)
    request.addfinalizer(emulator.stop)
    token = get_token(emulator)
    expected = Counter(action["leadId"] for action in data.actions)
    shapes = set()
    for lead in data.leads[:40]:
        body = api(session, emulator, f"/api/lead/actions/{lead['_id']}", access_token=token).json()
        shapes.add("data" if isinstance(body, dict) else "bare")
        actions = body["data"] if isinstance(body, dict) else body
        assert len(actions) == expected[lead["_id"]]
        assert all(action["leadId"] == lead["_id"] for action in actions)
    assert shapes == ({"data", "bare"} if envelope == "mixed" else {envelope})


def test_lead_actions_have_the_reference_shape(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    lead = data.leads[0]
    body = api(session, emulator, f"/api/lead/actions/{lead['_id']}").json()
    actions = body["data"] if isinstance(body, dict) else body
    for action in actions:
        assert list(action) == [
            "_id",
            "leadId",
            "actionDetail",
            "leadActionTypeId",
            "attachments",
            "date",
            "createdAt",
            "updatedAt",
        ]
        assert set(action["leadActionTypeId"]) == {"_id", "name"}


def test_unknown_lead_has_no_actions(
    emulator: FootprintsEmulator, session: requests.Session
) -> None:
    response = api(session, emulator, "/api/lead/actions/5ce3b4089d5de975003244d2")
    assert response.status_code == 404
    assert "message" in response.json()


def test_action_types_are_wrapped_in_data(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    body = api(session, emulator, "/api/lead/action-types").json()
    assert body == {"data": data.references["lead_action_types"]}
    assert set(body["data"][0]) == {"_id", "name", "createdAt"}


# --- customers -----------------------------------------------------------------------------


def test_customer_is_found_by_email_in_any_case_and_phone_as_written(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    customer = max(data.customers, key=lambda c: len(c["leads"]))
    assert len(customer["leads"]) > 1, "a repeat buyer"
    response = api(
        session,
        emulator,
        "/api/client",
        userEmail=customer["userEmail"].upper(),
        userPhone=customer["userPhone"],
    )
    assert response.status_code == 200
    profile = response.json()
    assert profile == customer
    lead_ids = {lead["_id"] for lead in data.leads if lead["clientId"] == profile["_id"]}
    assert {entry["_id"] for entry in profile["leads"]} == lead_ids
    assert all(entry["history"] for entry in profile["leads"])
    assert {"interactionsTimeline", "type", "__v", "kidsAge", "personalAssistance"} <= set(profile)


def test_customer_lookup_refusals(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    token = get_token(emulator)
    customer = next(c for c in data.customers if c["userPhone"].startswith("+"))
    email, phone = customer["userEmail"], customer["userPhone"]
    for params in (
        {"userEmail": email},
        {"userPhone": phone},
        {"userEmail": "", "userPhone": phone},
    ):
        response = api(session, emulator, "/api/client", access_token=token, **params)
        assert response.status_code == 400
    digits = re.sub(r"\D", "", phone)
    for other in (f"0044{digits[2:]}", phone + "0"):
        response = api(
            session, emulator, "/api/client", access_token=token, userEmail=email, userPhone=other
        )
        assert response.status_code == 404
        assert response.json() == {"message": "Client not found"}
    # A `+` that is not percent-encoded arrives as a space.
    raw = f"{emulator.url}/api/client?access_token={token}&userEmail={email}&userPhone={phone}"
    assert session.get(raw.replace(" ", "%20")).status_code == 404


# --- reference lists -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["offers", "skus", "offer_categories"])
def test_paged_lists_come_twenty_a_page(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData, name: str
) -> None:
    token = get_token(emulator)
    expected = data.references[name]
    pages = -(-len(expected) // 20)
    assert pages > 1
    rows = []
    for page in range(1, pages + 2):
        response = api(session, emulator, REFERENCE_PATHS[name], access_token=token, page=page)
        assert response.headers["X-Total-Pages"] == str(pages)
        assert response.headers["X-Records"] == str(len(expected))
        assert response.headers["X-Current-Page"] == str(page)
        rows += response.json()
    assert rows == expected
    unpaged = api(session, emulator, REFERENCE_PATHS[name], access_token=token)
    assert unpaged.json() == expected[:20]


@pytest.mark.parametrize("name", ["locations", "offline_campaigns", "business_users", "channels"])
def test_unpaged_lists_return_every_row(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData, name: str
) -> None:
    response = api(session, emulator, REFERENCE_PATHS[name])
    assert response.status_code == 200
    assert response.json() == data.references[name]
    assert "X-Total-Pages" not in response.headers


def test_reference_lists_can_be_replaced(
    emulator: FootprintsEmulator, session: requests.Session
) -> None:
    emulator.set_reference(
        "channels", [{"_id": "1" * 24, "name": "Radio", "mediaType": "Paid Media"}]
    )
    assert [row["name"] for row in api(session, emulator, "/api/channels").json()] == ["Radio"]
    with pytest.raises(ValueError, match="unknown reference list"):
        emulator.set_reference("industries", [])


def test_load_replaces_everything(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    small = generate_footprints(5, seed=1, start=date(2026, 10, 1), end=date(2026, 10, 1))
    emulator.load(small)
    assert emulator.lead_count == 5
    token = get_token(emulator)
    old = api(session, emulator, f"/api/lead/actions/{data.leads[0]['_id']}", access_token=token)
    assert old.status_code == 404
    new = api(session, emulator, f"/api/lead/actions/{small.leads[0]['_id']}", access_token=token)
    assert new.status_code == 200
    channels = api(session, emulator, "/api/channels", access_token=token).json()
    assert channels == small.references["channels"]


def test_write_endpoints_are_not_emulated(
    emulator: FootprintsEmulator, session: requests.Session
) -> None:
    token = get_token(emulator)
    response = session.post(f"{emulator.url}/api/lead", params={"access_token": token}, data={})
    assert response.status_code == 405
    assert "message" in response.json()


# --- status changes ------------------------------------------------------------------------


def test_status_change_shows_in_lead_actions_and_profile(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    lead = next(
        row for row in data.leads if row["status"] == "lead" and row["clientId"] and listed(row)
    )
    at = datetime(2026, 10, 3, 14, 30, tzinfo=UTC)
    emulator.change_status(lead["_id"], "customer", at, contract_value=1234.5)
    token = get_token(emulator)
    day = created(lead).date().isoformat()
    rows = api(
        session, emulator, "/api/lead", access_token=token, startDate=day, endDate=day, pageSize=500
    ).json()
    changed = next(row for row in rows if row["_id"] == lead["_id"])
    assert changed["status"] == "customer"
    assert parse_timestamp(changed["timestampStatusChange"]) == at
    assert parse_timestamp(changed["updatedAt"]) == at
    assert changed["contractValue"] == 1234.5
    assert changed["contractNumber"] and changed["contractDate"] == "2026-10-03"
    body = api(session, emulator, f"/api/lead/actions/{lead['_id']}", access_token=token).json()
    actions = body["data"] if isinstance(body, dict) else body
    assert actions[-1]["actionDetail"] == "Status changed to customer"
    assert actions[-1]["leadActionTypeId"]["name"] == "Status change"
    profile = api(
        session,
        emulator,
        "/api/client",
        access_token=token,
        userEmail=lead["userEmail"],
        userPhone=lead["userPhone"],
    ).json()
    entry = next(entry for entry in profile["leads"] if entry["_id"] == lead["_id"])
    assert entry["status"] == "customer"
    assert [h["status"] for h in entry["history"]] == ["lead", "customer"]
    with pytest.raises(ValueError, match="status"):
        emulator.change_status(lead["_id"], "won", at)


# --- concurrency, latency and faults -------------------------------------------------------


def test_latency_delays_answers_without_serialising_them(emulator: FootprintsEmulator) -> None:
    token = get_token(emulator)
    url = f"{emulator.url}/api/channels?access_token={token}"
    # Connect first, one at a time: the listen backlog of the base server is socketserver's
    # default of 5, and connections beyond it wait a second for the SYN to be retried.
    sessions = [requests.Session() for _ in range(8)]
    for session in sessions:
        assert session.get(url).status_code == 200
    emulator.latency_seconds = 0.2
    started = time.monotonic()
    get_token(emulator)
    assert time.monotonic() - started >= 0.2, "the token request is delayed too"

    barrier = threading.Barrier(8)

    def fetch(session: requests.Session) -> int:
        barrier.wait(timeout=10)
        return session.get(url, timeout=10).status_code

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(fetch, sessions))
    finally:
        for session in sessions:
            session.close()
    elapsed = time.monotonic() - started
    assert statuses == [200] * 8
    assert emulator.max_in_flight > 1
    # Serialised, eight answers would take 1.6 s.
    assert elapsed < 1.2


def test_kept_alive_connections_answer_without_nagle_delays(
    emulator: FootprintsEmulator, session: requests.Session
) -> None:
    token = get_token(emulator)
    url = f"{emulator.url}/api/channels?access_token={token}"
    started = time.monotonic()
    for _ in range(30):
        assert session.get(url).status_code == 200
    # Headers and body are two writes: with Nagle's algorithm on, each answer on a kept-alive
    # connection waits about 40 ms for the client's delayed ACK (1.2 s here).
    assert time.monotonic() - started < 0.6


def test_rate_limit_fault_with_retry_after(
    emulator: FootprintsEmulator, session: requests.Session
) -> None:
    token = get_token(emulator)
    emulator.add_fault(Fault(status=429, headers={"Retry-After": "1"}, path_contains="/api/lead?"))
    params = {"startDate": "2026-09-01", "endDate": "2026-09-30"}
    limited = api(session, emulator, "/api/lead", access_token=token, **params)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert api(session, emulator, "/api/lead", access_token=token, **params).status_code == 200


def test_unauthorised_fault_on_a_valid_token(
    emulator: FootprintsEmulator, session: requests.Session, data: FootprintsData
) -> None:
    token = get_token(emulator)
    customer = data.customers[0]
    lookup = {"userEmail": customer["userEmail"], "userPhone": customer["userPhone"]}
    emulator.add_fault(
        Fault(status=401, body={"error": "invalid_token"}, path_contains="/api/client")
    )
    refused = api(session, emulator, "/api/client", access_token=token, **lookup)
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid_token"}
    assert api(session, emulator, "/api/client", access_token=token, **lookup).status_code == 200
    emulator.add_fault(Fault(status=500, path_contains="/api/token"))
    failed = requests.post(
        f"{emulator.url}/api/token", auth=CLIENT, data={"grant_type": "client_credentials"}
    )
    assert failed.status_code == 500


# --- demo data -----------------------------------------------------------------------------


def test_generator_is_deterministic(data: FootprintsData) -> None:
    assert generate_footprints(LEADS, seed=5, start=START, end=END) == data
    assert generate_footprints(50, seed=6, start=START, end=END) != generate_footprints(
        50, seed=5, start=START, end=END
    )
    with pytest.raises(ValueError):
        generate_footprints(10, start=END, end=START)


def test_generated_leads_span_the_days_and_reference_the_lists(big_data: FootprintsData) -> None:
    leads = big_data.leads
    moments = [created(lead) for lead in leads]
    assert moments == sorted(moments)
    assert moments[0].date() == START and moments[-1].date() == END
    refs = big_data.references
    assert set(refs) == set(REFERENCE_PATHS)
    assert all(5 <= len(rows) <= 60 for rows in refs.values())
    ids = {name: {row["_id"] for row in rows} for name, rows in refs.items()}
    consultants = {u["_id"] for u in refs["business_users"] if u["role"] == "consultant"}
    for lead in leads:
        assert lead.get("offerId") in ids["offers"] | {None}
        assert lead["sku"]["_id"] in ids["skus"]
        assert lead["locationId"] in ids["locations"] | {None}
        assert lead["channelId"] in ids["channels"]
        assert lead["offlineCampaignId"] in ids["offline_campaigns"] | {None}
        assert lead.get("consultant", {}).get("_id", next(iter(consultants))) in consultants
        assert re.fullmatch(r"EXT-\d{6}", lead["userExternalId"])
    everything = [
        *leads,
        *big_data.actions,
        *big_data.customers,
        *(row for rows in refs.values() for row in rows),
    ]
    assert all(OBJECT_ID.fullmatch(row["_id"]) for row in everything)
    assert len({row["_id"] for row in everything}) == len(everything)
    hidden = sum(not listed(lead) for lead in leads)
    assert 0.02 * len(leads) < hidden < 0.07 * len(leads)


def test_generated_statuses_and_contracts(big_data: FootprintsData) -> None:
    statuses = Counter(lead["status"] for lead in big_data.leads)
    assert set(statuses) == set(STATUSES)
    assert 0.07 < statuses["customer"] / len(big_data.leads) < 0.13
    values = []
    for lead in big_data.leads:
        changed = parse_timestamp(lead["timestampStatusChange"])
        updated = parse_timestamp(lead["updatedAt"])
        assert changed is not None and updated is not None
        assert created(lead) <= changed <= updated
        if lead["status"] == "customer":
            assert lead["contractNumber"] and lead["contractDate"]
            values.append(lead["contractValue"])
    assert any(isinstance(v, str) for v in values) and any(not isinstance(v, str) for v in values)
    assert all(float(v) > 0 for v in values)


def test_generated_timestamps_come_in_the_reference_shapes(big_data: FootprintsData) -> None:
    created_at = [lead["createdAt"] for lead in big_data.leads]
    iso = sum(bool(ISO.fullmatch(text)) for text in created_at)
    plain = sum(bool(PLAIN.fullmatch(text)) for text in created_at)
    assert iso + plain == len(created_at)
    assert 0.8 < iso / len(created_at) < 0.97
    birthdays = Counter(
        "js" if JS_DATE.fullmatch(lead["userBirthday"]) else lead["userBirthday"]
        for lead in big_data.leads
    )
    assert birthdays["js"] > 0.8 * len(big_data.leads)
    assert {"0000-00-00", "unknown", ""} <= set(birthdays)
    assert any(lead["timestamp"] == "0000-00-00 00:00:00" for lead in big_data.leads)
    contract_dates = {lead.get("contractDate") for lead in big_data.leads}
    assert "0000-00-00" in contract_dates


def test_generated_phones_mix_infinity_callers_romanian_and_junk(big_data: FootprintsData) -> None:
    pool = set(caller_pool(7, 800))
    kinds = Counter()
    spellings = set()
    for lead in big_data.leads:
        phone = lead["userPhone"]
        digits = re.sub(r"\D", "", phone or "")
        if not phone:
            kinds["none"] += 1
        elif phone.startswith(("+44", "0044")):
            assert "+44" + re.sub(r"^(0044|44)", "", digits) in pool
            kinds["uk"] += 1
            spellings.add(re.sub(r"\d", "9", phone))
        elif re.fullmatch(r"(\+40|0040|0)(7\d{8}|21\d{7})", re.sub(r"[ ]", "", phone)):
            kinds["ro"] += 1
        else:
            assert len(digits) < 7
            kinds["odd"] += 1
    total = len(big_data.leads)
    assert 0.52 < kinds["uk"] / total < 0.68
    assert 0.23 < kinds["ro"] / total < 0.37
    assert 0.02 < kinds["none"] / total < 0.08
    assert 0.02 < kinds["odd"] / total < 0.08
    # +44 7700 900123, 0044 7700 900123, +447700900123
    assert {"+99 9999 999999", "9999 9999 999999", "+999999999999"} <= spellings
    assert any(not lead["userEmail"] for lead in big_data.leads)


def test_generated_actions_and_customers_belong_to_leads(big_data: FootprintsData) -> None:
    per_lead = Counter(action["leadId"] for action in big_data.actions)
    assert set(per_lead) == {lead["_id"] for lead in big_data.leads}
    assert set(per_lead.values()) == {1, 2, 3, 4}
    details = {(a["leadId"], a["actionDetail"]) for a in big_data.actions}
    for lead in big_data.leads:
        if lead["status"] != "lead":
            assert (lead["_id"], f"Status changed to {lead['status']}") in details

    keys = {customer_key(c["userEmail"], c["userPhone"]): c["_id"] for c in big_data.customers}
    assert len(keys) == len(big_data.customers)
    lead_keys = set()
    for lead in big_data.leads:
        key = customer_key(lead["userEmail"], lead["userPhone"])
        assert lead["clientId"] == (keys[key] if key else None)
        lead_keys.add(key)
    assert set(keys) == lead_keys - {None}
    repeat_buyers = [c for c in big_data.customers if len(c["leads"]) > 1]
    assert len(repeat_buyers) > 0.05 * len(big_data.customers)


def test_standalone_emulator_prints_its_url_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators.footprints",
            "--leads",
            "40",
            "--seed",
            "3",
            "--start",
            "2026-09-01",
            "--end",
            "2026-09-03",
            "--latency-ms",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        token = requests.post(
            f"{url}/api/token", auth=CLIENT, data={"grant_type": "client_credentials"}
        ).json()["access_token"]
        params = {"access_token": token, "startDate": "2026-09-01", "endDate": "2026-09-03"}
        rows = requests.get(f"{url}/api/lead", params={**params, "pageSize": 500}).json()
        expected = generate_footprints(40, seed=3, start=date(2026, 9, 1), end=date(2026, 9, 3))
        assert rows == [lead for lead in expected.leads if listed(lead)]
        assert len(rows) > 30
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
