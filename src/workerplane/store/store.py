"""The store: one database, one module per resource. Thread-safe: every call opens its own
session."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update

from workerplane.security.crypto import DecryptionError, SecretBox
from workerplane.store import spec_codec
from workerplane.store.controller_io import ControllerIO
from workerplane.store.db import Database
from workerplane.store.deployments import DeploymentStore
from workerplane.store.endpoints import EndpointStore
from workerplane.store.leases import LeaseStore
from workerplane.store.models import DeploymentVersion
from workerplane.store.rollouts import RolloutStore
from workerplane.store.telemetry import TelemetryStore
from workerplane.store.tokens import AuditLog, TokenStore
from workerplane.store.versions import VersionStore
from workerplane.store.worker_reports import WorkerReportStore

#: How often :meth:`Store.reseal` retries a row that a concurrent write changed under it.
_RESEAL_ATTEMPTS = 5


@dataclass
class ResealReport:
    """What :meth:`Store.reseal` did: rows re-sealed, rows already sealed by the primary key, and
    the rows it could not open (version key, the reason naming the missing key id)."""

    resealed: int = 0
    current: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


class Store:
    """The resources over one database; ``box`` seals the secrets inside specs."""

    def __init__(self, db: Database, box: SecretBox, *, token_cache_s: float = 10.0) -> None:
        self.db = db
        #: Mints and verifies workers' report tokens (:mod:`workerplane.security.report_tokens`).
        self.box = box
        self.tokens = TokenStore(db, cache_s=token_cache_s)
        self.audit = AuditLog(db)
        self.deployments = DeploymentStore(db)
        self.versions = VersionStore(db, box)
        self.rollouts = RolloutStore(db)
        self.endpoints = EndpointStore(db, box, self.versions)
        self.controller = ControllerIO(db, box)
        self.leases = LeaseStore(db)
        self.telemetry = TelemetryStore(db)
        self.worker_reports = WorkerReportStore(db)

    def reseal(self) -> ResealReport:
        """Seal every stored spec's secrets with the primary key (key rotation).

        One transaction per row, written only if the row still holds the text it was read with
        (compare-and-swap), so it is safe while ``serve`` runs; a row changed meanwhile is read
        again. Only the ciphertexts change: not the generation, the conflict token or the status,
        so neither clients nor the controller see a change.
        """
        report = ResealReport()
        with self.db.read_session() as s:
            ids = list(s.scalars(select(DeploymentVersion.id).order_by(DeploymentVersion.id)))
        for version_id in ids:
            for _ in range(_RESEAL_ATTEMPTS):
                if self._reseal_row(version_id, report):
                    break
            else:
                report.failed.append((f"version #{version_id}", "changed by every attempt"))
        return report

    def _reseal_row(self, version_id: int, report: ResealReport) -> bool:
        """Re-seal one row; ``False`` when a concurrent write won (try again)."""
        with self.db.write_session() as s:
            row = s.get(DeploymentVersion, version_id)
            if row is None:
                return True  # deleted meanwhile
            try:
                sealed = spec_codec.reseal(self.box, row.spec_json)
            except DecryptionError as err:
                report.failed.append((row.key, str(err)))
                return True
            if sealed is None:
                report.current += 1
                return True
            swapped = s.execute(
                update(DeploymentVersion)
                .where(
                    DeploymentVersion.id == version_id,
                    DeploymentVersion.spec_json == row.spec_json,
                )
                .values(spec_json=sealed)
                .execution_options(synchronize_session=False)
            )
            if swapped.rowcount != 1:  # type: ignore[attr-defined]
                return False
            report.resealed += 1
            return True
