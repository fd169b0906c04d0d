"""Deterministic, realistic Infinity trigger rows for the emulator, the tests and the benchmark.

The rows look like the sample rows of the Reports API v2 reference, quirks included:

- Every value is a string, numbers and dates too ("callDuration": "0", "lat": "51.5074").
- rowIds start high (141247288 by default, as in the reference's paging example) and have gaps,
  because triggers are deleted after the retention period.
- triggerDatetime ("YYYY-MM-DD HH:MM:SS", UTC) is slightly out of order relative to rowId, because
  tracking is asynchronous.
- The field set depends on the kind of trigger, as in the reference: visits (act "land") carry the
  visitor block (ip, ua, lat, long, visitorFirstDatetime, ...) and the marketing block (campaign,
  adGroup, keywordRef, ...) but no transaction fields; calls carry the transaction block (txr, txv,
  txc, goalValue, goalCurrency, ...) and dgrpName/dgrpRef/callRatingId but no visitor block. A
  loader that takes its schema from the first row loses columns.
- Callers are a pool of repeat callers whose numbers are written in many formats (`07700 900123`,
  `+44 7700 900123`, `447700900123`, `(020) 7946 0958`, `0044...`), with a few non-numbers
  (`anonymous`, `test.user2`); web triggers have an empty srcPhoneNumber. The numbers are Ofcom's
  drama ranges, so they can never reach a real person.
- Custom fields: pass-through `pt_utm_source`, `pt_utm_campaign`; variables `c_qubit_visitor_id`,
  `c_ga_client_id` (Google Analytics' `<random>.<first visit unix time>`).

The reference's own sample rows are kept verbatim in `REFERENCE_SAMPLE_LINES`: their `notes`
value embeds unescaped double quotes, so they are not valid JSON, and a client must cope.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

DEFAULT_END = datetime(2026, 11, 1, tzinfo=UTC)
DEFAULT_FIRST_ROW_ID = 141247288

# Ofcom's ranges reserved for drama: one mobile block and geographic blocks of 1,000 numbers each,
# as E.164 prefixes to which three digits are appended.
_MOBILE_PREFIX = "+447700900"
_LANDLINE_PREFIXES = (
    "+442079460",  # 020 7946 0xxx London
    "+441134960",  # 0113 496 0xxx Leeds
    "+441144960",
    "+441154960",
    "+441164960",
    "+441174960",
    "+441184960",
    "+441214960",
    "+441314960",
    "+441414960",
    "+441514960",
    "+441614960",
    "+441914980",
    "+442896496",  # 028 9649 6xxx Belfast
    "+442920180",  # 029 2018 0xxx Cardiff
    "+441632960",  # 01632 960xxx, fictitious area
)
CALLER_POOL_CAPACITY = 1000 * (1 + len(_LANDLINE_PREFIXES))

# Indexes into _formats(), each as often as that way of writing a number shows up (per cent).
_FORMAT_TABLE = (0,) * 30 + (1,) * 20 + (2,) * 15 + (3,) * 10 + (4,) * 10 + (5, 6, 7) * 5

_ACTS = ("call", "land", "goal", "callBlegStart", "callUser", "callRate")
_ACT_WEIGHTS = (56, 28, 6, 4, 3, 3)
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 10, 9, 9, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1)

# ch, chName, chType, src, pt_utm_source, campaigns (name, utm campaign, ad group, keyword)
_CHANNELS = (
    ("1", "Direct", "direct", "direct", "", ()),
    ("2", "Organic Search", "seo", "google", "google", ()),
    (
        "3",
        "Google Ads",
        "ppc",
        "google",
        "google",
        (
            ("Brand", "brand_exact", "Brand Terms", "example home services"),
            ("Boiler Cover", "boiler_cover_uk", "Boiler Cover - Exact", "boiler cover"),
            ("Emergency Plumber", "emergency_plumber", "Plumber Near Me", "emergency plumber"),
        ),
    ),
    (
        "4",
        "Microsoft Ads",
        "ppc",
        "bing",
        "bing",
        (("Boiler Cover", "boiler_cover_bing", "Boiler Cover - Broad", "boiler insurance"),),
    ),
    (
        "5",
        "Email",
        "email",
        "newsletter",
        "newsletter",
        (("Autumn Newsletter", "autumn_newsletter_2026", "", ""),),
    ),
    (
        "6",
        "Social",
        "social",
        "facebook",
        "facebook",
        (("Retargeting", "retargeting_q4", "Site Visitors 30d", ""),),
    ),
)
_CHANNEL_WEIGHTS = (22, 30, 28, 5, 8, 7)
_REFERRERS = {
    "direct": "",
    "seo": "https://www.google.co.uk/",
    "ppc": "https://www.google.co.uk/aclk?sa=l&ai=DChcSEwjx5cPq&sig=AOD64_3",
    "email": "https://mail.google.com/",
    "social": "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.example.co.uk%2F",
}
_UTM_MEDIUM = {"seo": "organic", "ppc": "cpc", "email": "email", "social": "social"}
_NO_CAMPAIGN = ("", "", "", "")
# Formatting times piecewise from tables is several times faster than strftime or f-strings.
_HOURS_MINUTES = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_NO_KEYWORDS = ("0",) * 6
_DOMAIN = "www.example.co.uk"
_PAGES = (
    ("/", "Example Home Services | Boiler Repair, Cover and Servicing"),
    ("/boiler-cover", "Boiler Cover Plans from £9.99 a month | Example Home Services"),
    ("/emergency-plumber", "24/7 Emergency Plumber Near You | Example Home Services"),
    ("/boiler-servicing?utm_content=hero", "Annual Boiler Service | Example Home Services"),
    ("/contact-us", "Contact Us | Example Home Services"),
    ("/quote?product=home-emergency", "Get a Quote in 2 Minutes | Example Home Services"),
    ("/blog/how-to-bleed-a-radiator", "How to Bleed a Radiator: A Step-by-Step Guide"),
)
_USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
)
_RESOLUTIONS = ("390x844", "412x915", "1920x1080", "1440x900", "2560x1440", "1366x768")
_ISPS = (
    "BT Public Internet Service",
    "Sky UK Limited",
    "Virgin Media Limited",
    "TalkTalk Communications Limited",
    "Vodafone Limited",
    "EE Limited",
)
# city, region, postcode district, lat, long
_CITIES = (
    ("London", "Greater London", "SW1A", "51.5074", "-0.1278"),
    ("Leeds", "West Yorkshire", "LS1", "53.8008", "-1.5491"),
    ("Manchester", "Greater Manchester", "M1", "53.4808", "-2.2426"),
    ("Birmingham", "West Midlands", "B1", "52.4862", "-1.8904"),
    ("Glasgow", "Glasgow City", "G1", "55.8642", "-4.2518"),
    ("Bristol", "Bristol", "BS1", "51.4545", "-2.5879"),
    ("Cardiff", "Cardiff", "CF10", "51.4816", "-3.1791"),
    ("Belfast", "Belfast", "BT1", "54.5973", "-5.9301"),
    ("Sheffield", "South Yorkshire", "S1", "53.3811", "-1.4701"),
    ("Nottingham", "Nottinghamshire", "NG1", "52.9548", "-1.1581"),
)
_IP_BLOCKS = ("203.0.113.", "198.51.100.", "192.0.2.")  # documentation ranges
_OPERATORS = ("sales.agent1", "sales.agent2", "sales.agent3", "support.agent1", "test.user")
# dgrp, dgrpName, dgrpRef
_DGRPS = (("10008", "Sales Line", "sales"), ("10009", "Support Line", "support"))
# segment, segmentName, segmentRef
_SEGMENTS = (
    ("1", "New Customers", "new-customers"),
    ("2", "Returning Customers", "returning-customers"),
    ("4", "Boiler Cover", "boiler-cover"),
)
# Tracking numbers shown on the site, one per channel (dynamic number insertion).
_TRACKING_NUMBERS = (
    "02035555610",
    "02035555611",
    "02035555612",
    "02035555613",
    "02035555614",
    "02035555615",
)
_OFFLINE_NUMBER = "08004960300"
_HANGUP_STATES = (
    "NORMAL_CLEARING_A",
    "NORMAL_CLEARING_B",
    "NORMAL_CLEARING_A",
    "ORIGINATOR_CANCEL_A",
    "NO_ANSWER_B",
    "USER_BUSY_B",
)
_NOTES = (
    "Customer asked for a quote for boiler cover on a three-bedroom semi, sent pricing by email.",
    "Existing customer, boiler losing pressure; booked an engineer visit for Thursday morning.",
    "Comparing prices with two other providers, will call back after payday to sign up.",
    "Wrong number, was looking for the council's housing repairs line; gave them the number.",
    "Landlord with four properties wants a multi-property cover quote, passed to the sales team.",
    "Asked about the annual service price and whether the first month is free; booked service.",
)

# Empty call fields of web triggers, shared by all of them.
_WEB_CALL_BLOCK = {
    "dialledPhoneNumber": "",
    "srcPhoneNumber": "",
    "destPhoneNumber": "",
    "callDuration": "0",
    "bridgeDuration": "0",
    "ringTime": "0",
    "ivrDuration": "0",
    "queueDuration": "0",
    "operatorRef": "",
    "ivrRef": "",
    "dialplanRef": "",
    "callRating": "",
    "callState": "",
    "callDirection": "",
    "callStage": "",
    "operatorRealm": "",
    "telcoCode": "",
    "numType": "0",
    "rec": "0",
    "transcriptionConfidence": "0",
    "totalKeywordScore": "0",
    "totalOperatorKeywordScore": "0",
    "totalContactKeywordScore": "0",
    "operatorPositiveKeywordCount": "0",
    "operatorNeutralKeywordCount": "0",
    "operatorNegativeKeywordCount": "0",
    "contactPositiveKeywordCount": "0",
    "contactNeutralKeywordCount": "0",
    "contactNegativeKeywordCount": "0",
    "callPciDataChecked": "0",
    "callPciDataFound": "0",
    "callSsnDataChecked": "0",
    "callSsnDataFound": "0",
    "callPiiDataChecked": "0",
    "callPiiDataFound": "0",
    "callKeywordSpotting": "0",
    "callTranscription": "0",
}


def caller_pool(seed: int, size: int) -> list[str]:
    """The callers' numbers in E.164 (`+447700900123`), mostly mobiles.

    The order depends only on the seed, so `caller_pool(s, n)` is a prefix of `caller_pool(s, m)`
    for n < m: an emulator that takes any number of callers overlaps the triggers' callers.

    Args:
        seed: The same seed as given to `generate_triggers`.
        size: How many numbers, at most `CALLER_POOL_CAPACITY`.
    """
    if not 0 <= size <= CALLER_POOL_CAPACITY:
        raise ValueError(f"size must be between 0 and {CALLER_POOL_CAPACITY}")
    rng = random.Random(f"infinity-callers-{seed}")
    mobiles = [f"{_MOBILE_PREFIX}{n:03d}" for n in range(1000)]
    landlines = [f"{prefix}{n:03d}" for prefix in _LANDLINE_PREFIXES for n in range(1000)]
    rng.shuffle(mobiles)
    rng.shuffle(landlines)
    pool: list[str] = []
    mobile_index = landline_index = 0
    while len(pool) < size:
        mobiles_left = mobile_index < len(mobiles)
        if mobiles_left and (landline_index == len(landlines) or rng.random() < 0.6):
            pool.append(mobiles[mobile_index])
            mobile_index += 1
        else:
            pool.append(landlines[landline_index])
            landline_index += 1
    return pool


def _formats(e164: str) -> tuple[str, ...]:
    """Ways people and phone systems write a UK number, indexed by _FORMAT_TABLE."""
    nsn = e164[3:]
    if nsn.startswith(("7", "1632")):
        area, rest = nsn[:4], nsn[4:]
    elif nsn.startswith("2"):
        area, rest = nsn[:2], f"{nsn[2:6]} {nsn[6:]}"
    else:
        area, rest = nsn[:3], f"{nsn[3:6]} {nsn[6:]}"
    return (
        f"0{area} {rest}",
        f"0{nsn}",
        f"+44 {area} {rest}",
        e164,
        f"44{nsn}",
        f"0044{nsn}",
        f"(0{area}) {rest}",
        f"+44 (0){area} {rest}",
    )


def generate_triggers(
    count: int,
    *,
    seed: int = 7,
    days: int = 60,
    end: datetime | None = None,
    first_row_id: int = DEFAULT_FIRST_ROW_ID,
    igrp: str = "1",
) -> list[dict[str, str]]:
    """`count` trigger rows in rowId order; the same arguments always give the same rows.

    Args:
        count: How many rows.
        seed: Seed of the pseudo-random choices; also picks the callers (see `caller_pool`).
        days: The rows' triggerDatetime spans this many days up to `end`.
        end: End of the span (UTC if naive); defaults to the fixed `DEFAULT_END`, pass
            `datetime.now(UTC)` for fresh data.
        first_row_id: rowId of the first row.
        igrp: The installation the rows belong to.
    """
    rows = iter_triggers(count, seed=seed, days=days, end=end, first_row_id=first_row_id, igrp=igrp)
    return list(rows)


def iter_triggers(
    count: int,
    *,
    seed: int = 7,
    days: int = 60,
    end: datetime | None = None,
    first_row_id: int = DEFAULT_FIRST_ROW_ID,
    igrp: str = "1",
) -> Iterator[dict[str, str]]:
    """The rows of `generate_triggers`, one at a time, so that large sets need not fit in memory."""
    if count < 0 or days < 1:
        raise ValueError("count must not be negative and days must be at least 1")
    end = end or DEFAULT_END
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    end_ts = int(end.timestamp())
    start_ts = end_ts - days * 86400
    rng = random.Random(seed)
    random_ = rng.random
    # Draw in bulk, and with random() rather than randrange()/choice(): the per-row calls into
    # `random` dominate the cost otherwise.
    acts = rng.choices(_ACTS, _ACT_WEIGHTS, k=count)
    hours = rng.choices(range(24), _HOUR_WEIGHTS, k=count)
    timestamps = sorted(
        start_ts + int(random_() * days) * 86400 + hour * 3600 + int(random_() * 3600)
        for hour in hours
    )
    for index in range(count):
        # Asynchronous tracking: some triggers are stored a little before or after their time.
        if random_() < 0.1:
            moved = timestamps[index] + int(random_() * 1800) - 900
            timestamps[index] = min(max(moved, start_ts), end_ts - 1)

    rows = _Rows(rng, seed, count, igrp, start_ts, end_ts)
    row_id = first_row_id
    for index in range(count):
        act = acts[index]
        if act == "land" or act == "goal":
            yield rows.web(str(row_id), timestamps[index], act)
        else:
            yield rows.call(str(row_id), timestamps[index], act)
        # Gaps: triggers deleted after retention, or written by other installations.
        step = random_()
        if step < 0.8:
            row_id += 1
        elif step < 0.999:
            row_id += 2 + int(random_() * 38)
        else:
            row_id += 500 + int(random_() * 4500)


class _Rows:
    """Builds rows; per-visitor attributes are drawn once so a visitor's triggers agree."""

    def __init__(
        self, rng: random.Random, seed: int, count: int, igrp: str, start_ts: int, end_ts: int
    ) -> None:
        self.rng = rng
        self.random = random_ = rng.random
        self.igrp = igrp
        self.dates: dict[int, str] = {}
        # Caller k is also visitor k, so calls through a number shown on the site belong to a
        # visitor whose landings are in the data too.
        self.caller_count = min(CALLER_POOL_CAPACITY, max(10, count // 6))
        self.callers = [_formats(number) for number in caller_pool(seed, self.caller_count)]
        n = self.visitor_count = max(20, count // 3)
        self.vid = [f"{rng.getrandbits(32):08x}" for _ in range(n)]
        self.channel = rng.choices(_CHANNELS, _CHANNEL_WEIGHTS, k=n)
        self.campaign = [
            campaigns[int(random_() * len(campaigns))] if campaigns else _NO_CAMPAIGN
            for *_, campaigns in self.channel
        ]
        self.landing_query = [
            _landing_query(ch, campaign, rng)
            for ch, campaign in zip(self.channel, self.campaign, strict=True)
        ]
        self.city = rng.choices(_CITIES, k=n)
        self.isp = rng.choices(_ISPS, k=n)
        self.ua = rng.choices(_USER_AGENTS, k=n)
        self.res = rng.choices(_RESOLUTIONS, k=n)
        self.ip = [f"{_IP_BLOCKS[int(random_() * 3)]}{1 + int(random_() * 254)}" for _ in range(n)]
        first_span = end_ts - start_ts + 7 * 86400
        self.first_ts = [end_ts - int(random_() * first_span) for _ in range(n)]
        self.ga = [f"{10**9 + int(random_() * 10**9)}.{ts}" for ts in self.first_ts]
        self.qubit = [f"{rng.getrandbits(80):020x}" if random_() < 0.6 else "" for _ in range(n)]
        self.segment = rng.choices(_SEGMENTS, k=n)

    def when(self, ts: int) -> str:
        day, seconds = divmod(ts, 86400)
        date = self.dates.get(day)
        if date is None:
            date = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d ")
            self.dates[day] = date
        return date + _HOURS_MINUTES[seconds // 60] + _SECONDS[seconds % 60]

    def notes(self, when: str) -> str:
        random_ = self.random
        notes = [
            f'{{"note": "{_NOTES[int(random_() * len(_NOTES))]}", "createDatetime": "{when}"}}'
            for _ in range(1 + int(random_() * 3))
        ]
        return f"[{', '.join(notes)}]"

    def web(self, row_id: str, ts: int, act: str) -> dict[str, str]:
        random_ = self.random
        visitor = int(random_() * self.visitor_count)
        ch, ch_name, ch_type, src, utm_source, _ = self.channel[visitor]
        campaign, utm_campaign, ad_group, keyword = self.campaign[visitor]
        page_id = int(random_() * len(_PAGES))
        page, title = _PAGES[page_id]
        city, region, postcode, lat, long = self.city[visitor]
        segment, segment_name, segment_ref = self.segment[visitor]
        goal = act == "goal"
        ppc = ch_type == "ppc"
        ip = self.ip[visitor]
        isp = self.isp[visitor]
        first_ts = self.first_ts[visitor]
        row = {
            "rowId": row_id,
            "triggerDatetime": self.when(ts),
            "igrp": self.igrp,
            "dgrp": "0",
            "ch": ch,
            "src": src,
            "act": act,
            "algo": "",
            "attr": "",
            "vref": "",
            "href": f"https://{_DOMAIN}{page}{self.landing_query[visitor]}",
            "num": _TRACKING_NUMBERS[int(ch) - 1],
            "term": keyword,
            "vid": self.vid[visitor],
            "t": "",
            "goal": "1" if goal else "0",
            "srcHash": f"{self.rng.getrandbits(128):032x}",
            "new": "1" if first_ts >= ts else "2",
            "pageTitle": title,
            "pub": "",
            "segment": segment,
            "segmentGroupId": "0",
            "dom": _DOMAIN,
            "ref": _REFERRERS[ch_type],
            "network": src if ppc else "",
            "matchRef": f"kwd-{visitor * 7919 % 10**9:09d}" if ppc else "",
            "matchType": "e" if ppc else "",
            "campaign": campaign,
            "adGroup": ad_group,
            "adRef": f"6{visitor * 104729 % 10**11:011d}" if ppc else "",
            "keywordRef": keyword,
        }
        if goal:
            # Four in ten web goals are online sales: transaction and goal currency are set.
            if random_() < 0.4:
                value = f"{9.99 + int(random_() * 29000) / 100:.2f}"
                row["txr"] = f"ORD-{1000000 + int(random_() * 9000000)}"
                row["txv"] = row["goalValue"] = value
                row["txc"] = row["goalCurrency"] = "GBP"
                row["outcomeType"] = "S"
            else:
                row["txr"] = row["txc"] = row["goalCurrency"] = ""
                row["txv"] = row["goalValue"] = "0.00"
                row["outcomeType"] = "G"
        row.update(_WEB_CALL_BLOCK)
        row["whois"] = isp
        row["ip"] = ip
        row["ua"] = self.ua[visitor]
        row["country"] = "GB"
        row["city"] = city
        row["continent"] = "EU"
        row["res"] = self.res[visitor]
        row["lat"] = lat
        row["long"] = long
        row["region"] = region
        row["postcode"] = postcode
        row["area"] = ""
        row["spider"] = "0"
        row["host"] = f"host-{ip.replace('.', '-')}.{isp.split()[0].lower()}.example"
        row["visitorType"] = "S"
        row["sfWhoRef"] = ""
        row["visitorPageCount"] = str(1 + int(random_() * 12))
        row["visitorGoalCount"] = "1" if goal else "0"
        row["visitorCallCount"] = "0"
        row["visitorFirstDatetime"] = self.when(min(first_ts, ts))
        row["landingPageId"] = str(page_id)
        row["conversionPageId"] = str(1 + int(random_() * 6)) if goal else "0"
        row["chName"] = ch_name
        row["chType"] = ch_type
        row["segmentName"] = segment_name
        row["segmentRef"] = segment_ref
        row["orgId"] = "1"
        row["segmentGroupName"] = "Default"
        row["notes"] = ""
        row["leadScore"] = str(int(random_() * 101))
        row["pt_utm_source"] = utm_source
        row["pt_utm_campaign"] = utm_campaign
        row["c_qubit_visitor_id"] = self.qubit[visitor]
        row["c_ga_client_id"] = self.ga[visitor]
        return row

    def call(self, row_id: str, ts: int, act: str) -> dict[str, str]:
        random_ = self.random
        when = self.when(ts)
        # Repeat callers: a few call very often, most once or twice.
        caller = int(self.caller_count * random_() ** 1.8)
        numbers = self.callers[caller]
        # Seven in ten calls come through a number shown on the site: the caller was a visitor
        # and the call inherits the session's channel and pass-through tags.
        online = act != "callUser" and random_() < 0.7
        if online:
            ch, ch_name, ch_type, src, utm_source, _ = self.channel[caller]
            campaign = self.campaign[caller]
            vid, qubit, ga = self.vid[caller], self.qubit[caller], self.ga[caller]
            dialled = _TRACKING_NUMBERS[int(ch) - 1]
            page, title = _PAGES[int(random_() * len(_PAGES))]
            href = f"https://{_DOMAIN}{page}{self.landing_query[caller]}"
            src_hash = f"{self.rng.getrandbits(128):032x}"
        else:
            ch, ch_name, ch_type, src, utm_source = "0", "Unknown", "offline", "", ""
            campaign = _NO_CAMPAIGN
            vid = qubit = ga = href = title = src_hash = ""
            dialled = _OFFLINE_NUMBER
        operator = _OPERATORS[int(random_() * len(_OPERATORS))]
        dgrp, dgrp_name, dgrp_ref = _DGRPS[0] if random_() < 0.8 else _DGRPS[1]
        segment, segment_name, segment_ref = self.segment[caller]
        if act == "callUser":
            # A hosted PBX user calling out: the source is the user, the destination a customer.
            src_number, dest, direction = operator, numbers[1], "out"
        else:
            pick = random_()
            if pick < 0.02:
                src_number = "anonymous"
            elif pick < 0.03:
                src_number = "test.user2"
            else:
                src_number = numbers[_FORMAT_TABLE[int(random_() * len(_FORMAT_TABLE))]]
            dest, direction = f"{operator}@localhost.net", "in"
        answered = act != "callRate" and random_() < 0.85
        if answered:
            ivr = int(random_() * 12)
            queue = int(random_() * 60)
            duration = min(int(self.rng.lognormvariate(4.6, 1.0)), 3600) + ivr + queue
            # Keyword counts 0-7 each, from one draw.
            bits = self.rng.getrandbits(18)
            counts: Sequence[str] = [str((bits >> shift) & 7) for shift in (0, 3, 6, 9, 12, 15)]
            operator_score = 10 * ((bits & 7) - ((bits >> 6) & 7))
            contact_score = 10 * (((bits >> 9) & 7) - ((bits >> 15) & 7))
        else:
            ivr = queue = duration = operator_score = contact_score = 0
            counts = _NO_KEYWORDS
        qualified = duration >= 240
        checked = "1" if answered else "0"
        if act == "callRate":
            # The cost of a call: a currency, but not a sale, hence not in the transactions route.
            txr, txv, txc, outcome = "", "0.02", "GBP", "R"
        elif qualified and random_() < 0.08:
            # A sale over the phone.
            txr, txc, outcome = f"PH-{1000000 + int(random_() * 9000000)}", "GBP", "S"
            txv = f"{9.99 + int(random_() * 29000) / 100:.2f}"
        else:
            txr, txv, txc, outcome = "", "0.00", "", "C"
        return {
            "rowId": row_id,
            "triggerDatetime": when,
            "igrp": self.igrp,
            "dgrp": dgrp,
            "ch": ch,
            "src": src,
            "act": act,
            "algo": "session" if online else "failsafe",
            "attr": "",
            "vref": "",
            "href": href,
            "num": dialled,
            "term": campaign[3],
            "vid": vid,
            "t": "",
            "goal": "1" if qualified else "0",
            "srcHash": src_hash,
            "new": "0",
            "pageTitle": title,
            "pub": "",
            "segment": segment,
            "segmentGroupId": "0",
            "txr": txr,
            "txv": txv,
            "txc": txc,
            "goalValue": "25.00" if qualified else "0.00",
            "goalCurrency": "",
            "outcomeType": outcome,
            "dialledPhoneNumber": dialled,
            "srcPhoneNumber": src_number,
            "destPhoneNumber": dest,
            "callDuration": str(duration),
            "bridgeDuration": str(max(duration - ivr - queue, 0)),
            "ringTime": str(2 + int(random_() * 28)),
            "ivrDuration": str(ivr),
            "queueDuration": str(queue),
            "operatorRef": operator if answered else "",
            "ivrRef": "main-menu" if answered else "",
            "dialplanRef": f"{dgrp_ref}-hours",
            "callRating": str(1 + int(random_() * 5)) if answered and random_() < 0.3 else "",
            "callState": _HANGUP_STATES[int(random_() * len(_HANGUP_STATES))]
            if answered
            else "NO_ANSWER_B",
            "callDirection": direction,
            "callStage": "ended",
            "operatorRealm": "localhost.net",
            "telcoCode": "ict",
            "numType": "37",
            "rec": "1" if answered else "0",
            "transcriptionConfidence": str(70 + int(random_() * 29)) if answered else "0",
            "totalKeywordScore": str(operator_score + contact_score),
            "totalOperatorKeywordScore": str(operator_score),
            "totalContactKeywordScore": str(contact_score),
            "operatorPositiveKeywordCount": counts[0],
            "operatorNeutralKeywordCount": counts[1],
            "operatorNegativeKeywordCount": counts[2],
            "contactPositiveKeywordCount": counts[3],
            "contactNeutralKeywordCount": counts[4],
            "contactNegativeKeywordCount": counts[5],
            # Recordings are scanned for card, social security and personal data.
            "callPciDataChecked": checked,
            "callPciDataFound": "1" if answered and random_() < 0.02 else "0",
            "callSsnDataChecked": checked,
            "callSsnDataFound": "0",
            "callPiiDataChecked": checked,
            "callPiiDataFound": "1" if answered and random_() < 0.3 else "0",
            "callKeywordSpotting": checked,
            "callTranscription": checked,
            "chName": ch_name,
            "chType": ch_type,
            "dgrpName": dgrp_name,
            "dgrpRef": dgrp_ref,
            "callRatingId": "1",
            "segmentName": segment_name,
            "segmentRef": segment_ref,
            "orgId": "1",
            "segmentGroupName": "Default",
            "notes": self.notes(when) if answered and random_() < 0.5 else "",
            "leadScore": str(min(duration, 500)),
            "pt_utm_source": utm_source,
            "pt_utm_campaign": campaign[1],
            "c_qubit_visitor_id": qubit,
            "c_ga_client_id": ga,
        }


def _landing_query(
    channel: tuple[Any, ...], campaign: tuple[str, str, str, str], rng: random.Random
) -> str:
    """The query string of a visitor's landing page: UTM tags, and a click id for paid search."""
    _, _, ch_type, _, utm_source, _ = channel
    if not utm_source:
        return ""
    query = f"?utm_source={utm_source}&utm_medium={_UTM_MEDIUM[ch_type]}"
    if campaign[1]:
        query += f"&utm_campaign={campaign[1]}"
    if ch_type == "ppc":
        # Google's click ids are about 90 characters of URL-safe base64.
        click_id = base64.urlsafe_b64encode(rng.getrandbits(480).to_bytes(60)).decode()
        query += f"&gad_source=1&gclid=EAIaIQobChMI{click_id}_BwE"
    return query


# The reference's sample rows of "Retrieve all triggers", verbatim: `notes` holds unescaped
# double quotes, so neither line is valid JSON.
REFERENCE_SAMPLE_LINES: list[str] = [
    (
        '{"rowId":"1","triggerDatetime":"2018-01-16 13:20:11","igrp":"1","dgrp":"0","ch":'
        '"1","src":"direct","act":"land","algo":"","attr":"","vref":"","href":"","num":""'
        ',"term":"","vid":"93393a8e","t":"","goal":"0","srcHash":"abe88d1f435bafca9d8ba33'
        '5c9bff04d","new":"2","pageTitle":"TTS number allocation test site UK\'s","pub":""'
        ',"segment":"4","segmentGroupId":"0","dom":"","ref":"","network":"","matchRef":""'
        ',"matchType":"","campaign":"","adGroup":"","adRef":"","keywordRef":"","dialledPh'
        'oneNumber":"02035555610","srcPhoneNumber":"0123456","destPhoneNumber":"test.user'
        '@localhost.net","callDuration":"0","bridgeDuration":"0","ringTime":"0","ivrDurat'
        'ion":"4","queueDuration":"2","operatorRef":"shahrukh.omar","ivrRef":"","dialplan'
        'Ref":"","callRating":"","callState":"","callDirection":"in","callStage":"","oper'
        'atorRealm":"","telcoCode":"ict","numType":"37","rec":"0","transcriptionConfidenc'
        'e":"0","totalKeywordScore":"0","totalOperatorKeywordScore":"26","totalContactKey'
        'wordScore":"-176","operatorPositiveKeywordCount":"0","operatorNeutralKeywordCoun'
        't":"0","operatorNegativeKeywordCount":"0","contactPositiveKeywordCount":"0","con'
        'tactNeutralKeywordCount":"0","contactNegativeKeywordCount":"0","callPciDataCheck'
        'ed":"0","callPciDataFound":"0","callSsnDataChecked":"0","callSsnDataFound":"0","'
        'callPiiDataChecked":"0","callPiiDataFound":"0","callKeywordSpotting":"0","callTr'
        'anscription":"0","whois":"WHOIS PII Data","ip":"127.0.0.1","ua":"Mozilla 5.0","c'
        'ountry":"","city":"","continent":"","res":"2560x1440","lat":"0.0000","long":"0.0'
        '000","region":"","postcode":"","area":"","spider":"","host":"","visitorType":"S"'
        ',"sfWhoRef":"","visitorPageCount":"1","visitorGoalCount":"0","visitorCallCount":'
        '"3","visitorFirstDatetime":"2018-01-16 13:20:11","landingPageId": "0","conversio'
        'nPageId": "0","chName":"Direct","chType":"direct","segmentName":"test2","segment'
        'Ref":"test2","orgId":"1","segmentGroupName":"Default","notes":"[{"note": "Test N'
        'ote 1", "createDatetime": "2023-01-01 09:00:00"}, {"note": "Test Note 2", "creat'
        'eDatetime": "2023-01-02 10:30:00"}]", "leadScore":"100"}'
    ),
    (
        '{"rowId":"2","triggerDatetime":"2018-01-24 11:34:14","igrp":"1","dgrp":"10008","'
        'ch":"0","src":"","act":"callBlegStart","algo":"failsafe","attr":"","vref":"","hr'
        'ef":"","num":"02035555610","term":"","vid":"","t":"","goal":"0","srcHash":"","ne'
        'w":"0","pageTitle":"","pub":"","segment":"4","segmentGroupId":"0","txr":"2401","'
        'txv":"0.00","txc":"","goalValue":"0.00","goalCurrency":"","outcomeType":"C","dia'
        'lledPhoneNumber":"02035555610","srcPhoneNumber":"test.user2","destPhoneNumber":"'
        'test.user@localhost.net","callDuration":"0","bridgeDuration":"0","ringTime":"0",'
        '"ivrDuration":"4","queueDuration":"2","operatorRef":"test.user","ivrRef":"","dia'
        'lplanRef":"","callRating":"","callState":"","callDirection":"in","callStage":"",'
        '"operatorRealm":"","telcoCode":"ict","numType":"37","rec":"0","transcriptionConf'
        'idence":"0","totalKeywordScore":"0","totalOperatorKeywordScore":"26","totalConta'
        'ctKeywordScore":"-176","operatorPositiveKeywordCount":"0","operatorNeutralKeywor'
        'dCount":"0","operatorNegativeKeywordCount":"0","contactPositiveKeywordCount":"0"'
        ',"contactNeutralKeywordCount":"0","contactNegativeKeywordCount":"0","callPciData'
        'Checked":"0","callPciDataFound":"0","callSsnDataChecked":"0","callSsnDataFound":'
        '"0","callPiiDataChecked":"0","callPiiDataFound":"0","callKeywordSpotting":"0","c'
        'allTranscription":"0","chName":"Unknown","chType":"offline","dgrpName":"Test DGR'
        ' P SO  ","dgrpRef":"","callRatingId":"1","segmentName":"test2","segmentRef":"tes'
        't2","orgId":"1","segmentGroupName":"Default","lands":0,"notes":"[{"note": "Test '
        'Note 1", "createDatetime": "2023-01-01 09:00:00"}, {"note": "Test Note 2", "crea'
        'teDatetime": "2023-01-02 10:30:00"}]", "leadScore":"300"}'
    ),
]

# The reference's sample rows of "Itemised calls", verbatim.
ITEMISED_CALLS_SAMPLE_LINES: list[str] = [
    (
        '{"rowId":"4","callDuration":"8","srcPhoneNumber":"test.user2","dialledPhoneNumbe'
        'r":"012312345610","destPhoneNumber":"test.user2@localhost.net","callDirection":"'
        'in","callCharge":"0.020000","chargeCurrencyCode":"","perMinuteCharge":"0.020000"'
        ',"triggerDatetime":"2018-01-24 11:34:08","igrp":"1","dgrp":"10008","ch":"0","seg'
        'ment":"4","segmentGroupId":"0","chName":"Unknown","chType":"offline","dgrpName":'
        '"Test DGR P SO  ","dgrpRef":"","callRatingId":"1","segmentName":"test2","segment'
        'Ref":"test2","orgId":"1","segmentGroupName":"Default"}'
    ),
    (
        '{"rowId":"7","callDuration":"12","srcPhoneNumber":"test.user2","dialledPhoneNumb'
        'er":"012312345610","destPhoneNumber":"test.user2@localhost.net","callDirection":'
        '"in","callCharge":"0.000000","chargeCurrencyCode":"","perMinuteCharge":"0.000000'
        '","triggerDatetime":"2018-01-26 12:07:55","igrp":"1","dgrp":"10008","ch":"0","se'
        'gment":"4","segmentGroupId":"0","chName":"Unknown","chType":"offline","dgrpName"'
        ':"DGRP","dgrpRef":"","callRatingId":"1","segmentName":"test2","segmentRef":"test'
        '2","orgId":"1","segmentGroupName":"Default"}'
    ),
]
