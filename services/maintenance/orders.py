"""Work orders and preventive maintenance as the ingestion path and the API drive them.

Every method runs inside the caller's unit of work. Decisions about one asset must be serialized
by the caller (ingestion locks the asset's row, see `AssetDirectory.resolve(lock=True)`), which is
what keeps `work_order_rules.decide` from opening two orders for one asset and fault family.

SLA: a corrective order gets the clocks of `slaPolicies/default` when that policy exists and no
SLA otherwise; preventive orders are planned visits and get none unless created by hand with a
named tier (`WorkOrder.sla_tier`).

A processing round decides orders, consumable shipments and PM for many assets at once through
`OrderDesk.round` (order_round.py).
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from datetime import datetime

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetRef
from services.maintenance.domain.diagnostics import Severity
from services.maintenance.domain.consumables import ForecastSettings
from services.maintenance.domain.preventive import (
    DuePm,
    MergeIntoOrder,
    PmPlan,
    due_by_calendar,
    place_due_pm,
    plans_for,
    site_today,
)
from services.maintenance.domain.sla import start_sla
from services.maintenance.domain.work_order_rules import DEFAULT_RULES, CreateOrder, DispatchRule
from services.maintenance.domain.work_orders import (
    OPEN_STATES,
    WorkOrder,
    WorkOrderKind,
    add_pm_task,
    open_order,
    order_sla,
)
from services.maintenance.order_round import OrderRound
from services.maintenance.store_ingest import AlarmRow
from services.maintenance.store_orders import (
    WORK_ORDERS,
    PmProgressRow,
    PreventivePlanRow,
    SlaPolicyRow,
    WorkOrderRow,
    hours_of,
    hours_to_json,
    load_order,
    new_id,
    open_order_rows,
    save_order,
)
from services.runtime.db import Database, chunks, upsert, utc_now
from services.runtime.errors import InvalidArgument
from services.runtime.server import Runtime

log = logging.getLogger(__name__)

DEFAULT_SLA_POLICY = "default"


class OrderDesk:
    def __init__(self, runtime: Runtime, rules: tuple[DispatchRule, ...] = DEFAULT_RULES,
                 lead_time_days: float = 5.0, safety_days: float = 3.0,
                 forecast: ForecastSettings = ForecastSettings()):
        self.rules = rules
        self.lead_time_days = lead_time_days
        self.safety_days = safety_days
        self.forecast = forecast
        registry = runtime.metrics.registry
        self._created = Counter("fleetops_maintenance_work_orders_created_total", "Work orders opened, by kind.",
                                ["kind"], registry=registry)
        registry.register(WorkOrderGauges(runtime.database))

    def round(self, session: Session, assets: dict[str, AssetRef]) -> OrderRound:
        """The work-order side of one processing round over `assets` (locked by the caller)."""
        return OrderRound(self, session, assets)

    def open(self, session: Session, create: CreateOrder, asset: AssetRef, now: datetime,
             sla_tier: str | None = None) -> str:
        """Opens an order on `asset`; `sla_tier` names a policy (else the default rule above)."""
        return f"{WORK_ORDERS}/{self._open(session, create, asset, now, sla_tier).id}"

    def _open(self, session: Session, create: CreateOrder, asset: AssetRef, now: datetime,
              sla_tier: str | None = None) -> WorkOrderRow:
        row, _ = self.new_order(session, create, asset, now, sla_tier)
        session.add(row)
        session.flush()
        self.count_created(session, Tally([create.kind.value]))
        return row

    def new_order(self, session: Session, create: CreateOrder, asset: AssetRef, now: datetime,
                  sla_tier: str | None = None) -> tuple[WorkOrderRow, WorkOrder]:
        """An order opened on `asset` and its row, not added to the session yet."""
        hours = asset.hours()
        policy = self._sla_policy(session, sla_tier, create.kind)
        key = new_id("wo")
        order = open_order(f"{WORK_ORDERS}/{key}", create, asset.site, now,
                           start_sla(policy.tier(), now, hours) if policy else None)
        row = WorkOrderRow(id=key, version=1, customer_id=asset.customer.split("/", 1)[1], hours=hours_to_json(hours),
                           reason=create.reason)
        save_order(row, order)
        return row, order

    def count_created(self, session: Session, created: Tally[str]) -> None:
        """Counts the orders `created` (by kind; the caller may add to it meanwhile) once the unit of work commits."""

        def count(_session: Session) -> None:
            for kind, number in created.items():
                self._created.labels(kind).inc(number)

        event.listen(session, "after_commit", count, once=True)

    def _sla_policy(self, session: Session, tier: str | None, kind: WorkOrderKind) -> SlaPolicyRow | None:
        if tier:
            policy = _policy(session, tier)
            if policy is None:
                raise InvalidArgument.field("work_order.sla_tier", f"slaPolicies/{tier} does not exist")
            return policy
        return _policy(session, DEFAULT_SLA_POLICY) if kind is WorkOrderKind.CORRECTIVE else None

    # --- preventive maintenance -------------------------------------------------------------------

    def calendar_due(self, session: Session, asset: AssetRef, now: datetime, lead_days: int) -> list[str]:
        """Work orders that calendar-due PM tasks (within `lead_days` at the site) went onto."""
        names: list[str] = []
        today = site_today(now, asset.time_zone)
        for plan in self._plans(session, asset):
            due = due_by_calendar(plan, asset.name, today, self.progress(session, plan, asset).last_completed,
                                  lead_days)
            if due is not None:
                names += self.place(session, due, asset, now)
        return names

    def order_completed(self, session: Session, order: WorkOrder, time_zone: str) -> None:
        """A completed visit restarts the calendar of each plan it served (the next one counts from it)."""
        # An upsert: ingestion may be recording a meter value for the same plan and asset right now.
        upsert(session, PmProgressRow.__table__, [
            dict(plan_id=task.plan.split("/", 1)[1], asset_id=task.asset.split("/", 1)[1],
                 last_completed=site_today(order.completed_at, time_zone)) for task in order.pm_tasks],
               ["plan_id", "asset_id"])

    def _plans(self, session: Session, asset: AssetRef) -> list[PmPlan]:
        return self.plans(session, {asset.asset_id: asset})[asset.asset_id]

    @staticmethod
    def plans(session: Session, assets: dict[str, AssetRef]) -> dict[str, list[PmPlan]]:
        """The PM plans of each of these assets (by id), read in one go."""
        rows = _plan_rows(session, list(assets.values()))
        return {asset_id: plans_of(asset, rows) for asset_id, asset in assets.items()}

    def progress(self, session: Session, plan: PmPlan, asset: AssetRef) -> PmProgressRow:
        return self._progress_of(session, plan.id.split("/", 1)[1], asset.asset_id)

    @staticmethod
    def _progress_of(session: Session, plan_id: str, asset_id: str) -> PmProgressRow:
        progress = session.get(PmProgressRow, (plan_id, asset_id))
        if progress is None:  # inserted by a statement, as a completion may insert it concurrently
            upsert(session, PmProgressRow.__table__, [dict(plan_id=plan_id, asset_id=asset_id)],
                   ["plan_id", "asset_id"])
            progress = session.get(PmProgressRow, (plan_id, asset_id))
        return progress

    def place(self, session: Session, due: DuePm, asset: AssetRef, now: datetime) -> list[str]:
        return [f"{WORK_ORDERS}/{row.id}" for row in self.place_rows(session, due, asset, now)]

    def place_rows(self, session: Session, due: DuePm, asset: AssetRef, now: datetime) -> list[WorkOrderRow]:
        """`place`, answering the rows of the orders the task went onto (new or merged)."""
        rows = open_order_rows(session, site=asset.site)
        placed = place_due_pm(due, asset.site, [load_order(row) for row in rows])
        match placed:
            case CreateOrder():
                return [self._open(session, placed, asset, now)]
            case MergeIntoOrder(order_id=order_id, task=task):
                # The visit may belong to another asset of the site, whose row the caller did not
                # lock: lock it and read it afresh; if it closed meanwhile, place the task again.
                row = session.scalars(select(WorkOrderRow).where(WorkOrderRow.id == order_id.split("/", 1)[1])
                                      .with_for_update().execution_options(populate_existing=True)).one()
                order = load_order(row)
                if not order.is_open:
                    return self.place_rows(session, due, asset, now)
                save_order(row, add_pm_task(order, task, now))
                return [row]
        return []


def _policy(session: Session, tier: str) -> SlaPolicyRow | None:
    """The tier's policy as this unit of work first read it: a processing round opens many orders,
    and a tier that does not exist (no default policy, say) would be asked for again each time."""
    policies = session.info.setdefault("sla_policies", {})
    if tier not in policies:
        policies[tier] = session.get(SlaPolicyRow, tier)
    return policies[tier]


def _plan_rows(session: Session, assets: list[AssetRef]) -> list[PreventivePlanRow]:
    """The PM plans of these assets or their models, in id order."""
    rows: list[PreventivePlanRow] = []
    for chunk in chunks(assets):
        rows += session.scalars(select(PreventivePlanRow).where(or_(
            PreventivePlanRow.asset_id.in_(sorted({a.asset_id for a in chunk})),
            PreventivePlanRow.device_model.in_(sorted({a.device_model for a in chunk})))))
    return sorted({row.id: row for row in rows}.values(), key=lambda row: row.id)


def plans_of(asset: AssetRef, rows: list[PreventivePlanRow]) -> list[PmPlan]:
    """The plans among `rows` that apply to the asset (see `plans_for`)."""
    return plans_for(asset.name, asset.device_model, [row.plan(asset.device_class) for row in rows
                                                      if row.asset_id == asset.asset_id
                                                      or row.device_model == asset.device_model])


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

