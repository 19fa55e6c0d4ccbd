"""Revenue KPIs: MRR from recurring charges only, its movements between periods, ARPU."""

from __future__ import annotations

from datetime import date, datetime, timezone

from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.domain.invoices import TaxPolicy, credit_note_for, draft_invoice, finalize, void
from services.invoicing.domain.issuers import IssuerDetails, TaxRounding
from services.invoicing.domain.plans import FixedFee, Frequency, MeteredCharge, Register, Tier, Timing
from services.invoicing.domain.revenue import Movement, arpu, mrr_by_customer, mrr_movements
from services.invoicing.domain.usage import OneOffItem
from tests.invoicing.invoicing_domain_builders import JANUARY, D, contract, covered, plan, rate, usage

GERMANY = IssuerDetails("Fleetops GmbH", "DE123456789", "DE", "RE", TaxRounding.HALF_UP)
TAX = TaxPolicy({"STANDARD": D("0.19")})
FEBRUARY = BillingPeriod.anchored(2026, 2, 1)
PLAN = plan(
    FixedFee("care", "Care", D("100.00")),
    FixedFee("lease", "Quarterly lease", D("300.00"), Frequency.QUARTERLY, Timing.IN_ADVANCE),
    MeteredCharge("mono", "Mono pages", Register.MONO_PAGES, (Tier(None, D("0.01")),)),
)
AGREEMENT = contract(covered("p1"), start=date(2026, 1, 1))


def invoice_for(period: BillingPeriod, pages: int, sequence: int, **inputs):
    rated = rate(AGREEMENT, PLAN, period, usage=[usage("p1", pages, period=period)], **inputs)
    return finalize(draft_invoice([rated], TAX), GERMANY, sequence, datetime(2026, 3, 1, tzinfo=timezone.utc))


def test_mrr_counts_recurring_charges_spread_over_their_months_and_no_one_offs():
    repair = OneOffItem("workOrders/9", "Drum, parts and labour", D(1), D("500.00"),
                        datetime(2026, 1, 12, tzinfo=timezone.utc), asset="p1")
    january = invoice_for(JANUARY, 5000, 1, one_offs=[repair])
    # care 100.00 + pages 5000 x 0.01 = 50.00 + the quarterly lease 300.00 / 3; the 500.00 repair is not recurring
    assert mrr_by_customer([january], JANUARY, "EUR") == {"acme": D("250.00")}
    february = invoice_for(FEBRUARY, 2000, 2)
    # February's invoice bills no lease, but January's lease covers February too: 100.00 + 20.00 + 100.00
    assert mrr_by_customer([january, february], FEBRUARY, "EUR") == {"acme": D("220.00")}


def test_credited_invoices_leave_mrr():
    january = invoice_for(JANUARY, 5000, 1)
    credit = finalize(credit_note_for(january), GERMANY, 1, datetime(2026, 3, 2, tzinfo=timezone.utc), series="CN")
    assert mrr_by_customer([void(january, credit), credit], JANUARY, "EUR") == {}


def test_mrr_movements_classify_each_customer_and_reconcile():
    previous = {"a": D("100.00"), "b": D("200.00"), "c": D("50.00"), "e": D("10.00")}
    current = {"a": D("150.00"), "b": D("120.00"), "d": D("80.00"), "e": D("10.00")}
    moved = mrr_movements(previous, current)
    assert (moved.new, moved.expansion, moved.contraction, moved.churn) == (
        D("80.00"), D("50.00"), D("80.00"), D("50.00"))
    assert moved.by_customer == {"a": Movement.EXPANSION, "b": Movement.CONTRACTION, "c": Movement.CHURN,
                                 "d": Movement.NEW, "e": Movement.FLAT}
    assert moved.previous + moved.new + moved.expansion - moved.contraction - moved.churn == moved.current


def test_arpu_averages_paying_customers_rounded_half_up():
    # 360.00 over 3 paying customers = 120.00; 350.00 / 3 = 116.666.. -> 116.67
    assert arpu({"a": D("150.00"), "b": D("120.00"), "d": D("90.00"), "gone": D(0)}, "EUR") == D("120.00")
    assert arpu({"a": D("150.00"), "b": D("120.00"), "d": D("80.00")}, "EUR") == D("116.67")
    assert arpu({"a": D(1000), "b": D(2001)}, "JPY") == D(1501)  # 1500.5 yen -> 1501
    assert arpu({}, "EUR") == D("0.00")
