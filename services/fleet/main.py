"""Wiring of the fleet service: `python -m services.fleet.main` serves until SIGTERM/SIGINT."""

from __future__ import annotations

from fleetops.fleet.v1 import fleet_service_pb2, fleet_service_pb2_grpc

from services.fleet.api import FleetApi
from services.runtime.server import define_service, run_until_signalled

DEFINITION = define_service(
    "fleet", fleet_service_pb2.DESCRIPTOR.services_by_name["FleetService"],
    fleet_service_pb2_grpc.add_FleetServiceServicer_to_server, FleetApi, __file__, solver_workers=2)

if __name__ == "__main__":
    run_until_signalled(DEFINITION)
