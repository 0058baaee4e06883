"""The Finesse REST API of one node (aiohttp): paths, XML documents and status codes of Finesse.

Middleware, outermost first: echo the ``requestId`` header; answer 503 SERVER_OUT_OF_SERVICE for
every request except SystemInfo while the node is not IN_SERVICE (clients poll SystemInfo to see it
come back); HTTP Basic authentication against the AWDB (401 ApiErrors on any failure); a request
body that cannot be read is an ApiErrors answer, not aiohttp's text/plain 413 or a 500: 400 when
the raw body is over the cap or does not decode as its Content-Encoding says, 413 when it inflates
past the cap, 415 for a Content-Encoding other than gzip or deflate. Bodies are never inflated by
the server itself (:mod:`emu_base.httpbody`): only the handlers that read one decode it.

Every route that names a target (a user, a dialog, a team) asks :mod:`finesse_emu.server.auth.access`
whether the caller may act on it, through :func:`target_user`, :func:`target_dialog` and
:func:`target_team`; ids in paths are ASCII digits only (``int()`` would take any Unicode digit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from emu_base.directory import VOICE_MRD
from emu_base.history_events import Request, emit
from emu_base.httpbody import BodyError, BodyTooLarge, UnsupportedEncoding, read_body
from emu_base.logs import get_logger
from finesse_emu.server import gadgets
from finesse_emu.server import xml as X
from finesse_emu.server.auth import AuthError, AuthUser, parse_basic
from finesse_emu.server.auth.access import Access, may_act_on, may_read_team
from finesse_emu.server.openapi import OPENAPI_PATH, build_openapi

if TYPE_CHECKING:
    from finesse_emu.server.model import Dialog
    from finesse_emu.server.node import FinesseNode

log = get_logger()

API = "/finesse/api"
XML = "application/xml"
USER_KEY = web.RequestKey("finesse_user", AuthUser)
NODE_KEY: web.AppKey[FinesseNode] = web.AppKey("finesse_node")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Paths that answer without credentials and whatever the service state (clients poll them).
OPEN_PATHS = {f"{API}/SystemInfo"}


def xml_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=XML, charset="utf-8")


def error(resp: X.ErrorResponse) -> web.Response:
    return xml_response(resp.body, resp.status)


@web.middleware
async def request_id_echo(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    # Every request is counted when it has been served (the load a failover puts on the node, as
    # served: a request waiting its turn under reload coordination counts when it is answered).
    node = request.app[NODE_KEY]
    stats = node.stats
    stats["http_requests"] += 1
    if node.config.event_log:
        service = node.status.status.value
        emit(Request(method=request.method, path=request.path, status=response.status, service=service), log)
    stats["http_bytes"] += getattr(response, "content_length", None) or 0
    if request.path.startswith("/desktop/"):
        stats["http_desktop_requests"] += 1
    request_id = request.headers.get("requestId")
    if request_id is not None:
        response.headers["requestId"] = request_id
    return response


@web.middleware
async def service_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    if request.path in OPEN_PATHS or not request.path.startswith(API):
        return await handler(request)
    if not node.status.in_service:
        # "Any request made during this time receives a 503 Service Unavailable error message."
        node.stats["http_503"] += 1
        return error(X.service_unavailable())
    return await handler(request)


@web.middleware
async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in OPEN_PATHS or not request.path.startswith(API):
        return await handler(request)
    node = request.app[NODE_KEY]
    creds = parse_basic(request.headers.get("Authorization"))
    if creds is None:
        return error(X.unauthorized(""))
    try:
        user = await node.authenticator.authenticate(*creds)
    except AuthError as exc:
        node.stats[f"auth_{exc.reason.value}"] += 1
        log.info("rest_unauthorized", user=creds[0], reason=exc.reason.value, path=request.path)
        response = error(X.unauthorized(creds[0]))
        # Not a Finesse header: tells emulator clients why (the seed's desktop messages depend on it).
        response.headers["X-Emu-Auth-Reason"] = exc.reason.value
        return response
    request[USER_KEY] = user
    node.on_authenticated(user, creds[1])
    return await handler(request)


@web.middleware
async def api_not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths and methods under /finesse/api answer ApiErrors XML, like every other error."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed:
        if not request.path.startswith(API):
            raise
        return error(X.error_response(405, "Method Not Allowed", "METHOD_NOT_ALLOWED", request.method))
    except web.HTTPNotFound:
        if not request.path.startswith(API):
            raise
        return error(X.not_found(X.NotFound.OTHER, request.path))


@web.middleware
async def unreadable_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:  # over client_max_size: the parser's own cap and message
        return error(X.bad_request("", f"Request body exceeds {X.MAX_BODY_BYTES} bytes"))
    except web.RequestPayloadError:  # e.g. a chunked body cut short
        return error(X.bad_request("", "Request body could not be read"))
    except BodyTooLarge:
        return error(
            X.error_response(
                413,
                "Request Entity Too Large",
                f"Request body exceeds {X.MAX_BODY_BYTES} bytes once inflated",
            )
        )
    except UnsupportedEncoding as exc:
        return error(X.error_response(415, "Unsupported Media Type", exc.message))
    except BodyError:  # e.g. Content-Encoding: gzip with a body that is not gzip
        return error(X.bad_request("", "Request body could not be read"))


def build_app(node: FinesseNode) -> web.Application:
    app = web.Application(
        middlewares=[request_id_echo, api_not_found, service_gate, basic_auth, unreadable_body],
        client_max_size=X.MAX_BODY_BYTES,
    )
    app[NODE_KEY] = node
    r = app.router
    r.add_get(f"{API}/SystemInfo", system_info)
    r.add_get(f"{API}/User/{{user}}", get_user)
    r.add_put(f"{API}/User/{{user}}", put_user)
    r.add_get(f"{API}/User/{{user}}/Dialogs", get_dialogs)
    r.add_get(f"{API}/Dialog/{{dialog}}", get_dialog)
    r.add_put(f"{API}/Dialog/{{dialog}}", put_dialog)
    r.add_get(f"{API}/User/{{user}}/Media", get_media_list)
    r.add_get(f"{API}/User/{{user}}/Media/{{mrd}}", get_media)
    r.add_put(f"{API}/User/{{user}}/Media/{{mrd}}", put_media)
    r.add_get(f"{API}/User/{{user}}/ReasonCodes", get_reason_codes)
    r.add_get(f"{API}/ReasonCode/{{id}}", get_reason_code)
    r.add_get(f"{API}/User/{{user}}/WrapUpReasons", get_wrapup_reasons)
    r.add_get(f"{API}/Team/{{team}}", get_team)
    gadgets.add_routes(r)  # desktop content (not under /finesse/api: no credentials, no 503 gate)
    r.add_get(OPENAPI_PATH, openapi_json)  # not under /finesse/api: no credentials, no 503 gate
    return app


# -- helpers ----------------------------------------------------------------------------------------
def caller(request: web.Request) -> AuthUser:
    return request[USER_KEY]


def ascii_id(raw: str) -> int | None:
    """A numeric id in a path: ASCII digits only (``int()`` reads ARABIC-INDIC DIGIT THREE as 3),
    at most 10 of them."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else None


