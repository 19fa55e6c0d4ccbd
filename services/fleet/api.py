"""gRPC surface of the fleet service: translate, validate, map errors. Rules live in domain/."""

from __future__ import annotations

from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from sqlalchemy.orm import Session

from services.fleet.domain.customers import CustomerDetails, check_parent, validate_details
from services.fleet.store import CustomerRow, IdempotencyRecord
from services.runtime.crud import Collection, StandardMethods
from services.runtime.repository import NamedRows
from services.runtime.resources import etag_for, parse_name, to_timestamp
from services.runtime.server import Runtime

CUSTOMERS = "customers"


def customer_to_proto(row: CustomerRow) -> pb.Customer:
    return pb.Customer(
        name=f"{CUSTOMERS}/{row.id}",
        parent_customer=f"{CUSTOMERS}/{row.parent_customer_id}" if row.parent_customer_id else "",
        legal_name=row.legal_name,
        currency_code=row.currency_code,
        tax_registration_number=row.tax_registration_number,
        data_collection_consent=row.data_collection_consent,
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        etag=etag_for(row.version),
    )


def write_customer(session: Session, row: CustomerRow, message: pb.Customer, fields: set[str]) -> None:
    parent = (parse_name(message.parent_customer, CUSTOMERS, "customer.parent_customer")
              if message.parent_customer else None)
    details = CustomerDetails(parent, message.legal_name, message.currency_code, message.tax_registration_number,
                              message.data_collection_consent)
    validate_details(details, fields)
    if "parent_customer" in fields:
        customers = NamedRows(session, CustomerRow, CUSTOMERS)
        check_parent(row.id, parent, lambda customer_id: customers.get(customer_id).parent_customer_id)
        row.parent_customer_id = parent
    for field in fields - {"parent_customer"}:
        setattr(row, field, getattr(details, field))


CUSTOMER_COLLECTION = Collection(
    name=CUSTOMERS, row_type=CustomerRow, message_type=pb.Customer, message_field="customer",
    writable=("parent_customer", "legal_name", "currency_code", "tax_registration_number",
              "data_collection_consent"),
    to_message=customer_to_proto, write=write_customer,
)


class FleetApi(pb_grpc.FleetServiceServicer):
    def __init__(self, runtime: Runtime):
        self._standard = StandardMethods(runtime, IdempotencyRecord)

    def GetCustomer(self, request: pb.GetCustomerRequest, context) -> pb.Customer:
        return self._standard.get(CUSTOMER_COLLECTION, request.name)

    def ListCustomers(self, request: pb.ListCustomersRequest, context) -> pb.ListCustomersResponse:
        parent = (parse_name(request.parent_customer, CUSTOMERS, "parent_customer")
                  if request.parent_customer else None)
        customers, token = self._standard.list(CUSTOMER_COLLECTION, request, parent_customer_id=parent)
        return pb.ListCustomersResponse(customers=customers, next_page_token=token)

    def CreateCustomer(self, request: pb.CreateCustomerRequest, context) -> pb.Customer:
        return self._standard.create(CUSTOMER_COLLECTION, "CreateCustomer", request, request.customer_id,
                                     "customer_id")

    def UpdateCustomer(self, request: pb.UpdateCustomerRequest, context) -> pb.Customer:
        return self._standard.update(CUSTOMER_COLLECTION, "UpdateCustomer", request)
