"""Frozen domain dataclasses to JSON-able values and back, driven by their type hints.

Persistence keeps some domain objects whole (an alarm with its fault and flapping history, a
printer's active alert rows) in a JSON column; this is the one codec for them.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:  # most values: tested first, as an alarm is written on every event it sees
        return value
    names = _field_names(kind)
    if names is not None:
        return {name: to_json(getattr(value, name)) for name in names}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list | frozenset | set):
        items = [to_json(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, frozenset | set) else items
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


@cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass's field names; None for any other type."""
    return tuple(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else None


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_json(kind: Any, data: Any) -> Any:
    """Rebuilds a value of type `kind` (a dataclass, enum, container or scalar type hint)."""
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        return from_json(options[0], data) if len(options) == 1 else data
    if origin in (tuple, frozenset, list, set):
        args = typing.get_args(kind)
        item_kind = args[0] if args else Any
        items = [from_json(item_kind, v) for v in data]
        return origin(items)
    if origin is dict:
        key_kind, value_kind = typing.get_args(kind)
        return {from_json(key_kind, k): from_json(value_kind, v) for k, v in data.items()}
    if dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{f.name: from_json(hints[f.name], data[f.name]) for f in dataclasses.fields(kind)
                       if f.name in data})
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is date:
        return date.fromisoformat(data)
    if kind is Decimal:
        return Decimal(data)
    if kind is bytes:
        return bytes.fromhex(data)
    if kind is int and isinstance(data, str):
        return int(data)
    return data
