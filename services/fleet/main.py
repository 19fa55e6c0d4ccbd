"""Wiring of the fleet service: `python -m services.fleet.main` serves until SIGTERM/SIGINT."""

from __future__ import annotations

from pathlib import Path

from fleetops.fleet.v1 import fleet_service_pb2, fleet_service_pb2_grpc

from services.fleet.api import FleetApi
from services.runtime.server import ServiceDefinition, run_until_signalled

DEFINITION = ServiceDefinition(
    name="fleet",
    grpc_services=(fleet_service_pb2.DESCRIPTOR.services_by_name["FleetService"].full_name,),
    migrations_dir=Path(__file__).parent / "migrations",
    register=lambda server, runtime: fleet_service_pb2_grpc.add_FleetServiceServicer_to_server(
        FleetApi(runtime), server),
)

if __name__ == "__main__":
    run_until_signalled(DEFINITION)
