"""Wiring of the maintenance service: `python -m services.maintenance.main` serves until SIGTERM/SIGINT."""

from __future__ import annotations

from pathlib import Path

from fleetops.maintenance.v1 import maintenance_service_pb2, maintenance_service_pb2_grpc

from services.maintenance.api import MaintenanceApi
from services.runtime.server import ServiceDefinition, run_until_signalled

DEFINITION = ServiceDefinition(
    name="maintenance",
    grpc_services=(maintenance_service_pb2.DESCRIPTOR.services_by_name["MaintenanceService"].full_name,),
    migrations_dir=Path(__file__).parent / "migrations",
    register=lambda server, runtime: maintenance_service_pb2_grpc.add_MaintenanceServiceServicer_to_server(
        MaintenanceApi(runtime), server),
)

if __name__ == "__main__":
    run_until_signalled(DEFINITION)
