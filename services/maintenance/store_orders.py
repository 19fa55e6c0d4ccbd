"""Persistence of the work-order side: work orders (with their notes, SLA clocks and downtime),
SLA policies, preventive plans and their per-asset progress, consumable shipments.

A work order row holds the whole domain `WorkOrder`; `load_order` / `save_order` translate, so the
verbs stay pure functions in `domain/work_orders.py`. The site's opening hours are copied onto the
order when it opens: its SLA promise is read against the hours it was made under.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import JSON, Date, Float, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from services.maintenance.domain.alarms import AlarmKey
from services.maintenance.domain.business_hours import OpeningHours
from services.maintenance.domain.consumables import CreateShipment
from services.maintenance.domain.diagnostics import Severity
from services.maintenance.domain.preventive import PmPlan
from services.maintenance.domain.sla import SlaClock, SlaTerms, SlaTier
from services.maintenance.domain.work_orders import (
    OPEN_STATES,
    Completion,
    DowntimeInterval,
    MeterReading,
    PartUsed,
    PmTask,
    VisitWindow,
    WorkNote,
    WorkOrder,
    WorkOrderKind,
    WorkOrderState,
)
from services.maintenance.store import Base
from services.runtime.db import UtcDateTime, chunks, utc_now
from services.runtime.repository import NamedRowMixin

WORK_ORDERS = "workOrders"
SHIPMENT_OPEN = "open"
_OPEN = sorted(state.value for state in OPEN_STATES)


def new_id(prefix: str) -> str:
    """Ids that sort by creation time, so lists in id order read oldest first."""
    return f"{prefix}-{utc_now():%Y%m%d%H%M%S%f}-{secrets.token_hex(3)}"


class WorkOrderRow(NamedRowMixin, Base):
    __tablename__ = "work_orders"
    __table_args__ = (
        Index("ix_work_orders_asset_state", "asset_id", "state"),
        Index("ix_work_orders_site_state", "site", "state"),
        Index("ix_work_orders_downtime", "downtime_start", "downtime_end"),
    )
    asset_id: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    site: Mapped[str] = mapped_column(String(400), default="")
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(Integer)
    families: Mapped[list] = mapped_column(JSON, default=list)
    skill: Mapped[str | None] = mapped_column(String(63))
    expected_duration_minutes: Mapped[int] = mapped_column(Integer, default=0)
    likely_parts: Mapped[list] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(500), default="")
    alarms: Mapped[list] = mapped_column(JSON, default=list)  # [[asset, fault_key, first_seen ISO], ...]
    pm_tasks: Mapped[list] = mapped_column(JSON, default=list)
    # The opening hours of the site when the order opened: {"time_zone": ..., "weekly": [[[start, end], ...] x 7]}
    hours: Mapped[dict] = mapped_column(JSON)
    sla_tier: Mapped[str] = mapped_column(String(63), default="")
    sla_started: Mapped[datetime | None] = mapped_column(UtcDateTime)
    at_risk_share: Mapped[float | None] = mapped_column(Float)
    response_target_seconds: Mapped[int | None] = mapped_column(Integer)
    response_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution_target_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    technician_id: Mapped[str | None] = mapped_column(String(200), index=True)
    accepted_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    arrived_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hold_reason: Mapped[str | None] = mapped_column(String(500))
    completion: Mapped[dict | None] = mapped_column(JSON)
    completed_time: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[list] = mapped_column(JSON, default=list)  # [{"at", "technician", "text"}, ...]
    # Corrective orders only: planned maintenance is not unavailability.
    downtime_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    downtime_end: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SlaPolicyRow(NamedRowMixin, Base):
    __tablename__ = "sla_policies"
    response_target_seconds: Mapped[int] = mapped_column(Integer)
    resolution_target_seconds: Mapped[int] = mapped_column(Integer)
    at_risk_share: Mapped[float] = mapped_column(Float)

    def tier(self) -> SlaTier:
        return SlaTier(self.id, timedelta(seconds=self.response_target_seconds),
                       timedelta(seconds=self.resolution_target_seconds), self.at_risk_share)


class PreventivePlanRow(NamedRowMixin, Base):
    __tablename__ = "preventive_plans"
    device_model: Mapped[str | None] = mapped_column(String(200), index=True)  # deviceModels/{m}
    asset_id: Mapped[str | None] = mapped_column(String(200), index=True)
    task: Mapped[str] = mapped_column(String(200))
    every_days: Mapped[int | None] = mapped_column(Integer)
    start_date: Mapped[date | None] = mapped_column(Date)
    meter_register: Mapped[str | None] = mapped_column(String(40))
    meter_interval: Mapped[str | None] = mapped_column(String(40))  # exact decimal
    meter_start: Mapped[str] = mapped_column(String(40), default="0")
    skill: Mapped[str | None] = mapped_column(String(63))
    expected_duration_minutes: Mapped[int] = mapped_column(Integer, default=0)
    parts: Mapped[list] = mapped_column(JSON, default=list)

    def plan(self, device_class: str) -> PmPlan:
        """The domain plan; its family (`printer/preventive-maintenance`) follows the asset's class,
        so a maintenance-due alarm of the device joins the same visit."""
        return PmPlan(
            id=f"preventivePlans/{self.id}", task=self.task, family=f"{device_class}/preventive-maintenance",
            skill=self.skill, expected_duration_minutes=self.expected_duration_minutes, parts=tuple(self.parts),
            model=self.device_model, asset=f"assets/{self.asset_id}" if self.asset_id else None,
            every_days=self.every_days, start_date=self.start_date, meter=self.meter_register,
            every_units=Decimal(self.meter_interval) if self.meter_interval else None,
            start_value=Decimal(self.meter_start or "0"))


class PmProgressRow(Base):
    """Where a plan stands on one asset: the highest meter value seen, the last completed service."""

    __tablename__ = "pm_progress"
    plan_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    meter_value: Mapped[str | None] = mapped_column(String(40))
    last_completed: Mapped[date | None] = mapped_column(Date)


class ShipmentRow(NamedRowMixin, Base):
    __tablename__ = "shipments"
    __table_args__ = (Index("ix_shipments_asset_state", "asset_id", "state"),)
    asset_id: Mapped[str] = mapped_column(String(200))
    part: Mapped[str] = mapped_column(String(200))
    supply: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(16), default="open")


def open_order_rows(session: Session, *, asset_ids: list[str] | None = None, site: str | None = None,
                    lock: bool = False) -> list[WorkOrderRow]:
    """With `lock`, the rows are locked and read afresh: a technician's verb on one of them waits
    for this unit of work instead of being overwritten by it."""
    query = select(WorkOrderRow).where(WorkOrderRow.state.in_(_OPEN)).order_by(WorkOrderRow.id)
    if site is not None:
        query = query.where(WorkOrderRow.site == site)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    if asset_ids is None:
        return list(session.scalars(query))
    return [row for chunk in chunks(asset_ids) for row in session.scalars(query.where(WorkOrderRow.asset_id.in_(chunk)))]


def shipment_row(shipment: CreateShipment) -> ShipmentRow:
    """A new open shipment's row; created now, whenever the row is written."""
    now = utc_now()
    return ShipmentRow(id=new_id("sh"), version=1, create_time=now, update_time=now,
                       asset_id=shipment.asset.split("/", 1)[1], part=shipment.part, supply=shipment.supply,
                       reason=shipment.reason, state=SHIPMENT_OPEN)


