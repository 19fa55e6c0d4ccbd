"""Frozen domain dataclasses to JSON-able values and back, driven by their type hints.

Persistence keeps some domain objects whole (an alarm with its fault and flapping history, a
printer's active alert rows) in a JSON column; this is the one codec for them.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
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


def from_json(kind: Any, data: Any) -> Any:
    """Rebuilds a value of type `kind` (a dataclass, enum, container or scalar type hint)."""
    return None if data is None else _reader(kind)(data)


@cache
def _reader(kind: Any) -> Callable[[Any], Any]:
    """How to rebuild a value (not None) of type `kind`: worked out once per type, as stored alarms
    are read by the thousand and the type hints cost more to inspect than the values to build."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        return _reader(options[0]) if len(options) == 1 else _as_is
    if origin in (tuple, frozenset, list, set):
        args = typing.get_args(kind)
        item_kind = args[0] if args else Any
        return lambda data: origin([from_json(item_kind, v) for v in data])
    if origin is dict:
        key_kind, value_kind = typing.get_args(kind)
        return lambda data: {from_json(key_kind, k): from_json(value_kind, v) for k, v in data.items()}
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = [(f.name, hints[f.name]) for f in dataclasses.fields(kind)]
        return lambda data: kind(**{name: from_json(hint, data[name])
                                    for name, hint in fields if name in data})
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind
    if kind is datetime:
        return datetime.fromisoformat
    if kind is date:
        return date.fromisoformat
    if kind is Decimal:
        return Decimal
    if kind is bytes:
        return bytes.fromhex
    if kind is int:
        return _int
    return _as_is


def _int(data: Any) -> Any:
    return int(data) if isinstance(data, str) else data


def _as_is(data: Any) -> Any:
    return data
