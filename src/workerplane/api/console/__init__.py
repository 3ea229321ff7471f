"""The web console at ``/ui``: a static single-page app that calls the ``/v1`` API.

The files in this folder ship in the package (pyproject's package-data), so the page loads with
nothing from the internet. They carry no data: everything the page shows comes from ``/v1`` with
the bearer token the user pasted, so the same tokens and scopes protect the console as the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

#: Where the console is served.
CONSOLE_PATH = "/ui"

ASSETS_DIR = Path(__file__).parent

#: Only this server's own scripts, styles and API; no framing (the page holds a token).
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _ConsoleFiles(StaticFiles):
    """The console's files with the security headers above; Python sources are not served."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path.endswith((".py", ".pyc")) or "__pycache__" in path:
            return Response(status_code=404)
        response = await super().get_response(path, scope)
        response.headers.update(_SECURITY_HEADERS)
        return response


def install_console(app: FastAPI) -> None:
    """Serve the console at ``/ui/`` (``/ui`` redirects there, so relative asset URLs resolve)."""

    @app.get(CONSOLE_PATH, include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE_PATH}/")

    app.mount(CONSOLE_PATH, _ConsoleFiles(directory=ASSETS_DIR, html=True), name="console")