def hours_to_json(hours: OpeningHours) -> dict:
    return {"time_zone": hours.time_zone, "weekly": [[list(span) for span in day] for day in hours.weekly]}


def hours_of(row: WorkOrderRow) -> OpeningHours:
    weekly = tuple(tuple(tuple(span) for span in day) for day in row.hours["weekly"])
    return OpeningHours(row.hours["time_zone"], weekly)


def load_order(row: WorkOrderRow) -> WorkOrder:
    return WorkOrder(
        id=f"{WORK_ORDERS}/{row.id}", asset=f"assets/{row.asset_id}", site=row.site, kind=WorkOrderKind(row.kind),
        families=frozenset(row.families), priority=Severity(row.priority), skill=row.skill,
        expected_duration_minutes=row.expected_duration_minutes, likely_parts=tuple(row.likely_parts),
        state=WorkOrderState(row.state), created_at=row.create_time, updated_at=row.update_time,
        alarms=tuple(AlarmKey(asset, key, datetime.fromisoformat(seen)) for asset, key, seen in row.alarms),
        pm_tasks=tuple(_pm_task(task) for task in row.pm_tasks),
        sla=_sla_of(row),
        window=VisitWindow(row.window_start, row.window_end) if row.window_start else None,
        technician=row.technician_id, accepted_at=row.accepted_time, arrived_at=row.arrived_time,
        hold_reason=row.hold_reason, completion=_completion_of(row.completion), completed_at=row.completed_time,
        cancel_reason=row.cancel_reason,
        notes=tuple(WorkNote(datetime.fromisoformat(n["at"]), n["technician"], n["text"]) for n in row.notes),
        downtime=DowntimeInterval(f"assets/{row.asset_id}", row.downtime_start, row.downtime_end)
        if row.downtime_start else None,
    )


