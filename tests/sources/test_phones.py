"""Caller numbers to E.164 for a whole page at once: the same answer as one number at a time."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipelines.sources.phones import e164_array, to_e164

SPELLINGS = [
    "07700 900123",
    "07700900123",
    "(07700) 900123",
    "07700-900-123",
    "+44 7700 900123",
    "+447700900123",
    "+44 (0)7700 900123",
    "0044 7700 900123",
    "447700900123",
    "020.7946.0958",
    "+1 (415) 555-2671",
    "07700 900123 ext. 12",
    "3-2",  # two digits: with their formatting they are not a number, without it they can be
    "32",
    "1 4",
    "test.user2",
    "anonymous",
    "",
    None,
]


@pytest.mark.parametrize("region", ["GB", "DE", "US"])
def test_page_of_spellings_gives_what_each_number_gives_alone(region: str) -> None:
    expected = [to_e164(raw, region) for raw in SPELLINGS]

    assert e164_array(pa.array(SPELLINGS, pa.string()), region).to_pylist() == expected


def test_spellings_of_one_uk_number_share_its_e164() -> None:
    e164 = e164_array(pa.array(SPELLINGS[:9], pa.string()), "GB").to_pylist()

    assert e164 == ["+447700900123"] * 9
