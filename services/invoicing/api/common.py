"""What every invoicing handler shares: the request id for the audit trail, names, dates."""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable
from datetime import date

from google.protobuf.message import Message
from google.type import date_pb2
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from services.invoicing.audit import audit, audit_many
from services.runtime.errors import InvalidArgument
from services.runtime.proto_values import date_from_proto

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("invoicing_request_id", default="")
_PLAN_VERSION = re.compile(r"^plans/([a-z]([a-z0-9-]{0,61}[a-z0-9])?)/versions/([1-9][0-9]{0,5})$")


def mutation(handler: Callable) -> Callable:
    """Marks a mutating RPC: its request_id goes into the audit records it writes."""

    @functools.wraps(handler)
    def handle(self, request: Message, context):
        token = _request_id.set(getattr(request, "request_id", ""))
        try:
            return handler(self, request, context)
        finally:
            _request_id.reset(token)

    return handle


def record(session: Session, resource: str, action: str, details: str = "") -> None:
    audit(session, resource, action, _request_id.get(), details)


def record_many(session: Session, changes: list[tuple[str, str, str]]) -> None:
    audit_many(session, changes, _request_id.get())


def audited(write: Callable, resource_of: Callable[[object], str], kind: str) -> Callable:
    """A Collection `write` step that also records the Create or Update in the audit trail."""

    def write_and_audit(session: Session, row, message: Message, fields: set[str]) -> None:
        action = ("Update" if inspect(row).persistent else "Create") + kind
        write(session, row, message, fields)
        record(session, resource_of(row), action, "fields: " + ", ".join(sorted(fields)))

    return write_and_audit


def required_date(value: date_pb2.Date, field: str, present: bool) -> date:
    if not present:
        raise InvalidArgument.field(field, "is required")
    return date_from_proto(value, field)


def parse_plan_version(name: str, field: str) -> tuple[str, int]:
    match = _PLAN_VERSION.match(name)
    if not match:
        raise InvalidArgument.field(field, f"must look like plans/{{plan}}/versions/{{version}}, got {name!r}")
    return match.group(1), int(match.group(3))
