"""Hypothesis strategies for any protobuf request, built from its descriptor alone.

Every field may be set or left out. Strings mix unicode (NUL included), empty, huge, plausible resource
names from a pool, resource ids and decimal spellings; integers reach their type's extremes; enums
take undefined numbers; timestamps and durations sit at and beyond their documented ranges.
A few field names get values that reach deeper into a handler (currency codes, time zones, etags,
update-mask paths), and `time_limit` is always short so that solver RPCs stay quick.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from google.api import field_behavior_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

MAX_DEPTH = 4
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)  # protobuf strings are UTF-8: no surrogates
# Just past typical column and field limits: a value that fits the API but not its column must be refused too.
_LONG_TEXT = st.sampled_from([4, 13, 17, 25, 33, 41, 65, 101, 129, 201, 401, 501, 1_025, 4_001, 70_000]).map(
    lambda size: "x" * size)
_PLAIN_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
_RESOURCE_ID = st.from_regex(r"\A[a-z][a-z0-9-]{0,8}[a-z0-9]\Z")
_DECIMALS = st.one_of(
    st.sampled_from(["0", "-1", "1.5", "NaN", "-Infinity", "1e999999", "0.0000001", "99999999999999999999.99",
                     "1,5", " 1", "-0", "1e-7"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=Decimal(-10**9),
                max_value=Decimal(10**9)).map(str))
_CURRENCIES = st.sampled_from(["JPY", "USD", "EUR", "XXX", "jpy", "ZZZ", "", "JPYY"])
_TIME_ZONES = st.sampled_from(["Asia/Tokyo", "UTC", "Europe/Berlin", "Mars/Olympus", "", "+09:00"])
_ETAGS = st.sampled_from(['"1"', '"2"', '"0"', '"-1"', "1", ""])
_TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)
_NOW = 1_790_000_000  # 2026-09
_ALWAYS_SENT = {field_behavior_pb2.REQUIRED, field_behavior_pb2.IDENTIFIER}
_INT_RANGES = {FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
               FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
               FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
               FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
               FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1)}


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    extremes = sorted({v for v in (low, high, low + 1, high - 1, 0, 1, -1, 2**31 - 1, -2**31) if low <= v <= high})
    return st.one_of(st.sampled_from(extremes), st.integers(max(low, -3), min(high, 3000)), st.integers(low, high))


def requests(descriptor: Descriptor, names: Sequence[str], field_names: Sequence[str],
             method_name: str) -> st.SearchStrategy[Message]:
    """Half the requests are clean (every value plausible, so calls get deep into a handler), half
    carry junk in about one field in eight."""
    return st.one_of(*(MessageStrategies(names, field_names, method_name, junk).message(descriptor)
                       for junk in (False, True)))


class MessageStrategies:
    """`names` is the pool of resource names worth trying (existing ones included); `field_names`
    feeds update masks; `junk` lets some fields take values no sane client sends."""

    def __init__(self, names: Sequence[str], field_names: Sequence[str], method_name: str, junk: bool):
        self._junk = junk
        self._names = sorted(set(names))
        self._method = _snake(method_name)
        self._mask_paths = st.lists(st.one_of(st.sampled_from(sorted(field_names)), _TEXT), max_size=3)
        self._cache: dict[tuple[str, int], st.SearchStrategy] = {}

    def mostly(self, plausible: st.SearchStrategy, junk: st.SearchStrategy) -> st.SearchStrategy:
        """A plausible value; with junk allowed, a junk one time in eight."""
        if not self._junk:
            return plausible
        return st.integers(0, 7).flatmap(lambda draw: junk if draw == 0 else plausible)

    def message(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        key = (descriptor.full_name, depth)
        if key not in self._cache:
            self._cache[key] = st.deferred(lambda: self._build(descriptor, depth))
        return self._cache[key]

    def _build(self, descriptor: Descriptor, depth: int) -> st.SearchStrategy[Message]:
        cls = message_factory.GetMessageClass(descriptor)
        special = {"google.protobuf.Timestamp": self._timestamp, "google.protobuf.Duration": self._duration,
                   "google.protobuf.FieldMask": self._field_mask, "google.type.Date": self._date,
                   }.get(descriptor.full_name)
        if special:
            return special(cls)
        if depth >= MAX_DEPTH:
            return st.builds(cls)
        behaviours = {f.name: set(f.GetOptions().Extensions[field_behavior_pb2.field_behavior]) for f in descriptor.fields}
        always = {f.name: self._field(f, depth) for f in descriptor.fields
                  if f.name == "time_limit" or behaviours[f.name] & _ALWAYS_SENT}
        optional = {f.name: self._field(f, depth) for f in descriptor.fields if f.name not in always}
        for name, behaviour in behaviours.items():
            if field_behavior_pb2.OUTPUT_ONLY in behaviour:  # a client may send them, but rarely does
                optional[name] = self.mostly(st.none(), optional[name])
        return st.fixed_dictionaries(always, optional=optional).map(lambda values: _assemble(cls, descriptor, values))

    def _field(self, field: FieldDescriptor, depth: int) -> st.SearchStrategy:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type
            return st.dictionaries(self._single(entry.fields_by_name["key"], depth + 1),
                                   self._single(entry.fields_by_name["value"], depth + 1), max_size=3)
        if field.name == "time_limit":
            return self._short_duration(message_factory.GetMessageClass(field.message_type))
        single = self._single(field, depth + 1)
        return st.lists(single, max_size=3) if field.is_repeated else single

    def _single(self, field: FieldDescriptor, depth: int) -> st.SearchStrategy:
        kind = field.type
        if kind == FieldDescriptor.TYPE_MESSAGE:
            return self.message(field.message_type, depth)
        if kind == FieldDescriptor.TYPE_STRING:
            return self._string(field.name)
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.mostly(st.binary(max_size=32), st.just(b"\x00" * 70_000))
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind == FieldDescriptor.TYPE_ENUM:
            return self.mostly(st.sampled_from([v.number for v in field.enum_type.values]), integers(-2**31, 2**31 - 1))
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.mostly(st.floats(-1000, 1000, width=32), st.floats(width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32))
        low, high = _INT_RANGES[kind]
        return self.mostly(st.integers(max(low, 0), min(high, 1000)), integers(low, high))

    def _string(self, name: str) -> st.SearchStrategy[str]:
        """Mostly plausible values, so that calls get past the first check; junk one time in four."""
        by_name = {"currency_code": _CURRENCIES, "time_zone": _TIME_ZONES, "etag": _ETAGS, "page_token": st.just("")}
        fitting = self._names_for(name)
        if name in by_name:
            plausible = by_name[name]
        elif name.endswith("_id"):
            plausible = _RESOURCE_ID
        elif fitting or name in ("name", "parent"):
            plausible = st.sampled_from(fitting or self._names)
        else:
            plausible = st.one_of(_PLAIN_TEXT, _RESOURCE_ID, _DECIMALS, st.sampled_from(self._names))
        return self.mostly(plausible, st.one_of(st.just(""), _TEXT, _LONG_TEXT, _DECIMALS, st.sampled_from(self._names)))

    def _names_for(self, field: str) -> list[str]:
        """Names of the kind the field refers to: `site` -> customers/x/sites/y, a Get's `name` -> its resource."""
        referred = self._method if field == "name" else field.removesuffix("s")
        return [n for n in self._names if _kind(n) and referred.endswith(_kind(n))]

    def _timestamp(self, cls) -> st.SearchStrategy[Message]:
        low, high = _TIMESTAMP_SECONDS
        seconds = self.mostly(st.integers(_NOW - 10**8, _NOW + 10**8),
                         st.one_of(st.integers(low, high), st.sampled_from([low, high, 0, low - 1, high + 1, -2**63, 2**63 - 1])))
        nanos = self.mostly(st.one_of(st.just(0), st.integers(0, 999_999_999)), st.sampled_from([-1, 10**9, 2**31 - 1]))
        return st.builds(cls, seconds=seconds, nanos=nanos)

    def _date(self, cls) -> st.SearchStrategy[Message]:
        plausible = st.dates(date(2020, 1, 1), date(2030, 12, 31)).map(
            lambda day: cls(year=day.year, month=day.month, day=day.day))
        junk = st.builds(cls, year=integers(-2**31, 2**31 - 1), month=st.integers(-1, 13), day=st.integers(-1, 32))
        return self.mostly(plausible, junk)

    def _duration(self, cls) -> st.SearchStrategy[Message]:
        bound = 315_576_000_000
        seconds = self.mostly(st.integers(0, 10**7), st.one_of(
            st.sampled_from([-1, bound, -bound, bound + 1, 2**63 - 1, -2**63]), st.integers(-10**7, 10**7)))
        nanos = self.mostly(st.just(0), st.one_of(st.integers(-999_999_999, 999_999_999), st.sampled_from([10**9, -(10**9)])))
        return st.builds(cls, seconds=seconds, nanos=nanos)

    def _short_duration(self, cls) -> st.SearchStrategy[Message]:
        """Solves get at most 0.3 s, or a limit that is refused."""
        return self.mostly(st.builds(cls, nanos=st.integers(1, 300).map(lambda ms: ms * 1_000_000)),
                           st.builds(cls, seconds=st.sampled_from([-1, 301, 2**63 - 1])))

    def _field_mask(self, cls) -> st.SearchStrategy[Message]:
        return self._mask_paths.map(lambda paths: cls(paths=paths))


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _kind(name: str) -> str:
    """`customers/acme/sites/hq` -> "site", `slaPolicies/s1` -> "sla_policy"."""
    parts = name.split("/")
    collection = _snake(parts[-2] if len(parts) >= 2 and len(parts) % 2 == 0 else parts[0])
    return collection[:-3] + "y" if collection.endswith("ies") else collection.removesuffix("s")


def _assemble(cls: Callable[[], Message], descriptor: Descriptor, values: dict) -> Message:
    message = cls()
    for name, value in values.items():
        if value is None:  # an output-only field left out
            continue
        field = descriptor.fields_by_name[name]
        target = getattr(message, name)
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field.is_repeated:
            target.extend(value)
        elif isinstance(value, Message):
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def field_names(descriptors: Sequence[Descriptor]) -> set[str]:
    """Every field name reachable from these messages, for update masks."""
    seen: set[str] = set()
    names: set[str] = set()
    pending = list(descriptors)
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name in seen:
            continue
        seen.add(descriptor.full_name)
        for field in descriptor.fields:
            names.add(field.name)
            if field.message_type is not None:
                pending.append(field.message_type)
    return names
