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

import random
from collections.abc import Iterator
from datetime import UTC, datetime

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

# How often each way of writing a caller's number shows up, in the order of _formats().
_FORMAT_WEIGHTS = (30, 20, 15, 10, 10, 5, 5, 5)

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
    "Customer asked for a quote for boiler cover",
    "Existing customer, booked an engineer visit",
    "Price comparison, will call back after payday",
    "Wrong number, looking for the council",
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
    """Ways people and phone systems write a UK number, in the order of _FORMAT_WEIGHTS."""
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


def _format_datetime(ts: int, dates: dict[int, str]) -> str:
    day, seconds = divmod(ts, 86400)
    date = dates.get(day)
    if date is None:
        date = dates[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{date} {hours:02d}:{minutes:02d}:{seconds:02d}"


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
    # Draw in bulk up front: per-row calls into random dominate the cost otherwise.
    acts = rng.choices(_ACTS, _ACT_WEIGHTS, k=count)
    hours = rng.choices(range(24), _HOUR_WEIGHTS, k=count)
    timestamps = sorted(
        start_ts + rng.randrange(days) * 86400 + hour * 3600 + rng.randrange(3600) for hour in hours
    )
    for index in range(count):
        # Asynchronous tracking: some triggers are stored a little before or after their time.
        if rng.random() < 0.1:
            moved = timestamps[index] + rng.randint(-900, 900)
            timestamps[index] = min(max(moved, start_ts), end_ts - 1)

    visitors = _Visitors(rng, max(20, count // 3), start_ts, end_ts)
    caller_count = min(CALLER_POOL_CAPACITY, max(10, count // 6))
    callers = [_formats(number) for number in caller_pool(seed, caller_count)]
    dates: dict[int, str] = {}
    random_ = rng.random
    randrange = rng.randrange
    row_id = first_row_id
    for index in range(count):
        ts = timestamps[index]
        when = _format_datetime(ts, dates)
        act = acts[index]
        common = (str(row_id), when, igrp, act)
        if act in ("land", "goal"):
            row = _web_row(common, randrange(visitors.count), visitors, rng, dates, ts)
        else:
            # Repeat callers: a few call very often, most once or twice.
            caller = int(caller_count * random_() ** 1.8)
            row = _call_row(common, caller, callers[caller], visitors, rng)
        yield row
        # Gaps: triggers deleted after retention, or written by other installations.
        step = random_()
        row_id += 1 if step < 0.8 else randrange(2, 40) if step < 0.999 else randrange(500, 5000)


class _Visitors:
    """Per-visitor attributes, drawn once so that a visitor's triggers agree with each other."""

    def __init__(self, rng: random.Random, count: int, start_ts: int, end_ts: int) -> None:
        self.count = count
        self.vid = [f"{rng.getrandbits(32):08x}" for _ in range(count)]
        self.channel = rng.choices(_CHANNELS, _CHANNEL_WEIGHTS, k=count)
        self.campaign = [rng.choice(ch[5]) if ch[5] else ("", "", "", "") for ch in self.channel]
        self.city = rng.choices(_CITIES, k=count)
        self.isp = rng.choices(_ISPS, k=count)
        self.ua = rng.choices(_USER_AGENTS, k=count)
        self.res = rng.choices(_RESOLUTIONS, k=count)
        self.ip = [f"{rng.choice(_IP_BLOCKS)}{rng.randrange(1, 255)}" for _ in range(count)]
        self.first_ts = [rng.randrange(start_ts - 7 * 86400, end_ts) for _ in range(count)]
        self.ga = [f"{rng.randrange(10**9, 2**31)}.{ts}" for ts in self.first_ts]
        self.qubit = [
            f"{rng.getrandbits(80):020x}" if rng.random() < 0.6 else "" for _ in range(count)
        ]
        self.segment = rng.choices(_SEGMENTS, k=count)


def _notes(rng: random.Random, when: str) -> str:
    note = rng.choice(_NOTES)
    return f'[{{"note": "{note}", "createDatetime": "{when}"}}]'


def _web_row(
    common: tuple[str, str, str, str],
    visitor: int,
    v: _Visitors,
    rng: random.Random,
    dates: dict[int, str],
    ts: int,
) -> dict[str, str]:
    row_id, when, igrp, act = common
    ch, ch_name, ch_type, src, utm_source, _ = v.channel[visitor]
    campaign, utm_campaign, ad_group, keyword = v.campaign[visitor]
    page_id = rng.randrange(len(_PAGES))
    page, title = _PAGES[page_id]
    city, region, postcode, lat, long = v.city[visitor]
    segment, segment_name, segment_ref = v.segment[visitor]
    goal = act == "goal"
    ppc = ch_type == "ppc"
    ip = v.ip[visitor]
    row = {
        "rowId": row_id,
        "triggerDatetime": when,
        "igrp": igrp,
        "dgrp": "0",
        "ch": ch,
        "src": src,
        "act": act,
        "algo": "",
        "attr": "",
        "vref": "",
        "href": f"https://{_DOMAIN}{page}",
        "num": _TRACKING_NUMBERS[int(ch) - 1],
        "term": keyword,
        "vid": v.vid[visitor],
        "t": "",
        "goal": "1" if goal else "0",
        "srcHash": f"{rng.getrandbits(128):032x}",
        "new": "1" if v.first_ts[visitor] >= ts else "2",
        "pageTitle": title,
        "pub": "",
        "segment": segment,
        "segmentGroupId": "0",
        "dom": _DOMAIN,
        "ref": _REFERRERS[ch_type],
        "network": src if ppc else "",
        "matchRef": f"{rng.getrandbits(40):010x}" if ppc else "",
        "matchType": "e" if ppc else "",
        "campaign": campaign,
        "adGroup": ad_group,
        "adRef": f"{rng.randrange(10**11, 10**12)}" if ppc else "",
        "keywordRef": keyword,
    }
    if goal:
        # Four in ten web goals are online sales: the transaction and goal currency fields.
        sale = rng.random() < 0.4
        value = f"{rng.randrange(999, 30000) / 100:.2f}" if sale else "0.00"
        row["txr"] = f"ORD-{rng.randrange(10**6, 10**7)}" if sale else ""
        row["txv"] = value
        row["txc"] = "GBP" if sale else ""
        row["goalValue"] = value
        row["goalCurrency"] = "GBP" if sale else ""
        row["outcomeType"] = "S" if sale else "G"
    row.update(_WEB_CALL_BLOCK)
    first_ts = min(v.first_ts[visitor], ts)
    row.update(
        {
            "whois": v.isp[visitor],
            "ip": ip,
            "ua": v.ua[visitor],
            "country": "GB",
            "city": city,
            "continent": "EU",
            "res": v.res[visitor],
            "lat": lat,
            "long": long,
            "region": region,
            "postcode": postcode,
            "area": "",
            "spider": "0",
            "host": f"host-{ip.replace('.', '-')}.{v.isp[visitor].split()[0].lower()}.example",
            "visitorType": "S",
            "sfWhoRef": "",
            "visitorPageCount": str(rng.randrange(1, 12)),
            "visitorGoalCount": "1" if goal else "0",
            "visitorCallCount": "0",
            "visitorFirstDatetime": _format_datetime(first_ts, dates),
            "landingPageId": str(page_id),
            "conversionPageId": str(rng.randrange(1, 7)) if goal else "0",
            "chName": ch_name,
            "chType": ch_type,
            "segmentName": segment_name,
            "segmentRef": segment_ref,
            "orgId": "1",
            "segmentGroupName": "Default",
            "notes": "",
            "leadScore": str(rng.randrange(0, 101)),
            "pt_utm_source": utm_source,
            "pt_utm_campaign": utm_campaign,
            "c_qubit_visitor_id": v.qubit[visitor],
            "c_ga_client_id": v.ga[visitor],
        }
    )
    return row


def _call_row(
    common: tuple[str, str, str, str],
    caller: int,
    numbers: tuple[str, ...],
    v: _Visitors,
    rng: random.Random,
) -> dict[str, str]:
    row_id, when, igrp, act = common
    random_ = rng.random
    # Seven in ten calls come through a number shown on the site, so the caller was a visitor
    # (caller k is visitor k) and the call inherits the session's channel and pass-through tags.
    online = act != "callUser" and random_() < 0.7
    if online:
        ch, ch_name, ch_type, src, utm_source, _ = v.channel[caller]
        campaign = v.campaign[caller]
        vid, qubit, ga = v.vid[caller], v.qubit[caller], v.ga[caller]
        dialled = _TRACKING_NUMBERS[int(ch) - 1]
        page, title = rng.choice(_PAGES)
        href = f"https://{_DOMAIN}{page}"
    else:
        ch, ch_name, ch_type, src, utm_source = "0", "Unknown", "offline", "", ""
        campaign = ("", "", "", "")
        vid = qubit = ga = href = title = ""
        dialled = _OFFLINE_NUMBER
    operator = rng.choice(_OPERATORS)
    dgrp, dgrp_name, dgrp_ref = _DGRPS[0] if random_() < 0.8 else _DGRPS[1]
    segment, segment_name, segment_ref = v.segment[caller]
    if act == "callUser":
        # Hosted PBX user calling out: the source is the user, the destination the customer.
        src_number, dest, direction = operator, numbers[1], "out"
    else:
        pick = random_()
        if pick < 0.02:
            src_number = "anonymous"
        elif pick < 0.03:
            src_number = "test.user2"
        else:
            src_number = rng.choices(numbers, _FORMAT_WEIGHTS)[0]
        dest, direction = f"{operator}@localhost.net", "in"
    answered = act != "callRate" and random_() < 0.85
    ivr = rng.randrange(0, 12)
    queue = rng.randrange(0, 60)
    duration = int(rng.lognormvariate(4.6, 1.0)) + ivr + queue if answered else 0
    ring = rng.randrange(2, 30)
    qualified = duration >= 90
    if act == "callRate":
        # The cost of the call: a currency, but not a sale, hence no transactions route.
        txr, txv, txc, outcome = "", f"{max(duration, 60) / 60 * 0.02:.2f}", "GBP", "R"
    elif qualified and random_() < 0.08:
        # A sale over the phone.
        txr, txc, outcome = f"PH-{rng.randrange(10**6, 10**7)}", "GBP", "S"
        txv = f"{rng.randrange(999, 30000) / 100:.2f}"
    else:
        txr, txv, txc, outcome = "", "0.00", "", "C"
    keyword_counts = (
        [str(rng.randrange(0, 9)) for _ in range(6)] if answered else ["0", "0", "0", "0", "0", "0"]
    )
    operator_score = int(keyword_counts[0]) * 10 - int(keyword_counts[2]) * 15
    contact_score = int(keyword_counts[3]) * 10 - int(keyword_counts[5]) * 15
    return {
        "rowId": row_id,
        "triggerDatetime": when,
        "igrp": igrp,
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
        "srcHash": f"{rng.getrandbits(128):032x}" if online else "",
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
        "ringTime": str(ring),
        "ivrDuration": str(ivr) if answered else "0",
        "queueDuration": str(queue) if answered else "0",
        "operatorRef": operator if answered else "",
        "ivrRef": "main-menu" if answered else "",
        "dialplanRef": f"{dgrp_ref}-hours",
        "callRating": str(rng.randrange(1, 6)) if answered and random_() < 0.3 else "",
        "callState": rng.choice(_HANGUP_STATES) if answered else "NO_ANSWER_B",
        "callDirection": direction,
        "callStage": "ended",
        "operatorRealm": "localhost.net",
        "telcoCode": "ict",
        "numType": "37",
        "rec": "1" if answered else "0",
        "transcriptionConfidence": f"{rng.randrange(70, 99)}" if answered else "0",
        "totalKeywordScore": str(operator_score + contact_score),
        "totalOperatorKeywordScore": str(operator_score),
        "totalContactKeywordScore": str(contact_score),
        "operatorPositiveKeywordCount": keyword_counts[0],
        "operatorNeutralKeywordCount": keyword_counts[1],
        "operatorNegativeKeywordCount": keyword_counts[2],
        "contactPositiveKeywordCount": keyword_counts[3],
        "contactNeutralKeywordCount": keyword_counts[4],
        "contactNegativeKeywordCount": keyword_counts[5],
        "callKeywordSpotting": "1" if answered else "0",
        "callTranscription": "1" if answered else "0",
        "chName": ch_name,
        "chType": ch_type,
        "dgrpName": dgrp_name,
        "dgrpRef": dgrp_ref,
        "callRatingId": "1",
        "segmentName": segment_name,
        "segmentRef": segment_ref,
        "orgId": "1",
        "segmentGroupName": "Default",
        "notes": _notes(rng, when) if answered and random_() < 0.2 else "",
        "leadScore": str(min(duration, 500)),
        "pt_utm_source": utm_source,
        "pt_utm_campaign": campaign[1],
        "c_qubit_visitor_id": qubit,
        "c_ga_client_id": ga,
    }


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
