"""The errors every layer shares: one shape for "this field breaks this rule".

:class:`ValidationIssue` is what ``workerplane validate`` prints and what the API returns in a 422;
:class:`Invalid` carries a list of them. :class:`NotFound` and :class:`Conflict` are the other two
outcomes a request can have besides success. The API maps them to 404, 409 and 422; the CLI prints
them. Nothing here imports anything of workerplane's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ValidationIssue:
    """One broken rule.

    Attributes:
        path: the field, as a dotted path from the spec root
            (``compute.scaling_groups.wf.scaler.details.max_count``).
        rule: what is wrong, in plain English (Temporal's exact text for the shared rules).
        group: the scaling group ID the issue belongs to, if any.
        code: a stable identifier of the rule, for programs and tests.
        line: the line in the source file, when the spec came from a file and it is known.
    """

    path: str
    rule: str
    group: str | None = None
    code: str = "invalid"
    line: int | None = None

    @property
    def message(self) -> str:
        """Temporal's form: ``entry <group>: <rule>``, or just the rule outside any group."""
        return f"entry {self.group}: {self.rule}" if self.group is not None else self.rule

    def __str__(self) -> str:
        where = f" (entry {self.group})" if self.group is not None else ""
        return f"{self.path}: {self.rule}{where}"


class WorkerplaneError(Exception):
    """Base of the errors a request can end with (other than success)."""


class NotFound(WorkerplaneError):
    """The named resource does not exist."""


class Conflict(WorkerplaneError):
    """The request is valid but cannot apply to the current state (a name taken, a stale
    conflict token, a change Temporal's server refused)."""


class Invalid(WorkerplaneError):
    """Input that breaks one or more rules."""

    def __init__(self, issues: Iterable[ValidationIssue]) -> None:
        self.issues = list(issues)
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in self.issues))

    @classmethod
    def field(cls, path: str, rule: str, code: str = "invalid") -> Invalid:
        """A single issue on one field."""
        return cls([ValidationIssue(path=path, rule=rule, code=code)])
