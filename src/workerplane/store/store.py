"""The store: one database, one module per resource. Thread-safe: every call opens its own
session."""

from __future__ import annotations

from workerplane.security.crypto import SecretBox
from workerplane.store.controller_io import ControllerIO
from workerplane.store.db import Database
from workerplane.store.deployments import DeploymentStore
from workerplane.store.endpoints import EndpointStore
from workerplane.store.leases import LeaseStore
from workerplane.store.tokens import AuditLog, TokenStore
from workerplane.store.versions import VersionStore


class Store:
    """The resources over one database; ``box`` seals the secrets inside specs."""

    def __init__(self, db: Database, box: SecretBox, *, token_cache_s: float = 10.0) -> None:
        self.db = db
        self.tokens = TokenStore(db, cache_s=token_cache_s)
        self.audit = AuditLog(db)
        self.deployments = DeploymentStore(db)
        self.versions = VersionStore(db, box)
        self.endpoints = EndpointStore(db, box, self.versions)
        self.controller = ControllerIO(db, box)
        self.leases = LeaseStore(db)
