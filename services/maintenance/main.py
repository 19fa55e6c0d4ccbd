"""Wiring of the maintenance service: `python -m services.maintenance.main` serves until SIGTERM/SIGINT."""

from __future__ import annotations

from fleetops.maintenance.v1 import maintenance_service_pb2, maintenance_service_pb2_grpc

from services.maintenance.api import MaintenanceApi
from services.runtime.server import define_service, run_until_signalled

DEFINITION = define_service(
    "maintenance", maintenance_service_pb2.DESCRIPTOR.services_by_name["MaintenanceService"],
    maintenance_service_pb2_grpc.add_MaintenanceServiceServicer_to_server, MaintenanceApi, __file__,
    solver_workers=2)

if __name__ == "__main__":
    run_until_signalled(DEFINITION)
