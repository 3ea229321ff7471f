"""The control-plane store: SQLAlchemy 2 models, Alembic migrations, the repository, and the
store-backed spec source / status sink the controller runs on under ``workerplane serve``."""
