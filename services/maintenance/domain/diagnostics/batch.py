"""Decode a batch item by item: a malformed item is rejected with its index, the rest go on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.maintenance.domain.diagnostics.errors import MalformedDiagnostic

Item = TypeVar("Item")
Decoded = TypeVar("Decoded")


@dataclass(frozen=True)
class Rejected:
    index: int
    reason: str


@dataclass(frozen=True)
class BatchResult(Generic[Decoded]):
    decoded: tuple[Decoded, ...]
    rejected: tuple[Rejected, ...]


def decode_each(items: Sequence[Item], decode: Callable[[Item], Decoded]) -> BatchResult[Decoded]:
    decoded: list[Decoded] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        try:
            decoded.append(decode(item))
        except MalformedDiagnostic as error:
            rejected.append(Rejected(index, error.reason))
    return BatchResult(tuple(decoded), tuple(rejected))
