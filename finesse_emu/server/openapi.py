"""The OpenAPI 3.0 description of the emulated Finesse REST API, served at ``GET /emu/openapi.json``.

The paths come from the aiohttp router itself (:func:`build_openapi` walks ``app.router``), so a route
added to ``rest.py`` shows up here at once; what the table :data:`OPERATIONS` adds per route is the
part a router cannot know: the summary, the query parameters, the request body and the status codes
the handler gives. A route without an entry is still listed (marked ``x-emu-undocumented``) and
:func:`undocumented_routes` / :func:`stale_operations` let a unit test fail on either kind of drift.

What the middlewares of ``rest.py`` add is derived from their own rule, not written per route: every
path under ``/finesse/api`` except the open ones (``paths.OPEN_PATHS``: SystemInfo) requires HTTP Basic
(401 ``ApiErrors``) and answers 503 ``SERVER_OUT_OF_SERVICE`` while the node is not IN_SERVICE; every
path echoes the ``requestId`` request header in the response. aiohttp answers HEAD on every GET route
by itself; those implicit HEAD routes are not listed.

Bodies are XML: the schemas carry OpenAPI ``xml`` objects (root names, attributes, wrapped lists) so a
generator (schemathesis) writes XML-shaped documents. The request schemas follow the parsers
(:func:`finesse_emu.server.api_xml.parse_user_update`,
:func:`~finesse_emu.server.api_xml.parse_dialog_action`):
every body they call valid parses (a unit test generates them), with two documented gaps: unknown
elements, which the parsers ignore, are left out, and SEND_DTMF's required ``dtmfString`` ActionParam
cannot be said in OpenAPI 3.0. Whether a change is allowed in the current state is the server's call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from finesse_emu.server import api_xml as X
from finesse_emu.server.paths import OPEN_PATHS

API = X.API
OPENAPI_PATH = "/emu/openapi.json"
XML = "application/xml"
JSON = "application/json"
SECURITY_SCHEME = "basicAuth"
# Generated from a route's canonical path: /finesse/api/User/{user} -> ["user"].
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def _int(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", **extra}
    if description:
        schema["description"] = description
    return schema


def _bool() -> Schema:
    return {"type": "boolean"}


def _closed(schema: Schema) -> Schema:
    """A request object: the parser ignores unknown elements, but a client has no reason to send one."""
    return {**schema, "additionalProperties": False}


def _obj(name: str | None, properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if name is not None:
        schema["xml"] = {"name": name}
    if required:
        schema["required"] = list(required)
    return schema


def _list(item: Schema, item_name: str, wrapper: str | None = None) -> Schema:
    """A repeated element ``item_name``, inside ``<wrapper>`` when given (else directly in the parent)."""
    xml: Schema = {"name": wrapper, "wrapped": True} if wrapper else {"name": item_name}
    return {"type": "array", "items": {**item, "xml": {"name": item_name}}, "xml": xml}


# ---------------------------------------------------------------------------------------------------
# Schemas


_INT32: Schema = {"minimum": -(2**31), "maximum": 2**31 - 1}
# Character classes spelt out (a generator's idea of \s is not Python's str.isspace, which the parser
# uses). Characters XML 1.0 cannot carry make a body malformed (400), so no valid value has them (lone
# surrogates cannot be in a UTF-8 body at all, and schemathesis refuses a pattern naming them).
NOT_XML = r"\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"
# Exactly the characters str.isspace() (and so str.strip()) takes for whitespace.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# What api_xml._address accepts: 1-64 characters, none of them whitespace.
_ADDRESS: Schema = {"minLength": 1, "maxLength": 64, "pattern": rf"^[^{WHITESPACE}{NOT_XML}]{{1,64}}$"}
# A leaf the parser strips: something must be left after stripping.
_NON_BLANK: Schema = {"pattern": rf"^[^{NOT_XML}]*[^{WHITESPACE}{NOT_XML}][^{NOT_XML}]*$"}
# Free text (call variable values, wrap-up reasons): kept as sent.
_FREE_TEXT: Schema = {"pattern": rf"^[^{NOT_XML}]*$"}
_USER_STATES = [
    "LOGOUT", "NOT_READY", "READY", "RESERVED", "RESERVED_OUTBOUND", "RESERVED_OUTBOUND_PREVIEW",
    "TALKING", "HOLD", "WORK", "WORK_READY", "UNKNOWN",
]  # fmt: skip


def _schemas() -> dict[str, Schema]:
    reason_code = _obj(
        "ReasonCode",
        {
            "uri": _text(),
            "category": _text(enum=["NOT_READY", "LOGOUT"]),
            "code": _int(),
            "label": _text(),
            "forAll": _bool(),
            "systemCode": _bool(),
            "id": _int("database id (the one in URIs and in PUT bodies); embedded forms only"),
        },
    )
    node = _obj(None, {"host": _text(), "httpsPort": _int(), "xmppPort": _int(), "xmppSecurePort": _int()})
    cti_server = _obj(None, {"host": _text(), "connectedDuration": _int(), "active": _bool()})
    mobile_agent_out = _obj(None, {"mode": _text(), "dialNumber": _text()})
    team_ref = _obj(None, {"uri": _text(), "id": _text(), "name": _text()})
    call_variable = _obj(None, {"name": _text(), "value": _text()})
    participant = _obj(
        None,
        {
            "actions": _list(_text(), "action", "actions"),
            "mediaAddress": _text(),
            "mediaAddressType": _text(),
            "startTime": _text(),
            "state": _text(),
            "stateCause": _text(),
            "stateChangeTime": _text(),
        },
    )
    media_properties = _obj(
        None,
        {
            "mediaId": _text(),
            "DNIS": _text(),
            "callType": _text(),
            "dialedNumber": _text(),
            "outboundClassification": _text(),
            "callvariables": _list(call_variable, "CallVariable", "callvariables"),
        },
    )
    dialog = _obj(
        "Dialog",
        {
            "associatedDialogUri": _text(),
            "id": _text(),
            "secondaryId": _text(),
            "mediaType": _text(),
            "fromAddress": _text(),
            "toAddress": _text(),
            "mediaProperties": media_properties,
            "participants": _list(participant, "Participant", "participants"),
            "state": _text(),
            "uri": _text(),
        },
        ("id", "state", "uri"),
    )
    media = _obj(
        "Media",
        {
            "uri": _text(),
            "description": _text(),
            "dialogLogoutAction": _text(),
            "id": _int("MRD id"),
            "interruptible": _bool(),
            "maxDialogLimit": _int(),
            "mediaConnected": _bool(),
            "name": _text(),
            "ReasonCode": _ref("ReasonCode"),
            "reasonCodeId": _int("-1 when there is no reason code"),
            "routable": _bool(),
            "state": _text(),
            "stateChangeTime": _text(),
            "interruptAction": _text(),
        },
        ("uri", "id", "state"),
    )
    team_user = _obj(
        None,
        {
            "uri": _text(),
            "loginId": _text(),
            "firstName": _text(),
            "lastName": _text(),
            "dialogs": _text(),
            "extension": _text(),
            "pendingState": _text(),
            "state": _text(enum=_USER_STATES),
            "stateChangeTime": _text(),
            "ReasonCode": _ref("ReasonCode"),
        },
    )
    api_error = _obj(
        "ApiError",
        {
            "ErrorType": _text(),
            "ErrorData": _text(),
            "ErrorMedia": _text("Media APIs only: the MRD id"),
            "ErrorMessage": _text(),
            "RequestId": _text("Media APIs only, when a requestId was sent"),
        },
        ("ErrorType", "ErrorData", "ErrorMessage"),
    )
    return {
        "ApiErrors": _obj("ApiErrors", {"ApiError": _list(_ref("ApiError"), "ApiError")}, ("ApiError",)),
        "ApiError": api_error,
        "SystemInfo": _obj(
            "SystemInfo",
            {
                "currentTimestamp": _text("YYYY-MM-DDThh:mm:ss.SSSZ (UTC)"),
                "deploymentType": _text(),
                "lastCTIHeartbeatStatus": _text(enum=["success", "failure"]),
                "lastSuccessCTIHeartbeatTime": _int("epoch milliseconds, 0 before the first heartbeat"),
                "ctiVersion": _int(),
                "ctiHeartbeatInterval": _int("seconds"),
                "ctiMMode": _text(),
                "ctiTimeInMMode": _int(),
                "finesseMMode": _text(),
                "finesseTimeInMMode": _int(),
                "license": _text(),
                "peripheralId": _int(),
                "primaryNode": node,
                "secondaryNode": node,
                "status": _text(enum=["IN_SERVICE", "OUT_OF_SERVICE", "PARTIAL_SERVICE"]),
                "statusReason": _text(),
                "systemAuthMode": _text(enum=["SSO", "NON_SSO", "HYBRID"]),
                "timezoneOffset": _int("minutes east of UTC"),
                "uri": _text(),
                "xmppDomain": _text(),
                "xmppPubSubDomain": _text(),
                "ctiServers": _list(cti_server, "ctiServer", "ctiServers"),
            },
            ("status", "xmppDomain", "primaryNode"),
        ),
        "User": _obj(
            "User",
            {
                "uri": _text(),
                "roles": _list(_text(enum=["Agent", "Supervisor", "Administrator"]), "role", "roles"),
                "loginId": _text(),
                "loginName": _text(),
                "state": _text(enum=_USER_STATES),
                "stateChangeTime": _text(),
                "mediaType": _int(),
                "pendingState": _text(),
                "reasonCodeId": _int("-1 when there is no reason code"),
                "ReasonCode": _ref("ReasonCode"),
                "settings": _obj(
                    None,
                    {"wrapUpOnIncoming": _text(), "wrapUpOnOutgoing": _text(), "deviceSelection": _text()},
                ),
                "extension": _text(),
                "mobileAgent": mobile_agent_out,
                "firstName": _text(),
                "lastName": _text(),
                "teamId": _text(),
                "teamName": _text(),
                "skillTargetId": _int(),
                "dialogs": _text(),
                "teams": _list(team_ref, "Team", "teams"),
                "services": _list(_text(), "service", "services"),
                "wrapUpTimer": _int(),
            },
            ("uri", "loginId", "state"),
        ),
        "Dialog": dialog,
        "Dialogs": _obj("Dialogs", {"Dialog": _list(_ref("Dialog"), "Dialog")}),
        "Media": media,
        "MediaList": _obj("MediaList", {"Media": _list(_ref("Media"), "Media")}),
        "ReasonCode": reason_code,
        "ReasonCodes": _obj(
            "ReasonCodes",
            {
                "category": {**_text(enum=["NOT_READY", "LOGOUT"]), "xml": {"attribute": True}},
                "ReasonCode": _list(_ref("ReasonCode"), "ReasonCode"),
            },
        ),
        "WrapUpReasons": _obj(
            "WrapUpReasons",
            {
                "WrapUpReason": _list(
                    _obj(None, {"uri": _text(), "label": _text(), "forAll": _bool()}), "WrapUpReason"
                )
            },
        ),
        "Team": _obj(
            "Team",
            {"uri": _text(), "id": _text(), "name": _text(), "users": _list(team_user, "User", "users")},
            ("uri", "id", "name"),
        ),
        "DialogAction": _dialog_action(),
        # The request body of PUT /finesse/api/User/{user}: what api_xml.parse_user_update accepts.
        "UserUpdate": _user_update(),
        # The request body of PUT /finesse/api/User/{user}/Media/{mrd}: api_xml.parse_media_update.
        "MediaUpdate": _media_update(),
    }


def _media_update() -> Schema:
    schema = _closed(
        _obj(
            "Media",
            {
                "state": _text(enum=[s.value for s in X.MediaState]),
                "routable": _bool(),
                "reasonCodeId": _int("ReasonCode database id", **_INT32),
                "maxDialogLimit": _int("sign-in only", minimum=1, maximum=10),
                "interruptAction": _text(enum=["ACCEPT", "IGNORE"]),
                "dialogLogoutAction": _text(enum=["CLOSE", "TRANSFER"]),
            },
            (),
        )
    )
    schema["description"] = (
        "Sign in to a non-voice MRD (state LOGIN, with maxDialogLimit, interruptAction, "
        "dialogLogoutAction), READY, NOT_READY (optional reasonCodeId), LOGOUT, routable true/false, "
        "or Work to Active (state ACTIVE, the emulator's reading of a body no public source shows; "
        "allowed only in WORK, else 400 Invalid State). The voice MRD (1) belongs to PUT User (400). "
        "Refusals by the CTI side come after the 202 as an Update with apiErrors (E_ARM_STAT_...)."
    )
    schema["anyOf"] = [{"required": ["state"]}, {"required": ["routable"]}]
    return schema


def _user_update() -> Schema:
    """The body of PUT /finesse/api/User/{user}: what api_xml.parse_user_update accepts."""
    schema = _closed(
        _obj(
            "User",
            {
                "state": _text(enum=[s.value for s in X.UserState]),
                "extension": _text("the agent's device; required with LOGIN", **_ADDRESS),
                "reasonCodeId": _int("ReasonCode database id", **_INT32),
                "mobileAgent": _closed(
                    _obj(
                        None,
                        {
                            "mode": _text(enum=[m.value for m in X.MobileAgentMode]),
                            "dialNumber": _text(**_ADDRESS),
                        },
                        ("mode", "dialNumber"),
                    )
                ),
                "logoutAllMedia": _bool(),
            },
            ("state",),
        )
    )
    schema["description"] = (
        "Sign in (LOGIN, needs extension), READY, NOT_READY (optional reasonCodeId: the ReasonCode "
        "database id) or LOGOUT. The parser ignores unknown elements (a client has no reason to send "
        "any); a known element given twice is 400 Invalid Input. Whether the change is allowed in the "
        "agent's current state is decided by the server (400 Invalid Input otherwise)."
    )
    # LOGIN needs an extension (else 400 Parameter Missing).
    schema["anyOf"] = [
        {"properties": {"state": {"enum": [s.value for s in X.UserState if s is not X.UserState.LOGIN]}}},
        {"required": ["extension"]},
    ]
    return schema


def _unless(actions: Any, required: str) -> Schema:
    """``required`` must be present when requestedAction is one of ``actions``."""
    names = sorted(a.value for a in actions)
    return {
        "anyOf": [{"properties": {"requestedAction": {"not": {"enum": names}}}}, {"required": [required]}]
    }


def _dialog_action() -> Schema:
    """The body of PUT /finesse/api/Dialog/{dialog}: what api_xml.parse_dialog_action accepts."""
    pair = _closed(_obj(None, {"name": _text(**_NON_BLANK), "value": _text(**_FREE_TEXT)}, ("name",)))
    schema = _closed(
        _obj(
            "Dialog",
            {
                "requestedAction": _text(enum=[a.value for a in X.DialogActionName]),
                "targetMediaAddress": _text("the participant acted on", **_ADDRESS),
                "fromAddress": _text(**_ADDRESS),
                "toAddress": _text(**_ADDRESS),
                "mediaProperties": _closed(
                    _obj(
                        None,
                        {
                            "callvariables": _list(pair, "CallVariable", "callvariables"),
                            "wrapUpReason": _text(**_FREE_TEXT),
                        },
                    )
                ),
                "actionParams": _list(pair, "ActionParam", "actionParams"),
            },
            ("requestedAction",),
        )
    )
    schema["description"] = (
        "A call control action. SEND_DTMF also needs the dtmfString ActionParam (400 Parameter Missing "
        "otherwise; OpenAPI 3.0 cannot say so). The parser ignores unknown elements. Which actions are "
        "emulated (ANSWER, DROP; others 501) and whether one is allowed in the dialog's state is "
        "decided by the server."
    )
    return {
        **schema,
        "allOf": [
            # The parser's own tables, so the two cannot disagree.
            _unless(X._NEEDS_TARGET, "targetMediaAddress"),
            _unless({X.DialogActionName.MAKE_CALL}, "fromAddress"),
            _unless(X._NEEDS_TO, "toAddress"),
            _unless({X.DialogActionName.UPDATE_CALL_DATA}, "mediaProperties"),
        ],
    }


# ---------------------------------------------------------------------------------------------------
# Operations


_REQUEST_ID: Schema = {
    "name": "requestId",
    "in": "header",
    "required": False,
    "description": "Opaque; echoed in the requestId response header (and, for PUT, in the resulting Update).",
    "schema": {"type": "string"},
}
_CATEGORY: Schema = {
    "name": "category",
    "in": "query",
    "required": True,
    "description": "Reason code category (anything else: 400 Invalid Input)",
    "schema": {"type": "string", "enum": ["NOT_READY", "LOGOUT"]},
}
_PATH_PARAMETERS: dict[str, tuple[Schema, str]] = {
    "user": ({"type": "string"}, "agent id (loginId) or login name"),
    "dialog": ({"type": "string"}, "dialog id"),
    "mrd": ({"type": "integer"}, "Media Routing Domain id (anything else: 404)"),
    "id": ({"type": "integer"}, "ReasonCode database id (anything else: 404)"),
    "team": ({"type": "integer"}, "team id (anything else: 404)"),
    "kind": ({"type": "string", "enum": ["xml", "jsp"]}, "gadget kind"),
    "name": ({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "gadget or resource name"),
}
_DESCRIPTIONS = {
    200: "OK",
    202: "Accepted: the outcome arrives as an Update on the user's XMPP node",
    400: "Bad Request / Parameter Missing / Invalid Input / Invalid State",
    401: "Authorization Failure (missing or bad credentials) or Invalid Authorization User Specified",
    404: "User Not Found / Dialog Not Found / Not Found",
    413: "Request Entity Too Large: a compressed body that inflates past 64 KiB",
    415: "Unsupported Media Type: a Content-Encoding other than gzip or deflate",
    501: "Not Implemented: an action the emulator (or CCE) does not carry out",
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
    ("GET", f"{API}/Team/{{team}}"): Operation(
        "Get a team (its supervisors and administrators only)", (200, 401, 404), "Team"
    ),
    ("GET", OPENAPI_PATH): Operation(
        "This OpenAPI description (emulator only)", (200,), "OpenApi", media_type=JSON
    ),
    # Desktop content (emulator paths; a real Finesse serves its own under /desktop): a gadget spec
    # (kind xml: static; jsp: rendered per request at three times the cost) and a desktop resource.
    ("GET", "/desktop/gadgets/{kind}/{name}"): Operation("A gadget spec (kind xml or jsp)", (200, 404)),
    ("GET", "/desktop/resources/{name}"): Operation("A desktop resource (script)", (200, 404)),
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
        "description": _DESCRIPTIONS[status],
        "headers": {"requestId": {"$ref": "#/components/headers/requestId"}},
        "content": {XML: {"schema": _ref("ApiErrors")}},
    }


def _operation(method: str, path: str, handler: str, open_paths: frozenset[str]) -> Schema:
    spec = OPERATIONS.get((method, path))
    guarded = path.startswith(API) and path not in open_paths
    parameters: list[Schema] = []
    for name in _PATH_PARAM.findall(path):
        schema, description = _PATH_PARAMETERS.get(name, ({"type": "string"}, ""))
        parameters.append(
            {"name": name, "in": "path", "required": True, "description": description, "schema": schema}
        )
    parameters.extend(spec.query if spec else ())
    parameters.append({"$ref": "#/components/parameters/requestId"})
    statuses = set(spec.statuses if spec else ())
    if guarded:
        statuses |= {401, 503}
    responses: dict[str, Schema] = {}
    for status in sorted(statuses):
        if status >= 400:
            responses[str(status)] = _error_response(status)
            continue
        ok: Schema = {
            "description": _DESCRIPTIONS[status],
            "headers": {"requestId": {"$ref": "#/components/headers/requestId"}},
        }
        if spec is not None and spec.body is not None:
            ok["content"] = {spec.media_type: {"schema": _ref(spec.body)}}
        responses[str(status)] = ok
    if "401" in responses and guarded:
        responses["401"]["headers"]["X-Emu-Auth-Reason"] = {
            "description": "Emulator only: why authentication failed (missing, bad_credentials, ...)",
            "schema": {"type": "string"},
        }
    op: Schema = {
        "operationId": handler,
        "summary": spec.summary if spec else handler,
        "parameters": parameters,
        "responses": responses or {"default": {"description": "undocumented"}},
    }
    if not guarded:
        op["security"] = []
    if spec is not None and spec.request is not None:
        op["requestBody"] = {"required": True, "content": {XML: {"schema": _ref(spec.request)}}}
    if spec is None:
        op["x-emu-undocumented"] = True
    return op


def build_openapi(router: web.UrlDispatcher) -> dict[str, Any]:
    """The OpenAPI 3.0 document (a JSON-ready dict) of the routes registered on ``router``."""
    open_paths = frozenset(OPEN_PATHS)
    paths: dict[str, dict[str, Schema]] = {}
    for method, path, handler in _routes(router):
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, handler, open_paths)
    schemas = _schemas()
    schemas["OpenApi"] = {"type": "object", "description": "An OpenAPI 3.0 document"}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Cisco Finesse REST API (finesse-emu)",
            "version": "1.0",
            "description": (
                "The REST surface of one emulated Finesse node. Every /finesse/api path but SystemInfo "
                "needs HTTP Basic (agent id or login name) and answers 503 SERVER_OUT_OF_SERVICE while "
                "the node is not IN_SERVICE. Errors are ApiErrors documents. HEAD is answered on every "
                "GET path."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "securitySchemes": {SECURITY_SCHEME: {"type": "http", "scheme": "basic"}},
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


__all__ = [
    "OPENAPI_PATH",
    "OPERATIONS",
    "Operation",
    "build_openapi",
    "stale_operations",
    "undocumented_routes",
]
