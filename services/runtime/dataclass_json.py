"""Frozen domain dataclasses to JSON-able values and back, driven by their type hints.

Persistence keeps some domain objects whole (an alarm with its fault and flapping history, a
printer's active alert rows) in a JSON column; this is the one codec for them.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_json(value: Any) -> Any:
    kind = type(value)
    write = _WRITERS.get(kind) or _writer(kind)
    return write(value)


# How each type is written, by exact type: every test to_json makes is on the value's type, so the
# answer holds for every value of it. Filled as types are met; they are the program's own few.
_WRITERS: dict[type, Callable[[Any], Any]] = {}


def _writer(kind: type) -> Callable[[Any], Any]:
    write = _WRITERS[kind] = _pick_writer(kind)
    return write


def _pick_writer(kind: type) -> Callable[[Any], Any]:
    if kind in _SCALARS:
        return _as_is
    if dataclasses.is_dataclass(kind):
        return _dataclass_writer(tuple(f.name for f in dataclasses.fields(kind)))
    if issubclass(kind, enum.Enum):
        # `_value_` is what Enum's `value` property returns, read without the property's call.
        return _enum_value if inspect.getattr_static(kind, "value") is _ENUM_VALUE else _enum_value_property
    if issubclass(kind, datetime | date):
        return kind.isoformat
    if issubclass(kind, Decimal):
        return str
    if issubclass(kind, bytes):
        return kind.hex
    if issubclass(kind, frozenset | set):
        return lambda value: sorted([to_json(v) for v in value], key=repr)
    if issubclass(kind, tuple | list):
        return lambda value: [to_json(v) for v in value]
    if issubclass(kind, dict):
        return lambda value: {str(k): to_json(v) for k, v in value.items()}
    return _as_is


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _dataclass_writer(names: tuple[str, ...]) -> Callable[[Any], dict[str, Any]]:
    def write(value: Any) -> dict[str, Any]:
        # to_json inlined for each field (an alarm has 26 of them, most of them scalars).
        written = {}
        for name in names:
            field = getattr(value, name)
            kind = type(field)
            written[name] = field if kind in _SCALARS else (_WRITERS.get(kind) or _writer(kind))(field)
        return written

    return write


_ENUM_VALUE = inspect.getattr_static(enum.Enum, "value")


def _enum_value(member: enum.Enum) -> Any:
    return member._value_


def _enum_value_property(member: enum.Enum) -> Any:
    return member.value


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
