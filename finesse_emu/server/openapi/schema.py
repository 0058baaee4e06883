"""The few OpenAPI 3.0 schema shapes the description is made of, with their XML objects (root
names, wrapped lists) so that a generator writes XML-shaped documents."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def text(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def integer(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", **extra}
    if description:
        schema["description"] = description
    return schema


def boolean() -> Schema:
    return {"type": "boolean"}


def closed(schema: Schema) -> Schema:
    """A request object: the parser ignores unknown elements, but a client has no reason to send one."""
    return {**schema, "additionalProperties": False}


def obj(name: str | None, properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if name is not None:
        schema["xml"] = {"name": name}
    if required:
        schema["required"] = list(required)
    return schema


def array(item: Schema, item_name: str, wrapper: str | None = None) -> Schema:
    """A repeated element ``item_name``, inside ``<wrapper>`` when given (else directly in the parent)."""
    xml: Schema = {"name": wrapper, "wrapped": True} if wrapper else {"name": item_name}
    return {"type": "array", "items": {**item, "xml": {"name": item_name}}, "xml": xml}
