"""Invoices between the domain, their rows and their proto form.

A stored invoice is its row plus its lines in position order; the domain Invoice is rebuilt from
them whenever a rule (finalization, credit note, revenue, rendering) needs it, so the rules live
in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from fleetops.invoicing.v1 import billing_pb2 as bpb

from services.invoicing.domain.contracts import BillingPeriod
from services.invoicing.domain.invoices import (
    ContractReference,
    DocumentType,
    Invoice,
    InvoiceState,
    LineGroup,
    RateTotal,
)
from services.invoicing.domain.lines import InvoiceLine, LineKind, PriceBand, UsageTrace
from services.invoicing.domain.money import minor_unit
from services.invoicing.domain.plans import Register
from services.invoicing.domain.usage import MeterRead, ReadKind
from services.invoicing.plan_codec import REGISTER_TO_PROTO, plain
from services.invoicing.store import InvoiceLineRow, InvoiceRow
from services.runtime.proto_values import date_to_proto, money_to_proto
from services.runtime.resources import etag_for, to_timestamp

INVOICES = "invoices"
ZERO = Decimal(0)
_READ_KIND = {ReadKind.ACTUAL: bpb.READ_KIND_ACTUAL, ReadKind.ESTIMATED: bpb.READ_KIND_ESTIMATED}


def invoice_name(invoice_id: str) -> str:
    return f"{INVOICES}/{invoice_id}" if invoice_id else ""


def live_slot(customer: str, currency: str, issuing_entity: str, period_start: date) -> str:
    return f"{customer}|{currency}|{issuing_entity}|{period_start.isoformat()}"


def invoice_row_values(invoice: Invoice, invoice_id: str, billing_run_id: str) -> dict:
    return dict(
        id=invoice_id, billing_run_id=billing_run_id, document_type=invoice.document_type.value,
        state=invoice.state.value, number=invoice.number, customer=invoice.customer, currency=invoice.currency,
        issuing_entity_id=invoice.issuing_entity, period_start=invoice.period.start, period_end=invoice.period.end,
        subtotal=invoice.subtotal, tax_total=invoice.tax_total, total=invoice.total,
        rate_totals=json.dumps([[plain(t.rate), list(t.categories), plain(t.taxable_amount), plain(t.tax_amount)]
                                for t in invoice.rate_totals]),
        contracts=json.dumps([[c.contract_id, c.plan_id, c.plan_version, c.purchase_order]
                              for c in invoice.contracts]),
        live_slot=(live_slot(invoice.customer, invoice.currency, invoice.issuing_entity, invoice.period.start)
                   if invoice.document_type is DocumentType.INVOICE else None),
    )


# The columns of `line_row_values`' tuples, in order.
LINE_COLUMNS = (
    "invoice_id", "position", "contract_id", "charge_id", "kind", "description", "site", "cost_centre", "asset",
    "quantity", "unit_price", "amount", "tax_category", "service_start", "service_end", "recurring_months",
    "estimated", "work_order", "note",
    "register", "fleet_register", "window_start", "start_value", "start_kind", "start_time", "end_value", "end_kind",
    "end_time", "measured_quantity", "estimate_already_billed", "allowance", "allowance_used", "bands",
)
_NO_USAGE_TRACE = (None,) * 14


def line_row_values(invoice_id: str, lines: Iterable[InvoiceLine],
                    windows: dict[tuple[str, str, Register], tuple[str, datetime]]) -> list[tuple]:
    """Rows of LINE_COLUMNS (tuples: a billing run writes hundreds of thousands); `windows` gives the
    fleet register and usage window start behind each usage line."""
    rows = []
    for position, line in enumerate(lines):
        row = (invoice_id, position, line.contract_id, line.charge_id, line.kind.value, line.description, line.site,
               line.cost_centre, line.asset, line.quantity, line.unit_price, line.amount, line.tax_category,
               line.service_start, line.service_end, line.recurring_months, line.estimated, line.work_order,
               line.note)
        trace = line.usage
        if trace is None:
            rows.append(row + _NO_USAGE_TRACE)
            continue
        fleet_register, window_start = windows.get((line.contract_id, line.asset, trace.register), (None, None))
        start, end = trace.start_read, trace.end_read
        rows.append(row + (
            trace.register.value, fleet_register, window_start, start.value, start.kind.value, start.read_time,
            end.value, end.kind.value, end.read_time, trace.measured_quantity, trace.estimate_already_billed,
            trace.allowance, trace.allowance_used,
            json.dumps([[plain(b.quantity), plain(b.unit_price)] for b in trace.bands]),
        ))
    return rows


def _number(value: Decimal) -> Decimal:
    """A stored quantity or price without the storage scale's trailing zeros (never in exponent form)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def line_from_row(row: InvoiceLineRow, money: Decimal) -> InvoiceLine:
    """`money` is the currency's minor unit: stored amounts come back at the currency's scale."""
    trace = None
    if row.register is not None:
        trace = UsageTrace(
            register=Register(row.register),
            start_read=MeterRead(_number(row.start_value), ReadKind(row.start_kind), row.start_time),
            end_read=MeterRead(_number(row.end_value), ReadKind(row.end_kind), row.end_time),
            measured_quantity=_number(row.measured_quantity),
            estimate_already_billed=_number(row.estimate_already_billed),
            allowance=_number(row.allowance), allowance_used=_number(row.allowance_used),
            bands=tuple(PriceBand(Decimal(q), Decimal(p)) for q, p in json.loads(row.bands)),
        )
    return InvoiceLine(
        contract_id=row.contract_id, charge_id=row.charge_id, kind=LineKind(row.kind), description=row.description,
        site=row.site, cost_centre=row.cost_centre, quantity=_number(row.quantity),
        unit_price=None if row.unit_price is None else _number(row.unit_price),
        amount=row.amount.quantize(money), tax_category=row.tax_category, service_start=row.service_start,
        service_end=row.service_end, recurring_months=row.recurring_months, asset=row.asset,
        estimated=row.estimated, usage=trace, work_order=row.work_order, note=row.note,
    )


