"""Persistence of technician schedules: the request, the solve's outcome and whether it was applied.

The outcome is kept whole as JSON in the schedule codec's format (`schedule_codec.solution_to_json`),
so a re-plan can start from it exactly as it was answered.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, Boolean, Date, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.maintenance.store import Base
from services.runtime.repository import NamedRowMixin

SCHEDULES = "schedules"


class ScheduleRow(NamedRowMixin, Base):
    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_territory_id", "territory", "id"),)
    territory: Mapped[str] = mapped_column(String(63))
    plan_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16))  # running, succeeded, failed
    time_limit_seconds: Mapped[float] = mapped_column(Float)
    notes: Mapped[list] = mapped_column(JSON, default=list)
    # Orders of the territory left out before solving because their site has no position (ids).
    unlocated: Mapped[list] = mapped_column(JSON, default=list)
    solution: Mapped[dict | None] = mapped_column(JSON)  # None until the solve succeeded
    error: Mapped[str] = mapped_column(Text, default="")
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    replanned_from: Mapped[str] = mapped_column(String(200), default="")  # schedule id
    urgent_work_order: Mapped[str] = mapped_column(String(200), default="")  # work order id
