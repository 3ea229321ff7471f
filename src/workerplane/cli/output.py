"""How CLI commands print, as kubectl users expect: ``-o table`` (the default), ``-o wide`` (more
columns), ``-o json`` and ``-o yaml`` (the API's objects as they are, for scripts), and tables at
their full width when the output is a pipe or a file (never cut to 80 columns).
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable
from typing import Any

import typer
import yaml
from rich.console import Console, ConsoleDimensions, RenderableType

#: Columns a table may take when stdout is not a terminal: in effect, no limit.
PIPED_WIDTH = 100_000


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"

    @property
    def structured(self) -> bool:
        """Whether this prints data for a program (JSON, YAML) rather than for a person."""
        return self in (OutputFormat.JSON, OutputFormat.YAML)


OutputOpt = typer.Option(
    OutputFormat.TABLE, "--output", "-o", help="table, wide (more columns), json or yaml."
)


class OutputConsole(Console):
    """A rich console as wide as its terminal, and unbounded when it writes to a pipe or a file:
    a table piped to ``grep`` or ``less`` keeps every column whole. (Rich would use the width
    of whatever terminal stdin or stderr is, else 80.)"""

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(PIPED_WIDTH, dimensions.height)
        return dimensions

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = OutputConsole()
err_console = Console(stderr=True)


def dump(result: Any, output: OutputFormat) -> None:
    """Print ``result`` as JSON or YAML."""
    if output is OutputFormat.YAML:
        sys.stdout.write(yaml.safe_dump(result, sort_keys=True, allow_unicode=True))
    else:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")


def show(
    result: Any,
    output: OutputFormat,
    render: Callable[[Any], RenderableType],
    wide: Callable[[Any], RenderableType] | None = None,
) -> None:
    """Print ``result`` as JSON or YAML, or as ``render`` draws it (``wide`` for ``-o wide``,
    when the command has more columns to show)."""
    if output.structured:
        dump(result, output)
        return
    draw = wide if output is OutputFormat.WIDE and wide is not None else render
    rendered = draw(result)
    if isinstance(rendered, str):
        console.print(rendered, markup=False, highlight=False)
    else:
        console.print(rendered)
