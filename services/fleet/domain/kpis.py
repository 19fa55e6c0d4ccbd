"""Fleet KPIs: utilisation against recommended volume, and assets past their expected life."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class AssetLife:
    install_date: date | None
    expected_life_months: int
    counter: Decimal | None
    expected_life_counter: Decimal | None


def _add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
                          31, 31, 30, 31, 30, 31][month - 1])
    return date(year, month, day)


def past_expected_life(life: AssetLife, as_of: date) -> bool:
    """Past its life in months since installation, or on its life counter, whichever comes first."""
    by_age = (life.install_date is not None and life.expected_life_months > 0
              and _add_months(life.install_date, life.expected_life_months) <= as_of)
    by_counter = (life.counter is not None and life.expected_life_counter
                  and life.counter >= life.expected_life_counter)
    return bool(by_age or by_counter)


def utilisation(used: list[Decimal], recommended: list[Decimal]) -> Decimal:
    """Total usage over total recommended volume, to 4 places; 0 when nothing is recommended."""
    total = sum(recommended, Decimal(0))
    if not total:
        return Decimal(0)
    return (sum(used, Decimal(0)) / total).quantize(Decimal("0.0001"))
