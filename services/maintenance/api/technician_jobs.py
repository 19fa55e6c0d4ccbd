"""The technician API (the mobile backend): a technician sees and moves only their own orders.

The caller's subject is the technician id (`technicians/{subject}`), with the `technician` role.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from services.maintenance.api.work_orders import OPEN_STATE_VALUES, orders_to_proto
from services.maintenance.domain.work_orders import (
    Completion,
    MeterReading,
    PartUsed,
    WorkOrder,
    WorkOrderState,
    accept,
    add_note,
    arrive,
    complete,
    put_on_hold,
    start_travel,
)
from services.maintenance.store_ingest import MeterOutboxRow
from services.maintenance.store_orders import WorkOrderRow
from services.runtime.auth import current_identity
from services.runtime.db import utc_now
from services.runtime.errors import InvalidArgument, PermissionDenied
from services.runtime.scoping import restrict

TECHNICIAN_ROLE = "technician"


def calling_technician() -> str:
    identity = current_identity()
    if TECHNICIAN_ROLE not in identity.roles:
        raise PermissionDenied("the technician API is for callers with the technician role",
                               reason="NOT_A_TECHNICIAN")
    return identity.subject


def completion_from_proto(message: res.Completion) -> Completion:
    reading = None
    if message.meter_register or message.meter_value:
        try:
            value = Decimal(message.meter_value)
        except InvalidOperation:
            raise InvalidArgument.field("completion.meter_value", "must be a decimal number") from None
        reading = MeterReading(message.meter_register, value)
    return Completion(
        resolution_code=message.resolution_code,
        parts_used=tuple(PartUsed(used.part, used.quantity) for used in message.parts_used),
        labour_minutes=message.labour_minutes, meter_reading=reading, notes=message.notes)


class TechnicianJobMethods:
    """Mixed into MaintenanceApi (with WorkOrderMethods, whose `change_order` it uses)."""

    def ListMyWorkOrders(self, request: pb.ListMyWorkOrdersRequest, context) -> pb.ListWorkOrdersResponse:
        """Soonest visit first: the order of (scheduled start, id)."""
        technician = calling_technician()
        shape = {"technician": technician, "closed": request.include_closed}
        page = self._tokens.parse(request.page_size, request.page_token, shape)
        statement = restrict(select(WorkOrderRow), WorkOrderRow.customer_id).where(
            WorkOrderRow.technician_id == technician)
        if not request.include_closed:
            statement = statement.where(WorkOrderRow.state.in_(OPEN_STATE_VALUES))
        if page.after is not None:
            start, key = datetime.fromisoformat(page.after[0]), page.after[1]
            statement = statement.where(or_(WorkOrderRow.window_start > start,
                                            and_(WorkOrderRow.window_start == start, WorkOrderRow.id > key)))
        statement = statement.order_by(WorkOrderRow.window_start, WorkOrderRow.id).limit(page.size + 1)
        now = utc_now()
        with self._db.unit_of_work() as session:
            rows = list(session.scalars(statement))
            rows, token = self._tokens.finish(rows, page, lambda r: (r.window_start.isoformat(), r.id), shape)
            return pb.ListWorkOrdersResponse(work_orders=orders_to_proto(session, rows, now), next_page_token=token)

    def AcceptWorkOrder(self, request: pb.WorkOrderVerbRequest, context) -> res.WorkOrder:
        return self._technician_verb("AcceptWorkOrder", request, lambda order, who, now: accept(order, who, now))

    def StartTravel(self, request: pb.WorkOrderVerbRequest, context) -> res.WorkOrder:
        return self._technician_verb("StartTravel", request, lambda order, who, now: start_travel(order, who, now))

    def ArriveOnSite(self, request: pb.WorkOrderVerbRequest, context) -> res.WorkOrder:
        return self._technician_verb("ArriveOnSite", request, lambda order, who, now: arrive(order, who, now))

    def PutOnHold(self, request: pb.WorkOrderVerbRequest, context) -> res.WorkOrder:
        return self._technician_verb("PutOnHold", request,
                                     lambda order, who, now: put_on_hold(order, request.reason, now, who))

    def AddWorkNote(self, request: pb.AddWorkNoteRequest, context) -> res.WorkOrder:
        return self._technician_verb("AddWorkNote", request,
                                     lambda order, who, now: add_note(order, who, request.text, now))

    def CompleteWorkOrder(self, request: pb.CompleteWorkOrderRequest, context) -> res.WorkOrder:
        """Completion ends the downtime, restarts the served PM plans' calendars and forwards a meter
        reading taken on site to the fleet service (through the meter outbox)."""
        technician = calling_technician()
        if not request.HasField("completion"):
            raise InvalidArgument.field("completion", "is required")
        completion = completion_from_proto(request.completion)

        def finish(session: Session, row: WorkOrderRow, order: WorkOrder, now: datetime) -> WorkOrder:
            done = complete(order, technician, completion, now)
            if order.state is WorkOrderState.COMPLETED:  # the same completion again: nothing new to record
                return done
            reading = completion.meter_reading
            if reading is not None:
                session.add(MeterOutboxRow(asset_id=row.asset_id, register=reading.meter, value=str(reading.value),
                                           read_time=now, source="MANUAL"))
            self._orders.order_completed(session, done, row.hours["time_zone"])
            return done

        return self.change_order("CompleteWorkOrder", request, finish, technician)

    def _technician_verb(self, method: str, request, verb) -> res.WorkOrder:
        technician = calling_technician()
        return self.change_order(method, request, lambda session, row, order, now: verb(order, technician, now),
                                 technician)

