"""gRPC surface of the invoicing service: translate, validate, map errors. Rules live in domain/."""

from __future__ import annotations

from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as pb_grpc

from services.invoicing.api.billing_runs import BillingRunMethods
from services.invoicing.api.contracts import ContractMethods
from services.invoicing.api.invoices import InvoiceMethods
from services.invoicing.api.issuers import IssuerMethods
from services.invoicing.api.plans import PlanMethods
from services.invoicing.api.reports import ReportMethods
from services.invoicing.invoicing_metrics import InvoicingMetrics
from services.invoicing.peers import FleetUsage, MaintenanceRecords
from services.invoicing.store import AuditRecord, IdempotencyRecord
from services.runtime.crud import AuditRecordMethods, StandardMethods
from services.runtime.server import Runtime


class InvoicingApi(IssuerMethods, PlanMethods, ContractMethods, BillingRunMethods, InvoiceMethods, ReportMethods,
                   AuditRecordMethods, pb_grpc.InvoicingServiceServicer):
    def __init__(self, runtime: Runtime):
        self._standard = StandardMethods(runtime, IdempotencyRecord, AuditRecord)
        self._db = runtime.database
        self._tokens = runtime.page_tokens
        self._metrics = InvoicingMetrics.create(runtime.metrics.registry, runtime.database)
        # Peers are reached lazily: a channel connects on the first call, so the service starts alone.
        self._fleet = FleetUsage(runtime.config)
        self._maintenance = MaintenanceRecords(runtime.config)
        self._chunk_assets = runtime.config.billing_chunk_assets
