"""From fleet records to problem inputs: usage rates, fitted maintenance curves, cohorts.

Plain Python on purpose: the maintenance service hands over per-period parts + labour totals of
completed work orders, the fleet service its meter readings; neither needs a solver.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.fleet.replacement.problem import Cohort, CostCurve


@dataclass(frozen=True)
class MaintenanceRecord:
    """One asset-period of completed work orders: its age and usage then, parts and labour cost."""

    age: int
    usage: float
    parts: float
    labour: float


@dataclass(frozen=True)
class AssetRecord:
    id: str
    model: str | None
    age: int | None
    usage: float
    candidates: tuple[str, ...]
    group: str = "fleet"
    customer: str = ""
    maintenance: CostCurve | None = None


def usage_per_period(readings: Sequence[tuple[float, float]]) -> float:
    """Average usage per period from (period, meter value) readings.

    Drops at a meter exchange or reset are skipped rather than counted as negative usage.
    """
    ordered = sorted(readings)
    if len(ordered) < 2 or ordered[-1][0] == ordered[0][0]:
        return 0.0
    used = sum(max(0.0, later[1] - earlier[1]) for earlier, later in zip(ordered, ordered[1:]))
    return used / (ordered[-1][0] - ordered[0][0])


def _solve3(matrix: list[list[float]], rhs: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when (nearly) singular."""
    rows = [row[:] + [value] for row, value in zip(matrix, rhs)]
    size = len(rows)
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) < 1e-9:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(size):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col])]
    return [rows[i][size] / rows[i][i] for i in range(size)]


def fit_maintenance_curve(
    history: Iterable[MaintenanceRecord],
    default: CostCurve,
    ages: int,
    min_records: int = 12,
    min_distinct_ages: int = 3,
) -> CostCurve:
    """Least-squares cost = a + b * age + c * usage per period, as a curve over `ages` ages.

    Falls back to `default` when history is thin (fewer than `min_records` asset-periods or
    `min_distinct_ages` ages), when the fit is singular, or when it would make maintenance cheaper
    with age (b < 0) or negative usage costs (c < 0): history that short says more about noise.
    """
    records = list(history)
    if len(records) < min_records or len({r.age for r in records}) < min_distinct_ages:
        return default
    features = [(1.0, float(r.age), r.usage) for r in records]
    costs = [r.parts + r.labour for r in records]
    normal = [[sum(f[i] * f[j] for f in features) for j in range(3)] for i in range(3)]
    moments = [sum(f[i] * y for f, y in zip(features, costs)) for i in range(3)]
    solution = _solve3(normal, moments)
    if solution is None:
        return default
    base, per_age, per_usage = solution
    if per_age < 0 or per_usage < 0:
        return default
    fixed = tuple(max(0.0, base + per_age * age) for age in range(ages))
    return CostCurve(fixed, (per_usage,), source="fitted")


def _age_label(age: int | None) -> str:
    return "-" if age is None else str(age)


def group_assets(assets: Iterable[AssetRecord]) -> list[Cohort]:
    """Identical assets (same group, model, age, usage, candidates, customer, curve) as one cohort.

    Cohort names are `group/model/age/n`, so demands can name a group or a cohort.
    """
    groups: dict[tuple, list[AssetRecord]] = {}
    for asset in assets:
        key = (
            asset.group,
            asset.model,
            asset.age,
            asset.usage,
            asset.candidates,
            asset.customer,
            asset.maintenance,
        )
        groups.setdefault(key, []).append(asset)
    cohorts = []
    for n, members in enumerate(groups.values()):
        first = members[0]
        cohorts.append(
            Cohort(
                name=f"{first.group}/{first.model or 'empty'}/{_age_label(first.age)}/{n}",
                count=len(members),
                model=first.model,
                age=first.age,
                usage=first.usage,
                candidates=first.candidates,
                maintenance=first.maintenance,
                customer=first.customer,
                asset_ids=tuple(a.id for a in members),
            )
        )
    return cohorts
