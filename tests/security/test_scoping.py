"""Customer scoping: a caller scoped to one customer (`x-fleetops-customer: customers/{id}`, as the
mobile backend and customer portals are) sees only that customer's resources in every List, and gets
PERMISSION_DENIED for another customer's resource and for a name that does not exist (AIP-211: it
must not learn which). Shared reference data stays readable; the provider's internal records are denied.

The read RPCs are taken from the service descriptors, so a new Get, List or BatchGet RPC without a
case below fails `test_every_read_rpc_has_a_scoping_case`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from fleetops.audit.v1 import audit_pb2
from fleetops.fleet.v1 import fleet_service_pb2 as fpb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fpb_grpc
from fleetops.fleet.v1 import meters_pb2, placement_pb2, replacement_pb2
from fleetops.fleet.v1 import resources_pb2 as fres
from fleetops.invoicing.v1 import billing_pb2, contracts_pb2, plans_pb2
from fleetops.invoicing.v1 import invoicing_service_pb2 as ipb
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as ipb_grpc
from fleetops.maintenance.v1 import diagnostics_pb2, scheduling_pb2
from fleetops.maintenance.v1 import maintenance_service_pb2 as mpb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as mpb_grpc
from fleetops.maintenance.v1 import resources_pb2 as mres
from google.protobuf.message import Message
from google.type import date_pb2

from tests.fleet.fleet_factory import at, stamp
from tests.security.scoping_world import World, build_world, scoped_channel

pytestmark = pytest.mark.xdist_group("scoping")  # one worker builds the two customers' world once per back end

SERVICES = {"fleet": (fpb, "FleetService"), "maintenance": (mpb, "MaintenanceService"),
            "invoicing": (ipb, "InvoicingService")}
STUB_TYPES = {"fleet": fpb_grpc.FleetServiceStub, "maintenance": mpb_grpc.MaintenanceServiceStub,
              "invoicing": ipb_grpc.InvoicingServiceStub}
# Reads whose names do not start with Get/List/BatchGet but that return a customer's data.
OTHER_READS = {"invoicing": {"RenderInvoice", "PreviewBillingRun"}}
# Read RPCs deliberately without a case here (none today): add `"Method": "why"` to exempt one.
EXEMPT: dict[str, dict[str, str]] = {"fleet": {}, "maintenance": {}, "invoicing": {}}
NOBODY = "nobody-0000"

Request = Callable[[World], Message]


@dataclass(frozen=True)
class Owned:
    """Resources of one customer. A Get (no `owners`): its own resource answers, `theirs` and `missing`
    are PERMISSION_DENIED. A List: every item is the caller's customer's (`owners` names each item's
    customer) and there is at least one; `theirs`/`missing` name another's or no parent: denied."""

    mine: Request
    theirs: Request | None = None
    missing: Request | None = None
    owners: Callable[[World, Message], list[str]] | None = None
    technician: bool = False  # the call is the technician API's: the caller is the world's technician


@dataclass(frozen=True)
class Shared:
    """Reference data every caller reads; a name that does not exist is NOT_FOUND (existence is no secret)."""

    existing: Request
    missing: Request | None = None


@dataclass(frozen=True)
class Internal:
    """The provider's own records: PERMISSION_DENIED for a scoped caller."""

    request: Request


def _assets_owners(items_of: Callable[[Message], list], asset_of: Callable = lambda item: item.asset):
    return lambda world, response: [world.owner_of_asset.get(asset_of(item), f"unknown: {asset_of(item)}")
                                    for item in items_of(response)]


def _prefix_owners(items_of: Callable[[Message], list]):
    return lambda world, response: ["/".join(item.name.split("/")[:2]) for item in items_of(response)]


def _field_owners(items_of: Callable[[Message], list]):
    return lambda world, response: [item.customer for item in items_of(response)]


