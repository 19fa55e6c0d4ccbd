"""Invoices: consolidation, tax, numbering, finalization and credit notes.

Tax and rounding policy
-----------------------
- Every line amount is rounded half up to the currency's minor unit once, when it is rated
  (JPY has no decimals, USD and EUR two, KWD three), and never again.
- Every line carries a tax category; the issuing entity's tax policy maps categories to rates
  (Japan: STANDARD 10 %, REDUCED 8 %; other jurisdictions configure their own).
- Tax is computed once per rate per invoice: a rate's taxable amount is the sum of the amounts of
  all lines whose category has that rate, and its tax is taxable amount x rate, rounded once to
  the minor unit with the issuer's mode: HALF_UP (half away from zero), DOWN (toward negative
  infinity) or TRUNCATE (toward zero). Lines carry no tax of their own, so the invoice's tax can
  differ from a sum of per-line rounded taxes; one rounding per rate per invoice is what Japan's
  qualified-invoice rules (適格請求書) require, and the same policy applies everywhere.
- subtotal = sum of line amounts; total = subtotal + the per-rate taxes, exactly.
- A credit note copies the original's lines, per-rate taxable amounts and taxes with the sign
  flipped and is never re-rounded, so an invoice and its credit note cancel to zero exactly.

Life cycle: DRAFT -> FINALIZED (numbered `SERIES-YYYY-NNNNNN`, then immutable) -> VOID, and only
by a finalized credit note for the whole invoice; the correction is a new invoice that names the
voided one in `replaces_invoice`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.domain.issuers import IssuerDetails, TaxRounding
from services.invoicing.domain.lines import InvoiceLine, PriceBand, RatedContract
from services.invoicing.domain.money import round_tax
from services.invoicing.domain.plans import Register
from services.invoicing.domain.usage import MeterRead, is_utc
from services.runtime.errors import FailedPrecondition, InvalidArgument

ZERO = Decimal(0)
MAX_SEQUENCE = 999_999
_SERIES = re.compile(r"^[A-Z0-9]{1,10}$")
_JP_REGISTRATION = re.compile(r"^T\d{13}$")


class DocumentType(enum.Enum):
    INVOICE = "INVOICE"
    CREDIT_NOTE = "CREDIT_NOTE"


class InvoiceState(enum.Enum):
    DRAFT = "DRAFT"
    FINALIZED = "FINALIZED"
    VOID = "VOID"


@dataclass(frozen=True, slots=True)
class TaxPolicy:
    rates: Mapping[str, Decimal]  # tax category -> rate; 0.10 is 10 %
    rounding: TaxRounding = TaxRounding.HALF_UP

    def rate_of(self, category: str) -> Decimal:
        try:
            return self.rates[category]
        except KeyError:
            raise FailedPrecondition(f"no tax rate is configured for tax category {category!r}",
                                     reason="TAX_CATEGORY_UNKNOWN", metadata={"tax_category": category}) from None


def japan_tax_policy(rounding: TaxRounding = TaxRounding.HALF_UP) -> TaxPolicy:
    return TaxPolicy(MappingProxyType({"STANDARD": Decimal("0.10"), "REDUCED": Decimal("0.08"),
                                       "EXEMPT": ZERO}), rounding)


@dataclass(frozen=True, slots=True)
class RateTotal:
    rate: Decimal
    categories: tuple[str, ...]
    taxable_amount: Decimal
    tax_amount: Decimal


@dataclass(frozen=True, slots=True)
class LineGroup:
    site: str
    cost_centre: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal


@dataclass(frozen=True, slots=True)
class ContractReference:
    contract_id: str
    plan_id: str
    plan_version: int
    purchase_order: str


@dataclass(frozen=True, slots=True)
class AnnexRow:
    asset: str
    register: Register
    start_read: MeterRead
    end_read: MeterRead
    quantity: Decimal
    allowance_used: Decimal
    rate: tuple[PriceBand, ...]
    amount: Decimal
    estimated: bool
    contract_id: str
    charge_id: str


@dataclass(frozen=True)
class Invoice:
    document_type: DocumentType
    state: InvoiceState
    customer: str
    currency: str
    issuing_entity: str
    period: BillingPeriod
    contracts: tuple[ContractReference, ...]
    groups: tuple[LineGroup, ...]
    rate_totals: tuple[RateTotal, ...]
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    number: str = ""
    finalized_at: datetime | None = None
    credited_invoice: str = ""  # a credit note: the number of the invoice it cancels
    replaces_invoice: str = ""  # a correction: the number of the voided invoice it replaces
    voided_by: str = ""  # a void invoice: the number of its credit note
    lines: tuple[InvoiceLine, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(line for group in self.groups for line in group.lines))

    @property
    def annex(self) -> tuple[AnnexRow, ...]:
        """One row per asset and register billed on reads, ordered by asset."""
        rows = [
            AnnexRow(line.asset, line.usage.register, line.usage.start_read, line.usage.end_read, line.quantity,
                     line.usage.allowance_used, line.usage.bands, line.amount, line.estimated, line.contract_id,
                     line.charge_id)
            for line in self.lines if line.usage is not None
        ]
        return tuple(sorted(rows, key=lambda row: (row.asset, row.register.value, row.contract_id)))


def consolidate(rated: Iterable[RatedContract], policies: Mapping[str, TaxPolicy]) -> list[Invoice]:
    """Draft invoices, one per customer, currency and issuing entity; `policies` is keyed by issuing entity."""
    by_key: dict[tuple[str, str, str], list[RatedContract]] = {}
    for contract in rated:
        by_key.setdefault((contract.customer, contract.currency, contract.issuing_entity), []).append(contract)
    invoices = []
    for key in sorted(by_key):
        policy = policies.get(key[2])
        if policy is None:
            raise FailedPrecondition(f"issuing entity {key[2]} has no tax policy",
                                     metadata={"issuing_entity": key[2]})
        invoices.append(draft_invoice(by_key[key], policy))
    return invoices


def draft_invoice(rated: Sequence[RatedContract], policy: TaxPolicy, replaces: Invoice | None = None) -> Invoice:
    if not rated:
        raise InvalidArgument.field("rated", "an invoice needs at least one rated contract")
    first = rated[0]
    key = (first.customer, first.currency, first.issuing_entity, first.period)
    for index, contract in enumerate(rated):
        if (contract.customer, contract.currency, contract.issuing_entity, contract.period) != key:
            raise InvalidArgument.field(f"rated[{index}]", "one invoice covers one customer, currency, "
                                                           "issuing entity and period")
    ordered = sorted(rated, key=lambda contract: contract.contract_id)
    if replaces is not None:
        _check_replaceable(replaces, first)
    return _priced(Invoice(
        document_type=DocumentType.INVOICE, state=InvoiceState.DRAFT, customer=first.customer,
        currency=first.currency, issuing_entity=first.issuing_entity, period=first.period,
        contracts=tuple(ContractReference(c.contract_id, c.plan_id, c.plan_version, c.purchase_order)
                        for c in ordered),
        groups=(), rate_totals=(), subtotal=ZERO, tax_total=ZERO, total=ZERO,
        replaces_invoice=replaces.number if replaces is not None else "",
    ), [line for contract in ordered for line in contract.lines], policy)


def add_lines(invoice: Invoice, lines: Sequence[InvoiceLine], policy: TaxPolicy) -> Invoice:
    """A draft with more lines (a manual adjustment); a finalized invoice is corrected by credit note instead."""
    _require(invoice, InvoiceState.DRAFT, "only a draft can change; correct a finalized invoice with a credit note")
    return _priced(invoice, [*invoice.lines, *lines], policy)


def rate_totals(lines: Iterable[InvoiceLine], policy: TaxPolicy, currency: str) -> tuple[RateTotal, ...]:
    """Taxable amount and tax per rate, the tax rounded once per rate (see the module's policy)."""
    by_category: dict[str, Decimal] = {}
    for line in lines:
        by_category[line.tax_category] = by_category.get(line.tax_category, ZERO) + line.amount
    taxable: dict[Decimal, Decimal] = {}
    categories: dict[Decimal, set[str]] = {}
    for category, amount in by_category.items():  # exact sums, so adding per category first changes nothing
        rate = policy.rate_of(category)
        taxable[rate] = taxable.get(rate, ZERO) + amount
        categories.setdefault(rate, set()).add(category)
    return tuple(
        RateTotal(rate, tuple(sorted(categories[rate])), taxable[rate],
                  round_tax(taxable[rate] * rate, currency, policy.rounding))
        for rate in sorted(taxable, reverse=True)
    )


def _priced(invoice: Invoice, lines: Sequence[InvoiceLine], policy: TaxPolicy) -> Invoice:
    grouped: dict[tuple[str, str], list[InvoiceLine]] = {}
    for line in lines:
        grouped.setdefault((line.site, line.cost_centre), []).append(line)
    groups = tuple(LineGroup(site, cost_centre, tuple(group), sum((line.amount for line in group), ZERO))
                   for (site, cost_centre), group in sorted(grouped.items()))
    totals = rate_totals(lines, policy, invoice.currency)
    subtotal = sum((group.subtotal for group in groups), ZERO)
    tax_total = sum((total.tax_amount for total in totals), ZERO)
    return replace(invoice, groups=groups, rate_totals=totals, subtotal=subtotal, tax_total=tax_total,
                   total=subtotal + tax_total)


def format_invoice_number(series: str, year: int, sequence: int) -> str:
    """`INV-2026-000123`: the issuer's series, the year of finalization and the gapless sequence number."""
    if not _SERIES.match(series):
        raise InvalidArgument.field("series", "must be 1 to 10 uppercase letters or digits")
    if not 1 <= year <= 9999:
        raise InvalidArgument.field("year", "must have four digits")
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise InvalidArgument.field("sequence", f"must be between 1 and {MAX_SEQUENCE}")
    return f"{series}-{year:04d}-{sequence:06d}"


def finalize(invoice: Invoice, issuer: IssuerDetails, sequence: int, finalized_at: datetime,
             series: str | None = None) -> Invoice:
    """The numbered, immutable invoice. `sequence` is the next number of the issuer's series, assigned
    by the caller in the same transaction so numbers stay gapless; credit notes may use their own series."""
    _require(invoice, InvoiceState.DRAFT, "the invoice is already finalized")
    if not is_utc(finalized_at):
        raise InvalidArgument.field("finalized_at", "must be a UTC time")
    if issuer.country_code == "JP" and not _JP_REGISTRATION.match(issuer.tax_registration_number):
        raise FailedPrecondition("a Japanese qualified invoice needs the issuer's registration number "
                                 "(T and 13 digits)", reason="ISSUER_NOT_REGISTERED")
    number = format_invoice_number(series or issuer.invoice_series, finalized_at.year, sequence)
    return replace(invoice, state=InvoiceState.FINALIZED, number=number, finalized_at=finalized_at)


def credit_note_for(original: Invoice) -> Invoice:
    """A draft credit note cancelling the whole of a finalized invoice: every line, taxable amount and tax negated."""
    if original.document_type is not DocumentType.INVOICE:
        raise FailedPrecondition("only an invoice can be credited", reason="NOT_AN_INVOICE")
    _require(original, InvoiceState.FINALIZED, "only a finalized invoice can be credited")
    groups = tuple(LineGroup(group.site, group.cost_centre, tuple(line.negated() for line in group.lines),
                             -group.subtotal) for group in original.groups)
    totals = tuple(RateTotal(total.rate, total.categories, -total.taxable_amount, -total.tax_amount)
                   for total in original.rate_totals)
    return replace(original, document_type=DocumentType.CREDIT_NOTE, state=InvoiceState.DRAFT, groups=groups,
                   rate_totals=totals, subtotal=-original.subtotal, tax_total=-original.tax_total,
                   total=-original.total, number="", finalized_at=None, credited_invoice=original.number,
                   replaces_invoice="")


def void(original: Invoice, credit_note: Invoice) -> Invoice:
    """The original marked VOID once its finalized credit note exists."""
    _require(original, InvoiceState.FINALIZED, "only a finalized invoice can be voided")
    if (credit_note.document_type is not DocumentType.CREDIT_NOTE or credit_note.state is not InvoiceState.FINALIZED
            or credit_note.credited_invoice != original.number or credit_note.total != -original.total):
        raise FailedPrecondition(f"{original.number} is voided only by a finalized credit note for its whole total",
                                 reason="CREDIT_NOTE_REQUIRED")
    return replace(original, state=InvoiceState.VOID, voided_by=credit_note.number)


def _check_replaceable(replaced: Invoice, rated: RatedContract) -> None:
    if replaced.state is not InvoiceState.VOID:
        raise FailedPrecondition(f"{replaced.number or 'the draft'} must be credited and void before it is replaced",
                                 reason="INVOICE_NOT_VOID")
    if (replaced.customer, replaced.currency, replaced.issuing_entity) != (rated.customer, rated.currency,
                                                                          rated.issuing_entity):
        raise InvalidArgument.field("replaces", "a correction keeps the customer, currency and issuing entity")


def _require(invoice: Invoice, state: InvoiceState, message: str) -> None:
    if invoice.state is not state:
        raise FailedPrecondition(f"{invoice.number or 'the invoice'} is {invoice.state.value}: {message}",
                                 reason="INVOICE_STATE", metadata={"state": invoice.state.value})
