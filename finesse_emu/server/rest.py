"""The Finesse REST API of one node (aiohttp): paths, XML documents and status codes of Finesse.

Middleware, outermost first: echo the ``requestId`` header; answer 503 SERVER_OUT_OF_SERVICE for
every request except SystemInfo while the node is not IN_SERVICE (clients poll SystemInfo to see it
come back); HTTP Basic authentication against the AWDB or, in single sign-on mode, a bearer token
(:mod:`.auth.sso`; 401 ApiErrors on any failure); a request
body that cannot be read is an ApiErrors answer, not aiohttp's text/plain 413 or a 500: 400 when
the raw body is over the cap or does not decode as its Content-Encoding says, 413 when it inflates
past the cap, 415 for a Content-Encoding other than gzip or deflate. Bodies are never inflated by
the server itself (:mod:`emu_base.httpbody`): only the handlers that read one decode it.

Every route that names a target (a user, a dialog, a team) asks :mod:`finesse_emu.server.auth.access`
whether the caller may act on it, through one decorator, :func:`on_target`, and the
lookup of what the path names (:func:`user`, :func:`dialog`, :func:`team`, :func:`media`): 404 when it
does not exist, 401 when the caller may not act on it, else the handler runs with the node and the
target. Ids in paths are ASCII digits only (``int()`` would take any Unicode digit). The API needs of
the node only :class:`RestNode`, a protocol: it does not import the node's module.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from aiohttp import web

from emu_base.directory import VOICE_MRD
from emu_base.history_events import Request, emit
from emu_base.httpbody import BodyError, BodyTooLarge, UnsupportedEncoding, read_body
from emu_base.logs import get_logger
from emu_base.metrics import route_template
from finesse_emu.ids.tokens import bearer
from finesse_emu.server import admin_api, event_tunnel, gadgets, thirdparty
from finesse_emu.server import xml as X
from finesse_emu.server.auth import Authenticator, AuthError, AuthUser, parse_basic, sso
from finesse_emu.server.auth.access import Access, may_act_on, may_read_team
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.core import NodeCore
from finesse_emu.server.cors import CorsPolicy
from finesse_emu.server.layout_admin import LayoutState
from finesse_emu.server.model import Dialog
from finesse_emu.server.openapi import OPENAPI_PATH, build_openapi
from finesse_emu.server.paths import API, OPEN_PATHS
from finesse_emu.server.xml.devices_api import devices, phone_of
from finesse_emu.server.xml.layout_api import layout_config

__all__ = ["API", "CORS_KEY", "NODE_KEY", "OPEN_PATHS", "RestNode", "build_app"]

log = get_logger()

XML = "application/xml"
T = TypeVar("T")
R = TypeVar("R")


class RestNode(Protocol):
    """What the REST API needs of a node (:class:`finesse_emu.server.node.FinesseNode` has it): the
    core it reads (views, directory, model, service state) and feeds commands to (:meth:`command`
    runs one at the node's ``now`` and hands its outputs to the node), the authenticator, the
    counters. The API depends on this, not on the node's module."""

    @property
    def config(self) -> NodeConfig: ...

    @property
    def stats(self) -> Counter[str]: ...

    @property
    def authenticator(self) -> Authenticator: ...

    @property
    def core(self) -> NodeCore: ...

    @property
    def layouts(self) -> LayoutState: ...

    def now(self) -> float: ...

    def wall(self) -> float: ...

    @property
    def sso_key(self) -> bytes | None: ...

    def command(self, run: Callable[[float], R]) -> R: ...

    def on_authenticated(self, user: AuthUser, password: str) -> object: ...


USER_KEY = web.RequestKey("finesse_user", AuthUser)
NODE_KEY: web.AppKey[RestNode] = web.AppKey("finesse_node")
# The node's allowed origins (server/cors.py), shared with its control plane so a change is live.
CORS_KEY: web.AppKey[CorsPolicy] = web.AppKey("finesse_cors", CorsPolicy)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def xml_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=XML, charset="utf-8")


def error(resp: X.ErrorResponse) -> web.Response:
    return xml_response(resp.body, resp.status)


