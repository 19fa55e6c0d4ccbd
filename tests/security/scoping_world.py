"""Two customers, "mine" and "theirs", each with one of every kind of resource in the three services,
built through the public APIs by an unscoped administrator; and channels scoped to one customer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import grpc
from fleetops.fleet.v1 import fleet_service_pb2 as fpb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as fpb_grpc
from fleetops.fleet.v1 import resources_pb2 as fres
from fleetops.invoicing.v1 import invoicing_service_pb2_grpc as ipb_grpc
from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as mpb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as mpb_grpc
from fleetops.maintenance.v1 import resources_pb2 as mres
from google.protobuf import duration_pb2

from services.fleet.store_plans import PlacementPlanRow, ReplacementPlanRow
from services.maintenance.domain.consumables import LevelReading
from services.runtime.db import Database
from tests.conftest import _DefaultMetadata
from tests.fleet.fleet_factory import Fleet, at, unique
from tests.invoicing.invoicing_service_builders import Billing, fee
from tests.maintenance.maintenance_factory import alert_row, stamp
from tests.maintenance.maintenance_orders_helpers import orders_world

PERIOD = date(2026, 3, 1)


def scoped_channel(handle, customer: str, roles: str = "viewer", subject: str = "portal") -> grpc.Channel:
    """A channel whose calls carry an identity scoped to `customer` (a name, `customers/{id}`)."""
    metadata = (("x-fleetops-subject", subject), ("x-fleetops-roles", roles), ("x-fleetops-customer", customer))
    return grpc.intercept_channel(handle.raw_channel, _DefaultMetadata(metadata))


@dataclass
class Side:
    """One customer's resources, by name."""

    customer: str
    site: str = ""
    location: str = ""
    asset: str = ""
    placement_plan: str = ""
    replacement_plan: str = ""
    alarm: str = ""
    work_order: str = ""
    shipment: str = ""
    contract: str = ""
    billing_run: str = ""
    invoice: str = ""


@dataclass
class World:
    mine: Side
    theirs: Side
    device_model: str
    technician: str
    sla_policy: str
    issuing_entity: str
    plan: str
    plan_version: str
    owner_of_asset: dict[str, str] = field(default_factory=dict)


def build_world(suite) -> World:
    fleet = Fleet(suite["fleet"].channel)
    maintenance = mpb_grpc.MaintenanceServiceStub(suite["maintenance"].channel)
    billing = Billing(suite["invoicing"].channel)
    model = fleet.printer_model()
    issuer = billing.issuer()
    plan = billing.plan(fee("base", "1000"))
    technician = unique("tech")
    maintenance.CreateTechnician(mpb.CreateTechnicianRequest(technician_id=technician, technician=mres.Technician(
        display_name="Aiko", skills=["printer"], time_zone="Asia/Tokyo")))
    sla_policy = maintenance.CreateSlaPolicy(mpb.CreateSlaPolicyRequest(
        sla_policy_id=unique("sla"), sla_policy=mres.SlaPolicy(response_target=duration_pb2.Duration(seconds=3600),
                                                               resolution_target=duration_pb2.Duration(seconds=7200))))
    sides = [_side(suite, fleet, maintenance, billing, model, issuer, plan, technician) for _ in range(2)]
    return World(mine=sides[0], theirs=sides[1], device_model=model.name, technician=f"technicians/{technician}",
                 sla_policy=sla_policy.name, issuing_entity=issuer.name, plan=plan.name.rsplit("/versions/", 1)[0],
                 plan_version=plan.name, owner_of_asset={side.asset: side.customer for side in sides})


def _side(suite, fleet: Fleet, maintenance, billing: Billing, model, issuer, plan, technician: str) -> Side:
    customer = fleet.customer()
    site = fleet.site(customer)
    location = fleet.stub.CreateLocation(fpb.CreateLocationRequest(
        parent=site.name, location_id=unique("loc"), location=fres.Location(building="main", floor="1")))
    asset = fleet.asset(customer, model, site)
    fleet.stub.MoveAsset(fpb.MoveAssetRequest(name=asset.name, site=site.name, location=location.name,
                                              reason="closer to the printer room"))
    fleet.read(asset, (at(1), "1000"), (at(20), "4000"))
    side = Side(customer=customer.name, site=site.name, location=location.name, asset=asset.name)
    side.placement_plan, side.replacement_plan = _plans(suite["fleet"].database_url, customer.name)

    ingested = maintenance.IngestDiagnostics(_alert_event(asset.name))
    side.alarm = ingested.results[0].alarms[0]
    order = maintenance.CreateWorkOrder(mpb.CreateWorkOrderRequest(work_order=mres.WorkOrder(
        asset=asset.name, reason="customer called", priority=mres.SEVERITY_MAJOR)))
    start = datetime.now(UTC) + timedelta(hours=1)
    maintenance.ScheduleWorkOrder(mpb.ScheduleWorkOrderRequest(name=order.name, start_time=stamp(start),
                                                               end_time=stamp(start + timedelta(hours=2))))
    maintenance.DispatchWorkOrder(mpb.DispatchWorkOrderRequest(name=order.name, technician=f"technicians/{technician}"))
    side.work_order = order.name
    side.shipment = _shipment(suite, asset.name)

    side.contract = billing.contract(customer.name, plan, issuer, [asset.name], site=site.name).name
    run = billing.run(PERIOD, customer.name)
    side.billing_run = run.name
    side.invoice = billing.execute(run).invoices[0]
    return side


def _alert_event(asset: str) -> dpb.IngestDiagnosticsRequest:
    """A paper jam: an alarm on the asset (processed before the answer, which names the alarm)."""
    return dpb.IngestDiagnosticsRequest(events=[dpb.DiagnosticEvent(
        source=unique("collector"), source_event_id=uuid.uuid4().hex, asset=asset,
        observe_time=stamp(datetime.now(UTC)), printer_alert=alert_row())], wait_for_processing=True)


def _plans(fleet_database_url: str, customer: str) -> tuple[str, str]:
    """Optimizer plans come from solves; rows are written here so this test does not wait on a solver."""
    customer_id = customer.split("/", 1)[1]
    database = Database(fleet_database_url)
    try:
        with database.unit_of_work() as session:
            placement = PlacementPlanRow(id=unique("plan"), state="RUNNING", customer_id=customer_id,
                                         currency_code="JPY")
            replacement = ReplacementPlanRow(id=unique("plan"), state="RUNNING", customer_id=customer_id,
                                             currency_code="JPY")
            session.add_all([placement, replacement])
        return f"placementPlans/{placement.id}", f"replacementPlans/{replacement.id}"
    finally:
        database.dispose()


def _shipment(suite, asset: str) -> str:
    """A toner running out ships a cartridge (as ingestion of supply levels does)."""
    world = orders_world(suite["maintenance"], suite["fleet"])
    now = datetime.now(UTC)
    falling = [LevelReading(now - timedelta(days=d), 2.0 * d) for d in range(10, 0, -1)]
    try:
        [shipped] = world.in_round(asset, lambda orders, ref: orders.supply_levels(ref, "1.1", falling, now))
    finally:
        world.database.dispose()
    return shipped


def stubs(handle_by_service: dict, customer: str) -> dict:
    """Stubs of the three services on channels scoped to `customer`."""
    return {"fleet": fpb_grpc.FleetServiceStub(scoped_channel(handle_by_service["fleet"], customer)),
            "maintenance": mpb_grpc.MaintenanceServiceStub(scoped_channel(handle_by_service["maintenance"], customer)),
            "invoicing": ipb_grpc.InvoicingServiceStub(scoped_channel(handle_by_service["invoicing"], customer))}
