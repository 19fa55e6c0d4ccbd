"""Re-planning when an urgent order arrives during the day.

Visits under way (EN_ROUTE, ON_SITE) stay fixed at the head of their technician's route; finished
ones leave the problem and their technician continues from the last finished site; the rest of
the current plan is the first solution the search improves from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from services.maintenance.scheduling.model import (
    Params,
    Problem,
    Solution,
    VisitStatus,
    WorkOrder,
)
from services.maintenance.scheduling.planner import solve

_UNDER_WAY = (VisitStatus.EN_ROUTE, VisitStatus.ON_SITE)


def replan(
    problem: Problem,
    current: Solution,
    statuses: Mapping[str, VisitStatus],
    new_orders: Sequence[WorkOrder],
    now: datetime,
    params: Params,
) -> Solution:
    """A new plan from `now` on; `statuses` gives each visit's state (missing: PLANNED)."""
    orders_by_id = {o.id: o for o in problem.orders}
    done = {order_id for order_id, s in statuses.items() if s is VisitStatus.DONE}
    fixed: dict[str, tuple[tuple[str, datetime | None], ...]] = {}
    warm_start: dict[str, tuple[str, ...]] = {}
    restart_at = {}
    for plan in current.plans:
        under_way = tuple(
            (
                v.order_id,
                min(v.start, now) if statuses.get(v.order_id) is VisitStatus.ON_SITE else None,
            )
            for v in plan.visits
            if statuses.get(v.order_id) in _UNDER_WAY
        )
        if under_way:
            fixed[plan.technician_id] = under_way
        pinned = {order_id for order_id, _ in under_way}
        remaining = tuple(v.order_id for v in plan.visits if v.order_id not in done | pinned)
        warm_start[plan.technician_id] = tuple(order_id for order_id, _ in under_way) + remaining
        finished = [v.order_id for v in plan.visits if v.order_id in done]
        if finished:
            restart_at[plan.technician_id] = orders_by_id[finished[-1]].site.location
    technicians = tuple(
        dataclasses.replace(t, start_location=restart_at[t.id]) if t.id in restart_at else t
        for t in problem.technicians
    )
    new_ids = {o.id for o in new_orders}
    orders = tuple(o for o in problem.orders if o.id not in done and o.id not in new_ids)
    updated = dataclasses.replace(
        problem,
        technicians=technicians,
        orders=orders + tuple(new_orders),
        now=now,
        fixed_visits=fixed,
        warm_start=warm_start,
    )
    return solve(updated, params)
