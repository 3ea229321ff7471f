"""Read and write ``deploy.yaml``.

:func:`load_spec` turns a YAML file into a validated :class:`DeploymentSpec` or raises
:class:`SpecError`, which carries the file name and every issue found: YAML syntax errors (with
line and column), structural errors (wrong or unknown fields) and semantic issues (Temporal's rules
and the typed details checks of :mod:`workerplane.config.validation`). :func:`format_issue` renders
one issue as one line::

    deploy.yaml: compute.scaling_groups.wf.scaler.details.max_count: must be >= 1 (entry wf, line 9)

Conveniences on top of the model: ``task_queue: x`` is shorthand for ``task_queues: [x]``, and task
queue types may be written as ``workflow``, ``Workflow`` or ``TASK_QUEUE_TYPE_WORKFLOW`` (they are
stored as ``WORKFLOW``). Duplicate keys in a mapping are an error (YAML would silently keep the last
one, e.g. merge two scaling groups of the same ID). Dates are not converted, so details stay JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from workerplane.config.cluster_policy import cluster_policy_issues
from workerplane.config.issue_paths import issues_from_pydantic, join_path
from workerplane.config.model import DeploymentSpec
from workerplane.config.secrets import public_spec, reveal_spec
from workerplane.config.validation import normalize_task_queue_type, validate_spec, with_line
from workerplane.errors import ValidationIssue
from workerplane.providers.kubernetes.details import ClusterPolicy


class SpecError(Exception):
    """A deployment spec that cannot be used.

    Attributes:
        file: the file name as the user gave it (or ``<string>``).
        issues: every problem found, each naming its field and rule.
    """

    def __init__(self, file: str, issues: Sequence[ValidationIssue]) -> None:
        self.file = file
        self.issues = list(issues)
        super().__init__("\n".join(format_issue(issue, file) for issue in self.issues))


def format_issue(issue: ValidationIssue, file: str | None = None) -> str:
    """One line naming the file, the field, the rule and (in parentheses) the group and line."""
    where = []
    if issue.group is not None:
        where.append(f"entry {issue.group}")
    if issue.line is not None:
        where.append(f"line {issue.line}")
    suffix = f" ({', '.join(where)})" if where else ""
    body = f"{issue.path}: {issue.rule}" if issue.path else issue.rule
    return f"{file}: {body}{suffix}" if file else f"{body}{suffix}"


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------


class _DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: str, line: int, path: str) -> None:
        super().__init__(f"duplicate key '{key}'")
        self.key = key
        self.line = line
        self.path = path


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and leaves timestamps as strings."""


