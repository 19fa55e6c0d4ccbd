"""Invoice documents: PDF for people, UBL 2.1 (Peppol BIS Billing 3.0) for machines, CSV of lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.invoicing.domain.invoices import Invoice


@dataclass(frozen=True)
class Document:
    """An invoice with what the documents print beside it."""

    invoice: Invoice
    name: str  # invoices/{id}
    issue_date: date  # finalization day; today for a draft
    supplier_name: str
    supplier_tax_number: str
    supplier_country: str

    @property
    def title(self) -> str:
        kind = "Credit note" if self.invoice.document_type.value == "CREDIT_NOTE" else "Invoice"
        return f"{kind} {self.invoice.number or '(draft)'}"

    @property
    def buyer_reference(self) -> str:
        orders = sorted({c.purchase_order for c in self.invoice.contracts if c.purchase_order})
        return ", ".join(orders) or self.invoice.customer
