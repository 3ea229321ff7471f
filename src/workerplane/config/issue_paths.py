"""Issues from pydantic's errors: field paths as a user writes them, rules in plain words.

pydantic reports ``loc`` tuples with union-member tags and messages that may quote the input.
:func:`issues_from_pydantic` turns them into :class:`ValidationIssue` values whose paths match
the spec (``compute.scaling_groups.gpu.provider.details.memory``) and whose rules never quote a
value, so a secret typed in the wrong place is not echoed back. Pure.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from workerplane.errors import ValidationIssue

_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def group_path(group_id: str) -> str:
    """The path of a scaling group, quoting IDs that are not plain words."""
    if _SIMPLE_KEY.match(group_id):
        return f"compute.scaling_groups.{group_id}"
    return f"compute.scaling_groups[{group_id!r}]"


def join_path(base: str, parts: Iterable[str | int]) -> str:
    """Append ``parts`` to ``base``: names with ``.``, list indices and odd keys in brackets."""
    out = base
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            out = f"{out}.{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _unwrap(annotation: Any) -> list[Any]:
    """The member types of an Optional/Union annotation (or the annotation itself)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def _walk(model: type[BaseModel] | None, loc: Sequence[str | int]) -> tuple[list[str | int], Any]:
    """Clean a pydantic ``loc`` (drop union-member tags) and find the type at its end."""
    parts: list[str | int] = []
    current: Any = model
    for item in loc:
        candidates = _unwrap(current) if current is not None else []
        models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if isinstance(item, str) and models:
            for m in models:
                if item in m.model_fields:
                    parts.append(item)
                    current = m.model_fields[item].annotation
                    break
            else:
                if any(item == m.__name__ for m in models):
                    current = next(m for m in models if m.__name__ == item)
                    continue
                # A tag such as "bool" for a union member, or an unknown (extra) key.
                if item in {getattr(c, "__name__", None) for c in candidates}:
                    continue
                parts.append(item)
                current = None
            continue
        parts.append(item)
        container = next(
            (c for c in candidates if typing.get_origin(c) in (dict, list, Mapping, Sequence)),
            None,
        )
        if container is not None:
            args = typing.get_args(container)
            current = args[-1] if args else None
        else:
            current = None
    return parts, current


def _allowed_keys(model: type[BaseModel] | None, parent: Sequence[str | int]) -> list[str]:
    if model is None:
        return []
    _, parent_type = _walk(model, parent) if parent else ([], model)
    for c in _unwrap(parent_type):
        if isinstance(c, type) and issubclass(c, BaseModel):
            return list(c.model_fields)
    return []


_TYPE_RULES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "missing": "is required",
    "finite_number": "must be a finite number",
    "none_required": "must be null",
}


#: Errors whose rule quotes one value of pydantic's context: type -> (rule, context key).
_CONTEXT_RULES = {
    "greater_than_equal": ("must be >= {}", "ge"),
    "greater_than": ("must be > {}", "gt"),
    "less_than_equal": ("must be <= {}", "le"),
    "less_than": ("must be < {}", "lt"),
    "literal_error": ("must be {}", "expected"),
    "enum": ("must be {}", "expected"),
    "too_short": ("must have at least {} item(s)", "min_length"),
}


def _rule(err: Mapping[str, Any], allowed: Sequence[str]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if kind in _TYPE_RULES:
        return _TYPE_RULES[kind]
    if kind in _CONTEXT_RULES:
        template, key = _CONTEXT_RULES[kind]
        return template.format(ctx[key])
    if kind == "string_too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else (f"must be at least {ctx['min_length']} characters")
        )
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    msg = str(err["msg"])
    return msg[:1].lower() + msg[1:] if msg[:1].isupper() and not msg[:2].isupper() else msg


def _implied_field(err: Mapping[str, Any], model: type[BaseModel] | None) -> list[str | int]:
    """The field a model-level error is about, when it says so.

    Model validators report at the model's root; the scaler models name the key in ``ctx``
    (unknown keys) or start their message with it (``ewma_alpha (2) must be ...``).
    """
    ctx = err.get("ctx") or {}
    key = ctx.get("key")
    if isinstance(key, str) and key:
        return [key]
    first = re.split(r"[\s(]", str(ctx.get("error") or err["msg"]), maxsplit=1)[0]
    if model is not None and first in model.model_fields:
        return [first]
    return []


def issues_from_pydantic(
    exc: ValidationError,
    base: str,
    *,
    group: str | None = None,
    model: type[BaseModel] | None = None,
    code: str = "invalid",
) -> list[ValidationIssue]:
    """Turn pydantic's errors into issues with field paths under ``base`` and plain rules.

    Union members that all fail at the same path are merged into one issue (``must be true or
    false, or must be a mapping``). Input values are never quoted.
    """
    merged: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        if not loc:
            loc = _implied_field(err, model)
        elif err["type"] == "unknown_key":  # in a nested details model (slo's ``prewarm``)
            loc = [*loc, str((err.get("ctx") or {})["key"])]
        parts, _ = _walk(model, loc)
        allowed = _allowed_keys(model, loc[:-1]) if err["type"] == "extra_forbidden" else []
        path = join_path(base, parts)
        rule = _rule(err, allowed)
        rules = merged.setdefault(path, [])
        if rule not in rules:
            rules.append(rule)
    issues = []
    for path, rules in merged.items():
        issue_group = group if group is not None else _group_of(path)
        issues.append(ValidationIssue(path, ", or ".join(rules), issue_group, code))
    return issues


def _group_of(path: str) -> str | None:
    prefix = "compute.scaling_groups."
    if path.startswith(prefix):
        return re.split(r"[.\[]", path[len(prefix) :], maxsplit=1)[0]
    match = re.match(r"compute\.scaling_groups\[(['\"])(.*?)\1\]", path)
    return match.group(2) if match else None
