"""The control-plane store: SQLAlchemy 2 models and Alembic migrations over one database, one
module per resource (tokens, deployments, versions, endpoints, the controller's I/O, leases),
composed by :class:`workerplane.store.store.Store`."""
