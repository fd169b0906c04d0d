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

# At least three digits, optionally after a +, with nothing but formatting around them: for
# these phonenumbers gives the same answer with the formatting removed (checked over 4 million
# generated spellings in eight regions). With fewer digits it does not ("1 4" is not a number,
# "14" can be), so those are parsed as they are.
_FORMATTED_DIGITS = r"^\+?(?:[ ().\-]*[0-9]){3,}[ ().\-]*$"
_FORMATTING = r"[ ().\-]"


@lru_cache(maxsize=65_536)
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
    """E.164 for a whole column, parsing each distinct number once (callers repeat).

    Spellings that differ only in spaces, brackets, dots and dashes (`07700 900123`,
    `(07700) 900123`, `07700900123`) count as one number, so each is parsed once.
    """
    keys = pc.if_else(
        pc.match_substring_regex(values, _FORMATTED_DIGITS),
        pc.replace_substring_regex(values, _FORMATTING, ""),
        values,
    )
    distinct = pc.unique(keys)
    normalised = pa.array(
        [to_e164(v, default_region) for v in distinct.to_pylist()], type=pa.string()
    )
    return pc.take(normalised, pc.index_in(keys, value_set=distinct))
