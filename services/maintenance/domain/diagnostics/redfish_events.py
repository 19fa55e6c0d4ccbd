"""Redfish Event payloads (`#Event.v1_x.Event`) decoded and resolved against message registries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from services.maintenance.domain.diagnostics.batch import BatchResult, decode_each
from services.maintenance.domain.diagnostics.errors import MalformedDiagnostic
from services.maintenance.domain.diagnostics.redfish_registry import (
    Health,
    RegistryMessage,
    RegistrySet,
    parse_message_id,
)
from services.maintenance.domain.frozen import assemble

_CONDITION_PREFIX = "redfish:"


def redfish_condition_id(prefix: str, message_key: str, origin: str | None) -> str:
    return f"{_CONDITION_PREFIX}{prefix}.{message_key}@{origin or ''}"


@dataclass(frozen=True)
class ClearingRule:
    """What an event's ClearingLogic de-asserts on its asset."""

    prefix: str
    message_keys: frozenset[str]
    clears_all: bool
    origin: str | None
    same_origin_only: bool

    def clears(self, condition_id: str) -> bool:
        if not condition_id.startswith(_CONDITION_PREFIX):
            return False
        message, _, origin = condition_id[len(_CONDITION_PREFIX) :].partition("@")
        prefix, _, key = message.partition(".")
        if prefix != self.prefix:
            return False
        if self.same_origin_only and origin != (self.origin or ""):
            return False
        return self.clears_all or key in self.message_keys


@dataclass(frozen=True)
class RedfishEvent:
    asset: str
    message_id: str
    prefix: str
    message_key: str
    severity: Health
    message: str
    args: tuple[str, ...]
    origin: str | None  # the @odata.id of OriginOfCondition
    timestamp: datetime | None  # UTC
    event_id: str | None
    event_group_id: int | None
    resolution: str | None
    registry_message: RegistryMessage | None  # None: no loaded registry defines this MessageId
    clearing: ClearingRule | None

    @property
    def condition_id(self) -> str:
        return redfish_condition_id(self.prefix, self.message_key, self.origin)


def decode_event_payload(
    asset: str, payload: object, registries: RegistrySet
) -> BatchResult[RedfishEvent]:
    """Every record of an Event payload; a malformed record is rejected with its index."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("Events"), list):
        raise MalformedDiagnostic("an Event payload is an object with an Events array")
    return decode_each(
        payload["Events"], lambda record: decode_event_record(asset, record, registries)
    )


def decode_event_record(asset: str, record: object, registries: RegistrySet) -> RedfishEvent:
    if not isinstance(record, Mapping):
        raise MalformedDiagnostic("an event record must be an object")
    parts = parse_message_id(record.get("MessageId"))
    resolved = registries.resolve(parts.message_id)
    args = _message_args(record.get("MessageArgs", []))
    origin = _origin(record.get("OriginOfCondition"))
    clearing = None
    if resolved is not None and resolved.clearing is not None:
        clearing = ClearingRule(
            prefix=parts.prefix,
            message_keys=resolved.clearing.clears_messages,
            clears_all=resolved.clearing.clears_all,
            origin=origin,
            same_origin_only=resolved.clearing.same_origin_only,
        )
    return assemble(RedfishEvent, {
        "asset": asset,
        "message_id": parts.message_id,
        "prefix": parts.prefix,
        "message_key": parts.key,
        "severity": _severity(record, resolved),
        "message": _message_text(record, resolved, args),
        "args": args,
        "origin": origin,
        "timestamp": _timestamp(record.get("EventTimestamp")),
        "event_id": _optional_string(record, "EventId"),
        "event_group_id": _optional_integer(record, "EventGroupId"),
        "resolution": None if resolved is None else resolved.resolution,
        "registry_message": resolved,
        "clearing": clearing,
    })


def _severity(record: Mapping[str, object], resolved: RegistryMessage | None) -> Health:
    """The event's MessageSeverity overrides the registry; the deprecated free-text Severity is
    used only when it names a Health value."""
    if "MessageSeverity" in record:
        value = record["MessageSeverity"]
        try:
            return Health(value)
        except ValueError:
            raise MalformedDiagnostic(
                f"MessageSeverity {value!r} is not one of OK, Warning, Critical"
            ) from None
    legacy = record.get("Severity")
    if isinstance(legacy, str):
        for health in Health:
            if health.value.lower() == legacy.strip().lower():
                return health
    if resolved is not None:
        return resolved.severity
    raise MalformedDiagnostic("no usable severity: MessageId is not in a loaded registry")


def _message_text(
    record: Mapping[str, object], resolved: RegistryMessage | None, args: tuple[str, ...]
) -> str:
    if resolved is not None and len(args) == resolved.number_of_args:
        return resolved.format(args)
    sent = record.get("Message")
    if isinstance(sent, str) and sent:
        return sent
    return "" if resolved is None else resolved.template


def _message_args(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise MalformedDiagnostic("MessageArgs must be an array of strings")
    for position, value in enumerate(raw):
        if not isinstance(value, str):
            raise MalformedDiagnostic(f"MessageArgs[{position}] must be a string, not {value!r}")
    return tuple(raw)


def _origin(raw: object) -> str | None:
    """An idRef object (possibly the expanded resource), or a bare URI as SubmitTestEvent sends."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Mapping) and isinstance(raw.get("@odata.id"), str):
        return raw["@odata.id"]
    raise MalformedDiagnostic("OriginOfCondition must be an object with @odata.id or a URI")


def _timestamp(raw: object) -> datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise MalformedDiagnostic(f"EventTimestamp {raw!r} is not a date-time string")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise MalformedDiagnostic(f"EventTimestamp {raw!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise MalformedDiagnostic(f"EventTimestamp {raw!r} has no UTC offset")
    return parsed.astimezone(UTC)


def _optional_string(record: Mapping[str, object], field: str) -> str | None:
    value = record.get(field)
    if value is not None and not isinstance(value, str):
        raise MalformedDiagnostic(f"{field} must be a string, not {value!r}")
    return value


def _optional_integer(record: Mapping[str, object], field: str) -> int | None:
    value = record.get(field)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise MalformedDiagnostic(f"{field} must be an integer, not {value!r}")
    return value
