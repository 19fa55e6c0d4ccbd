"""The technician API through the real server: scoping, the state machine, retries, etags,
completion and the downtime it closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res
from google.type import date_pb2
from sqlalchemy import select

from services.maintenance.store_ingest import MeterOutboxRow
from tests.maintenance.maintenance_orders_helpers import orders_world, stamp


@pytest.fixture(scope="module")
def world(maintenance, fleet):
    return orders_world(maintenance, fleet)


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def test_another_technicians_order_is_permission_denied_even_when_missing(world):
    aiko, aiko_stub = world.technician("aiko")
    ben, ben_stub = world.technician("ben")
    order = world.dispatched_order(aiko)
    assert order.technician == f"technicians/{aiko}"
    assert _code(lambda: ben_stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name))) \
        == grpc.StatusCode.PERMISSION_DENIED
    assert _code(lambda: ben_stub.AddWorkNote(pb.AddWorkNoteRequest(name=order.name, text="peek"))) \
        == grpc.StatusCode.PERMISSION_DENIED
    # An order that does not exist looks the same to a technician as someone else's.
    assert _code(lambda: ben_stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name="workOrders/wo-missing"))) \
        == grpc.StatusCode.PERMISSION_DENIED
    # The back office sees NOT_FOUND for it.
    assert _code(lambda: world.stub.GetWorkOrder(pb.GetWorkOrderRequest(name="workOrders/wo-missing"))) \
        == grpc.StatusCode.NOT_FOUND
    assert [o.name for o in aiko_stub.ListMyWorkOrders(pb.ListMyWorkOrdersRequest()).work_orders] == [order.name]
    assert list(ben_stub.ListMyWorkOrders(pb.ListMyWorkOrdersRequest()).work_orders) == []
    # A caller without the technician role cannot use the technician API at all.
    assert _code(lambda: world.stub.ListMyWorkOrders(pb.ListMyWorkOrdersRequest())) \
        == grpc.StatusCode.PERMISSION_DENIED


def test_my_orders_come_soonest_first_and_page(world):
    technician, stub = world.technician()
    later = world.dispatched_order(technician)
    sooner = world.dispatched_order(technician, start=datetime.now(UTC) + timedelta(minutes=10))
    first = stub.ListMyWorkOrders(pb.ListMyWorkOrdersRequest(page_size=1))
    second = stub.ListMyWorkOrders(pb.ListMyWorkOrdersRequest(page_size=1, page_token=first.next_page_token))
    assert [o.name for o in first.work_orders] == [sooner.name]
    assert [o.name for o in second.work_orders] == [later.name] and second.next_page_token == ""
    # The back office finds them by technician, state and customer.
    by_technician = world.stub.ListWorkOrders(pb.ListWorkOrdersRequest(
        technician=f"technicians/{technician}", state=res.WORK_ORDER_STATE_DISPATCHED)).work_orders
    assert sorted(o.name for o in by_technician) == sorted([sooner.name, later.name])
    assert list(world.stub.ListWorkOrders(pb.ListWorkOrdersRequest(
        technician=f"technicians/{technician}", state=res.WORK_ORDER_STATE_NEW)).work_orders) == []
    customer = world.resolve(later.asset).customer
    assert [o.name for o in world.stub.ListWorkOrders(pb.ListWorkOrdersRequest(customer=customer)).work_orders] \
        == [later.name]


def test_illegal_verbs_are_failed_precondition(world):
    technician, stub = world.technician()
    order = world.dispatched_order(technician)
    assert _code(lambda: stub.StartTravel(pb.WorkOrderVerbRequest(name=order.name))) \
        == grpc.StatusCode.FAILED_PRECONDITION  # not accepted yet
    assert _code(lambda: stub.CompleteWorkOrder(pb.CompleteWorkOrderRequest(
        name=order.name, completion=res.Completion(resolution_code="fixed")))) == grpc.StatusCode.FAILED_PRECONDITION
    assert _code(lambda: world.stub.ResumeWorkOrder(pb.WorkOrderVerbRequest(name=order.name))) \
        == grpc.StatusCode.FAILED_PRECONDITION  # not on hold
    stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name))
    stub.StartTravel(pb.WorkOrderVerbRequest(name=order.name))
    on_site = stub.ArriveOnSite(pb.WorkOrderVerbRequest(name=order.name))
    assert on_site.state == res.WORK_ORDER_STATE_ON_SITE
    assert _code(lambda: world.stub.CancelWorkOrder(pb.WorkOrderVerbRequest(name=order.name, reason="oops"))) \
        == grpc.StatusCode.FAILED_PRECONDITION  # a visit that took place is completed, not cancelled


def test_hold_and_resume_send_the_order_back_for_planning(world):
    technician, stub = world.technician()
    order = world.dispatched_order(technician)
    held = stub.PutOnHold(pb.WorkOrderVerbRequest(name=order.name, reason="waiting for a harness"))
    assert held.state == res.WORK_ORDER_STATE_ON_HOLD and held.hold_reason == "waiting for a harness"
    resumed = world.stub.ResumeWorkOrder(pb.WorkOrderVerbRequest(name=order.name))
    assert resumed.state == res.WORK_ORDER_STATE_NEW and resumed.technician == ""
    assert list(stub.ListMyWorkOrders(pb.ListMyWorkOrdersRequest()).work_orders) == []


def test_retried_verb_returns_first_answer_and_stale_etag_is_aborted(world):
    technician, stub = world.technician()
    order = world.dispatched_order(technician)
    accepted = stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name, etag=order.etag, request_id="accept-1"))
    travelling = stub.StartTravel(pb.WorkOrderVerbRequest(name=order.name, etag=accepted.etag))
    replay = stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name, etag=order.etag, request_id="accept-1"))
    assert replay == accepted and replay.state == res.WORK_ORDER_STATE_DISPATCHED
    assert _code(lambda: stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(
        name=order.name, etag=travelling.etag, request_id="accept-1"))) == grpc.StatusCode.ALREADY_EXISTS
    assert _code(lambda: stub.ArriveOnSite(pb.WorkOrderVerbRequest(name=order.name, etag=accepted.etag))) \
        == grpc.StatusCode.ABORTED
    assert stub.ArriveOnSite(pb.WorkOrderVerbRequest(name=order.name, etag=travelling.etag)).state \
        == res.WORK_ORDER_STATE_ON_SITE


def test_another_technician_replaying_a_request_id_gets_no_stored_answer(world):
    aiko, aiko_stub = world.technician("aiko")
    _, ben_stub = world.technician("ben")
    order = world.dispatched_order(aiko)
    aiko_stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name, request_id="shared-id"))
    assert _code(lambda: ben_stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name, request_id="shared-id"))) \
        == grpc.StatusCode.PERMISSION_DENIED


def test_completion_records_the_visit_and_closes_downtime(world):
    technician, stub = world.technician()
    order = world.dispatched_order(technician)
    opened = datetime.now(UTC)
    stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name))
    stub.StartTravel(pb.WorkOrderVerbRequest(name=order.name))
    stub.ArriveOnSite(pb.WorkOrderVerbRequest(name=order.name))
    noted = stub.AddWorkNote(pb.AddWorkNoteRequest(name=order.name, text="harness chafed at the mast"))
    completion = res.Completion(resolution_code="replaced-part", labour_minutes=45, meter_register="hour_meter",
                                meter_value="1234.5", notes="replaced harness",
                                parts_used=[res.PartUsed(part="wiring-harness", quantity=1)])
    done = stub.CompleteWorkOrder(pb.CompleteWorkOrderRequest(name=order.name, completion=completion,
                                                              etag=noted.etag, request_id="complete-1"))
    assert done.state == res.WORK_ORDER_STATE_COMPLETED and done.completion == completion
    assert [n.text for n in done.notes] == ["harness chafed at the mast"]
    assert done.notes[0].technician == f"technicians/{technician}"
    assert world.stub.GetWorkOrder(pb.GetWorkOrderRequest(name=order.name)) == done
    # The downtime interval of the corrective order ends at completion.
    intervals = world.stub.ListDowntimeIntervals(pb.ListDowntimeIntervalsRequest(
        assets=[order.asset], start_time=stamp(opened - timedelta(hours=1)),
        end_time=stamp(opened + timedelta(hours=1)))).intervals
    assert [(i.work_order, i.HasField("end_time")) for i in intervals] == [(order.name, True)]
    assert intervals[0].end_time == done.complete_time
    # The meter reading taken on site waits in the outbox for the fleet service, once.
    stub.CompleteWorkOrder(pb.CompleteWorkOrderRequest(name=order.name, completion=completion))
    with world.database.unit_of_work() as session:
        readings = session.scalars(select(MeterOutboxRow).where(
            MeterOutboxRow.asset_id == order.asset.split("/", 1)[1])).all()
        assert [(r.register, r.value, r.source) for r in readings] == [("hour_meter", "1234.5", "MANUAL")]
    # Completed orders are found by completion time.
    found = world.stub.ListWorkOrders(pb.ListWorkOrdersRequest(
        asset=order.asset, completed_after=stamp(opened - timedelta(minutes=1)))).work_orders
    assert [o.name for o in found] == [order.name]
    assert list(world.stub.ListWorkOrders(pb.ListWorkOrdersRequest(
        asset=order.asset, completed_before=stamp(opened - timedelta(minutes=1)))).work_orders) == []


def test_bad_completion_names_the_fields(world):
    technician, stub = world.technician()
    order = world.dispatched_order(technician)
    stub.AcceptWorkOrder(pb.WorkOrderVerbRequest(name=order.name))
    stub.StartTravel(pb.WorkOrderVerbRequest(name=order.name))
    stub.ArriveOnSite(pb.WorkOrderVerbRequest(name=order.name))
    with pytest.raises(grpc.RpcError) as caught:
        stub.CompleteWorkOrder(pb.CompleteWorkOrderRequest(name=order.name, completion=res.Completion(
            resolution_code="Fixed It", parts_used=[res.PartUsed(part="fuse", quantity=0)])))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "completion.resolution_code" in caught.value.details()
    assert "completion.parts_used[0].quantity" in caught.value.details()


def test_downtime_intervals_overlapping_a_period(world):
    asset = world.asset()
    order = world.stub.CreateWorkOrder(pb.CreateWorkOrderRequest(work_order=res.WorkOrder(
        asset=asset.name, reason="forks do not lift")))
    opened = order.create_time.ToDatetime(tzinfo=UTC)

    def overlapping(start: datetime, end: datetime) -> list[str]:
        return [i.work_order for i in world.stub.ListDowntimeIntervals(pb.ListDowntimeIntervalsRequest(
            assets=[asset.name], start_time=stamp(start), end_time=stamp(end))).intervals]

    assert overlapping(opened - timedelta(days=2), opened - timedelta(days=1)) == []
    assert overlapping(opened + timedelta(days=1), opened + timedelta(days=2)) == [order.name]  # still down
    world.stub.CancelWorkOrder(pb.WorkOrderVerbRequest(name=order.name, reason="customer fixed it"))
    assert overlapping(opened - timedelta(hours=1), opened + timedelta(hours=1)) == [order.name]
    assert overlapping(opened + timedelta(days=1), opened + timedelta(days=2)) == []
    # Preventive orders are planned work, not unavailability.
    planned = world.stub.CreateWorkOrder(pb.CreateWorkOrderRequest(work_order=res.WorkOrder(
        asset=asset.name, reason="yearly service", kind=res.WORK_ORDER_KIND_PREVENTIVE)))
    assert planned.name not in overlapping(opened - timedelta(hours=1), opened + timedelta(days=1))


def test_completing_a_calendar_service_restarts_its_plan(world):
    technician, stub = world.technician()
    asset = world.asset()
    plan = world.stub.CreatePreventivePlan(pb.CreatePreventivePlanRequest(
        preventive_plan_id=f"monthly-{asset.asset_id}", preventive_plan=res.PreventivePlan(
            asset=asset.name, task="battery check", every_days=30,
            start_date=date_pb2.Date(year=2026, month=1, day=1))))
    assert plan.start_date == date_pb2.Date(year=2026, month=1, day=1)
    now = datetime.now(UTC)

    def sweep(at: datetime) -> list[str]:
        touched = world.stub.PlanDuePreventiveMaintenance(pb.PlanDuePreventiveMaintenanceRequest(now=stamp(at)))
        mine = {o.name for o in world.stub.ListWorkOrders(pb.ListWorkOrdersRequest(asset=asset.name)).work_orders}
        return [name for name in touched.work_orders if name in mine]

    (overdue,) = sweep(now)
    start = now + timedelta(hours=1)
    world.stub.ScheduleWorkOrder(pb.ScheduleWorkOrderRequest(name=overdue, start_time=stamp(start),
                                                             end_time=stamp(start + timedelta(hours=1))))
    world.stub.DispatchWorkOrder(pb.DispatchWorkOrderRequest(name=overdue, technician=f"technicians/{technician}"))
    for verb in (stub.AcceptWorkOrder, stub.StartTravel, stub.ArriveOnSite):
        verb(pb.WorkOrderVerbRequest(name=overdue))
    stub.CompleteWorkOrder(pb.CompleteWorkOrderRequest(name=overdue, completion=res.Completion(resolution_code="done")))
    assert sweep(now + timedelta(days=2)) == []  # the next service counts from the one just done
    assert len(sweep(now + timedelta(days=31))) == 1
