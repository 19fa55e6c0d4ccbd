"""The standard methods (AIP-131..134) over named rows, written once for every service.

A servicer describes a collection (its rows, how a row becomes a message, and whose rows they are)
and supplies the domain step that writes fields; this module does names, paging, etags, idempotency,
customer scoping, the audit trail and transactions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fleetops.audit.v1 import audit_pb2
from google.protobuf.message import Message
from sqlalchemy.orm import Session

from services.runtime.audit import AuditTrail, note_change
from services.runtime.errors import InvalidArgument
from services.runtime.idempotency import IdempotentCalls
from services.runtime.repository import NamedRowMixin, NamedRows
from services.runtime.resources import NamePattern, check_etag, id_violation, update_paths
from services.runtime.scoping import Scope
from services.runtime.server import Runtime

RowT = TypeVar("RowT", bound=NamedRowMixin)
MessageT = TypeVar("MessageT", bound=Message)


@dataclass(frozen=True)
class Collection(Generic[RowT, MessageT]):
    pattern: NamePattern  # customers/{customer}/sites/{site}
    row_type: type[RowT]
    message_type: type[MessageT]
    message_field: str  # "customer": the request field holding the resource
    writable: tuple[str, ...]
    to_message: Callable[[RowT], MessageT]
    # Domain step: validate the message's `fields` and copy them into the row (raises InvalidArgument).
    write: Callable[[Session, RowT, MessageT, set[str]], None]
    # Whose rows these are (services.runtime.scoping): every method below holds a scoped caller to it.
    scope: Scope

    def rows(self, session: Session) -> NamedRows[RowT]:
        return NamedRows(session, self.row_type, self.pattern, self.scope)


class StandardMethods:
    def __init__(self, runtime: Runtime, idempotency_model: type, audit_model: type):
        self.database = runtime.database
        self._tokens = runtime.page_tokens
        self.audit = AuditTrail(runtime.database, audit_model, runtime.page_tokens)
        self._idempotent = IdempotentCalls(runtime.database, idempotency_model, self.audit)

    def get(self, collection: Collection[RowT, MessageT], name: str) -> MessageT:
        row_id = collection.pattern.key(name)
        with self.database.unit_of_work() as session:
            return collection.to_message(collection.rows(session).get(row_id))

    def list(self, collection: Collection[RowT, MessageT], request: Message,
             **equal_to: Any) -> tuple[list[MessageT], str]:
        """`equal_to` maps row columns to the request's filter values ("" or None: no filter)."""
        page = self._tokens.parse(request.page_size, request.page_token, equal_to)
        with self.database.unit_of_work() as session:
            rows = collection.rows(session).page(page, **equal_to)
            rows, next_token = self._tokens.finish(rows, page, lambda r: (r.id,), equal_to)
            return [collection.to_message(r) for r in rows], next_token

    def create(self, collection: Collection[RowT, MessageT], method: str, request: Message,
               new_id: str, id_field: str, parent_key: str = "") -> MessageT:
        """`parent_key` is the key of the parent resource for a nested collection (see NamePattern)."""
        violation = id_violation(new_id, id_field)
        if violation:
            raise InvalidArgument([violation])
        resource = getattr(request, collection.message_field)
        key = f"{parent_key}/{new_id}" if parent_key else new_id
        collection.scope.check_new(key, collection.pattern.name_of(key), resource)

        def create(session: Session) -> MessageT:
            row = collection.row_type(id=key)
            collection.write(session, row, resource, set(collection.writable))
            created = collection.to_message(collection.rows(session).add(row))
            note_change(session, created.name, method, _fields_summary(resource, collection.writable))
            return created

        return self._idempotent.run(method, request, collection.message_type, create)

    def update(self, collection: Collection[RowT, MessageT], method: str, request: Message) -> MessageT:
        resource = getattr(request, collection.message_field)
        row_id = collection.pattern.key(resource.name, f"{collection.message_field}.name")
        fields = update_paths(request.update_mask, collection.writable, collection.message_field)

        def update(session: Session) -> MessageT:
            row = collection.rows(session).get(row_id, for_update=True)
            check_etag(resource.name, resource.etag, row.version)
            collection.write(session, row, resource, fields)
            collection.scope.check_written(row, resource.name)
            row.touch()
            session.flush()
            note_change(session, resource.name, method, "fields: " + ", ".join(sorted(fields)))
            return collection.to_message(row)

        return self._idempotent.run(method, request, collection.message_type, update)

    def run(self, method: str, request: Message, response_type: type[MessageT],
            work: Callable[[Session], MessageT], *, request_id_owner: str = "") -> MessageT:
        """A custom mutating verb: one unit of work, idempotent on `request.request_id`, audited."""
        return self._idempotent.run(method, request, response_type, work, request_id_owner=request_id_owner)


def _fields_summary(resource: Message, writable: tuple[str, ...]) -> str:
    """The writable fields a Create sets."""
    return "fields: " + ", ".join(sorted(f.name for f, _ in resource.ListFields() if f.name in writable))


class AuditRecordMethods:
    """`ListAuditRecords`, the same RPC in every service (mixed into each servicer beside its `_standard`)."""

    _standard: StandardMethods

    def ListAuditRecords(self, request: audit_pb2.ListAuditRecordsRequest, context) -> audit_pb2.ListAuditRecordsResponse:
        return self._standard.audit.list(request)
