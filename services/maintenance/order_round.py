"""The work-order side of one processing round: what its alarms, page counters and supply levels set
in motion, decided for many assets at once and written once (see `OrderRound`)."""

from __future__ import annotations

from collections import Counter as Tally
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from services.maintenance.asset_directory import AssetRef
from services.maintenance.domain.alarms import Alarm
from services.maintenance.domain.consumables import (
    CreateShipment,
    LevelReading,
    Shipment,
    forecast_days_to_empty,
    replenishment,
    shipments_for_alarm,
)
from services.maintenance.domain.preventive import PmPlan, due_by_meter
from services.maintenance.domain.work_order_rules import AttachToOrder, CreateOrder, NoAction, ShipConsumable, decide
from services.maintenance.domain.work_orders import WorkOrder, attach_alarm
from services.maintenance.store_orders import (
    SHIPMENT_OPEN,
    WORK_ORDERS,
    ShipmentRow,
    WorkOrderRow,
    load_order,
    open_order_rows,
    save_order,
    shipment_row,
)
from services.runtime.db import chunks

if TYPE_CHECKING:
    from services.maintenance.orders import OrderDesk

_SUPPLY_CONDITION_PREFIX = "printer-supply:"


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
            self._plans = self._desk.plans(self._session, self._assets)
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
