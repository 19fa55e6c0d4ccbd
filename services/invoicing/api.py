"""gRPC surface of the invoicing service: translate, validate, map errors. Rules live in domain/."""

from __future__ import annotations

from fleetops.invoicing.v1 import invoicing_service_pb2 as pb
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as pb_grpc
from sqlalchemy.orm import Session

from services.invoicing.domain.issuers import IssuerDetails, TaxRounding, validate_details
from services.invoicing.store import IdempotencyRecord, IssuingEntityRow
from services.runtime.crud import Collection, StandardMethods
from services.runtime.resources import NamePattern, etag_for, to_timestamp
from services.runtime.server import Runtime

ISSUING_ENTITIES = "issuingEntities"
_ROUNDING_FROM_PROTO = {
    pb.TAX_ROUNDING_MODE_UNSPECIFIED: TaxRounding.HALF_UP,  # the default most tax offices expect
    pb.TAX_ROUNDING_MODE_HALF_UP: TaxRounding.HALF_UP,
    pb.TAX_ROUNDING_MODE_DOWN: TaxRounding.DOWN,
    pb.TAX_ROUNDING_MODE_TRUNCATE: TaxRounding.TRUNCATE,
}
_ROUNDING_TO_PROTO = {mode: pb.TaxRoundingMode.Value(f"TAX_ROUNDING_MODE_{mode.value}") for mode in TaxRounding}


def issuing_entity_to_proto(row: IssuingEntityRow) -> pb.IssuingEntity:
    return pb.IssuingEntity(
        name=f"{ISSUING_ENTITIES}/{row.id}", legal_name=row.legal_name,
        tax_registration_number=row.tax_registration_number, country_code=row.country_code,
        invoice_series=row.invoice_series, tax_rounding_mode=_ROUNDING_TO_PROTO[row.tax_rounding_mode],
        create_time=to_timestamp(row.create_time), update_time=to_timestamp(row.update_time),
        etag=etag_for(row.version),
    )


def write_issuing_entity(session: Session, row: IssuingEntityRow, message: pb.IssuingEntity,
                         fields: set[str]) -> None:
    details = IssuerDetails(
        legal_name=message.legal_name, tax_registration_number=message.tax_registration_number,
        country_code=message.country_code, invoice_series=message.invoice_series,
        tax_rounding_mode=_ROUNDING_FROM_PROTO.get(message.tax_rounding_mode, TaxRounding.HALF_UP),
    )
    validate_details(details, fields)
    for field in fields:
        setattr(row, field, getattr(details, field))


ISSUING_ENTITY_COLLECTION = Collection(
    pattern=NamePattern("issuingEntities/{issuing_entity}"), row_type=IssuingEntityRow, message_type=pb.IssuingEntity,
    message_field="issuing_entity",
    writable=("legal_name", "tax_registration_number", "country_code", "invoice_series", "tax_rounding_mode"),
    to_message=issuing_entity_to_proto, write=write_issuing_entity,
)


class InvoicingApi(pb_grpc.InvoicingServiceServicer):
    def __init__(self, runtime: Runtime):
        self._standard = StandardMethods(runtime, IdempotencyRecord)

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
