"""`request_id` idempotency (AIP-155): the first answer is stored in the same transaction as the write.

A replay with the same content gets the stored answer; the same id with other content is refused.
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
    def __init__(self, database: Database, record_model: type):
        self._database = database
        self._model = record_model

    def run(self, method: str, request: Message, response_type: type[ResponseT],
            work: Callable[[Session], ResponseT]) -> ResponseT:
        """Runs `work` in one unit of work, or returns the answer stored for `request.request_id`."""
        request_id = getattr(request, "request_id", "")
        if not request_id:
            with self._database.unit_of_work() as session:
                return work(session)
        if len(request_id) > MAX_REQUEST_ID_LENGTH:
            raise InvalidArgument.field("request_id", f"must be at most {MAX_REQUEST_ID_LENGTH} characters")
        fingerprint = _fingerprint(request)
        try:
            with self._database.unit_of_work() as session:
                stored = self._replay(session, method, request_id, fingerprint, response_type)
                if stored is not None:
                    return stored
                # Claiming the key before the work makes a concurrent twin wait on it, then fail below.
                record = self._model(method=method, request_id=request_id, fingerprint=fingerprint, response=b"")
                session.add(record)
                session.flush()
                response = work(session)
                record.response = response.SerializeToString()
                return response
        except IntegrityError:
            # A concurrent call with the same request_id committed first: answer as it did.
            with self._database.unit_of_work() as session:
                stored = self._replay(session, method, request_id, fingerprint, response_type)
            if stored is None:
                raise
            return stored

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
