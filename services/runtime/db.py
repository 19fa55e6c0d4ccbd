"""Database plumbing shared by the services: engines, one session per unit of work, migrations.

Each service owns its own database (a SQLite file under var/ by default, PostgreSQL in production)
and its own SQLAlchemy MetaData with the naming convention below, so Alembic names constraints
identically on both back ends.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import ARRAY, BigInteger, ColumnElement, DateTime, Engine, MetaData, Table, any_, bindparam, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Any constant shared by every replica of every service: each service has its own database.
_MIGRATION_LOCK_KEY = 7_345_201_913


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both back ends (SQLite stores naive text, so the zone is put back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ScaledDecimal(TypeDecorator[Decimal]):
    """An exact decimal stored as an integer count of 10^-scale units (SQLite has no exact NUMERIC)."""

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale
        self._units_per_one = 10 ** scale

    def __repr__(self) -> str:  # Alembic writes this into migrations
        return f"ScaledDecimal({self.scale})"

    def process_bind_param(self, value: Decimal | None, dialect) -> int | None:
        if value is None:
            return None
        # Integer arithmetic on the exact ratio: bulk writes convert millions of values, and this is
        # half the cost of scaling the decimal, converting it and comparing.
        numerator, denominator = (value if isinstance(value, Decimal) else Decimal(value)).as_integer_ratio()
        units, remainder = divmod(numerator * self._units_per_one, denominator)
        if remainder:
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        return units

    def process_result_value(self, value: int | None, dialect) -> Decimal | None:
        return None if value is None else Decimal(value).scaleb(-self.scale)


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_database_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database_file = url.split("///", 1)[-1]
        if database_file and database_file != ":memory:":
            Path(database_file).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=10)


def _configure_sqlite(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling is turned off so that BEGIN IMMEDIATE below takes the
    # write lock up front: two writers then queue instead of failing with "database is locked".
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _dialect_insert(session: Session):
    if is_postgresql(session):
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


CHUNK_SIZE = 1000


def chunks(items: Sequence, size: int = CHUNK_SIZE) -> Iterator[Sequence]:
    """`items` in slices of `size`: a statement's IN list or parameter count stays bounded."""
    for offset in range(0, len(items), size):
        yield items[offset:offset + size]


def one_of(session: Session, column, values: Sequence) -> ColumnElement[bool]:
    """`column IN values` as one condition: on PostgreSQL `column = ANY(array)` with one array
    parameter, as a list of thousands of parameters costs more to bind and plan than the lookups."""
    if is_postgresql(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def upsert(session: Session, table, rows: list[dict], key: list[str]) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE, on PostgreSQL and SQLite alike, in one statement."""
    if not rows:
        return
    # Rows as parameters, not inlined VALUES: the statement is compiled once and cached.
    statement = _dialect_insert(session)(table)
    updates = {c: statement.excluded[c] for c in rows[0] if c not in key}
    session.execute(statement.on_conflict_do_update(index_elements=key, set_=updates) if updates
                    else statement.on_conflict_do_nothing(index_elements=key), rows)


def insert_new(session: Session, table, rows: list[dict], key: list[str]) -> set[tuple]:
    """Inserts the rows whose key is not taken yet and returns the keys it inserted.

    A concurrent transaction inserting the same key makes this one wait for it, then skip the
    row: the key is claimed by exactly one caller.
    """
    if not rows:
        return set()
    statement = (_dialect_insert(session)(table).on_conflict_do_nothing(index_elements=key)
                 .returning(*(table.c[k] for k in key)))
    return {tuple(row) for row in session.execute(statement, rows)}


def bulk_insert(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Inserts rows of `columns` in one statement: COPY on PostgreSQL, one executemany elsewhere.

    The other columns get their Python-side defaults (version, times, ""), once for all rows. The
    column types' bind processing (exact decimals to scaled integers, UTC times) is applied here
    because COPY bypasses SQLAlchemy's statement execution.
    """
    if not rows:
        return
    if not is_postgresql(session):
        # Core, which applies the types and defaults: the ORM would split rows by their NULL columns.
        session.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    with driver_connection(session) as driver, driver.cursor() as cursor:
        _copy(session, cursor, table, table.name, columns, rows)


def bulk_insert_returning_ids(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence]) -> list[int]:
    """`bulk_insert` for a table with an integer key drawn from a sequence: the rows' new keys, in row
    order. On PostgreSQL the keys are drawn in one query and the rows go by COPY; elsewhere, one
    INSERT ... RETURNING."""
    if not rows:
        return []
    [key] = table.primary_key.columns
    if not is_postgresql(session):
        return list(session.scalars(table.insert().returning(key, sort_by_parameter_order=True),
                                    [dict(zip(columns, row, strict=True)) for row in rows]))
    ids = list(session.scalars(text("SELECT nextval(pg_get_serial_sequence(:table, :column)) FROM generate_series(1, :count)"),
                               {"table": table.name, "column": key.name, "count": len(rows)}))
    bulk_insert(session, table, [key.name, *columns], [(row_id, *row) for row_id, row in zip(ids, rows, strict=True)])
    return ids


