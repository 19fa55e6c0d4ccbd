"""Contracts and billing periods: who is billed, for which assets, from when to when.

Dates are calendar days in UTC and every span is half-open, [start, end): an asset covered from
the 10th to the 20th is covered ten days. A billing period runs from one anchor day to the next
(the anchor is clamped to short months: anchor 31 means the 30th in April, the 28th or 29th in
February). Proration is by day: covered days over the days of the period or fee cycle.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from services.runtime.currencies import MINOR_UNITS
from services.runtime.errors import FieldViolation, InvalidArgument


def _anchored_day(year: int, month: int, anchor_day: int) -> date:
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def overlap_days(start: date, end: date, other_start: date, other_end: date) -> int:
    """Days in both [start, end) and [other_start, other_end)."""
    return max(0, (min(end, other_end) - max(start, other_start)).days)


@dataclass(frozen=True, slots=True)
class BillingPeriod:
    start: date
    end: date  # exclusive

    @classmethod
    def anchored(cls, year: int, month: int, anchor_day: int) -> BillingPeriod:
        """The period that starts on the anchor day of `month`."""
        next_year, next_month = _shift_month(year, month, 1)
        return cls(_anchored_day(year, month, anchor_day), _anchored_day(next_year, next_month, anchor_day))

    @classmethod
    def containing(cls, day: date, anchor_day: int) -> BillingPeriod:
        period = cls.anchored(day.year, day.month, anchor_day)
        if day < period.start:
            year, month = _shift_month(day.year, day.month, -1)
            period = cls.anchored(year, month, anchor_day)
        return period

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def month_index(self) -> int:
        """Months since year 0 of the month the period starts in, to count whole periods between two."""
        return self.start.year * 12 + self.start.month - 1

    def shifted(self, months: int, anchor_day: int) -> BillingPeriod:
        year, month = _shift_month(self.start.year, self.start.month, months)
        return BillingPeriod.anchored(year, month, anchor_day)


@dataclass(frozen=True, slots=True)
class CoveredAsset:
    """An asset under the contract from `effective_from` until `effective_to` (exclusive; None: open)."""

    asset: str
    site: str
    cost_centre: str
    effective_from: date
    effective_to: date | None = None

    def days_in(self, start: date, end: date) -> int:
        return overlap_days(self.effective_from, self.effective_to or date.max, start, end)


@dataclass(frozen=True, slots=True)
class Contract:
    contract_id: str
    customer: str
    plan_id: str
    plan_version: int
    currency: str
    issuing_entity: str
    billing_anchor_day: int
    start_date: date
    assets: tuple[CoveredAsset, ...]
    billing_site: str  # where contract-level lines (per-contract fees, true-ups, discounts) are grouped
    billing_cost_centre: str
    purchase_order: str = ""
    end_date: date | None = None  # exclusive

    def active_days(self, start: date, end: date) -> int:
        return overlap_days(self.start_date, self.end_date or date.max, start, end)

    def billable_span(self, covered: CoveredAsset) -> tuple[date, date]:
        """[from, to) while `covered` is under the contract and the contract runs."""
        return (max(covered.effective_from, self.start_date),
                min(covered.effective_to or date.max, self.end_date or date.max))

    def asset_days(self, covered: CoveredAsset, start: date, end: date) -> int:
        """Days `covered` is billable within [start, end)."""
        return overlap_days(*self.billable_span(covered), start, end)

    def period_number(self, period: BillingPeriod) -> int:
        """0 for the period the contract starts in, 1 for the next one, ..."""
        return period.month_index - BillingPeriod.containing(self.start_date, self.billing_anchor_day).month_index


def validate_contract(contract: Contract) -> None:
    violations: list[FieldViolation] = []

    def add(path: str, description: str) -> None:
        violations.append(FieldViolation(f"contract.{path}", description))

    for name in ("contract_id", "customer", "plan_id", "issuing_entity", "billing_site", "billing_cost_centre"):
        if not getattr(contract, name).strip():
            add(name, "is required")
    if contract.plan_version < 1:
        add("plan_version", "must be 1 or more")
    if contract.currency not in MINOR_UNITS:
        add("currency", f"{contract.currency!r} is not a supported ISO 4217 currency")
    if not 1 <= contract.billing_anchor_day <= 31:
        add("billing_anchor_day", "must be between 1 and 31")
    if contract.end_date is not None and contract.end_date <= contract.start_date:
        add("end_date", "must be after start_date")
    spans: dict[str, list[tuple[date, date]]] = {}
    for index, covered in enumerate(contract.assets):
        if not covered.asset.strip():
            add(f"assets[{index}].asset", "is required")
        if not covered.site.strip() or not covered.cost_centre.strip():
            add(f"assets[{index}]", "site and cost_centre are required")
        end = covered.effective_to or date.max
        if end <= covered.effective_from:
            add(f"assets[{index}].effective_to", "must be after effective_from")
        for other_start, other_end in spans.get(covered.asset, ()):
            if overlap_days(covered.effective_from, end, other_start, other_end):
                add(f"assets[{index}]", f"{covered.asset} is already covered on some of these days")
        spans.setdefault(covered.asset, []).append((covered.effective_from, end))
    if violations:
        raise InvalidArgument(violations)
