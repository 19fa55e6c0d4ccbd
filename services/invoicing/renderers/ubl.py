"""UBL 2.1 invoices and credit notes shaped for Peppol BIS Billing 3.0 (EN 16931).

Built with ElementTree in the UBL namespaces. A line whose quantity times unit price is not its
amount (banded usage, prorated fees, credits) is sent as one unit priced at its amount (-1 unit
for a credit, since Peppol prices are never negative), so every line satisfies
LineExtensionAmount = InvoicedQuantity x PriceAmount.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from services.invoicing.domain.invoices import DocumentType
from services.invoicing.plan_codec import plain
from services.invoicing.renderers import Document

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
for _prefix, _uri in NS.items():
    if _prefix not in ("inv", "cn"):
        ET.register_namespace(_prefix, _uri)
CAC, CBC = "{%s}" % NS["cac"], "{%s}" % NS["cbc"]


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _tax_category(parent: ET.Element, tag: str, rate: Decimal, categories: tuple[str, ...]) -> None:
    category = _add(parent, CAC + tag)
    code = "S" if rate > 0 else ("E" if "EXEMPT" in categories else "Z")
    _add(category, CBC + "ID", code)
    _add(category, CBC + "Percent", plain((rate * 100).normalize()))
    if code == "E":
        _add(category, CBC + "TaxExemptionReason", "Exempt")
    _add(_add(category, CAC + "TaxScheme"), CBC + "ID", "VAT")


def _party(parent: ET.Element, tag: str, name: str, country: str, tax_number: str) -> None:
    party = _add(_add(parent, CAC + tag), CAC + "Party")
    # 0221: Japan's qualified-invoice issuer number (Peppol EAS); a customer without one is named
    # by its resource name until the fleet service records Peppol participant ids.
    _add(party, CBC + "EndpointID", tax_number or name, schemeID="0221" if tax_number else "0088")
    _add(_add(party, CAC + "PartyName"), CBC + "Name", name)
    _add(_add(_add(party, CAC + "PostalAddress"), CAC + "Country"), CBC + "IdentificationCode", country)
    if tax_number:
        scheme = _add(party, CAC + "PartyTaxScheme")
        _add(scheme, CBC + "CompanyID", tax_number)
        _add(_add(scheme, CAC + "TaxScheme"), CBC + "ID", "VAT")
    _add(_add(party, CAC + "PartyLegalEntity"), CBC + "RegistrationName", name)


def render_ubl(document: Document) -> bytes:
    invoice = document.invoice
    credit = invoice.document_type is DocumentType.CREDIT_NOTE
    sign = Decimal(-1) if credit else Decimal(1)  # a UBL credit note states the credited amounts positive
    currency = invoice.currency
    root = ET.Element("{%s}%s" % (NS["cn" if credit else "inv"], "CreditNote" if credit else "Invoice"))
    _add(root, CBC + "CustomizationID", CUSTOMIZATION_ID)
    _add(root, CBC + "ProfileID", PROFILE_ID)
    _add(root, CBC + "ID", invoice.number or document.name)
    _add(root, CBC + "IssueDate", document.issue_date.isoformat())
    _add(root, CBC + ("CreditNoteTypeCode" if credit else "InvoiceTypeCode"), "381" if credit else "380")
    _add(root, CBC + "DocumentCurrencyCode", currency)
    _add(root, CBC + "BuyerReference", document.buyer_reference)
    period = _add(root, CAC + "InvoicePeriod")
    _add(period, CBC + "StartDate", invoice.period.start.isoformat())
    _add(period, CBC + "EndDate", invoice.period.end.isoformat())
    if credit and invoice.credited_invoice:
        reference = _add(_add(root, CAC + "BillingReference"), CAC + "InvoiceDocumentReference")
        _add(reference, CBC + "ID", invoice.credited_invoice)
    _party(root, "AccountingSupplierParty", document.supplier_name, document.supplier_country,
           document.supplier_tax_number)
    _party(root, "AccountingCustomerParty", invoice.customer, document.supplier_country, "")

    def money(parent: ET.Element, tag: str, amount: Decimal) -> None:
        _add(parent, CBC + tag, plain(sign * amount), currencyID=currency)

    tax_total = _add(root, CAC + "TaxTotal")
    money(tax_total, "TaxAmount", invoice.tax_total)
    for total in invoice.rate_totals:
        subtotal = _add(tax_total, CAC + "TaxSubtotal")
        money(subtotal, "TaxableAmount", total.taxable_amount)
        money(subtotal, "TaxAmount", total.tax_amount)
        _tax_category(subtotal, "TaxCategory", total.rate, total.categories)
    monetary = _add(root, CAC + "LegalMonetaryTotal")
    money(monetary, "LineExtensionAmount", invoice.subtotal)
    money(monetary, "TaxExclusiveAmount", invoice.subtotal)
    money(monetary, "TaxInclusiveAmount", invoice.total)
    money(monetary, "PayableAmount", invoice.total)
    rates = {category: total.rate for total in invoice.rate_totals for category in total.categories}
    for index, line in enumerate(invoice.lines, start=1):
        amount = sign * line.amount
        quantity, price = sign * line.quantity, line.unit_price
        if price is None or quantity * price != amount or price < 0:
            quantity, price = (Decimal(1) if amount >= 0 else Decimal(-1)), abs(amount)
        element = _add(root, CAC + ("CreditNoteLine" if credit else "InvoiceLine"))
        _add(element, CBC + "ID", str(index))
        _add(element, CBC + ("CreditedQuantity" if credit else "InvoicedQuantity"), plain(quantity), unitCode="C62")
        _add(element, CBC + "LineExtensionAmount", plain(amount), currencyID=currency)
        item = _add(element, CAC + "Item")
        _add(item, CBC + "Name", line.description[:100] or line.charge_id)
        if line.asset:
            _add(_add(item, CAC + "SellersItemIdentification"), CBC + "ID", line.asset)
        rate = rates[line.tax_category]
        _tax_category(item, "ClassifiedTaxCategory", rate, (line.tax_category,))
        _add(_add(element, CAC + "Price"), CBC + "PriceAmount", plain(price), currencyID=currency)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
