"""Alarm -> work order rules: thresholds, attaching to open orders, and no duplicate order under a
burst of faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from services.maintenance.domain.alarms import Alarm, FlapPolicy, clear, observe
from services.maintenance.domain.diagnostics import Action, Severity
from services.maintenance.domain.work_order_rules import (
    DEFAULT_RULES,
    AttachToOrder,
    DispatchRule,
    NoAction,
    ShipConsumable,
    decide,
)
from services.maintenance.domain.work_orders import (
    Completion,
    CreateOrder,
    VisitWindow,
    WorkOrder,
    WorkOrderKind,
    accept,
    arrive,
    attach_alarm,
    complete,
    dispatch,
    open_order,
    schedule,
    start_travel,
)
from services.runtime.errors import InvalidArgument
from tests.maintenance.test_maintenance_domain_alarms import dtc_clear_signal, fault

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ASSET = "assets/forklift-7"


class Fleet:
    """Applies each decision before the next alarm is decided, as one unit of work per asset does."""

    def __init__(self) -> None:
        self.orders: dict[str, WorkOrder] = {}
        self.alarms: dict[tuple[str, str], Alarm] = {}
        self.shipped: list[ShipConsumable] = []
        self._ids = count(1)

    def raise_fault(self, raised, at: datetime, policy: FlapPolicy = FlapPolicy()):
        key = (raised.asset, raised.fault_key)
        alarm = self.alarms[key] = observe(self.alarms.get(key), raised, at, policy)
        decision = decide(alarm, [o for o in self.orders.values() if o.asset == alarm.asset], DEFAULT_RULES, at)
        match decision:
            case CreateOrder():
                order_id = f"workOrders/{next(self._ids)}"
                self.orders[order_id] = open_order(order_id, decision, "sites/hq", at)
            case AttachToOrder():
                self.orders[decision.order_id] = attach_alarm(self.orders[decision.order_id], alarm, at)
            case ShipConsumable():
                self.shipped.append(decision)
        return decision

    def open_orders(self) -> list[WorkOrder]:
        return [order for order in self.orders.values() if order.is_open]


def manual_order(order_id: str, asset: str) -> WorkOrder:
    create = CreateOrder(asset, WorkOrderKind.CORRECTIVE, "forklift/electrical", Severity.MAJOR, None, 60, (), "manual")
    return open_order(order_id, create, "sites/hq", T0)


def test_a_burst_of_the_same_fault_makes_one_order() -> None:
    fleet = Fleet()
    decisions = [fleet.raise_fault(fault(severity=Severity.CRITICAL), T0 + timedelta(seconds=i)) for i in range(200)]
    (order,) = fleet.orders.values()
    assert isinstance(decisions[0], CreateOrder)
    assert order.alarms == (fleet.alarms[(ASSET, "forklift/spn-91/fmi-3")].key,)
    assert all(isinstance(d, NoAction) and "already on" in d.reason for d in decisions[1:])


def test_a_burst_of_different_faults_of_one_family_makes_one_order_holding_them_all() -> None:
    fleet = Fleet()
    for i in range(30):
        fleet.raise_fault(fault(fault_key=f"forklift/spn-{100 + i % 5}/fmi-3", condition_id=f"c{i % 5}",
                                severity=Severity.CRITICAL if i % 2 else Severity.INFO), T0 + timedelta(seconds=i))
    (order,) = fleet.orders.values()
    assert len(order.alarms) == 5 and order.families == {"forklift/electrical"}
    assert order.priority is Severity.CRITICAL


def test_an_info_alarm_of_a_covered_family_is_attached_although_no_rule_would_start_an_order() -> None:
    fleet = Fleet()
    fleet.raise_fault(fault(severity=Severity.CRITICAL), T0)
    decision = fleet.raise_fault(fault(fault_key="forklift/spn-5/fmi-1", condition_id="c5", severity=Severity.INFO), T0)
    assert isinstance(decision, AttachToOrder) and decision.order_id == "workOrders/1"


def test_other_family_attaches_when_the_skill_matches_and_opens_its_own_order_otherwise() -> None:
    fleet = Fleet()
    fleet.raise_fault(fault(severity=Severity.CRITICAL), T0)
    same_skill = fleet.raise_fault(fault(fault_key="forklift/spn-7/fmi-12", condition_id="c7", category="controller",
                                         severity=Severity.MAJOR), T0)
    assert isinstance(same_skill, AttachToOrder)
    other_skill = fleet.raise_fault(fault(fault_key="forklift/spn-8/fmi-7", condition_id="c8", category="mechanical",
                                          skill="forklift-mechanic", severity=Severity.MAJOR), T0)
    assert isinstance(other_skill, CreateOrder)
    assert sorted(len(o.families) for o in fleet.open_orders()) == [1, 2]


def test_a_new_fault_after_the_order_is_completed_opens_a_new_order() -> None:
    fleet = Fleet()
    fleet.raise_fault(fault(severity=Severity.CRITICAL), T0)
    order = fleet.orders["workOrders/1"]
    order = schedule(order, VisitWindow(T0, T0 + timedelta(hours=1)), T0)
    order = accept(dispatch(order, "technicians/ana", T0), "technicians/ana", T0)
    order = arrive(start_travel(order, "technicians/ana", T0), "technicians/ana", T0)
    fleet.orders[order.id] = complete(order, "technicians/ana", Completion("repaired", (), 30, None, ""), T0)
    fleet.alarms.clear()
    assert isinstance(fleet.raise_fault(fault(severity=Severity.CRITICAL), T0 + timedelta(hours=2)), CreateOrder)
    assert len(fleet.open_orders()) == 1


@pytest.mark.parametrize(
    ("severity", "repeats", "active", "creates"),
    [
        (Severity.CRITICAL, 1, timedelta(0), True),
        (Severity.MAJOR, 1, timedelta(0), True),
        (Severity.WARNING, 1, timedelta(hours=3, minutes=59), False),
        (Severity.WARNING, 1, timedelta(hours=4), True),
        (Severity.WARNING, 2, timedelta(0), False),
        (Severity.WARNING, 3, timedelta(0), True),
        (Severity.INFO, 50, timedelta(days=3), False),
    ],
)
def test_default_rules_by_severity_repeats_and_duration(
    severity: Severity, repeats: int, active: timedelta, creates: bool
) -> None:
    alarm = None
    for _ in range(repeats):
        alarm = observe(alarm, fault(severity=severity), T0)
    assert isinstance(decide(alarm, [], DEFAULT_RULES, T0 + active), CreateOrder) is creates


def test_a_fault_the_device_handles_itself_starts_an_order_only_when_it_keeps_recurring() -> None:
    jam = fault(fault_key="printer/jam", category="paper-path", action=Action.NONE, skill=None,
                severity=Severity.WARNING)
    alarm = None
    for repeat in range(1, 11):
        alarm = observe(alarm, jam, T0 + timedelta(minutes=repeat))
        decision = decide(alarm, [], DEFAULT_RULES, T0 + timedelta(hours=12))
        assert isinstance(decision, CreateOrder) is (repeat == 10)
    assert decision.reason == "rule recurring-10x" and decision.downtime_start is None


def test_order_from_a_dispatchable_fault_counts_downtime_from_first_seen() -> None:
    alarm = observe(None, fault(severity=Severity.WARNING), T0)
    decision = decide(alarm, [], DEFAULT_RULES, T0 + timedelta(hours=5))
    order = open_order("workOrders/9", decision, "sites/hq", T0 + timedelta(hours=5))
    assert order.downtime.start == T0 and order.skill == "forklift-electrical"


def test_flapping_alarm_creates_no_order_but_joins_an_open_one() -> None:
    policy = FlapPolicy(cycles=2, window=timedelta(hours=1))
    (gone,) = dtc_clear_signal()
    alarm = None
    for _ in range(2):
        alarm = clear(observe(alarm, fault(severity=Severity.CRITICAL), T0, policy), gone, T0, policy)
    assert alarm.flapping
    assert decide(alarm, [], DEFAULT_RULES, T0) == NoAction("the alarm is flapping")
    covering = manual_order("workOrders/3", ASSET)
    assert isinstance(decide(alarm, [covering], DEFAULT_RULES, T0), AttachToOrder)


def test_consumable_faults_ship_and_cleared_alarms_do_nothing() -> None:
    toner = fault(fault_key="printer/supply/toner", condition_id="printer-supply:1.2", category="consumable",
                  action=Action.SHIP_CONSUMABLE, skill=None, severity=Severity.WARNING)
    ship = decide(observe(None, toner, T0), [], DEFAULT_RULES, T0)
    assert isinstance(ship, ShipConsumable) and ship.supplies == {"printer-supply:1.2"}
    (gone,) = dtc_clear_signal()
    cleared = clear(observe(None, fault(severity=Severity.CRITICAL), T0), gone, T0)
    assert decide(cleared, [], DEFAULT_RULES, T0) == NoAction("the alarm is cleared")


def test_orders_of_other_assets_are_ignored() -> None:
    elsewhere = manual_order("workOrders/5", "assets/other")
    assert isinstance(decide(observe(None, fault(), T0), [elsewhere], DEFAULT_RULES, T0), CreateOrder)


def test_rules_are_validated() -> None:
    with pytest.raises(InvalidArgument):
        DispatchRule("bad", min_repeat_count=0)
    with pytest.raises(InvalidArgument):
        DispatchRule("bad", min_active=timedelta(minutes=-1))
