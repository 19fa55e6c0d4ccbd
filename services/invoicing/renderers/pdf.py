"""The invoice as a PDF for people, laid out with reportlab's platypus (maintained, pure Python).

Page one carries the parties, the lines grouped by site and cost centre, tax per rate and the
totals; the per-asset annex (reads, quantities, allowance, rate) follows.
"""

from __future__ import annotations

import io
from decimal import Decimal

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.invoicing.plan_codec import plain
from services.invoicing.renderers import Document

_GRID = TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("FONTSIZE", (0, 0), (-1, -1), 7),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke), ("VALIGN", (0, 0), (-1, -1), "TOP")])


def display_amount(amount: Decimal, currency: str) -> str:
    """`16,500 JPY`, `-1,234.50 EUR`: how amounts are printed."""
    return f"{amount:,} {currency}"


def _table(rows: list[list[str]], widths: list[float] | None = None) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(_GRID)
    return table


def render_pdf(document: Document) -> bytes:
    invoice = document.invoice
    currency = invoice.currency
    styles = getSampleStyleSheet()
    out = io.BytesIO()
    pdf = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm, title=document.title,
                            author=document.supplier_name)
    story = [
        Paragraph(document.title, styles["Title"]),
        Paragraph(f"Issued by {document.supplier_name} (registration {document.supplier_tax_number or 'n/a'}, "
                  f"{document.supplier_country}) on {document.issue_date.isoformat()}", styles["Normal"]),
        Paragraph(f"Customer: {invoice.customer} - reference: {document.buyer_reference}", styles["Normal"]),
        Paragraph(f"Service period: {invoice.period.start.isoformat()} to {invoice.period.end.isoformat()} "
                  f"(exclusive)", styles["Normal"]),
    ]
    if invoice.credited_invoice:
        story.append(Paragraph(f"Cancels invoice {invoice.credited_invoice}", styles["Normal"]))
    if invoice.replaces_invoice:
        story.append(Paragraph(f"Replaces invoice {invoice.replaces_invoice}", styles["Normal"]))
    for group in invoice.groups:
        story += [Spacer(1, 4 * mm), Paragraph(f"Site {group.site} - cost centre {group.cost_centre}",
                                               styles["Heading4"])]
        rows = [["Contract", "Charge", "Description", "Asset", "Quantity", "Unit price", "Amount", "Tax"]]
        rows += [[line.contract_id, line.charge_id, line.description + (" (estimated)" if line.estimated else ""),
                  line.asset, plain(line.quantity), "" if line.unit_price is None else plain(line.unit_price),
                  display_amount(line.amount, currency), line.tax_category] for line in group.lines]
        rows.append(["", "", "Subtotal", "", "", "", display_amount(group.subtotal, currency), ""])
        story.append(_table(rows))
    story += [Spacer(1, 4 * mm), Paragraph("Tax per rate", styles["Heading4"])]
    rows = [["Rate", "Categories", "Taxable amount", "Tax"]]
    rows += [[f"{plain((t.rate * 100).normalize())} %", ", ".join(t.categories),
              display_amount(t.taxable_amount, currency), display_amount(t.tax_amount, currency)]
             for t in invoice.rate_totals]
    story.append(_table(rows))
    story += [Spacer(1, 4 * mm),
              Paragraph(f"Subtotal: {display_amount(invoice.subtotal, currency)}", styles["Normal"]),
              Paragraph(f"Tax: {display_amount(invoice.tax_total, currency)}", styles["Normal"]),
              Paragraph(f"Total: {display_amount(invoice.total, currency)}", styles["Heading3"])]
    annex = invoice.annex
    if annex:
        story += [PageBreak(), Paragraph("Annex: usage per asset", styles["Heading3"])]
        rows = [["Asset", "Register", "Start read", "End read", "Quantity", "Allowance used", "Rate", "Amount"]]
        rows += [[row.asset, row.register.value,
                  f"{plain(row.start_read.value)} {row.start_read.kind.value.lower()}",
                  f"{plain(row.end_read.value)} {row.end_read.kind.value.lower()}", plain(row.quantity),
                  plain(row.allowance_used),
                  " + ".join(f"{plain(b.quantity)} x {plain(b.unit_price)}" for b in row.rate),
                  display_amount(row.amount, currency)] for row in annex]
        story.append(_table(rows))
    pdf.build(story)
    return out.getvalue()
