"""What the router cannot tell about each route: its summary, query parameters, request body and the
status codes its handler gives (:data:`OPERATIONS`), and the words for path parameters and statuses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finesse_emu.server.openapi.schema import Schema
from finesse_emu.server.xml.common import API

OPENAPI_PATH = "/emu/openapi.json"
XML = "application/xml"
JSON = "application/json"

_CATEGORY: Schema = {
    "name": "category",
    "in": "query",
    "required": True,
    "description": "Reason code category (anything else: 400 Invalid Input)",
    "schema": {"type": "string", "enum": ["NOT_READY", "LOGOUT"]},
}
PATH_PARAMETERS: dict[str, tuple[Schema, str]] = {
    "user": ({"type": "string"}, "agent id (loginId) or login name"),
    "dialog": ({"type": "string"}, "dialog id"),
    "mrd": ({"type": "integer"}, "Media Routing Domain id (anything else: 404)"),
    "id": ({"type": "integer"}, "a ReasonCode's, WrapUpReason's or team's id (anything else: 404)"),
    "team": ({"type": "integer"}, "team id (anything else: 404)"),
    "kind": ({"type": "string", "enum": ["xml", "jsp"]}, "gadget kind"),
    "name": ({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "gadget or resource name"),
    "path": ({"type": "string"}, "a file's path inside the node's third-party gadget folder"),
}
_ADMIN_CATEGORY: Schema = {
    "name": "category",
    "in": "query",
    "required": False,
    "description": "Reason code category (default ALL; anything else: 400 Invalid Input)",
    "schema": {"type": "string", "enum": ["NOT_READY", "LOGOUT", "ALL"]},
}
_EXTENSION: Schema = {
    "name": "extension",
    "in": "query",
    "required": True,
    "description": "an agent's extension (ASCII digits; anything else: 400)",
    "schema": {"type": "string", "pattern": "^[0-9]{1,15}$"},
}
DESCRIPTIONS = {
    101: "Switching Protocols: the WebSocket (RFC 7395, subprotocol xmpp) is relayed to the node's "
    "Notification Service",
    200: "OK",
    202: "Accepted: the outcome arrives as an Update on the user's XMPP node",
    304: "Not Modified: the ETag given in If-None-Match still matches",
    400: "Bad Request / Parameter Missing / Invalid Input / Invalid State",
    401: "Authorization Failure (missing or bad credentials; for the administration API, a caller who "
    "is not an administrator) or Invalid Authorization User Specified",
    403: "Forbidden: a configuration API run against the secondary node (for /ws: an origin not allowed)",
    404: "User Not Found / Dialog Not Found / Not Found",
    413: "Request Entity Too Large: a compressed body that inflates past 64 KiB",
    415: "Unsupported Media Type: a Content-Encoding other than gzip or deflate",
    501: "Not Implemented: an action the emulator (or CCE) does not carry out (for /ws: a WebSocket "
    "that does not offer the xmpp subprotocol)",
    502: "Bad Gateway: the node's Notification Service does not answer",
    503: "Service Unavailable (SERVER_OUT_OF_SERVICE) while the node is not IN_SERVICE",
}


@dataclass(frozen=True)
class Operation:
    """What the router cannot tell about one route."""

    summary: str
    statuses: tuple[int, ...]  # the handler's own status codes; 401/503 of the middlewares are added
    body: str | None = None  # schema of the 2xx body (None: no body)
    request: str | None = None  # schema of the XML request body
    query: tuple[Schema, ...] = ()
    media_type: str = XML
    gated: bool = True  # 503 while the node is out of service (the administration API is not)


# An administration API write: 200 with the resource as it is now, 400 for a body it refuses, 403 on
# the subscriber, 413/415 from the body's Content-Encoding.
_ADMIN_WRITE = (200, 400, 403, 413, 415)


def _admin_get_put(name: str, summary: str, schema: str | None = None) -> dict[tuple[str, str], Operation]:
    """GET and PUT of one administration resource, the same document both ways."""
    body = schema or name
    return {
        ("GET", f"{API}/{name}"): _admin(f"{summary} (administrators)", (200, 403), body),
        ("PUT", f"{API}/{name}"): _admin(
            f"Change it: {summary[0].lower()}{summary[1:]}", _ADMIN_WRITE, body, f"{body}Update"
        ),
    }


def _admin(
    summary: str, statuses: tuple[int, ...], body: str | None = None, request: str | None = None, **more: Any
) -> Operation:
    """An administration route: answered while the node is out of service (no 503)."""
    return Operation(summary, statuses, body, request, gated=False, **more)


def _team_get_put(
    name: str, summary: str, change: str, schema: str, request: str | None = None
) -> dict[tuple[str, str], Operation]:
    """GET and PUT ``Team/{id}/<name>``: a team's own configuration (404 for an unknown team)."""
    return {
        ("GET", f"{API}/Team/{{id}}/{name}"): _admin(f"{summary} (administrators)", (200, 403, 404), schema),
        ("PUT", f"{API}/Team/{{id}}/{name}"): _admin(
            change, (*_ADMIN_WRITE, 404), schema, request or f"{schema}Update"
        ),
    }


