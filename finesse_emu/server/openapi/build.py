"""The OpenAPI document built from the aiohttp router, and the two drift checks against it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from finesse_emu.server.openapi.documents import document_schemas
from finesse_emu.server.openapi.operations import (
    DESCRIPTIONS,
    OPERATIONS,
    PATH_PARAMETERS,
    XML,
)
from finesse_emu.server.openapi.request_bodies import request_schemas
from finesse_emu.server.openapi.schema import Schema, ref
from finesse_emu.server.xml.common import API

SECURITY_SCHEME = "basicAuth"
# Single sign-on (auth_mode SSO or HYBRID, docs/finesse.md): the Identity Service's access token.
BEARER_SCHEME = "bearerAuth"
# Generated from a route's canonical path: /finesse/api/User/{user} -> ["user"].
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")

_REQUEST_ID: Schema = {
    "name": "requestId",
    "in": "header",
    "required": False,
    "description": "Opaque; echoed in the requestId response header (and, for PUT, in the resulting Update).",
    "schema": {"type": "string"},
}


def _routes(router: web.UrlDispatcher) -> list[tuple[str, str, str]]:
    """``(method, canonical path, handler name)`` of every route but aiohttp's implicit HEADs."""
    out = []
    for route in router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        handler = getattr(route.handler, "__name__", type(route.handler).__name__)
        out.append((route.method, route.resource.canonical, handler))
    return out


def undocumented_routes(router: web.UrlDispatcher) -> list[tuple[str, str]]:
    """Routes of the app that :data:`OPERATIONS` does not describe."""
    return [(m, p) for m, p, _ in _routes(router) if (m, p) not in OPERATIONS]


def stale_operations(router: web.UrlDispatcher) -> list[tuple[str, str]]:
    """Entries of :data:`OPERATIONS` whose route the app does not have (any more)."""
    present = {(m, p) for m, p, _ in _routes(router)}
    return [key for key in OPERATIONS if key not in present]


def _error_response(status: int) -> Schema:
    return {
        "description": DESCRIPTIONS[status],
        "headers": {"requestId": {"$ref": "#/components/headers/requestId"}},
        "content": {XML: {"schema": ref("ApiErrors")}},
    }


def _operation(method: str, path: str, handler: str, open_paths: frozenset[str]) -> Schema:
    spec = OPERATIONS.get((method, path))
    guarded = path.startswith(API) and path not in open_paths
    parameters: list[Schema] = []
    for name in _PATH_PARAM.findall(path):
        schema, description = PATH_PARAMETERS.get(name, ({"type": "string"}, ""))
        parameters.append(
            {"name": name, "in": "path", "required": True, "description": description, "schema": schema}
        )
    parameters.extend(spec.query if spec else ())
    parameters.append({"$ref": "#/components/parameters/requestId"})
    statuses = set(spec.statuses if spec else ())
    if guarded:
        statuses |= {401, 503} if spec is None or spec.gated else {401}
    responses: dict[str, Schema] = {}
    for status in sorted(statuses):
        if status >= 400:
            responses[str(status)] = _error_response(status)
            continue
        ok: Schema = {
            "description": DESCRIPTIONS[status],
            "headers": {"requestId": {"$ref": "#/components/headers/requestId"}},
        }
        if spec is not None and spec.body is not None:
            ok["content"] = {spec.media_type: {"schema": ref(spec.body)}}
        responses[str(status)] = ok
    op: Schema = {
        "operationId": handler,
        "summary": spec.summary if spec else handler,
        "parameters": parameters,
        "responses": responses or {"default": {"description": "undocumented"}},
    }
    if not guarded:
        op["security"] = []
    if spec is not None and spec.request is not None:
        op["requestBody"] = {"required": True, "content": {XML: {"schema": ref(spec.request)}}}
    if spec is None:
        op["x-emu-undocumented"] = True
    return op


def build_openapi(router: web.UrlDispatcher, open_paths: Iterable[str]) -> dict[str, Any]:
    """The OpenAPI 3.0 document (a JSON-ready dict) of the routes registered on ``router``.

    ``open_paths`` are the paths the REST middlewares answer without credentials and whatever the
    service state (``rest.OPEN_PATHS``): the caller says, so this package never imports ``rest``.
    """
    open_set = frozenset(open_paths)
    paths: dict[str, dict[str, Schema]] = {}
    for method, path, handler in _routes(router):
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, handler, open_set)
    schemas = {**document_schemas(), **request_schemas()}
    schemas["OpenApi"] = {"type": "object", "description": "An OpenAPI 3.0 document"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Cisco Finesse REST API (finesse-emu)",
            "version": "1.0",
            "description": (
                "The REST surface of one emulated Finesse node. Every /finesse/api path but SystemInfo "
                "needs HTTP Basic (agent id or login name) or, on a node in single sign-on mode, a "
                "bearer access token of the deployment's Identity Service, and answers 503 "
                "SERVER_OUT_OF_SERVICE while the node is not IN_SERVICE. Errors are ApiErrors "
                "documents. HEAD is answered on every GET path."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{SECURITY_SCHEME: []}, {BEARER_SCHEME: []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "http", "scheme": "basic"},
                BEARER_SCHEME: {"type": "http", "scheme": "bearer"},
            },
            "parameters": {"requestId": _REQUEST_ID},
            "headers": {
                "requestId": {
                    "description": "The requestId request header, echoed when one was sent",
                    "schema": {"type": "string"},
                }
            },
            "schemas": schemas,
        },
    }