def bulk_upsert(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence],
                key: Sequence[str]) -> None:
    """`upsert` for many rows of `columns` (the last row of a key wins). On PostgreSQL the rows go by
    binary COPY into a temporary table of the same columns, then one INSERT ... SELECT ... ON
    CONFLICT applies them: psycopg formats COPY in C, where binding row by row, or as arrays,
    costs about 10 µs of Python per row."""
    if not rows:
        return
    positions = [columns.index(name) for name in key]
    rows = list({tuple(row[p] for p in positions): row for row in rows}.values())
    if not is_postgresql(session):
        upsert(session, table, [dict(zip(columns, row, strict=True)) for row in rows], list(key))
        return
    key_names = ", ".join(f'"{name}"' for name in key)
    updates = ", ".join(f'"{name}" = excluded."{name}"' for name in columns if name not in key)
    with driver_connection(session) as driver, driver.cursor() as cursor, \
            _staged(session, cursor, table, columns, rows) as (staging, names):
        # In key order, as every writer of the table locks its rows: two of them never wait on each other in a cycle.
        cursor.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{staging}" ORDER BY {key_names}'
                       f" ON CONFLICT ({key_names})" + (f" DO UPDATE SET {updates}" if updates else " DO NOTHING"))


def bulk_update(session: Session, table: Table, key: str, columns: Sequence[str], rows: Sequence[Sequence],
                increment: Sequence[str] = ()) -> None:
    """Sets `columns` (the first is the key) of existing rows, and raises each `increment` column
    (e.g. a version) by one. On PostgreSQL the rows go by binary COPY into a temporary table and one
    UPDATE ... FROM applies them; elsewhere, one executemany. The caller holds the rows' locks, or
    updates rows nobody else writes in the same transaction (the rows are not updated in key order)."""
    if not rows:
        return
    if not is_postgresql(session):
        statement = table.update().where(table.c[key] == bindparam("row_key")).values(
            {name: table.c[name] + 1 for name in increment})
        session.execute(statement, [{"row_key": row[0], **dict(zip(columns[1:], row[1:], strict=True))} for row in rows])
        return
    with driver_connection(session) as driver, driver.cursor() as cursor, \
            _staged(session, cursor, table, columns, rows, defaults=False) as (staging, _):
        assignments = ", ".join([*(f'"{name}" = s."{name}"' for name in columns[1:]),
                                 *(f'"{name}" = "{table.name}"."{name}" + 1' for name in increment)])
        cursor.execute(f'UPDATE "{table.name}" SET {assignments} FROM "{staging}" AS s'
                       f' WHERE "{table.name}"."{key}" = s."{key}"')


@contextlib.contextmanager
def _staged(session: Session, cursor, table: Table, columns: Sequence[str], rows: Sequence[Sequence],
            defaults: bool = True) -> Iterator[tuple[str, str]]:
    """The rows COPYed into a session-local table of `table`'s shape, emptied after use (a second
    call in the same transaction starts empty); its name and the columns written, as a list for SQL."""
    staging = f"staging_{table.name}"
    cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" ON COMMIT DELETE ROWS'
                   f' AS SELECT * FROM "{table.name}" WITH NO DATA')
    yield staging, _copy(session, cursor, table, staging, columns, rows, defaults)
    cursor.execute(f'TRUNCATE "{staging}"')


