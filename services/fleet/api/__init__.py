"""gRPC surface of the fleet service: translate, validate, map errors. Rules live in domain/."""

from __future__ import annotations

from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from prometheus_client import Counter

from services.fleet.api.assets import AssetMethods
from services.fleet.api.catalog import CatalogMethods
from services.fleet.api.fleet_import import ImportMethods
from services.fleet.api.meters import MeterMethods
from services.fleet.api.placement import PlacementMethods
from services.fleet.api.replacement import ReplacementMethods
from services.fleet.fleet_metrics import FleetGauges
from services.fleet.store import AuditRecord, IdempotencyRecord
from services.runtime.crud import AuditRecordMethods, StandardMethods
from services.runtime.jobs import SolveJobs
from services.runtime.server import Runtime


class FleetApi(CatalogMethods, AssetMethods, MeterMethods, ImportMethods, PlacementMethods, ReplacementMethods,
               AuditRecordMethods, pb_grpc.FleetServiceServicer):
    def __init__(self, runtime: Runtime):
        self._standard = StandardMethods(runtime, IdempotencyRecord, AuditRecord)
        self._db = runtime.database
        self._tokens = runtime.page_tokens
        self._solve_jobs = SolveJobs(runtime.database, runtime.workers)
        self._readings_recorded = Counter("fleetops_fleet_meter_readings", "Meter readings recorded, by result.",
                                          ["result"], registry=runtime.metrics.registry)
        runtime.metrics.registry.register(FleetGauges(runtime.database))
