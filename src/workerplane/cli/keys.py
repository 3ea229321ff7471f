"""``workerplane keys``: the encryption keys that seal the secrets in the store.

Rotation, as an operator runs it:

1. ``workerplane keys generate``: a new key (and its id).
2. Restart every ``serve`` with the new key as ``WORKERPLANE_ENCRYPTION_KEY`` and the old one in
   ``WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS``: everything reads, new writes use the new key.
3. ``workerplane keys rotate`` (same keys, same database): re-seals every stored spec with the
   new key, one compare-and-swap transaction per row, safe while ``serve`` runs.
4. Drop the old key from ``WORKERPLANE_ENCRYPTION_PREVIOUS_KEYS`` and restart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from workerplane.cli.output import OutputFormat, OutputOpt, console, dump, err_console
from workerplane.security.crypto import (
    EncryptionKeyError,
    SecretBox,
    generate_key,
    load_secret_box,
)

keys_app = typer.Typer(
    help="Encryption keys of the stored secrets: generate, show, rotate.", no_args_is_help=True
)

StateDirOpt = typer.Option(
    Path(".workerplane"), "--state-dir", help="serve's state dir (its local key and SQLite)."
)


def _box(state_dir: Path) -> SecretBox:
    """The keys ``serve`` would use: the same variables, files and local fallback."""
    try:
        return load_secret_box(state_dir=state_dir)
    except (EncryptionKeyError, OSError) as err:
        err_console.print(f"error: {err}", markup=False)
        raise typer.Exit(2) from None


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new random key (base64) for WORKERPLANE_ENCRYPTION_KEY."""
    sys.stdout.write(generate_key() + "\n")


@keys_app.command("show")
def keys_show(state_dir: Path = StateDirOpt, output: OutputFormat = OutputOpt) -> None:
    """The ids of the configured keys (never the keys): the primary, then the previous ones."""
    box = _box(state_dir)
    shown = {"primary": box.primary_key_id, "previous": list(box.key_ids[1:])}
    if output.structured:
        dump(shown, output)
        return
    console.print(f"primary:  {shown['primary']}", markup=False)
    for previous in shown["previous"]:
        console.print(f"previous: {previous}", markup=False)


@keys_app.command("rotate")
def keys_rotate(
    db: str | None = typer.Option(
        None, "--database-url", "--db",
        help="Database URL (default: as serve: the file, WORKERPLANE_DATABASE_URL, else SQLite"
        " in the state dir).",
    ),
    db_file: Path | None = typer.Option(
        None, "--database-url-file", help="Read the database URL from this file."
    ),
    state_dir: Path = StateDirOpt,
    output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """Re-seal every stored secret with the primary key; then the previous keys can go.

    Exits 1, naming each row and the key id it needs, when some rows need a key not configured.
    """
    # The API server module (uvicorn, temporalio) is heavy: imported when a rotation runs.
    from workerplane.api.server import ServeConfig, resolve_database_url
    from workerplane.store.db import Database
    from workerplane.store.store import Store

    box = _box(state_dir)
    config = ServeConfig(state_dir=state_dir, database_url=db, database_url_file=db_file)
    database = Database(resolve_database_url(config))
    try:
        database.migrate()
        report = Store(database, box).reseal()
    finally:
        database.dispose()
    if output.structured:
        failed = [{"version": key, "error": reason} for key, reason in report.failed]
        summary = {
            "primary_key_id": box.primary_key_id,
            "resealed": report.resealed,
            "current": report.current,
            "failed": failed,
        }
        dump(summary, output)
    else:
        console.print(
            f"re-sealed {report.resealed} specs with key {box.primary_key_id}"
            f" ({report.current} already were)",
            markup=False,
        )
        for key, reason in report.failed:
            err_console.print(f"error: version {key}: {reason}", markup=False)
    if report.failed:
        raise typer.Exit(1)
