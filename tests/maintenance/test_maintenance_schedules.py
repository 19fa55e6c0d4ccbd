"""Technician scheduling through the real maintenance server (wired to a real fleet service):
the plan a dispatcher sees, the job and blocking forms, applying a plan and re-planning around an
urgent order. Each test plans its own territory, so tests share the servers without interfering."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as fleet_pb
from fleetops.fleet.v1 import resources_pb2 as fleet_res
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import maintenance_service_pb2_grpc as pb_grpc
from fleetops.maintenance.v1 import resources_pb2 as res
from fleetops.maintenance.v1 import scheduling_pb2 as spb
from google.protobuf import duration_pb2
from google.type import date_pb2, dayofweek_pb2, latlng_pb2, timeofday_pb2

from tests.fleet.fleet_factory import Fleet, unique
from tests.maintenance.maintenance_orders_helpers import stamp, technician_channel, weekday_hours

TOKYO = (35.681, 139.767)
RPC_TIMEOUT = 60.0


def next_wednesday() -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=(2 - today.weekday()) % 7 or 7)


PLAN_DAY = next_wednesday()


def seconds(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(seconds=value))
    return duration


def near_tokyo(north_km: float = 0.0, east_km: float = 0.0) -> tuple[float, float]:
    return TOKYO[0] + north_km / 111.0, TOKYO[1] + east_km / 90.0


def local(stamp_value, zone: str) -> datetime:
    return stamp_value.ToDatetime(tzinfo=UTC).astimezone(ZoneInfo(zone))


class Territory:
    """Technicians, sites and open orders of one fresh service territory."""

    def __init__(self, maintenance, fleet):
        self.name = unique("terr")
        self.maintenance = maintenance
        self.stub = pb_grpc.MaintenanceServiceStub(maintenance.channel)
        self.fleet = Fleet(fleet.channel)
        self.customer = self.fleet.customer()
        self.model = self.fleet.printer_model()

    def technician(self, *skills: str, home: tuple[float, float] = TOKYO) -> str:
        technician_id = unique("tech")
        self.stub.CreateTechnician(pb.CreateTechnicianRequest(technician_id=technician_id, technician=res.Technician(
            display_name=technician_id, skills=list(skills), time_zone="Asia/Tokyo", territory=self.name,
            home_base=latlng_pb2.LatLng(latitude=home[0], longitude=home[1]))))
        return technician_id

    def site(self, position: tuple[float, float] | None = TOKYO, time_zone: str = "Asia/Tokyo",
             hours: list | None = None) -> fleet_res.Site:
        site = fleet_res.Site(display_name="Depot", time_zone=time_zone, service_territory=self.name,
                              opening_hours=weekday_hours(8, 18) if hours is None else hours)
        if position is not None:
            site.position.CopyFrom(latlng_pb2.LatLng(latitude=position[0], longitude=position[1]))
        return self.fleet.stub.CreateSite(fleet_pb.CreateSiteRequest(parent=self.customer.name,
                                                                     site_id=unique("site"), site=site))

    def order(self, site: fleet_res.Site | None = None, skill: str = "printer-colour", minutes: int = 60,
              priority: int = res.SEVERITY_MAJOR, sla_tier: str = "") -> str:
        """A preventive order (no SLA) unless `sla_tier` names one."""
        asset = self.fleet.asset(self.customer, self.model, site or self.site())
        kind = res.WORK_ORDER_KIND_CORRECTIVE if sla_tier else res.WORK_ORDER_KIND_PREVENTIVE
        return self.stub.CreateWorkOrder(pb.CreateWorkOrderRequest(work_order=res.WorkOrder(
            asset=asset.name, reason="visit needed", skill=skill, expected_duration_minutes=minutes,
            priority=priority, kind=kind, sla_tier=sla_tier))).name

    def plan(self, time_limit: float = 1.0, wait: bool = True, **fields) -> spb.Schedule:
        return self.stub.CreateSchedule(spb.CreateScheduleRequest(
            territory=self.name, date=date_pb2.Date(year=PLAN_DAY.year, month=PLAN_DAY.month, day=PLAN_DAY.day),
            time_limit=seconds(time_limit), wait=wait, **fields), timeout=RPC_TIMEOUT)

    def finished(self, name: str, within: float = 60.0) -> spb.Schedule:
        """Polls until the schedule leaves RUNNING, for at most `within` seconds."""
        give_up = time.monotonic() + within
        while True:
            schedule = self.stub.GetSchedule(spb.GetScheduleRequest(name=name))
            if schedule.state != spb.SCHEDULE_STATE_RUNNING or time.monotonic() > give_up:
                return schedule
            time.sleep(0.1)

    def order_state(self, name: str) -> res.WorkOrder:
        return self.stub.GetWorkOrder(pb.GetWorkOrderRequest(name=name))


@pytest.fixture
def territory(maintenance, fleet) -> Territory:
    return Territory(maintenance, fleet)


def visits_by_technician(schedule: spb.Schedule) -> dict[str, list[spb.ScheduledVisit]]:
    return {route.technician.split("/", 1)[1]: list(route.visits) for route in schedule.routes}


def planned_orders(schedule: spb.Schedule) -> set[str]:
    return {visit.work_order for route in schedule.routes for visit in route.visits}


def unassigned(schedule: spb.Schedule) -> dict[str, int]:
    return {entry.work_order: entry.reason for entry in schedule.unassigned}


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def test_skills_are_respected_and_unplannable_orders_say_why(territory):
    printer_tech = territory.technician("printer-colour")
    forklift_tech = territory.technician("forklift-electrical")
    printer_orders = [territory.order(territory.site(near_tokyo(north_km=k))) for k in (1, 2)]
    forklift_order = territory.order(territory.site(near_tokyo(east_km=3)), skill="forklift-electrical")
    nobody_can = territory.order(skill="server-raid")
    weekend_only = territory.order(territory.site(hours=[fleet_res.OpeningHours(
        day=dayofweek_pb2.SATURDAY, open=timeofday_pb2.TimeOfDay(hours=9), close=timeofday_pb2.TimeOfDay(hours=12))]))
    unknown_position = territory.order(territory.site(position=None))

    schedule = territory.plan()

    assert schedule.state == spb.SCHEDULE_STATE_SUCCEEDED
    assert schedule.solver_status in (spb.SOLVER_STATUS_FEASIBLE, spb.SOLVER_STATUS_OPTIMAL)
    routes = visits_by_technician(schedule)
    assert {v.work_order for v in routes[printer_tech]} == set(printer_orders)
    assert [v.work_order for v in routes[forklift_tech]] == [forklift_order]
    assert unassigned(schedule) == {nobody_can: spb.UNASSIGNED_REASON_SKILL,
                                    weekend_only: spb.UNASSIGNED_REASON_WINDOW,
                                    unknown_position: spb.UNASSIGNED_REASON_NO_LOCATION}
    assert schedule.total_travel_metres == pytest.approx(sum(r.travel_metres for r in schedule.routes))
    assert schedule.total_travel_metres > 0
    assert any("08:00-17:00" in note for note in schedule.notes)  # the assumed shift is stated
    # Each technician's visits follow one another: arrive, work, leave, drive to the next.
    for visits in routes.values():
        for before, after in zip(visits, visits[1:], strict=False):
            assert before.departure_time.ToDatetime() <= after.arrival_time.ToDatetime()
        for visit in visits:
            assert visit.arrival_time.ToDatetime() <= visit.start_time.ToDatetime()
            assert visit.departure_time.ToDatetime() - visit.start_time.ToDatetime() == timedelta(hours=1)


def test_visits_fall_in_opening_hours_in_each_sites_time_zone(territory):
    territory.technician("printer-colour")
    # 14:00-17:00 in Tokyo; 09:00-11:00 in Brisbane (UTC+10), i.e. 08:00-10:00 in Tokyo.
    afternoon = territory.order(territory.site(near_tokyo(north_km=2), hours=weekday_hours(14, 17)))
    brisbane = territory.order(territory.site(near_tokyo(east_km=2), time_zone="Australia/Brisbane",
                                              hours=weekday_hours(9, 11)))

    schedule = territory.plan()

    visits = {v.work_order: v for route in schedule.routes for v in route.visits}
    assert set(visits) == {afternoon, brisbane}
    for order, zone, opens, closes in ((afternoon, "Asia/Tokyo", 14, 17), (brisbane, "Australia/Brisbane", 9, 11)):
        start, end = local(visits[order].start_time, zone), local(visits[order].departure_time, zone)
        assert start.date() == end.date() == PLAN_DAY
        assert opens <= start.hour and (end.hour, end.minute) <= (closes, 0)
    # The Brisbane visit opens the day: it is early morning in Tokyo.
    assert [v.work_order for v in schedule.routes[0].visits] == [brisbane, afternoon]


def test_an_order_whose_sla_falls_due_is_kept_when_the_day_is_short(territory):
    territory.technician("printer-colour")
    tier = unique("tier")
    territory.stub.CreateSlaPolicy(pb.CreateSlaPolicyRequest(sla_policy_id=tier, sla_policy=res.SlaPolicy(
        response_target=seconds(1800), resolution_target=seconds(3600), at_risk_share=0.25)))
    # Two five-hour visits of the same priority; a nine-hour shift has room for one.
    routine = territory.order(territory.site(near_tokyo(north_km=1)), minutes=300)
    sla_critical = territory.order(territory.site(near_tokyo(north_km=3)), minutes=300, sla_tier=tier)

    schedule = territory.plan()

    assert planned_orders(schedule) == {sla_critical}
    assert unassigned(schedule) == {routine: spb.UNASSIGNED_REASON_CAPACITY}
    # Its SLA (one business hour) falls due before a five-hour visit can end: the lateness is shown.
    visit = schedule.routes[0].visits[0]
    assert visit.lateness.ToTimedelta() > timedelta(0)
    assert schedule.total_lateness == visit.lateness


def test_apply_schedules_and_dispatches_each_order_once(territory):
    first, second = territory.technician("printer-colour"), territory.technician("printer-colour")
    orders = [territory.order(territory.site(near_tokyo(north_km=k, east_km=k))) for k in (1, 4, 8)]
    schedule = territory.plan()
    assert planned_orders(schedule) == set(orders)

    request_id = unique("apply")
    applied = territory.stub.ApplySchedule(spb.ApplyScheduleRequest(name=schedule.name, request_id=request_id))

    assert applied.applied and applied.etag != schedule.etag
    for technician, visits in visits_by_technician(schedule).items():
        assert technician in (first, second)
        for visit in visits:
            order = territory.order_state(visit.work_order)
            assert order.state == res.WORK_ORDER_STATE_DISPATCHED
            assert order.technician == f"technicians/{technician}"
            assert order.scheduled_start_time == visit.start_time
            assert order.scheduled_end_time == visit.departure_time
    # A retry with its request_id gets the same answer; applying again is refused.
    assert territory.stub.ApplySchedule(spb.ApplyScheduleRequest(name=schedule.name, request_id=request_id)) == applied
    assert code_of(lambda: territory.stub.ApplySchedule(spb.ApplyScheduleRequest(name=schedule.name))) \
        == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(lambda: territory.stub.ApplySchedule(spb.ApplyScheduleRequest(name="schedules/sch-missing"))) \
        == grpc.StatusCode.NOT_FOUND


def test_job_form_runs_while_the_server_keeps_answering(territory):
    technician = territory.technician("printer-colour")
    for k in range(6):
        territory.order(territory.site(near_tokyo(north_km=k, east_km=-k)))

    running = territory.plan(time_limit=3.0, wait=False)

    assert running.state == spb.SCHEDULE_STATE_RUNNING and not running.routes
    # Other calls are answered while the solve runs in a worker process.
    assert territory.stub.GetTechnician(pb.GetTechnicianRequest(name=f"technicians/{technician}")).territory \
        == territory.name
    listed = territory.stub.ListSchedules(spb.ListSchedulesRequest(territory=territory.name)).schedules
    assert [schedule.name for schedule in listed] == [running.name]
    assert territory.stub.GetSchedule(spb.GetScheduleRequest(name=running.name)).state == spb.SCHEDULE_STATE_RUNNING
    assert code_of(lambda: territory.stub.ApplySchedule(spb.ApplyScheduleRequest(name=running.name))) \
        == grpc.StatusCode.FAILED_PRECONDITION

    done = territory.finished(running.name)

    assert done.state == spb.SCHEDULE_STATE_SUCCEEDED
    assert len(planned_orders(done)) == 6 and done.solve_seconds > 0


def test_create_is_idempotent_and_validates_its_input(territory, maintenance, fleet):
    territory.technician("printer-colour")
    territory.order()
    request_id = unique("plan")
    first = territory.plan(request_id=request_id)
    assert territory.plan(request_id=request_id) == first
    assert len(territory.stub.ListSchedules(spb.ListSchedulesRequest(territory=territory.name)).schedules) == 1
    assert code_of(lambda: territory.plan(request_id=request_id, time_limit=2.0)) == grpc.StatusCode.ALREADY_EXISTS
    assert code_of(lambda: territory.plan(time_limit=-1)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: territory.stub.CreateSchedule(spb.CreateScheduleRequest(territory=territory.name))) \
        == grpc.StatusCode.INVALID_ARGUMENT  # no date
    empty = Territory(maintenance, fleet)
    assert code_of(lambda: empty.plan()) == grpc.StatusCode.FAILED_PRECONDITION  # nobody to plan


def test_replan_keeps_visits_under_way_and_fits_the_urgent_order(territory):
    aiko, ben = territory.technician("printer-colour"), territory.technician("printer-colour")
    # Four 150-minute visits: more than one nine-hour shift holds, so both technicians go out.
    for k in (1, 2, 5, 6):
        territory.order(territory.site(near_tokyo(north_km=k, east_km=(-1) ** k * k)), minutes=150)
    schedule = territory.plan()
    territory.stub.ApplySchedule(spb.ApplyScheduleRequest(name=schedule.name))
    routes = visits_by_technician(schedule)
    assert set(routes) == {aiko, ben}
    # Aiko heads for her last visit (out of plan order); Ben is at his first site.
    on_the_way, on_site = routes[aiko][-1].work_order, routes[ben][0].work_order
    aiko_stub = pb_grpc.MaintenanceServiceStub(technician_channel(territory.maintenance, aiko))
    ben_stub = pb_grpc.MaintenanceServiceStub(technician_channel(territory.maintenance, ben))
    for stub, order, verbs in ((aiko_stub, on_the_way, ("AcceptWorkOrder", "StartTravel")),
                               (ben_stub, on_site, ("AcceptWorkOrder", "StartTravel", "ArriveOnSite"))):
        for verb in verbs:
            getattr(stub, verb)(pb.WorkOrderVerbRequest(name=order))
    urgent = territory.order(territory.site(near_tokyo(north_km=3)), priority=res.SEVERITY_CRITICAL, minutes=60)
    now = datetime.combine(PLAN_DAY, datetime.min.time(), ZoneInfo("Asia/Tokyo")) + timedelta(hours=10)

    replanned = territory.stub.ReplanSchedule(spb.ReplanScheduleRequest(
        name=schedule.name, work_order=urgent, now=stamp(now), time_limit=seconds(1.0), wait=True),
        timeout=RPC_TIMEOUT)

    assert replanned.state == spb.SCHEDULE_STATE_SUCCEEDED
    assert replanned.replanned_from == schedule.name and replanned.urgent_work_order == urgent
    routes = visits_by_technician(replanned)
    assert routes[aiko][0].work_order == on_the_way and routes[aiko][0].fixed
    assert routes[ben][0].work_order == on_site and routes[ben][0].fixed
    assert sorted(v.work_order for r in replanned.routes for v in r.visits if v.fixed) == sorted([on_the_way, on_site])
    assert urgent in planned_orders(replanned)
    assert planned_orders(replanned) == planned_orders(schedule) | {urgent}
    for visit in (v for r in replanned.routes for v in r.visits if not v.fixed):
        assert visit.start_time.ToDatetime(tzinfo=UTC) >= now
    # Applying the new plan dispatches the urgent order and leaves the visits under way alone.
    territory.stub.ApplySchedule(spb.ApplyScheduleRequest(name=replanned.name))
    assert territory.order_state(urgent).state == res.WORK_ORDER_STATE_DISPATCHED
    assert territory.order_state(on_site).state == res.WORK_ORDER_STATE_ON_SITE
    assert territory.order_state(on_the_way).state == res.WORK_ORDER_STATE_EN_ROUTE
    # Only NEW/SCHEDULED orders can be brought into a plan.
    assert code_of(lambda: territory.stub.ReplanSchedule(spb.ReplanScheduleRequest(
        name=schedule.name, work_order=on_site, wait=True), timeout=RPC_TIMEOUT)) == grpc.StatusCode.FAILED_PRECONDITION
