from services.maintenance.store import Base
from services.runtime.migrations_env import run_migrations

run_migrations(Base.metadata)
