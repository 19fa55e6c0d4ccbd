"""Builders for the work-order tests: assets in the real fleet service, an OrderDesk on the real
maintenance database (as ingestion drives it), technician channels and verb shortcuts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc
from fleetops.fleet.v1 import fleet_service_pb2 as fleet_pb
from fleetops.fleet.v1 import resources_pb2 as fleet_res
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as pb_grpc
from fleetops.maintenance.v1 import resources_pb2 as res
from google.protobuf import duration_pb2, timestamp_pb2
from google.type import dayofweek_pb2, timeofday_pb2
from prometheus_client import CollectorRegistry

from services.maintenance.asset_directory import AssetDirectory, AssetRef
from services.maintenance.domain.diagnostics import Action, NormalizedFault, Severity
from services.maintenance.orders import OrderDesk, OrderRound
from services.runtime.config import load_config
from services.runtime.db import Database
from services.runtime.metrics import GrpcServerMetrics
from services.runtime.pagination import PageTokens
from services.runtime.server import Runtime
from tests.conftest import _DefaultMetadata
from tests.fleet.fleet_factory import Fleet, unique


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def hours(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(hours=value))
    return duration


def technician_channel(maintenance, technician_id: str) -> grpc.Channel:
    metadata = (("x-fleetops-subject", technician_id), ("x-fleetops-roles", "technician"))
    return grpc.intercept_channel(maintenance.raw_channel, _DefaultMetadata(metadata))


def weekday_hours(opens: int = 9, closes: int = 17) -> list[fleet_res.OpeningHours]:
    """Monday to Friday, `opens`:00 to `closes`:00."""
    return [fleet_res.OpeningHours(day=day, open=timeofday_pb2.TimeOfDay(hours=opens),
                                   close=timeofday_pb2.TimeOfDay(hours=closes))
            for day in range(dayofweek_pb2.MONDAY, dayofweek_pb2.FRIDAY + 1)]


def forklift_fault(asset: str, *, fault_key: str = "forklift/spn-91/fmi-3", category: str = "electrical",
                   severity: Severity = Severity.MAJOR, skill: str | None = "forklift-electrical",
                   action: Action = Action.DISPATCH) -> NormalizedFault:
    return NormalizedFault(asset, fault_key, f"j1939-dtc:0:{fault_key}", severity, category, action, skill, 60,
                           ("wiring-harness",), "test fault")


@dataclass
class OrdersWorld:
    """The maintenance server plus direct access to its database, as the ingestion path has it."""

    maintenance: object
    fleet: object
    database: Database
    desk: OrderDesk
    directory: AssetDirectory
    metrics: CollectorRegistry  # the desk's metrics

    def orders_created(self, kind: str = "corrective") -> float:
        """The desk's fleetops_maintenance_work_orders_created_total for `kind`."""
        return self.metrics.get_sample_value("fleetops_maintenance_work_orders_created_total", {"kind": kind}) or 0.0

    @property
    def stub(self) -> pb_grpc.MaintenanceServiceStub:
        return pb_grpc.MaintenanceServiceStub(self.maintenance.channel)

    def technician(self, prefix: str = "tech") -> tuple[str, pb_grpc.MaintenanceServiceStub]:
        technician_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.stub.CreateTechnician(pb.CreateTechnicianRequest(technician_id=technician_id, technician=res.Technician(
            display_name=technician_id, skills=["forklift-electrical"], time_zone="Asia/Tokyo")))
        return technician_id, pb_grpc.MaintenanceServiceStub(technician_channel(self.maintenance, technician_id))

    def asset(self, opening_hours: list | None = None, time_zone: str = "Asia/Tokyo") -> AssetRef:
        fleet = Fleet(self.fleet.channel)
        customer = fleet.customer()
        site = fleet.stub.CreateSite(fleet_pb.CreateSiteRequest(
            parent=customer.name, site_id=unique("site"),
            site=fleet_res.Site(display_name="Depot", time_zone=time_zone, opening_hours=opening_hours or [])))
        model = fleet.printer_model()
        asset = fleet.asset(customer, model, site)
        return self.resolve(asset.name)

    def resolve(self, asset_name: str, session=None) -> AssetRef:
        asset_id = asset_name.split("/", 1)[1]
        if session is not None:
            return self.directory.resolve(session, [asset_id], lock=True)[asset_id]
        with self.database.unit_of_work() as own:
            return self.directory.resolve(own, [asset_id], lock=True)[asset_id]

    def orders(self, session, asset_name: str) -> tuple[OrderRound, AssetRef]:
        """What a processing round over this one asset decides with (the asset locked), and the asset."""
        asset = self.resolve(asset_name, session)
        return self.desk.round(session, {asset.asset_id: asset}), asset

    def in_round(self, asset_name: str, work: Callable):
        """`work(orders, asset)` in a unit of work, as one processing round over the asset."""
        with self.database.unit_of_work() as session:
            return work(*self.orders(session, asset_name))

    def in_unit_of_work(self, work: Callable):
        with self.database.unit_of_work() as session:
            return work(session)

    def dispatched_order(self, technician_id: str, asset: AssetRef | None = None,
                         start: datetime | None = None) -> res.WorkOrder:
        asset = asset or self.asset()
        order = self.stub.CreateWorkOrder(pb.CreateWorkOrderRequest(work_order=res.WorkOrder(
            asset=asset.name, reason="customer called", skill="forklift-electrical",
            priority=res.SEVERITY_MAJOR)))
        start = start or datetime.now().astimezone() + timedelta(hours=1)
        order = self.stub.ScheduleWorkOrder(pb.ScheduleWorkOrderRequest(
            name=order.name, start_time=stamp(start), end_time=stamp(start + timedelta(hours=2))))
        return self.stub.DispatchWorkOrder(pb.DispatchWorkOrderRequest(name=order.name,
                                                                       technician=f"technicians/{technician_id}"))


def orders_world(maintenance, fleet) -> OrdersWorld:
    config = load_config("maintenance", database_url=maintenance.database_url, development_auth=True,
                         peers={"fleet": fleet.address})
    database = Database(maintenance.database_url)
    runtime = Runtime(config, database, PageTokens(b"test"), GrpcServerMetrics.create())
    return OrdersWorld(maintenance, fleet, database, OrderDesk(runtime), AssetDirectory(config), runtime.metrics.registry)
