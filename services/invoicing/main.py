"""Wiring of the invoicing service: `python -m services.invoicing.main` serves until SIGTERM/SIGINT."""

from __future__ import annotations

from pathlib import Path

from fleetops.invoicing.v1 import invoicing_service_pb2, invoicing_service_pb2_grpc

from services.invoicing.api import InvoicingApi
from services.runtime.server import ServiceDefinition, run_until_signalled

DEFINITION = ServiceDefinition(
    name="invoicing",
    grpc_services=(invoicing_service_pb2.DESCRIPTOR.services_by_name["InvoicingService"].full_name,),
    migrations_dir=Path(__file__).parent / "migrations",
    register=lambda server, runtime: invoicing_service_pb2_grpc.add_InvoicingServiceServicer_to_server(
        InvoicingApi(runtime), server),
)

if __name__ == "__main__":
    run_until_signalled(DEFINITION)