def _configured(
    name: str, what: str, query: tuple[Schema, ...] = (), get_one: bool = True
) -> dict[tuple[str, str], Operation]:
    """The administration API of one kind of configured item: the list (``<name>s``), creating one,
    and one by id (GET unless agents have their own, PUT, DELETE); a reason code's list reads
    ``category`` too (400 otherwise)."""
    listed = (200, 400, 403) if query else (200, 403)
    one: dict[tuple[str, str], Operation] = (
        {("GET", f"{API}/{name}/{{id}}"): _admin(f"Get a {what} (administrators)", (200, 403, 404), name)}
        if get_one
        else {}
    )
    return {
        **one,
        ("GET", f"{API}/{name}s"): _admin(
            f"The configured {what}s (administrators)", listed, f"{name}s", query=query
        ),
        ("POST", f"{API}/{name}s"): _admin(
            f"Create a {what} (administrators)", _ADMIN_WRITE, name, f"{name}Input"
        ),
        ("PUT", f"{API}/{name}/{{id}}"): _admin(
            f"Change a {what} (administrators)", (*_ADMIN_WRITE, 404), name, f"{name}Input"
        ),
        ("DELETE", f"{API}/{name}/{{id}}"): _admin(f"Delete a {what} (administrators)", (200, 403, 404)),
    }


