"""Metered usage: tiers, allowances per device and pooled, proration by day, estimates and their true-up.

Every expected amount is worked out by hand in the test; January 2026 has 31 days.
"""

from __future__ import annotations

from datetime import date

import pytest

from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.domain.plans import AllowanceScope, FixedFee, MeteredCharge, Register, Tier, TierMode
from services.invoicing.domain.usage import ReadKind
from services.runtime.errors import InvalidArgument
from tests.invoicing.invoicing_domain_builders import (
    JANUARY,
    D,
    amount_by_asset,
    contract,
    covered,
    lines_of,
    plan,
    rate,
    usage,
)

TIERS = (Tier(D(1000), D("0.010")), Tier(D(5000), D("0.008")), Tier(None, D("0.005")))


def metered(mode: TierMode = TierMode.GRADUATED, allowance: int = 0, scope: AllowanceScope = AllowanceScope.PER_DEVICE,
            tiers: tuple[Tier, ...] = TIERS) -> MeteredCharge:
    return MeteredCharge("mono", "Mono pages", Register.MONO_PAGES, tiers, mode, D(allowance), scope)


def test_graduated_tiers_price_each_band_at_its_own_rate():
    rated = rate(contract(covered("p1"), covered("p2")), plan(metered(allowance=500)),
                 usage=[usage("p1", 3200), usage("p2", 7000)])
    amounts = amount_by_asset(rated, "mono")
    # p1: 3200 - 500 allowance = 2700 -> 1000 x 0.010 + 1700 x 0.008 = 10.00 + 13.60
    assert amounts["p1"] == D("23.60")
    # p2: 7000 - 500 = 6500 -> 10.00 + 4000 x 0.008 + 1500 x 0.005 = 10.00 + 32.00 + 7.50
    assert amounts["p2"] == D("49.50")
    p2 = next(line for line in rated.lines if line.asset == "p2")
    assert [(band.quantity, band.unit_price) for band in p2.usage.bands] == [
        (D(1000), D("0.010")), (D(4000), D("0.008")), (D(1500), D("0.005"))]
    assert p2.usage.allowance_used == D(500) and p2.unit_price is None


def test_volume_tiers_price_the_whole_quantity_at_the_tier_it_reaches():
    rated = rate(contract(covered("p1"), covered("p2"), covered("p3"), covered("p4")),
                 plan(metered(TierMode.VOLUME, allowance=500)),
                 usage=[usage("p1", 3200), usage("p2", 7000), usage("p3", 1500), usage("p4", 1501)])
    amounts = amount_by_asset(rated, "mono")
    assert amounts["p1"] == D("21.60")  # 2700 all at 0.008
    assert amounts["p2"] == D("32.50")  # 6500 all at 0.005
    assert amounts["p3"] == D("10.00")  # 1000 reaches the first tier's bound, which is inclusive: 1000 x 0.010
    assert amounts["p4"] == D("8.01")  # 1001 all at 0.008 = 8.008, rounded half up


def test_unit_price_with_six_decimals_is_rounded_once_per_line():
    charge = metered(tiers=(Tier(None, D("0.004567")),))
    rated = rate(contract(covered("p1")), plan(charge), usage=[usage("p1", 12345)])
    # 12345 x 0.004567 = 56.379615
    assert amount_by_asset(rated, "mono") == {"p1": D("56.38")}


def test_a_line_amount_on_half_a_cent_rounds_up():
    rated = rate(contract(covered("p1")), plan(metered(tiers=(Tier(None, D("0.005")),))), usage=[usage("p1", 25)])
    assert amount_by_asset(rated, "mono") == {"p1": D("0.13")}  # 25 x 0.005 = 0.125 (half even would give 0.12)


