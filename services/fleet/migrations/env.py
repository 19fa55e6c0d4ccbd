from services.fleet import store_plans  # noqa: F401 - registers the plan tables on Base
from services.fleet.store import Base
from services.runtime.migrations_env import run_migrations

run_migrations(Base.metadata)
