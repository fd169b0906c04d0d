"""Phone numbers to E.164, the key that joins calls to CRM leads.

Numbers arrive in every national and international spelling (`07700 900123`, `+44 7700 900123`,
`0044...`) and sometimes are not numbers at all (`test.user2`, SIP usernames), which become
NULL. A number is kept when it is *possible* (the right length for its country), not only when
`phonenumbers` knows its range is *valid*: the metadata lags new ranges, and dropping those
callers would silently lose their attribution. (Ofcom's drama ranges, used by the demo data,
are possible but not valid, for the same reason.)
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc


@lru_cache(maxsize=200_000)
def to_e164(raw: str | None, default_region: str) -> str | None:
    """The E.164 form of `raw`, read as a `default_region` number when it has no country code."""
    if not raw or not any(ch.isdigit() for ch in raw):
        return None
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def e164_array(values: pa.Array | pa.ChunkedArray, default_region: str) -> pa.Array:
    """E.164 for a whole column, parsing each distinct value once (callers repeat)."""
    distinct = pc.unique(values)
    normalised = pa.array(
        [to_e164(v, default_region) for v in distinct.to_pylist()], type=pa.string()
    )
    return pc.take(normalised, pc.index_in(values, value_set=distinct))
