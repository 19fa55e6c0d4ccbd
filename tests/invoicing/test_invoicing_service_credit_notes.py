"""Corrections are credit notes referencing the original plus a new invoice, never edits; outputs
(PDF, UBL, CSV) carry the same totals; revenue KPIs follow finalized invoices only."""

from __future__ import annotations

import csv
import io
import urllib.request
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import grpc
import pytest
from fleetops.audit.v1 import audit_pb2
from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from prometheus_client.parser import text_string_to_metric_families
from pypdf import PdfReader

from tests.invoicing.invoicing_service_builders import fee, money, unique

UBL = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
       "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}


def _finalized_invoice(billing, period: date = date(2026, 3, 1), start: date = date(2026, 1, 1)):
    """One customer, two assets at 10,000 and 1,001 each, and a quarterly 9,000 service fee billed in
    advance (on the first invoice and the one before each next cycle; a third counts as monthly)."""
    issuer = billing.issuer()
    plan = billing.plan(fee("base", "10000"), fee("service", "9000", frequency=2, timing=2, basis=2),
                        fee("toner", "1001"))
    plan_name = plan.name
    customer = f"customers/{unique('cust')}"
    billing.contract(customer, plan, issuer, ["assets/p-1", "assets/p-2"], start=start)
    run = billing.run(period, customer)
    executed = billing.execute(run)
    return billing.finalize(executed.invoices[0]), run, customer, plan_name


