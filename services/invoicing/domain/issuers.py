"""Issuing entities: the legal entities whose names, registration numbers and series invoices carry."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from services.runtime.errors import FieldViolation, InvalidArgument

# Japanese qualified-invoice issuers are registered as "T" followed by 13 digits.
_JP_QUALIFIED_INVOICE_NUMBER = re.compile(r"^T\d{13}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SERIES = re.compile(r"^[A-Z0-9]{1,10}$")


class TaxRounding(enum.Enum):
    """Applied once per tax rate per invoice."""

    HALF_UP = "HALF_UP"
    DOWN = "DOWN"
    TRUNCATE = "TRUNCATE"


@dataclass
class IssuerDetails:
    legal_name: str
    tax_registration_number: str
    country_code: str
    invoice_series: str
    tax_rounding_mode: TaxRounding


def validate_details(details: IssuerDetails, fields: set[str], prefix: str = "issuing_entity.") -> None:
    violations: list[FieldViolation] = []
    if "legal_name" in fields and not details.legal_name.strip():
        violations.append(FieldViolation(prefix + "legal_name", "is required"))
    if "country_code" in fields and not _COUNTRY.match(details.country_code):
        violations.append(FieldViolation(prefix + "country_code", "must be an ISO 3166-1 alpha-2 code such as JP"))
    if "invoice_series" in fields and not _SERIES.match(details.invoice_series):
        violations.append(FieldViolation(prefix + "invoice_series", "must be 1 to 10 uppercase letters or digits"))
    if ({"tax_registration_number", "country_code"} & fields and details.country_code == "JP"
            and details.tax_registration_number
            and not _JP_QUALIFIED_INVOICE_NUMBER.match(details.tax_registration_number)):
        violations.append(FieldViolation(prefix + "tax_registration_number",
                                         "a Japanese qualified-invoice number is T followed by 13 digits"))
    if violations:
        raise InvalidArgument(violations)
