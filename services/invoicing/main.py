"""Wiring of the invoicing service: `python -m services.invoicing.main` serves until SIGTERM/SIGINT."""

from __future__ import annotations

from fleetops.invoicing.v1 import invoicing_service_pb2, invoicing_service_pb2_grpc

from services.invoicing.api import InvoicingApi
from services.runtime.server import define_service, run_until_signalled

DEFINITION = define_service(
    "invoicing", invoicing_service_pb2.DESCRIPTOR.services_by_name["InvoicingService"],
    invoicing_service_pb2_grpc.add_InvoicingServiceServicer_to_server, InvoicingApi, __file__)

if __name__ == "__main__":
    run_until_signalled(DEFINITION)
