"""`request_id` idempotency (AIP-155): the first answer is stored in the same transaction as the write.

A replay with the same content gets the stored answer; the same id with other content is refused.
This is the write path of every mutating RPC, so it also writes the mutation's audit records, in the
same transaction: none when the work fails, none again for a replay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import LargeBinary, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from services.runtime.audit import AuditTrail
from services.runtime.db import Database, UtcDateTime, utc_now
from services.runtime.errors import AlreadyExists, InvalidArgument

MAX_REQUEST_ID_LENGTH = 128
ResponseT = TypeVar("ResponseT", bound=Message)


class IdempotencyRecordMixin:
    """Each service declares `class IdempotencyRecord(IdempotencyRecordMixin, Base)` on its own metadata."""

    __tablename__ = "idempotency_records"
    method: Mapped[str] = mapped_column(String(160), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(MAX_REQUEST_ID_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class IdempotentCalls:
    def __init__(self, database: Database, record_model: type, audit: AuditTrail):
        self._database = database
        self._model = record_model
        self._audit = audit

    def run(self, method: str, request: Message, response_type: type[ResponseT],
            work: Callable[[Session], ResponseT], *, request_id_owner: str = "") -> ResponseT:
        """Runs `work` in one unit of work, or returns the answer stored for `request.request_id`.

        With `request_id_owner` the request_id is that caller's alone: another owner replaying it
        gets no stored answer."""
        request_id = getattr(request, "request_id", "")
        if not request_id:
            with self._database.unit_of_work() as session:
                return self._audited(session, method, request, work)
        if len(request_id) > MAX_REQUEST_ID_LENGTH:
            raise InvalidArgument.field("request_id", f"must be at most {MAX_REQUEST_ID_LENGTH} characters")
        fingerprint = _fingerprint(request)
        key = f"{method}:{request_id_owner}" if request_id_owner else method
        try:
            with self._database.unit_of_work() as session:
                stored = self._replay(session, key, request_id, fingerprint, response_type)
                if stored is not None:
                    return stored
                # Claiming the key before the work makes a concurrent twin wait on it, then fail below.
                record = self._model(method=key, request_id=request_id, fingerprint=fingerprint, response=b"")
                session.add(record)
                session.flush()
                response = self._audited(session, method, request, work)
                record.response = response.SerializeToString()
                return response
        except IntegrityError:
            # A concurrent call with the same request_id committed first: answer as it did.
            with self._database.unit_of_work() as session:
                stored = self._replay(session, key, request_id, fingerprint, response_type)
            if stored is None:
                raise
            return stored

    def _audited(self, session: Session, method: str, request: Message,
                 work: Callable[[Session], ResponseT]) -> ResponseT:
        response = work(session)
        self._audit.write(session, method, request, response)
        return response

    def _replay(self, session: Session, method: str, request_id: str, fingerprint: str,
                response_type: type[ResponseT]) -> ResponseT | None:
        record = session.get(self._model, (method, request_id))
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise AlreadyExists(f"request_id {request_id!r} was already used for a different request",
                                reason="REQUEST_ID_REUSED", metadata={"request_id": request_id})
        return response_type.FromString(record.response)


def _fingerprint(request: Message) -> str:
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("request_id")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()
