"""Exact money: Decimal amounts in an ISO 4217 currency, rounded to its minor unit only when asked.

Nothing here ever touches a float. Amounts stay exact through arithmetic; rounding is an explicit
step with an explicit mode, and splitting an amount (an overage among devices, a discount among tax
categories) uses the largest-remainder method so the parts always add up to the whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from services.invoicing.domain.issuers import TaxRounding
from services.runtime.currencies import MINOR_UNITS
from services.runtime.errors import InvalidArgument

ZERO = Decimal(0)

# DOWN rounds toward negative infinity and TRUNCATE toward zero: they differ only on a negative
# tax base (an invoice whose credits exceed its charges at one rate).
DECIMAL_ROUNDING: dict[TaxRounding, str] = {
    TaxRounding.HALF_UP: ROUND_HALF_UP,
    TaxRounding.DOWN: ROUND_FLOOR,
    TaxRounding.TRUNCATE: ROUND_DOWN,
}

_QUANTA: dict[str, Decimal] = {code: Decimal(1).scaleb(-digits) for code, digits in MINOR_UNITS.items()}


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of `currency`: 1 for JPY, 0.01 for EUR, 0.001 for KWD."""
    try:
        return _QUANTA[currency]
    except KeyError:
        raise InvalidArgument.field("currency", f"{currency!r} is not a supported ISO 4217 currency") from None


def round_to_minor(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """`amount` rounded to the currency's minor unit with a `decimal` rounding constant."""
    return amount.quantize(minor_unit(currency), rounding=rounding)


def round_tax(amount: Decimal, currency: str, mode: TaxRounding) -> Decimal:
    return round_to_minor(amount, currency, DECIMAL_ROUNDING[mode])


def decimal_places(value: Decimal) -> int:
    """How many digits `value` carries after the decimal point (0 for integers, even 1E+3)."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def is_multiple_of(value: Decimal, quantum: Decimal) -> bool:
    return value % quantum == 0


def allocate_largest_remainder(total: Decimal, weights: Sequence[Decimal], quantum: Decimal) -> list[Decimal]:
    """Split `total` in proportion to `weights` into multiples of `quantum` that sum to `total` exactly.

    Hamilton's method: every part gets the floor of its exact share, and the quanta left over go
    one each to the largest fractional remainders, ties to the earlier weight, so the result is
    deterministic. `total` must be a multiple of `quantum`; weights are non-negative and not all zero.
    """
    if not is_multiple_of(total, quantum):
        raise InvalidArgument.field("total", f"{total} is not a multiple of {quantum}")
    if any(weight < 0 for weight in weights):
        raise InvalidArgument.field("weights", "must not be negative")
    # Exact integer weights over a common denominator: scaling every weight by the same factor
    # changes neither the floors nor the order of the remainders.
    ratios = [weight.as_integer_ratio() for weight in weights]
    denominator = math.lcm(*(ratio[1] for ratio in ratios))
    integer_weights = [numerator * (denominator // ratio_denominator) for numerator, ratio_denominator in ratios]
    weight_sum = sum(integer_weights)
    if weight_sum == 0:
        raise InvalidArgument.field("weights", "at least one weight must be positive")
    units = int(total / quantum)
    sign = -1 if units < 0 else 1
    units = abs(units)
    floors: list[int] = []
    remainders: list[int] = []
    for weight in integer_weights:
        share, remainder = divmod(units * weight, weight_sum)
        floors.append(share)
        remainders.append(remainder)
    leftover = units - sum(floors)
    # largest remainder first; a stable sort keeps ties in weight order, even reversed
    by_remainder = sorted(range(len(floors)), key=remainders.__getitem__, reverse=True)
    for index in by_remainder[:leftover]:
        floors[index] += 1
    return [Decimal(sign * share) * quantum for share in floors]


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Arithmetic stays exact; `rounded()` makes it payable."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise InvalidArgument.field("amount", "must be a finite Decimal (never a float)")
        minor_unit(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(ZERO, currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidArgument.field("currency", f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def times(self, factor: Decimal) -> Money:
        return Money(self.amount * factor, self.currency)

    def rounded(self, rounding: str = ROUND_HALF_UP) -> Money:
        return Money(round_to_minor(self.amount, self.currency, rounding), self.currency)

    def is_rounded(self) -> bool:
        return is_multiple_of(self.amount, minor_unit(self.currency))

    def allocate(self, weights: Sequence[Decimal]) -> list[Money]:
        """Split a rounded amount by weights into rounded parts that add up to it exactly."""
        parts = allocate_largest_remainder(self.amount, weights, minor_unit(self.currency))
        return [Money(part, self.currency) for part in parts]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
