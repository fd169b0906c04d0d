"""Deterministic, realistic Footprints CRM data for the emulator, the tests and the benchmark.

Leads, their actions, customer profiles and the reference lists look like the samples of the
Footprints for Retail API reference (shared/api-docs/footprints-api.txt), quirks included:

- `_id`s are 24-hex MongoDB ObjectIds whose first 8 hex digits are the creation time, so ids
  sort roughly, not exactly, like createdAt.
- Timestamps come in several shapes. Most are ISO with milliseconds (`2018-09-24T19:00:00.000Z`);
  one lead in ten was created through the API and keeps its `Y-m-d H:i:s` text (`2020-03-15
  16:12:56`, the shape of Update Lead's sample; UTC here, the reference does not say);
  birthdays are JavaScript's Date.toString() (`Fri Oct 21 1960 00:00:00 GMT+0000 (UTC)`);
  and a handful cannot be parsed at all: `0000-00-00` and `unknown` birthdays, `0000-00-00`
  contract dates, `0000-00-00 00:00:00` in `timestamp` of leads imported from an old system.
  createdAt, timestampStatusChange and updatedAt always parse.
- Numbers are sometimes strings: userIncome ("8004"), a quarter of the contract values
  ("1200.50"), offer prices and `__v` inside a customer profile ("250", "", "0").
- Phones as people typed them into a Romanian CRM: about 60% are the UK numbers of the Infinity
  demo callers (`caller_pool`) in international spellings (`+44 7700 900123`, `0044 7700
  900123`, `+447700900123`), 30% Romanian (`0721 234 567`, `+40 721 234 567`, `0040721234567`,
  Bucharest landlines `021 312 3456`), 5% none (empty or null) and the rest not numbers
  (`n/a`, `07`). The Romanian numbers are random digits: demo data, never dialled.
- Emails are missing on some leads and change case between a person's leads.
- About 4% of leads lack a locationId, an offerCategoryId, an offerId or a consultant. The
  reference says GET /api/lead returns only leads that have all four, so the emulator hides
  them there, while their actions and their customer's profile still show them.
- A customer is one distinct (email, phone) pair among leads that have both, compared with the
  email in lower case and the phone as written: repeat buyers have several leads, and a person
  who wrote their phone differently the second time has two customer profiles. The customer's
  `_id` is the `clientId` of its leads; leads without an email or a phone have none.
- Lead actions' `date` is what the user entered, so it may precede createdAt by days, and one in
  ten keeps the `Y-m-d H:i:s` text of Add Lead Action. A lead whose status moved past `lead`
  has a "Status changed to <status>" action at timestampStatusChange. Attachments are mostly
  empty; a few hold uploaded file names (the reference shows only `[]`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from emulators.infinity_data import caller_pool

STATUSES = ("prospect", "lead", "sale_lead", "opportunity", "customer", "lost")
_STATUS_WEIGHTS = (15, 50, 65, 80, 90, 100)  # cumulative: 15%, 35%, 15%, 15%, 10%, 10%
STATUS_CHANGE_ACTION_TYPE = "Status change"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_MS = 86_400_000
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Formatting timestamps piecewise from tables is several times faster than strftime.
_CLOCK = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_MILLIS = tuple(f"{ms:03d}" for ms in range(1000))
_DAYS: dict[int, str] = {}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_RO_FIRST = (
    "Andrei", "Alexandru", "Ioana", "Maria", "Elena", "Mihai", "Cristina", "Gabriel", "Ana",
    "Ștefan", "Daniela", "Florin", "Alina", "Bogdan", "Raluca", "Vlad", "Irina", "Adrian",
    "Simona", "Cătălin", "Răzvan", "Oana", "Sorin", "Larisa",
)  # fmt: skip
_RO_LAST = (
    "Popescu", "Ionescu", "Popa", "Dumitru", "Stan", "Stoica", "Gheorghe", "Matei", "Ciobanu",
    "Rusu", "Munteanu", "Constantin", "Marin", "Tudor", "Dobre", "Barbu", "Nistor", "Florea",
    "Lungu", "Ene", "Țurcanu", "Șerban", "Enache", "Voicu",
)  # fmt: skip
_UK_FIRST = (
    "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Jacob", "Emily",
    "Noah", "Sophie", "Thomas", "Grace",
)  # fmt: skip
_UK_LAST = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Davies", "Evans", "Thomas",
    "Roberts", "Walker", "Wright", "Green", "Hall",
)  # fmt: skip
_EMAIL_DOMAINS = ("example.com", "example.ro", "example.co.uk", "mail.example.net")
_ASCII = str.maketrans("ăâîșşțţĂÂÎȘŞȚŢ", "aaisstt" + "AAISSTT")
_ODD_PHONES = ("n/a", "-", "0", "07", "12345", "000000", "nu are", "tel")
_FAMILY = ("single", "married", "relationship", "")
_DEVICES = ("desktop", "mobile", "mobile", "tablet")

_CATEGORIES = (
    "Gas boilers", "Electric boilers", "Heat pumps", "Air conditioning", "Solar panels",
    "Water heaters", "Radiators", "Underfloor heating", "Smart thermostats", "Boiler cover",
    "Home emergency cover", "Plumbing services", "Kitchens", "Bathrooms", "Windows", "Doors",
    "Insulation", "Ventilation", "Water softeners", "EV chargers", "Home batteries",
    "Security systems", "Smoke alarms", "Annual servicing", "Extended warranty", "Financing",
)  # fmt: skip
_OFFER_TIERS = ("Essential", "Premium")
_OFFER_COUNT = 48
_SKU_VARIANTS = ("Standard", "Extended")
_SKU_COUNT = 60
# name, description (opening hours, as in the reference), address, lat, long
_LOCATIONS = (
    ("Showroom București Nord", "09:00-20:00", "București, Calea Floreasca nr. 246", 44.48, 26.10),
    ("Showroom București Sud", "09:00-20:00", "București, Calea Văcărești nr. 391", 44.41, 26.13),
    ("Showroom Cluj-Napoca", "10:00-19:00", "Cluj-Napoca, Str. Memorandumului 28", 46.77, 23.59),
    ("Showroom Timișoara", "10:00-19:00", "Timișoara, Bd. Republicii nr. 9", 45.75, 21.23),
    ("Showroom Iași", "10:00-18:00", "Iași, Bd. Ștefan cel Mare nr. 4", 47.16, 27.59),
    ("Showroom Constanța", "10:00-18:00", "Constanța, Bd. Tomis nr. 143", 44.18, 28.63),
    ("Showroom Brașov", "10:00-18:00", "Brașov, Str. Republicii nr. 62", 45.64, 25.59),
    ("Sucursala Alba Iulia", "17:00-19:00", "Alba Iulia, Str. Test nr.1", 0, 0),
    ("Showroom Sibiu", "10:00-18:00", "Sibiu, Str. Nicolae Bălcescu nr. 5", 45.79, 24.15),
    ("Showroom Oradea", "10:00-18:00", "Oradea, Calea Republicii nr. 12", 47.06, 21.93),
    ("Punct de lucru Craiova", "09:00-17:00", "Craiova, Str. Unirii nr. 19", 0, 0),
    ("Punct de lucru Galați", "09:00-17:00", "Galați, Str. Domnească nr. 33", 45.44, 28.05),
)  # fmt: skip
_CHANNELS = (
    ("Facebook Ads", "Paid Media"),
    ("Google Ads", "Paid Media"),
    ("Website", "Owned Media"),
    ("Showroom walk-in", "Owned Media"),
    ("Call center", "Owned Media"),
    ("Newsletter", "Owned Media"),
    ("Word of mouth", "Earned Media"),
    ("Press", "Earned Media"),
)
_CHANNEL_WEIGHTS = (20, 45, 65, 80, 90, 94, 98, 100)  # cumulative
# name, detail templates
_ACTION_TYPES = (
    ("Phone call", ("Called the customer about the {offer}.", "No answer, will call back.")),
    ("Email", ("Sent the {offer} brochure by email.", "Customer replied asking for a quote.")),
    ("Meeting", ("Met in the showroom to discuss the {offer}.",)),
    ("Showroom visit", ("Customer visited the showroom with family.",)),
    ("Offer sent", ("Offer for {offer} sent, valid 30 days.",)),
    ("Site survey", ("Technician surveyed the property for the {offer}.",)),
    ("Note", ("Prefers to be contacted after 17:00.", "Comparing with two other suppliers.")),
    ("Follow-up", ("Follow-up on the {offer} offer.",)),
    (STATUS_CHANGE_ACTION_TYPE, ()),
)
_OFFLINE_CAMPAIGNS = (
    "Open day", "Spring heating check", "Summer cooling fair", "Black Friday in store",
    "Home show stand", "Loyalty draw", "Partner referral", "Radio promotion",
    "Offline Campanign Test",
)  # fmt: skip
# first, last, role, groupRole
_BUSINESS_USERS = (
    ("Mihaela", "Radu", "consultant", "sales"),
    ("Cosmin", "Pavel", "consultant", "sales"),
    ("Andreea", "Neagu", "consultant", "sales"),
    ("Lucian", "Sandu", "consultant", "sales"),
    ("Roxana", "Moldovan", "consultant", "sales"),
    ("Victor", "Dinu", "consultant", "sales"),
    ("Diana", "Mocanu", "consultant", "sales"),
    ("Paul", "Cristea", "consultant", "sales"),
    ("Bianca", "Lazăr", "consultant", "sales"),
    ("Teodor", "Anghel", "consultant", "sales"),
    ("Sabina", "Vasile", "manager", "sales"),
    ("Marius", "Iordache", "manager", "sales"),
    ("Corina", "Toma", "manager", "sales"),
    ("Test", "Test", "admin", "management"),
    ("Ovidiu", "Preda", "admin", "management"),
)
_INDUSTRIES = 3


@dataclass
class FootprintsData:
    """Everything the emulator serves, shaped as the API returns it.

    Attributes:
        leads: As GET /api/lead returns them, the hidden ones included, in createdAt order.
        actions: As GET /api/lead/actions/{leadId} returns them; each has a leadId.
        customers: As GET /api/client returns them.
        references: Table name (the keys of the emulator's REFERENCE_PATHS) -> rows.
    """

    leads: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    references: dict[str, list[dict[str, Any]]]


class ObjectIds:
    """MongoDB-style ObjectIds: creation time, a per-generator part and a counter, in 24 hex."""

    def __init__(self, rng: random.Random) -> None:
        self._machine = f"{rng.getrandbits(40):010x}"
        self._counter = rng.getrandbits(24)

    def __call__(self, ms: int) -> str:
        self._counter = (self._counter + 1) & 0xFFFFFF
        return f"{(ms // 1000) & 0xFFFFFFFF:08x}{self._machine}{self._counter:06x}"


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def iso_ms(ms: int) -> str:
    """`2018-09-24T19:00:00.000Z`, the API's usual timestamp."""
    day, rest = divmod(ms, _DAY_MS)
    seconds, milli = divmod(rest, 1000)
    return f"{_day(day)}T{_CLOCK[seconds // 60]}{_SECONDS[seconds % 60]}.{_MILLIS[milli]}Z"


def plain(ms: int) -> str:
    """`2020-03-15 16:12:56`, the shape of timestamps given to the API as `Y-m-d H:i:s`."""
    day, rest = divmod(ms, _DAY_MS)
    seconds = rest // 1000
    return f"{_day(day)} {_CLOCK[seconds // 60]}{_SECONDS[seconds % 60]}"


def _day(day: int) -> str:
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
    return text


def js_date(day: date) -> str:
    """JavaScript's Date.toString() in UTC: `Fri Oct 21 1960 00:00:00 GMT+0000 (UTC)`."""
    weekday, month = _WEEKDAYS[day.weekday()], _MONTHS[day.month - 1]
    return f"{weekday} {month} {day.day:02d} {day.year} 00:00:00 GMT+0000 (UTC)"


def generate_footprints(
    lead_count: int,
    *,
    seed: int = 7,
    start: date,
    end: date,
    caller_seed: int = 7,
    caller_count: int = 1000,
    until: datetime | None = None,
    references: dict[str, list[dict[str, Any]]] | None = None,
) -> FootprintsData:
    """Leads created between `start` and `end`, with their actions, customers and lists.

    The same arguments always give the same data.

    Args:
        lead_count: How many leads.
        seed: Seed of the pseudo-random choices.
        start: First day (UTC) on which leads are created.
        end: Last day (UTC, inclusive) on which leads are created.
        caller_seed: Seed of `caller_pool`, the Infinity demo's callers: use the seed the
            Infinity data was generated with so that calls and leads share phone numbers.
        caller_count: How many of those callers the UK phones are drawn from.
        until: No lead is created (or changed) at or after this moment, though it falls on
            `end`: a batch dated "now" holds no lead from later in the day.
        references: The lists of an earlier data set, for a later batch of the same CRM:
            its leads then name offers, locations and consultants the lists hold.

    Returns:
        The data, leads in createdAt order.
    """
    if lead_count < 0:
        raise ValueError("lead_count must not be negative")
    if end < start:
        raise ValueError("end must not be before start")
    rng = random.Random(f"footprints-{seed}")
    oid = ObjectIds(rng)
    start_ms = to_ms(datetime.combine(start, datetime.min.time()))
    end_ms = to_ms(datetime.combine(end, datetime.min.time())) + _DAY_MS
    if until is not None:
        end_ms = max(start_ms + 1, min(end_ms, to_ms(until)))
    if references is None:
        references = _references(rng, oid, start_ms)
    people = _People(rng, caller_pool(caller_seed, caller_count) if caller_count else [])
    leads: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    builder = _Leads(rng, oid, references, end_ms)
    for created_ms in sorted(
        start_ms + int(rng.random() * (end_ms - start_ms)) for _ in range(lead_count)
    ):
        lead, lead_actions = builder.lead(created_ms, people.next())
        leads.append(lead)
        actions += lead_actions
    # The order GET /api/lead lists them in: without milliseconds a lead may move ahead.
    leads.sort(key=lambda lead: (builder.times[lead["_id"]][0], lead["_id"]))
    customers = _customers(leads, builder.times, references, oid, rng)
    return FootprintsData(leads, actions, customers, references)


def _references(
    rng: random.Random, oid: ObjectIds, start_ms: int
) -> dict[str, list[dict[str, Any]]]:
    """The reference lists, created during the year and a bit before `start`."""

    def created() -> int:
        return start_ms - int((30 + rng.random() * 400) * _DAY_MS)

    def row_id_and_times() -> tuple[str, str]:
        ms = created()
        return oid(ms), iso_ms(ms)

    categories = [{"_id": oid(created()), "name": name} for name in _CATEGORIES]
    offers: list[dict[str, Any]] = []
    for index in range(_OFFER_COUNT):
        category = categories[index % len(categories)]
        tier = _OFFER_TIERS[index // len(categories)]
        offers.append(
            {
                "_id": oid(created()),
                "name": f"{category['name']} {tier}",
                "price": rng.randrange(50, 1500) * 10,
                "externalId": _external_id(rng),
                "offerCategory": {"_id": category["_id"], "name": category["name"]},
            }
        )
    skus = []
    for index in range(_SKU_COUNT):
        offer = offers[index % len(offers)]
        variant = _SKU_VARIANTS[index // len(offers)]
        skus.append(
            {
                "_id": oid(created()),
                "name": f"{offer['name']} - {variant}",
                "price": offer["price"] if variant == "Standard" else offer["price"] + 250,
                "externalId": _external_id(rng),
                "quantity": 1,
                "offer": {"_id": offer["_id"], "name": offer["name"]},
            }
        )
    areas = [oid(created()) for _ in range(3)]
    locations = []
    for index, (name, hours, address, lat, long) in enumerate(_LOCATIONS):
        location_id, when = row_id_and_times()
        locations.append(
            {
                "_id": location_id,
                "timestamp": when,
                "createdAt": when,
                "areaId": areas[index % len(areas)],
                "name": name,
                "description": hours,
                "address": address,
                "__v": rng.randrange(0, 3),
                "coords": [lat, long],
                "image": "",
            }
        )
    channels = [
        {"_id": oid(created()), "name": name, "mediaType": media} for name, media in _CHANNELS
    ]
    action_types = []
    for name, _ in _ACTION_TYPES:
        type_id, when = row_id_and_times()
        action_types.append({"_id": type_id, "name": name, "createdAt": when})
    campaigns = []
    for index, name in enumerate(_OFFLINE_CAMPAIGNS):
        campaign_id, when = row_id_and_times()
        begins = start_ms - rng.randrange(0, 120) * _DAY_MS
        campaigns.append(
            {
                "_id": campaign_id,
                "locationId": locations[index % len(locations)]["_id"],
                "name": name,
                "description": "",
                "image": None,
                "type": "offline",
                "budget": rng.choice((0, 0, 500, 1500, 5000)),
                "startDate": iso_ms(begins),
                "endDate": iso_ms(begins + rng.randrange(30, 240) * _DAY_MS),
                "timestamp": when,
                "createdAt": when,
                "drawFrequency": {
                    "repeats": "none",
                    "frequency": None,
                    "day": None,
                    "end": {"type": "", "value": ""},
                },
                "winningType": [],
                "__v": 0,
            }
        )
    users = []
    for first, last, role, group_role in _BUSINESS_USERS:
        user_locations = rng.sample(locations, rng.randrange(1, 4))
        user_categories = rng.sample(categories, rng.randrange(2, 6))
        users.append(
            {
                "_id": oid(created()),
                "locations": [{"_id": loc["_id"], "name": loc["name"]} for loc in user_locations],
                "offerCategories": [{"_id": c["_id"], "name": c["name"]} for c in user_categories],
                "firstName": first,
                "lastName": last,
                "email": f"{first}.{last}@retailer.example".lower().translate(_ASCII),
                "phone": "0000000000" if first == "Test" else f"07{rng.randrange(10**8):08d}",
                "groupRole": group_role,
                "role": role,
            }
        )
    return {
        "lead_action_types": action_types,
        "channels": channels,
        "locations": locations,
        "offers": offers,
        "offer_categories": categories,
        "skus": skus,
        "offline_campaigns": campaigns,
        "business_users": users,
    }


def _external_id(rng: random.Random) -> str:
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(4))
    return f"{letters}{rng.randrange(100, 1000)}"


def _uk_spellings(e164: str) -> tuple[str, ...]:
    nsn = e164[3:]
    if nsn.startswith(("7", "1632")):
        spaced = f"{nsn[:4]} {nsn[4:]}"
    elif nsn.startswith("2"):
        spaced = f"{nsn[:2]} {nsn[2:6]} {nsn[6:]}"
    else:
        spaced = f"{nsn[:3]} {nsn[3:6]} {nsn[6:]}"
    return f"+44 {spaced}", f"0044 {spaced}", e164


def _ro_spellings(rng: random.Random) -> tuple[str, ...]:
    if rng.random() < 0.8:
        nsn = f"7{rng.randrange(2, 10)}{rng.randrange(10**7):07d}"
        spaced = f"{nsn[:3]} {nsn[3:6]} {nsn[6:]}"
    else:
        nsn = f"21{rng.randrange(2, 10)}{rng.randrange(10**6):06d}"
        spaced = f"{nsn[:2]} {nsn[2:5]} {nsn[5:]}"
    return f"0{spaced}", f"+40 {spaced}", f"0040{nsn}", f"0{nsn}"


class _People:
    """The people behind the leads; one lead in four is a returning person (a repeat buyer)."""

    def __init__(self, rng: random.Random, callers: list[str]) -> None:
        self.rng = rng
        self.callers = callers
        self.people: list[dict[str, Any]] = []

    def next(self) -> dict[str, Any]:
        rng = self.rng
        if self.people and rng.random() < 0.25:
            person = rng.choice(self.people)
            phone, email = person["phone"], person["email"]
            # Returning people sometimes write their phone another way (a second customer
            # profile) or their email in other letter case (the same profile).
            if len(person["spellings"]) > 1 and rng.random() < 0.15:
                phone = rng.choice(person["spellings"])
            if email and rng.random() < 0.15:
                email = email.capitalize() if email[0].islower() else email.lower()
            return {**person, "phone": phone, "email": email}
        person = self._new()
        self.people.append(person)
        return person

    def _new(self) -> dict[str, Any]:
        rng = self.rng
        number = len(self.people)
        kind = rng.random()
        spellings: tuple[str, ...] = ()
        phone: str | None
        if kind < 0.6 and self.callers:
            e164 = self.callers[number % len(self.callers)]
            spellings = _uk_spellings(e164)
            phone = rng.choices(spellings, cum_weights=(40, 65, 100))[0]
            first, last, country = rng.choice(_UK_FIRST), rng.choice(_UK_LAST), "United Kingdom"
        else:
            first, last, country = rng.choice(_RO_FIRST), rng.choice(_RO_LAST), "Romania"
            if kind < 0.9:
                spellings = _ro_spellings(rng)
                phone = rng.choices(spellings, cum_weights=(35, 60, 75, 100))[0]
            elif kind < 0.95:
                phone = rng.choice(("", "", None))
            else:
                phone = rng.choice(_ODD_PHONES)
        if rng.random() < 0.08:
            email = rng.choice(("", None))
        else:
            local = f"{first}.{last}{number}".lower().translate(_ASCII)
            email = f"{local}@{rng.choice(_EMAIL_DOMAINS)}"
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(55 * 365))
        pick = rng.random()
        if pick < 0.02:
            birthday = "0000-00-00"
        elif pick < 0.03:
            birthday = "unknown"
        elif pick < 0.1:
            birthday = ""
        else:
            birthday = js_date(born)
        return {
            "first": first,
            "last": last,
            "email": email,
            "phone": phone,
            "spellings": spellings,
            "country": country if rng.random() < 0.95 else "",
            "birthday": birthday,
            "income": str(rng.randrange(1500, 15000)) if rng.random() < 0.7 else "",
            "family": rng.choice(_FAMILY),
            "external_id": f"EXT-{number + 1:06d}",
        }


class _Leads:
    def __init__(
        self,
        rng: random.Random,
        oid: ObjectIds,
        references: dict[str, list[dict[str, Any]]],
        end_ms: int,
    ) -> None:
        self.rng = rng
        self.oid = oid
        self.end_ms = end_ms
        self.skus = references["skus"]
        self.offers = {offer["_id"]: offer for offer in references["offers"]}
        self.locations = references["locations"]
        self.channels = references["channels"]
        self.campaigns = references["offline_campaigns"]
        self.consultants = [u for u in references["business_users"] if u["role"] == "consultant"]
        self.action_types = {t["name"]: t for t in references["lead_action_types"]}
        self.industries = [oid(end_ms - 900 * _DAY_MS) for _ in range(_INDUSTRIES)]
        self.contracts = 0
        # lead _id -> (createdAt, timestampStatusChange) in ms, so customers need not parse them.
        self.times: dict[str, tuple[int, int]] = {}

    def lead(
        self, created_ms: int, person: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rng = self.rng
        random_ = rng.random
        # One lead in ten came in through the API with createdAt as `Y-m-d H:i:s` text, which
        # has no milliseconds.
        stamp = plain if random_() < 0.1 else iso_ms
        if stamp is plain:
            created_ms -= created_ms % 1000
        lead_id = self.oid(created_ms)
        status = rng.choices(STATUSES, cum_weights=_STATUS_WEIGHTS)[0]
        if status == "lead":
            changed_ms = created_ms
        else:
            delay = int((0.01 + random_() ** 2 * 21) * _DAY_MS)
            changed_ms = min(created_ms + delay, self.end_ms - 1)
        sku = rng.choice(self.skus)
        offer = self.offers[sku["offer"]["_id"]]
        category = offer["offerCategory"]
        consultant = rng.choice(self.consultants)
        lead_actions = self._actions(lead_id, created_ms, changed_ms, status, offer["name"])
        updated_ms = max(changed_ms, *(a["_ms"] for a in lead_actions))
        updated_ms = min(updated_ms + int(random_() * 600_000), self.end_ms - 1)
        for action in lead_actions:
            del action["_ms"]
        self.times[lead_id] = (created_ms, changed_ms)
        imported = random_() < 0.005
        created_at = stamp(created_ms)
        lead: dict[str, Any] = {
            "_id": lead_id,
            "userFirstName": person["first"],
            "userLastName": person["last"],
            "userEmail": person["email"],
            "userPhone": person["phone"],
            "offerId": offer["_id"],
            "industryId": rng.choice(self.industries),
            "offlineCampaignId": rng.choice(self.campaigns)["_id"] if random_() < 0.35 else None,
            "locationId": rng.choice(self.locations)["_id"],
            "clientId": None,
            "status": status,
            "userCountry": person["country"],
            "userFamilyDetails": person["family"],
            "userBirthday": person["birthday"],
            "userIncome": person["income"],
            "agreeToCollect": random_() < 0.9,
            "agreeTandc": random_() < 0.97,
            "isAdult": True,
            "isMultipart": random_() < 0.05,
            "isComplete": random_() < 0.95,
            "timestamp": "0000-00-00 00:00:00" if imported else created_at,
            "timestampStatusChange": stamp(changed_ms),
            "createdAt": created_at,
            "actionRequired": status not in ("customer", "lost") and random_() < 0.6,
            "deviceType": rng.choice(_DEVICES),
            "skuExternalId": sku["externalId"] if random_() < 0.95 else "",
            "offerCategoryId": category["_id"],
            "offerCategory": category["name"],
            "offer": {"_id": offer["_id"], "name": offer["name"], "price": offer["price"]},
            "sku": {"_id": sku["_id"], "name": sku["name"], "price": sku["price"]},
            "updatedAt": stamp(updated_ms),
            "channelId": rng.choices(self.channels, cum_weights=_CHANNEL_WEIGHTS)[0]["_id"],
            "consultant": {
                "_id": consultant["_id"],
                "name": f"{consultant['firstName']} {consultant['lastName']}",
            },
            "userExternalId": person["external_id"],
        }
        if status == "customer":
            lead.update(self._contract(rng, changed_ms, sku["price"]))
        if random_() < 0.3:
            lead["tags"] = rng.sample(("newsletter", "vip", "promo", "referral"), 1)
        if random_() < 0.04:
            # The reference: GET /api/lead lists only leads with all four of these.
            missing = rng.randrange(4)
            if missing == 0:
                lead["locationId"] = None
            elif missing == 1:
                lead["offerCategoryId"] = None
                lead["offerCategory"] = ""
            elif missing == 2:
                del lead["offerId"], lead["offer"]
            else:
                del lead["consultant"]
        return lead, lead_actions

    def _contract(self, rng: random.Random, changed_ms: int, price: int) -> dict[str, Any]:
        self.contracts += 1
        value: float | int | str = round(price * (0.85 + rng.random() * 0.3), 2)
        if rng.random() < 0.25:
            value = f"{value:.2f}"
        elif rng.random() < 0.3:
            value = round(float(value))
        signed = plain(changed_ms)[:10]
        return {
            "contractId": self.oid(changed_ms),
            "contractNumber": f"FP-{signed[:4]}-{self.contracts:05d}",
            "contractValue": value,
            "contractDate": "0000-00-00" if rng.random() < 0.05 else signed,
            "contractDescription": "",
        }

    def _actions(
        self, lead_id: str, created_ms: int, changed_ms: int, status: str, offer: str
    ) -> list[dict[str, Any]]:
        rng = self.rng
        random_ = rng.random
        count = 1 + int(random_() * 4)
        status_changed = status != "lead"
        # The first action within ten minutes of the lead, the status change (if any) last.
        first = min(created_ms + int(random_() * 600_000), changed_ms if status_changed else 2**62)
        span = changed_ms - first if status_changed else 3 * _DAY_MS
        moments = [first, *sorted(first + int(random_() * span) for _ in range(count - 1))]
        moments = [min(ms, self.end_ms - 1) for ms in moments]
        actions = []
        for index, ms in enumerate(moments):
            if status_changed and index == count - 1:
                ms = changed_ms
                kind = self.action_types[STATUS_CHANGE_ACTION_TYPE]
                detail = f"Status changed to {status}"
            else:
                name, templates = _ACTION_TYPES[int(random_() * (len(_ACTION_TYPES) - 1))]
                kind = self.action_types[name]
                detail = rng.choice(templates).format(offer=offer)
            entered = ms - int(random_() * 3 * _DAY_MS) if random_() < 0.1 else ms
            updated = ms + int(random_() * 2 * _DAY_MS) if random_() < 0.2 else ms
            attachments: list[Any] = []
            if kind["name"] == "Offer sent" and random_() < 0.5:
                attachments = [f"oferta-{lead_id[-6:]}.pdf"]
            actions.append(
                {
                    "_id": self.oid(ms),
                    "leadId": lead_id,
                    "actionDetail": detail,
                    "leadActionTypeId": {"_id": kind["_id"], "name": kind["name"]},
                    "attachments": attachments,
                    "date": plain(entered) if random_() < 0.1 else iso_ms(entered),
                    "createdAt": iso_ms(ms),
                    "updatedAt": iso_ms(min(updated, self.end_ms - 1)),
                    "_ms": ms,
                }
            )
        return actions


def customer_key(email: Any, phone: Any) -> tuple[str, str] | None:
    """How GET /api/client matches: the email in any letter case, the phone as written."""
    if not email or not phone or not isinstance(email, str) or not isinstance(phone, str):
        return None
    return email.lower(), phone


def _customers(
    leads: list[dict[str, Any]],
    times: dict[str, tuple[int, int]],
    references: dict[str, list[dict[str, Any]]],
    oid: ObjectIds,
    rng: random.Random,
) -> list[dict[str, Any]]:
    application = {"name": "CRM Application", "id": oid(to_ms(datetime(2017, 11, 6)))}
    application_key = f"{rng.getrandbits(96):024x}"
    populated = _populated_categories(references)
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for lead in leads:
        key = customer_key(lead["userEmail"], lead["userPhone"])
        if key is None:
            continue
        created_ms, changed_ms = times[lead["_id"]]
        created_at = iso_ms(created_ms)
        customer = by_key.get(key)
        if customer is None:
            customer = by_key[key] = {
                "_id": oid(created_ms),
                "userFirstName": lead["userFirstName"],
                "userLastName": lead["userLastName"],
                "userEmail": lead["userEmail"],
                "userPhone": lead["userPhone"],
                "timestamp": created_at,
                "createdAt": created_at,
                "type": "B2C",
                "__v": 0,
                "kidsAge": [],
                "interests": [],
                "preferences": [],
                "employees": [],
                "marketingChannels": [],
                "pointsOfPresence": [],
                "interactionsTimeline": [],
                "personalAssistance": [],
                "leads": [],
            }
        lead["clientId"] = customer["_id"]
        customer["__v"] += 1
        customer["interactionsTimeline"].append(
            {
                "createdAt": created_at,
                "timestamp": created_at,
                "icon": "icon-location-city",
                "offlineCampaignId": lead["offlineCampaignId"],
                "offerCategoryId": populated.get(lead["offerCategoryId"]),
                "leadId": lead["_id"],
            }
        )
        customer["leads"].append(
            _profile_lead(lead, created_ms, changed_ms, application, application_key, oid)
        )
    return list(by_key.values())


def _profile_lead(
    lead: dict[str, Any],
    created_ms: int,
    changed_ms: int,
    application: dict[str, str],
    application_key: str,
    oid: ObjectIds,
) -> dict[str, Any]:
    """A lead as a customer profile lists it, with its status history."""
    history = [history_entry(lead, "lead", created_ms, application_key, oid)]
    if lead["status"] != "lead":
        history.append(history_entry(lead, lead["status"], changed_ms, application_key, oid))
    created_at = history[0]["createdAt"]
    return {
        "history": history,
        "interactions": [],
        "comments": [],
        "kidsAge": [],
        "__v": len(history) - 1,
        "type": "B2C",
        "actionRequired": lead["actionRequired"],
        "createdAt": created_at,
        "timestampStatusChange": history[-1]["createdAt"],
        "timestamp": created_at,
        "isComplete": lead["isComplete"],
        "isMultipart": lead["isMultipart"],
        "offerCategory": {"consultants": [], "id": lead["offerCategoryId"]},
        "application": application,
        "applicationKey": application_key,
        "status": lead["status"],
        "clientId": lead["clientId"],
        "offerCategoryId": lead["offerCategoryId"],
        "userPhone": lead["userPhone"],
        "userEmail": lead["userEmail"],
        "userLastName": lead["userLastName"],
        "userFirstName": lead["userFirstName"],
        "_id": lead["_id"],
        "channelId": lead["channelId"],
    }


def history_entry(
    lead: dict[str, Any], status: str, ms: int, application_key: str, oid: ObjectIds
) -> dict[str, Any]:
    """One status of a lead in its customer's profile."""
    at = iso_ms(ms)
    return {
        "__v": 0,
        "leadId": lead["_id"],
        "userFirstName": lead["userFirstName"],
        "userLastName": lead["userLastName"],
        "userEmail": lead["userEmail"],
        "userPhone": lead["userPhone"],
        "offerCategoryId": lead["offerCategoryId"],
        "status": status,
        "applicationKey": application_key,
        "isMultipart": lead["isMultipart"],
        "isComplete": lead["isComplete"],
        "timestamp": at,
        "createdAt": at,
        "_id": oid(ms),
    }


def _populated_categories(references: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Offer categories as a profile's interactionsTimeline embeds them, offers and all."""
    locations = [location["_id"] for location in references["locations"]]
    consultants = [u for u in references["business_users"] if u["role"] == "consultant"]
    populated = {}
    for index, category in enumerate(references["offer_categories"]):
        created = iso_ms(int(category["_id"][:8], 16) * 1000)
        offers = [
            {
                "_id": offer["_id"],
                "name": offer["name"],
                "description": "",
                # Inside a profile prices and versions are strings, and some prices are empty.
                "price": str(offer["price"]) if index % 5 else "",
                "offerCategoryId": category["_id"],
                "userId": consultants[index % len(consultants)]["_id"],
                "timestamp": created,
                "createdAt": created,
                "__v": "0",
            }
            for offer in references["offers"]
            if offer["offerCategory"]["_id"] == category["_id"]
        ]
        populated[category["_id"]] = {
            "applicationKeys": [],
            "consultants": [],
            "locations": locations[index % 4 :: 4],
            "offers": offers,
            "__v": 2,
            "createdAt": created,
            "timestamp": created,
            "description": "",
            "name": category["name"],
            "_id": category["_id"],
        }
    return populated


def parse_timestamp(text: Any) -> datetime | None:
    """An ISO (`...T19:00:00.000Z`) or `Y-m-d H:i:s` timestamp in UTC; None if it is neither."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
