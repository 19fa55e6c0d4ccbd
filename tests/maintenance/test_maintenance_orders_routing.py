"""What ingestion sets in motion through the OrderDesk, on the real database and server: orders
from alarms (also under concurrent callers), SLA clocks in opening hours, preventive maintenance
from meter crossings, consumable shipments, and the gauges on /metrics."""

from __future__ import annotations

import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import grpc
import pytest
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res

from services.maintenance.domain.alarms import observe
from services.maintenance.domain.consumables import LevelReading
from services.maintenance.domain.diagnostics import Action, Severity
from services.maintenance.domain.work_orders import WorkOrder
from services.maintenance.store_orders import WorkOrderRow, load_order
from tests.maintenance.maintenance_orders_helpers import forklift_fault, hours, orders_world, stamp, weekday_hours

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture(scope="module")
def world(maintenance, fleet):
    world = orders_world(maintenance, fleet)
    try:  # response in 4 business hours, resolution in 16: the tier every corrective order gets
        world.stub.CreateSlaPolicy(pb.CreateSlaPolicyRequest(sla_policy_id="default", sla_policy=res.SlaPolicy(
            response_target=hours(4), resolution_target=hours(16), at_risk_share=0.25)))
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    return world


def _orders_of(world, asset_name: str) -> list[res.WorkOrder]:
    return list(world.stub.ListWorkOrders(pb.ListWorkOrdersRequest(asset=asset_name, page_size=100)).work_orders)


def test_a_burst_of_one_alarm_from_concurrent_callers_opens_one_order(world):
    asset = world.asset()
    fault = forklift_fault(asset.name)
    first_seen = datetime.now(UTC) - timedelta(minutes=5)
    callers = 6
    start_together = threading.Barrier(callers)
    routed: list[str | None] = []
    failures: list[BaseException] = []

    def ingest(repeat: int) -> None:
        try:
            start_together.wait()
            with world.database.unit_of_work() as session:
                orders, ref = world.orders(session, asset.name)  # locks the asset row until commit
                alarm = observe(None, fault, first_seen)
                for _ in range(repeat):
                    alarm = observe(alarm, fault, first_seen + timedelta(seconds=repeat))
                routed.append(orders.route_alarm(alarm, ref, datetime.now(UTC)))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=ingest, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    orders = _orders_of(world, asset.name)
    assert len(orders) == 1 and routed == [orders[0].name] * callers
    assert orders[0].families == ["forklift/electrical"] and orders[0].priority == res.SEVERITY_MAJOR


def test_another_fault_of_the_same_family_joins_the_open_order(world):
    asset = world.asset()
    now = datetime.now(UTC)
    first = world.in_round(asset.name, lambda orders, ref: orders.route_alarm(
        observe(None, forklift_fault(asset.name), now), ref, now))
    second = world.in_round(asset.name, lambda orders, ref: orders.route_alarm(
        observe(None, forklift_fault(asset.name, fault_key="forklift/spn-168/fmi-4", severity=Severity.CRITICAL),
                now), ref, now))
    assert first == second
    order = world.stub.GetWorkOrder(pb.GetWorkOrderRequest(name=first))
    assert order.priority == res.SEVERITY_CRITICAL and len(_orders_of(world, asset.name)) == 1


def _stored(world, name: str) -> WorkOrder:
    """The order as its row holds it (the API lists alarm rows, which routing alone does not write)."""
    return world.in_unit_of_work(lambda session: load_order(session.get(WorkOrderRow, name.split("/", 1)[1])))


def test_alarms_of_one_family_decided_in_one_round_make_the_order_separate_rounds_would(world):
    together, apart = world.asset(), world.asset()
    now = datetime.now(UTC)
    faults = [("forklift/spn-91/fmi-3", Severity.MAJOR), ("forklift/spn-168/fmi-4", Severity.CRITICAL),
              ("forklift/spn-158/fmi-1", Severity.WARNING), ("forklift/spn-167/fmi-5", Severity.MAJOR)]

    def alarms(asset_name: str):  # each first seen a minute before the one before: downtime starts earlier each time
        return [observe(None, forklift_fault(asset_name, fault_key=key, severity=severity), now - timedelta(minutes=m))
                for m, (key, severity) in enumerate(faults)]

    in_one = world.in_round(together.name, lambda orders, ref: [orders.route_alarm(a, ref, now)
                                                                for a in alarms(together.name)])
    one_by_one = [world.in_round(apart.name, lambda orders, ref: orders.route_alarm(a, ref, now))
                  for a in alarms(apart.name)]
    [order], [other] = _orders_of(world, together.name), _orders_of(world, apart.name)
    assert in_one == [order.name] * len(faults) and one_by_one == [other.name] * len(faults)
    assert order.families == other.families == ["forklift/electrical"]
    assert order.priority == other.priority == res.SEVERITY_CRITICAL
    assert order.etag == other.etag == f'"{len(faults)}"'  # opened, then changed by each alarm that joined
    assert (order.create_time, order.update_time) == (other.create_time, other.update_time)
    assert order.response_sla == other.response_sla and order.resolution_sla == other.resolution_sla
    stored, stored_apart = _stored(world, order.name), _stored(world, other.name)
    assert [key.fault_key for key in stored.alarms] == [key for key, _ in faults]
    assert [key.fault_key for key in stored_apart.alarms] == [key for key, _ in faults]
    assert stored.downtime.start == stored_apart.downtime.start == now - timedelta(minutes=len(faults) - 1)


