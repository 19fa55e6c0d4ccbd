"""Consolidated invoices: per-rate tax, totals, grouping, annex, numbering, finalization, credit notes."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.invoicing.domain.invoices import (
    DocumentType,
    InvoiceState,
    TaxPolicy,
    add_lines,
    consolidate,
    credit_note_for,
    draft_invoice,
    finalize,
    format_invoice_number,
    japan_tax_policy,
    rate_totals,
    void,
)
from services.invoicing.domain.issuers import IssuerDetails, TaxRounding
from services.invoicing.domain.plans import FixedFee, MeteredCharge, Register, Tier
from services.invoicing.domain.usage import ReadKind
from services.runtime.errors import FailedPrecondition, InvalidArgument
from tests.invoicing.invoicing_domain_builders import D, contract, covered, plan, rate, usage

JAPAN = IssuerDetails("Fleetops Japan KK", "T1234567890123", "JP", "INV", TaxRounding.HALF_UP)
GERMAN_TAX = TaxPolicy({"STANDARD": D("0.19"), "REDUCED": D("0.07")})
FINALIZED_AT = datetime(2026, 2, 3, 8, 0, tzinfo=timezone.utc)

# Japan, per asset: three fees of 105 yen at 10 % and two of 1006 yen at 8 %.
STANDARD_FEE = FixedFee("care", "Care", D(105))
REDUCED_FEE = FixedFee("water", "Drinking water", D(1006), tax_category="REDUCED")


def japanese_rated():
    standard = rate(contract(covered("a"), covered("b"), covered("c"), currency="JPY", issuing_entity="jp"),
                    plan(STANDARD_FEE, currency="JPY"))
    reduced = rate(contract(covered("d"), covered("e"), contract_id="c2", currency="JPY", issuing_entity="jp"),
                   plan(REDUCED_FEE, currency="JPY"))
    return [standard, reduced]


def test_japanese_tax_is_computed_and_rounded_once_per_rate():
    [invoice] = consolidate(japanese_rated(), {"jp": japan_tax_policy()})
    by_rate = {total.rate: (total.taxable_amount, total.tax_amount) for total in invoice.rate_totals}
    # 10 %: 3 x 105 = 315 -> 31.5 -> 32 yen; per line it would be 3 x round(10.5) = 33 yen.
    # 8 %: 2 x 1006 = 2012 -> 160.96 -> 161 yen; per line it would be 2 x round(80.48) = 160 yen.
    assert by_rate == {D("0.10"): (D(315), D(32)), D("0.08"): (D(2012), D(161))}
    assert [total.categories for total in invoice.rate_totals] == [("STANDARD",), ("REDUCED",)]
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D(2327), D(193), D(2520))


@pytest.mark.parametrize(("rounding", "standard_tax", "reduced_tax"), [
    (TaxRounding.HALF_UP, D(32), D(161)),
    (TaxRounding.DOWN, D(31), D(160)),
    (TaxRounding.TRUNCATE, D(31), D(160)),
])
def test_the_issuers_rounding_mode_applies_per_rate(rounding, standard_tax, reduced_tax):
    [invoice] = consolidate(japanese_rated(), {"jp": japan_tax_policy(rounding)})
    assert [total.tax_amount for total in invoice.rate_totals] == [standard_tax, reduced_tax]
    assert invoice.total == invoice.subtotal + standard_tax + reduced_tax


def test_down_and_truncate_differ_on_a_negative_tax_base():
    credits = [line.negated() for line in japanese_rated()[0].lines]  # 3 x -105 yen at 10 %: -31.5 yen
    taxes = {mode: rate_totals(credits, japan_tax_policy(mode), "JPY")[0].tax_amount for mode in TaxRounding}
    assert taxes == {TaxRounding.HALF_UP: D(-32), TaxRounding.DOWN: D(-32), TaxRounding.TRUNCATE: D(-31)}


def test_one_invoice_per_customer_currency_and_issuing_entity():
    fee = plan(FixedFee("care", "Care", D("10.00")))
    rated = [
        rate(contract(covered("p1", site="berlin", cost_centre="ops"), contract_id="c1"), fee),
        rate(contract(covered("p2", site="munich", cost_centre="ops"), covered("p3", site="berlin",
                                                                               cost_centre="it"),
                      contract_id="c2"), fee),
        rate(contract(covered("p4"), contract_id="c3", customer="globex"), fee),
        rate(contract(covered("p5"), contract_id="c4", issuing_entity="at"), fee),
    ]
    invoices = consolidate(rated, {"de": GERMAN_TAX, "at": TaxPolicy({"STANDARD": D("0.20")})})
    assert [(i.customer, i.issuing_entity, [c.contract_id for c in i.contracts]) for i in invoices] == [
        ("acme", "at", ["c4"]), ("acme", "de", ["c1", "c2"]), ("globex", "de", ["c3"])]
    acme = invoices[1]
    assert [(g.site, g.cost_centre, [line.asset for line in g.lines], g.subtotal) for g in acme.groups] == [
        ("berlin", "it", ["p3"], D("10.00")), ("berlin", "ops", ["p1"], D("10.00")),
        ("munich", "ops", ["p2"], D("10.00"))]
    # 30.00 at 19 % = 5.70
    assert (acme.subtotal, acme.tax_total, acme.total) == (D("30.00"), D("5.70"), D("35.70"))
    assert acme.contracts[0].purchase_order == "PO-7"


def test_lines_plus_tax_equal_the_total_exactly_in_euro():
    prices = plan(FixedFee("care", "Care", D("33.33")), FixedFee("tea", "Tea", D("11.11"), tax_category="REDUCED"))
    invoice = draft_invoice([rate(contract(covered("a"), covered("b"), covered("c")), prices)], GERMAN_TAX)
    # 19 % of 99.99 = 18.9981 -> 19.00; 7 % of 33.33 = 2.3331 -> 2.33
    assert [total.tax_amount for total in invoice.rate_totals] == [D("19.00"), D("2.33")]
    assert sum(line.amount for line in invoice.lines) + invoice.tax_total == invoice.total == D("154.65")


def test_the_annex_lists_each_asset_register_with_its_reads():
    mono = MeteredCharge("mono", "Mono pages", Register.MONO_PAGES, (Tier(None, D("0.01")),), allowance=D(100))
    rated = rate(contract(covered("p2"), covered("p1")), plan(mono),
                 usage=[usage("p2", 300, start_value=5000, end_kind=ReadKind.ESTIMATED), usage("p1", 50)])
    [row_p1, row_p2] = draft_invoice([rated], GERMAN_TAX).annex
    assert (row_p1.asset, row_p1.quantity, row_p1.allowance_used, row_p1.amount) == ("p1", D(50), D(50), D("0.00"))
    assert (row_p2.start_read.value, row_p2.start_read.kind, row_p2.end_read.value, row_p2.end_read.kind) == (
        D(5000), ReadKind.ACTUAL, D(5300), ReadKind.ESTIMATED)
    assert (row_p2.allowance_used, row_p2.rate[0].unit_price, row_p2.amount, row_p2.estimated) == (
        D(100), D("0.01"), D("2.00"), True)


def test_invoice_numbers_are_series_year_and_six_digit_sequence():
    assert format_invoice_number("INV", 2026, 123) == "INV-2026-000123"
    assert format_invoice_number("INV", 2026, 999_999) == "INV-2026-999999"
    for series, sequence in (("inv", 1), ("INV", 0), ("INV", 1_000_000), ("TOO-LONG-SERIES", 1)):
        with pytest.raises(InvalidArgument):
            format_invoice_number(series, 2026, sequence)


def test_finalization_numbers_the_invoice_and_freezes_it():
    draft = draft_invoice(japanese_rated(), japan_tax_policy())
    assert draft.state is InvoiceState.DRAFT and draft.number == ""
    final = finalize(draft, JAPAN, 123, FINALIZED_AT)
    assert (final.state, final.number, final.total) == (InvoiceState.FINALIZED, "INV-2026-000123", draft.total)
    with pytest.raises(FailedPrecondition):
        finalize(final, JAPAN, 124, FINALIZED_AT)
    with pytest.raises(FailedPrecondition):
        add_lines(final, final.lines[:1], japan_tax_policy())
    with pytest.raises(dataclasses.FrozenInstanceError):
        final.total = Decimal(0)
    unregistered = dataclasses.replace(JAPAN, tax_registration_number="")
    with pytest.raises(FailedPrecondition):
        finalize(draft, unregistered, 1, FINALIZED_AT)


def test_a_draft_can_still_take_lines_and_is_repriced_per_rate():
    draft = draft_invoice(japanese_rated(), japan_tax_policy())
    grown = add_lines(draft, [draft.lines[0]], japan_tax_policy())
    # 10 %: 4 x 105 = 420 -> 42 yen, exactly
    assert grown.rate_totals[0].tax_amount == D(42) and grown.total == draft.total + D(105) + D(10)


def test_correction_is_a_credit_note_then_a_new_invoice_never_an_edit():
    policy = japan_tax_policy()
    original = finalize(draft_invoice(japanese_rated(), policy), JAPAN, 1, FINALIZED_AT)
    with pytest.raises(FailedPrecondition):
        draft_invoice(japanese_rated(), policy, replaces=original)  # not credited yet
    with pytest.raises(FailedPrecondition):
        void(original, credit_note_for(original))  # a draft credit note voids nothing
    credit = finalize(credit_note_for(original), JAPAN, 1, FINALIZED_AT, series="CN")
    assert (credit.document_type, credit.number, credit.credited_invoice) == (
        DocumentType.CREDIT_NOTE, "CN-2026-000001", "INV-2026-000001")
    assert [line.amount for line in credit.lines] == [-line.amount for line in original.lines]
    assert [(t.taxable_amount, t.tax_amount) for t in credit.rate_totals] == [
        (-t.taxable_amount, -t.tax_amount) for t in original.rate_totals]
    assert original.total + credit.total == 0
    voided = void(original, credit)
    assert (voided.state, voided.voided_by) == (InvoiceState.VOID, "CN-2026-000001")
    with pytest.raises(FailedPrecondition):
        credit_note_for(voided)  # credited once only
    with pytest.raises(FailedPrecondition):
        credit_note_for(credit)  # a credit note is not credited

    corrected = finalize(draft_invoice(japanese_rated()[1:], policy, replaces=voided), JAPAN, 2, FINALIZED_AT)
    assert (corrected.number, corrected.replaces_invoice, corrected.total) == (
        "INV-2026-000002", "INV-2026-000001", D(2012 + 161))
    # ... and the chain continues: the correction is corrected the same way.
    second_credit = finalize(credit_note_for(corrected), JAPAN, 2, FINALIZED_AT, series="CN")
    second_void = void(corrected, second_credit)
    third = draft_invoice(japanese_rated(), policy, replaces=second_void)
    assert (second_credit.credited_invoice, third.replaces_invoice) == ("INV-2026-000002", "INV-2026-000002")


def test_a_tax_category_without_a_rate_is_a_failed_precondition():
    with pytest.raises(FailedPrecondition) as caught:
        draft_invoice(japanese_rated(), TaxPolicy({"STANDARD": D("0.10")}))
    assert caught.value.reason == "TAX_CATEGORY_UNKNOWN"


@settings(max_examples=100, deadline=None)
@given(amounts=st.lists(st.tuples(st.integers(-10**6, 10**7), st.sampled_from(["STANDARD", "REDUCED", "EXEMPT"])),
                        min_size=1, max_size=30),
       rounding=st.sampled_from(list(TaxRounding)))
def test_totals_are_exact_and_a_credit_note_cancels_its_invoice(amounts, rounding):
    template = japanese_rated()[0]
    lines = tuple(template.lines[0]._replace(amount=D(yen), tax_category=category)
                  for yen, category in amounts)
    policy = japan_tax_policy(rounding)
    invoice = finalize(draft_invoice([dataclasses.replace(template, lines=lines)], policy), JAPAN, 7, FINALIZED_AT)
    assert invoice.subtotal == sum(D(yen) for yen, _ in amounts)
    assert invoice.total == invoice.subtotal + sum(total.tax_amount for total in invoice.rate_totals)
    assert len(invoice.rate_totals) == len({category for _, category in amounts})  # one rounding per rate
    credit = credit_note_for(invoice)
    assert invoice.total + credit.total == 0 and invoice.tax_total + credit.tax_total == 0
