"""What every invoicing handler shares: names and dates."""

from __future__ import annotations

import re
from datetime import date

from google.type import date_pb2

from services.runtime.errors import InvalidArgument
from services.runtime.proto_values import date_from_proto

_PLAN_VERSION = re.compile(r"^plans/([a-z]([a-z0-9-]{0,61}[a-z0-9])?)/versions/([1-9][0-9]{0,5})$")


def required_date(value: date_pb2.Date, field: str, present: bool) -> date:
    if not present:
        raise InvalidArgument.field(field, "is required")
    return date_from_proto(value, field)


def parse_plan_version(name: str, field: str) -> tuple[str, int]:
    match = _PLAN_VERSION.match(name)
    if not match:
        raise InvalidArgument.field(field, f"must look like plans/{{plan}}/versions/{{version}}, got {name!r}")
    return match.group(1), int(match.group(3))
