"""The input limits every request body enforces, published in the OpenAPI document.

:class:`workerplane.api.schemas.RequestModel` refuses, anywhere in a body, strings (values and
keys) holding NUL characters (no database column stores them) and numbers beyond ±2**53 (past
which JSON clients lose precision).
Typed fields say so with their own patterns and bounds; this module adds the same limits to
every schema a request can reach: a NUL-free ``pattern`` on strings that have none, a NUL-free
``propertyNames`` on objects, and free-form objects (provider and scaler ``details``) typed as
:data:`JSON_VALUE`, so that a client generating bodies from the document (a fuzzer, a typed
client) gets what the server accepts. Rules JSON Schema cannot state (``min_workers`` <=
``max_workers``, a provider's own ``details`` model) still answer 400 with field-level details.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI

#: A string without NUL characters.
NUL_FREE = "^[^\\x00]*$"
#: The largest number a body may hold (JavaScript's safe integers).
MAX_NUMBER = 2**53
_JSON_VALUE_NAME = "JsonValue"
_JSON_VALUE_REF = {"$ref": f"#/components/schemas/{_JSON_VALUE_NAME}"}
#: Any JSON value within those limits (free-form ``details``).
JSON_VALUE: dict[str, Any] = {
    "title": _JSON_VALUE_NAME,
    "type": ["string", "number", "boolean", "null", "array", "object"],
    "pattern": NUL_FREE,
    "minimum": -MAX_NUMBER,
    "maximum": MAX_NUMBER,
    "items": _JSON_VALUE_REF,
    "additionalProperties": _JSON_VALUE_REF,
    "propertyNames": {"pattern": NUL_FREE},
}


def _request_schemas(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The schemas of every request body and parameter."""
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    yield parameter["schema"]
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if "schema" in media:
                    yield media["schema"]


def _limit(node: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Add the limits to ``node`` and every schema it reaches (components once each)."""
    if isinstance(node, list):
        for item in node:
            _limit(item, components, seen)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen and name in components:
            seen.add(name)
            _limit(components[name], components, seen)
    if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(node):
        node["pattern"] = NUL_FREE
    if node.get("type") in ("integer", "number"):
        if not {"minimum", "exclusiveMinimum"} & set(node):
            node["minimum"] = -MAX_NUMBER
        if not {"maximum", "exclusiveMaximum"} & set(node):
            node["maximum"] = MAX_NUMBER
    if node.get("type") == "object":
        names = node.setdefault("propertyNames", {})
        if isinstance(names, dict) and "pattern" not in names:
            names["pattern"] = NUL_FREE
        if node.get("additionalProperties") is True:
            node["additionalProperties"] = dict(_JSON_VALUE_REF)
    for key, value in node.items():
        # ``not`` inverts: a limit added inside it would widen what the schema accepts.
        if key not in ("not", "enum", "const", "default", "examples", "example"):
            _limit(value, components, seen)


def publish_input_limits(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document state the limits of :mod:`.schemas` on every input."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = generate()
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        components[_JSON_VALUE_NAME] = JSON_VALUE
        seen: set[str] = {_JSON_VALUE_NAME}
        for schema in _request_schemas(doc):
            _limit(schema, components, seen)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