def test_orders_a_round_opens_are_counted_once_it_commits_and_not_if_it_rolls_back(world):
    asset = world.asset()
    now = datetime.now(UTC)
    electrical = forklift_fault(asset.name)
    hydraulics = forklift_fault(asset.name, fault_key="forklift/spn-523/fmi-2", category="hydraulics",
                                skill="forklift-hydraulics")
    before = world.orders_created()
    with pytest.raises(RuntimeError):
        with world.database.unit_of_work() as session:
            orders, ref = world.orders(session, asset.name)
            assert orders.route_alarm(observe(None, electrical, now), ref, now) is not None
            raise RuntimeError("the round fails after deciding")
    assert _orders_of(world, asset.name) == [] and world.orders_created() == before

    def decide_both(orders, ref) -> list[str]:
        names = [orders.route_alarm(observe(None, fault, now), ref, now) for fault in (electrical, hydraulics)]
        assert world.orders_created() == before  # not before the round commits
        return names

    names = world.in_round(asset.name, decide_both)
    assert sorted(names) == sorted(o.name for o in _orders_of(world, asset.name)) and len(set(names)) == 2
    assert world.orders_created() == before + 2


def _last_friday_before(moment: datetime) -> datetime:
    """15:00 Tokyo on a Friday at least two weeks before `moment`."""
    day = (moment - timedelta(days=14)).astimezone(TOKYO).date()
    day -= timedelta(days=(day.weekday() - 4) % 7)
    return datetime(day.year, day.month, day.day, 15, tzinfo=TOKYO)


def test_sla_clock_runs_in_opening_hours_across_the_weekend(world):
    office = world.asset(opening_hours=weekday_hours(9, 17))
    friday = _last_friday_before(datetime.now(UTC))
    old = world.in_round(office.name, lambda orders, ref: orders.route_alarm(
        observe(None, forklift_fault(office.name), friday), ref, friday))
    order = world.stub.GetWorkOrder(pb.GetWorkOrderRequest(name=old))
    monday = friday + timedelta(days=3)
    # 4 business hours from Friday 15:00: two on Friday, two on Monday from 09:00.
    assert order.sla_tier == "default"
    assert order.response_sla.due_time.ToDatetime(tzinfo=UTC) == monday.replace(hour=11)
    # 16 hours: 2 on Friday, 8 on Monday, 6 on Tuesday.
    assert order.resolution_sla.due_time.ToDatetime(tzinfo=UTC) == (monday + timedelta(days=1)).replace(hour=15)
    assert order.response_sla.status == res.SLA_STATUS_BREACHED
    assert order.response_sla.breach_time == order.response_sla.due_time

    fresh_asset = world.asset(opening_hours=weekday_hours(9, 17))
    now = datetime.now(UTC)
    fresh = world.in_round(fresh_asset.name, lambda orders, ref: orders.route_alarm(
        observe(None, forklift_fault(fresh_asset.name), now), ref, now))

    def listed(status: int) -> set[str]:
        return {o.name for o in world.stub.ListWorkOrders(pb.ListWorkOrdersRequest(
            sla_status=status, page_size=1000)).work_orders}

    breached, on_track = listed(res.SLA_STATUS_BREACHED), listed(res.SLA_STATUS_ON_TRACK)
    assert old in breached and old not in on_track
    assert fresh in on_track and fresh not in breached


