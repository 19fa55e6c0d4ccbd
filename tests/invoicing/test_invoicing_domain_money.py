"""Money: exact arithmetic, explicit rounding modes, and allocations that add up exactly."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.invoicing.domain.issuers import TaxRounding
from services.invoicing.domain.money import Money, allocate_largest_remainder, minor_unit, round_tax
from services.runtime.errors import InvalidArgument

D = Decimal
CURRENCIES = st.sampled_from(["JPY", "EUR", "USD", "KWD"])
WEIGHTS = st.lists(st.decimals(min_value=0, max_value=10**6, places=3), min_size=1, max_size=12).filter(
    lambda weights: sum(weights) > 0)


@settings(max_examples=300, deadline=None)
@given(units=st.integers(-10**6, 10**6), weights=st.lists(st.one_of(
    st.integers(0, 50).map(Decimal), st.decimals(min_value=0, max_value=100, places=2),
    st.decimals(min_value=0, max_value=10, places=3)), min_size=1, max_size=12).filter(lambda ws: sum(ws) > 0))
def test_largest_remainder_matches_a_fraction_oracle(units, weights):
    # Hamilton's method by the book, in exact fractions: floor of each share, then one quantum each to
    # the largest remainders, ties to the earlier weight (many weights here are equal or integral).
    quantum = D("0.01")
    shares = [Fraction(abs(units)) * Fraction(weight) / Fraction(sum(weights)) for weight in weights]
    floors = [share.numerator // share.denominator for share in shares]
    order = sorted(range(len(weights)), key=lambda index: (-(shares[index] - floors[index]), index))
    for index in order[:abs(units) - sum(floors)]:
        floors[index] += 1
    sign = -1 if units < 0 else 1
    assert allocate_largest_remainder(D(units) * quantum, weights, quantum) == [
        D(sign * floor) * quantum for floor in floors]


@settings(max_examples=200, deadline=None)
@given(currency=CURRENCIES, cents=st.integers(-10**9, 10**9), weights=WEIGHTS)
def test_allocation_sums_exactly_and_stays_within_one_minor_unit_of_the_exact_share(currency, cents, weights):
    total = Money(D(cents) * minor_unit(currency), currency)
    parts = total.allocate(weights)
    assert sum(part.amount for part in parts) == total.amount
    for part, weight in zip(parts, weights, strict=True):
        exact = total.amount * weight / sum(weights)
        assert abs(part.amount - exact) < minor_unit(currency)
        assert part.is_rounded()
        if weight == 0:
            assert part.amount == 0


@settings(max_examples=200, deadline=None)
@given(currency=CURRENCIES, amount=st.decimals(min_value=-10**7, max_value=10**7, places=6))
def test_rounding_modes(currency, amount):
    quantum = minor_unit(currency)
    half_up, down, truncate = (round_tax(amount, currency, mode) for mode in TaxRounding)
    assert abs(half_up - amount) <= quantum / 2
    assert down <= amount < down + quantum  # toward negative infinity
    assert abs(truncate) <= abs(amount) < abs(truncate) + quantum  # toward zero
    assert (down == truncate) == (amount >= 0 or amount % quantum == 0)


def test_half_up_rounds_halves_away_from_zero():
    assert round_tax(D("10.5"), "JPY", TaxRounding.HALF_UP) == D(11)
    assert round_tax(D("-10.5"), "JPY", TaxRounding.HALF_UP) == D(-11)
    assert round_tax(D("0.125"), "EUR", TaxRounding.HALF_UP) == D("0.13")
    assert round_tax(D("0.1235"), "KWD", TaxRounding.TRUNCATE) == D("0.123")


def test_largest_remainder_breaks_ties_towards_the_earlier_weight():
    assert allocate_largest_remainder(D("0.02"), [D(1), D(1), D(1)], D("0.01")) == [D("0.01"), D("0.01"), D("0")]
    assert allocate_largest_remainder(D(-10), [D(1), D(2)], D(1)) == [D(-3), D(-7)]


def test_money_refuses_floats_unknown_currencies_and_mixing():
    with pytest.raises(InvalidArgument):
        Money(0.1, "EUR")
    with pytest.raises(InvalidArgument):
        Money(D(1), "XXX")
    with pytest.raises(InvalidArgument):
        Money(D(1), "EUR") + Money(D(1), "USD")
    assert (Money(D("0.10"), "EUR") + Money(D("0.20"), "EUR")).amount == D("0.30")
    assert Money(D("10"), "EUR").times(D("1") / D("3")).rounded() == Money(D("3.33"), "EUR")
    with pytest.raises(InvalidArgument):
        allocate_largest_remainder(D("0.015"), [D(1)], D("0.01"))