def test_pooled_allowance_allocates_the_overage_back_by_largest_remainder():
    charge = metered(allowance=1000, scope=AllowanceScope.POOLED, tiers=(Tier(None, D("0.013")),))
    devices = contract(covered("a", cost_centre="cc-1"), covered("b", cost_centre="cc-1"),
                       covered("c", cost_centre="cc-2"))
    rated = rate(devices, plan(charge), usage=[usage("a", 2000), usage("b", 1500), usage("c", 700)])
    lines = {line.asset: line for line in lines_of(rated, "mono")}
    # pool 3 x 1000 = 3000; usage 4200; overage 1200 x 0.013 = 15.60.
    # Overage by usage 2000:1500:700 -> exact 571.43, 428.57, 200: floors 571 + 428 + 200 = 1199,
    # the last page goes to b (remainder 2400/4200 beats a's 1800/4200): a 571, b 429, c 200.
    assert {asset: line.usage.allowance_used for asset, line in lines.items()} == {
        "a": D(2000 - 571), "b": D(1500 - 429), "c": D(700 - 200)}
    # 1560 cents by overage 571:429:200 -> exact 742.3, 557.7, 260: floors sum to 1559, the cent goes to b.
    assert {asset: line.amount for asset, line in lines.items()} == {"a": D("7.42"), "b": D("5.58"), "c": D("2.60")}
    assert sum(line.amount for line in lines.values()) == D("15.60")
    by_cost_centre: dict[str, D] = {}
    for line in lines.values():
        by_cost_centre[line.cost_centre] = by_cost_centre.get(line.cost_centre, D(0)) + line.amount
    assert by_cost_centre == {"cc-1": D("13.00"), "cc-2": D("2.60")}
    # Priced per device the same usage would cost a 1000 x 0.013 + b 500 x 0.013 = 19.50.
    per_device = rate(devices, plan(metered(allowance=1000, tiers=(Tier(None, D("0.013")),))),
                      usage=[usage("a", 2000), usage("b", 1500), usage("c", 700)])
    assert sum(amount_by_asset(per_device, "mono").values()) == D("19.50")


def test_pooled_overage_goes_through_graduated_tiers_once_for_the_contract():
    tiers = (Tier(D(1000), D("0.02")), Tier(None, D("0.01")))
    rated = rate(contract(covered("a"), covered("b")),
                 plan(metered(allowance=1000, scope=AllowanceScope.POOLED, tiers=tiers)),
                 usage=[usage("a", 2600), usage("b", 600)])
    # pool 2000, usage 3200, overage 1200: 1000 x 0.02 + 200 x 0.01 = 22.00 (per device: a 1600 over = 26.00).
    # Pages by usage 2600:600: a 975, b 225. 2200 cents by 975:225: 1787.5 and 412.5; the tie goes to a.
    amounts = amount_by_asset(rated, "mono")
    assert sum(amounts.values()) == D("22.00")
    assert amounts == {"a": D("17.88"), "b": D("4.12")}


def test_asset_added_mid_period_prorates_fee_and_allowance_by_day():
    fee = FixedFee("care", "Care fee", D("100.00"))
    rated = rate(contract(covered("old"), covered("new", start=date(2026, 1, 15))),
                 plan(fee, metered(allowance=1000, tiers=(Tier(None, D("0.01")),))),
                 usage=[usage("new", 600), usage("old", 1600)])
    fees = amount_by_asset(rated, "care")
    # new is covered 15-31 January: 17 of 31 days. 100.00 x 17 / 31 = 54.838.. -> 54.84
    assert fees == {"old": D("100.00"), "new": D("54.84")}
    usage_lines = {line.asset: line for line in lines_of(rated, "mono")}
    # allowance 1000 x 17 / 31 = 548.38.. -> 548 pages; 600 - 548 = 52 pages x 0.01
    assert usage_lines["new"].usage.allowance == D(548)
    assert usage_lines["new"].amount == D("0.52")
    assert usage_lines["old"].amount == D("6.00")  # full allowance: 600 x 0.01


