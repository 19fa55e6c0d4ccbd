"""A billing run's rating: contracts and plans in, usage, downtime and work from the other
services, consolidated draft invoices out (pure domain rating in the middle).

Estimates and true-up: a usage line whose period-end read was ESTIMATED leaves a *position*
(where its usage window started and the quantity it billed). The next period's window then
starts where that one started, so it spans the estimated stretch again up to the next period's
end, and `estimate_already_billed` is what was billed in it: only the difference is billed (or
credited). An ACTUAL end read moves the window start to the period end and carries nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from time import perf_counter

from services.invoicing.domain.context import RatingContext
from services.invoicing.domain.contracts import BillingPeriod, Contract
from services.invoicing.domain.fees import SECONDS_PER_DAY
from services.invoicing.domain.invoices import Invoice, TaxPolicy, consolidate
from services.invoicing.domain.lines import RatedContract
from services.invoicing.domain.plans import Register
from services.invoicing.domain.rating import RatingInput, rate_contract
from services.invoicing.domain.usage import MeterRead, OneOffItem, ReadKind, UsageRecord
from services.invoicing.peers import CompletedWork, FleetUsage, MaintenanceRecords, MeasuredUsage, UsageWindow
from services.invoicing.plan_codec import RatablePlan

ZERO = Decimal(0)
HOUR_QUANTUM = Decimal("0.01")  # labour is billed in hundredths of an hour, rounded half up


@dataclass(frozen=True)
class ContractTerms:
    contract: Contract
    plan: RatablePlan


@dataclass(frozen=True, slots=True)
class Position:
    """Where the next usage window of (contract, asset, register) starts, and what it already billed."""

    window_start: datetime
    already_billed: Decimal


PositionKey = tuple[str, str, Register]  # (contract id, asset, register)


@dataclass
class RatedRun:
    invoices: list[Invoice]
    windows: dict[PositionKey, tuple[str, datetime]] = field(default_factory=dict)  # fleet register, window start
    contract_count: int = 0
    asset_count: int = 0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # usage, downtime, work, rating

    @property
    def estimated_line_count(self) -> int:
        return sum(1 for invoice in self.invoices for line in invoice.lines if line.estimated)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def rate_run(terms: Sequence[ContractTerms], period_start: date, policies: Mapping[str, TaxPolicy],
             positions: Mapping[PositionKey, Position], fleet: FleetUsage,
             maintenance: MaintenanceRecords) -> RatedRun:
    periods = {t.contract.contract_id: BillingPeriod.containing(period_start, t.contract.billing_anchor_day)
               for t in terms}
    contexts = {t.contract.contract_id: RatingContext(t.contract, t.plan.version, periods[t.contract.contract_id])
                for t in terms}
    run = RatedRun(invoices=[], contract_count=len(terms))
    windows_of: dict[str, list[tuple[str, Register, UsageWindow, Decimal]]] = {}
    asking: dict[UsageWindow, list[str]] = {}
    assets_in_run: set[str] = set()
    for t in terms:
        contract_id = t.contract.contract_id
        period = periods[contract_id]
        covered = contexts[contract_id].in_period
        assets_in_run.update(covered)
        for register, fleet_register in t.plan.fleet_registers.items():
            for asset in covered:
                key = (contract_id, asset, register)
                position = positions.get(key)
                start = position.window_start if position else midnight(period.start)
                window = UsageWindow(fleet_register, start, midnight(period.end))
                windows_of.setdefault(contract_id, []).append(
                    (asset, register, window, position.already_billed if position else ZERO))
                run.windows[key] = (fleet_register, start)
                asking.setdefault(window, []).append(asset)
    run.asset_count = len(assets_in_run)
    clock = _PhaseClock(run.phase_seconds)
    measured = fleet.usage(asking) if asking else {}
    clock.lap("usage")
    downtime = _downtime(terms, contexts, periods, maintenance)
    clock.lap("downtime")
    work = _completed_work(terms, periods, maintenance)
    clock.lap("work")
    rated: list[RatedContract] = []
    for t in terms:
        contract_id = t.contract.contract_id
        usage = [_record(asset, register, measured[(window, asset)], already)
                 for asset, register, window, already in windows_of.get(contract_id, ())]
        rated.append(rate_contract(RatingInput(
            contract=t.contract, plan=t.plan.version, period=periods[contract_id], usage=usage,
            downtime_seconds=downtime.get(contract_id, {}), one_offs=work.get(contract_id, ()))))
    run.invoices = consolidate(rated, policies)
    clock.lap("rating")
    return run


class _PhaseClock:
    """Wall-clock seconds of consecutive phases, so a slow run shows where its time went."""

    def __init__(self, into: dict[str, float]):
        self._into, self._last = into, perf_counter()

    def lap(self, phase: str) -> None:
        now = perf_counter()
        self._into[phase] = now - self._last
        self._last = now


def _record(asset: str, register: Register, usage: MeasuredUsage, already_billed: Decimal) -> UsageRecord:
    quantum = register.quantum
    return UsageRecord(
        asset=asset, register=register,
        start_read=_read(usage.start.value, usage.start.estimated, usage.start.read_time),
        end_read=_read(usage.end.value, usage.end.estimated, usage.end.read_time),
        # an estimate is fractional; it is billed in whole quanta and trued up against the same rounding
        quantity=usage.quantity.quantize(quantum, rounding=ROUND_HALF_UP), estimate_already_billed=already_billed,
    )


def _read(value: Decimal, estimated: bool, read_time: datetime) -> MeterRead:
    return MeterRead(value, ReadKind.ESTIMATED if estimated else ReadKind.ACTUAL, read_time)


def _downtime(terms: Sequence[ContractTerms], contexts: Mapping[str, RatingContext],
              periods: Mapping[str, BillingPeriod], maintenance: MaintenanceRecords) -> dict[str, dict[str, int]]:
    """Seconds down per contract and asset within the period (overlapping intervals counted once)."""
    guaranteed = [t for t in terms if t.plan.has_availability_guarantee]
    by_period: dict[BillingPeriod, set[str]] = {}
    for t in guaranteed:
        by_period.setdefault(periods[t.contract.contract_id], set()).update(contexts[t.contract.contract_id].in_period)
    intervals = {period: maintenance.downtime(assets, midnight(period.start), midnight(period.end))
                 for period, assets in by_period.items()}
    seconds: dict[str, dict[str, int]] = {}
    for t in guaranteed:
        contract_id = t.contract.contract_id
        period = periods[contract_id]
        for asset, placed in contexts[contract_id].in_period.items():
            down = _seconds_within(intervals[period].get(asset, []), midnight(period.start), midnight(period.end))
            if down:
                seconds.setdefault(contract_id, {})[asset] = min(down, placed.days * SECONDS_PER_DAY)
    return seconds


def _seconds_within(intervals: list[tuple[datetime, datetime | None]], start: datetime, end: datetime) -> int:
    clipped = sorted((max(s, start), min(e or end, end)) for s, e in intervals)
    total, reach = 0, start
    for s, e in clipped:
        s = max(s, reach)
        if e > s:
            total += int((e - s).total_seconds())
            reach = e
    return total


def _completed_work(terms: Sequence[ContractTerms], periods: Mapping[str, BillingPeriod],
                    maintenance: MaintenanceRecords) -> dict[str, list[OneOffItem]]:
    """Billable labour and parts of work orders completed in the period on each contract's assets."""
    billing = [t for t in terms if t.plan.work_orders.bills_anything]
    by_customer: dict[tuple[str, BillingPeriod], list[ContractTerms]] = {}
    for t in billing:
        by_customer.setdefault((t.contract.customer, periods[t.contract.contract_id]), []).append(t)
    items: dict[str, list[OneOffItem]] = {}
    for (customer, period), customer_terms in sorted(by_customer.items(), key=lambda kv: kv[0][0]):
        orders = maintenance.completed_work(customer, midnight(period.start), midnight(period.end))
        for order in orders:
            day = order.completed_at.date()
            owner = next((t for t in customer_terms for covered in t.contract.assets
                          if covered.asset == order.asset
                          and t.contract.asset_days(covered, day, _next_day(day))), None)
            if owner is not None:
                items.setdefault(owner.contract.contract_id, []).extend(_priced_work(owner.plan, order))
    return items


def _next_day(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)


def _priced_work(plan: RatablePlan, order: CompletedWork) -> list[OneOffItem]:
    pricing = plan.work_orders
    items: list[OneOffItem] = []
    if pricing.labour_price_per_hour is not None and order.labour_minutes > 0:
        hours = (Decimal(order.labour_minutes) / 60).quantize(HOUR_QUANTUM, rounding=ROUND_HALF_UP)
        items.append(OneOffItem(order.work_order, f"Labour, {order.work_order}", hours,
                                pricing.labour_price_per_hour, order.completed_at, asset=order.asset))
    for part, quantity in order.parts:
        price = pricing.part_prices.get(part)
        if price is not None and quantity > 0:
            items.append(OneOffItem(order.work_order, f"Part {part}, {order.work_order}", Decimal(quantity), price,
                                    order.completed_at, asset=order.asset))
    return items
