"""Who may call what: the one table of roles per RPC of the three services.

Every RPC has an entry; a method without one is refused (`PERMISSION_DENIED`), and a server whose
services have a method missing from the table does not start. Health and reflection are outside the
table (`auth.OPEN_SERVICES`), as is `/metrics` (its own HTTP port). A caller may hold several roles;
one of the entry's roles is enough. `admin` is in every entry.

Adding an RPC is one line in its service's table, naming one of the role sets below.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import descriptor_pool

from services.runtime.auth import Identity
from services.runtime.errors import PermissionDenied

ADMIN = "admin"
SERVICE = "service"  # another fleetops service, or a device gateway sending diagnostics
DISPATCHER = "dispatcher"
TECHNICIAN = "technician"
BILLING = "billing"
VIEWER = "viewer"
ROLES = (ADMIN, SERVICE, DISPATCHER, TECHNICIAN, BILLING, VIEWER)


def _allow(*roles: str) -> frozenset[str]:
    return frozenset((ADMIN, *roles))


ADMIN_ONLY = _allow()
FLEET_READ = _allow(VIEWER, DISPATCHER, BILLING)
FLEET_READ_ON_SITE = FLEET_READ | {TECHNICIAN}  # what a technician looks up to find and fix a device
FLEET_READ_BY_PEERS = FLEET_READ | {SERVICE}
FLEET_READ_ON_SITE_AND_BY_PEERS = FLEET_READ_ON_SITE | {SERVICE}
METER_INGESTION = _allow(SERVICE)  # maintenance forwards page counters from device events
MAINTENANCE_READ = _allow(VIEWER, DISPATCHER)
MAINTENANCE_READ_ON_SITE = MAINTENANCE_READ | {TECHNICIAN}
MAINTENANCE_READ_BY_PEERS = MAINTENANCE_READ | {SERVICE}  # invoicing: downtime credits, completed work
DISPATCH = _allow(DISPATCHER)
TECHNICIAN_API = _allow(TECHNICIAN)  # the handlers also require the technician role and the order's technician
DIAGNOSTICS_INGESTION = _allow(SERVICE)  # device gateways
INVOICING_READ = _allow(VIEWER, BILLING)
BILLING_WORK = _allow(BILLING)

FLEET_SERVICE = "fleetops.fleet.v1.FleetService"
MAINTENANCE_SERVICE = "fleetops.maintenance.v1.MaintenanceService"
INVOICING_SERVICE = "fleetops.invoicing.v1.InvoicingService"

POLICY: dict[str, dict[str, frozenset[str]]] = {
    FLEET_SERVICE: {
        "GetCustomer": FLEET_READ_ON_SITE,
        "ListCustomers": FLEET_READ,
        "CreateCustomer": ADMIN_ONLY,
        "UpdateCustomer": ADMIN_ONLY,
        "GetSite": FLEET_READ_ON_SITE_AND_BY_PEERS,
        "ListSites": FLEET_READ,
        "CreateSite": ADMIN_ONLY,
        "UpdateSite": ADMIN_ONLY,
        "GetLocation": FLEET_READ_ON_SITE,
        "ListLocations": FLEET_READ,
        "CreateLocation": ADMIN_ONLY,
        "UpdateLocation": ADMIN_ONLY,
        "GetDeviceModel": FLEET_READ_ON_SITE,
        "ListDeviceModels": FLEET_READ,
        "CreateDeviceModel": ADMIN_ONLY,
        "UpdateDeviceModel": ADMIN_ONLY,
        "GetAsset": FLEET_READ_ON_SITE,
        "BatchGetAssets": FLEET_READ_BY_PEERS,
        "ListAssets": FLEET_READ,
        "CreateAsset": ADMIN_ONLY,
        "UpdateAsset": ADMIN_ONLY,
        "InstallAsset": ADMIN_ONLY,
        "ActivateAsset": ADMIN_ONLY,
        "SuspendAsset": ADMIN_ONLY,
        "RetireAsset": ADMIN_ONLY,
        "MoveAsset": ADMIN_ONLY,
        "ListAssetMoves": FLEET_READ,
        "RecordMeterReadings": METER_INGESTION,
        "RecordMeterReset": ADMIN_ONLY,
        "ListMeterReadings": FLEET_READ,
        "GetUsage": FLEET_READ_BY_PEERS,
        "ImportFleet": ADMIN_ONLY,
        "GetFleetKpis": FLEET_READ,
        "OptimizePlacement": ADMIN_ONLY,
        "GetPlacementPlan": FLEET_READ,
        "ListPlacementPlans": FLEET_READ,
        "ApplyPlacementPlan": ADMIN_ONLY,
        "PlanReplacements": ADMIN_ONLY,
        "GetReplacementPlan": FLEET_READ,
        "ListReplacementPlans": FLEET_READ,
        "ListAuditRecords": FLEET_READ,
    },
    MAINTENANCE_SERVICE: {
        "IngestDiagnostics": DIAGNOSTICS_INGESTION,
        "StreamDiagnostics": DIAGNOSTICS_INGESTION,
        "GetAlarm": MAINTENANCE_READ_ON_SITE,
        "ListAlarms": MAINTENANCE_READ,
        "AcknowledgeAlarm": DISPATCH,
        "ExpireQuietAlarms": DISPATCH,
        "GetWorkOrder": MAINTENANCE_READ,
        "ListWorkOrders": MAINTENANCE_READ_BY_PEERS,
        "CreateWorkOrder": DISPATCH,
        "ScheduleWorkOrder": DISPATCH,
        "DispatchWorkOrder": DISPATCH,
        "ResumeWorkOrder": DISPATCH,
        "CancelWorkOrder": DISPATCH,
        "ListMyWorkOrders": TECHNICIAN_API,
        "AcceptWorkOrder": TECHNICIAN_API,
        "StartTravel": TECHNICIAN_API,
        "ArriveOnSite": TECHNICIAN_API,
        "PutOnHold": TECHNICIAN_API,
        "CompleteWorkOrder": TECHNICIAN_API,
        "AddWorkNote": TECHNICIAN_API,
        "ListDowntimeIntervals": MAINTENANCE_READ_BY_PEERS,
        "GetTechnician": MAINTENANCE_READ,
        "ListTechnicians": MAINTENANCE_READ,
        "CreateTechnician": DISPATCH,
        "UpdateTechnician": DISPATCH,
        "GetSlaPolicy": MAINTENANCE_READ,
        "ListSlaPolicies": MAINTENANCE_READ,
        "CreateSlaPolicy": ADMIN_ONLY,
        "UpdateSlaPolicy": ADMIN_ONLY,
        "GetPreventivePlan": MAINTENANCE_READ,
        "ListPreventivePlans": MAINTENANCE_READ,
        "CreatePreventivePlan": DISPATCH,
        "UpdatePreventivePlan": DISPATCH,
        "PlanDuePreventiveMaintenance": DISPATCH,
        "ListShipments": MAINTENANCE_READ,
        "CreateSchedule": DISPATCH,
        "GetSchedule": MAINTENANCE_READ,
        "ListSchedules": MAINTENANCE_READ,
        "ApplySchedule": DISPATCH,
        "ReplanSchedule": DISPATCH,
        "ListAuditRecords": MAINTENANCE_READ,
    },
    INVOICING_SERVICE: {
        "GetIssuingEntity": INVOICING_READ,
        "ListIssuingEntities": INVOICING_READ,
        "CreateIssuingEntity": BILLING_WORK,
        "UpdateIssuingEntity": BILLING_WORK,
        "CreatePlan": BILLING_WORK,
        "GetPlan": INVOICING_READ,
        "ListPlans": INVOICING_READ,
        "CreatePlanVersion": BILLING_WORK,
        "GetPlanVersion": INVOICING_READ,
        "ListPlanVersions": INVOICING_READ,
        "CreateContract": BILLING_WORK,
        "GetContract": INVOICING_READ,
        "ListContracts": INVOICING_READ,
        "UpdateContract": BILLING_WORK,
        "CreateBillingRun": BILLING_WORK,
        "GetBillingRun": INVOICING_READ,
        "ListBillingRuns": INVOICING_READ,
        "PreviewBillingRun": INVOICING_READ,  # reads only: a portal previews its customer's next invoice
        "ExecuteBillingRun": BILLING_WORK,
        "GetInvoice": INVOICING_READ,
        "ListInvoices": INVOICING_READ,
        "FinalizeInvoice": BILLING_WORK,
        "CreateCreditNote": BILLING_WORK,
        "RenderInvoice": INVOICING_READ,
        "ListAuditRecords": INVOICING_READ,
        "GetRevenueMetrics": INVOICING_READ,
    },
}


def required_roles(service: str, method: str) -> frozenset[str]:
    """The roles that may call `service`/`method`; empty (nobody) for a method without an entry."""
    return POLICY.get(service, {}).get(method, frozenset())


def authorize(identity: Identity, service: str, method: str) -> None:
    needed = required_roles(service, method)
    if identity.roles & needed:
        return
    if not needed:
        raise PermissionDenied(f"{method} has no access policy; nobody may call it",
                               reason="NO_POLICY", metadata={"method": f"{service}/{method}"})
    held = ", ".join(sorted(identity.roles)) or "none"
    raise PermissionDenied(f"{method} needs one of the roles {', '.join(sorted(needed))}; the caller has {held}",
                           reason="MISSING_ROLE",
                           metadata={"method": f"{service}/{method}", "required_roles": ",".join(sorted(needed))})


def methods_without_policy(service_names: Iterable[str]) -> list[str]:
    """`service/method` of every method of these (generated, imported) services that has no entry."""
    pool = descriptor_pool.Default()
    return [f"{name}/{method.name}" for name in service_names
            for method in pool.FindServiceByName(name).methods if method.name not in POLICY.get(name, {})]