@web.middleware
async def request_id_echo(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()  # a latency measured (real ms), not a time of day
    response = await handler(request)
    # Every request is counted when it has been served (the load a failover puts on the node, as
    # served: a request waiting its turn under reload coordination counts when it is answered).
    node = request.app[NODE_KEY]
    stats = node.stats
    stats["http_requests"] += 1
    if node.config.event_log:
        service = node.core.status.status.value
        ms = round((time.perf_counter() - started) * 1000, 3)
        emit(
            Request(
                method=request.method,
                path=request.path,
                status=response.status,
                service=service,
                route=route_template(request),
                ms=ms,
            ),
            log,
        )
    stats["http_bytes"] += getattr(response, "content_length", None) or 0
    if request.path.startswith("/desktop/"):
        stats["http_desktop_requests"] += 1
    request_id = request.headers.get("requestId")
    if request_id is not None:
        response.headers["requestId"] = request_id
    return response


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Cross-origin requests as :mod:`.cors` decides: a preflight is answered here, before any
    credentials are asked for; any other answer (errors included) gets the headers of its origin."""
    policy = request.app.get(CORS_KEY) or CorsPolicy()
    origin = request.headers.get("Origin")
    asked = request.headers.get("Access-Control-Request-Method")
    if CorsPolicy.is_preflight(request.method, origin, asked):
        assert origin is not None and asked is not None
        answer = policy.preflight(origin, asked, request.headers.get("Access-Control-Request-Headers", ""))
        return web.Response(status=answer.status, headers=answer.headers)
    headers = policy.response_headers(origin)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # aiohttp's own 404/405 outside /finesse/api
        exc.headers.update(headers)
        raise
    response.headers.update(headers)
    return response


@web.middleware
async def service_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    # In service (nearly every request) nothing more to ask: the administration routes matter only
    # to a node out of service, so their match is not paid on every desktop request.
    if node.core.status.in_service or request.path in OPEN_PATHS or not request.path.startswith(API):
        return await handler(request)
    if admin_api.configuration_route(request.method, request.path):  # configured while out of service
        return await handler(request)
    # "Any request made during this time receives a 503 Service Unavailable error message."
    node.stats["http_503"] += 1
    return error(X.service_unavailable())


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """HTTP Basic against the AWDB or, in SSO and HYBRID modes (:mod:`.auth.sso`), a bearer token
    of the deployment's Identity Service checked with its signing key."""
    if request.path in OPEN_PATHS or not request.path.startswith(API):
        return await handler(request)
    node = request.app[NODE_KEY]
    mode = node.config.auth_mode
    header = request.headers.get("Authorization")
    token = bearer(header)
    if token is not None and sso.takes_bearer(mode):
        try:
            user = sso.bearer_user(node.sso_key, token, node.wall(), node.core.directory.user)
        except sso.BearerRefused as exc:
            node.stats[f"auth_{exc.reason}"] += 1
            log.info("rest_unauthorized", user=exc.subject, reason=exc.reason, path=request.path)
            return error(X.unauthorized(exc.subject))
        request[USER_KEY] = user
        node.on_authenticated(user, "")
        return await handler(request)
    creds = parse_basic(header)
    if creds is None:
        return error(X.unauthorized(""))
    try:
        user = await node.authenticator.authenticate(*creds)
    except AuthError as exc:
        node.stats[f"auth_{exc.reason.value}"] += 1
        log.info("rest_unauthorized", user=creds[0], reason=exc.reason.value, path=request.path)
        # Whatever the reason, the wire shows what a real Finesse's does: "Users who make API
        # requests receive an 401 'Unauthorized' HTTP error message." The reason stays in the
        # node's log, stats and history (Auth); a desktop derives its message from the 401 itself.
        return error(X.unauthorized(creds[0]))
    if not sso.basic_allowed(mode, user):  # SSO: agents and supervisors sign in through the IdS
        node.stats["auth_sso_basic_refused"] += 1
        log.info("rest_unauthorized", user=creds[0], reason="sso_basic_refused", path=request.path)
        return error(X.unauthorized(creds[0]))
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


def build_app(node: RestNode) -> web.Application:
    app = web.Application(
        middlewares=[request_id_echo, cors, api_not_found, service_gate, authentication, unreadable_body],
        client_max_size=X.MAX_BODY_BYTES,
    )
    app[NODE_KEY] = node
    app[gadgets.STATS_KEY] = node.stats  # desktop content's renders and 304s, in the node's counters
    r = app.router
    r.add_get(f"{API}/SystemInfo", system_info)
    r.add_get(f"{API}/User/{{user}}", get_user)
    r.add_put(f"{API}/User/{{user}}", put_user)
    r.add_get(f"{API}/User/{{user}}/Dialogs", get_dialogs)
    r.add_post(f"{API}/User/{{user}}/Dialogs", post_dialogs)
    r.add_get(f"{API}/Dialog/{{dialog}}", get_dialog)
    r.add_put(f"{API}/Dialog/{{dialog}}", put_dialog)
    r.add_get(f"{API}/User/{{user}}/Media", get_media_list)
    r.add_get(f"{API}/User/{{user}}/Media/{{mrd}}", get_media)
    r.add_put(f"{API}/User/{{user}}/Media/{{mrd}}", put_media)
    r.add_get(f"{API}/User/{{user}}/ReasonCodes", get_reason_codes)
    r.add_get(f"{API}/ReasonCode/{{id}}", get_reason_code)
    r.add_get(f"{API}/User/{{user}}/WrapUpReasons", get_wrapup_reasons)
    r.add_get(f"{API}/Team/{{team}}", get_team)
    r.add_get(f"{API}/User/{{user}}/DesktopProperties", get_desktop_properties)
    r.add_get(f"{API}/User/{{user}}/LayoutConfig", get_layout_config)
    r.add_get(f"{API}/Devices", get_devices)
    admin_api.add_routes(app, USER_KEY)  # the administration API (administrators, publisher only)
    gadgets.add_routes(r)  # desktop content (not under /finesse/api: no credentials, no 503 gate)
    event_tunnel.add_routes(r)  # /tunnel/EventTunnel.js, static like the gadgets
    r.add_get(OPENAPI_PATH, openapi_json)  # not under /finesse/api: no credentials, no 503 gate
    r.add_get(thirdparty.THIRDPARTY_ROUTE, thirdparty_file)  # same-origin hosting: no credentials
    return app


# -- the target of a request: looked up and checked in one place -----------------------------------
def caller(request: web.Request) -> AuthUser:
    return request[USER_KEY]


def ascii_id(raw: str) -> int | None:
    """A numeric id in a path: ASCII digits only (``int()`` reads ARABIC-INDIC DIGIT THREE as 3),
    at most 10 of them."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else None


def refused(request: web.Request) -> web.Response:
    return error(X.invalid_authorization_user(caller(request).id))


# A lookup finds what the path names and checks the caller may act on it: the target, or the
# answer that refuses the request (401, 404).
Lookup = Callable[[web.Request, RestNode], "T | web.Response"]
TargetHandler = Callable[[web.Request, RestNode, T], Awaitable[web.Response]]


def on_target(lookup: Lookup[T]) -> Callable[[TargetHandler[T]], Handler]:
    """The handler runs with the node and the target ``lookup`` found, or never (the refusal is the
    answer). Every route that names a user, a dialog, a team or an MRD goes through one."""

    def wrap(handler: TargetHandler[T]) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            node = request.app[NODE_KEY]
            found = lookup(request, node)
            if isinstance(found, web.Response):
                return found
            return await handler(request, node, found)

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    return wrap


def user(access: Access) -> Lookup[AuthUser]:
    """The user named in the path, if the caller may ``access`` it (else 401; unknown: 404)."""

    def lookup(request: web.Request, node: RestNode) -> AuthUser | web.Response:
        target = node.core.directory.user(request.match_info["user"])
        if target is None:
            return error(X.not_found(X.NotFound.USER, request.match_info["user"]))
        if not may_act_on(caller(request), target, access):
            return refused(request)
        return target

    return lookup


def dialog(access: Access) -> Lookup[Dialog]:
    """The dialog named in the path, if the caller may ``access`` one of its agents' (else 401;
    unknown: 404). Dialog ids are sequential, so a refusal must not depend on guessing one."""

    def lookup(request: web.Request, node: RestNode) -> Dialog | web.Response:
        found = node.core.model.dialogs.get(request.match_info["dialog"])
        if found is None:
            return error(X.not_found(X.NotFound.DIALOG, request.match_info["dialog"]))
        me = caller(request)
        owners = (node.core.directory.agents.get(uid) or AuthUser(uid, uid) for uid in found.user_ids)
        if not any(may_act_on(me, owner, access) for owner in owners):
            return refused(request)
        return found

    return lookup


def team(request: web.Request, node: RestNode) -> X.TeamView | web.Response:
    """The team named in the path, if the caller may read it (else 401; unknown: 404)."""
    team_id = ascii_id(request.match_info["team"])
    view = None if team_id is None else node.core.team_view(team_id)
    if team_id is None or view is None:
        return error(X.not_found(X.NotFound.OTHER, request.match_info["team"], "Team not found"))
    if not may_read_team(caller(request), team_id):
        return refused(request)
    return view


def media(access: Access) -> Lookup[tuple[AuthUser, int]]:
    """The user and MRD named in the path, if the caller may ``access`` them."""
    of_user = user(access)

    def lookup(request: web.Request, node: RestNode) -> tuple[AuthUser, int] | web.Response:
        target = of_user(request, node)
        if isinstance(target, web.Response):
            return target
        mrd = ascii_id(request.match_info["mrd"])
        if mrd is None or mrd not in node.core.directory.mrds_of(target):
            return error(X.not_found(X.NotFound.OTHER, request.match_info["mrd"], "MRD not found"))
        return target, mrd

    return lookup


def accepted(problem: X.ErrorResponse | None) -> web.Response:
    """A command's answer: 202 (its outcome comes as an Update), or why it was refused at once."""
    return web.Response(status=202) if problem is None else error(problem)