def _usage(asset: str) -> meters_pb2.GetUsageRequest:
    return meters_pb2.GetUsageRequest(assets=[asset], register="mono_impressions", start_time=stamp(at(1)),
                                      end_time=stamp(at(20)))


def _downtime(**fields) -> mpb.ListDowntimeIntervalsRequest:
    now = datetime.now(UTC)
    return mpb.ListDowntimeIntervalsRequest(start_time=stamp(now - timedelta(days=1)),
                                            end_time=stamp(now + timedelta(days=1)), page_size=1000, **fields)


ALL = 1000
CASES: dict[str, dict[str, Owned | Shared | Internal]] = {
    "fleet": {
        "GetCustomer": Owned(lambda w: fpb.GetCustomerRequest(name=w.mine.customer),
                             lambda w: fpb.GetCustomerRequest(name=w.theirs.customer),
                             lambda w: fpb.GetCustomerRequest(name=f"customers/{NOBODY}")),
        "ListCustomers": Owned(lambda w: fpb.ListCustomersRequest(page_size=ALL),
                               owners=_prefix_owners(lambda r: r.customers)),
        "GetSite": Owned(lambda w: fpb.GetSiteRequest(name=w.mine.site),
                         lambda w: fpb.GetSiteRequest(name=w.theirs.site),
                         lambda w: fpb.GetSiteRequest(name=f"{w.mine.customer}/sites/{NOBODY}")),
        "ListSites": Owned(lambda w: fpb.ListSitesRequest(parent="customers/-", page_size=ALL),
                           lambda w: fpb.ListSitesRequest(parent=w.theirs.customer),
                           lambda w: fpb.ListSitesRequest(parent=f"customers/{NOBODY}"),
                           owners=_prefix_owners(lambda r: r.sites)),
        "GetLocation": Owned(lambda w: fpb.GetLocationRequest(name=w.mine.location),
                             lambda w: fpb.GetLocationRequest(name=w.theirs.location),
                             lambda w: fpb.GetLocationRequest(name=f"{w.mine.site}/locations/{NOBODY}")),
        "ListLocations": Owned(lambda w: fpb.ListLocationsRequest(parent=w.mine.site, page_size=ALL),
                               lambda w: fpb.ListLocationsRequest(parent=w.theirs.site),
                               lambda w: fpb.ListLocationsRequest(parent=f"customers/{NOBODY}/sites/x"),
                               owners=_prefix_owners(lambda r: r.locations)),
        "GetDeviceModel": Shared(lambda w: fpb.GetDeviceModelRequest(name=w.device_model),
                                 lambda w: fpb.GetDeviceModelRequest(name=f"deviceModels/{NOBODY}")),
        "ListDeviceModels": Shared(lambda w: fpb.ListDeviceModelsRequest(page_size=ALL)),
        "GetAsset": Owned(lambda w: fpb.GetAssetRequest(name=w.mine.asset),
                          lambda w: fpb.GetAssetRequest(name=w.theirs.asset),
                          lambda w: fpb.GetAssetRequest(name=f"assets/{NOBODY}")),
        "BatchGetAssets": Owned(lambda w: fpb.BatchGetAssetsRequest(names=[w.mine.asset]),
                                lambda w: fpb.BatchGetAssetsRequest(names=[w.mine.asset, w.theirs.asset]),
                                lambda w: fpb.BatchGetAssetsRequest(names=[w.mine.asset, f"assets/{NOBODY}"])),
        "ListAssets": Owned(lambda w: fpb.ListAssetsRequest(page_size=ALL), owners=_field_owners(lambda r: r.assets)),
        "ListAssetMoves": Owned(lambda w: fpb.ListAssetMovesRequest(name=w.mine.asset, page_size=ALL),
                                lambda w: fpb.ListAssetMovesRequest(name=w.theirs.asset),
                                lambda w: fpb.ListAssetMovesRequest(name=f"assets/{NOBODY}"),
                                owners=_assets_owners(lambda r: r.moves)),
        "ListMeterReadings": Owned(lambda w: meters_pb2.ListMeterReadingsRequest(asset=w.mine.asset, page_size=ALL),
                                   lambda w: meters_pb2.ListMeterReadingsRequest(asset=w.theirs.asset),
                                   lambda w: meters_pb2.ListMeterReadingsRequest(asset=f"assets/{NOBODY}"),
                                   owners=_assets_owners(lambda r: r.readings)),
        "GetUsage": Owned(lambda w: _usage(w.mine.asset), lambda w: _usage(w.theirs.asset),
                          lambda w: _usage(f"assets/{NOBODY}")),
        "GetFleetKpis": Owned(lambda w: fpb.GetFleetKpisRequest(customer=w.mine.customer),
                              lambda w: fpb.GetFleetKpisRequest(customer=w.theirs.customer),
                              lambda w: fpb.GetFleetKpisRequest(customer=f"customers/{NOBODY}")),
        "GetPlacementPlan": Owned(lambda w: placement_pb2.GetPlacementPlanRequest(name=w.mine.placement_plan),
                                  lambda w: placement_pb2.GetPlacementPlanRequest(name=w.theirs.placement_plan),
                                  lambda w: placement_pb2.GetPlacementPlanRequest(name=f"placementPlans/{NOBODY}")),
        "ListPlacementPlans": Owned(lambda w: placement_pb2.ListPlacementPlansRequest(page_size=ALL),
                                    owners=_field_owners(lambda r: r.placement_plans)),
        "GetReplacementPlan": Owned(
            lambda w: replacement_pb2.GetReplacementPlanRequest(name=w.mine.replacement_plan),
            lambda w: replacement_pb2.GetReplacementPlanRequest(name=w.theirs.replacement_plan),
            lambda w: replacement_pb2.GetReplacementPlanRequest(name=f"replacementPlans/{NOBODY}")),
        "ListReplacementPlans": Owned(lambda w: replacement_pb2.ListReplacementPlansRequest(page_size=ALL),
                                      owners=_field_owners(lambda r: r.replacement_plans)),
        "ListAuditRecords": Internal(lambda w: audit_pb2.ListAuditRecordsRequest(resource=w.mine.customer)),
    },
    "maintenance": {
        "GetAlarm": Owned(lambda w: mpb.GetAlarmRequest(name=w.mine.alarm),
                          lambda w: mpb.GetAlarmRequest(name=w.theirs.alarm),
                          lambda w: mpb.GetAlarmRequest(name="alarms/999999999")),
        "ListAlarms": Owned(lambda w: mpb.ListAlarmsRequest(page_size=ALL), owners=_assets_owners(lambda r: r.alarms)),
        "GetWorkOrder": Owned(lambda w: mpb.GetWorkOrderRequest(name=w.mine.work_order),
                              lambda w: mpb.GetWorkOrderRequest(name=w.theirs.work_order),
                              lambda w: mpb.GetWorkOrderRequest(name=f"workOrders/{NOBODY}")),
        "ListWorkOrders": Owned(lambda w: mpb.ListWorkOrdersRequest(page_size=ALL),
                                owners=_assets_owners(lambda r: r.work_orders)),
        "ListMyWorkOrders": Owned(lambda w: mpb.ListMyWorkOrdersRequest(page_size=ALL),
                                  owners=_assets_owners(lambda r: r.work_orders), technician=True),
        "ListDowntimeIntervals": Owned(lambda w: _downtime(), owners=_assets_owners(lambda r: r.intervals)),
        "GetTechnician": Internal(lambda w: mpb.GetTechnicianRequest(name=w.technician)),
        "ListTechnicians": Internal(lambda w: mpb.ListTechniciansRequest()),
        "GetSlaPolicy": Shared(lambda w: mpb.GetSlaPolicyRequest(name=w.sla_policy),
                               lambda w: mpb.GetSlaPolicyRequest(name=f"slaPolicies/{NOBODY}")),
        "ListSlaPolicies": Shared(lambda w: mpb.ListSlaPoliciesRequest(page_size=ALL)),
        "GetPreventivePlan": Internal(lambda w: mpb.GetPreventivePlanRequest(name=f"preventivePlans/{NOBODY}")),
        "ListPreventivePlans": Internal(lambda w: mpb.ListPreventivePlansRequest()),
        "ListShipments": Owned(lambda w: mpb.ListShipmentsRequest(page_size=ALL),
                               owners=_assets_owners(lambda r: r.shipments)),
        "GetSchedule": Internal(lambda w: scheduling_pb2.GetScheduleRequest(name=f"schedules/{NOBODY}")),
        "ListSchedules": Internal(lambda w: scheduling_pb2.ListSchedulesRequest()),
        "ListAuditRecords": Internal(lambda w: audit_pb2.ListAuditRecordsRequest(resource=w.mine.work_order)),
    },
    "invoicing": {
        "GetIssuingEntity": Shared(lambda w: ipb.GetIssuingEntityRequest(name=w.issuing_entity),
                                   lambda w: ipb.GetIssuingEntityRequest(name=f"issuingEntities/{NOBODY}")),
        "ListIssuingEntities": Shared(lambda w: ipb.ListIssuingEntitiesRequest(page_size=ALL)),
        "GetPlan": Shared(lambda w: ipb.GetPlanRequest(name=w.plan),
                          lambda w: ipb.GetPlanRequest(name=f"plans/{NOBODY}")),
        "ListPlans": Shared(lambda w: ipb.ListPlansRequest(page_size=ALL)),
        "GetPlanVersion": Shared(lambda w: ipb.GetPlanVersionRequest(name=w.plan_version),
                                 lambda w: ipb.GetPlanVersionRequest(name=f"plans/{NOBODY}/versions/1")),
        "ListPlanVersions": Shared(lambda w: ipb.ListPlanVersionsRequest(parent=w.plan)),
        "GetContract": Owned(lambda w: ipb.GetContractRequest(name=w.mine.contract),
                             lambda w: ipb.GetContractRequest(name=w.theirs.contract),
                             lambda w: ipb.GetContractRequest(name=f"contracts/{NOBODY}")),
        "ListContracts": Owned(lambda w: ipb.ListContractsRequest(page_size=ALL),
                               owners=_field_owners(lambda r: r.contracts)),
        "GetBillingRun": Owned(lambda w: ipb.GetBillingRunRequest(name=w.mine.billing_run),
                               lambda w: ipb.GetBillingRunRequest(name=w.theirs.billing_run),
                               lambda w: ipb.GetBillingRunRequest(name=f"billingRuns/{NOBODY}")),
        "ListBillingRuns": Owned(lambda w: ipb.ListBillingRunsRequest(page_size=ALL),
                                 owners=_field_owners(lambda r: r.billing_runs)),
        "PreviewBillingRun": Owned(lambda w: ipb.PreviewBillingRunRequest(name=w.mine.billing_run),
                                   lambda w: ipb.PreviewBillingRunRequest(name=w.theirs.billing_run),
                                   lambda w: ipb.PreviewBillingRunRequest(name=f"billingRuns/{NOBODY}")),
        "GetInvoice": Owned(lambda w: ipb.GetInvoiceRequest(name=w.mine.invoice),
                            lambda w: ipb.GetInvoiceRequest(name=w.theirs.invoice),
                            lambda w: ipb.GetInvoiceRequest(name=f"invoices/{NOBODY}")),
        "ListInvoices": Owned(lambda w: ipb.ListInvoicesRequest(page_size=ALL), owners=_field_owners(lambda r: r.invoices)),
        "RenderInvoice": Owned(
            lambda w: ipb.RenderInvoiceRequest(name=w.mine.invoice, format=ipb.RENDER_FORMAT_CSV),
            lambda w: ipb.RenderInvoiceRequest(name=w.theirs.invoice, format=ipb.RENDER_FORMAT_CSV),
            lambda w: ipb.RenderInvoiceRequest(name=f"invoices/{NOBODY}", format=ipb.RENDER_FORMAT_CSV)),
        "ListAuditRecords": Internal(lambda w: audit_pb2.ListAuditRecordsRequest(resource=w.mine.invoice)),
        "GetRevenueMetrics": Internal(lambda w: ipb.GetRevenueMetricsRequest(
            currency_code="JPY", period_start=date_pb2.Date(year=2026, month=3, day=1))),
    },
}


