"""Optimizer plans as resources: one row per solve, with its input summary and outcome as JSON.

The outcome is the plan message's output fields in proto JSON form, so a Get answers without
recomputing and the stored shape follows the API's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.fleet.store import Base
from services.runtime.db import UtcDateTime
from services.runtime.repository import NamedRowMixin


class PlanRowMixin(NamedRowMixin):
    state: Mapped[str] = mapped_column(String(16), index=True)
    customer_id: Mapped[str] = mapped_column(String(200), index=True)
    site_id: Mapped[str | None] = mapped_column(String(200))
    currency_code: Mapped[str] = mapped_column(String(3))
    # What the solve was given (scope, parameters, the problem in the optimizer's JSON form).
    input: Mapped[dict] = mapped_column(JSON, default=dict)
    # The plan message's outcome fields in proto JSON; empty while RUNNING.
    output: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")


class PlacementPlanRow(PlanRowMixin, Base):
    __tablename__ = "placement_plans"
    apply_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # {"ordered_assets": [...], "moved_assets": [...], "retired_assets": [...]} once applied.
    application: Mapped[dict] = mapped_column(JSON, default=dict)


class ReplacementPlanRow(PlanRowMixin, Base):
    __tablename__ = "replacement_plans"
    device_model_id: Mapped[str | None] = mapped_column(String(200))