def save_order(row: WorkOrderRow, order: WorkOrder, changes: int = 1) -> None:
    """Copies a domain order into its row and moves the etag on when anything changed: by `changes`,
    the verbs that led from the row's order to this one (a processing round saves several at once)."""
    before = load_order(row) if row.state else None
    if before == order:
        return
    row.asset_id = order.asset.split("/", 1)[1]
    row.site, row.kind, row.state, row.priority = order.site, order.kind.value, order.state.value, int(order.priority)
    row.families = sorted(order.families)
    row.skill, row.expected_duration_minutes = order.skill, order.expected_duration_minutes
    row.likely_parts = list(order.likely_parts)
    row.alarms = [[key.asset, key.fault_key, key.first_seen.isoformat()] for key in order.alarms]
    row.pm_tasks = [_pm_task_json(task) for task in order.pm_tasks]
    _save_sla(row, order.sla)
    row.window_start, row.window_end = (order.window.start, order.window.end) if order.window else (None, None)
    row.technician_id, row.accepted_time, row.arrived_time = order.technician, order.accepted_at, order.arrived_at
    row.hold_reason, row.cancel_reason = order.hold_reason, order.cancel_reason
    row.completion, row.completed_time = _completion_json(order.completion), order.completed_at
    row.notes = [{"at": n.at.isoformat(), "technician": n.technician, "text": n.text} for n in order.notes]
    downtime = order.downtime
    row.downtime_start, row.downtime_end = (downtime.start, downtime.end) if downtime else (None, None)
    if before is None:
        row.create_time = row.update_time = order.created_at
    else:
        row.version += changes
        row.update_time = order.updated_at


def _pm_task(task: dict) -> PmTask:
    return PmTask(task["plan"], task["asset"], task["task"], task["reason"], task["expected_duration_minutes"],
                  tuple(task["parts"]))


def _pm_task_json(task: PmTask) -> dict:
    return {"plan": task.plan, "asset": task.asset, "task": task.task, "reason": task.reason,
            "expected_duration_minutes": task.expected_duration_minutes, "parts": list(task.parts)}


def _sla_of(row: WorkOrderRow) -> SlaTerms | None:
    if not row.sla_tier:
        return None
    return SlaTerms(
        row.sla_tier,
        SlaClock(row.sla_started, timedelta(seconds=row.response_target_seconds), row.response_due, row.at_risk_share),
        SlaClock(row.sla_started, timedelta(seconds=row.resolution_target_seconds), row.resolution_due,
                 row.at_risk_share))


def _save_sla(row: WorkOrderRow, sla: SlaTerms | None) -> None:
    if sla is None:
        row.sla_tier = ""
        return
    row.sla_tier, row.sla_started, row.at_risk_share = sla.tier, sla.response.started_at, sla.response.at_risk_share
    row.response_target_seconds = int(sla.response.target.total_seconds())
    row.resolution_target_seconds = int(sla.resolution.target.total_seconds())
    row.response_due, row.resolution_due = sla.response.due_at, sla.resolution.due_at


def _completion_of(data: dict | None) -> Completion | None:
    if data is None:
        return None
    meter = data.get("meter")
    return Completion(
        resolution_code=data["resolution_code"],
        parts_used=tuple(PartUsed(part, quantity) for part, quantity in data["parts_used"]),
        labour_minutes=data["labour_minutes"],
        meter_reading=MeterReading(meter[0], Decimal(meter[1])) if meter else None,
        notes=data["notes"])


def _completion_json(completion: Completion | None) -> dict | None:
    if completion is None:
        return None
    reading = completion.meter_reading
    return {"resolution_code": completion.resolution_code,
            "parts_used": [[used.part, used.quantity] for used in completion.parts_used],
            "labour_minutes": completion.labour_minutes,
            "meter": [reading.meter, str(reading.value)] if reading else None, "notes": completion.notes}
