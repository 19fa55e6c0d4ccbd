"""A billing run's rating: contracts and plans in, usage, downtime and work from the other
services, consolidated draft invoices out (pure domain rating in the middle).

Estimates and true-up: a usage line whose period-end read was ESTIMATED leaves a *position*
(where its usage window started and the quantity it billed). The next period's window then
starts where that one started, so it spans the estimated stretch again up to the next period's
end, and `estimate_already_billed` is what was billed in it: only the difference is billed (or
credited). An ACTUAL end read moves the window start to the period end and carries nothing.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
# Chunks whose inputs are asked for, at the same time, before they are rated: the fetching never waits
# for rating, and fleet answers the GetUsage calls of two chunks at once (one chunk's calls left it idle).
FETCH_AHEAD = 2
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
    # Busy seconds of each stage (usage, downtime, work, rating, write), summed over the chunks; the
    # stages of different chunks overlap, so together they exceed the run's wall-clock time.
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def estimated_line_count(self) -> int:
        return sum(1 for invoice in self.invoices for line in invoice.lines if line.estimated)


@dataclass
class _ChunkInputs:
    """What one chunk's rating needs from the other services."""

    windows_of: dict[str, list[tuple[str, Register, UsageWindow, Decimal]]]
    measured: dict[tuple[UsageWindow, str], MeasuredUsage]
    downtime: dict[str, dict[str, int]]
    work: dict[str, list[OneOffItem]]
    windows: dict[PositionKey, tuple[str, datetime]]
    assets: set[str]  # billable in the period


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def customer_chunks(terms: Sequence[ContractTerms], assets_per_chunk: int) -> list[list[ContractTerms]]:
    """The terms in customer order, cut into chunks of whole customers of about `assets_per_chunk` assets
    (an invoice consolidates all of a customer's contracts, so a customer is never split)."""
    chunks: list[list[ContractTerms]] = [[]]
    size = 0
    for t in sorted(terms, key=lambda t: (t.contract.customer, t.contract.contract_id)):
        if size >= assets_per_chunk and t.contract.customer != chunks[-1][-1].contract.customer:
            chunks.append([])
            size = 0
        chunks[-1].append(t)
        size += len(t.contract.assets)
    return [chunk for chunk in chunks if chunk]


def rate_run(terms: Sequence[ContractTerms], period_start: date, policies: Mapping[str, TaxPolicy],
             positions: Mapping[PositionKey, Position], fleet: FleetUsage, maintenance: MaintenanceRecords,
             assets_per_chunk: int, write: Callable[[RatedRun], None] | None = None) -> RatedRun:
    """Rates the run a chunk of customers at a time, as a pipeline: while chunk k is rated (this
    thread), the usage, downtime and work of chunks k+1 and k+2 are fetched and the drafts of chunk
    k-1 are handed to `write` (one thread each, in chunk order). The other services and the database
    then work while this process rates. Any failure stops the pipeline and propagates once no stage
    is still running."""
    run = RatedRun(invoices=[], contract_count=len(terms))
    chunks = customer_chunks(terms, assets_per_chunk)
    assets_in_run: set[str] = set()
    with (ThreadPoolExecutor(FETCH_AHEAD, thread_name_prefix="billing-fetch") as fetcher,
          ThreadPoolExecutor(1, thread_name_prefix="billing-write") as writer):
        def fetch(chunk: list[ContractTerms]) -> Future:
            return fetcher.submit(contextvars.copy_context().run, _fetch_chunk, chunk, period_start, positions,
                                  fleet, maintenance, run.phase_seconds)

        pending = deque(fetch(chunk) for chunk in chunks[:FETCH_AHEAD])
        writes: list[Future] = []
        try:
            for index, chunk in enumerate(chunks):
                inputs = pending.popleft().result()
                if index + FETCH_AHEAD < len(chunks):
                    pending.append(fetch(chunks[index + FETCH_AHEAD]))
                started = perf_counter()
                rated = _rate_chunk(chunk, period_start, policies, inputs)
                _add(run.phase_seconds, "rating", perf_counter() - started)
                run.invoices += rated.invoices
                assets_in_run |= inputs.assets
                if write is not None:
                    writes.append(writer.submit(contextvars.copy_context().run, _timed, run.phase_seconds, "write",
                                                write, rated))
                    if len(writes) > 1:
                        writes.pop(0).result()  # surfaces a failed write before more work is queued
            for done in writes:
                done.result()
        except BaseException:
            for future in (*pending, *writes):
                future.cancel()
            raise
    run.asset_count = len(assets_in_run)
    return run


