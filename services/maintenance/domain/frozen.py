"""Frozen dataclass instances built on hot paths without their generated __init__."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")

_new = object.__new__
_set = object.__setattr__


def assemble(kind: type[T], fields: dict[str, Any]) -> T:
    """An instance of the frozen dataclass `kind` whose attributes are `fields`: a new dict naming
    every field of `kind`, in declaration order, and nothing else. For classes with no
    __post_init__ and no __slots__. Why: a frozen dataclass's __init__ sets each field with
    object.__setattr__, about twice the cost of this, paid on every diagnostic event."""
    instance = _new(kind)
    _set(instance, "__dict__", fields)
    return instance
