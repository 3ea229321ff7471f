"""How a CLI command talks to the REST API: open a client, make a call, report what went wrong.

Every client command takes ``--url``/``WORKERPLANE_URL``, ``--token``/``WORKERPLANE_TOKEN`` or a
config profile. What can go wrong is said in one line on stderr, with where the URL or the token
came from when that is the likely cause: an unreachable API exits 2; a refusal (401, 403, 404,
409, ...) exits 1, a 400 followed by one line per invalid field. Never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn, TypeVar

import httpx
import typer

from workerplane.cli.output import err_console
from workerplane.client.http import (
    ApiError,
    ClientConfig,
    WorkerplaneClient,
    config_path,
    resolve_client_config,
)

T = TypeVar("T")


class Connection:
    """The API a command talks to, and where its URL and token came from (for the hints)."""

    def __init__(self, url: str | None, token: str | None, profile: str | None) -> None:
        try:
            self.config: ClientConfig = resolve_client_config(url, token, profile)
        except (OSError, ValueError) as err:  # no such profile file, or a malformed one
            fail(f"error: {err}", code=2)
        profile_name = profile or os.environ.get("WORKERPLANE_PROFILE") or "default"
        in_profile = f"profile '{profile_name}' in {config_path()}"
        self.url_origin = (
            _origin(url, "--url", "WORKERPLANE_URL", in_profile if config_path().exists() else None)
            or "the default"
        )
        self.token_origin = _origin(
            token, "--token", "WORKERPLANE_TOKEN", in_profile if self.config.token else None
        )

    def client(self) -> WorkerplaneClient:
        return WorkerplaneClient(self.config.url, self.config.token)

    def unreachable(self, err: Exception) -> NoReturn:
        """The API did not answer: say which URL was tried and where it came from; exit 2."""
        reason = str(err) or type(err).__name__
        fail(
            f"error: cannot reach the workerplane API at {self.config.url} ({reason}); "
            f"the URL comes from {self.url_origin}: set --url, WORKERPLANE_URL or a profile "
            f"in {config_path()}, and check that `workerplane serve` runs there",
            code=2,
        )

    def refused(self, err: ApiError) -> NoReturn:
        """The API said no: one line (a 400 also lists its fields); exit 1."""
        line = f"error ({err.status} {err.code}): {err.message}"
        if err.status == 401:
            where = self.token_origin and f"the token comes from {self.token_origin}"
            line += (
                f"; {where or 'no token is set'}: pass --token, set WORKERPLANE_TOKEN or a "
                f"profile's token in {config_path()} (serve prints a token at its first start; "
                "`workerplane tokens create` makes more)"
            )
        elif err.status == 403:
            line += (
                f"; the token from {self.token_origin} lacks the scope: this needs an admin token"
            )
        elif err.status == 404:
            line += f" (at {self.config.url}, from {self.url_origin})"
        fail(line, code=1, details=[f"  {d.get('field')}: {d.get('message')}" for d in err.details])

    def call(self, call: Callable[[WorkerplaneClient], T], client: WorkerplaneClient) -> T:
        """``call(client)``, with every failure reported as one line and an exit."""
        try:
            return call(client)
        except ApiError as err:
            self.refused(err)
        except (httpx.HTTPError, OSError) as err:
            self.unreachable(err)


def _origin(given: str | None, option: str, variable: str, profile: str | None) -> str | None:
    """Where a setting came from, in the order :func:`resolve_client_config` looks."""
    if given:
        return option
    if os.environ.get(variable):
        return variable
    return profile


def fail(line: str, *, code: int, details: list[str] | None = None) -> NoReturn:
    """Print ``line`` (and ``details``, one a line) on stderr and exit with ``code``."""
    err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    for detail in details or ():
        err_console.print(detail, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def request(
    url: str | None, token: str | None, profile: str | None, call: Callable[[WorkerplaneClient], T]
) -> T:
    """Open a client from the options and make one call with it."""
    connection = Connection(url, token, profile)
    with connection.client() as client:
        return connection.call(call, client)


def parse_kv(items: list[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a mapping; exit 2 naming the option on a malformed one."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"error: {what} must be KEY=VALUE, got {item!r}", code=2)
        result[key] = value
    return result
