"""``workerplane export ...``: a typer sub-app the main CLI mounts as ``export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workerplane.config.loader import SpecError, load_spec
from workerplane.export.keda import ExportError, KedaOptions, dump_yaml, export_keda

app = typer.Typer(help="Export a deployment to other autoscalers.", no_args_is_help=True)


@app.callback()
def _export() -> None:
    """Export a deployment to other autoscalers."""


@app.command()
def keda(
    file: Annotated[Path, typer.Option("-f", "--file", help="The deployment spec (deploy.yaml).")],
    group: Annotated[str | None, typer.Option(help="Only this scaling group.")] = None,
    credentials_secret: Annotated[
        str | None, typer.Option(help="Secret with Temporal credentials for KEDA.")
    ] = None,
    api_key_key: Annotated[
        str, typer.Option(help="Key of the API key in that Secret.")
    ] = "api-key",
    cert_key: Annotated[str | None, typer.Option(help="Key of the client certificate.")] = None,
    key_key: Annotated[str | None, typer.Option(help="Key of the client key.")] = None,
    ca_key: Annotated[str | None, typer.Option(help="Key of the server CA certificate.")] = None,
    target_queue_size: Annotated[
        int | None, typer.Option(min=1, help="Override targetQueueSize (tasks per replica).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here, not stdout.")
    ] = None,
) -> None:
    """Emit KEDA ScaledObjects (trigger type 'temporal') for the spec's k8s groups.

    The output is validated against KEDA's CRD schema. Apply it with `kubectl apply -f -`.
    """
    try:
        spec = load_spec(file)
        objects = export_keda(
            spec,
            KedaOptions(
                group=group,
                credentials_secret=credentials_secret,
                api_key_key=api_key_key,
                cert_key=cert_key,
                key_key=key_key,
                ca_key=ca_key,
                target_queue_size=target_queue_size,
            ),
        )
    except SpecError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except ExportError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(2) from None
    text = dump_yaml(objects)
    if output is not None:
        output.write_text(text)
        typer.echo(f"wrote {len(objects)} object(s) to {output}", err=True)
    else:
        typer.echo(text, nl=False)
