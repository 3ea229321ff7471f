"""How a CLI command talks to the REST API: open a client, make a call, show the answer.

Every client command takes ``--url``/``WORKERPLANE_URL``, ``--token``/``WORKERPLANE_TOKEN`` or a
config profile, and prints a table, or JSON with ``--output json``. API errors become one line per
problem on stderr and exit code 1; an unreachable API exits 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console, RenderableType

from workerplane.client.http import ApiError, WorkerplaneClient

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def open_client(url: str | None, token: str | None, profile: str | None) -> WorkerplaneClient:
    """A client for the API the options (or the environment, or the profile) name."""
    try:
        return WorkerplaneClient.from_env(url, token, profile)
    except FileNotFoundError as err:
        err_console.print(f"error: {err}", markup=False)
        raise typer.Exit(2) from None


def report(err: ApiError) -> NoReturn:
    """Print the API's refusal with each of its details, then exit 1."""
    err_console.print(f"error ({err.status} {err.code}): {err.message}", markup=False)
    for detail in err.details:
        err_console.print(f"  {detail.get('field')}: {detail.get('message')}", markup=False)
    raise typer.Exit(1)


def guarded(call: Callable[[WorkerplaneClient], T], client: WorkerplaneClient) -> T:
    """``call(client)``, with API errors reported and an unreachable API an exit 2."""
    try:
        return call(client)
    except ApiError as err:
        report(err)
    except OSError as err:
        err_console.print(f"error: cannot reach the API: {err}", markup=False)
        raise typer.Exit(2) from None


def request(
    url: str | None, token: str | None, profile: str | None, call: Callable[[WorkerplaneClient], T]
) -> T:
    """Open a client from the options and make one call with it."""
    with open_client(url, token, profile) as client:
        return guarded(call, client)


def show(result: Any, output: str, render: Callable[[Any], RenderableType]) -> None:
    """Print ``result`` as JSON (``--output json``) or as ``render`` draws it."""
    if output == "json":
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
        return
    rendered = render(result)
    if isinstance(rendered, str):
        console.print(rendered, markup=False)
    else:
        console.print(rendered)


def parse_kv(items: list[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a mapping; exit 2 naming the option on a malformed one."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            err_console.print(f"error: {what} must be KEY=VALUE, got {item!r}", markup=False)
            raise typer.Exit(2)
        result[key] = value
    return result
