"""What rating consumes besides the contract and plan: meter usage, completed work, verified savings.

Usage arrives from the fleet service already turned into a quantity (counter rollovers and resets
handled there). A record spans from a start read to an end read; when the end of a period has no
actual read the fleet service estimates one, the record's end read is ESTIMATED and its line is
marked estimated. The next record then runs from the last *actual* read, so its quantity covers
the estimated period again; `estimate_already_billed` carries what was billed on the estimate, and
only the difference is billed (a negative difference is credited). Nothing is ever billed twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from services.invoicing.domain.plans import Register

ZERO = Decimal(0)


class ReadKind(enum.Enum):
    ACTUAL = "ACTUAL"
    ESTIMATED = "ESTIMATED"


_ESTIMATED = ReadKind.ESTIMATED  # a module constant: enum attribute look-ups are slow on the rating hot path


# Reads and usage records are NamedTuples, built two and one per asset and register in a billing run:
# see lines.py for why not frozen dataclasses.
class MeterRead(NamedTuple):
    value: Decimal
    kind: ReadKind
    read_time: datetime  # UTC-aware


class UsageRecord(NamedTuple):
    asset: str
    register: Register
    start_read: MeterRead
    end_read: MeterRead
    quantity: Decimal  # consumed from start_read to end_read, as computed by the fleet service
    estimate_already_billed: Decimal = ZERO  # units billed earlier on an estimate within this span

    @property
    def billable_quantity(self) -> Decimal:
        return self.quantity - self.estimate_already_billed

    @property
    def estimated(self) -> bool:
        return self.end_read.kind is _ESTIMATED


@dataclass(frozen=True, slots=True)
class OneOffItem:
    """A charge from a completed work order: installation, or parts and labour outside the contract."""

    work_order: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    completed_at: datetime  # UTC-aware; must fall in the billed period
    asset: str = ""
    tax_category: str = "STANDARD"


@dataclass(frozen=True, slots=True)
class VerifiedSaving:
    """A verified cost against its baseline for an outcome-share charge, in the contract's currency."""

    charge_id: str
    baseline_amount: Decimal
    actual_amount: Decimal
    evidence: str  # e.g. the measurement report's name
    asset: str = ""

    @property
    def saving(self) -> Decimal:
        return max(ZERO, self.baseline_amount - self.actual_amount)


def is_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
