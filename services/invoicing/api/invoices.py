"""Invoices: reading, finalization with gapless numbers, credit notes, and rendering."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from fleetops.invoicing.v1 import billing_pb2 as bpb
from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from services.invoicing.billing_store import bulk_insert, next_number
from services.invoicing.domain.invoices import DocumentType, Invoice, InvoiceState, credit_note_for, finalize, void
from services.invoicing.domain.issuers import IssuerDetails
from services.invoicing.invoice_codec import (
    LINE_COLUMNS,
    invoice_from_rows,
    invoice_row_values,
    invoice_to_proto,
    line_row_values,
)
from services.invoicing.renderers import Document
from services.invoicing.renderers.csv_lines import render_csv
from services.invoicing.renderers.pdf import render_pdf
from services.invoicing.renderers.ubl import render_ubl
from services.invoicing.store import InvoiceLineRow, InvoiceRow, IssuingEntityRow
from services.runtime.audit import note_change
from services.runtime.db import utc_now
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.repository import NamedRows
from services.runtime.resources import NamePattern, check_etag, parse_name
from services.runtime.scoping import CustomerOwned

INVOICES = NamePattern("invoices/{invoice}")
INVOICE_SCOPE = CustomerOwned("customer", as_name=True)
_RENDERERS = {
    pb.RENDER_FORMAT_PDF: (render_pdf, "application/pdf", "pdf"),
    pb.RENDER_FORMAT_UBL: (render_ubl, "application/xml", "xml"),
    pb.RENDER_FORMAT_CSV: (render_csv, "text/csv", "csv"),
}


def credit_note_series(invoice_series: str) -> str:
    """Credit notes are numbered in their own gapless series beside the invoices: INV -> CNINV."""
    return ("CN" + invoice_series)[:10]


def _lines(session: Session, invoice_ids: Sequence[str]) -> dict[str, list[InvoiceLineRow]]:
    found: dict[str, list[InvoiceLineRow]] = {invoice_id: [] for invoice_id in invoice_ids}
    for start in range(0, len(invoice_ids), 500):
        for line in session.scalars(select(InvoiceLineRow).where(
                InvoiceLineRow.invoice_id.in_(invoice_ids[start:start + 500])).order_by(InvoiceLineRow.position)):
            found[line.invoice_id].append(line)
    return found


def _load(session: Session, invoice_id: str, *, for_update: bool = False) -> tuple[InvoiceRow, Invoice]:
    row = NamedRows(session, InvoiceRow, INVOICES, INVOICE_SCOPE).get(invoice_id, for_update=for_update)
    return row, invoice_from_rows(row, _lines(session, [row.id])[row.id])


def _issuer_details(issuer: IssuingEntityRow) -> IssuerDetails:
    return IssuerDetails(issuer.legal_name, issuer.tax_registration_number, issuer.country_code,
                         issuer.invoice_series, issuer.tax_rounding_mode)


class InvoiceMethods:
    def GetInvoice(self, request: pb.GetInvoiceRequest, context) -> bpb.Invoice:
        invoice_id = INVOICES.key(request.name)
        with self._db.unit_of_work() as session:
            row, invoice = _load(session, invoice_id)
            return invoice_to_proto(invoice, row)

    def ListInvoices(self, request: pb.ListInvoicesRequest, context) -> pb.ListInvoicesResponse:
        filters = dict(
            customer=request.customer,
            state=bpb.InvoiceState.Name(request.state)[len("INVOICE_STATE_"):] if request.state else "",
            billing_run_id=(parse_name(request.billing_run, "billingRuns", "billing_run")
                            if request.billing_run else ""),
            document_type=(bpb.DocumentType.Name(request.document_type)[len("DOCUMENT_TYPE_"):]
                           if request.document_type else ""),
        )
        page = self._tokens.parse(request.page_size, request.page_token, filters)
        with self._db.unit_of_work() as session:
            rows = NamedRows(session, InvoiceRow, INVOICES, INVOICE_SCOPE).page(page, **filters)
            rows, token = self._tokens.finish(rows, page, lambda r: (r.id,), filters)
            lines = _lines(session, [row.id for row in rows])
            return pb.ListInvoicesResponse(
                invoices=[invoice_to_proto(invoice_from_rows(row, lines[row.id]), row) for row in rows],
                next_page_token=token)

    def FinalizeInvoice(self, request: pb.FinalizeInvoiceRequest, context) -> bpb.Invoice:
        invoice_id = INVOICES.key(request.name)

        def finalize_invoice(session: Session) -> bpb.Invoice:
            row, draft = _load(session, invoice_id, for_update=True)
            check_etag(request.name, request.etag, row.version)
            if draft.state is not InvoiceState.DRAFT:
                raise FailedPrecondition(f"{request.name} is {draft.state.value}: only a draft can be finalized",
                                         reason="INVOICE_STATE", metadata={"state": draft.state.value})
            issuer = session.get(IssuingEntityRow, row.issuing_entity_id)
            credit = draft.document_type is DocumentType.CREDIT_NOTE
            series = credit_note_series(issuer.invoice_series) if credit else issuer.invoice_series
            now = utc_now()
            # The number is taken in this transaction: a failure below rolls it back, so no gap.
            final = finalize(draft, _issuer_details(issuer), next_number(session, issuer.id, series, now.year), now,
                             series)
            row.state, row.number, row.finalize_time = final.state.value, final.number, now
            row.touch()
            note_change(session, request.name, "FinalizeInvoice", f"number {final.number}")
            if credit:
                self._void_original(session, row, final)
            session.flush()
            answer = invoice_to_proto(final, row)
            # Counted once the number is committed: not for a replayed request_id, not after a rollback.
            event.listen(session, "after_commit", lambda _session: self._count_finalized(answer), once=True)
            return answer

        return self._standard.run("FinalizeInvoice", request, bpb.Invoice, finalize_invoice)

    def _count_finalized(self, answer: bpb.Invoice) -> None:
        self._metrics.invoices_finalized.labels(bpb.DocumentType.Name(answer.document_type)
                                                [len("DOCUMENT_TYPE_"):].lower()).inc()
        total = answer.total.units + answer.total.nanos / 1e9
        if total > 0:  # Prometheus counters only go up; credit notes are negative totals
            self._metrics.amount_finalized.labels(answer.total.currency_code).inc(total)

    @staticmethod
    def _void_original(session: Session, credit_row: InvoiceRow, credit_note: Invoice) -> None:
        original_row, original = _load(session, credit_row.credited_invoice_id, for_update=True)
        void(original, replace(credit_note, credited_invoice=original.number))
        original_row.state, original_row.voided_by_id, original_row.live_slot = (
            InvoiceState.VOID.value, credit_row.id, None)
        original_row.touch()
        note_change(session, INVOICES.name_of(original_row.id), "VoidInvoice", f"credited by {credit_note.number}")

    def CreateCreditNote(self, request: pb.CreateCreditNoteRequest, context) -> bpb.Invoice:
        original_id = INVOICES.key(request.invoice, "invoice")
        if not request.reason.strip():
            raise InvalidArgument.field("reason", "say why the invoice is cancelled")

        def create(session: Session) -> bpb.Invoice:
            original_row, original = _load(session, original_id, for_update=True)
            existing = session.scalars(select(InvoiceRow.id).where(InvoiceRow.credited_invoice_id == original_id)).first()
            if existing:
                raise FailedPrecondition(f"{request.invoice} already has credit note invoices/{existing}",
                                         reason="ALREADY_CREDITED", metadata={"credit_note": f"invoices/{existing}"})
            note = credit_note_for(original)
            note_id = f"cn-{uuid.uuid4().hex[:20]}"
            values = invoice_row_values(note, note_id, original_row.billing_run_id)
            values.update(credited_invoice_id=original_id, reason=request.reason)
            session.execute(insert(InvoiceRow), [values])
            bulk_insert(session, InvoiceLineRow.__table__, LINE_COLUMNS, line_row_values(note_id, note.lines, {}))
            note_change(session, INVOICES.name_of(note_id), "CreateCreditNote", f"cancels {original.number}: {request.reason}")
            note_change(session, request.invoice, "CreateCreditNote", f"credit note invoices/{note_id}")
            row, stored = _load(session, note_id)
            return invoice_to_proto(stored, row)

        return self._standard.run("CreateCreditNote", request, bpb.Invoice, create)

    def RenderInvoice(self, request: pb.RenderInvoiceRequest, context) -> pb.RenderInvoiceResponse:
        invoice_id = INVOICES.key(request.name)
        if request.format not in _RENDERERS:
            raise InvalidArgument.field("format", "choose RENDER_FORMAT_PDF, RENDER_FORMAT_UBL or RENDER_FORMAT_CSV")
        render, content_type, extension = _RENDERERS[request.format]
        with self._db.unit_of_work() as session:
            row, invoice = _load(session, invoice_id)
            issuer = session.get(IssuingEntityRow, row.issuing_entity_id)
            numbers = dict(session.execute(select(InvoiceRow.id, InvoiceRow.number).where(
                InvoiceRow.id.in_([row.credited_invoice_id, row.replaces_invoice_id]))).all())
        invoice = replace(invoice, credited_invoice=numbers.get(row.credited_invoice_id, ""),
                          replaces_invoice=numbers.get(row.replaces_invoice_id, ""))
        document = Document(invoice=invoice, name=request.name,
                            issue_date=row.finalize_time.date() if row.finalize_time else date.today(),
                            supplier_name=issuer.legal_name, supplier_tax_number=issuer.tax_registration_number,
                            supplier_country=issuer.country_code)
        return pb.RenderInvoiceResponse(content=render(document), content_type=content_type,
                                        file_name=f"{invoice.number or invoice_id}.{extension}")