def invoice_from_rows(row: InvoiceRow, line_rows: Sequence[InvoiceLineRow]) -> Invoice:
    money = minor_unit(row.currency)
    lines = [line_from_row(line, money) for line in sorted(line_rows, key=lambda line: line.position)]
    grouped: dict[tuple[str, str], list[InvoiceLine]] = {}
    for line in lines:
        grouped.setdefault((line.site, line.cost_centre), []).append(line)
    groups = tuple(LineGroup(site, cost_centre, tuple(group), sum((line.amount for line in group), ZERO))
                   for (site, cost_centre), group in sorted(grouped.items()))
    return Invoice(
        document_type=DocumentType(row.document_type), state=InvoiceState(row.state), customer=row.customer,
        currency=row.currency, issuing_entity=row.issuing_entity_id,
        period=BillingPeriod(row.period_start, row.period_end),
        contracts=tuple(ContractReference(*values) for values in json.loads(row.contracts)),
        groups=groups,
        rate_totals=tuple(RateTotal(Decimal(rate), tuple(categories), Decimal(taxable), Decimal(tax))
                          for rate, categories, taxable, tax in json.loads(row.rate_totals)),
        subtotal=row.subtotal.quantize(money), tax_total=row.tax_total.quantize(money),
        total=row.total.quantize(money), number=row.number,
        finalized_at=row.finalize_time, credited_invoice=row.credited_invoice_id,
        replaces_invoice=row.replaces_invoice_id, voided_by=row.voided_by_id,
    )


def _line_to_proto(line: InvoiceLine, currency: str) -> bpb.InvoiceLine:
    return bpb.InvoiceLine(
        contract=f"contracts/{line.contract_id}", charge_id=line.charge_id, kind=line.kind.value,
        description=line.description, asset=line.asset, quantity=plain(line.quantity),
        unit_price=plain(line.unit_price) if line.unit_price is not None else "",
        amount=money_to_proto(line.amount, currency), tax_category=line.tax_category,
        service_start=date_to_proto(line.service_start), service_end=date_to_proto(line.service_end),
        estimated=line.estimated, work_order=line.work_order, note=line.note,
    )


def _read(read: MeterRead) -> bpb.MeterRead:
    return bpb.MeterRead(value=plain(read.value), kind=_READ_KIND[read.kind], read_time=to_timestamp(read.read_time))


def invoice_to_proto(invoice: Invoice, row: InvoiceRow | None = None, billing_run_id: str = "") -> bpb.Invoice:
    """The proto of an invoice; without `row` an unnamed draft (a preview)."""
    currency = invoice.currency
    message = bpb.Invoice(
        document_type=bpb.DocumentType.Value(f"DOCUMENT_TYPE_{invoice.document_type.value}"),
        state=bpb.InvoiceState.Value(f"INVOICE_STATE_{invoice.state.value}"), number=invoice.number,
        customer=invoice.customer, currency_code=currency,
        issuing_entity=f"issuingEntities/{invoice.issuing_entity}",
        period_start=date_to_proto(invoice.period.start), period_end=date_to_proto(invoice.period.end),
        billing_run=f"billingRuns/{billing_run_id}" if billing_run_id else "",
        contracts=[bpb.ContractReference(contract=f"contracts/{c.contract_id}",
                                         plan_version=f"plans/{c.plan_id}/versions/{c.plan_version}",
                                         purchase_order=c.purchase_order) for c in invoice.contracts],
        groups=[bpb.LineGroup(site=g.site, cost_centre=g.cost_centre,
                              lines=[_line_to_proto(line, currency) for line in g.lines],
                              subtotal=money_to_proto(g.subtotal, currency)) for g in invoice.groups],
        annex=[bpb.AnnexRow(asset=a.asset, register=REGISTER_TO_PROTO[a.register], start_read=_read(a.start_read),
                            end_read=_read(a.end_read), quantity=plain(a.quantity),
                            allowance_used=plain(a.allowance_used),
                            rate=[bpb.PriceBand(quantity=plain(b.quantity), unit_price=plain(b.unit_price))
                                  for b in a.rate],
                            amount=money_to_proto(a.amount, currency), contract=f"contracts/{a.contract_id}",
                            charge_id=a.charge_id) for a in invoice.annex],
        rate_totals=[bpb.RateTotal(rate=plain(t.rate), tax_categories=list(t.categories),
                                   taxable_amount=money_to_proto(t.taxable_amount, currency),
                                   tax_amount=money_to_proto(t.tax_amount, currency)) for t in invoice.rate_totals],
        subtotal=money_to_proto(invoice.subtotal, currency), tax_total=money_to_proto(invoice.tax_total, currency),
        total=money_to_proto(invoice.total, currency),
        credited_invoice=invoice_name(invoice.credited_invoice), replaces_invoice=invoice_name(invoice.replaces_invoice),
        voided_by=invoice_name(invoice.voided_by),
    )
    if row is not None:
        message.name = invoice_name(row.id)
        message.billing_run = f"billingRuns/{row.billing_run_id}" if row.billing_run_id else ""
        message.reason = row.reason
        message.create_time.CopyFrom(to_timestamp(row.create_time))
        message.update_time.CopyFrom(to_timestamp(row.update_time))
        message.etag = etag_for(row.version)
        if row.finalize_time is not None:
            message.finalize_time.CopyFrom(to_timestamp(row.finalize_time))
    return message