def test_credit_note_voids_the_original_and_a_new_run_issues_the_replacement(billing):
    original, run, customer, _ = _finalized_invoice(billing)
    # base 2 x 10,000 + service 9,000 (first cycle in advance) + toner 2 x 1,001 = 31,002; tax 10 %: 3,100.2 -> 3,100
    assert money(original.subtotal) == 31002 and money(original.tax_total) == 3100 and money(original.total) == 34102

    note = billing.stub.CreateCreditNote(pb.CreateCreditNoteRequest(invoice=original.name, reason="wrong site"))
    assert note.document_type == bpb.DOCUMENT_TYPE_CREDIT_NOTE and note.state == bpb.INVOICE_STATE_DRAFT
    assert note.credited_invoice == original.name and money(note.total) == -34102
    assert billing.invoice(original.name).state == bpb.INVOICE_STATE_FINALIZED  # void only once the note is final

    final_note = billing.finalize(note.name)
    voided = billing.invoice(original.name)
    assert final_note.number.startswith("CNINV-") and voided.state == bpb.INVOICE_STATE_VOID
    assert voided.voided_by == note.name and money(voided.total) == 34102  # the original never changes

    with pytest.raises(grpc.RpcError) as caught:
        billing.stub.CreateCreditNote(pb.CreateCreditNoteRequest(invoice=original.name, reason="again"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    replacement = billing.execute(billing.run(date(2026, 3, 1), customer))
    assert len(replacement.invoices) == 1
    new = billing.invoice(replacement.invoices[0])
    assert new.replaces_invoice == original.name and new.state == bpb.INVOICE_STATE_DRAFT
    actions = [r.action for r in billing.stub.ListAuditRecords(
        audit_pb2.ListAuditRecordsRequest(resource=original.name)).audit_records]
    assert actions == ["ExecuteBillingRun", "FinalizeInvoice", "CreateCreditNote", "VoidInvoice"]


def test_a_credit_note_needs_a_finalized_invoice(billing):
    issuer = billing.issuer()
    customer = f"customers/{unique('cust')}"
    billing.contract(customer, billing.plan(fee("base", "500")), issuer, ["assets/x"])
    draft = billing.execute(billing.run(date(2026, 3, 1), customer)).invoices[0]
    with pytest.raises(grpc.RpcError) as caught:
        billing.stub.CreateCreditNote(pb.CreateCreditNoteRequest(invoice=draft, reason="typo"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def _render(billing, name: str, fmt: int) -> bytes:
    return billing.stub.RenderInvoice(pb.RenderInvoiceRequest(name=name, format=fmt)).content


def test_pdf_parses_and_shows_the_number_and_totals(billing):
    invoice, *_ = _finalized_invoice(billing)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(
        _render(billing, invoice.name, pb.RENDER_FORMAT_PDF))).pages)
    assert invoice.number in text
    assert "Total: 34,102 JPY" in text and "Tax: 3,100 JPY" in text and "Subtotal: 31,002 JPY" in text


def test_ubl_is_well_formed_peppol_shaped_and_adds_up(billing):
    invoice, *_ = _finalized_invoice(billing)
    root = ET.fromstring(_render(billing, invoice.name, pb.RENDER_FORMAT_UBL))
    assert root.tag == "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
    for path in ("cbc:CustomizationID", "cbc:ProfileID", "cbc:ID", "cbc:IssueDate", "cbc:InvoiceTypeCode",
                 "cbc:DocumentCurrencyCode", "cac:AccountingSupplierParty", "cac:AccountingCustomerParty",
                 "cac:TaxTotal/cac:TaxSubtotal", "cac:LegalMonetaryTotal", "cac:InvoiceLine"):
        assert root.find(path, UBL) is not None, path
    assert root.findtext("cbc:ID", namespaces=UBL) == invoice.number
    assert root.findtext("cbc:CustomizationID", namespaces=UBL).endswith("poacc:billing:3.0")

    def amount(element, path):
        return Decimal(element.findtext(path, namespaces=UBL))

    lines = root.findall("cac:InvoiceLine", UBL)
    total = root.find("cac:LegalMonetaryTotal", UBL)
    tax = root.find("cac:TaxTotal", UBL)
    assert sum(amount(line, "cbc:LineExtensionAmount") for line in lines) == amount(total, "cbc:LineExtensionAmount")
    assert sum(amount(s, "cbc:TaxAmount") for s in tax.findall("cac:TaxSubtotal", UBL)) == amount(tax, "cbc:TaxAmount")
    assert amount(total, "cbc:TaxExclusiveAmount") + amount(tax, "cbc:TaxAmount") == amount(
        total, "cbc:TaxInclusiveAmount") == amount(total, "cbc:PayableAmount") == Decimal(34102)
    for line in lines:
        assert amount(line, "cbc:InvoicedQuantity") * amount(line, "cac:Price/cbc:PriceAmount") == amount(
            line, "cbc:LineExtensionAmount")


def test_csv_has_one_row_per_line_adding_up_to_the_subtotal(billing):
    invoice, *_ = _finalized_invoice(billing)
    rows = list(csv.DictReader(io.StringIO(_render(billing, invoice.name, pb.RENDER_FORMAT_CSV).decode())))
    assert len(rows) == 5 and {row["number"] for row in rows} == {invoice.number}
    assert sum(Decimal(row["amount"]) for row in rows) == Decimal(31002)


def test_revenue_metrics_count_recurring_finalized_revenue_and_reach_prometheus(billing, billing_service):
    invoice, _run, customer, _ = _finalized_invoice(billing, period=date(2027, 2, 1), start=date(2027, 2, 1))
    metrics = billing.stub.GetRevenueMetrics(pb.GetRevenueMetricsRequest(
        currency_code="JPY", period_start=invoice.period_start))
    mine = {c.customer: c for c in metrics.customers}[customer]
    # 2 x 10,000 + 2 x 1,001 monthly, plus the quarterly 9,000 fee as 3,000 a month = 25,002
    assert money(mine.mrr) == 25002 and mine.movement == "NEW"
    body = urllib.request.urlopen(billing_service.metrics_url, timeout=5).read().decode()
    assert 'fleetops_invoicing_mrr{currency="JPY"}' in body
    assert 'fleetops_invoicing_invoices_finalized_total{document_type="invoice"}' in body
    assert 'fleetops_invoicing_billing_runs_total{result="succeeded"}' in body
    for phase in ("usage", "downtime", "work", "rating", "write"):
        assert f'fleetops_invoicing_billing_run_phase_seconds_count{{phase="{phase}"}}' in body


def _finalized_count(service, document_type: str) -> float:
    body = urllib.request.urlopen(service.metrics_url, timeout=5).read().decode()
    return next((sample.value for family in text_string_to_metric_families(body) for sample in family.samples
                 if sample.name == "fleetops_invoicing_invoices_finalized_total"
                 and sample.labels == {"document_type": document_type}), 0.0)


def test_replayed_finalization_is_counted_once_on_metrics(billing, billing_service):
    issuer = billing.issuer()
    plan = billing.plan(fee("base", "10000"))
    customer = f"customers/{unique('cust')}"
    billing.contract(customer, plan, issuer, ["assets/p-1"])
    draft = billing.execute(billing.run(date(2026, 3, 1), customer)).invoices[0]
    before = _finalized_count(billing_service, "invoice")
    request_id = unique("finalize")
    first = billing.finalize(draft, request_id)
    assert billing.finalize(draft, request_id) == first  # the replay answers as the first call did
    assert billing.finalize(draft, request_id) == first
    assert _finalized_count(billing_service, "invoice") == before + 1
