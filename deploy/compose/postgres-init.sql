-- Each service owns its tables and its Alembic history, so each gets its own database.
CREATE DATABASE fleet;
CREATE DATABASE maintenance;
CREATE DATABASE invoicing;