# A body is read by PUT routes only: 413 and 415 come from its Content-Encoding (emu_base.httpbody).
_PUT_STATUSES = (202, 400, 404, 413, 415)
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", f"{API}/SystemInfo"): Operation(
        "System information (no credentials needed)", (200,), "SystemInfo"
    ),
    ("GET", f"{API}/User/{{user}}"): Operation("Get a user", (200, 404), "User"),
    ("PUT", f"{API}/User/{{user}}"): Operation(
        "Change a user's state (sign in, READY, NOT_READY, LOGOUT)", _PUT_STATUSES, None, "UserUpdate"
    ),
    ("GET", f"{API}/User/{{user}}/Dialogs"): Operation("A user's dialogs", (200, 404), "Dialogs"),
    ("POST", f"{API}/User/{{user}}/Dialogs"): Operation(
        "Make a call from the user's own extension (MAKE_CALL, fromAddress, toAddress)",
        _PUT_STATUSES,
        None,
        "DialogAction",
    ),
    ("GET", f"{API}/Dialog/{{dialog}}"): Operation("Get a dialog", (200, 404), "Dialog"),
    ("PUT", f"{API}/Dialog/{{dialog}}"): Operation(
        "Call control on one of the caller's dialogs", (*_PUT_STATUSES, 501), None, "DialogAction"
    ),
    ("GET", f"{API}/User/{{user}}/Media"): Operation("A user's media (MRDs)", (200, 404), "MediaList"),
    ("GET", f"{API}/User/{{user}}/Media/{{mrd}}"): Operation(
        "A user's state in one MRD", (200, 404), "Media"
    ),
    ("PUT", f"{API}/User/{{user}}/Media/{{mrd}}"): Operation(
        "Change a user's state in a non-voice MRD (sign in, state, routable, Work to Active)",
        _PUT_STATUSES,
        None,
        "MediaUpdate",
    ),
    ("GET", f"{API}/User/{{user}}/ReasonCodes"): Operation(
        "Reason codes of a category", (200, 400, 404), "ReasonCodes", query=(_CATEGORY,)
    ),
    ("GET", f"{API}/ReasonCode/{{id}}"): Operation("Get a reason code", (200, 404), "ReasonCode"),
    ("GET", f"{API}/User/{{user}}/WrapUpReasons"): Operation(
        "Wrap-up reasons of a user", (200, 404), "WrapUpReasons"
    ),
    ("GET", f"{API}/User/{{user}}/DesktopProperties"): Operation(
        "The user's desktop properties (emulator only: a real desktop receives them with its "
        "container page; the user's own credentials only)",
        (200, 401, 404),
        "DesktopProperties",
    ),
    ("GET", f"{API}/User/{{user}}/LayoutConfig"): Operation(
        "The desktop layout a user's desktop loads (its team's or the default; emulator's path)",
        (200, 401, 404),
        "LayoutConfig",
    ),
    ("GET", f"{API}/Team/{{team}}"): Operation(
        "Get a team (its supervisors and administrators only)", (200, 401, 404), "Team"
    ),
    ("GET", f"{API}/Devices"): Operation(
        "The devices of an extension (its agent, the agent's supervisors, administrators)",
        (200, 400, 401, 404),
        "Devices",
        query=(_EXTENSION,),
    ),
    # The administration API (server/admin_api.py): administrators only (401 otherwise), on the
    # publisher only (403 on the subscriber).
    **_admin_get_put(
        "SystemConfig", "The CTI servers, A and B (a change is used from the next connection attempt)"
    ),
    **_admin_get_put(
        "EnterpriseDatabaseConfig", "The AWDBs, primary and secondary (used from the next request)"
    ),
    **_admin_get_put("ClusterConfig", "The cluster's publisher and subscriber (SystemInfo's nodes)"),
    **_admin_get_put(
        "DesktopProperties",
        "Desktop properties and enableAutoWorkModeStateChange, changed live (emulator path)",
        "AdminDesktopProperties",
    ),
    **_admin_get_put("CorsConfig", "The origins allowed cross-origin (emulator path; CLI on a real node)"),
    ("GET", f"{API}/LayoutConfig/default"): _admin(
        "The default desktop layout (administrators)", (200, 403), "DefaultLayoutConfig"
    ),
    ("PUT", f"{API}/LayoutConfig/default"): _admin(
        "Change the default desktop layout (the desktops that load next)",
        _ADMIN_WRITE,
        "DefaultLayoutConfig",
        "DefaultLayoutConfigUpdate",
    ),
    **_team_get_put(
        "LayoutConfig",
        "A team's desktop layout",
        "Change a team's desktop layout, or use the default",
        "TeamLayoutConfig",
    ),
    **_team_get_put(
        "ReasonCodes",
        "A team's non-global reason codes",
        "Assign non-global reason codes to a team (replacing its list)",
        "TeamReasonCodes",
    ),
    **_team_get_put(
        "WrapUpReasons",
        "A team's non-global wrap-up reasons",
        "Assign non-global wrap-up reasons to a team (replacing its list)",
        "WrapUpReasons",
        "TeamWrapUpReasonsUpdate",
    ),
    # GET ReasonCode/{id} is every user's (above).
    **_configured("ReasonCode", "reason code", query=(_ADMIN_CATEGORY,), get_one=False),
    **_configured("WrapUpReason", "wrap-up reason"),
    ("GET", OPENAPI_PATH): Operation(
        "This OpenAPI description (emulator only)", (200,), "OpenApi", media_type=JSON
    ),
    # Desktop content (emulator paths; a real Finesse serves its own under /desktop): a gadget spec
    # (kind xml: static; jsp: rendered per request at three times the cost) and a desktop resource.
    ("GET", "/desktop/gadgets/{kind}/{name}"): Operation("A gadget spec (kind xml or jsp)", (200, 404)),
    ("GET", "/desktop/resources/{name}"): Operation("A desktop resource (script)", (200, 404)),
    ("GET", "/tunnel/EventTunnel.js"): Operation("The EventTunnel script (12.x)", (200,)),
    # 12.6's WebSocket through the web port (server/ws_proxy.py), routed when the node's release
    # offers it: 400 for a request that is no WebSocket upgrade, 403 for an origin not allowed.
    **{
        ("GET", path): Operation(
            "The Notification Service's WebSocket through the web port (12.6; RFC 7395)",
            (101, 400, 403, 501, 502),
        )
        for path in ("/ws", "/ws/")
    },
    # Same-origin hosting: the node's third-party gadget folder, as static files (no credentials).
    ("GET", "/3rdpartygadget/files/{path}"): Operation(
        "A file of the third-party gadget folder (304 on a matching If-None-Match; 404 outside it)",
        (200, 304, 404),
        media_type="application/octet-stream",
    ),
}
