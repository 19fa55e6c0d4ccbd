"""Plans: versions never change what was rated, and validation names the offending field."""

from __future__ import annotations

from datetime import date

import pytest

from services.invoicing.domain.plans import (
    AvailabilityGuarantee,
    Discount,
    FixedFee,
    MeteredCharge,
    OutputPrice,
    Plan,
    Register,
    Tier,
    validate_plan_version,
)
from services.runtime.errors import InvalidArgument, NotFound
from tests.invoicing.invoicing_domain_builders import D, contract, covered, plan, rate

MONO = MeteredCharge("mono", "Mono pages", Register.MONO_PAGES, (Tier(D(1000), D("0.01")), Tier(None, D("0.008"))))


def fields_of(*charges, currency: str = "EUR") -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        validate_plan_version(plan(*charges, currency=currency))
    return [violation.field for violation in caught.value.violations]


def test_a_new_version_leaves_the_old_one_and_its_ratings_unchanged():
    first = Plan("fleet-care", "Fleet care").with_new_version((FixedFee("care", "Care", D("100.00")),),
                                                             date(2025, 1, 1), currency="EUR")
    second = first.with_new_version((FixedFee("care", "Care", D("120.00")),), date(2026, 7, 1))
    assert [v.version for v in second.versions] == [1, 2] and second.version(2).currency == "EUR"
    assert second.version(1) == first.version(1)
    rated = rate(contract(covered("p1"), plan_version=1), second.version(1))
    assert rated.subtotal == D("100.00") and (rated.plan_id, rated.plan_version) == ("fleet-care", 1)
    with pytest.raises(NotFound):
        second.version(3)
    with pytest.raises(InvalidArgument):
        second.with_new_version((FixedFee("care", "Care", D("90.00")),), date(2026, 1, 1))  # before version 2


def test_tier_problems_name_the_tier():
    unordered = MeteredCharge("mono", "Mono", Register.MONO_PAGES, (Tier(D(1000), D("0.01")), Tier(D(500), D("0.02")),
                                                                    Tier(None, D("0.03"))))
    bounded = MeteredCharge("colour", "Colour", Register.COLOUR_PAGES, (Tier(D(10), D("0.05")),))
    assert fields_of(unordered, bounded) == ["plan_version.charges[0].tiers[1].up_to",
                                             "plan_version.charges[1].tiers[0].up_to"]


def test_unit_prices_carry_at_most_six_decimals_and_never_floats():
    fine = MeteredCharge("mono", "Mono", Register.MONO_PAGES, (Tier(None, D("0.004567")),))
    validate_plan_version(plan(fine))
    too_fine = MeteredCharge("mono", "Mono", Register.MONO_PAGES, (Tier(None, D("0.0045671")),))
    floating = OutputPrice("picks", "Picks", Register.PICKS, 0.25)
    assert fields_of(too_fine, floating) == ["plan_version.charges[0].tiers[0].unit_price",
                                             "plan_version.charges[1].unit_price"]


def test_fees_follow_the_currency_minor_unit():
    assert fields_of(FixedFee("care", "Care", D("100.5")), currency="JPY") == ["plan_version.charges[0].amount"]
    validate_plan_version(plan(FixedFee("care", "Care", D("100")), currency="JPY"))


def test_references_between_charges_are_checked():
    guarantee = AvailabilityGuarantee("sla", "SLA", D("0.98"), D("0.10"), ("mono",))
    discount = Discount("d", "Discount", percent=D("0.1"), amount=D("5.00"), applies_to=("nothing",))
    assert fields_of(MONO, guarantee, discount) == [
        "plan_version.charges[1].fee_charge_ids[0]", "plan_version.charges[2]",
        "plan_version.charges[2].applies_to[0]"]


def test_charge_ids_are_unique_and_a_register_is_priced_once():
    twin = MeteredCharge("mono", "Mono again", Register.MONO_PAGES, (Tier(None, D("0.01")),))
    assert fields_of(MONO, twin) == ["plan_version.charges[1].charge_id", "plan_version.charges"]