# Dates would not survive the trip to JSON details; keep them as the strings the user wrote.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise _DuplicateKeyError(str(key), key_node.start_mark.line + 1, "")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_index(
    node: yaml.Node | None, path: str = "", index: dict[str, int] | None = None
) -> dict[str, int]:
    """Map every field path in the document to the 1-based line where it is written."""
    index = {} if index is None else index
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = join_path(path, [str(key_node.value)])
            index.setdefault(child, key_node.start_mark.line + 1)
            _line_index(value_node, child, index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = join_path(path, [i])
            index.setdefault(child, item.start_mark.line + 1)
            _line_index(item, child, index)
    return index


def _find_duplicate(node: yaml.Node | None, path: str = "") -> tuple[str, str, int] | None:
    """The first key written twice in one mapping: ``(path, key, line)``."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = join_path(path, [key])
            if key in seen:
                return child, key, key_node.start_mark.line + 1
            seen.add(key)
            found = _find_duplicate(value_node, child)
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _find_duplicate(item, join_path(path, [i]))
            if found is not None:
                return found
    return None


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def _line_for(path: str, index: Mapping[str, int]) -> int | None:
    if path.startswith("task_queues") and "task_queue" in index and "task_queues" not in index:
        return index["task_queue"]
    while path:
        if path in index:
            return index[path]
        path = _parent(path)
    return None


def _yaml_error(exc: yaml.YAMLError) -> ValidationIssue:
    if isinstance(exc, _DuplicateKeyError):
        return ValidationIssue("", f"duplicate key '{exc.key}'", None, "yaml", exc.line)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    line = mark.line + 1 if mark is not None else None
    column = f", column {mark.column + 1}" if mark is not None else ""
    return ValidationIssue("", f"YAML syntax error: {problem}{column}", None, "yaml", line)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def _normalize(data: dict[str, Any]) -> tuple[dict[str, Any], list[ValidationIssue]]:
    """Apply the YAML conveniences (``task_queue`` shorthand, task-queue type spellings)."""
    issues: list[ValidationIssue] = []
    data = dict(data)
    if "task_queue" in data:
        if "task_queues" in data:
            issues.append(
                ValidationIssue(
                    "task_queue", "use either task_queue or task_queues, not both", None, "spec"
                )
            )
        else:
            queue = data.pop("task_queue")
            data["task_queues"] = [queue] if isinstance(queue, str) else queue
    compute = data.get("compute")
    if isinstance(compute, dict) and isinstance(compute.get("scaling_groups"), dict):
        groups = {}
        for key, group in compute["scaling_groups"].items():
            if isinstance(group, dict) and isinstance(group.get("task_queue_types"), list):
                group = dict(group)
                group["task_queue_types"] = [
                    (normalize_task_queue_type(t) or t) if isinstance(t, str) else t
                    for t in group["task_queue_types"]
                ]
            # YAML allows non-string keys (e.g. ``1:``); group IDs are strings.
            groups[str(key) if key is not None else ""] = group
        data["compute"] = {**compute, "scaling_groups": groups}
    return data, issues


def parse_spec(
    data: Any,
    file: str = "<string>",
    *,
    lines: Mapping[str, int] | None = None,
    policy: ClusterPolicy | None = None,
) -> DeploymentSpec:
    """Validate already-parsed YAML/JSON data into a spec.

    ``policy``: also check the ``k8s`` groups against the cluster policy (allowed namespaces,
    per-pod limits), which the caller read from where the operator keeps it.

    Raises:
        SpecError: structural or semantic issues.
    """
    index = lines or {}

    def located(issues: Sequence[ValidationIssue]) -> list[ValidationIssue]:
        return [with_line(i, _line_for(i.path, index)) for i in issues]

    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError(
            file,
            [
                ValidationIssue(
                    "", f"a deployment spec must be a mapping, not {found}", None, "spec", 1
                )
            ],
        )
    normalized, issues = _normalize(data)
    if issues:
        raise SpecError(file, located(issues))
    try:
        spec = DeploymentSpec.model_validate(normalized)
    except ValidationError as exc:
        raise SpecError(
            file, located(issues_from_pydantic(exc, "", model=DeploymentSpec, code="structure"))
        ) from None
    semantic = validate_spec(spec)
    if policy is not None:
        semantic += cluster_policy_issues(spec, policy)
    if semantic:
        raise SpecError(file, located(semantic))
    return spec


def load_spec_text(
    text: str, file: str = "<string>", *, policy: ClusterPolicy | None = None
) -> DeploymentSpec:
    """Parse and validate a spec from YAML text (``policy``: see :func:`parse_spec`).

    Raises:
        SpecError: YAML, structural or semantic issues.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        duplicate = _find_duplicate(node)
        if duplicate is not None:
            path, key, line = duplicate
            issue = ValidationIssue(path, f"duplicate key '{key}'", None, "yaml", line)
            raise SpecError(file, [issue])
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        raise SpecError(file, [_yaml_error(exc)]) from None
    return parse_spec(data, file, lines=_line_index(node), policy=policy)


def load_spec(path: str | Path, *, policy: ClusterPolicy | None = None) -> DeploymentSpec:
    """Read, parse and validate ``deploy.yaml`` (``policy``: see :func:`parse_spec`).

    Raises:
        SpecError: the file cannot be read, or has YAML, structural or semantic issues.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError(
            file, [ValidationIssue("", f"cannot read file: {reason}", None, "io")]
        ) from None
    return load_spec_text(text, file, policy=policy)


# --------------------------------------------------------------------------------------------
# dumping
# --------------------------------------------------------------------------------------------


def dump_spec(spec: DeploymentSpec, *, reveal_secrets: bool = False) -> str:
    """The spec as YAML (fields at their defaults left out).

    Secrets (API key, inline TLS data, secret provider details) are written as ``REDACTED``
    unless ``reveal_secrets``; only a dump with secrets revealed loads back to an equal spec.
    """
    dump = reveal_spec if reveal_secrets else public_spec
    data = dump(spec, exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