def test_asset_removed_mid_period_prorates_fee_and_pooled_allowance():
    fee = FixedFee("care", "Care fee", D("100.00"))
    charge = metered(allowance=1000, scope=AllowanceScope.POOLED, tiers=(Tier(None, D("0.01")),))
    rated = rate(contract(covered("stays"), covered("leaves", end=date(2026, 1, 11))), plan(fee, charge),
                 usage=[usage("stays", 1500), usage("leaves", 500)])
    # leaves is covered 1-10 January: 10 of 31 days: 100.00 x 10 / 31 = 32.258.. -> 32.26
    assert amount_by_asset(rated, "care") == {"stays": D("100.00"), "leaves": D("32.26")}
    # pool 1000 + 1000 x 10 / 31 = 322.58.. -> 323: 1323; usage 2000; overage 677 x 0.01 = 6.77
    assert sum(amount_by_asset(rated, "mono").values()) == D("6.77")


def test_estimate_is_billed_marked_and_the_next_actual_read_bills_only_the_difference():
    december = BillingPeriod.anchored(2025, 12, 1)
    charge = metered(tiers=(Tier(None, D("0.01")),))
    estimated = rate(contract(covered("p1")), plan(charge), december,
                     usage=[usage("p1", 2000, start_value=10_000, end_kind=ReadKind.ESTIMATED, period=december)])
    [line] = estimated.lines
    assert line.estimated and line.usage.end_read.kind is ReadKind.ESTIMATED
    assert line.amount == D("20.00")  # 12 000 estimated - 10 000 actual = 2000 x 0.01
    # January's actual read is 14 500: 4500 pages since the last actual read, 2000 of them already billed.
    actual = rate(contract(covered("p1")), plan(charge),
                  usage=[usage("p1", 4500, start_value=10_000, already_billed=2000)])
    [line] = actual.lines
    assert not line.estimated and line.quantity == D(2500) and line.amount == D("25.00")
    assert estimated.subtotal + actual.subtotal == D(4500) * D("0.01")  # never billed twice


def test_an_estimate_above_the_actual_read_is_credited():
    charge = metered(allowance=1000, tiers=(Tier(D(5000), D("0.01")), Tier(None, D("0.005"))))
    # Actual read 11 500 after an estimate of 12 000 from 10 000: 1500 pages consumed, 2000 billed.
    rated = rate(contract(covered("p1")), plan(charge),
                 usage=[usage("p1", 1500, start_value=10_000, already_billed=2000)])
    [line] = rated.lines
    # -500 pages use no allowance and are credited at the first tier's price: -500 x 0.01
    assert line.quantity == D(-500) and line.usage.allowance_used == 0
    assert line.amount == D("-5.00")


def test_pooled_contract_credits_an_overestimate_outside_the_pool():
    charge = metered(allowance=100, scope=AllowanceScope.POOLED, tiers=(Tier(None, D("0.02")),))
    rated = rate(contract(covered("a"), covered("b")), plan(charge),
                 usage=[usage("a", 400), usage("b", 50, already_billed=80)])
    # pool 200; a's 400 pages: overage 200 x 0.02 = 4.00; b: -30 x 0.02 = -0.60 credited on its own
    assert amount_by_asset(rated, "mono") == {"a": D("4.00"), "b": D("-0.60")}


def test_usage_for_an_asset_outside_the_contract_is_refused_with_its_field():
    with pytest.raises(InvalidArgument) as caught:
        rate(contract(covered("p1")), plan(metered()), usage=[usage("p1", 10), usage("ghost", 10)])
    assert [violation.field for violation in caught.value.violations] == ["usage[1].asset"]


def test_fractional_pages_are_refused():
    with pytest.raises(InvalidArgument) as caught:
        rate(contract(covered("p1")), plan(metered()), usage=[usage("p1", "10.5")])
    assert caught.value.violations[0].field == "usage[0].quantity"


def test_period_must_follow_the_billing_anchor():
    with pytest.raises(InvalidArgument) as caught:
        rate(contract(covered("p1")), plan(metered()), BillingPeriod(date(2026, 1, 5), date(2026, 2, 5)))
    assert caught.value.violations[0].field == "period"


def test_periods_clamp_the_anchor_day_to_short_months():
    assert BillingPeriod.anchored(2026, 1, 31) == BillingPeriod(date(2026, 1, 31), date(2026, 2, 28))
    assert BillingPeriod.anchored(2028, 2, 31) == BillingPeriod(date(2028, 2, 29), date(2028, 3, 31))
    assert JANUARY.days == 31
