"""Whole numbers read from outside (a frame id's number, a `videos` row's count or step), range-checked
where they are parsed: numpy holds frame indices and counts as int64, so a number past it would
otherwise fail far from where it came in, for every caller. The one place that says what fits."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

INT64_MAX = 2**63 - 1
_INT64_DIGITS = len(str(INT64_MAX))


class OutOfRange(ValueError):
    """A number that is not a whole number from its minimum to INT64_MAX; says what it got."""


def whole_number(value: int | Decimal, what: str, *, minimum: int = 0) -> int:
    """`value` (an int, or a DynamoDB number) as an int from `minimum` to INT64_MAX; OutOfRange
    naming `what` otherwise (a fraction, or too small or large)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise OutOfRange(f"{what} is not a whole number ({value!r})")
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
        raise OutOfRange(f"{what} {value} is not a whole number")
    if not minimum <= value <= INT64_MAX:
        raise OutOfRange(f"{what} {value} is out of range ({minimum} to 2^63-1: it does not fit 64 bits)")
    return int(value)


def whole_numbers(values: Iterable[int | Decimal], what: str, *, minimum: int = 0) -> list[int]:
    """Each of `values` checked as `whole_number` does (a row's list of frame indices, say)."""
    return [whole_number(value, f"{what}[{index}]", minimum=minimum) for index, value in enumerate(values)]


def decimal_digits(digits: str, what: str) -> int:
    """A string of decimal digits (as a key holds them) as an int from 0 to INT64_MAX; OutOfRange
    otherwise, without converting thousands of digits first."""
    if len(digits.lstrip("0")) > _INT64_DIGITS:
        raise OutOfRange(f"{what} {digits} is out of range (0 to 2^63-1: it does not fit 64 bits)")
    return whole_number(int(digits), what)
