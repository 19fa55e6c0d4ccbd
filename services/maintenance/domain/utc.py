"""Instants in the maintenance domain are UTC-aware datetimes; naive ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime

from services.runtime.errors import InvalidArgument


def as_utc(value: datetime, field_path: str) -> datetime:
    """`value` in UTC; any aware datetime is accepted, a naive one is `InvalidArgument`."""
    if value.tzinfo is UTC:  # the usual case, and astimezone would return `value` itself
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument.field(field_path, "must be a time-zone-aware datetime (UTC)")
    return value.astimezone(UTC)
