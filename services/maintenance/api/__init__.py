"""gRPC surface of the maintenance service: translate, validate, map errors. Rules live in domain/."""

from __future__ import annotations

from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as pb_grpc

from services.maintenance.api.diagnostics import AlarmMethods, DiagnosticsMethods
from services.maintenance.api.policies import PolicyMethods
from services.maintenance.api.schedules import ScheduleMethods
from services.maintenance.api.technician_jobs import TechnicianJobMethods
from services.maintenance.api.technicians import TechnicianMethods
from services.maintenance.api.work_orders import WorkOrderMethods
from services.maintenance.asset_directory import AssetDirectory
from services.maintenance.ingestion import Ingestion
from services.maintenance.orders import OrderDesk
from services.maintenance.store import AuditRecord, IdempotencyRecord
from services.runtime.crud import AuditRecordMethods, StandardMethods
from services.runtime.jobs import SolveJobs
from services.runtime.server import Runtime


class MaintenanceApi(TechnicianMethods, DiagnosticsMethods, AlarmMethods, WorkOrderMethods, TechnicianJobMethods,
                     PolicyMethods, ScheduleMethods, AuditRecordMethods, pb_grpc.MaintenanceServiceServicer):
    def __init__(self, runtime: Runtime):
        self._standard = StandardMethods(runtime, IdempotencyRecord, AuditRecord)
        self._db = runtime.database
        self._tokens = runtime.page_tokens
        self._assets = AssetDirectory(runtime.config)
        self._orders = OrderDesk(runtime)
        self._ingestion = Ingestion(runtime, self._assets, self._orders)
        self._solves = SolveJobs(runtime.database, runtime.workers) if runtime.workers else None
