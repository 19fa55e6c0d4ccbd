"""Fees and their cycles, take-or-pay, outcome shares, availability credits, commitments, discounts, one-offs.

Every expected amount is worked out by hand in the test; January 2026 has 31 days (2 678 400 s).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.domain.lines import LineKind
from services.invoicing.domain.plans import (
    AvailabilityGuarantee,
    Discount,
    FeeBasis,
    FixedFee,
    Frequency,
    MeteredCharge,
    MinimumCommitment,
    OffTakeUnit,
    OutcomeShare,
    OutputPrice,
    Register,
    Tier,
    Timing,
)
from services.invoicing.domain.usage import OneOffItem, VerifiedSaving
from services.runtime.errors import InvalidArgument
from tests.invoicing.invoicing_domain_builders import (
    SECONDS_IN_JANUARY,
    D,
    amount_by_asset,
    contract,
    covered,
    lines_of,
    plan,
    rate,
    usage,
)

CARE = FixedFee("care", "Care fee", D("200.00"))
PICKS = Register.PICKS


def output(minimum: str, unit: OffTakeUnit = OffTakeUnit.UNITS) -> OutputPrice:
    return OutputPrice("picks", "Picks delivered", PICKS, D("0.25"), D(minimum), unit)


def test_take_or_pay_bills_the_missing_units():
    rated = rate(contract(covered("f1"), covered("f2")), plan(output("10000")),
                 usage=[usage("f1", 3000, PICKS), usage("f2", 4000, PICKS)])
    by_kind = {line.kind: [] for line in rated.lines}
    for line in rated.lines:
        by_kind[line.kind].append(line.amount)
    assert by_kind[LineKind.OUTPUT] == [D("750.00"), D("1000.00")]  # 3000 and 4000 x 0.25
    [shortfall] = [line for line in rated.lines if line.kind is LineKind.TAKE_OR_PAY_SHORTFALL]
    assert shortfall.quantity == D(3000) and shortfall.amount == D("750.00")  # 10 000 - 7000 missing picks
    assert rated.subtotal == D(10_000) * D("0.25")


def test_take_or_pay_above_the_minimum_adds_nothing():
    rated = rate(contract(covered("f1"), covered("f2")), plan(output("10000")),
                 usage=[usage("f1", 6000, PICKS), usage("f2", 5000, PICKS)])
    assert [line.kind for line in rated.lines] == [LineKind.OUTPUT, LineKind.OUTPUT]
    assert rated.subtotal == D("2750.00")


def test_take_or_pay_in_money_is_prorated_for_a_contract_starting_mid_period():
    starts = date(2026, 1, 11)  # 21 of 31 days
    rated = rate(contract(covered("f1", start=starts), start=starts), plan(output("3000.00", OffTakeUnit.MONEY)),
                 usage=[usage("f1", 7000, PICKS)])
    # minimum 3000.00 x 21 / 31 = 2032.258.. -> 2032.26; delivered 7000 x 0.25 = 1750.00
    [shortfall] = [line for line in rated.lines if line.kind is LineKind.TAKE_OR_PAY_SHORTFALL]
    assert shortfall.amount == D("282.26")
    assert rated.subtotal == D("2032.26")


def test_outcome_share_bills_a_share_of_the_saving_and_zero_without_one():
    share = OutcomeShare("energy", "30 % of the verified energy saving", D("0.30"))
    saved = VerifiedSaving("energy", D("1000.00"), D("800.00"), "audit-2026-01")
    not_saved = VerifiedSaving("energy", D("1000.00"), D("1100.00"), "audit-2026-01b")
    rated = rate(contract(covered("s1")), plan(share), savings=[saved, not_saved])
    first, second = lines_of(rated, "energy")
    assert first.amount == D("60.00")  # (1000.00 - 800.00) x 0.30
    assert second.amount == D("0.00") and second.quantity == 0  # baseline below actual: no saving, no charge
    assert "baseline 1000.00, actual 1100.00" in second.note


def test_availability_credit_below_the_target_only():
    guarantee = AvailabilityGuarantee("sla", "98 % uptime", D("0.98"), D("0.10"), ("care",))
    two_percent = SECONDS_IN_JANUARY * 2 // 100  # 53 568 s: uptime exactly 98 %, no credit
    rated = rate(contract(covered("at"), covered("below"), covered("late", start=date(2026, 1, 15))),
                 plan(CARE, guarantee),
                 downtime_seconds={"at": two_percent, "below": two_percent + 1, "late": 30_000})
    credits = amount_by_asset(rated, "sla")
    assert "at" not in credits
    assert credits["below"] == D("-20.00")  # 10 % of 200.00
    # late: covered 17 days = 1 468 800 s, uptime 1 - 30 000 / 1 468 800 = 97.96 %;
    # fee 200.00 x 17 / 31 = 109.677.. (billed 109.68), credit 10 % of it = 10.9677.. -> 10.97
    assert credits["late"] == D("-10.97")
    assert amount_by_asset(rated, "care")["late"] == D("109.68")
    assert all(line.tax_category == CARE.tax_category for line in lines_of(rated, "sla"))


def test_downtime_longer_than_the_covered_time_is_refused():
    guarantee = AvailabilityGuarantee("sla", "99 %", D("0.99"), D("0.10"), ("care",))
    with pytest.raises(InvalidArgument) as caught:
        rate(contract(covered("a1")), plan(CARE, guarantee), downtime_seconds={"a1": SECONDS_IN_JANUARY + 1})
    assert caught.value.violations[0].field == "downtime_seconds[a1]"


def test_minimum_commitment_trues_up_the_difference():
    commitment = MinimumCommitment("commit", "Minimum monthly spend", D("500.00"))
    mono = MeteredCharge("mono", "Mono pages", Register.MONO_PAGES, (Tier(None, D("0.01")),))
    under = rate(contract(covered("p1")), plan(CARE, mono, commitment), usage=[usage("p1", 5000)])
    [true_up] = lines_of(under, "commit")
    assert true_up.amount == D("250.00")  # 500.00 - (200.00 fee + 5000 x 0.01 pages)
    assert under.subtotal == D("500.00")
    over = rate(contract(covered("p1"), covered("p2")), plan(CARE, mono, commitment), usage=[usage("p1", 15000)])
    assert lines_of(over, "commit") == []  # 400.00 + 150.00 is above the commitment


def test_one_offs_are_billed_but_count_towards_no_commitment():
    commitment = MinimumCommitment("commit", "Minimum monthly spend", D("300.00"))
    repair = OneOffItem("workOrders/42", "Fuser replacement, parts and labour", D(2), D("45.50"),
                        datetime(2026, 1, 20, 9, 30, tzinfo=timezone.utc), asset="p1")
    rated = rate(contract(covered("p1", site="osaka")), plan(CARE, commitment), one_offs=[repair])
    [one_off] = [line for line in rated.lines if line.kind is LineKind.ONE_OFF]
    assert (one_off.amount, one_off.work_order, one_off.site, one_off.recurring) == (
        D("91.00"), "workOrders/42", "osaka", False)
    assert lines_of(rated, "commit")[0].amount == D("100.00")  # 300.00 - 200.00, the repair does not count


def test_one_off_completed_outside_the_period_is_refused():
    late = OneOffItem("workOrders/43", "Install", D(1), D("80"), datetime(2026, 2, 1, tzinfo=timezone.utc))
    with pytest.raises(InvalidArgument) as caught:
        rate(contract(covered("p1")), plan(CARE), one_offs=[late])
    assert caught.value.violations[0].field == "one_offs[0].completed_at"


def test_discounts_split_by_tax_category_and_never_compound():
    food = FixedFee("canteen", "Canteen vending", D("33.33"), basis=FeeBasis.PER_CONTRACT, tax_category="REDUCED")
    percent = Discount("loyalty", "10 % loyalty discount", percent=D("0.10"))
    fixed = Discount("welcome", "Welcome discount", amount=D("50.00"))
    rated = rate(contract(covered("p1")), plan(CARE, food, percent, fixed))
    loyalty = {line.tax_category: line.amount for line in lines_of(rated, "loyalty")}
    assert loyalty == {"STANDARD": D("-20.00"), "REDUCED": D("-3.33")}  # 10 % of 200.00; 3.333 -> 3.33
    welcome = {line.tax_category: line.amount for line in lines_of(rated, "welcome")}
    # 5000 cents by 20000:3333 -> 4285.77.., 714.22..: floors 4285 + 714 = 4999, the cent to STANDARD
    assert welcome == {"STANDARD": D("-42.86"), "REDUCED": D("-7.14")}
    assert rated.subtotal == D("200.00") + D("33.33") - D("23.33") - D("50.00")


def test_fixed_amount_discount_is_capped_at_what_it_reduces():
    small = FixedFee("care", "Care fee", D("30.00"))
    rated = rate(contract(covered("p1")), plan(small, Discount("welcome", "Welcome", amount=D("50.00"))))
    assert lines_of(rated, "welcome")[0].amount == D("-30.00")
    assert rated.subtotal == 0


def test_quarterly_fee_in_advance_is_billed_before_its_cycle():
    fee = FixedFee("lease", "Quarterly lease", D("300.00"), Frequency.QUARTERLY, Timing.IN_ADVANCE)
    agreement = contract(covered("p1"), start=date(2026, 1, 1))

    def billed(month: int) -> list[tuple[date, date, D]]:
        rated = rate(agreement, plan(fee), BillingPeriod.anchored(2026, month, 1))
        return [(line.service_start, line.service_end, line.amount) for line in rated.lines]

    assert billed(1) == [(date(2026, 1, 1), date(2026, 4, 1), D("300.00"))]  # the first invoice: the running cycle
    assert billed(2) == []
    assert billed(3) == [(date(2026, 4, 1), date(2026, 7, 1), D("300.00"))]  # the next cycle, in advance


def test_monthly_fee_in_advance_first_invoice_carries_two_months():
    fee = FixedFee("rent", "Monthly rent", D("100.00"), timing=Timing.IN_ADVANCE)
    starts = date(2026, 1, 15)
    rated = rate(contract(covered("p1", start=starts), start=starts), plan(fee))
    # 15-31 January: 17 / 31 x 100.00 = 54.84, then all of February
    assert [(line.service_start, line.amount) for line in rated.lines] == [
        (date(2026, 1, 1), D("54.84")), (date(2026, 2, 1), D("100.00"))]


def test_quarterly_fee_in_arrears_prorates_an_asset_that_left_during_the_cycle():
    fee = FixedFee("lease", "Quarterly lease", D("300.00"), Frequency.QUARTERLY, Timing.IN_ARREARS)
    agreement = contract(covered("p1"), covered("p2", end=date(2026, 2, 1)), start=date(2026, 1, 1))
    assert rate(agreement, plan(fee), BillingPeriod.anchored(2026, 2, 1)).lines == ()
    rated = rate(agreement, plan(fee), BillingPeriod.anchored(2026, 3, 1))
    # the cycle is January-March, 90 days; p2 stayed 31 of them: 300.00 x 31 / 90 = 103.333.. -> 103.33
    assert amount_by_asset(rated, "lease") == {"p1": D("300.00"), "p2": D("103.33")}
    assert {line.recurring_months for line in rated.lines} == {3}


def test_a_contract_is_rated_only_with_its_own_plan_version():
    with pytest.raises(InvalidArgument) as caught:
        rate(contract(covered("p1"), plan_version=1), plan(CARE, version=2))
    assert caught.value.violations[0].field == "plan"