def test_manual_order_with_unknown_tier_or_asset_is_refused(world):
    asset = world.asset()
    with pytest.raises(grpc.RpcError) as caught:
        world.stub.CreateWorkOrder(pb.CreateWorkOrderRequest(work_order=res.WorkOrder(
            asset=asset.name, reason="check", sla_tier="platinum")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "work_order.sla_tier" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        world.stub.CreateWorkOrder(pb.CreateWorkOrderRequest(work_order=res.WorkOrder(
            asset="assets/no-such-asset", reason="check")))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def _plan(world, asset_name: str, every: str, **fields) -> res.PreventivePlan:
    plan_id = f"clean-{asset_name.split('/')[1]}"
    return world.stub.CreatePreventivePlan(pb.CreatePreventivePlanRequest(
        preventive_plan_id=plan_id, preventive_plan=res.PreventivePlan(
            asset=asset_name, task="clean fuser", meter_register="total_impressions", meter_interval=every,
            expected_duration_minutes=30, parts=["fuser-cleaning-kit"], **fields)))


def test_each_meter_crossing_opens_exactly_one_pm_order(world):
    asset = world.asset()
    plan = _plan(world, asset.name, "1000")
    at = datetime.now(UTC)

    def read(value: int) -> list[str]:
        return world.in_round(asset.name, lambda orders, ref: orders.meter_reading(
            ref, "total_impressions", None, Decimal(value), at))

    assert read(500) == [] and read(900) == []  # the first reading only sets where the plan stands
    first = read(1200)
    assert len(first) == 1
    assert read(1200) == [] and read(1100) == [] and read(1900) == []  # replayed, late, no new multiple
    assert read(2100) == []  # the next multiple while the first visit is still open: it covers both
    order = world.stub.GetWorkOrder(pb.GetWorkOrderRequest(name=first[0]))
    assert order.kind == res.WORK_ORDER_KIND_PREVENTIVE
    assert [(t.plan, t.task) for t in order.pm_tasks] == [(plan.name, "clean fuser")]
    assert list(order.likely_parts) == ["fuser-cleaning-kit"] and order.sla_tier == ""
    world.stub.CancelWorkOrder(pb.WorkOrderVerbRequest(name=first[0], reason="done with the next visit"))
    second = read(3050)
    assert len(second) == 1 and second != first
    assert "total_impressions reached 3000" in world.stub.GetWorkOrder(
        pb.GetWorkOrderRequest(name=second[0])).pm_tasks[0].reason
    assert len(_orders_of(world, asset.name)) == 2
    with pytest.raises(grpc.RpcError) as caught:
        _plan(world, asset.name + "x", "-5")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_due_pm_task_joins_an_open_repair_visit(world):
    asset = world.asset()
    _plan(world, asset.name, "100")
    at = datetime.now(UTC)
    repair = world.in_round(asset.name, lambda orders, ref: orders.route_alarm(
        observe(None, forklift_fault(asset.name, skill=None), at), ref, at))
    merged = world.in_round(asset.name, lambda orders, ref: orders.meter_reading(
        ref, "total_impressions", Decimal(90), Decimal(130), at))
    assert merged == [repair]
    order = world.stub.GetWorkOrder(pb.GetWorkOrderRequest(name=repair))
    assert order.kind == res.WORK_ORDER_KIND_CORRECTIVE and [t.task for t in order.pm_tasks] == ["clean fuser"]
    assert order.expected_duration_minutes == 60 + 30


def test_a_pm_task_due_in_the_round_that_opens_a_repair_joins_it_and_so_does_a_later_alarm(world):
    asset = world.asset()
    _plan(world, asset.name, "100")
    at = datetime.now(UTC)

    def work(orders, ref):
        repair = orders.route_alarm(observe(None, forklift_fault(asset.name, skill=None), at), ref, at)
        merged = orders.meter_reading(ref, "total_impressions", Decimal(90), Decimal(130), at)
        joined = orders.route_alarm(observe(None, forklift_fault(asset.name, fault_key="forklift/spn-168/fmi-4",
                                                                 skill=None), at), ref, at)
        return repair, merged, joined

    repair, merged, joined = world.in_round(asset.name, work)
    assert merged == [repair] and joined == repair
    [order] = _orders_of(world, asset.name)
    assert order.name == repair and [t.task for t in order.pm_tasks] == ["clean fuser"]
    assert order.expected_duration_minutes == 60 + 30 and order.etag == '"3"'  # opened, PM added, alarm joined
    assert [key.fault_key for key in _stored(world, repair).alarms] == ["forklift/spn-91/fmi-3", "forklift/spn-168/fmi-4"]


def test_a_pm_visit_opened_mid_round_leaves_the_rounds_repair_open_to_later_alarms(world):
    asset = world.asset()
    _plan(world, asset.name, "100", skill="fuser-specialist")  # not the repair's skill: a visit of its own
    at = datetime.now(UTC)

    def work(orders, ref):
        repair = orders.route_alarm(observe(None, forklift_fault(asset.name), at), ref, at)
        visit = orders.meter_reading(ref, "total_impressions", Decimal(90), Decimal(130), at)
        joined = orders.route_alarm(observe(None, forklift_fault(asset.name, fault_key="forklift/spn-168/fmi-4"), at),
                                    ref, at)
        return repair, visit, joined

    repair, [visit], joined = world.in_round(asset.name, work)
    assert joined == repair != visit
    assert sorted(o.name for o in _orders_of(world, asset.name)) == sorted([repair, visit])
    assert [key.fault_key for key in _stored(world, repair).alarms] == ["forklift/spn-91/fmi-3", "forklift/spn-168/fmi-4"]


def test_consumables_decided_in_one_round_ship_once_per_supply(world):
    asset = world.asset()
    now = datetime.now(UTC)
    toner = forklift_fault(asset.name, fault_key="printer/supply/toner", category="consumable",
                           action=Action.SHIP_CONSUMABLE, skill=None, severity=Severity.WARNING)
    falling = [LevelReading(now - timedelta(days=d), 2.0 * d) for d in range(10, 0, -1)]

    def work(orders, ref):
        return ([orders.route_alarm(observe(None, toner, now), ref, now) for _ in range(2)],
                orders.supply_levels(ref, "1.2", falling, now), orders.supply_levels(ref, "1.2", falling, now))

    routed, shipped, again = world.in_round(asset.name, work)
    shipments = world.stub.ListShipments(pb.ListShipmentsRequest(asset=asset.name)).shipments
    assert routed == [None, None] and again == []
    assert [s.part for s in shipments] == ["wiring-harness", "1.2"] and shipped == [shipments[1].name]
    assert all(s.state == res.SHIPMENT_STATE_OPEN for s in shipments)


def test_consumables_ship_once_per_supply(world):
    asset = world.asset()
    now = datetime.now(UTC)
    toner = forklift_fault(asset.name, fault_key="printer/supply/toner", category="consumable",
                           action=Action.SHIP_CONSUMABLE, skill=None, severity=Severity.WARNING)
    for _ in range(2):
        assert world.in_round(asset.name, lambda orders, ref: orders.route_alarm(
            observe(None, toner, now), ref, now)) is None
    falling = [LevelReading(now - timedelta(days=d), 2.0 * d) for d in range(10, 0, -1)]
    shipped = world.in_round(asset.name, lambda orders, ref: orders.supply_levels(ref, "1.2", falling, now))
    shipments = world.stub.ListShipments(pb.ListShipmentsRequest(asset=asset.name)).shipments
    assert [s.part for s in shipments] == ["wiring-harness", "1.2"] and shipped == [shipments[1].name]
    assert all(s.state == res.SHIPMENT_STATE_OPEN for s in shipments)
    assert world.in_round(asset.name, lambda orders, ref: orders.supply_levels(ref, "1.2", falling, now)) == []


def test_gauges_show_open_orders_and_sla_clocks(world):
    asset = world.asset()
    world.stub.CreateWorkOrder(pb.CreateWorkOrderRequest(work_order=res.WorkOrder(
        asset=asset.name, reason="noise", priority=res.SEVERITY_CRITICAL)))
    text = urllib.request.urlopen(world.maintenance.metrics_url, timeout=10).read().decode()
    assert 'fleetops_maintenance_open_work_orders{priority="critical",state="new"}' in text
    assert 'fleetops_maintenance_sla_clocks{status="on_track"}' in text
    assert 'fleetops_maintenance_work_orders_created_total{kind="corrective"}' in text


def test_calendar_plans_fall_due_through_the_daily_sweep(world):
    asset = world.asset()
    plan = world.stub.CreatePreventivePlan(pb.CreatePreventivePlanRequest(
        preventive_plan_id=f"yearly-{asset.asset_id}", preventive_plan=res.PreventivePlan(
            asset=asset.name, task="safety inspection", every_days=30, expected_duration_minutes=45)))
    created = plan.create_time.ToDatetime(tzinfo=UTC)

    def sweep(days: float, lead_days: int = 0) -> list[str]:
        response = world.stub.PlanDuePreventiveMaintenance(pb.PlanDuePreventiveMaintenanceRequest(
            now=stamp(created + timedelta(days=days)), lead_days=lead_days))
        return [name for name in response.work_orders if name in {o.name for o in _orders_of(world, asset.name)}]

    assert sweep(28) == []
    planned_ahead = sweep(28, lead_days=3)
    assert len(planned_ahead) == 1
    assert sweep(31) == []  # already on an open visit
    order = world.stub.GetWorkOrder(pb.GetWorkOrderRequest(name=planned_ahead[0]))
    assert order.kind == res.WORK_ORDER_KIND_PREVENTIVE and [t.plan for t in order.pm_tasks] == [plan.name]
    world.stub.CancelWorkOrder(pb.WorkOrderVerbRequest(name=order.name, reason="moved to next month"))
    assert len(sweep(31)) == 1  # still due: a cancelled visit did not do the service
    with pytest.raises(grpc.RpcError) as caught:
        world.stub.PlanDuePreventiveMaintenance(pb.PlanDuePreventiveMaintenanceRequest(lead_days=-1))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
