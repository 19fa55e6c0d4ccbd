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
from services.runtime.db import Database, chunks, upsert, utc_now
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

    @staticmethod
    def _plans(session: Session, asset: AssetRef) -> list[PmPlan]:
        return plans_of(asset, _plan_rows(session, [asset]))

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

    # --- consumables ------------------------------------------------------------------------------

    @staticmethod
    def ship(session: Session, shipments: list[CreateShipment]) -> list[str]:
        rows = [shipment_row(shipment) for shipment in shipments]
        session.add_all(rows)
        session.flush()
        return [f"shipments/{row.id}" for row in rows]


class _Held:
    """An open order of one of the round's assets: its row (held here, as the session keeps rows only
    while something else does), the order as the round has it now, and how many changes the round
    made to it since it was last copied into the row (each moves the etag on, as one at a time would)."""

    __slots__ = ("changes", "order", "row")

    def __init__(self, row: WorkOrderRow, order: WorkOrder):
        self.row, self.order, self.changes = row, order, 0


class OrderRound:
    """What one processing round decides about work orders, shipments and PM, for assets the round
    holds locked. Each kind of row those decisions read (open orders, PM plans, shipments) is read
    once for all the round's assets, when first needed, instead of once per alarm, counter or
    supply; what the round creates is added to what it read, so later decisions see it.

    An asset's open orders are turned into domain orders once, and the round's decisions change
    those; the orders and shipments it creates, and the orders it changes (each once), go into the
    session when the unit of work commits, or before PM placement reads the site's open orders from
    the database: one flush for the round instead of one per order opened or shipment sent."""

    def __init__(self, desk: OrderDesk, session: Session, assets: dict[str, AssetRef]):
        self._desk, self._session, self._assets = desk, session, assets
        self._rows: dict[str, list[WorkOrderRow]] | None = None  # open orders read, by asset
        self._orders: dict[str, list[_Held]] = {}  # ... as domain orders, for the assets decided on so far
        self._plans: dict[str, list[PmPlan]] | None = None
        self._shipments: dict[str, list[Shipment]] | None = None
        self._parts: dict[tuple[str, str | None], str] = {}
        self._unwritten: dict[int, _Held] = {}  # by id(): orders changed since they were copied into their rows
        self._unadded: list[WorkOrderRow | ShipmentRow] = []  # created, not in the session yet
        self._created: Tally[str] = Tally()  # orders opened, by kind: counted once committed
        self._writes_at_commit = False

    def route_alarm(self, alarm: Alarm, asset: AssetRef, now: datetime) -> str | None:
        """Applies `decide` to the alarm; the name of the work order the alarm is on, or None."""
        orders = self._open_orders(asset.asset_id)
        decision = decide(alarm, (held.order for held in orders), self._desk.rules, now)
        match decision:
            case CreateOrder():
                row, order = self._desk.new_order(self._session, decision, asset, now)
                self._rows[asset.asset_id].append(row)
                orders.append(_Held(row, order))
                self._created[decision.kind.value] += 1
                self._add(row)
                return order.id
            case AttachToOrder(order_id=order_id):
                held = next(held for held in orders if held.order.id == order_id)
                self._change(held, attach_alarm(held.order, alarm, now))
                return order_id
            case ShipConsumable():
                supply_of = {c: c.removeprefix(_SUPPLY_CONDITION_PREFIX) for c in decision.supplies
                             if c.startswith(_SUPPLY_CONDITION_PREFIX)}
                self._ship(shipments_for_alarm(decision, supply_of, self._open_shipments(asset.asset_id)))
                return None
            case NoAction():
                return next((held.order.id for held in orders if alarm.key in held.order.alarms), None)

    def meter_reading(self, asset: AssetRef, register: str, previous: Decimal | None, value: Decimal,
                      at: datetime) -> list[str]:
        """Work orders that PM meter crossings went onto (new or merged).

        Each plan remembers the highest value it has seen on the asset and counts crossings from
        there, so a replayed, late or lower reading crosses nothing twice. A plan that has never
        seen the asset starts from `previous`; without that either, the reading only sets the
        starting point (a plan added to a fleet in service does not fire for all its past).
        """
        names: list[str] = []
        for plan in self._plans_of(asset):
            if plan.meter != register:
                continue
            progress = self._desk.progress(self._session, plan, asset)
            baseline = Decimal(progress.meter_value) if progress.meter_value is not None else previous
            if baseline is None or value > baseline:
                progress.meter_value = str(value)
            if baseline is None or value <= baseline:
                continue
            due = due_by_meter(plan, asset.name, baseline, value)
            if due is not None:
                # Placement reads the site's open orders from the database and may lock and change one of the round's.
                self._write()
                self._session.flush()
                names += [self._placed(row) for row in self._desk.place_rows(self._session, due, asset, at)]
        return names

    def supply_levels(self, asset: AssetRef, supply: str, history: list[LevelReading], now: datetime) -> list[str]:
        """Ships a supply forecast to run out within lead time plus safety days.

        A supply is named `{device index}.{supply index}` (its alarm condition is `printer-supply:1.1`);
        the part shipped is the one shipped for that supply before, else the supply itself.
        """
        desk = self._desk
        forecast = forecast_days_to_empty(history, now, desk.forecast)
        shipments = self._open_shipments(asset.asset_id)
        decision = replenishment(asset.name, self._parts.get((asset.asset_id, supply), supply), supply, forecast,
                                 desk.lead_time_days, desk.safety_days, shipments)
        if isinstance(decision, CreateShipment):
            return self._ship([decision])
        return []

    def _open_orders(self, asset_id: str) -> list[_Held]:
        if self._rows is None:  # locked, and read afresh: see open_order_rows
            self._rows = {a: [] for a in self._assets}
            for row in open_order_rows(self._session, asset_ids=sorted(self._assets), lock=True):
                self._rows[row.asset_id].append(row)
        orders = self._orders.get(asset_id)
        if orders is None:
            orders = self._orders[asset_id] = [_Held(row, load_order(row)) for row in self._rows[asset_id]]
        return orders

    def _placed(self, row: WorkOrderRow) -> str:
        """Adds an order the round opened or merged PM into (its row current) to the open orders it knows."""
        if self._rows is not None and row.asset_id in self._rows:
            if row not in self._rows[row.asset_id]:
                self._rows[row.asset_id].append(row)
            self._orders.pop(row.asset_id, None)  # turned into domain orders afresh when next needed
        return f"{WORK_ORDERS}/{row.id}"

    def _change(self, held: _Held, order: WorkOrder) -> None:
        if order is not held.order:
            held.order = order
            held.changes += 1
            self._unwritten[id(held)] = held
            self._write_at_commit()

    def _add(self, row: WorkOrderRow | ShipmentRow) -> None:
        self._unadded.append(row)
        self._write_at_commit()

    def _write_at_commit(self) -> None:
        if not self._writes_at_commit:
            self._writes_at_commit = True
            event.listen(self._session, "before_commit", lambda _session: self._write(), once=True)
            self._desk.count_created(self._session, self._created)

    def _write(self) -> None:
        """Puts what the round created into the session, and copies each order it changed into its row once."""
        self._session.add_all(self._unadded)
        self._unadded = []
        for held in self._unwritten.values():
            save_order(held.row, held.order, held.changes)
            held.changes = 0
        self._unwritten = {}

    def _plans_of(self, asset: AssetRef) -> list[PmPlan]:
        if self._plans is None:
            rows = _plan_rows(self._session, list(self._assets.values()))
            self._plans = {a: plans_of(ref, rows) for a, ref in self._assets.items()}
        return self._plans[asset.asset_id]

    def _open_shipments(self, asset_id: str) -> list[Shipment]:
        if self._shipments is None:
            self._shipments = {a: [] for a in self._assets}
            for chunk in chunks(sorted(self._assets)):
                for row in self._session.execute(select(ShipmentRow.asset_id, ShipmentRow.part, ShipmentRow.supply,
                                                        ShipmentRow.state)
                                                 .where(ShipmentRow.asset_id.in_(chunk)).order_by(ShipmentRow.id)):
                    self._parts[(row.asset_id, row.supply)] = row.part  # the latest shipment's part wins
                    if row.state == SHIPMENT_OPEN:
                        self._shipments[row.asset_id].append(Shipment(f"assets/{row.asset_id}", row.part, row.supply))
        return self._shipments[asset_id]

    def _ship(self, shipments: list[CreateShipment]) -> list[str]:
        names = []
        for shipment in shipments:
            asset_id = shipment.asset.split("/", 1)[1]
            self._open_shipments(asset_id).append(Shipment(shipment.asset, shipment.part, shipment.supply))
            self._parts[(asset_id, shipment.supply)] = shipment.part
            row = shipment_row(shipment)
            self._add(row)
            names.append(f"shipments/{row.id}")
        return names


def shipment_row(shipment: CreateShipment) -> ShipmentRow:
    """A new open shipment's row; created now, whenever the row is written."""
    now = utc_now()
    return ShipmentRow(id=new_id("sh"), version=1, create_time=now, update_time=now,
                       asset_id=shipment.asset.split("/", 1)[1], part=shipment.part, supply=shipment.supply,
                       reason=shipment.reason, state=SHIPMENT_OPEN)


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

