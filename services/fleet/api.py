"""gRPC surface of the fleet service: translate, validate, map errors. Rules live in domain/."""

from __future__ import annotations

from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from sqlalchemy.orm import Session

from services.fleet.domain.customers import CustomerDetails, check_parent, validate_details
from services.fleet.store import CustomerRow, IdempotencyRecord
from services.runtime.errors import InvalidArgument
from services.runtime.idempotency import IdempotentCalls
from services.runtime.repository import NamedRows
from services.runtime.resources import (check_etag, etag_for, id_violation, parse_name, to_timestamp,
                                        update_paths)
from services.runtime.server import Runtime

CUSTOMERS = "customers"
CUSTOMER_WRITABLE = ("parent_customer", "legal_name", "currency_code", "tax_registration_number",
                     "data_collection_consent")


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


def customer_details(message: pb.Customer) -> CustomerDetails:
    parent = (parse_name(message.parent_customer, CUSTOMERS, "customer.parent_customer")
              if message.parent_customer else None)
    return CustomerDetails(parent, message.legal_name, message.currency_code, message.tax_registration_number,
                           message.data_collection_consent)


def _write_customer(session: Session, row: CustomerRow, details: CustomerDetails, fields: set[str]) -> None:
    validate_details(details, fields)
    customers = NamedRows(session, CustomerRow, CUSTOMERS)
    if "parent_customer" in fields:
        check_parent(row.id, details.parent_customer_id, lambda cid: customers.get(cid).parent_customer_id)
        row.parent_customer_id = details.parent_customer_id
    for field in fields - {"parent_customer"}:
        setattr(row, field, getattr(details, field))


class FleetApi(pb_grpc.FleetServiceServicer):
    def __init__(self, runtime: Runtime):
        self._db = runtime.database
        self._tokens = runtime.page_tokens
        self._idempotent = IdempotentCalls(runtime.database, IdempotencyRecord)

    def GetCustomer(self, request: pb.GetCustomerRequest, context) -> pb.Customer:
        customer_id = parse_name(request.name, CUSTOMERS)
        with self._db.unit_of_work() as session:
            return customer_to_proto(NamedRows(session, CustomerRow, CUSTOMERS).get(customer_id))

    def ListCustomers(self, request: pb.ListCustomersRequest, context) -> pb.ListCustomersResponse:
        parent = (parse_name(request.parent_customer, CUSTOMERS, "parent_customer")
                  if request.parent_customer else None)
        query = {"parent": parent}
        page = self._tokens.parse(request.page_size, request.page_token, query)
        with self._db.unit_of_work() as session:
            rows = NamedRows(session, CustomerRow, CUSTOMERS).page(page, parent_customer_id=parent)
            rows, next_token = self._tokens.finish(rows, page, lambda r: (r.id,), query)
            return pb.ListCustomersResponse(customers=[customer_to_proto(r) for r in rows],
                                            next_page_token=next_token)

    def CreateCustomer(self, request: pb.CreateCustomerRequest, context) -> pb.Customer:
        violation = id_violation(request.customer_id, "customer_id")
        if violation:
            raise InvalidArgument([violation])
        details = customer_details(request.customer)

        def create(session: Session) -> pb.Customer:
            row = CustomerRow(id=request.customer_id)
            _write_customer(session, row, details, set(CUSTOMER_WRITABLE))
            return customer_to_proto(NamedRows(session, CustomerRow, CUSTOMERS).add(row))

        return self._idempotent.run("CreateCustomer", request, pb.Customer, create)

    def UpdateCustomer(self, request: pb.UpdateCustomerRequest, context) -> pb.Customer:
        customer_id = parse_name(request.customer.name, CUSTOMERS, "customer.name")
        fields = update_paths(request.update_mask, CUSTOMER_WRITABLE, "customer")
        details = customer_details(request.customer)

        def update(session: Session) -> pb.Customer:
            row = NamedRows(session, CustomerRow, CUSTOMERS).get(customer_id, for_update=True)
            check_etag(request.customer.name, request.customer.etag, row.version)
            _write_customer(session, row, details, fields)
            row.touch()
            session.flush()
            return customer_to_proto(row)

        return self._idempotent.run("UpdateCustomer", request, pb.Customer, update)
