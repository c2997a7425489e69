"""The range check of whole numbers read from keys and rows (clipsearch/whole_numbers.py), and the
frame index parsed with it (issue #22.1)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clipsearch.layout import frame_index, parse_frame_key
from clipsearch.whole_numbers import INT64_MAX, OutOfRange, decimal_digits, whole_number, whole_numbers


@pytest.mark.parametrize("value", [0, 7, INT64_MAX, Decimal("12"), Decimal("1E+3")])
def test_whole_numbers_that_fit_int64_pass(value):
    assert whole_number(value, "n") == int(value)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (INT64_MAX + 1, "does not fit 64 bits"),
        (Decimal(2**63), "does not fit 64 bits"),
        (Decimal("9.99E+125"), "does not fit 64 bits"),
        (-1, "out of range (0 to"),
        (Decimal("7.5"), "is not a whole number"),
        (True, "is not a whole number"),
        ("3", "is not a whole number"),
        (3.0, "is not a whole number"),
    ],
)
def test_anything_else_is_out_of_range_saying_what(value, says):
    with pytest.raises(OutOfRange, match="frames_count") as raised:
        whole_number(value, "frames_count")
    assert says in str(raised.value)


def test_a_list_names_the_entry_that_does_not_fit():
    assert whole_numbers([0, 5, Decimal(9)], "cut_frames") == [0, 5, 9]
    with pytest.raises(OutOfRange, match=r"cut_frames\[1\] -2"):
        whole_numbers([0, -2], "cut_frames")


def test_a_frame_number_past_64_bits_is_no_frame():
    assert frame_index("frame_000042") == 42
    assert frame_index("cover") == -1
    assert frame_index(f"frame_{INT64_MAX}") == INT64_MAX
    assert frame_index("frame_" + "0" * 40 + "7") == 7  # leading zeros are not magnitude
    for name in (f"frame_{INT64_MAX + 1}", "frame_" + "9" * 5000):  # never thousands of digits to int
        with pytest.raises(OutOfRange, match="does not fit 64 bits"):
            frame_index(name)
    with pytest.raises(ValueError, match="does not fit 64 bits"):
        parse_frame_key("frames/v/frame_99999999999999999999.webp")
    assert decimal_digits("000", "n") == 0
