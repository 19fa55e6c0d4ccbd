"""Work orders, shipments and preventive maintenance as the ingestion path and the API drive them.

Every method runs inside the caller's unit of work. Decisions about one asset must be serialized
by the caller (ingestion locks the asset's row, see `AssetDirectory.resolve(lock=True)`), which is
what keeps `work_order_rules.decide` from opening two orders for one asset and fault family.

SLA: a corrective order gets the clocks of `slaPolicies/default` when that policy exists and no
SLA otherwise; preventive orders are planned visits and get none unless created by hand with a
named tier (`WorkOrder.sla_tier`).
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter as Tally
from datetime import datetime
from decimal import Decimal

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetRef
from services.maintenance.domain.alarms import Alarm
from services.maintenance.domain.diagnostics import Severity
from services.maintenance.domain.consumables import (
    CreateShipment,
    ForecastSettings,
    LevelReading,
    Shipment,
    forecast_days_to_empty,
    replenishment,
    shipments_for_alarm,
)
from services.maintenance.domain.preventive import (
    DuePm,
    MergeIntoOrder,
    PmPlan,
    due_by_calendar,
    due_by_meter,
    place_due_pm,
    plans_for,
    site_today,
)
from services.maintenance.domain.sla import start_sla
from services.maintenance.domain.work_order_rules import (
    DEFAULT_RULES,
    AttachToOrder,
    CreateOrder,
    DispatchRule,
    NoAction,
    ShipConsumable,
    decide,
)
from services.maintenance.domain.work_orders import (
    OPEN_STATES,
    WorkOrder,
    WorkOrderKind,
    add_pm_task,
    attach_alarm,
    open_order,
    order_sla,
)
from services.maintenance.store_ingest import AlarmRow
from services.maintenance.store_orders import (
    WORK_ORDERS,
    PmProgressRow,
    PreventivePlanRow,
    ShipmentRow,
    SlaPolicyRow,
    WorkOrderRow,
    hours_of,
    hours_to_json,
    load_order,
    open_order_rows,
    save_order,
)
from services.runtime.db import Database, upsert, utc_now
from services.runtime.errors import InvalidArgument
from services.runtime.server import Runtime

log = logging.getLogger(__name__)

DEFAULT_SLA_POLICY = "default"
SHIPMENT_OPEN = "open"
_SUPPLY_CONDITION_PREFIX = "printer-supply:"


def new_id(prefix: str) -> str:
    """Ids that sort by creation time, so lists in id order read oldest first."""
    return f"{prefix}-{utc_now():%Y%m%d%H%M%S%f}-{secrets.token_hex(3)}"


class OrderDesk:
    def __init__(self, runtime: Runtime, rules: tuple[DispatchRule, ...] = DEFAULT_RULES,
                 lead_time_days: float = 5.0, safety_days: float = 3.0,
                 forecast: ForecastSettings = ForecastSettings()):
        self._rules = rules
        self._lead_time_days = lead_time_days
        self._safety_days = safety_days
        self._forecast = forecast
        registry = runtime.metrics.registry
        self._created = Counter("fleetops_maintenance_work_orders_created_total", "Work orders opened, by kind.",
                                ["kind"], registry=registry)
        registry.register(WorkOrderGauges(runtime.database))

    # --- alarms -----------------------------------------------------------------------------------

    def route_alarm(self, session: Session, alarm: Alarm, asset: AssetRef, now: datetime) -> str | None:
        """Applies `decide` to the alarm; the name of the work order the alarm is on, or None."""
        rows = {f"{WORK_ORDERS}/{row.id}": row
                for row in open_order_rows(session, asset_id=asset.asset_id, lock=True)}
        orders = {name: load_order(row) for name, row in rows.items()}
        decision = decide(alarm, orders.values(), self._rules, now)
        match decision:
            case CreateOrder():
                return self.open(session, decision, asset, now)
            case AttachToOrder(order_id=order_id):
                save_order(rows[order_id], attach_alarm(orders[order_id], alarm, now))
                return order_id
            case ShipConsumable():
                supply_of = {c: c.removeprefix(_SUPPLY_CONDITION_PREFIX) for c in decision.supplies
                             if c.startswith(_SUPPLY_CONDITION_PREFIX)}
                self._ship(session, shipments_for_alarm(decision, supply_of, self._open_shipments(session, asset)))
                return None
            case NoAction():
                return next((name for name, order in orders.items() if alarm.key in order.alarms), None)

    def open(self, session: Session, create: CreateOrder, asset: AssetRef, now: datetime,
             sla_tier: str | None = None) -> str:
        """Opens an order on `asset`; `sla_tier` names a policy (else the default rule above)."""
        hours = asset.hours()
        policy = self._sla_policy(session, sla_tier, create.kind)
        key = new_id("wo")
        order = open_order(f"{WORK_ORDERS}/{key}", create, asset.site, now,
                           start_sla(policy.tier(), now, hours) if policy else None)
        row = WorkOrderRow(id=key, customer_id=asset.customer.split("/", 1)[1], hours=hours_to_json(hours),
                           reason=create.reason)
        save_order(row, order)
        session.add(row)
        session.flush()
        kind = create.kind.value
        event.listen(session, "after_commit", lambda _session: self._created.labels(kind).inc(), once=True)
        return order.id

    def _sla_policy(self, session: Session, tier: str | None, kind: WorkOrderKind) -> SlaPolicyRow | None:
        if tier:
            policy = session.get(SlaPolicyRow, tier)
            if policy is None:
                raise InvalidArgument.field("work_order.sla_tier", f"slaPolicies/{tier} does not exist")
            return policy
        return session.get(SlaPolicyRow, DEFAULT_SLA_POLICY) if kind is WorkOrderKind.CORRECTIVE else None

    # --- preventive maintenance -------------------------------------------------------------------

    def meter_reading(self, session: Session, asset: AssetRef, register: str, previous: Decimal | None,
                      value: Decimal, at: datetime) -> list[str]:
        """Work orders that PM meter crossings went onto (new or merged).

        Each plan remembers the highest value it has seen on the asset and counts crossings from
        there, so a replayed, late or lower reading crosses nothing twice. A plan that has never
        seen the asset starts from `previous`; without that either, the reading only sets the
        starting point (a plan added to a fleet in service does not fire for all its past).
        """
        names: list[str] = []
        for plan in self._plans(session, asset):
            if plan.meter != register:
                continue
            progress = self._progress(session, plan, asset)
            baseline = Decimal(progress.meter_value) if progress.meter_value is not None else previous
            if baseline is None or value > baseline:
                progress.meter_value = str(value)
            if baseline is None or value <= baseline:
                continue
            due = due_by_meter(plan, asset.name, baseline, value)
            if due is not None:
                names += self._place(session, due, asset, at)
        return names

    def calendar_due(self, session: Session, asset: AssetRef, now: datetime, lead_days: int) -> list[str]:
        """Work orders that calendar-due PM tasks (within `lead_days` at the site) went onto."""
        names: list[str] = []
        today = site_today(now, asset.time_zone)
        for plan in self._plans(session, asset):
            due = due_by_calendar(plan, asset.name, today, self._progress(session, plan, asset).last_completed,
                                  lead_days)
            if due is not None:
                names += self._place(session, due, asset, now)
        return names

    def order_completed(self, session: Session, order: WorkOrder, time_zone: str) -> None:
        """A completed visit restarts the calendar of each plan it served (the next one counts from it)."""
        # An upsert: ingestion may be recording a meter value for the same plan and asset right now.
        upsert(session, PmProgressRow.__table__, [
            dict(plan_id=task.plan.split("/", 1)[1], asset_id=task.asset.split("/", 1)[1],
                 last_completed=site_today(order.completed_at, time_zone)) for task in order.pm_tasks],
               ["plan_id", "asset_id"])

    def _plans(self, session: Session, asset: AssetRef) -> list[PmPlan]:
        rows = session.scalars(select(PreventivePlanRow).where(or_(
            PreventivePlanRow.asset_id == asset.asset_id, PreventivePlanRow.device_model == asset.device_model))
            .order_by(PreventivePlanRow.id))
        return plans_for(asset.name, asset.device_model, [row.plan(asset.device_class) for row in rows])

    def _progress(self, session: Session, plan: PmPlan, asset: AssetRef) -> PmProgressRow:
        return self._progress_of(session, plan.id.split("/", 1)[1], asset.asset_id)

    @staticmethod
    def _progress_of(session: Session, plan_id: str, asset_id: str) -> PmProgressRow:
        progress = session.get(PmProgressRow, (plan_id, asset_id))
        if progress is None:  # inserted by a statement, as a completion may insert it concurrently
            upsert(session, PmProgressRow.__table__, [dict(plan_id=plan_id, asset_id=asset_id)],
                   ["plan_id", "asset_id"])
            progress = session.get(PmProgressRow, (plan_id, asset_id))
        return progress

    def _place(self, session: Session, due: DuePm, asset: AssetRef, now: datetime) -> list[str]:
        rows = open_order_rows(session, site=asset.site)
        placed = place_due_pm(due, asset.site, [load_order(row) for row in rows])
        match placed:
            case CreateOrder():
                return [self.open(session, placed, asset, now)]
            case MergeIntoOrder(order_id=order_id, task=task):
                # The visit may belong to another asset of the site, whose row the caller did not
                # lock: lock it and read it afresh; if it closed meanwhile, place the task again.
                row = session.scalars(select(WorkOrderRow).where(WorkOrderRow.id == order_id.split("/", 1)[1])
                                      .with_for_update().execution_options(populate_existing=True)).one()
                order = load_order(row)
                if not order.is_open:
                    return self._place(session, due, asset, now)
                save_order(row, add_pm_task(order, task, now))
                return [order_id]
        return []

    # --- consumables ------------------------------------------------------------------------------

    def supply_levels(self, session: Session, asset: AssetRef, supply: str, history: list[LevelReading],
                      now: datetime) -> list[str]:
        """Ships a supply forecast to run out within lead time plus safety days.

        A supply is named `{device index}.{supply index}` (its alarm condition is `printer-supply:1.1`);
        the part shipped is the one shipped for that supply before, else the supply itself.
        """
        forecast = forecast_days_to_empty(history, now, self._forecast)
        decision = replenishment(asset.name, self._part_for(session, asset, supply), supply, forecast,
                                 self._lead_time_days, self._safety_days, self._open_shipments(session, asset))
        if isinstance(decision, CreateShipment):
            return self._ship(session, [decision])
        return []

    def _part_for(self, session: Session, asset: AssetRef, supply: str) -> str:
        part = session.scalars(select(ShipmentRow.part).where(
            ShipmentRow.asset_id == asset.asset_id, ShipmentRow.supply == supply)
            .order_by(ShipmentRow.id.desc())).first()
        return part or supply

    @staticmethod
    def _open_shipments(session: Session, asset: AssetRef) -> list[Shipment]:
        rows = session.scalars(select(ShipmentRow).where(ShipmentRow.asset_id == asset.asset_id,
                                                         ShipmentRow.state == SHIPMENT_OPEN))
        return [Shipment(f"assets/{row.asset_id}", row.part, row.supply) for row in rows]

    @staticmethod
    def _ship(session: Session, shipments: list[CreateShipment]) -> list[str]:
        names = []
        for shipment in shipments:
            row = ShipmentRow(id=new_id("sh"), asset_id=shipment.asset.split("/", 1)[1], part=shipment.part,
                              supply=shipment.supply, reason=shipment.reason, state=SHIPMENT_OPEN)
            session.add(row)
            names.append(f"shipments/{row.id}")
        session.flush()
        return names


class WorkOrderGauges(Collector):
    """Open orders by state and priority, their SLA clocks by status, and active alarms by severity,
    read at scrape time."""

    def __init__(self, database: Database):
        self._database = database

    def collect(self):
        open_orders = GaugeMetricFamily("fleetops_maintenance_open_work_orders", "Open work orders.",
                                        labels=["state", "priority"])
        clocks = GaugeMetricFamily("fleetops_maintenance_sla_clocks",
                                   "SLA clocks (response and resolution) of open work orders, by status.",
                                   labels=["status"])
        alarms = GaugeMetricFamily("fleetops_maintenance_active_alarms", "Active alarms by severity.",
                                   labels=["severity"])
        open_states = sorted(state.value for state in OPEN_STATES)
        now = utc_now()
        statuses: Tally[str] = Tally()
        try:
            with self._database.unit_of_work() as session:
                counts = session.execute(select(WorkOrderRow.state, WorkOrderRow.priority, func.count())
                                         .where(WorkOrderRow.state.in_(open_states))
                                         .group_by(WorkOrderRow.state, WorkOrderRow.priority)).all()
                active = session.execute(select(AlarmRow.severity, func.count()).where(AlarmRow.state == "active")
                                         .group_by(AlarmRow.severity)).all()
                for row in session.scalars(select(WorkOrderRow).where(WorkOrderRow.state.in_(open_states),
                                                                      WorkOrderRow.sla_tier != "")):
                    readings = order_sla(load_order(row), now, hours_of(row))
                    statuses.update(reading.status.value for reading in readings or ())
        except Exception:  # a scrape must not fail because the database is briefly away
            log.warning("could not count work orders for /metrics", exc_info=True)
            return
        for state, priority, count in counts:
            open_orders.add_metric([state, Severity(priority).name.lower()], count)
        for status, count in sorted(statuses.items()):
            clocks.add_metric([status], count)
        for severity, count in active:
            alarms.add_metric([severity], count)
        yield open_orders
        yield clocks
        yield alarms

