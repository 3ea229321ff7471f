"""``workerplane tokens``: create (shown once), list and revoke API tokens, and read the audit
log, through the REST API (an ``admin`` token is needed)."""

from __future__ import annotations

import datetime
from typing import Any

import typer
from rich.table import Table

from workerplane.cli.api_client import request
from workerplane.cli.options import ProfileOpt, TokenOpt, UrlOpt
from workerplane.cli.output import OutputFormat, OutputOpt, show

tokens_app = typer.Typer(help="API tokens and the audit log (via the API).", no_args_is_help=True)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def token_table(items: list[dict[str, Any]]) -> Table:
    table = Table("ID", "NAME", "SCOPE", "CREATED", "EXPIRES", "LAST USED", "REVOKED")
    for t in items:
        table.add_row(
            str(t["id"]), t["name"], t["scope"], _when(t["created_at"]), _when(t["expires_at"]),
            _when(t["last_used_at"]), "yes" if t["revoked"] else "",
        )  # fmt: skip
    return table


@tokens_app.command("create")
def tokens_create(
    name: str = typer.Argument(..., help="What the token is for (shown in the audit log)."),
    scope: str = typer.Option("read", "--scope", help="admin (everything) or read (GET only)."),
    expires_in_s: int | None = typer.Option(
        None, "--expires-in", help="Seconds until it stops working (default: never)."
    ),
    url: str | None = UrlOpt,
    token: str | None = TokenOpt,
    profile: str | None = ProfileOpt,
    output: OutputFormat = OutputOpt,
) -> None:
    """Create a token. It is printed this once: the server keeps only its hash."""
    created = request(url, token, profile, lambda c: c.create_token(name, scope, expires_in_s))
    show(created, output, lambda t: f"token {t['id']} ({t['scope']}), shown once: {t['token']}")


@tokens_app.command("list")
def tokens_list(
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
    output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """List tokens (never the tokens themselves)."""
    result = request(url, token, profile, lambda c: c.list_tokens())
    show(result, output, lambda page: token_table(page["items"]))


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: int = typer.Argument(..., help="The token's ID (see `tokens list`)."),
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
) -> None:  # fmt: skip
    """Revoke a token: it stops working."""
    request(url, token, profile, lambda c: c.revoke_token(token_id))
    show(None, OutputFormat.TABLE, lambda _: f"token {token_id} revoked")


@tokens_app.command("audit")
def tokens_audit(
    limit: int = typer.Option(100, "--limit"), offset: int = typer.Option(0, "--offset"),
    url: str | None = UrlOpt, token: str | None = TokenOpt, profile: str | None = ProfileOpt,
    output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """The writes made through the API, newest first: who, what, when, and the outcome."""
    result = request(url, token, profile, lambda c: c.audit(limit, offset))

    def render(page: dict[str, Any]) -> Table:
        table = Table("WHEN", "TOKEN", "METHOD", "PATH", "STATUS")
        for e in page["items"]:
            who = f"{e['token_name']} ({e['token_id']})" if e["token_id"] else ""
            table.add_row(_when(e["at"]), who, e["method"], e["path"], str(e["status"]))
        return table

    show(result, output, render)
