"""The audit trail: every mutation writes who did what to which resource, in its own transaction."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from services.invoicing.store import AuditRecordRow
from services.runtime.auth import current_identity
from services.runtime.db import utc_now


def audit(session: Session, resource: str, action: str, request_id: str = "", details: str = "") -> None:
    """Recorded in the caller's unit of work, so the record exists exactly when the change does."""
    session.add(AuditRecordRow(resource=resource, action=action, actor=current_identity().subject or "anonymous",
                               request_id=request_id, details=details))


def audit_many(session: Session, changes: Iterable[tuple[str, str, str]], request_id: str = "") -> None:
    """Many (resource, action, details) records in one statement, for bulk work such as billing runs."""
    actor = current_identity().subject or "anonymous"
    rows = [dict(resource=resource, action=action, actor=actor, request_id=request_id, details=details,
                 time=utc_now()) for resource, action, details in changes]
    if rows:
        session.execute(AuditRecordRow.__table__.insert(), rows)
