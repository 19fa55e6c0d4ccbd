"""Conversions between protobuf well-known/common types and exact Python values, at the edge."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from google.protobuf import duration_pb2
from google.type import date_pb2, money_pb2

from services.runtime.currencies import is_known_currency
from services.runtime.errors import InvalidArgument

_NANOS = Decimal(1_000_000_000)


def money_to_proto(amount: Decimal | None, currency: str) -> money_pb2.Money | None:
    if amount is None:
        return None
    units = int(amount)  # truncates toward zero, as google.type.Money wants units and nanos of one sign
    nanos = int((amount - units) * _NANOS)
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def money_from_proto(money: money_pb2.Money, field: str) -> tuple[Decimal, str]:
    if not is_known_currency(money.currency_code):
        raise InvalidArgument.field(f"{field}.currency_code", f"must be an ISO 4217 code, got {money.currency_code!r}")
    if not -999_999_999 <= money.nanos <= 999_999_999 or (money.units > 0 > money.nanos) or (money.units < 0 < money.nanos):
        raise InvalidArgument.field(f"{field}.nanos", "must be within ±999,999,999 and of the sign of units")
    return Decimal(money.units) + Decimal(money.nanos) / _NANOS, money.currency_code


def date_from_proto(value: date_pb2.Date, field: str) -> date:
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidArgument.field(field, "must be a full calendar date") from None


def date_to_proto(value: date | None) -> date_pb2.Date | None:
    return None if value is None else date_pb2.Date(year=value.year, month=value.month, day=value.day)


def duration_or(value: duration_pb2.Duration, default: timedelta, field: str) -> timedelta:
    if value.seconds == 0 and value.nanos == 0:
        return default
    result = value.ToTimedelta()
    if result <= timedelta(0):
        raise InvalidArgument.field(field, "must be positive")
    return result
