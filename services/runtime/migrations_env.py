"""The body of every service's Alembic `env.py`: online migrations against the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData

from services.runtime.db import create_database_engine


def run_migrations(target_metadata: MetaData) -> None:
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                          render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            # batch mode lets SQLite alter tables by copying them; PostgreSQL alters in place.
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=True, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
