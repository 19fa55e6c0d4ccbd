"""The audit trail of every mutation: who (subject), what (RPC method, resource, summary), when (UTC),
under which request id; queryable per resource with `ListAuditRecords`.

Records are written in the unit of work of the change itself, so a failed write leaves none and a
replayed request_id (answered from the idempotency store, without running the work) adds none.
The shared write path (`IdempotentCalls.run`, behind every Create, Update and verb) writes them:
by default one record for the resource the RPC names (the response's or the request's `name`);
work that changes other or more resources says so with `note_change(s)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from fleetops.audit.v1 import audit_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from services.runtime.auth import current_identity
from services.runtime.db import Database, UtcDateTime, bulk_insert, utc_now
from services.runtime.errors import InvalidArgument
from services.runtime.pagination import PageTokens
from services.runtime.resources import to_timestamp
from services.runtime.scoping import deny_scoped

_PENDING = "fleetops_audit_changes"
_SUMMARY_LIMIT = 500
# Fields that identify a call rather than describe a change.
_NOT_SUMMARIZED = {"name", "etag", "request_id", "update_mask", "validate_only"}
_RECORD_COLUMNS = ("resource", "method", "action", "actor", "request_id", "time", "details")


class AuditRecordMixin:
    """Each service declares `class AuditRecord(AuditRecordMixin, Base)` on its own metadata."""

    __tablename__ = "audit_records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(String(400), index=True)
    method: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(160))
    actor: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str] = mapped_column(String(128), default="")
    time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    details: Mapped[str] = mapped_column(Text, default="")


def note_change(session: Session, resource: str, action: str = "", details: str = "") -> None:
    """Records that this unit of work changes `resource` (`action` defaults to the RPC method)."""
    session.info.setdefault(_PENDING, []).append((resource, action, details))


def note_changes(session: Session, changes: Iterable[tuple[str, str, str]]) -> None:
    """Many (resource, action, details) changes, for bulk work such as billing runs and imports."""
    session.info.setdefault(_PENDING, []).extend(changes)


def summarize(message: Message) -> str:
    """The fields a request sets, short: "reason=paper jam; site=customers/acme/sites/hq"."""
    parts = []
    for field, value in message.ListFields():
        if field.name in _NOT_SUMMARIZED:
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE or field.is_repeated:
            parts.append(field.name)
        else:
            parts.append(f"{field.name}={value}")
    return _short("; ".join(parts))


def _short(text: str) -> str:
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "…"


def _target(request: Message, response: Message) -> str:
    """The resource an RPC is about: its answer's name (a created resource), else the request's."""
    for message, field in ((response, "name"), (request, "name"), (request, "parent")):
        if field in message.DESCRIPTOR.fields_by_name and getattr(message, field):
            return getattr(message, field)
    return ""


class AuditTrail:
    def __init__(self, database: Database, record_model: type, page_tokens: PageTokens | None = None):
        self._database = database
        self._model = record_model
        self._tokens = page_tokens

    def write(self, session: Session, method: str, request: Message, response: Message) -> None:
        """Writes the records of one mutation into its unit of work: the noted changes, and the RPC's
        own target unless a note already covers it."""
        changes = session.info.pop(_PENDING, [])
        target = _target(request, response)
        # A call that names no resource (a batch) is covered by its notes; without any it is still
        # recorded, under no resource, so no mutation goes unaudited.
        if not any(resource == target for resource, _, _ in changes) and (target or not changes):
            changes.insert(0, (target, method, summarize(request)))
        self.insert(session, method, changes, getattr(request, "request_id", ""))

    def insert(self, session: Session, method: str, changes: list[tuple[str, str, str]], request_id: str = "") -> None:
        """Records written as one statement (work outside the request path, such as ingestion, calls this)."""
        actor = current_identity().subject or "anonymous"
        now = utc_now()
        # By COPY on PostgreSQL: a batch RPC writes one record per resource it touched, a thousand a call.
        bulk_insert(session, self._model.__table__, _RECORD_COLUMNS,
                    [(resource, method, action or method, actor, request_id, now, _short(details))
                     for resource, action, details in changes])

    def list(self, request: audit_pb2.ListAuditRecordsRequest) -> audit_pb2.ListAuditRecordsResponse:
        """The `ListAuditRecords` RPC of every service: one resource's trail (or the whole trail), oldest first."""
        deny_scoped("the audit trail")
        if request.resource and "/" not in request.resource:
            raise InvalidArgument.field("resource", "name a resource, e.g. assets/{asset}")
        query_key = {"resource": request.resource}
        page = self._tokens.parse(request.page_size, request.page_token, query_key)
        model = self._model
        with self._database.unit_of_work() as session:
            query = select(model).order_by(model.id).limit(page.size + 1)
            if request.resource:
                query = query.where(model.resource == request.resource)
            if page.after:
                query = query.where(model.id > page.after[0])
            rows, token = self._tokens.finish(list(session.scalars(query)), page, lambda r: (r.id,), query_key)
            return audit_pb2.ListAuditRecordsResponse(next_page_token=token, audit_records=[
                audit_pb2.AuditRecord(name=f"auditRecords/{r.id}", resource=r.resource, method=r.method,
                                      action=r.action, actor=r.actor, request_id=r.request_id,
                                      time=to_timestamp(r.time), details=r.details) for r in rows])
