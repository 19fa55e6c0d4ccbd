"""Work orders for the back office: read, list, open by hand, plan, cancel; downtime and shipments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res
from google.protobuf.message import Message
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from services.maintenance.api.customer_scope import restrict_to_scoped_assets
from services.maintenance.domain.diagnostics import Severity
from services.maintenance.domain.sla import SlaReading, SlaStatus
from services.maintenance.domain.work_order_rules import CreateOrder
from services.maintenance.domain.work_orders import (
    OPEN_STATES,
    VisitWindow,
    WorkOrder,
    WorkOrderKind,
    WorkOrderState,
    cancel,
    dispatch,
    order_sla,
    resume,
    schedule,
)
from services.maintenance.store import TechnicianRow
from services.maintenance.store_ingest import AlarmRow
from services.maintenance.store_orders import (
    SHIPMENT_OPEN,
    WORK_ORDERS,
    ShipmentRow,
    WorkOrderRow,
    hours_of,
    load_order,
    save_order,
)
from services.runtime.db import utc_now
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from services.runtime.pagination import PageRequest
from services.runtime.resources import check_etag, etag_for, from_timestamp, parse_name, required_interval, to_timestamp
from services.runtime.scoping import restrict, visible

MAX_DOWNTIME_ASSETS = 1000
STATE_TO_PROTO = {state: res.WorkOrderState.Value(f"WORK_ORDER_STATE_{state.name}") for state in WorkOrderState}
STATE_FROM_PROTO = {v: k for k, v in STATE_TO_PROTO.items()}
KIND_TO_PROTO = {kind: res.WorkOrderKind.Value(f"WORK_ORDER_KIND_{kind.name}") for kind in WorkOrderKind}
KIND_FROM_PROTO = {v: k for k, v in KIND_TO_PROTO.items()}
SEVERITY_TO_PROTO = {severity: res.Severity.Value(f"SEVERITY_{severity.name}") for severity in Severity}
SEVERITY_FROM_PROTO = {v: k for k, v in SEVERITY_TO_PROTO.items()}
SLA_TO_PROTO = {status: res.SlaStatus.Value(f"SLA_STATUS_{status.name}") for status in SlaStatus}
SLA_FROM_PROTO = {v: k for k, v in SLA_TO_PROTO.items()}
_SHIPMENT_STATES = {res.SHIPMENT_STATE_OPEN: SHIPMENT_OPEN, res.SHIPMENT_STATE_DELIVERED: "delivered"}
OPEN_STATE_VALUES = sorted(state.value for state in OPEN_STATES)
_SCAN_CHUNK = 200

# What a verb does to an order: (session, row, order as loaded, now) -> the order after it.
OrderChange = Callable[[Session, WorkOrderRow, WorkOrder, datetime], WorkOrder]


def order_to_proto(row: WorkOrderRow, alarms: list[str], now: datetime) -> res.WorkOrder:
    order = load_order(row)
    message = res.WorkOrder(
        name=order.id, asset=order.asset, site=order.site, kind=KIND_TO_PROTO[order.kind],
        state=STATE_TO_PROTO[order.state], priority=SEVERITY_TO_PROTO[order.priority],
        families=sorted(order.families), skill=order.skill or "",
        expected_duration_minutes=order.expected_duration_minutes, likely_parts=order.likely_parts,
        reason=row.reason, alarms=alarms,
        pm_tasks=[res.PmTask(plan=task.plan, task=task.task, reason=task.reason) for task in order.pm_tasks],
        technician=f"technicians/{order.technician}" if order.technician else "",
        hold_reason=order.hold_reason or "", cancel_reason=order.cancel_reason or "",
        notes=[res.WorkNote(create_time=to_timestamp(n.at), technician=f"technicians/{n.technician}", text=n.text)
               for n in order.notes],
        create_time=to_timestamp(order.created_at), update_time=to_timestamp(order.updated_at),
        etag=etag_for(row.version), sla_tier=order.sla.tier if order.sla else "")
    if order.window:
        message.scheduled_start_time.CopyFrom(to_timestamp(order.window.start))
        message.scheduled_end_time.CopyFrom(to_timestamp(order.window.end))
    readings = order_sla(order, now, hours_of(row))
    if readings:
        message.response_sla.CopyFrom(_clock(readings[0]))
        message.resolution_sla.CopyFrom(_clock(readings[1]))
    if order.completion:
        done, reading = order.completion, order.completion.meter_reading
        message.completion.CopyFrom(res.Completion(
            resolution_code=done.resolution_code, labour_minutes=done.labour_minutes, notes=done.notes,
            parts_used=[res.PartUsed(part=p.part, quantity=p.quantity) for p in done.parts_used],
            meter_register=reading.meter if reading else "", meter_value=str(reading.value) if reading else ""))
        message.complete_time.CopyFrom(to_timestamp(order.completed_at))
    return message


def _clock(reading: SlaReading) -> res.SlaClock:
    clock = res.SlaClock(due_time=to_timestamp(reading.due_at), status=SLA_TO_PROTO[reading.status])
    if reading.status is not SlaStatus.MET:  # breached, or will breach at the due time if still unmet
        clock.breach_time.CopyFrom(to_timestamp(reading.due_at))
    return clock


def orders_to_proto(session: Session, rows: list[WorkOrderRow], now: datetime) -> list[res.WorkOrder]:
    names = [f"{WORK_ORDERS}/{row.id}" for row in rows]
    alarms: dict[str, list[str]] = {name: [] for name in names}
    if names:
        for alarm_id, order in session.execute(select(AlarmRow.id, AlarmRow.work_order_id)
                                               .where(AlarmRow.work_order_id.in_(names)).order_by(AlarmRow.id)):
            alarms[order].append(f"alarms/{alarm_id}")
    return [order_to_proto(row, alarms[name], now) for row, name in zip(rows, names, strict=True)]


def scan_page(session: Session, query: Select, page: PageRequest,
              keep: Callable[[WorkOrderRow], bool] | None) -> list[WorkOrderRow]:
    """Up to `page.size + 1` rows in id order after the page position that pass `keep` (a filter
    SQL cannot express, such as an SLA status that depends on the current time)."""
    after = page.after[0] if page.after else None
    found: list = []
    while len(found) <= page.size:
        chunk = query.order_by(WorkOrderRow.id).limit(max(page.size + 1, _SCAN_CHUNK))
        if after is not None:
            chunk = chunk.where(WorkOrderRow.id > after)
        batch = list(session.scalars(chunk))
        found += [row for row in batch if keep is None or keep(row)]
        if len(batch) < max(page.size + 1, _SCAN_CHUNK):
            break
        after = batch[-1].id
    return found[: page.size + 1]


def _customer_of(row: WorkOrderRow) -> str:
    return row.customer_id


def _timestamp_or_none(message: Message, field: str) -> datetime | None:
    return from_timestamp(getattr(message, field)) if message.HasField(field) else None


def _key(name: str, collection: str, field: str) -> str | None:
    return parse_name(name, collection, field) if name else None


class WorkOrderMethods:
    """Work orders, downtime and shipments (mixed into MaintenanceApi)."""

    def GetWorkOrder(self, request: pb.GetWorkOrderRequest, context) -> res.WorkOrder:
        key = parse_name(request.name, WORK_ORDERS)
        with self._db.unit_of_work() as session:
            row = visible(session.get(WorkOrderRow, key), request.name, _customer_of)
            return orders_to_proto(session, [row], utc_now())[0]

    def ListWorkOrders(self, request: pb.ListWorkOrdersRequest, context) -> pb.ListWorkOrdersResponse:
        query: dict[str, Any] = {
            "asset_id": _key(request.asset, "assets", "asset"),
            "customer_id": _key(request.customer, "customers", "customer"),
            "technician_id": _key(request.technician, "technicians", "technician"),
            "state": STATE_FROM_PROTO[request.state].value if request.state in STATE_FROM_PROTO else None,
        }
        if request.state and query["state"] is None:
            raise InvalidArgument.field("state", "is not a work order state")
        if request.sla_status and request.sla_status not in SLA_FROM_PROTO:
            raise InvalidArgument.field("sla_status", "is not an SLA status")
        completed_after = _timestamp_or_none(request, "completed_after")
        completed_before = _timestamp_or_none(request, "completed_before")
        sla_status = SLA_FROM_PROTO.get(request.sla_status)
        shape = {**query, "sla": request.sla_status, "after": str(completed_after), "before": str(completed_before)}
        page = self._tokens.parse(request.page_size, request.page_token, shape)
        statement = restrict(select(WorkOrderRow), WorkOrderRow.customer_id)
        for column, value in query.items():
            if value is not None:
                statement = statement.where(getattr(WorkOrderRow, column) == value)
        if completed_after is not None:
            statement = statement.where(WorkOrderRow.completed_time >= completed_after)
        if completed_before is not None:
            statement = statement.where(WorkOrderRow.completed_time < completed_before)
        now = utc_now()
        keep = None
        if sla_status is not None:
            statement = statement.where(WorkOrderRow.sla_tier != "")

            def keep(row: WorkOrderRow) -> bool:
                readings = order_sla(load_order(row), now, hours_of(row))
                return any(reading.status is sla_status for reading in readings or ())

        with self._db.unit_of_work() as session:
            rows = scan_page(session, statement, page, keep)
            rows, token = self._tokens.finish(rows, page, lambda r: (r.id,), shape)
            return pb.ListWorkOrdersResponse(work_orders=orders_to_proto(session, rows, now), next_page_token=token)

    def CreateWorkOrder(self, request: pb.CreateWorkOrderRequest, context) -> res.WorkOrder:
        given = request.work_order
        asset_id = parse_name(given.asset, "assets", "work_order.asset")
        violations = []
        if given.kind and given.kind not in KIND_FROM_PROTO:
            violations.append(FieldViolation("work_order.kind", "is not a work order kind"))
        if given.priority and given.priority not in SEVERITY_FROM_PROTO:
            violations.append(FieldViolation("work_order.priority", "is not a severity"))
        if given.expected_duration_minutes < 0:
            violations.append(FieldViolation("work_order.expected_duration_minutes", "must not be negative"))
        if not given.reason.strip():
            violations.append(FieldViolation("work_order.reason", "is required: say why the visit is needed"))
        if violations:
            raise InvalidArgument(violations)
        kind = KIND_FROM_PROTO.get(given.kind, WorkOrderKind.CORRECTIVE)

        def create(session: Session) -> res.WorkOrder:
            asset = self._assets.resolve(session, [asset_id], lock=True).get(asset_id)
            visible(asset, given.asset, lambda found: found.customer)
            family = "preventive-maintenance" if kind is WorkOrderKind.PREVENTIVE else "manual"
            order = CreateOrder(
                asset=asset.name, kind=kind, family=f"{asset.device_class}/{family}",
                priority=SEVERITY_FROM_PROTO.get(given.priority, Severity.INFO), skill=given.skill or None,
                expected_duration_minutes=given.expected_duration_minutes,
                likely_parts=tuple(given.likely_parts), reason=given.reason)
            name = self._orders.open(session, order, asset, utc_now(), given.sla_tier or None)
            return orders_to_proto(session, [session.get(WorkOrderRow, name.split("/", 1)[1])], utc_now())[0]

        return self._standard.run("CreateWorkOrder", request, res.WorkOrder, create)

    def ScheduleWorkOrder(self, request: pb.ScheduleWorkOrderRequest, context) -> res.WorkOrder:
        for field in ("start_time", "end_time"):
            if not request.HasField(field):
                raise InvalidArgument.field(field, "is required")
        window = VisitWindow(from_timestamp(request.start_time), from_timestamp(request.end_time))
        return self.change_order("ScheduleWorkOrder", request, lambda s, r, order, now: schedule(order, window, now))

    def DispatchWorkOrder(self, request: pb.DispatchWorkOrderRequest, context) -> res.WorkOrder:
        technician = parse_name(request.technician, "technicians", "technician")

        def assign(session: Session, row: WorkOrderRow, order: WorkOrder, now: datetime) -> WorkOrder:
            if session.get(TechnicianRow, technician) is None:
                raise NotFound(request.technician)
            return dispatch(order, technician, now)

        return self.change_order("DispatchWorkOrder", request, assign)

    def ResumeWorkOrder(self, request: pb.WorkOrderVerbRequest, context) -> res.WorkOrder:
        return self.change_order("ResumeWorkOrder", request, lambda s, r, order, now: resume(order, now))

    def CancelWorkOrder(self, request: pb.WorkOrderVerbRequest, context) -> res.WorkOrder:
        return self.change_order("CancelWorkOrder", request,
                                 lambda s, r, order, now: cancel(order, request.reason, now))

    def change_order(self, method: str, request: Message, change: OrderChange,
                     technician: str | None = None) -> res.WorkOrder:
        """One verb in one unit of work, idempotent on request_id. With `technician`, the order must
        be dispatched to that technician; any other order, existing or not, is PERMISSION_DENIED so
        that a technician cannot probe for others' orders."""
        key = parse_name(request.name, WORK_ORDERS)

        def work(session: Session) -> res.WorkOrder:
            row = session.scalars(select(WorkOrderRow).where(WorkOrderRow.id == key).with_for_update()).one_or_none()
            if technician is not None and (row is None or row.technician_id != technician):
                raise PermissionDenied(f"{request.name} is not dispatched to technicians/{technician}",
                                       reason="NOT_ASSIGNED_TECHNICIAN", metadata={"work_order": request.name})
            visible(row, request.name, _customer_of)
            check_etag(request.name, request.etag, row.version)
            now = utc_now()
            save_order(row, change(session, row, load_order(row), now))
            session.flush()
            return orders_to_proto(session, [row], now)[0]

        # A technician's request_id is theirs alone: another caller replaying it gets no stored answer.
        return self._standard.run(method, request, res.WorkOrder, work, request_id_owner=technician or "")

    def ListDowntimeIntervals(self, request: pb.ListDowntimeIntervalsRequest,
                              context) -> pb.ListDowntimeIntervalsResponse:
        if len(request.assets) > MAX_DOWNTIME_ASSETS:
            raise InvalidArgument.field("assets", f"at most {MAX_DOWNTIME_ASSETS} assets per call")
        asset_ids = sorted({parse_name(name, "assets", f"assets[{i}]") for i, name in enumerate(request.assets)})
        start, end = required_interval(request)
        query = {"assets": asset_ids, "start": str(start), "end": str(end)}
        page = self._tokens.parse(request.page_size, request.page_token, query)
        statement = restrict(select(WorkOrderRow), WorkOrderRow.customer_id).where(
            WorkOrderRow.downtime_start.is_not(None), WorkOrderRow.downtime_start < end,
            or_(WorkOrderRow.downtime_end.is_(None), WorkOrderRow.downtime_end > start))
        if asset_ids:
            statement = statement.where(WorkOrderRow.asset_id.in_(asset_ids))
        with self._db.unit_of_work() as session:
            rows, token = self._tokens.finish(scan_page(session, statement, page, None), page, lambda r: (r.id,), query)
            intervals = []
            for row in rows:
                interval = res.DowntimeInterval(asset=f"assets/{row.asset_id}", work_order=f"{WORK_ORDERS}/{row.id}",
                                                start_time=to_timestamp(row.downtime_start))
                if row.downtime_end is not None:
                    interval.end_time.CopyFrom(to_timestamp(row.downtime_end))
                intervals.append(interval)
            return pb.ListDowntimeIntervalsResponse(intervals=intervals, next_page_token=token)

    def ListShipments(self, request: pb.ListShipmentsRequest, context) -> pb.ListShipmentsResponse:
        if request.state and request.state not in _SHIPMENT_STATES:
            raise InvalidArgument.field("state", "is not a shipment state")
        query = {"asset_id": _key(request.asset, "assets", "asset"), "state": _SHIPMENT_STATES.get(request.state)}
        page = self._tokens.parse(request.page_size, request.page_token, query)
        statement = restrict_to_scoped_assets(select(ShipmentRow), ShipmentRow.asset_id)
        for column, value in query.items():
            if value is not None:
                statement = statement.where(getattr(ShipmentRow, column) == value)
        if page.after is not None:
            statement = statement.where(ShipmentRow.id > page.after[0])
        state_to_proto = {v: k for k, v in _SHIPMENT_STATES.items()}
        with self._db.unit_of_work() as session:
            rows = list(session.scalars(statement.order_by(ShipmentRow.id).limit(page.size + 1)))
            rows, token = self._tokens.finish(rows, page, lambda r: (r.id,), query)
            return pb.ListShipmentsResponse(next_page_token=token, shipments=[
                res.Shipment(name=f"shipments/{r.id}", asset=f"assets/{r.asset_id}", part=r.part, supply=r.supply or "",
                             reason=r.reason, state=state_to_proto[r.state], create_time=to_timestamp(r.create_time))
                for r in rows])

