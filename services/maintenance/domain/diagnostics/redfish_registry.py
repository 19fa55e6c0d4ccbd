"""DMTF Redfish message registries: load them and resolve MessageIds.

The same loader reads a full DMTF registry document (`MessageRegistry.v1_x`) and the trimmed
copies in the shipped bundle, which keep only the fields the maintenance service acts on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from services.maintenance.domain.diagnostics.errors import MalformedDiagnostic
from services.maintenance.domain.diagnostics.shipped_data import REDFISH_REGISTRY_BUNDLE

# Event.v1_13_0 EventRecord.MessageId pattern; an errata part (5-part form) also matches.
MESSAGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9]+\.\d+\.\d+\.[A-Za-z0-9.]+$")
SAME_ORIGIN_OF_CONDITION = "SameOriginOfCondition"
_PLACEHOLDER = re.compile(r"%(\d+)")


class Health(StrEnum):
    """Resource.Health, the values of MessageSeverity."""

    OK = "OK"
    WARNING = "Warning"
    CRITICAL = "Critical"


@dataclass(frozen=True)
class ClearingLogic:
    clears_messages: frozenset[str]  # bare MessageKeys of the same registry
    clears_all: bool
    # Only SameOriginOfCondition is defined; an unknown ClearsIf is read as it too, which
    # clears less rather than more.
    same_origin_only: bool


@dataclass(frozen=True)
class RegistryMessage:
    prefix: str
    key: str
    template: str
    number_of_args: int
    severity: Health
    resolution: str
    clearing: ClearingLogic | None
    maps_to_general_messages: tuple[str, ...]  # "Prefix.MessageKey"

    def format(self, args: Sequence[str]) -> str:
        return _fill_in(self.template, tuple(args))


# A device repeats an event with the same arguments (the same sensor, the same component).
@lru_cache(maxsize=4096)
def _fill_in(template: str, args: tuple[str, ...]) -> str:
    def substitute(match: re.Match[str]) -> str:
        position = int(match.group(1))
        return args[position - 1] if 1 <= position <= len(args) else match.group(0)

    return _PLACEHOLDER.sub(substitute, template)


@dataclass(frozen=True)
class Registry:
    prefix: str
    version: tuple[int, int, int]
    messages: Mapping[str, RegistryMessage]


@dataclass(frozen=True)
class MessageIdParts:
    message_id: str
    prefix: str
    major: int
    minor: int
    key: str


def parse_message_id(message_id: object) -> MessageIdParts:
    if not isinstance(message_id, str):
        raise _malformed_message_id(message_id)
    return _parse_message_id_text(message_id)


# Every event is parsed twice (its record, then the registry look-up), and a fleet's BMCs send
# few distinct MessageIds; the bound keeps odd input from growing the cache.
@lru_cache(maxsize=4096)
def _parse_message_id_text(message_id: str) -> MessageIdParts:
    if not MESSAGE_ID_PATTERN.match(message_id):
        raise _malformed_message_id(message_id)
    parts = message_id.split(".")
    return MessageIdParts(message_id, parts[0], int(parts[1]), int(parts[2]), parts[-1])


def _malformed_message_id(message_id: object) -> MalformedDiagnostic:
    return MalformedDiagnostic(f"MessageId {message_id!r} is not Prefix.Major.Minor.MessageKey")


class RegistrySet:
    """Registries by prefix. A MessageId resolves against a registry of the same major version
    and an equal or newer minor version (registries are backward compatible within a major)."""

    def __init__(self, registries: Iterable[Registry]) -> None:
        self._by_prefix: dict[str, list[Registry]] = {}
        for registry in registries:
            self._by_prefix.setdefault(registry.prefix, []).append(registry)
        for versions in self._by_prefix.values():
            versions.sort(key=lambda registry: registry.version, reverse=True)

    @property
    def registries(self) -> tuple[Registry, ...]:
        return tuple(registry for versions in self._by_prefix.values() for registry in versions)

    def resolve(self, message_id: str) -> RegistryMessage | None:
        """The registry message for a MessageId, or None when no loaded registry defines it."""
        parts = parse_message_id(message_id)
        for registry in self._by_prefix.get(parts.prefix, ()):
            major, minor, _ = registry.version
            if major == parts.major and minor >= parts.minor and parts.key in registry.messages:
                return registry.messages[parts.key]
        return None

    def newest(self, prefix: str, key: str) -> RegistryMessage | None:
        """A message named the short way ("Prefix.MessageKey"), as MapsToGeneralMessages does."""
        for registry in self._by_prefix.get(prefix, ()):
            if key in registry.messages:
                return registry.messages[key]
        return None


def registry_from_document(document: Mapping[str, object]) -> Registry:
    prefix = document.get("RegistryPrefix")
    version = document.get("RegistryVersion")
    messages = document.get("Messages")
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9]+", prefix):
        raise MalformedDiagnostic(f"RegistryPrefix {prefix!r} is not alphanumeric")
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise MalformedDiagnostic(f"RegistryVersion {version!r} is not major.minor.errata")
    if not isinstance(messages, Mapping):
        raise MalformedDiagnostic(f"registry {prefix} has no Messages object")
    major, minor, errata = (int(part) for part in version.split("."))
    return Registry(
        prefix,
        (major, minor, errata),
        {key: _message(prefix, key, body) for key, body in messages.items()},
    )


def _message(prefix: str, key: str, body: object) -> RegistryMessage:
    if not isinstance(body, Mapping):
        raise MalformedDiagnostic(f"{prefix}.{key} is not a message object")
    severity = body.get("MessageSeverity", body.get("Severity"))
    try:
        health = Health(severity)
    except ValueError:
        raise MalformedDiagnostic(f"{prefix}.{key} has severity {severity!r}") from None
    template = body.get("Message")
    number_of_args = body.get("NumberOfArgs", 0)
    if not isinstance(template, str) or not isinstance(number_of_args, int):
        raise MalformedDiagnostic(f"{prefix}.{key} lacks a Message text or NumberOfArgs")
    clearing = body.get("ClearingLogic")
    return RegistryMessage(
        prefix=prefix,
        key=key,
        template=template,
        number_of_args=number_of_args,
        severity=health,
        resolution=str(body.get("Resolution", "")),
        clearing=None if clearing is None else _clearing_logic(prefix, key, clearing),
        maps_to_general_messages=tuple(body.get("MapsToGeneralMessages", ())),
    )


def _clearing_logic(prefix: str, key: str, clearing: object) -> ClearingLogic:
    if not isinstance(clearing, Mapping):
        raise MalformedDiagnostic(f"{prefix}.{key} ClearingLogic is not an object")
    return ClearingLogic(
        clears_messages=frozenset(clearing.get("ClearsMessage", ())),
        clears_all=bool(clearing.get("ClearsAll", False)),
        same_origin_only="ClearsIf" in clearing,
    )


def load_registry_folder(folder: Path) -> RegistrySet:
    """DMTF or OEM registry files (*.json), e.g. downloaded from a BMC's /redfish/v1/Registries."""
    return RegistrySet(
        registry_from_document(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob("*.json"))
    )


def load_registry_bundle(path: Path = REDFISH_REGISTRY_BUNDLE) -> RegistrySet:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    return RegistrySet(registry_from_document(document) for document in bundle["registries"])
