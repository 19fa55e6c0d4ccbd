"""Persistence shared by resources that live under a name: columns every row has, paging queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from services.runtime.db import UtcDateTime, utc_now
from services.runtime.errors import AlreadyExists, NotFound
from services.runtime.pagination import PageRequest
from services.runtime.resources import NamePattern
from services.runtime.scoping import Scope

RowT = TypeVar("RowT", bound="NamedRowMixin")


class NamedRowMixin:
    """`id` is the key of the resource name (see NamePattern); `version` backs the etag."""

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    def touch(self) -> None:
        self.version += 1
        self.update_time = utc_now()


class NamedRows(Generic[RowT]):
    """A repository of one kind of named row inside a unit of work.

    With a `scope` (see services.runtime.scoping) every read, list and write is held to the caller's
    customer scope; without one the rows are unscoped, for the service's own background work."""

    def __init__(self, session: Session, row_type: type[RowT], pattern: NamePattern | str, scope: Scope | None = None):
        self.session = session
        self.row_type = row_type
        self.pattern = pattern if isinstance(pattern, NamePattern) else NamePattern(f"{pattern}/{{id}}")
        self.scope = scope

    def get(self, row_id: str, *, for_update: bool = False) -> RowT:
        """`for_update` declares the intent to change the row (shared reference data refuses it to a scoped caller)."""
        name = self.pattern.name_of(row_id)
        query = select(self.row_type).where(self.row_type.id == row_id)
        if for_update:
            query = query.with_for_update()
        row = self.session.scalars(query).one_or_none()
        if self.scope is not None:
            self.scope.check_found(row, name, for_update)
        if row is None:
            raise NotFound(name)
        return row

    def add(self, row: RowT) -> RowT:
        if self.scope is not None:
            self.scope.check_written(row, self.pattern.name_of(row.id))
        if self.session.get(self.row_type, row.id) is not None:
            name = self.pattern.name_of(row.id)
            raise AlreadyExists(f"{name} already exists", reason="RESOURCE_EXISTS", metadata={"resource": name})
        self.session.add(row)
        self.session.flush()
        return row

    def page(self, page: PageRequest, **equal_to: Any) -> list[RowT]:
        """Rows in id order after the page's position, one more than the page size (see PageTokens.finish)."""
        query = select(self.row_type).order_by(self.row_type.id).limit(page.size + 1)
        if self.scope is not None:
            query = self.scope.restrict(query, self.row_type)
        for column, value in equal_to.items():
            if value not in ("", None):
                query = query.where(getattr(self.row_type, column) == value)
        if page.after is not None:
            query = query.where(self.row_type.id > page.after[0])
        return list(self.session.scalars(query))