def _period(t: ContractTerms, period_start: date) -> BillingPeriod:
    return BillingPeriod.containing(period_start, t.contract.billing_anchor_day)


_PHASES_LOCK = threading.Lock()  # the stages' threads add to the same phases


def _add(phases: dict[str, float], phase: str, seconds: float) -> None:
    with _PHASES_LOCK:
        phases[phase] = phases.get(phase, 0.0) + seconds


def _timed(phases: dict[str, float], phase: str, work: Callable[[RatedRun], None], rated: RatedRun) -> None:
    started = perf_counter()
    try:
        work(rated)
    finally:
        _add(phases, phase, perf_counter() - started)


def _fetch_chunk(terms: Sequence[ContractTerms], period_start: date, positions: Mapping[PositionKey, Position],
                 fleet: FleetUsage, maintenance: MaintenanceRecords, phases: dict[str, float]) -> _ChunkInputs:
    """Usage windows of the chunk's (contract, asset, register), then what fleet and maintenance say."""
    periods = {t.contract.contract_id: _period(t, period_start) for t in terms}
    contexts = {t.contract.contract_id: RatingContext(t.contract, t.plan.version, periods[t.contract.contract_id])
                for t in terms}
    windows_of: dict[str, list[tuple[str, Register, UsageWindow, Decimal]]] = {}
    windows: dict[PositionKey, tuple[str, datetime]] = {}
    asking: dict[UsageWindow, list[str]] = {}
    assets: set[str] = set()
    for t in terms:
        contract_id = t.contract.contract_id
        period = periods[contract_id]
        covered = contexts[contract_id].in_period
        assets.update(covered)
        for register, fleet_register in t.plan.fleet_registers.items():
            for asset in covered:
                key = (contract_id, asset, register)
                position = positions.get(key)
                start = position.window_start if position else midnight(period.start)
                window = UsageWindow(fleet_register, start, midnight(period.end))
                windows_of.setdefault(contract_id, []).append(
                    (asset, register, window, position.already_billed if position else ZERO))
                windows[key] = (fleet_register, start)
                asking.setdefault(window, []).append(asset)
    clock = _PhaseClock(phases)
    measured = fleet.usage(asking) if asking else {}
    clock.lap("usage")
    downtime = _downtime(terms, contexts, periods, maintenance)
    clock.lap("downtime")
    work = _completed_work(terms, periods, maintenance)
    clock.lap("work")
    return _ChunkInputs(windows_of, measured, downtime, work, windows, assets)


def _rate_chunk(terms: Sequence[ContractTerms], period_start: date, policies: Mapping[str, TaxPolicy],
                inputs: _ChunkInputs) -> RatedRun:
    rated: list[RatedContract] = []
    for t in terms:
        contract_id = t.contract.contract_id
        usage = [_record(asset, register, inputs.measured[(window, asset)], already)
                 for asset, register, window, already in inputs.windows_of.get(contract_id, ())]
        rated.append(rate_contract(RatingInput(
            contract=t.contract, plan=t.plan.version, period=_period(t, period_start), usage=usage,
            downtime_seconds=inputs.downtime.get(contract_id, {}), one_offs=inputs.work.get(contract_id, ()))))
    return RatedRun(invoices=consolidate(rated, policies), windows=inputs.windows)


class _PhaseClock:
    """Wall-clock seconds of consecutive phases, added to what earlier chunks spent in them."""

    def __init__(self, into: dict[str, float]):
        self._into, self._last = into, perf_counter()

    def lap(self, phase: str) -> None:
        now = perf_counter()
        _add(self._into, phase, now - self._last)
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