def _copy(session: Session, cursor, table: Table, target: str, columns: Sequence[str], rows: Sequence[Sequence],
          defaults: bool = True) -> str:
    """Binary COPY of rows of `table`'s `columns` into `target` (the table itself or a staging copy),
    with the other columns' Python-side defaults unless `defaults` is off; the columns written, as a
    list for SQL."""
    dialect = session.get_bind().dialect
    default_of = {column: column.default.arg if column.default.is_scalar else column.default.arg(None)
                  for column in table.columns
                  if defaults and column.name not in columns and column.default is not None}
    tail = [value if process is None else process(value)
            for column, value in default_of.items() for process in (column.type.bind_processor(dialect),)]
    processors = [(index, process) for index, name in enumerate(columns)
                  if (process := table.columns[name].type.bind_processor(dialect)) is not None]
    targets = [*(table.columns[name] for name in columns), *default_of]
    names = ", ".join(f'"{column.name}"' for column in targets)
    types = _pg_types(cursor, table.name, [column.name for column in targets])
    # Column by column: a comprehension per processed column costs less than indexing into every row.
    columns_of_rows = list(zip(*rows, strict=True)) or [() for _ in columns]
    for index, process in processors:
        columns_of_rows[index] = [None if value is None else process(value) for value in columns_of_rows[index]]
    tail_columns = [[value] * len(rows) for value in tail]
    # Binary: PostgreSQL parses no text (times, numbers), and psycopg formats in C.
    with cursor.copy(f'COPY "{target}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
        copy.set_types(types)
        for values in zip(*columns_of_rows, *tail_columns):
            copy.write_row(values)
    return names


def _pg_types(cursor, table: str, columns: Sequence[str]) -> list[int]:
    """The type oids of the table's columns as the database has them (SQLAlchemy's type names, e.g.
    FLOAT, are not all names psycopg knows); read once per database and table."""
    info = cursor.connection.info
    key = (info.host, info.port, info.dbname, table, tuple(columns))
    if key not in _PG_TYPES:
        cursor.execute("SELECT attname, atttypid FROM pg_attribute WHERE attrelid = CAST(%s AS regclass)"
                       " AND attnum > 0 AND NOT attisdropped", (f'"{table}"',))
        oids = dict(cursor.fetchall())
        _PG_TYPES[key] = [oids[name] for name in columns]
    return _PG_TYPES[key]


_PG_TYPES: dict[tuple, list[int]] = {}


class Database:
    """An engine and its session factory; `unit_of_work()` is the one transaction of an RPC."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_database_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """Commits when the block ends normally, rolls everything back otherwise."""
        session = self._sessions()
        try:
            with translate_database_errors():
                yield session
                session.commit()
        except BaseException:
            # On a lost connection the rollback fails too; the database has dropped the transaction
            # already, and the original error (UNAVAILABLE) is the one the caller must see.
            with contextlib.suppress(DBAPIError):
                session.rollback()
            raise
        finally:
            session.close()

    def migrate(self, migrations_dir: Path) -> None:
        """Upgrades to the newest revision; replicas starting together on PostgreSQL take turns."""
        if self.engine.dialect.name != "postgresql":
            command.upgrade(alembic_config(migrations_dir, self.url), "head")
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK_KEY})")
            try:
                command.upgrade(alembic_config(migrations_dir, self.url), "head")
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK_KEY})")
                connection.commit()

    def pool_in_use(self) -> int:
        """Connections checked out of the pool now (a USE gauge for SREs)."""
        return self.engine.pool.checkedout() if hasattr(self.engine.pool, "checkedout") else 0

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextlib.contextmanager
def driver_connection(session: Session) -> Iterator:
    """The driver's own connection, for what SQLAlchemy cannot say (COPY); the driver's errors come out
    wrapped as SQLAlchemy's, so a lost database is UNAVAILABLE here too."""
    connection = session.connection()
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        yield connection.connection.driver_connection
    except dbapi_error as error:
        lost = connection.dialect.is_disconnect(error, None, None)
        if lost:
            connection.invalidate(error)  # as SQLAlchemy does for its own statements: the pool drops it
        raise DBAPIError.instance(None, None, error, dbapi_error, connection_invalidated=lost) from error


@contextlib.contextmanager
def translate_database_errors() -> Iterator[None]:
    """A database that cannot be reached is UNAVAILABLE (retryable), not INTERNAL."""
    try:
        yield
    except OperationalError as error:
        if "deadlock detected" in str(error.orig) or "could not serialize" in str(error.orig):
            raise Unavailable("the request collided with a concurrent one; retry it", reason="CONCURRENT_UPDATE") from error
        if _is_connection_failure(error):
            log.warning("database unavailable: %s", error)
            raise Unavailable("the database is unavailable; retry later") from error
        raise
    except DBAPIError as error:
        if error.connection_invalidated:
            raise Unavailable("the database connection was lost; retry later") from error
        raise


# SQLSTATEs of a server that cannot serve now: connection exception (08...), insufficient resources
# (53...: too many connections, out of memory, disk full), shutting down, crashed or starting up (57P0x).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")


def _is_connection_failure(error: OperationalError) -> bool:
    # libpq reports a refused connection (down, or "too many clients already") with no SQLSTATE: the text tells.
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    text = str(error.orig).lower()
    return error.connection_invalidated or sqlstate.startswith(_UNAVAILABLE_SQLSTATES) or any(
        marker in text
        for marker in ("connection failed", "connection refused", "could not connect", "server closed",
                       "terminating connection", "connection is closed", "no connection", "database system is")
    )
