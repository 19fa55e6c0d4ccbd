"""Which technicians could serve each order at all, and in which windows; else why not.

Checked before the search so every order left out has a precise reason: an order no technician
could do even alone (skill, territory, parts, window) never reaches the solver; anything the
solver later drops was feasible alone and lost to capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.maintenance.scheduling.model import (
    Problem,
    SlaKind,
    Technician,
    UnassignedReason,
    WorkOrder,
    opening_windows,
)


@dataclass(frozen=True)
class Eligibility:
    order: WorkOrder
    reason: UnassignedReason | None  # None: the solver may plan it
    detail: str = ""
    windows: tuple[tuple[int, int], ...] = ()  # allowed service starts, seconds from epoch
    technicians: tuple[int, ...] = ()  # technician positions that could do it


def assess_orders(
    problem: Problem, epoch: datetime, horizon: int, seconds: list[list[int]]
) -> list[Eligibility]:
    """`seconds` is indexed: technician v start = v, home = T + v, order i = 2T + i."""
    pinned = {
        order_id: (v, pin)
        for v, tech in enumerate(problem.technicians)
        for order_id, pin in problem.fixed_visits.get(tech.id, ())
    }
    now = 0 if problem.now is None else _offset(epoch, problem.now)
    assessed = []
    for i, order in enumerate(problem.orders):
        if order.id in pinned:
            v, pin = pinned[order.id]
            window = (now, horizon) if pin is None else (_offset(epoch, pin),) * 2
            assessed.append(Eligibility(order, None, "under way", (window,), (v,)))
        else:
            assessed.append(_assess(problem, i, order, epoch, horizon, now, seconds))
    return assessed


def _offset(epoch: datetime, moment: datetime) -> int:
    return int((moment - epoch).total_seconds())


def _assess(
    problem: Problem,
    i: int,
    order: WorkOrder,
    epoch: datetime,
    horizon: int,
    now: int,
    seconds: list[list[int]],
) -> Eligibility:
    techs = problem.technicians
    skilled = [v for v, t in enumerate(techs) if order.skill in t.skills]
    if not skilled:
        return Eligibility(
            order, UnassignedReason.SKILL, f"no technician has skill {order.skill!r}"
        )
    territory = order.site.territory
    covering = [v for v in skilled if _covers(techs[v], territory)]
    if not covering:
        return Eligibility(
            order, UnassignedReason.TERRITORY, f"no {order.skill!r} technician covers {territory!r}"
        )
    stocked = [v for v in covering if _carries(techs[v], order)]
    if not stocked:
        return Eligibility(
            order,
            UnassignedReason.PARTS,
            f"no eligible van carries {dict(order.parts)}: needs a depot run or a later day",
        )
    windows = _service_windows(order, epoch, horizon, now)
    duration = int(order.duration.total_seconds())
    site = 2 * len(techs) + i
    reachable = []
    for v in stocked:
        tech = techs[v]
        earliest = max(_offset(epoch, tech.shift.start), now) + seconds[v][site]
        latest = _offset(epoch, tech.shift.end) - duration - seconds[site][len(techs) + v]
        if any(max(start, earliest) <= min(end, latest) for start, end in windows):
            reachable.append(v)
    if not reachable:
        return Eligibility(
            order,
            UnassignedReason.WINDOW,
            "no eligible technician can reach the site and finish while it is open"
            + (" and before the hard SLA deadline" if order.sla_kind is SlaKind.HARD else ""),
        )
    return Eligibility(order, None, "", windows, tuple(reachable))


def _covers(tech: Technician, territory: str | None) -> bool:
    return tech.territories is None or territory is None or territory in tech.territories


def _carries(tech: Technician, order: WorkOrder) -> bool:
    return all(tech.van_stock.get(part, 0) >= qty for part, qty in order.parts.items())


def _service_windows(
    order: WorkOrder, epoch: datetime, horizon: int, now: int
) -> tuple[tuple[int, int], ...]:
    """Service may start when the site is open and must finish before it closes."""
    first_day = epoch.date() - timedelta(days=1)
    last_day = (epoch + timedelta(seconds=horizon)).date() + timedelta(days=1)
    duration = int(order.duration.total_seconds())
    cap = horizon
    if order.sla_kind is SlaKind.HARD and order.sla_deadline is not None:
        cap = min(cap, _offset(epoch, order.sla_deadline) - duration)
    windows = []
    for window in opening_windows(
        order.site.opening_hours, order.site.timezone, first_day, last_day
    ):
        start = max(_offset(epoch, window.start), now, 0)
        end = min(_offset(epoch, window.end) - duration, cap)
        if start <= end:
            windows.append((start, end))
    return tuple(windows)