def read_rpcs(service: str) -> set[str]:
    module, name = SERVICES[service]
    methods = module.DESCRIPTOR.services_by_name[name].methods
    return {m.name for m in methods if m.name.startswith(("Get", "List", "BatchGet"))} | OTHER_READS.get(service, set())


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_read_rpc_has_a_scoping_case(service):
    assert set(CASES[service]) | set(EXEMPT[service]) == read_rpcs(service)
    assert not set(CASES[service]) & set(EXEMPT[service])


@pytest.fixture(scope="module")
def world(suite) -> World:
    return build_world(suite)


def _scoped(suite, service: str, customer: str, **identity):
    return STUB_TYPES[service](scoped_channel(suite[service], customer, **identity))


def _admin(suite, service: str):
    return STUB_TYPES[service](suite[service].channel)


def _code(call: Callable[[], Message]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


@pytest.mark.parametrize(("service", "method"), [(s, m) for s in sorted(CASES) for m in sorted(CASES[s])])
def test_a_scoped_caller_reads_only_its_customers_resources(suite, world, service, method):
    case = CASES[service][method]
    identity = {"subject": world.technician.split("/", 1)[1], "roles": "technician"} \
        if isinstance(case, Owned) and case.technician else {}
    call = getattr(_scoped(suite, service, world.mine.customer, **identity), method)
    if isinstance(case, Internal):
        assert _code(lambda: call(case.request(world))) == grpc.StatusCode.PERMISSION_DENIED
        return
    if isinstance(case, Shared):
        call(case.existing(world))
        if case.missing:
            assert _code(lambda: call(case.missing(world))) == grpc.StatusCode.NOT_FOUND
        return
    answer = call(case.mine(world))
    if case.owners:
        owners = case.owners(world, answer)
        assert owners and set(owners) == {world.mine.customer}
    for other in (case.theirs, case.missing):
        if other:
            request = other(world)
            assert _code(functools.partial(call, request)) == grpc.StatusCode.PERMISSION_DENIED, request
    if case.theirs and not case.technician:  # denied by the scope, not for want of the resource
        getattr(_admin(suite, service), method)(case.theirs(world))


def test_a_scoped_list_pages_through_its_own_resources_only(suite, world):
    """The filter is in the query: a page of one is never empty while the caller's items remain."""
    stub = _scoped(suite, "fleet", world.mine.customer)
    names, token = [], ""
    while True:
        page = stub.ListAssets(fpb.ListAssetsRequest(page_size=1, page_token=token))
        assert len(page.assets) == 1
        names += [a.name for a in page.assets]
        token = page.next_page_token
        if not token:
            break
    assert names == [world.mine.asset]


def test_a_malformed_scope_denies_everything(suite, world):
    stub = _scoped(suite, "fleet", world.mine.customer.split("/", 1)[1])  # "acme", not "customers/acme"
    assert _code(lambda: stub.GetCustomer(fpb.GetCustomerRequest(name=world.mine.customer))) \
        == grpc.StatusCode.PERMISSION_DENIED
    assert _code(lambda: stub.ListDeviceModels(fpb.ListDeviceModelsRequest())) == grpc.StatusCode.PERMISSION_DENIED


# Every mutating RPC, aimed at another customer's resource, at shared reference data or at the
# provider's internal records. Technician verbs are called by the world's technician, to whom the
# other customer's order *is* dispatched: the customer scope alone must refuse them.
TECHNICIAN_VERBS = {"AcceptWorkOrder", "StartTravel", "ArriveOnSite", "PutOnHold", "CompleteWorkOrder", "AddWorkNote"}
NEVER = date_pb2.Date(year=2026, month=4, day=1)


def _their_order_verb(w: World) -> mpb.WorkOrderVerbRequest:
    return mpb.WorkOrderVerbRequest(name=w.theirs.work_order, reason="probe")


MUTATIONS: dict[str, dict[str, Request]] = {
    "fleet": {
        "CreateCustomer": lambda w: fpb.CreateCustomerRequest(customer_id="intruder", customer=fres.Customer(
            legal_name="x", currency_code="JPY")),
        "UpdateCustomer": lambda w: fpb.UpdateCustomerRequest(customer=fres.Customer(name=w.theirs.customer,
                                                                                     legal_name="Mine now")),
        "CreateSite": lambda w: fpb.CreateSiteRequest(parent=w.theirs.customer, site_id="intruder",
                                                      site=fres.Site(display_name="x", time_zone="Asia/Tokyo")),
        "UpdateSite": lambda w: fpb.UpdateSiteRequest(site=fres.Site(name=w.theirs.site, display_name="x")),
        "CreateLocation": lambda w: fpb.CreateLocationRequest(parent=w.theirs.site, location_id="intruder",
                                                              location=fres.Location(building="x")),
        "UpdateLocation": lambda w: fpb.UpdateLocationRequest(location=fres.Location(name=w.theirs.location)),
        "CreateDeviceModel": lambda w: fpb.CreateDeviceModelRequest(device_model_id="intruder-model",
                                                                    device_model=fres.DeviceModel()),
        "UpdateDeviceModel": lambda w: fpb.UpdateDeviceModelRequest(device_model=fres.DeviceModel(
            name=w.device_model, display_name="x"), update_mask={"paths": ["display_name"]}),
        "CreateAsset": lambda w: fpb.CreateAssetRequest(asset_id="intruder-asset", asset=fres.Asset(
            serial_number="SN-X", device_model=w.device_model, customer=w.theirs.customer)),
        "UpdateAsset": lambda w: fpb.UpdateAssetRequest(asset=fres.Asset(name=w.theirs.asset, owner_party="me")),
        "InstallAsset": lambda w: fpb.InstallAssetRequest(name=w.theirs.asset, site=w.theirs.site, install_date=NEVER),
        "ActivateAsset": lambda w: fpb.AssetTransitionRequest(name=w.theirs.asset),
        "SuspendAsset": lambda w: fpb.AssetTransitionRequest(name=w.theirs.asset),
        "RetireAsset": lambda w: fpb.AssetTransitionRequest(name=w.theirs.asset),
        "MoveAsset": lambda w: fpb.MoveAssetRequest(name=w.theirs.asset, site=w.theirs.site),
        "RecordMeterReadings": lambda w: meters_pb2.RecordMeterReadingsRequest(readings=[meters_pb2.MeterReading(
            asset=w.theirs.asset, register="mono_impressions", value="5000", read_time=stamp(at(25)))]),
        "RecordMeterReset": lambda w: meters_pb2.RecordMeterResetRequest(reset=meters_pb2.MeterReset(
            asset=w.theirs.asset, register="mono_impressions", reset_time=stamp(at(26)), value_before="5000",
            value_after="0")),
        "ImportFleet": lambda w: fpb.ImportFleetRequest(),
        "OptimizePlacement": lambda w: placement_pb2.OptimizePlacementRequest(customer=w.theirs.customer),
        "ApplyPlacementPlan": lambda w: placement_pb2.ApplyPlacementPlanRequest(name=w.theirs.placement_plan),
        "PlanReplacements": lambda w: replacement_pb2.PlanReplacementsRequest(customer=w.theirs.customer),
    },
    "maintenance": {
        "IngestDiagnostics": lambda w: diagnostics_pb2.IngestDiagnosticsRequest(),
        "StreamDiagnostics": lambda w: iter([diagnostics_pb2.IngestDiagnosticsRequest()]),
        "AcknowledgeAlarm": lambda w: mpb.AcknowledgeAlarmRequest(name=w.theirs.alarm),
        "ExpireQuietAlarms": lambda w: mpb.ExpireQuietAlarmsRequest(),
        "CreateWorkOrder": lambda w: mpb.CreateWorkOrderRequest(work_order=mres.WorkOrder(asset=w.theirs.asset,
                                                                                          reason="probe")),
        "ScheduleWorkOrder": lambda w: mpb.ScheduleWorkOrderRequest(name=w.theirs.work_order, start_time=stamp(at(27)),
                                                                    end_time=stamp(at(28))),
        "DispatchWorkOrder": lambda w: mpb.DispatchWorkOrderRequest(name=w.theirs.work_order, technician=w.technician),
        "ResumeWorkOrder": _their_order_verb,
        "CancelWorkOrder": _their_order_verb,
        "AcceptWorkOrder": _their_order_verb,
        "StartTravel": _their_order_verb,
        "ArriveOnSite": _their_order_verb,
        "PutOnHold": _their_order_verb,
        "CompleteWorkOrder": lambda w: mpb.CompleteWorkOrderRequest(name=w.theirs.work_order, completion=mres.Completion(
            resolution_code="fixed")),
        "AddWorkNote": lambda w: mpb.AddWorkNoteRequest(name=w.theirs.work_order, text="probe"),
        "CreateTechnician": lambda w: mpb.CreateTechnicianRequest(technician_id="intruder",
                                                                  technician=mres.Technician(display_name="x")),
        "UpdateTechnician": lambda w: mpb.UpdateTechnicianRequest(technician=mres.Technician(name=w.technician)),
        "CreateSlaPolicy": lambda w: mpb.CreateSlaPolicyRequest(sla_policy_id="intruder", sla_policy=mres.SlaPolicy()),
        "UpdateSlaPolicy": lambda w: mpb.UpdateSlaPolicyRequest(sla_policy=mres.SlaPolicy(name=w.sla_policy)),
        "CreatePreventivePlan": lambda w: mpb.CreatePreventivePlanRequest(preventive_plan_id="intruder",
                                                                          preventive_plan=mres.PreventivePlan()),
        "UpdatePreventivePlan": lambda w: mpb.UpdatePreventivePlanRequest(preventive_plan=mres.PreventivePlan(
            name=f"preventivePlans/{NOBODY}")),
        "PlanDuePreventiveMaintenance": lambda w: mpb.PlanDuePreventiveMaintenanceRequest(),
        "CreateSchedule": lambda w: scheduling_pb2.CreateScheduleRequest(territory="north", date=NEVER),
        "ApplySchedule": lambda w: scheduling_pb2.ApplyScheduleRequest(name=f"schedules/{NOBODY}"),
        "ReplanSchedule": lambda w: scheduling_pb2.ReplanScheduleRequest(name=f"schedules/{NOBODY}",
                                                                         work_order=w.theirs.work_order),
    },
    "invoicing": {
        "CreateIssuingEntity": lambda w: ipb.CreateIssuingEntityRequest(issuing_entity_id="intruder",
                                                                        issuing_entity=ipb.IssuingEntity()),
        "UpdateIssuingEntity": lambda w: ipb.UpdateIssuingEntityRequest(issuing_entity=ipb.IssuingEntity(
            name=w.issuing_entity)),
        "CreatePlan": lambda w: ipb.CreatePlanRequest(plan_id="intruder-plan", plan=plans_pb2.Plan(
            display_name="x", currency_code="JPY")),
        "CreatePlanVersion": lambda w: ipb.CreatePlanVersionRequest(parent=w.plan, plan_version=plans_pb2.PlanVersion()),
        "CreateContract": lambda w: ipb.CreateContractRequest(contract_id="intruder", contract=contracts_pb2.Contract(
            customer=w.theirs.customer)),
        "UpdateContract": lambda w: ipb.UpdateContractRequest(contract=contracts_pb2.Contract(
            name=w.theirs.contract, purchase_order="PO-X")),
        "CreateBillingRun": lambda w: ipb.CreateBillingRunRequest(billing_run_id="intruder-run", billing_run=(
            billing_pb2.BillingRun(period_start=NEVER))),
        "ExecuteBillingRun": lambda w: ipb.ExecuteBillingRunRequest(name=w.theirs.billing_run),
        "FinalizeInvoice": lambda w: ipb.FinalizeInvoiceRequest(name=w.theirs.invoice),
        "CreateCreditNote": lambda w: ipb.CreateCreditNoteRequest(invoice=w.theirs.invoice, reason="probe"),
    },
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_mutating_rpc_has_a_scoping_case(service):
    module, name = SERVICES[service]
    every = {m.name for m in module.DESCRIPTOR.services_by_name[name].methods}
    assert set(MUTATIONS[service]) == every - read_rpcs(service)


@pytest.mark.parametrize(("service", "method"), [(s, m) for s in sorted(MUTATIONS) for m in sorted(MUTATIONS[s])])
def test_a_scoped_caller_cannot_change_what_is_not_its_customers(suite, world, service, method):
    identity = {"subject": world.technician.split("/", 1)[1], "roles": "technician"} \
        if method in TECHNICIAN_VERBS else {"roles": "admin"}
    call = getattr(_scoped(suite, service, world.mine.customer, **identity), method)
    request = MUTATIONS[service][method](world)
    if method == "StreamDiagnostics":
        assert _code(lambda: list(call(request))) == grpc.StatusCode.PERMISSION_DENIED
    else:
        assert _code(lambda: call(request)) == grpc.StatusCode.PERMISSION_DENIED


def test_the_refused_mutations_changed_nothing_of_theirs(suite, world):
    """Only the administrator who built the world appears in the other customer's audit trails."""
    trails = {"fleet": [world.theirs.customer, world.theirs.site, world.theirs.asset],
              "maintenance": [world.theirs.work_order, world.theirs.alarm],
              "invoicing": [world.theirs.contract, world.theirs.invoice, world.theirs.billing_run]}
    for service, resources in trails.items():
        for resource in resources:
            records = _admin(suite, service).ListAuditRecords(audit_pb2.ListAuditRecordsRequest(
                resource=resource, page_size=ALL)).audit_records
            assert {r.actor for r in records} <= {"test-admin"}, resource
    asset = _admin(suite, "fleet").GetAsset(fpb.GetAssetRequest(name=world.theirs.asset))
    assert asset.state == fres.ASSET_STATE_ACTIVE and asset.owner_party == ""


def test_a_scoped_caller_changes_its_own_but_cannot_hand_it_to_another_customer(suite, world):
    fleet = _scoped(suite, "fleet", world.mine.customer, roles="admin")
    renamed = fleet.UpdateCustomer(fpb.UpdateCustomerRequest(
        customer=fres.Customer(name=world.mine.customer, legal_name="Renamed KK"),
        update_mask={"paths": ["legal_name"]}))
    assert renamed.legal_name == "Renamed KK"
    invoicing = _scoped(suite, "invoicing", world.mine.customer, roles="admin")
    assert _code(lambda: invoicing.UpdateContract(ipb.UpdateContractRequest(
        contract=contracts_pb2.Contract(name=world.mine.contract, customer=world.theirs.customer),
        update_mask={"paths": ["customer"]}))) == grpc.StatusCode.PERMISSION_DENIED
    contract = _admin(suite, "invoicing").GetContract(ipb.GetContractRequest(name=world.mine.contract))
    assert contract.customer == world.mine.customer
