"""Customers: billing accounts, possibly grouped under a parent company."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.runtime.currencies import is_known_currency
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound

MAX_LEGAL_NAME_LENGTH = 200
MAX_TAX_NUMBER_LENGTH = 40


@dataclass
class CustomerDetails:
    parent_customer_id: str | None
    legal_name: str
    currency_code: str
    tax_registration_number: str
    data_collection_consent: bool


def validate_details(details: CustomerDetails, fields: set[str], prefix: str = "customer.") -> None:
    """Checks the fields being written; `fields` uses the API's field names."""
    violations: list[FieldViolation] = []
    if "legal_name" in fields:
        if not details.legal_name.strip():
            violations.append(FieldViolation(prefix + "legal_name", "is required"))
        elif len(details.legal_name) > MAX_LEGAL_NAME_LENGTH:
            violations.append(FieldViolation(prefix + "legal_name", f"must be at most {MAX_LEGAL_NAME_LENGTH} characters"))
    if "currency_code" in fields and not is_known_currency(details.currency_code):
        violations.append(FieldViolation(prefix + "currency_code",
                                         f"must be an ISO 4217 code such as JPY or EUR, got {details.currency_code!r}"))
    if "tax_registration_number" in fields and len(details.tax_registration_number) > MAX_TAX_NUMBER_LENGTH:
        violations.append(FieldViolation(prefix + "tax_registration_number",
                                         f"must be at most {MAX_TAX_NUMBER_LENGTH} characters"))
    if violations:
        raise InvalidArgument(violations)


def check_parent(customer_id: str, parent_id: str | None, parent_of: Callable[[str], str | None],
                 field: str = "customer.parent_customer") -> None:
    """The parent must exist and must not make the group hierarchy circular.

    `parent_of(id)` returns a customer's parent id and raises NotFound for an unknown customer.
    """
    seen = {customer_id}
    current = parent_id
    while current is not None:
        if current in seen:
            raise InvalidArgument.field(field, "would make the customer its own ancestor")
        seen.add(current)
        try:
            current = parent_of(current)
        except NotFound:
            raise InvalidArgument.field(field, f"customers/{current} does not exist") from None
