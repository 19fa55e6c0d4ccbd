"""Limits every request must respect, checked once at the edge for every field of every message.

Walking the request's descriptor means a new RPC or field is covered without code of its own: string
lengths (derived from the field's name, with overrides), NUL characters (PostgreSQL text cannot hold
them), bytes sizes, repeated-field counts, enum values the API does not define, non-finite floats,
timestamps and durations outside their documented ranges, and negative page sizes. Violations are
INVALID_ARGUMENT naming the field path (`asset.serial_number`, `readings[3].read_time`); handlers still
apply their own, tighter rules (`MAX_READINGS_PER_BATCH`, resource-id syntax, ...).

A batch whose items are judged one by one (ingestion: a malformed event is rejected with its index, the
rest of the batch goes on) declares its repeated field in `ITEMS_CHECKED_BY_HANDLER`: the edge checks
only the item count, and the handler asks `item_violations` about each item, the same limits.

Most requests break no limit: a compiled check per field (no paths, no generators) accepts them, and
the walk that names the violations runs only for a request it refused. A handler that has an item's
serialization at hand (ingestion stores it) asks `item_check` first: it reads the item's strings and
the few values whose limits are not sizes, and judges the rest by the serialization's length and zero
bytes, without listing the item's fields. The items of a repeated field are checked together, field by
field: each field's values read from all items into a list and judged at once (the longest string, one
search for NUL, the set of enum values, the extremes of timestamps), not item by item.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import attrgetter

import sqlalchemy
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from sqlalchemy import Engine

from services.runtime.errors import FieldViolation, InvalidArgument
from services.runtime.pagination import page_size_violation
from services.runtime.resources import timestamp_in_range, timestamps_in_range

SHORT_TEXT_CHARS = 1_024  # names, ids, codes, references, etags, tokens
FREE_TEXT_CHARS = 4_000  # notes and other prose a person types
BULK_TEXT_CHARS = 16 * 1024 * 1024  # whole documents sent as text (CSV imports); the message size bounds it too
FREE_TEXT_FIELDS = frozenset({"text", "notes", "description", "reason", "address", "error"})
MAX_BYTES = 64 * 1024
MAX_REPEATED = 10_000  # the largest batch any RPC takes (ingestion); handlers set tighter caps
# google.protobuf.Duration: about ±10,000 years.
_DURATION_SECONDS = 315_576_000_000
_NANOS_PER_SECOND = 1_000_000_000
_REPORTED_VIOLATIONS = 20  # enough to fix a request; a huge bad batch must not make a huge error
# A Redfish event is a JSON document of its own.
_STRING_OVERRIDES = {"fleetops.maintenance.v1.DiagnosticEvent.redfish_event": 64 * 1024}
# Repeated message fields whose handler calls `item_violations` for each item and answers per item.
ITEMS_CHECKED_BY_HANDLER = frozenset({"fleetops.maintenance.v1.IngestDiagnosticsRequest.events"})


class _CompiledChecks(dict):
    def __init__(self, compile_check: Callable[[FieldDescriptor], Callable[[object], bool]]):
        super().__init__()
        self._compile_check = compile_check

    def __missing__(self, descriptor: FieldDescriptor) -> Callable[[object], bool]:
        check = self[descriptor] = self._compile_check(descriptor)
        return check


@dataclass(frozen=True)
class RequestLimits:
    # Full field name ("fleetops.maintenance.v1.DiagnosticEvent.redfish_event") -> max characters, for
    # fields the name-derived rule gets wrong.
    string_chars: dict[str, int] = field(default_factory=dict)
    # Column name -> VARCHAR length in the service's database: a field of the same name is stored there,
    # and PostgreSQL refuses a longer value (SQLite would silently keep it).
    column_chars: dict[str, int] = field(default_factory=dict)
    # Full names of repeated fields whose items the handler checks (`item_violations`).
    items_checked_by_handler: frozenset[str] = ITEMS_CHECKED_BY_HANDLER
    # Field descriptor -> compiled check of a value of it (True: no violation), compiled on first use.
    _value_checks: _CompiledChecks = field(init=False, repr=False, compare=False)
    # Message descriptor -> compiled `item_check` of an item of that type, compiled on first use.
    _item_checks: _CompiledChecks = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_value_checks", _CompiledChecks(self._compiled))
        object.__setattr__(self, "_item_checks", _CompiledChecks(self._compiled_item))

    @classmethod
    def for_database(cls, engine: Engine) -> RequestLimits:
        return cls(string_chars=_STRING_OVERRIDES, column_chars=string_column_lengths(engine))

    def max_chars(self, descriptor: FieldDescriptor) -> int:
        if descriptor.full_name in self.string_chars:
            return self.string_chars[descriptor.full_name]
        if descriptor.name.endswith("_csv"):
            derived = BULK_TEXT_CHARS
        elif descriptor.name in FREE_TEXT_FIELDS or descriptor.name.endswith("_reason"):
            derived = FREE_TEXT_CHARS
        else:
            derived = SHORT_TEXT_CHARS
        if descriptor.containing_type.GetOptions().map_entry:
            return derived  # a map's "key"/"value" are no column of that name (SNMP varbinds are kept whole)
        return min(derived, self.column_chars.get(descriptor.name, derived))

    def check(self, request: Message) -> None:
        violations = self._reported(request, "")
        if violations:
            raise InvalidArgument(violations)

    def item_violations(self, item: Message, path: str) -> list[FieldViolation]:
        """The violations of one item of a field in `items_checked_by_handler`, its fields named under
        `path` (`events[3]`); empty when it breaks no limit."""
        return self._reported(item, path + ".")

    def item_check(self, item_type: Descriptor, given: tuple[str, ...] = ()) -> Callable[[Message, bytes, tuple], bool]:
        """A quick check of an item of this type, given its serialization (any serialization of it) and
        the values the caller has read of the fields named in `given` (for a oneof's name: the name of
        the field it holds, or None), in that order: True when `item_violations` would find nothing;
        False when it may find something (ask it)."""
        return self._item_checks[item_type, given]

    def _reported(self, message: Message, prefix: str) -> list[FieldViolation]:
        if self._accepts(message):
            return []
        return list(islice(self._violations(message, prefix), _REPORTED_VIOLATIONS))

    def checked(self, request_or_iterator):
        """The handler's argument, checked: a request now, or each request of a stream as it is read."""
        if isinstance(request_or_iterator, Message):
            self.check(request_or_iterator)
            return request_or_iterator
        return self._checked_stream(request_or_iterator)

    def _checked_stream(self, requests: Iterable[Message]) -> Iterator[Message]:
        for request in requests:
            self.check(request)
            yield request

    def _violations(self, message: Message, prefix: str) -> Iterator[FieldViolation]:
        special = _WELL_KNOWN.get(message.DESCRIPTOR.full_name)
        if special:
            in_range, requirement = special
            if not in_range(message):
                yield FieldViolation(prefix.rstrip("."), requirement)
            return
        for descriptor, value in message.ListFields():
            path = prefix + descriptor.name
            if descriptor.is_repeated:
                if len(value) > MAX_REPEATED:
                    yield FieldViolation(path, f"at most {MAX_REPEATED} items, got {len(value)}")
                    continue
                if descriptor.full_name in self.items_checked_by_handler:
                    continue
                if _is_map(descriptor):
                    yield from self._map_violations(descriptor, value, path)
                    continue
                for index, item in enumerate(value):
                    yield from self._value_violations(descriptor, item, f"{path}[{index}]")
            else:
                yield from self._value_violations(descriptor, value, path)

    def _map_violations(self, descriptor: FieldDescriptor, entries, path: str) -> Iterator[FieldViolation]:
        key_field, value_field = descriptor.message_type.fields_by_name["key"], descriptor.message_type.fields_by_name["value"]
        for key, value in entries.items():
            item_path = f"{path}[{_shortened(key)!r}]"
            yield from self._value_violations(key_field, key, item_path)
            yield from self._value_violations(value_field, value, item_path)

    def _value_violations(self, descriptor: FieldDescriptor, value, path: str) -> Iterator[FieldViolation]:
        kind = descriptor.type
        if kind == FieldDescriptor.TYPE_MESSAGE:
            yield from self._violations(value, path + ".")
        elif kind == FieldDescriptor.TYPE_STRING:
            limit = self.max_chars(descriptor)
            if len(value) > limit:
                yield FieldViolation(path, f"must be at most {limit} characters, got {len(value)}")
            elif "\x00" in value:
                yield FieldViolation(path, "must not contain NUL characters")
        elif kind == FieldDescriptor.TYPE_BYTES:
            if len(value) > MAX_BYTES:
                yield FieldViolation(path, f"must be at most {MAX_BYTES} bytes, got {len(value)}")
        elif kind == FieldDescriptor.TYPE_ENUM:
            if descriptor.enum_type.values_by_number.get(value) is None:
                yield FieldViolation(path, f"{value} is not a value of {descriptor.enum_type.name}")
        elif kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            if not math.isfinite(value):
                yield FieldViolation(path, "must be a finite number")
        elif descriptor.name == "page_size":
            violation = page_size_violation(value)
            if violation:
                yield FieldViolation(path, violation)

    def _accepts(self, message: Message) -> bool:
        """True when `_violations` would find nothing, at a fraction of its cost."""
        checks = self._value_checks
        for descriptor, value in message.ListFields():
            if not checks[descriptor](value):
                return False
        return True

    def _compiled(self, descriptor: FieldDescriptor) -> Callable[[object], bool]:
        """The check `_violations` makes of this field's value, as one function."""
        if not descriptor.is_repeated:
            return self._compiled_value(descriptor)
        if _is_map(descriptor):
            entry = descriptor.message_type.fields_by_name
            keys_ok, values_ok = self._compiled_values(entry["key"]), self._compiled_values(entry["value"])
            # Read by key: a protobuf map's items() and values() are the slow generic Mapping ones.
            return lambda entries: len(entries) <= MAX_REPEATED and keys_ok(keys := list(entries)) and values_ok(
                list(map(entries.__getitem__, keys)))
        if descriptor.full_name in self.items_checked_by_handler:
            return lambda items: len(items) <= MAX_REPEATED
        items_ok = self._compiled_values(descriptor)
        return lambda items: len(items) <= MAX_REPEATED and items_ok(items)

    def _compiled_values(self, descriptor: FieldDescriptor,
                         enclosing: frozenset[str] = frozenset()) -> Callable[[object], bool]:
        """The check of many values of the field at once: a repeated field's items, a map's keys or values,
        a field's values in many messages (`_compiled_columns`; `enclosing` as there)."""
        if descriptor.type == FieldDescriptor.TYPE_STRING:
            limit = self.max_chars(descriptor)
            return lambda values: max(map(len, values), default=0) <= limit and "\x00" not in "".join(values)
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            columns_ok = self._compiled_columns(descriptor.message_type, enclosing)
            if columns_ok:
                # Listed once: iterating a repeated field makes an object per item each time.
                return lambda values: columns_ok(list(values))
        value_ok = self._compiled_value(descriptor)
        return lambda values: all(map(value_ok, values))

    def _compiled_columns(self, message_type: Descriptor,
                          enclosing: frozenset[str]) -> Callable[[list[Message]], bool] | None:
        """The check of many messages of this type at once, field by field: each field's values in all of
        them read into a list and judged together (`_compiled_column`). An unset field reads as its
        default, which breaks no limit. None when the messages are better checked one by one: their limits
        are all sizes (judged by each one's serialization), or the type is a well-known one without a
        check of many, or it holds itself (a default holds a default, without end; `enclosing` names the
        types being compiled)."""
        name = message_type.full_name
        if name in _WELL_KNOWN_MANY:
            return _WELL_KNOWN_MANY[name]
        if name in _WELL_KNOWN or name in enclosing or self._size_limits(message_type, frozenset()) is not None:
            return None
        enclosing |= {name}
        checks = [(attrgetter(f.name), check) for f in message_type.fields
                  if (check := self._compiled_column(f, enclosing)) is not None]
        return lambda messages: all(column_ok(list(map(read, messages))) for read, column_ok in checks)

    def _compiled_column(self, descriptor: FieldDescriptor,
                         enclosing: frozenset[str]) -> Callable[[list], bool] | None:
        """The check of the field's values in many messages, as `_accepts` checks each; None when its
        values have no limit."""
        if not descriptor.is_repeated:
            if self._field_size_limits(descriptor, enclosing) == (None, False):
                return None
            return self._compiled_values(descriptor, enclosing)
        if _is_map(descriptor) or descriptor.full_name in self.items_checked_by_handler:
            container_ok = self._value_checks[descriptor]
            return lambda containers: all(map(container_ok, containers))
        items_ok = self._compiled_values(descriptor, enclosing)
        return lambda containers: max(map(len, containers), default=0) <= MAX_REPEATED and items_ok(
            list(chain.from_iterable(containers)))

    def _compiled_value(self, descriptor: FieldDescriptor) -> Callable[[object], bool]:
        kind = descriptor.type
        if kind == FieldDescriptor.TYPE_MESSAGE:
            special = _WELL_KNOWN.get(descriptor.message_type.full_name)
            return special[0] if special else self._compiled_message(descriptor.message_type)
        if kind == FieldDescriptor.TYPE_STRING:
            limit = self.max_chars(descriptor)
            return lambda value: len(value) <= limit and "\x00" not in value
        if kind == FieldDescriptor.TYPE_BYTES:
            return lambda value: len(value) <= MAX_BYTES
        if kind == FieldDescriptor.TYPE_ENUM:
            return descriptor.enum_type.values_by_number.__contains__
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return math.isfinite
        if descriptor.name == "page_size":
            return lambda value: page_size_violation(value) is None
        return lambda value: True

    def _compiled_message(self, message_type: Descriptor) -> Callable[[Message], bool]:
        """The check of a message value: by its serialization when its limits are all sizes (see
        `_size_limits`), else field by field.

        A string's characters, a bytes field's bytes and a repeated field's items each take at least a
        byte of the serialization, and a NUL character is a zero byte there: a message no longer than
        its smallest limit, with no zero byte when it holds text, breaks none. A zero byte also comes
        from an empty string or a zero in a map entry, so a message failing this is checked field by field."""
        limits = self._size_limits(message_type, frozenset())
        if limits is None:
            return self._accepts
        bound, holds_text = limits
        if holds_text:
            return lambda message: (len(data := message.SerializeToString()) <= bound and 0 not in data
                                    ) or self._accepts(message)
        return lambda message: message.ByteSize() <= bound or self._accepts(message)

    def _compiled_item(self, key: tuple[Descriptor, tuple[str, ...]]) -> Callable[[Message, bytes, tuple], bool]:
        """`item_check` of this type: the compiled check of each field outside a oneof that has a
        limit (the string fields read together) and of the field each oneof holds, if any, reading
        only what the caller did not. A field whose limits are all sizes (see `_size_limits`) is
        judged by the item's serialization, which holds the field's: no longer than its smallest
        limit, and without a zero byte when it holds text, it breaks none; else its value is checked,
        as `_accepts` does."""
        message_type, given = key
        position = {name: index for index, name in enumerate(given)}
        unknown = position.keys() - {f.name for f in message_type.fields} - {o.name for o in message_type.oneofs}
        if unknown:
            raise ValueError(f"{message_type.full_name} has no field or oneof {sorted(unknown)}")
        special = _WELL_KNOWN.get(message_type.full_name)
        if special:
            return lambda message, serialized, values=(): special[0](message)
        # Each kind of check in lists, read or given (by name or position): loops over short lists cost
        # less than a function per field, or map() over a few values.
        read_strings, given_strings, read_fields, given_fields, read_oneofs, given_oneofs = [], [], [], [], [], []
        for f in message_type.fields:
            if f.containing_oneof is not None:
                continue
            if f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated:
                (given_strings if f.name in position else read_strings).append(
                    (position.get(f.name, f.name), self.max_chars(f)))
            elif f.name in position and self._quick_field(f):
                given_fields.append((position[f.name], self._value_checks[f]))
            elif check := self._quick_field(f):
                read_fields.append(check)
        for oneof in message_type.oneofs:
            checks = {f.name: self._quick_field(f) or (lambda message, serialized: True) for f in oneof.fields}
            (given_oneofs if oneof.name in position else read_oneofs).append(
                (position.get(oneof.name, oneof.name), checks))

        def check(message: Message, serialized: bytes, values: tuple = ()) -> bool:
            for at, limit in given_strings:
                if len(value := values[at]) > limit or "\x00" in value:
                    return False
            for name, limit in read_strings:
                if len(value := getattr(message, name)) > limit or "\x00" in value:
                    return False
            for at, field_check in given_fields:
                if not field_check(values[at]):
                    return False
            for field_check in read_fields:
                if not field_check(message, serialized):
                    return False
            for at, checks in given_oneofs:
                if (held := values[at]) is not None and not checks[held](message, serialized):
                    return False
            for name, checks in read_oneofs:
                if (held := message.WhichOneof(name)) is not None and not checks[held](message, serialized):
                    return False
            return True

        return check

    def _quick_field(self, descriptor: FieldDescriptor) -> Callable[[Message, bytes], bool] | None:
        """A field's part of `item_check`, reading its value only when the serialization cannot tell;
        None when its values have no limit."""
        limits = self._field_size_limits(descriptor, frozenset())
        if limits == (None, False):
            return None
        exact, name = self._value_checks[descriptor], descriptor.name
        if limits is None or limits[0] is None:
            return lambda message, serialized: exact(getattr(message, name))
        bound, holds_text = limits
        if holds_text:
            return lambda message, serialized: (len(serialized) <= bound and 0 not in serialized) or exact(
                getattr(message, name))
        return lambda message, serialized: len(serialized) <= bound or exact(getattr(message, name))

    def _size_limits(self, message_type: Descriptor, enclosing: frozenset[str]) -> tuple[int, bool] | None:
        """The smallest size limit in this message and the ones it holds, and whether any field is a
        string; None when some field has a limit that is not a size (enums, floats, timestamps, page
        sizes, items left to a handler), when none has a limit, or when a message holds itself."""
        if message_type.full_name in enclosing or message_type.full_name in _WELL_KNOWN:
            return None
        enclosing |= {message_type.full_name}
        smallest, holds_text = None, False
        for descriptor in message_type.fields:
            limits = self._field_size_limits(descriptor, enclosing)
            if limits is None:
                return None
            limit, holds_text = limits[0], holds_text or limits[1]
            if limit is not None:
                smallest = limit if smallest is None else min(smallest, limit)
        return None if smallest is None else (smallest, holds_text)

    def _field_size_limits(self, descriptor: FieldDescriptor,
                           enclosing: frozenset[str]) -> tuple[int | None, bool] | None:
        """The smallest size limit of a field's value (None: it has none) and whether it holds text;
        None when one of its limits is not a size (see `_size_limits`)."""
        kind, holds_text = descriptor.type, False
        if kind == FieldDescriptor.TYPE_STRING:
            limit, holds_text = self.max_chars(descriptor), True
        elif kind == FieldDescriptor.TYPE_BYTES:
            limit = MAX_BYTES
        elif kind == FieldDescriptor.TYPE_MESSAGE:
            nested = self._size_limits(descriptor.message_type, enclosing)
            if nested is None:
                return None
            limit, holds_text = nested
        elif kind in _UNLIMITED_INTEGERS and descriptor.name != "page_size":
            limit = None
        else:
            return None
        if descriptor.is_repeated:
            if descriptor.full_name in self.items_checked_by_handler:
                return None
            limit = min(limit or MAX_REPEATED, MAX_REPEATED)
        return limit, holds_text


