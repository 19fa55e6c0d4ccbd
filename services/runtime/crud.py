"""The standard methods (AIP-131..134) over named rows, written once for every service.

A servicer describes a collection (its rows and how a row becomes a message) and supplies the
domain step that writes fields; this module does names, paging, etags, idempotency and transactions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.orm import Session

from services.runtime.errors import InvalidArgument
from services.runtime.idempotency import IdempotentCalls
from services.runtime.repository import NamedRowMixin, NamedRows
from services.runtime.resources import NamePattern, check_etag, id_violation, update_paths
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

    def rows(self, session: Session) -> NamedRows[RowT]:
        return NamedRows(session, self.row_type, self.pattern)


class StandardMethods:
    def __init__(self, runtime: Runtime, idempotency_model: type):
        self.database = runtime.database
        self._tokens = runtime.page_tokens
        self._idempotent = IdempotentCalls(runtime.database, idempotency_model)

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

        def create(session: Session) -> MessageT:
            row = collection.row_type(id=key)
            collection.write(session, row, resource, set(collection.writable))
            return collection.to_message(collection.rows(session).add(row))

        return self._idempotent.run(method, request, collection.message_type, create)

    def update(self, collection: Collection[RowT, MessageT], method: str, request: Message) -> MessageT:
        resource = getattr(request, collection.message_field)
        row_id = collection.pattern.key(resource.name, f"{collection.message_field}.name")
        fields = update_paths(request.update_mask, collection.writable, collection.message_field)

        def update(session: Session) -> MessageT:
            row = collection.rows(session).get(row_id, for_update=True)
            check_etag(resource.name, resource.etag, row.version)
            collection.write(session, row, resource, fields)
            row.touch()
            session.flush()
            return collection.to_message(row)

        return self._idempotent.run(method, request, collection.message_type, update)

    def run(self, method: str, request: Message, response_type: type[MessageT],
            work: Callable[[Session], MessageT]) -> MessageT:
        """A custom mutating verb: one unit of work, idempotent on `request.request_id`."""
        return self._idempotent.run(method, request, response_type, work)