# -- handlers ---------------------------------------------------------------------------------------
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(request.app.router, OPEN_PATHS))


async def system_info(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    return xml_response(node.core.system_info_document(node.now()))


@on_target(user(Access.READ))
async def get_user(request: web.Request, node: RestNode, target: AuthUser) -> web.Response:
    return xml_response(node.core.user_document(target.id))


@on_target(user(Access.CHANGE))
async def put_user(request: web.Request, node: RestNode, target: AuthUser) -> web.Response:
    try:
        update = X.parse_user_update(await read_body(request))
    except X.XmlInputError as exc:
        return error(exc.response)
    creds = parse_basic(request.headers.get("Authorization"))
    who = caller(request)
    password = creds[1] if creds and target.id == who.id else None
    request_id = request.headers.get("requestId", "")
    by = who if who.id != target.id else None  # a supervisor on a member of its team
    return accepted(
        node.command(lambda now: node.core.change_user_state(now, target, update, request_id, password, by))
    )


@on_target(user(Access.PARTICIPANT))  # the user's own desktop: nobody else's credentials
async def get_desktop_properties(request: web.Request, node: RestNode, target: AuthUser) -> web.Response:
    return xml_response(X.desktop_properties(node.config.desktop_properties))


@on_target(user(Access.READ))
async def get_dialogs(request: web.Request, node: RestNode, target: AuthUser) -> web.Response:
    listed = node.core.dialogs_listed(target.id)
    return xml_response(X.dialogs(node.core.dialog_view(d, target.id) for d in listed))


@on_target(dialog(Access.READ))
async def get_dialog(request: web.Request, node: RestNode, target: Dialog) -> web.Response:
    return xml_response(X.dialog(node.core.dialog_view(target.id)))


@on_target(user(Access.PARTICIPANT))  # a call is made from one's own extension only
async def post_dialogs(request: web.Request, node: RestNode, target: AuthUser) -> web.Response:
    """MAKE_CALL (fromAddress, toAddress): MAKE_CALL_REQ to the CTI server (202, then the dialog
    events on the Dialogs node of every agent the call reaches)."""
    try:
        action = X.parse_dialog_action(await read_body(request))
    except X.XmlInputError as exc:
        return error(exc.response)
    request_id = request.headers.get("requestId", "")
    return accepted(node.command(lambda now: node.core.make_call(now, target, action, request_id)))


@on_target(dialog(Access.PARTICIPANT))
async def put_dialog(request: web.Request, node: RestNode, target: Dialog) -> web.Response:
    """Call control: ANSWER, HOLD, RETRIEVE and DROP go to the CTI server (202, then the dialog
    events); CCX-only actions and those not emulated answer 501."""
    try:
        action = X.parse_dialog_action(await read_body(request))
    except X.XmlInputError as exc:
        return error(exc.response)
    who, request_id = caller(request), request.headers.get("requestId", "")
    return accepted(
        node.command(lambda now: node.core.dialog_action(now, who, target.id, action, request_id))
    )


@on_target(user(Access.READ))
async def get_media_list(request: web.Request, node: RestNode, target: AuthUser) -> web.Response:
    return xml_response(
        X.media_list(node.core.media_view(target.id, mrd) for mrd in node.core.directory.mrds_of(target))
    )


@on_target(media(Access.READ))
async def get_media(request: web.Request, node: RestNode, found: tuple[AuthUser, int]) -> web.Response:
    target, mrd = found
    return xml_response(X.media(node.core.media_view(target.id, mrd)))


@on_target(media(Access.CHANGE))
async def put_media(request: web.Request, node: RestNode, found: tuple[AuthUser, int]) -> web.Response:
    """Non-voice MRD: sign in, state, routable, Work to Active (202, then the Media event)."""
    target, mrd = found
    try:
        update = X.parse_media_update(await read_body(request))
    except X.XmlInputError as exc:
        return error(exc.response)
    if mrd == VOICE_MRD:  # the voice MRD's state belongs to PUT User
        return error(X.invalid_input("mrdId", "Use PUT User to change the voice MRD"))
    request_id = request.headers.get("requestId", "")
    return accepted(
        node.command(lambda now: node.core.change_media_state(now, target, mrd, update, request_id))
    )


@on_target(user(Access.PERSONAL))
async def get_reason_codes(request: web.Request, node: RestNode, target: AuthUser) -> web.Response:
    category = request.query.get("category", "")
    if category not in ("NOT_READY", "LOGOUT"):
        return error(X.invalid_input("category", "Invalid category specified"))
    codes = node.core.directory.reason_codes_for(category, target.team_id)  # global, and its team's
    return xml_response(X.reason_codes(codes, category))


async def get_reason_code(request: web.Request) -> web.Response:
    rc_id = ascii_id(request.match_info["id"])
    rc = None if rc_id is None else request.app[NODE_KEY].core.directory.reason_code_by_id(rc_id)
    if rc is None:
        return error(X.not_found(X.NotFound.OTHER, request.match_info["id"], "Reason Code not found"))
    return xml_response(X.reason_code(rc))


@on_target(user(Access.PERSONAL))
async def get_wrapup_reasons(request: web.Request, node: RestNode, target: AuthUser) -> web.Response:
    return xml_response(X.wrapup_reasons(node.core.directory.wrapup_reasons_for(target.team_id)))


@on_target(user(Access.PERSONAL))
async def get_layout_config(request: web.Request, node: RestNode, target: AuthUser) -> web.Response:
    """The desktop layout the user's desktop loads after sign-in: its team's, else the default
    (server/layout.py). Only the user itself (or an administrator) reads it."""
    layouts = node.layouts.layout
    gadgets = layouts.for_team(target.team_id)
    return xml_response(layout_config(target.id, gadgets, use_default=target.team_id not in layouts.teams))


@on_target(team)
async def get_team(request: web.Request, node: RestNode, view: X.TeamView) -> web.Response:
    return xml_response(X.team(view))


async def get_devices(request: web.Request) -> web.Response:
    """The devices of an extension (``?extension=N``): 400 without a valid one, 404 when no agent
    has it, 401 when the caller may not read that agent (an agent: its own extension only; a
    supervisor: its teams'; an administrator: any, as for GET User)."""
    node = request.app[NODE_KEY]
    extension = request.query.get("extension", "")
    if not (extension.isascii() and extension.isdigit() and len(extension) <= 15):
        return error(X.bad_request("extension", "Invalid extension specified"))
    owner = next((u for u in node.core.directory.agents.values() if u.extension == extension), None)
    if owner is None:
        return error(X.not_found(X.NotFound.OTHER, extension, "No devices for this extension"))
    if not may_act_on(caller(request), owner, Access.READ):
        return refused(request)
    return xml_response(devices([phone_of(extension)]))


async def thirdparty_file(request: web.Request) -> web.StreamResponse:
    return await thirdparty.serve(request, request.app[NODE_KEY].config.thirdparty_dir or None)
