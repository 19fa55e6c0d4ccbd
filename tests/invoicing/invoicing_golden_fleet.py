"""A realistic multi-plan, multi-currency fleet for January 2026, and a printable snapshot of its invoices.

Every charge kind and the awkward cases are in it: mid-period additions and removals, an asset moving
site mid-month, estimates (one trued up to a credit), zero usage, pooled allowances under graduated
and volume tiers, fractional quanta (hours, kWh), in-advance and in-arrears quarterly fees, a contract
starting mid-period, take-or-pay in units and in money, outcome shares with and without a saving,
availability credits, minimum commitments, percentage and fixed-amount discounts, one-offs, and JP
tax rounded half up and down. test_invoicing_domain_golden.py holds the snapshot main produced.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from services.invoicing.domain.contracts import Contract, CoveredAsset
from services.invoicing.domain.invoices import (
    Invoice,
    TaxPolicy,
    consolidate,
    japan_tax_policy,
)
from services.invoicing.domain.issuers import TaxRounding
from services.invoicing.domain.plans import (
    AllowanceScope,
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
    PlanVersion,
    Register,
    Tier,
    TierMode,
    Timing,
)
from services.invoicing.domain.rating import RatingInput, rate_contract
from services.invoicing.domain.usage import OneOffItem, ReadKind, VerifiedSaving
from tests.invoicing.invoicing_domain_builders import JANUARY, D, usage

POLICIES = {
    "de": TaxPolicy({"STANDARD": D("0.19"), "REDUCED": D("0.07")}),
    "us": TaxPolicy({"STANDARD": D("0.0725"), "EXEMPT": D(0)}),
    "jp": japan_tax_policy(),
    "jp-down": japan_tax_policy(TaxRounding.DOWN),
}
MONO_TIERS = (Tier(D(5000), D("0.0125")), Tier(None, D("0.009")))
E = ReadKind.ESTIMATED


def _plan(version: int, currency: str, *charges) -> PlanVersion:
    return PlanVersion("golden", version, currency, date(2025, 1, 1), tuple(charges))


def _contract(contract_id: str, customer: str, version: int, currency: str, issuer: str, *assets: CoveredAsset,
              start: date = date(2025, 1, 1), end: date | None = None) -> Contract:
    return Contract(contract_id=contract_id, customer=customer, plan_id="golden", plan_version=version,
                    currency=currency, issuing_entity=issuer, billing_anchor_day=1, start_date=start, assets=assets,
                    billing_site="hq", billing_cost_centre="finance", purchase_order=f"PO-{contract_id}", end_date=end)


def _at(asset: str, site: str = "hq", cost_centre: str = "cc-1", start: date = date(2025, 1, 1),
        end: date | None = None) -> CoveredAsset:
    return CoveredAsset(asset, site, cost_centre, start, end)


def _january(day: int) -> date:
    return date(2026, 1, day)


def _done(day: int) -> datetime:
    return datetime(2026, 1, day, 15, tzinfo=timezone.utc)


def golden_inputs() -> list[RatingInput]:
    office = _plan(
        1, "EUR", FixedFee("base", "Base fee", D("49.90")),
        MeteredCharge("mono", "Mono pages", Register.MONO_PAGES, MONO_TIERS, allowance=D(1000)),
        MeteredCharge("colour", "Colour pages", Register.COLOUR_PAGES,
                      (Tier(D(2000), D("0.06")), Tier(None, D("0.045"))), mode=TierMode.VOLUME,
                      allowance=D(250), allowance_scope=AllowanceScope.POOLED),
        AvailabilityGuarantee("sla", "Availability", D("0.99"), D("0.10"), ("base",)),
        MinimumCommitment("minimum", "Minimum commitment", D("700.00")),
        Discount("loyalty", "Loyalty", percent=D("0.05")))
    office_contract = _contract(
        "c1", "acme", 1, "EUR", "de", _at("a1"), _at("a2", start=_january(10)), _at("a3", end=_january(20)),
        _at("a4", end=_january(15)), _at("a4", "branch", "cc-2", _january(15)), _at("a5"), _at("a6"), _at("a7"),
        _at("a8", "branch", "cc-2"))
    office_usage = [
        usage("a1", 7200), usage("a1", 2400, Register.COLOUR_PAGES),
        usage("a2", 800), usage("a2", 130, Register.COLOUR_PAGES),
        usage("a3", 5432), usage("a3", 333, Register.COLOUR_PAGES),
        usage("a4", 6001), usage("a4", 1, Register.COLOUR_PAGES),
        usage("a5", 900, already_billed=1250), usage("a5", 77, Register.COLOUR_PAGES, already_billed=12),
        usage("a6", 3100, end_kind=E), usage("a6", 250, Register.COLOUR_PAGES, end_kind=E),
        usage("a7", 0), usage("a7", 0, Register.COLOUR_PAGES),
        usage("a8", 15000), usage("a8", 999, Register.COLOUR_PAGES),
    ]
    services = _plan(
        2, "EUR", FixedFee("service", "Service fee", D("300.00"), Frequency.QUARTERLY, Timing.IN_ADVANCE,
                           FeeBasis.PER_CONTRACT, "REDUCED"),
        OutputPrice("hours", "Operating hours", Register.OPERATING_HOURS, D("2.345678"), D("100.00")),
        OutcomeShare("energy", "Energy savings share", D("0.3")),
        Discount("intro", "Introductory", amount=D("20.00"), applies_to=("hours", "service")))
    services_contract = _contract("c2", "acme", 2, "EUR", "de", _at("h1", start=_january(12)),
                                  _at("h2", "branch", "cc-2", _january(12)), start=_january(12))
    compute = _plan(
        3, "USD", FixedFee("node", "Node fee", D("120.00"), Frequency.QUARTERLY, Timing.IN_ARREARS),
        MeteredCharge("kwh", "Energy", Register.ENERGY_KWH,
                      (Tier(D("100.5"), D("0.21")), Tier(D("400"), D("0.17")), Tier(None, D("0.1525"))),
                      mode=TierMode.VOLUME, allowance=D("50.125")),
        MeteredCharge("compute", "Compute hours", Register.COMPUTE_HOURS, (Tier(None, D("0.333333")),),
                      allowance=D("10.5"), allowance_scope=AllowanceScope.POOLED, tax_category="EXEMPT"),
        MinimumCommitment("minimum", "Minimum commitment", D("900.00")))
    compute_contract = _contract(
        "c3", "initech", 3, "USD", "us", _at("n1"), _at("n2", "lab", "r-and-d"),
        _at("n3", "lab", "r-and-d", _january(3), _january(29)), start=date(2025, 11, 1))
    printers = _plan(
        4, "JPY", FixedFee("base", "Base fee", D(15000)),
        MeteredCharge("mono", "Mono pages", Register.MONO_PAGES, (Tier(D(5000), D("0.8")), Tier(None, D("0.6"))),
                      allowance=D(2000), allowance_scope=AllowanceScope.POOLED),
        MeteredCharge("colour", "Colour pages", Register.COLOUR_PAGES, (Tier(None, D(6)),), allowance=D(200),
                      allowance_scope=AllowanceScope.POOLED),
        FixedFee("water", "Drinking water", D(1006), tax_category="REDUCED"),
        AvailabilityGuarantee("sla", "Availability", D("0.98"), D("0.10"), ("base", "water")),
        Discount("loyalty", "Loyalty", percent=D("0.05")))
    printer_assets = [_at(f"p{n}", "tokyo", f"CC-{n % 3}") for n in range(9)]
    printers_contract = _contract("c4", "acme-kk", 4, "JPY", "jp", *printer_assets,
                                  _at("p9", "osaka", "CC-9", _january(17)))
    printers_usage = [usage(f"p{n}", 2950 + 37 * n * n) for n in range(10)] + [
        usage(f"p{n}", 180 + 11 * n, Register.COLOUR_PAGES, end_kind=E if n == 4 else ReadKind.ACTUAL)
        for n in range(10)]
    pages = _plan(5, "JPY", OutputPrice("pages", "Pages", Register.MONO_PAGES, D("1.2"), D(3000)),
                  FixedFee("yearly", "Yearly licence", D(100000), Frequency.YEARLY, Timing.IN_ADVANCE,
                           FeeBasis.PER_CONTRACT))
    pages_contract = _contract("c5", "acme-kk", 5, "JPY", "jp", _at("q1"), _at("q2", end=_january(7)),
                               start=date(2025, 12, 1))
    money_offtake = _plan(6, "JPY", OutputPrice("cups", "Cups", Register.PICKS, D("33.3"), D(50000),
                                                OffTakeUnit.MONEY, "REDUCED"),
                          FixedFee("rent", "Rent", D(2999)))
    money_contract = _contract("c6", "globex", 6, "JPY", "jp-down", _at("v1"), _at("v2", "annex", "CC-2"),
                               _at("v3", start=_january(31)))
    return [
        RatingInput(office_contract, office, JANUARY, usage=office_usage,
                    downtime_seconds={"a1": 36_000, "a2": 20, "a4": 3 * 86_400},
                    one_offs=[OneOffItem("workOrders/7", "Fuser", D(1), D("145.50"), _done(12), asset="a3"),
                              OneOffItem("workOrders/8", "Labour", D("1.75"), D("80.00"), _done(20))]),
        RatingInput(services_contract, services, JANUARY,
                    usage=[usage("h1", "61.37", Register.OPERATING_HOURS),
                           usage("h2", "12.05", Register.OPERATING_HOURS, end_kind=E)],
                    savings=[VerifiedSaving("energy", D("1000.00"), D("812.35"), "audit-1", asset="h1"),
                             VerifiedSaving("energy", D("400.00"), D("410.00"), "audit-2")]),
        RatingInput(compute_contract, compute, JANUARY,
                    usage=[usage("n1", "512.345", Register.ENERGY_KWH), usage("n2", "120.001", Register.ENERGY_KWH),
                           usage("n3", "7.5", Register.ENERGY_KWH, already_billed="9.25"),
                           usage("n1", "40.25", Register.COMPUTE_HOURS), usage("n2", "3.33", Register.COMPUTE_HOURS),
                           usage("n3", "18.01", Register.COMPUTE_HOURS)]),
        RatingInput(printers_contract, printers, JANUARY, usage=printers_usage,
                    downtime_seconds={"p1": 2 * 86_400, "p9": 86_400, "p5": 53_568}),
        RatingInput(pages_contract, pages, JANUARY,
                    usage=[usage("q1", 1200), usage("q2", 640, end_kind=E)]),
        RatingInput(money_contract, money_offtake, JANUARY,
                    usage=[usage("v1", 400, Register.PICKS), usage("v2", 733, Register.PICKS),
                           usage("v3", 9, Register.PICKS)]),
    ]


def golden_invoices() -> list[Invoice]:
    return consolidate([rate_contract(each) for each in golden_inputs()], POLICIES)


def snapshot(invoices: list[Invoice]) -> list[str]:
    """Every figure and label of every invoice and line, one string each, in invoice and line order."""
    rows = []
    for invoice in invoices:
        rows.append(f"INVOICE {invoice.customer} {invoice.currency} {invoice.issuing_entity} "
                    f"{[c.contract_id for c in invoice.contracts]} subtotal={invoice.subtotal} "
                    f"tax={invoice.tax_total} total={invoice.total}")
        rows += [f"RATE {t.rate} {t.categories} taxable={t.taxable_amount} tax={t.tax_amount}"
                 for t in invoice.rate_totals]
        for group in invoice.groups:
            rows.append(f"GROUP {group.site}/{group.cost_centre} subtotal={group.subtotal}")
            for line in group.lines:
                trace = line.usage
                usage_part = "" if trace is None else (
                    f" usage={trace.register.value} {trace.start_read.value}..{trace.end_read.value} "
                    f"{trace.end_read.kind.value} measured={trace.measured_quantity} "
                    f"already={trace.estimate_already_billed} allowance={trace.allowance} "
                    f"used={trace.allowance_used} bands={[(b.quantity, b.unit_price) for b in trace.bands]}")
                rows.append(
                    f"LINE {line.contract_id} {line.charge_id} {line.kind.value} {line.asset or '-'} "
                    f"{line.description!r} q={line.quantity} p={line.unit_price} amount={line.amount} "
                    f"{line.tax_category} {line.service_start}..{line.service_end} m={line.recurring_months} "
                    f"est={line.estimated} wo={line.work_order or '-'} note={line.note!r}{usage_part}")
        rows += [f"ANNEX {row.asset} {row.register.value} {row.contract_id} {row.charge_id} {row.amount}"
                 for row in invoice.annex]
    return rows
