"""Bulk writes (COPY on PostgreSQL, executemany on SQLite) store what a row-by-row upsert would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import JSON, Float, Integer, String, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.runtime.db import (
    Database,
    ScaledDecimal,
    UtcDateTime,
    bulk_insert,
    bulk_insert_returning_ids,
    bulk_update,
    bulk_upsert,
    new_metadata,
)


class _Base(DeclarativeBase):
    metadata = new_metadata()


class Reading(_Base):
    __tablename__ = "readings"
    device: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    level: Mapped[float] = mapped_column(Float)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(String(40), default="none")


class Remark(_Base):
    __tablename__ = "remarks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    edited: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Tally(_Base):
    __tablename__ = "tallies"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[Decimal | None] = mapped_column(ScaledDecimal(4))


COLUMNS = ["device", "at", "level", "state"]
KEY = ["device", "at"]
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def database(new_database_url):
    database = Database(new_database_url("bulk"))
    _Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def stored(database: Database) -> list[tuple]:
    with database.unit_of_work() as session:
        return [tuple(row) for row in session.execute(
            select(Reading.device, Reading.at, Reading.level, Reading.state, Reading.note).order_by(Reading.device, Reading.at))]


def test_upsert_updates_existing_rows_and_the_last_row_of_a_key_wins(database):
    with database.unit_of_work() as session:
        bulk_upsert(session, Reading.__table__, COLUMNS, [("a", T0, 10.0, {"seen": [1]}), ("b", T0, 20.0, {})], KEY)
    with database.unit_of_work() as session:
        bulk_upsert(session, Reading.__table__, COLUMNS, [
            ("a", T0, 11.0, {"seen": [1, 2]}), ("a", T0 + timedelta(seconds=1), 30.0, {}),
            ("a", T0, 12.0, {"seen": [3]})], KEY)
        # A second call in the same transaction starts from an empty staging table.
        bulk_upsert(session, Reading.__table__, COLUMNS, [("c", T0, 40.0, {"x": "y"})], KEY)
    assert stored(database) == [
        ("a", T0, 12.0, {"seen": [3]}, "none"),
        ("a", T0 + timedelta(seconds=1), 30.0, {}, "none"),
        ("b", T0, 20.0, {}, "none"),
        ("c", T0, 40.0, {"x": "y"}, "none"),
    ]


def test_a_failed_transaction_leaves_nothing_of_its_bulk_writes(database):
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        bulk_upsert(session, Reading.__table__, COLUMNS, [("a", T0, 10.0, {})], KEY)
        bulk_insert(session, Reading.__table__, COLUMNS, [("b", T0, 20.0, {})])
        raise RuntimeError("the rest of the unit of work failed")
    assert stored(database) == []
    with database.unit_of_work() as session:  # and the next transaction on the connection starts clean
        bulk_upsert(session, Reading.__table__, COLUMNS, [("c", T0, 30.0, {})], KEY)
    assert stored(database) == [("c", T0, 30.0, {}, "none")]


def test_insert_fills_the_other_columns_with_their_defaults(database):
    with database.unit_of_work() as session:
        bulk_insert(session, Reading.__table__, ["device", "at", "level"], [("a", T0, 1.5)])
    assert stored(database) == [("a", T0, 1.5, {}, "none")]


def test_inserted_rows_get_new_keys_in_row_order(database):
    with database.unit_of_work() as session:
        first = bulk_insert_returning_ids(session, Remark.__table__, ["text"], [("a",), ("b",), ("c",)])
        second = bulk_insert_returning_ids(session, Remark.__table__, ["text"], [("d",)])
    assert len(set(first + second)) == 4
    with database.unit_of_work() as session:
        stored = {row.id: (row.text, row.version) for row in session.scalars(select(Remark))}
    assert [stored[i] for i in first + second] == [("a", 1), ("b", 1), ("c", 1), ("d", 1)]


def test_update_sets_the_named_rows_raises_their_version_and_leaves_the_rest(database):
    with database.unit_of_work() as session:
        a, b, c = bulk_insert_returning_ids(session, Remark.__table__, ["text"], [("a",), ("b",), ("c",)])
    columns = ["id", "text", "details", "edited"]
    with database.unit_of_work() as session:
        bulk_update(session, Remark.__table__, "id", columns, [(a, "a2", {"by": ["x"]}, T0), (c, "c2", {}, None)],
                    increment=["version"])
        # A second call in the same transaction applies only its own rows.
        bulk_update(session, Remark.__table__, "id", columns, [(c, "c3", {"n": 1}, T0 + timedelta(days=1))],
                    increment=["version"])
    with database.unit_of_work() as session:
        stored = {row.id: (row.text, row.version, row.details, row.edited) for row in session.scalars(select(Remark))}
    assert stored == {a: ("a2", 2, {"by": ["x"]}, T0), b: ("b", 1, {}, None),
                      c: ("c3", 3, {"n": 1}, T0 + timedelta(days=1))}
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        bulk_update(session, Remark.__table__, "id", ["id", "text"], [(b, "lost")], increment=["version"])
        raise RuntimeError("the rest of the unit of work failed")
    with database.unit_of_work() as session:
        assert session.get(Remark, b).text == "b"


def test_exact_decimals_are_stored_exactly_and_a_finer_one_is_refused(database):
    amounts = [Decimal("9990007"), Decimal("123.4567"), Decimal("-3.25"), Decimal("1.50000"), Decimal(0), None]
    with database.unit_of_work() as session:
        bulk_insert(session, Tally.__table__, ["name", "amount"], [(f"t{i}", a) for i, a in enumerate(amounts)])
    with database.unit_of_work() as session:
        assert list(session.scalars(select(Tally.amount).order_by(Tally.name))) == amounts
    # COPY raises the conversion's error itself; SQLAlchemy wraps it in a StatementError
    with pytest.raises((ValueError, StatementError), match="1.00001 has more than 4 decimal places"), \
            database.unit_of_work() as session:
        bulk_insert(session, Tally.__table__, ["name", "amount"], [("finer", Decimal("1.00001"))])
