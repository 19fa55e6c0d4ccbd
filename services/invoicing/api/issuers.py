"""Issuing entities: the legal entities whose names, registration numbers, series and tax rates invoices carry."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from sqlalchemy.orm import Session

from services.invoicing.domain.issuers import IssuerDetails, TaxRounding, validate_details
from services.invoicing.store import IssuingEntityRow
from services.runtime.crud import Collection
from services.runtime.errors import InvalidArgument
from services.runtime.resources import NamePattern, etag_for, to_timestamp
from services.runtime.scoping import shared

ISSUING_ENTITIES = NamePattern("issuingEntities/{issuing_entity}")
_ROUNDING_FROM_PROTO = {
    pb.TAX_ROUNDING_MODE_UNSPECIFIED: TaxRounding.HALF_UP,  # the default most tax offices expect
    pb.TAX_ROUNDING_MODE_HALF_UP: TaxRounding.HALF_UP,
    pb.TAX_ROUNDING_MODE_DOWN: TaxRounding.DOWN,
    pb.TAX_ROUNDING_MODE_TRUNCATE: TaxRounding.TRUNCATE,
}
_ROUNDING_TO_PROTO = {mode: pb.TaxRoundingMode.Value(f"TAX_ROUNDING_MODE_{mode.value}") for mode in TaxRounding}


def issuing_entity_to_proto(row: IssuingEntityRow) -> pb.IssuingEntity:
    return pb.IssuingEntity(
        name=ISSUING_ENTITIES.name_of(row.id), legal_name=row.legal_name,
        tax_registration_number=row.tax_registration_number, country_code=row.country_code,
        invoice_series=row.invoice_series, tax_rounding_mode=_ROUNDING_TO_PROTO[row.tax_rounding_mode],
        tax_rates=json.loads(row.tax_rates or "{}"),
        create_time=to_timestamp(row.create_time), update_time=to_timestamp(row.update_time),
        etag=etag_for(row.version),
    )


def _tax_rates(message: pb.IssuingEntity) -> str:
    rates = {}
    for category, text in sorted(message.tax_rates.items()):
        try:
            rate = Decimal(text)
        except InvalidOperation:
            rate = Decimal(-1)
        if not category or not (0 <= rate < 1):
            raise InvalidArgument.field(f"issuing_entity.tax_rates[{category}]", "must be a decimal rate in [0, 1)")
        rates[category] = text
    return json.dumps(rates)


def write_issuing_entity(session: Session, row: IssuingEntityRow, message: pb.IssuingEntity,
                         fields: set[str]) -> None:
    details = IssuerDetails(
        legal_name=message.legal_name, tax_registration_number=message.tax_registration_number,
        country_code=message.country_code, invoice_series=message.invoice_series,
        tax_rounding_mode=_ROUNDING_FROM_PROTO.get(message.tax_rounding_mode, TaxRounding.HALF_UP),
    )
    validate_details(details, fields)
    for field in fields - {"tax_rates"}:
        setattr(row, field, getattr(details, field))
    if "tax_rates" in fields:
        row.tax_rates = _tax_rates(message)


ISSUING_ENTITY_COLLECTION = Collection(
    pattern=ISSUING_ENTITIES, row_type=IssuingEntityRow, message_type=pb.IssuingEntity,
    message_field="issuing_entity",
    writable=("legal_name", "tax_registration_number", "country_code", "invoice_series", "tax_rounding_mode",
              "tax_rates"),
    to_message=issuing_entity_to_proto,
    write=write_issuing_entity,
    scope=shared("issuing entities"),  # they appear on every customer's invoices
)


class IssuerMethods:
    def GetIssuingEntity(self, request: pb.GetIssuingEntityRequest, context) -> pb.IssuingEntity:
        return self._standard.get(ISSUING_ENTITY_COLLECTION, request.name)

    def ListIssuingEntities(self, request: pb.ListIssuingEntitiesRequest, context) -> pb.ListIssuingEntitiesResponse:
        entities, token = self._standard.list(ISSUING_ENTITY_COLLECTION, request)
        return pb.ListIssuingEntitiesResponse(issuing_entities=entities, next_page_token=token)

    def CreateIssuingEntity(self, request: pb.CreateIssuingEntityRequest, context) -> pb.IssuingEntity:
        return self._standard.create(ISSUING_ENTITY_COLLECTION, "CreateIssuingEntity", request,
                                     request.issuing_entity_id, "issuing_entity_id")

    def UpdateIssuingEntity(self, request: pb.UpdateIssuingEntityRequest, context) -> pb.IssuingEntity:
        return self._standard.update(ISSUING_ENTITY_COLLECTION, "UpdateIssuingEntity", request)
