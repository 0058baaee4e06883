"""The node's control-plane routes for its CORS allow-list (behind the control plane's token).

``GET /emu/cors``: ``{"origins": [...]}``. ``PUT /emu/cors`` with ``{"origins": [...]}`` replaces the
list; ``POST /emu/cors`` with ``{"origin": "..."}`` adds one; ``DELETE /emu/cors?origin=...`` removes
one. Each answers the list as it now stands; a malformed origin is 400 and changes nothing. The REST
API follows at once; the Notification Service (Prosody) takes its list at start (docs/finesse.md,
CORS). ``finesse-emu cors`` drives these routes; the administration API will call the same
:meth:`~finesse_emu.server.node.FinesseNode.set_cors_origins`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web

from emu_base.admin import json_error, read_json_object
from emu_base.control_openapi import BODY, ControlOperation, describe, json_object
from finesse_emu.server.cors import normalize_origin

CORS_ROUTE = "/emu/cors"


_ORIGIN = {"type": "string", "description": "scheme://host[:port]"}
CORS_OPERATIONS = {
    ("GET", CORS_ROUTE): ControlOperation("The origins allowed cross-origin", (200,)),
    ("PUT", CORS_ROUTE): ControlOperation(
        "Replace the allowed origins",
        (200, *BODY),
        json_object({"origins": {"type": "array", "items": _ORIGIN}}, ("origins",)),
    ),
    ("POST", CORS_ROUTE): ControlOperation(
        "Allow one more origin", (200, *BODY), json_object({"origin": _ORIGIN}, ("origin",))
    ),
    ("DELETE", CORS_ROUTE): ControlOperation(
        "Stop allowing an origin",
        (200, 400, 404),
        query=({"name": "origin", "in": "query", "required": True, "schema": _ORIGIN},),
    ),
}


def add_cors_routes(
    app: web.Application, origins: Callable[[], list[str]], set_origins: Callable[[Iterable[str]], list[str]]
) -> None:
    def answer() -> web.Response:
        return web.json_response({"origins": origins()})

    async def get(_: web.Request) -> web.Response:
        return answer()

    async def put(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        listed = body.get("origins")
        if not isinstance(listed, list) or not all(isinstance(o, str) for o in listed):
            return json_error(400, "'origins' is a list of origins (scheme://host[:port])")
        try:
            set_origins(listed)
        except ValueError as exc:
            return json_error(400, str(exc))
        return answer()

    async def post(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        origin = body.get("origin")
        if not isinstance(origin, str):
            return json_error(400, "'origin' is an origin (scheme://host[:port])")
        try:
            set_origins([*origins(), origin])
        except ValueError as exc:
            return json_error(400, str(exc))
        return answer()

    async def delete(request: web.Request) -> web.Response:
        try:
            origin = normalize_origin(request.query.get("origin", ""))
        except ValueError as exc:
            return json_error(400, str(exc))
        if origin not in origins():
            return json_error(404, f"{origin} is not an allowed origin")
        set_origins([o for o in origins() if o != origin])
        return answer()

    app.router.add_get(CORS_ROUTE, get)
    app.router.add_put(CORS_ROUTE, put)
    app.router.add_post(CORS_ROUTE, post)
    app.router.add_delete(CORS_ROUTE, delete)
    describe(app, CORS_OPERATIONS)
