"""The OpenAPI 3.0 description of a component's control plane (the ``/emu`` routes of its admin port),
served by every control plane at ``GET /emu/control/openapi.json``.

As for the Finesse REST API (``finesse_emu/server/openapi``), the paths come from the aiohttp router
itself, so a route added to a control plane shows up at once; what a table adds per route is what a
router cannot know (summary, query, JSON body, statuses). The table of an app starts with the routes
every control plane has (:data:`COMMON`, ``admin.py``) and each component adds its own with
:func:`describe` beside the routes it adds (the CTI stub's agents and calls, the node's layout and
CORS, the swarm's clients). A route without an entry is still listed, marked ``x-emu-undocumented``;
:func:`undocumented_routes` and :func:`stale_operations` let a test fail on either kind of drift.

What the token guard adds is derived from its own rule: every route but the open ones (``GET
/emu/health`` and this description) needs ``Authorization: Bearer TOKEN`` when the deployment has a
token, else 401 (JSON ``{"error": ...}``). Every body, in and out, is JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Schema = dict[str, Any]
CONTROL_OPENAPI_PATH = "/emu/control/openapi.json"
JSON = "application/json"
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")

DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    400: 'Bad Request: a body or value the route refuses ({"error": ...})',
    401: "Unauthorized: the deployment's token is required (Authorization: Bearer TOKEN)",
    404: "Not Found: no such agent, call, fault or origin",
    409: "Conflict: the request does not fit the current state",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type: a Content-Encoding other than gzip or deflate",
}


@dataclass(frozen=True)
class ControlOperation:
    """What the router cannot tell about one control-plane route."""

    summary: str
    statuses: tuple[int, ...]  # the handler's own; 401 of the token guard is added
    request: Schema | None = None  # the JSON body's schema
    query: tuple[Schema, ...] = ()
    open: bool = False  # answered without the token
    media_type: str = JSON


Operations = dict[tuple[str, str], ControlOperation]
OPERATIONS_KEY: web.AppKey[Operations] = web.AppKey("emu_control_operations", dict)


def json_object(properties: Mapping[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    return schema


# A body a POST reads: 400 for one that is no JSON object, 413/415 from its size and Content-Encoding.
BODY = (400, 413, 415)
COMMON: Operations = {
    ("GET", "/emu/health"): ControlOperation("The component's name, role and state", (200,), open=True),
    ("GET", "/emu/faults"): ControlOperation(
        "The active faults and the fault kinds this component takes", (200,)
    ),
    ("POST", "/emu/faults"): ControlOperation(
        "Inject a fault (its kind and the kind's parameters, as GET /emu/faults lists them)",
        (201, *BODY),
        json_object({"kind": {"type": "string"}}, ("kind",)),
    ),
    ("DELETE", "/emu/faults"): ControlOperation("Clear every fault", (200,)),
    ("DELETE", "/emu/faults/{fault_id}"): ControlOperation("Clear one fault", (200, 404)),
    # Guarded like the rest: counts of agents, sessions and requests are the deployment's business.
    ("GET", "/metrics"): ControlOperation(
        "The component's Prometheus metrics (Prometheus text format; docs/metrics.md)",
        (200,),
        media_type="text/plain",
    ),
}
_DESCRIPTION = ControlOperation("This OpenAPI description", (200,), open=True)
OPEN_ROUTES = frozenset(
    (method, path)
    for (m, path), op in {**COMMON, ("GET", CONTROL_OPENAPI_PATH): _DESCRIPTION}.items()
    if op.open
    for method in (m, "HEAD")
)


def describe(app: web.Application, operations: Operations) -> None:
    """Add the description of routes a component adds to its control plane (before it starts)."""
    app[OPERATIONS_KEY].update(operations)


def _routes(router: web.UrlDispatcher) -> list[tuple[str, str, str]]:
    """``(method, canonical path, handler name)`` of every route but aiohttp's implicit HEADs."""
    out = []
    for route in router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        out.append((route.method, route.resource.canonical, getattr(route.handler, "__name__", "handler")))
    return out


def undocumented_routes(router: web.UrlDispatcher, operations: Operations) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in _routes(router) if (m, p) not in operations]


def stale_operations(router: web.UrlDispatcher, operations: Operations) -> list[tuple[str, str]]:
    present = {(m, p) for m, p, _ in _routes(router)}
    return [key for key in operations if key not in present]


def _operation(method: str, path: str, handler: str, spec: ControlOperation | None) -> Schema:
    parameters: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(path)
    ]
    parameters.extend(spec.query if spec else ())
    statuses = set(spec.statuses if spec else ())
    if spec is None or not spec.open:
        statuses.add(401)
    responses: dict[str, Schema] = {
        str(s): {
            "description": DESCRIPTIONS[s],
            "content": {spec.media_type if spec and s < 400 else JSON: {}},
        }
        for s in sorted(statuses)
    }
    op: Schema = {
        "operationId": f"{method.lower()}_{handler}",
        "summary": spec.summary if spec else handler,
        "parameters": parameters,
        "responses": responses or {"default": {"description": "undocumented"}},
    }
    if spec is not None and spec.open:
        op["security"] = []
    if spec is not None and spec.request is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": spec.request}}}
    if spec is None:
        op["x-emu-undocumented"] = True
    return op


def build_control_openapi(router: web.UrlDispatcher, operations: Operations, title: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document (a JSON-ready dict) of the control plane whose routes ``router`` has."""
    paths: dict[str, dict[str, Schema]] = {}
    for method, path, handler in _routes(router):
        paths.setdefault(path, {})[method.lower()] = _operation(
            method, path, handler, operations.get((method, path))
        )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"finesse-emu control plane: {title}",
            "version": "1.0",
            "description": (
                "The emulator's own control plane on a component's admin port (loopback only): health, "
                "faults and the component's controls. Every route but GET /emu/health and this "
                "description needs the deployment's token (Authorization: Bearer TOKEN) when it has one."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerToken": []}],
        "paths": paths,
        "components": {"securitySchemes": {"bearerToken": {"type": "http", "scheme": "bearer"}}},
    }


def serve(app: web.Application, title: str) -> None:
    """Serve the description of ``app``'s control plane; the routes are described with
    :func:`describe` (``admin.py`` the :data:`COMMON` ones, each component its own)."""
    app[OPERATIONS_KEY] = {("GET", CONTROL_OPENAPI_PATH): _DESCRIPTION}

    async def get_description(request: web.Request) -> web.Response:
        return web.json_response(
            build_control_openapi(request.app.router, request.app[OPERATIONS_KEY], title)
        )

    app.router.add_get(CONTROL_OPENAPI_PATH, get_description)
