"""The work-order state machine: every verb in every state, technician scoping, completion and
downtime bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.maintenance.domain.alarms import observe
from services.maintenance.domain.business_hours import OpeningHours
from services.maintenance.domain.diagnostics import Severity
from services.maintenance.domain.sla import SlaStatus, SlaTier, start_sla
from services.maintenance.domain.work_orders import (
    Completion,
    CreateOrder,
    DowntimeInterval,
    MeterReading,
    PartUsed,
    VisitWindow,
    WorkOrder,
    WorkOrderKind,
    WorkOrderState,
    accept,
    add_note,
    arrive,
    attach_alarm,
    cancel,
    complete,
    dispatch,
    downtime_between,
    open_order,
    order_sla,
    orders_of,
    put_on_hold,
    resume,
    schedule,
    start_travel,
)
from services.runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from tests.maintenance.test_maintenance_domain_alarms import fault

S = WorkOrderState
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ANA, BEN = "technicians/ana", "technicians/ben"
WINDOW = VisitWindow(T0 + timedelta(hours=2), T0 + timedelta(hours=4))
DONE = Completion("replaced-part", (PartUsed("wiring-harness", 1),), 45, MeterReading("hours", Decimal("1234.5")), "ok")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_order(kind: WorkOrderKind = WorkOrderKind.CORRECTIVE, downtime_start: datetime | None = None) -> WorkOrder:
    create = CreateOrder("assets/forklift-7", kind, "forklift/electrical", Severity.MAJOR, "forklift-electrical",
                         60, ("wiring-harness",), "test", downtime_start=downtime_start)
    return open_order("workOrders/1", create, "sites/hq", T0)


# How to bring a new order into each state, through the verbs only.
PATHS: dict[WorkOrderState, list[Callable[[WorkOrder], WorkOrder]]] = {
    S.NEW: [],
    S.SCHEDULED: [lambda o: schedule(o, WINDOW, at(1))],
    S.DISPATCHED: [lambda o: schedule(o, WINDOW, at(1)), lambda o: dispatch(o, ANA, at(2))],
}
PATHS[S.EN_ROUTE] = PATHS[S.DISPATCHED] + [lambda o: accept(o, ANA, at(3)), lambda o: start_travel(o, ANA, at(4))]
PATHS[S.ON_SITE] = PATHS[S.EN_ROUTE] + [lambda o: arrive(o, ANA, at(5))]
PATHS[S.ON_HOLD] = PATHS[S.ON_SITE] + [lambda o: put_on_hold(o, "waiting for a harness", at(6), ANA)]
PATHS[S.COMPLETED] = PATHS[S.ON_SITE] + [lambda o: complete(o, ANA, DONE, at(7))]
PATHS[S.CANCELLED] = PATHS[S.DISPATCHED] + [lambda o: cancel(o, "customer withdrew", at(7))]


def in_state(state: WorkOrderState) -> WorkOrder:
    order = new_order()
    for step in PATHS[state]:
        order = step(order)
    assert order.state is state
    return order


# Each verb applied by someone allowed to, with arguments that differ from anything in PATHS (so
# no call is an idempotent repeat), and the state it must lead to.
VERBS: dict[str, Callable[[WorkOrder], WorkOrder]] = {
    "schedule": lambda o: schedule(o, VisitWindow(at(600), at(700)), at(10)),
    "dispatch": lambda o: dispatch(o, BEN, at(10)),
    "accept": lambda o: accept(o, o.technician or ANA, at(10)),
    "start_travel": lambda o: start_travel(accept(o, ANA, at(9)) if o.state is S.DISPATCHED else o,
                                           o.technician or ANA, at(10)),
    "arrive": lambda o: arrive(o, o.technician or ANA, at(10)),
    "put_on_hold": lambda o: put_on_hold(o, "another reason", at(10)),
    "resume": lambda o: resume(o, at(10)),
    "complete": lambda o: complete(o, o.technician or ANA, Completion("no-fault-found", (), 10, None, ""), at(10)),
    "cancel": lambda o: cancel(o, "another reason", at(10)),
}
# The state machine, written out independently of the module's own table.
LEGAL = {
    ("schedule", S.NEW): S.SCHEDULED, ("schedule", S.SCHEDULED): S.SCHEDULED,
    ("dispatch", S.SCHEDULED): S.DISPATCHED, ("dispatch", S.DISPATCHED): S.DISPATCHED,
    ("accept", S.DISPATCHED): S.DISPATCHED, ("start_travel", S.DISPATCHED): S.EN_ROUTE,
    ("arrive", S.EN_ROUTE): S.ON_SITE,
    ("resume", S.ON_HOLD): S.NEW,
    ("complete", S.ON_SITE): S.COMPLETED,
    **{("put_on_hold", s): S.ON_HOLD for s in (S.NEW, S.SCHEDULED, S.DISPATCHED, S.EN_ROUTE, S.ON_SITE)},
    **{("cancel", s): S.CANCELLED for s in (S.NEW, S.SCHEDULED, S.DISPATCHED, S.EN_ROUTE, S.ON_HOLD)},
}
TECHNICIAN_VERBS = {"accept", "start_travel", "arrive", "complete"}
REPEATS = {("start_travel", S.EN_ROUTE), ("arrive", S.ON_SITE)}  # verbs without arguments: a retry


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_in_every_state(verb: str, state: WorkOrderState) -> None:
    order = in_state(state)
    if (verb, state) in REPEATS:
        assert VERBS[verb](order) is order
    elif (verb, state) in LEGAL:
        assert VERBS[verb](order).state is LEGAL[(verb, state)]
    elif verb in TECHNICIAN_VERBS and order.technician is None:
        with pytest.raises(PermissionDenied):  # nobody is assigned, so no technician may act
            VERBS[verb](order)
    else:
        with pytest.raises(FailedPrecondition) as caught:
            VERBS[verb](order)
        assert caught.value.reason == "WORK_ORDER_STATE"


def test_start_travel_needs_acceptance_first() -> None:
    with pytest.raises(FailedPrecondition, match="accepted"):
        start_travel(in_state(S.DISPATCHED), ANA, at(10))
    assert start_travel(accept(in_state(S.DISPATCHED), ANA, at(9)), ANA, at(10)).state is S.EN_ROUTE


def test_full_visit_records_times_completion_and_downtime() -> None:
    alarm = observe(None, fault(), T0 - timedelta(hours=1))
    order = attach_alarm(new_order(downtime_start=alarm.first_seen), alarm, T0)
    assert order.downtime == DowntimeInterval("assets/forklift-7", T0 - timedelta(hours=1), None)
    for step in PATHS[S.COMPLETED]:
        order = step(order)
    assert order.arrived_at == at(5) and order.accepted_at == at(3) and order.completed_at == at(7)
    assert order.completion == DONE and order.updated_at == at(7)
    assert order.downtime.end == at(7) and order.downtime.duration(at(500)) == timedelta(minutes=67)


def test_replaying_a_verb_returns_the_same_order_and_other_arguments_are_refused() -> None:
    on_site = in_state(S.ON_SITE)
    assert arrive(on_site, ANA, at(50)) is on_site
    held = in_state(S.ON_HOLD)
    assert put_on_hold(held, "waiting for a harness", at(50), ANA) is held
    done = in_state(S.COMPLETED)
    assert complete(done, ANA, DONE, at(50)) is done
    with pytest.raises(FailedPrecondition):
        complete(done, ANA, Completion("replaced-part", (), 99, None, ""), at(50))
    dispatched = in_state(S.DISPATCHED)
    assert dispatch(dispatched, ANA, at(50)) is dispatched
    accepted = accept(dispatched, ANA, at(3))
    assert accept(accepted, ANA, at(50)) is accepted


def test_dispatching_to_someone_else_reassigns_and_drops_the_acceptance() -> None:
    accepted = accept(in_state(S.DISPATCHED), ANA, at(3))
    moved = dispatch(accepted, BEN, at(4))
    assert moved.technician == BEN and moved.accepted_at is None
    with pytest.raises(PermissionDenied):
        accept(moved, ANA, at(5))


@pytest.mark.parametrize("state", [S.DISPATCHED, S.EN_ROUTE, S.ON_SITE, S.COMPLETED])
def test_another_technicians_order_is_permission_denied_whatever_its_state(state: WorkOrderState) -> None:
    order = in_state(state)
    for verb in (lambda: accept(order, BEN, at(20)), lambda: start_travel(order, BEN, at(20)),
                 lambda: arrive(order, BEN, at(20)), lambda: put_on_hold(order, "parts", at(20), BEN),
                 lambda: complete(order, BEN, DONE, at(20)), lambda: add_note(order, BEN, "hi", at(20))):
        with pytest.raises(PermissionDenied):
            verb()


def test_unassigned_orders_belong_to_no_technician() -> None:
    for order in (in_state(S.NEW), in_state(S.SCHEDULED)):
        with pytest.raises(PermissionDenied):
            accept(order, ANA, at(20))


def test_list_my_work_orders_shows_only_mine() -> None:
    mine = in_state(S.EN_ROUTE)
    theirs = dispatch(in_state(S.SCHEDULED), BEN, at(3))
    assert orders_of(ANA, [mine, theirs, in_state(S.NEW)]) == [mine]


def test_resume_sends_the_order_back_for_planning_unassigned() -> None:
    resumed = resume(in_state(S.ON_HOLD), at(30))
    assert (resumed.state, resumed.technician, resumed.window, resumed.hold_reason) == (S.NEW, None, None, None)
    assert resumed.arrived_at == at(5)  # the first arrival still meets the response target
    with pytest.raises(PermissionDenied):
        add_note(resumed, ANA, "back", at(31))


def test_notes_are_kept_in_order_and_validated() -> None:
    order = add_note(add_note(in_state(S.ON_SITE), ANA, "harness chafed", at(6)), ANA, "replaced", at(7))
    assert [(note.text, note.technician) for note in order.notes] == [("harness chafed", ANA), ("replaced", ANA)]
    with pytest.raises(InvalidArgument):
        add_note(order, ANA, "   ", at(8))
    assert add_note(in_state(S.COMPLETED), ANA, "follow-up", at(9)).notes[-1].text == "follow-up"
    with pytest.raises(FailedPrecondition):
        add_note(in_state(S.CANCELLED), ANA, "late", at(9))


def test_completion_is_validated_field_by_field() -> None:
    bad = Completion("Replaced Part", (PartUsed("fuse", 0),), -5, MeterReading("hours", Decimal(-1)), "")
    with pytest.raises(InvalidArgument) as caught:
        complete(in_state(S.ON_SITE), ANA, bad, at(10))
    assert {v.field for v in caught.value.violations} == {
        "completion.resolution_code", "completion.parts_used[0].quantity",
        "completion.labour_minutes", "completion.meter_reading"}


def test_schedule_window_must_end_after_it_starts() -> None:
    with pytest.raises(InvalidArgument):
        schedule(new_order(), VisitWindow(at(100), at(100)), at(1))


def test_cancelled_order_ends_its_downtime_and_preventive_orders_record_none() -> None:
    cancelled = cancel(new_order(), "false alarm", at(30))
    assert cancelled.downtime.end == at(30)
    assert new_order(WorkOrderKind.PREVENTIVE).downtime is None


def test_an_earlier_dispatchable_alarm_moves_the_downtime_start_back() -> None:
    order = new_order()
    earlier = observe(None, fault(fault_key="forklift/spn-100/fmi-4", condition_id="c2"), T0 - timedelta(hours=3))
    attached = attach_alarm(order, earlier, at(1))
    assert attached.downtime.start == T0 - timedelta(hours=3) and "forklift/electrical" in attached.families
    assert attach_alarm(attached, earlier, at(2)) is attached
    with pytest.raises(FailedPrecondition):
        attach_alarm(in_state(S.COMPLETED), earlier, at(9))
    with pytest.raises(InvalidArgument):
        attach_alarm(order, observe(None, fault(asset="assets/elsewhere"), T0), at(1))


def test_downtime_between_counts_overlaps_once_and_open_intervals_to_the_end() -> None:
    asset = "assets/forklift-7"
    intervals = [DowntimeInterval(asset, at(0), at(60)), DowntimeInterval(asset, at(30), at(90)),
                 DowntimeInterval(asset, at(200), None)]
    assert downtime_between(intervals, at(10), at(230)) == timedelta(minutes=80 + 30)


def test_order_sla_response_is_met_by_the_first_arrival() -> None:
    hours = OpeningHours.always_open()
    tier = SlaTier("silver", timedelta(minutes=4), timedelta(minutes=60))
    order = new_order()
    order = open_order(order.id, CreateOrder(order.asset, order.kind, "forklift/electrical", Severity.MAJOR,
                                             None, 30, (), "test"), order.site, T0, start_sla(tier, T0, hours))
    for step in PATHS[S.ON_SITE]:
        order = step(order)
    response, resolution = order_sla(order, at(30), hours)
    assert response.status is SlaStatus.BREACHED and response.breached_at == at(4)  # arrived at minute 5
    assert resolution.status is SlaStatus.ON_TRACK
    done = complete(order, ANA, DONE, at(40))
    assert [reading.status for reading in order_sla(done, at(90), hours)] == [SlaStatus.BREACHED, SlaStatus.MET]
    assert order_sla(new_order(), at(30), hours) is None
    assert order_sla(cancel(resume(put_on_hold(order, "parts", at(31)), at(32)), "void", at(33)), at(90), hours) is None
