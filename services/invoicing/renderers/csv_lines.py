"""The lines of an invoice as CSV (RFC 4180), one row per line, for the customer's spreadsheet."""

from __future__ import annotations

import csv
import io

from services.invoicing.plan_codec import plain
from services.invoicing.renderers import Document

HEADER = ("number", "site", "cost_centre", "contract", "charge_id", "kind", "description", "asset", "quantity",
          "unit_price", "amount", "currency", "tax_category", "service_start", "service_end", "estimated")


def render_csv(document: Document) -> bytes:
    invoice = document.invoice
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for line in invoice.lines:
        writer.writerow((invoice.number, line.site, line.cost_centre, line.contract_id, line.charge_id,
                         line.kind.value, line.description, line.asset, plain(line.quantity),
                         "" if line.unit_price is None else plain(line.unit_price), plain(line.amount),
                         invoice.currency, line.tax_category, line.service_start.isoformat(),
                         line.service_end.isoformat(), "yes" if line.estimated else "no"))
    return out.getvalue().encode("utf-8")
