"""The replacement problem's dataclasses and the per-period cost rules every evaluator shares.

Timing convention (see README.md): decisions happen at the start of a period; a replaced asset is
sold at its age then and the new one operates at age 0 in that period. Cash flows of period t are
discounted by (1 + r)^-t; terminal values are valued at the horizon T with (1 + r)^-T.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ProblemError(ValueError):
    """Invalid problem data; `field` names the offending JSON path."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path


def _at_age(values: tuple[float, ...], age: int) -> float:
    """A by-age table read at `age`; ages past the table keep its last value."""
    if not values:
        return 0.0
    return values[min(age, len(values) - 1)]


@dataclass(frozen=True)
class CostCurve:
    """Maintenance cost per period by age: `fixed[a] + usage * per_usage[a]` (parts and labour)."""

    fixed: tuple[float, ...]
    per_usage: tuple[float, ...] = ()
    source: str = "default"

    def cost(self, age: int, usage: float) -> float:
        return _at_age(self.fixed, age) + usage * _at_age(self.per_usage, age)


@dataclass(frozen=True)
class AssetModel:
    """A device model: the existing fleet's and the candidates for replacement."""

    name: str
    price: float
    maintenance: CostCurve
    residual_value: tuple[float, ...]
    capacity: float = 1.0
    price_trend: float = 0.0
    max_age: int | None = None
    expected_life: int | None = None
    failure_rate: tuple[float, ...] = ()
    failure_cost: float = 0.0
    energy_cost_per_usage: float = 0.0

    def price_at(self, period: int) -> float:
        return self.price * (1.0 + self.price_trend) ** period

    def residual_at(self, age: int) -> float:
        return _at_age(self.residual_value, age)

    def failures_at(self, age: int) -> float:
        return _at_age(self.failure_rate, age)

    def may_operate_at(self, age: int) -> bool:
        return self.max_age is None or age < self.max_age


@dataclass(frozen=True)
class Cohort:
    """Identical positions: same current model, age, usage and candidates.

    `age is None` (with `model is None`) marks positions still empty: an asset must be bought in
    period 0. `maintenance` overrides the current model's curve for the current assets only (a curve
    fitted from this cohort's work orders); replacements use their model's defaults.
    """

    name: str
    count: int
    model: str | None
    age: int | None
    usage: float
    candidates: tuple[str, ...]
    maintenance: CostCurve | None = None
    customer: str = ""
    asset_ids: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.model is None


@dataclass(frozen=True)
class Demand:
    """Capacity needed per period: sum of `AssetModel.capacity` over operating assets of `cohorts`."""

    name: str
    cohorts: tuple[str, ...]
    required: tuple[float, ...]


@dataclass(frozen=True)
class Problem:
    periods: int
    models: dict[str, AssetModel]
    cohorts: tuple[Cohort, ...]
    discount_rate: float = 0.0
    budget: tuple[float, ...] | None = None
    crew: tuple[int, ...] | None = None
    demands: tuple[Demand, ...] = ()
    batch_fixed_cost: float = 0.0
    fails_often_rate: float = 1.0
    lead_window: int = 12

    def discount(self, period: int) -> float:
        return (1.0 + self.discount_rate) ** -period

    def cohort(self, name: str) -> Cohort:
        for cohort in self.cohorts:
            if cohort.name == name:
                return cohort
        raise KeyError(name)

    def operating_cost(self, cohort: Cohort, model_name: str, age: int, original: bool) -> float:
        """Nominal maintenance + failure + energy cost of one asset for one period."""
        return sum(self.operating_breakdown(cohort, model_name, age, original))

    def operating_breakdown(
        self, cohort: Cohort, model_name: str, age: int, original: bool
    ) -> tuple[float, float, float]:
        """(maintenance, failure, energy) of one asset for one period, nominal.

        `original` marks the cohort's current assets, whose fitted curve (if any) applies.
        """
        model = self.models[model_name]
        curve = cohort.maintenance if original and cohort.maintenance else model.maintenance
        return (
            curve.cost(age, cohort.usage),
            model.failures_at(age) * model.failure_cost,
            cohort.usage * model.energy_cost_per_usage,
        )


@dataclass(frozen=True)
class SolveParams:
    """Solver settings.

    `relative_gap` 0 asks for a proven optimum within the time limit. Models with more columns
    than `full_model_columns` are solved by column generation then MIP (see solver.py).
    """

    time_limit_s: float = 10.0
    num_workers: int = 1
    relative_gap: float = 0.0
    solver: str = "SCIP"
    full_model_columns: int = 20_000
    log: bool = False


@dataclass(frozen=True)
class Replacement:
    period: int
    model: str


@dataclass(frozen=True)
class PositionPlan:
    """`count` positions of one cohort that follow the same replacements (empty: keep all along)."""

    cohort: str
    count: int
    replacements: tuple[Replacement, ...]
    asset_ids: tuple[str, ...] = ()


@dataclass
class PeriodCost:
    period: int
    purchases: float = 0.0
    trade_ins: float = 0.0
    batch: float = 0.0
    maintenance: float = 0.0
    failure: float = 0.0
    energy: float = 0.0
    replacements: int = 0

    @property
    def net(self) -> float:
        return (
            self.purchases
            + self.batch
            + self.maintenance
            + self.failure
            + self.energy
            - self.trade_ins
        )

    @property
    def capital(self) -> float:
        """What the budget limits: purchases and batch costs net of trade-ins."""
        return self.purchases + self.batch - self.trade_ins


@dataclass
class Evaluation:
    """A plan's costs under the shared cost rules, and what it violates (empty: feasible)."""

    net_present_cost: float
    periods: list[PeriodCost]
    terminal_value: float
    violations: list[str] = field(default_factory=list)
    coverage: dict[str, list[float]] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class Lead:
    period: int
    cohort: str
    customer: str
    count: int
    current_model: str | None
    new_model: str
    estimated_value: float
    asset_ids: tuple[str, ...] = ()


@dataclass
class Solution:
    status: str
    total_cost: float | None
    best_bound: float | None
    gap: float | None
    seconds: float
    plan: list[PositionPlan]
    evaluation: Evaluation | None
    baselines: dict[str, Evaluation]
    leads: list[Lead]
    model_size: dict[str, int]
