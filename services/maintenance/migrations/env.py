import services.maintenance.store_ingest  # noqa: F401  (every store module registers its tables)
import services.maintenance.store_orders  # noqa: F401
import services.maintenance.store_schedules  # noqa: F401
from services.maintenance.store import Base
from services.runtime.migrations_env import run_migrations

run_migrations(Base.metadata)