def refused(request: web.Request) -> web.Response:
    return error(X.invalid_authorization_user(caller(request).id))


def target_user(request: web.Request, access: Access) -> AuthUser | web.Response:
    """The user named in the path, if the caller may ``access`` it (else 401; unknown: 404)."""
    target = request.app[NODE_KEY].directory_user(request.match_info["user"])
    if target is None:
        return error(X.not_found(X.NotFound.USER, request.match_info["user"]))
    if not may_act_on(caller(request), target, access):
        return refused(request)
    return target


def target_dialog(request: web.Request, access: Access) -> Dialog | web.Response:
    """The dialog named in the path, if the caller may ``access`` its agent's (else 401; unknown:
    404). Dialog ids are sequential, so a refusal must not depend on guessing one."""
    node = request.app[NODE_KEY]
    dialog = node.model.dialogs.get(request.match_info["dialog"])
    if dialog is None:
        return error(X.not_found(X.NotFound.DIALOG, request.match_info["dialog"]))
    owner = node.directory.get(dialog.agent_id) or AuthUser(dialog.agent_id, dialog.agent_id)
    if not may_act_on(caller(request), owner, access):
        return refused(request)
    return dialog


def target_team(request: web.Request) -> X.TeamView | web.Response:
    """The team named in the path, if the caller may read it (else 401; unknown: 404)."""
    team_id = ascii_id(request.match_info["team"])
    view = None if team_id is None else request.app[NODE_KEY].team_view(team_id)
    if team_id is None or view is None:
        return error(X.not_found(X.NotFound.OTHER, request.match_info["team"], "Team not found"))
    if not may_read_team(caller(request), team_id):
        return refused(request)
    return view


def target_media(request: web.Request, access: Access) -> tuple[AuthUser, int] | web.Response:
    """The user and MRD named in the path, if the caller may ``access`` them."""
    target = target_user(request, access)
    if isinstance(target, web.Response):
        return target
    mrd = ascii_id(request.match_info["mrd"])
    if mrd is None or mrd not in request.app[NODE_KEY].mrds_of(target):
        return error(X.not_found(X.NotFound.OTHER, request.match_info["mrd"], "MRD not found"))
    return target, mrd


# -- handlers ---------------------------------------------------------------------------------------
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(request.app.router, OPEN_PATHS))


