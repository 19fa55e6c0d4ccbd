"""Revenue KPIs from stored invoices: the recurring lines of finalized invoices, read set-based."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.domain.invoices import DocumentType, Invoice, InvoiceState, LineGroup
from services.invoicing.domain.lines import InvoiceLine, LineKind
from services.invoicing.domain.revenue import mrr_by_customer
from services.invoicing.store import InvoiceLineRow, InvoiceRow

ZERO = Decimal(0)


def monthly_recurring_revenue(session: Session, currency: str, period: BillingPeriod) -> dict[str, Decimal]:
    """MRR per customer (see domain/revenue.py for what counts)."""
    rows = session.execute(
        select(InvoiceRow.id, InvoiceRow.customer, InvoiceRow.period_start, InvoiceRow.period_end,
               InvoiceLineRow.amount, InvoiceLineRow.recurring_months, InvoiceLineRow.service_start,
               InvoiceLineRow.service_end)
        .join(InvoiceLineRow, InvoiceLineRow.invoice_id == InvoiceRow.id)
        .where(InvoiceRow.currency == currency, InvoiceRow.state == InvoiceState.FINALIZED.value,
               InvoiceRow.document_type == DocumentType.INVOICE.value, InvoiceLineRow.recurring_months > 0,
               InvoiceLineRow.service_start < period.end, InvoiceLineRow.service_end > period.start))
    lines: dict[str, list] = {}
    heads: dict[str, tuple] = {}
    for row in rows:
        heads[row.id] = (row.customer, row.period_start, row.period_end)
        lines.setdefault(row.id, []).append(InvoiceLine(
            contract_id="", charge_id="", kind=LineKind.FIXED_FEE, description="", site="", cost_centre="",
            quantity=ZERO, unit_price=None, amount=row.amount, tax_category="", service_start=row.service_start,
            service_end=row.service_end, recurring_months=row.recurring_months))
    invoices = [Invoice(document_type=DocumentType.INVOICE, state=InvoiceState.FINALIZED, customer=customer,
                        currency=currency, issuing_entity="", period=BillingPeriod(start, end), contracts=(),
                        groups=(LineGroup("", "", tuple(lines[invoice_id]), ZERO),), rate_totals=(),
                        subtotal=ZERO, tax_total=ZERO, total=ZERO)
                for invoice_id, (customer, start, end) in heads.items()]
    return mrr_by_customer(invoices, period, currency)