def string_column_lengths(engine: Engine) -> dict[str, int]:
    """The VARCHAR length of each column name in the database, the longest where tables differ: a
    shorter namesake (a meter outbox's `source`) holds values the API does not take verbatim."""
    lengths: dict[str, int] = {}
    for columns in sqlalchemy.inspect(engine).get_multi_columns().values():
        for column in columns:
            length = getattr(column["type"], "length", None)
            if isinstance(column["type"], sqlalchemy.String) and length:
                lengths[column["name"]] = max(length, lengths.get(column["name"], length))
    return lengths


def _shortened(key):
    """A map key as the field path shows it: a huge key must not make a huge error."""
    return key[:40] + "..." if isinstance(key, str) and len(key) > 40 else key


def _is_map(descriptor: FieldDescriptor) -> bool:
    message_type: Descriptor | None = descriptor.message_type
    return message_type is not None and message_type.GetOptions().map_entry


def _duration_in_range(duration) -> bool:
    same_sign = duration.seconds == 0 or duration.nanos == 0 or (duration.seconds > 0) == (duration.nanos > 0)
    return abs(duration.seconds) <= _DURATION_SECONDS and abs(duration.nanos) < _NANOS_PER_SECOND and same_sign


# Field types whose values have no limit (a repeated field's item count has).
_UNLIMITED_INTEGERS = frozenset({
    FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64})

# Full message name -> the check of a whole value of it, and what a value that fails it must be.
_WELL_KNOWN = {
    "google.protobuf.Timestamp": (timestamp_in_range,
                                  "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z"),
    "google.protobuf.Duration": (_duration_in_range, "must be within ±10,000 years, with seconds and nanos of one sign"),
}
# Full message name -> the check of many values of it at once (a list), where one is cheaper than a call per value.
_WELL_KNOWN_MANY = {"google.protobuf.Timestamp": timestamps_in_range}


DEFAULT_LIMITS = RequestLimits(string_chars=_STRING_OVERRIDES)