async def system_info(request: web.Request) -> web.Response:
    return xml_response(request.app[NODE_KEY].system_info_document())


async def get_user(request: web.Request) -> web.Response:
    target = target_user(request, Access.READ)
    if isinstance(target, web.Response):
        return target
    return xml_response(X.user(request.app[NODE_KEY].user_view(target.id)))


async def put_user(request: web.Request) -> web.Response:
    target = target_user(request, Access.CHANGE)
    if isinstance(target, web.Response):
        return target
    node = request.app[NODE_KEY]
    try:
        update = X.parse_user_update(await read_body(request))
    except X.XmlInputError as exc:
        return error(exc.response)
    creds = parse_basic(request.headers.get("Authorization"))
    password = creds[1] if creds and target.id == caller(request).id else None
    problem = await node.change_user_state(target, update, request.headers.get("requestId", ""), password)
    if problem is not None:
        return error(problem)
    return web.Response(status=202)


async def get_dialogs(request: web.Request) -> web.Response:
    target = target_user(request, Access.READ)
    if isinstance(target, web.Response):
        return target
    node = request.app[NODE_KEY]
    return xml_response(X.dialogs(node.dialog_view(d.id) for d in node.model.dialogs_of(target.id)))


async def get_dialog(request: web.Request) -> web.Response:
    dialog = target_dialog(request, Access.READ)
    if isinstance(dialog, web.Response):
        return dialog
    return xml_response(X.dialog(request.app[NODE_KEY].dialog_view(dialog.id)))


async def put_dialog(request: web.Request) -> web.Response:
    """Call control: ANSWER and DROP go to the CTI server (202, then the dialog events)."""
    dialog = target_dialog(request, Access.PARTICIPANT)
    if isinstance(dialog, web.Response):
        return dialog
    node = request.app[NODE_KEY]
    try:
        action = X.parse_dialog_action(await read_body(request))
    except X.XmlInputError as exc:
        return error(exc.response)
    problem = await node.dialog_action(
        caller(request), dialog.id, action, request.headers.get("requestId", "")
    )
    if problem is not None:
        return error(problem)
    return web.Response(status=202)


async def get_media_list(request: web.Request) -> web.Response:
    target = target_user(request, Access.READ)
    if isinstance(target, web.Response):
        return target
    node = request.app[NODE_KEY]
    return xml_response(X.media_list(node.media_view(target.id, mrd) for mrd in node.mrds_of(target)))


async def get_media(request: web.Request) -> web.Response:
    found = target_media(request, Access.READ)
    if isinstance(found, web.Response):
        return found
    target, mrd = found
    return xml_response(X.media(request.app[NODE_KEY].media_view(target.id, mrd)))


async def put_media(request: web.Request) -> web.Response:
    """Non-voice MRD: sign in, state, routable, Work to Active (202, then the Media event)."""
    found = target_media(request, Access.CHANGE)
    if isinstance(found, web.Response):
        return found
    target, mrd = found
    node = request.app[NODE_KEY]
    try:
        update = X.parse_media_update(await read_body(request))
    except X.XmlInputError as exc:
        return error(exc.response)
    if mrd == VOICE_MRD:  # the voice MRD's state belongs to PUT User
        return error(X.invalid_input("mrdId", "Use PUT User to change the voice MRD"))
    problem = await node.change_media_state(target, mrd, update, request.headers.get("requestId", ""))
    if problem is not None:
        return error(problem)
    return web.Response(status=202)


async def get_reason_codes(request: web.Request) -> web.Response:
    target = target_user(request, Access.PERSONAL)
    if isinstance(target, web.Response):
        return target
    category = request.query.get("category", "")
    if category not in ("NOT_READY", "LOGOUT"):
        return error(X.invalid_input("category", "Invalid category specified"))
    node = request.app[NODE_KEY]
    return xml_response(X.reason_codes(node.reason_codes_for(category), category))


async def get_reason_code(request: web.Request) -> web.Response:
    rc_id = ascii_id(request.match_info["id"])
    rc = None if rc_id is None else request.app[NODE_KEY].reason_code_by_id(rc_id)
    if rc is None:
        return error(X.not_found(X.NotFound.OTHER, request.match_info["id"], "Reason Code not found"))
    return xml_response(X.reason_code(rc))


async def get_wrapup_reasons(request: web.Request) -> web.Response:
    target = target_user(request, Access.PERSONAL)
    if isinstance(target, web.Response):
        return target
    return xml_response(X.wrapup_reasons(request.app[NODE_KEY].wrapup_reasons))


async def get_team(request: web.Request) -> web.Response:
    view = target_team(request)
    if isinstance(view, web.Response):
        return view
    return xml_response(X.team(view))
