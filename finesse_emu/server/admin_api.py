"""The Finesse administration API of a node: the configuration REST routes an administrator uses
(Cisco's "Finesse configuration APIs support the Finesse administration console").

``GET|PUT /finesse/api/SystemConfig`` (the CTI servers, A and B: a change reaches the CTI link for
its next connection attempt, so a new B side is the one the next failover tries),
``GET|PUT /finesse/api/EnterpriseDatabaseConfig`` (the AWDBs: from the next request on),
``GET|PUT /finesse/api/ClusterConfig`` (the secondary node, as SystemInfo shows it),
``GET|PUT /finesse/api/LayoutConfig/default`` and ``/finesse/api/Team/{id}/LayoutConfig`` (the
desktop layouts: the desktops that load next), ``GET|PUT /finesse/api/Team/{id}/ReasonCodes`` and
``.../WrapUpReasons`` (a team's non-global ones), ``GET|PUT /finesse/api/DesktopProperties`` and
``GET|PUT /finesse/api/CorsConfig`` (emulator paths for what a real node sets with its CLI),
``GET|POST /finesse/api/ReasonCodes``, ``PUT|DELETE /finesse/api/ReasonCode/{id}``,
``GET|POST /finesse/api/WrapUpReasons``, ``GET|PUT|DELETE /finesse/api/WrapUpReason/{id}``.

The 503 gate of an OUT_OF_SERVICE node does not apply to them (:func:`configuration_route`).
Every route: the caller is authenticated like any REST request (so with both AWDBs down and the
administrator's cached credentials expired, 401: "Administrators cannot update or retrieve settings
in the Cisco Finesse administration console"), then :func:`.administration.refusal` (401 for anyone
but an administrator, 403 on the subscriber: "Configuration APIs cannot be run against the secondary
Finesse server"). A real node applies most of these at its next restart; the emulator applies them
at once, each where it is next read, and changes only this node (nothing is replicated to the
subscriber). The node hands itself over under :data:`ADMIN_KEY` (it needs more of the node than
:class:`.rest.RestNode`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from aiohttp import web

from emu_base.awdb_login import AwdbLogin
from emu_base.httpbody import read_body
from emu_base.logs import get_logger
from finesse_emu.server import administration as A
from finesse_emu.server import xml as X
from finesse_emu.server.auth.awdb_client import AwdbClient
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.config import DESKTOP_PROPERTIES, NodeConfig
from finesse_emu.server.core import NodeCore
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.cors import CorsPolicy
from finesse_emu.server.cti.config import CtiSide
from finesse_emu.server.layout import DesktopLayout
from finesse_emu.server.layout_admin import LayoutState
from finesse_emu.server.xml.cluster_config_api import cluster_config, parse_cluster_config
from finesse_emu.server.xml.common import API
from finesse_emu.server.xml.cors_config_api import cors_config, parse_cors_config
from finesse_emu.server.xml.database_config_api import database_config, parse_database_config
from finesse_emu.server.xml.desktop_api import desktop_properties, parse_desktop_properties
from finesse_emu.server.xml.layout_api import (
    default_layout_config,
    parse_default_layout_config,
    parse_team_layout_config,
    team_layout_config,
)
from finesse_emu.server.xml.reasons_api import (
    ReasonCodeInput,
    WrapUpReasonInput,
    parse_reason_code,
    parse_team_assignment,
    parse_wrapup_reason,
    reason_codes_admin,
    team_reason_codes,
    wrapup_reasons_admin,
)
from finesse_emu.server.xml.system_config_api import parse_system_config, system_config

log = get_logger()

# The node setting beside the desktop properties (read by the node after a CTI reconnect).
AUTO_WORK = "enableAutoWorkModeStateChange"


class CtiSides(Protocol):
    @property
    def sides(self) -> tuple[CtiSide, ...]: ...

    def set_sides(self, sides: Sequence[tuple[str, str, int]]) -> None: ...


class AdminNode(Protocol):
    """What the administration API needs of a node (:class:`~finesse_emu.server.node.FinesseNode`)."""

    @property
    def config(self) -> NodeConfig: ...

    @property
    def core(self) -> NodeCore: ...

    @property
    def cti(self) -> CtiSides: ...

    @property
    def awdb(self) -> AwdbClient: ...

    @property
    def cors(self) -> CorsPolicy: ...

    @property
    def layouts(self) -> LayoutState: ...

    def set_cors_origins(self, origins: Iterable[str]) -> list[str]: ...


@dataclass
class DatabaseNames:
    """EnterpriseDatabaseConfig's databaseName and domain: shown and kept, used by nothing (the
    AWDB stub has one database and no Windows domain)."""

    name: str = ""
    domain: str = ""


ADMIN_KEY: web.AppKey[AdminNode] = web.AppKey("finesse_admin_node")
NAMES_KEY: web.AppKey[DatabaseNames] = web.AppKey("finesse_admin_database_names", DatabaseNames)
# Where the REST API's authentication put the caller (rest.py's key, handed over at registration).
CALLER_KEY: web.AppKey[web.RequestKey[AuthUser]] = web.AppKey("finesse_admin_caller_key")
Handler = Callable[[web.Request, AdminNode], Awaitable[web.Response]]
Route = Callable[[web.Request], Awaitable[web.Response]]


def _xml(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/xml", charset="utf-8")


def _error(resp: X.ErrorResponse) -> web.Response:
    return _xml(resp.body, resp.status)


def administrator(handler: Handler) -> Route:
    """The handler runs for an administrator on the publisher, else the refusal is the answer."""

    async def run(request: web.Request) -> web.Response:
        node = request.app.get(ADMIN_KEY)
        key = request.app.get(CALLER_KEY)
        caller = None if key is None else request.get(key)  # set by rest.basic_auth before the route
        if node is None or caller is None:
            return _error(X.unauthorized(""))
        problem = A.refusal(caller, node.config.role)
        if problem is not None:
            return _error(problem)
        return await handler(request, node)

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


async def _body(request: web.Request) -> bytes:
    return await read_body(request)


def _id(request: web.Request) -> int | None:
    raw = request.match_info["id"]
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else None


# -- SystemConfig ----------------------------------------------------------------------------------
@administrator
async def get_system_config(request: web.Request, node: AdminNode) -> web.Response:
    return _xml(system_config(A.system_config_view(node.cti.sides, node.config.peripheral_id)))


@administrator
async def put_system_config(request: web.Request, node: AdminNode) -> web.Response:
    try:
        update = parse_system_config(await _body(request))
    except X.XmlInputError as exc:
        return _error(exc.response)
    sides = A.cti_sides_after(node.cti.sides, update)
    if isinstance(sides, X.ErrorResponse):
        return _error(sides)
    node.cti.set_sides(sides)
    node.config.cti_sides = list(sides)  # SystemInfo's ctiServers
    if update.peripheral_id is not None:
        node.config.peripheral_id = update.peripheral_id  # the next CTI request carries it
    log.info(
        "finesse_admin_system_config", sides=[list(s) for s in sides], peripheral_id=node.config.peripheral_id
    )
    return _xml(system_config(A.system_config_view(node.cti.sides, node.config.peripheral_id)))


# -- EnterpriseDatabaseConfig ----------------------------------------------------------------------
def _database(request: web.Request, node: AdminNode) -> bytes:
    names = request.app[NAMES_KEY]
    user = node.awdb.login.user if node.awdb.login is not None else ""
    return database_config(A.database_config_view(node.awdb.urls, user, names.name, names.domain))


@administrator
async def get_database_config(request: web.Request, node: AdminNode) -> web.Response:
    return _xml(_database(request, node))


@administrator
async def put_database_config(request: web.Request, node: AdminNode) -> web.Response:
    try:
        update = parse_database_config(await _body(request))
    except X.XmlInputError as exc:
        return _error(exc.response)
    urls = A.awdb_urls_after(node.awdb.urls, update)
    login: AwdbLogin | bool | None = True
    if update.password is not None:
        login = AwdbLogin.of(update.username or node.config.awdb_user, update.password)
    elif update.username is not None:
        return _error(X.parameter_missing("password", "A new username needs its password"))
    node.awdb.configure(urls, login)
    node.config.awdb_urls = urls
    names = request.app[NAMES_KEY]
    names.name = update.database_name if update.database_name is not None else names.name
    names.domain = update.domain if update.domain is not None else names.domain
    log.info("finesse_admin_database_config", urls=urls, login_changed=login is not True)
    return _xml(_database(request, node))


# -- ClusterConfig ---------------------------------------------------------------------------------
def _cluster(node: AdminNode) -> bytes:
    cfg = node.config
    primary = cfg.primary_host or (cfg.domain if cfg.role == "publisher" else "")
    return cluster_config(A.cluster_config_view(primary, cfg.secondary_host))


@administrator
async def get_cluster_config(request: web.Request, node: AdminNode) -> web.Response:
    return _xml(_cluster(node))


@administrator
async def put_cluster_config(request: web.Request, node: AdminNode) -> web.Response:
    try:
        node.config.secondary_host = parse_cluster_config(await _body(request))  # SystemInfo's
    except X.XmlInputError as exc:
        return _error(exc.response)
    log.info("finesse_admin_cluster_config", secondary=node.config.secondary_host)
    return _xml(_cluster(node))


# -- DesktopProperties -----------------------------------------------------------------------------
def _properties(node: AdminNode) -> bytes:
    cfg = node.config
    return desktop_properties({**cfg.desktop_properties, AUTO_WORK: cfg.enable_auto_work_mode_state_change})


@administrator
async def get_desktop_properties_admin(request: web.Request, node: AdminNode) -> web.Response:
    return _xml(_properties(node))


@administrator
async def put_desktop_properties_admin(request: web.Request, node: AdminNode) -> web.Response:
    try:
        given = parse_desktop_properties(await _body(request), (*DESKTOP_PROPERTIES, AUTO_WORK))
    except X.XmlInputError as exc:
        return _error(exc.response)
    if AUTO_WORK in given:
        node.config.enable_auto_work_mode_state_change = given.pop(AUTO_WORK)
    node.config.desktop_properties = {**node.config.desktop_properties, **given}
    log.info("finesse_admin_desktop_properties", properties=node.config.desktop_properties)
    return _xml(_properties(node))


# -- CorsConfig ------------------------------------------------------------------------------------
@administrator
async def get_cors_config(request: web.Request, node: AdminNode) -> web.Response:
    return _xml(cors_config(node.cors.origins))


@administrator
async def put_cors_config(request: web.Request, node: AdminNode) -> web.Response:
    try:
        origins = parse_cors_config(await _body(request))
        listed = node.set_cors_origins(origins)
    except X.XmlInputError as exc:
        return _error(exc.response)
    except ValueError as exc:
        return _error(X.invalid_input("origin", str(exc)[:200]))
    return _xml(cors_config(listed))


# -- LayoutConfig: the default layout and the teams' -------------------------------------------
@administrator
async def get_default_layout(request: web.Request, node: AdminNode) -> web.Response:
    return _xml(default_layout_config(node.layouts.layout.default))


@administrator
async def put_default_layout(request: web.Request, node: AdminNode) -> web.Response:
    try:
        gadgets = parse_default_layout_config(await _body(request))
    except X.XmlInputError as exc:
        return _error(exc.response)
    current = node.layouts.layout
    node.layouts.set(DesktopLayout(gadgets, current.teams))  # the desktops that load next
    return _xml(default_layout_config(gadgets))


def _team(request: web.Request, node: AdminNode) -> int | X.ErrorResponse:
    team_id = _id(request)
    if team_id is None or team_id not in node.core.directory.teams:
        return X.not_found(X.NotFound.OTHER, request.match_info["id"], "Team not found")
    return team_id


def _team_layout(node: AdminNode, team_id: int) -> bytes:
    layout = node.layouts.layout
    return team_layout_config(team_id, layout.for_team(team_id), team_id not in layout.teams)


@administrator
async def get_team_layout(request: web.Request, node: AdminNode) -> web.Response:
    team_id = _team(request, node)
    return _error(team_id) if isinstance(team_id, X.ErrorResponse) else _xml(_team_layout(node, team_id))


@administrator
async def put_team_layout(request: web.Request, node: AdminNode) -> web.Response:
    team_id = _team(request, node)
    if isinstance(team_id, X.ErrorResponse):
        return _error(team_id)
    try:
        gadgets = parse_team_layout_config(await _body(request))
    except X.XmlInputError as exc:
        return _error(exc.response)
    current = node.layouts.layout
    teams = {t: g for t, g in current.teams.items() if t != team_id}
    if gadgets is not None:
        teams[team_id] = gadgets
    node.layouts.set(DesktopLayout(current.default, teams))
    return _xml(_team_layout(node, team_id))


# -- reason codes and wrap-up reasons: one set of handlers, one table row per kind ---------------
V = TypeVar("V", X.ReasonCodeView, X.WrapUpReasonView)
In = TypeVar("In", ReasonCodeInput, WrapUpReasonInput)


@dataclass(frozen=True)
class Reasons(Generic[V, In]):
    """One kind of reason an administrator manages: its documents and its decisions
    (:mod:`.administration`). Both kinds are served by the same handlers (:func:`reason_routes`)."""

    item: str  # "ReasonCode": the resource's path and element; its list is item + "s"
    title: str  # "Reason Code": in the 404 for an unknown id
    parse: Callable[[bytes], In]
    render: Callable[[V], bytes]
    create: Callable[[Directory, In], V | X.ErrorResponse]
    update: Callable[[Directory, int, In], V | X.ErrorResponse]
    delete: Callable[[Directory, int], X.ErrorResponse | None]
    team: Callable[[Directory, int], list[V]]  # the non-global ones assigned to a team
    render_team: Callable[[list[V]], bytes]
    assign: Callable[[Directory, int, Sequence[int]], X.ErrorResponse | None]

    @property
    def items(self) -> str:
        return f"{self.item}s"

    def not_found(self, request: web.Request) -> X.ErrorResponse:
        return X.not_found(X.NotFound.OTHER, request.match_info["id"], f"{self.title} not found")


REASON_CODES: Reasons[X.ReasonCodeView, ReasonCodeInput] = Reasons(
    "ReasonCode",
    "Reason Code",
    parse_reason_code,
    X.reason_code,
    A.create_reason_code,
    A.update_reason_code,
    A.delete_reason_code,
    A.team_reason_codes,
    team_reason_codes,
    A.assign_reason_codes,
)
WRAPUP_REASONS: Reasons[X.WrapUpReasonView, WrapUpReasonInput] = Reasons(
    "WrapUpReason",
    "Wrap-Up Reason",
    parse_wrapup_reason,
    X.wrapup_reason,
    A.create_wrapup_reason,
    A.update_wrapup_reason,
    A.delete_wrapup_reason,
    A.team_wrapup_reasons,
    wrapup_reasons_admin,
    A.assign_wrapup_reasons,
)


def _named(handler: Handler, name: str) -> Route:
    handler.__name__ = name
    return administrator(handler)


def reason_routes(kind: Reasons[V, In]) -> list[tuple[str, str, Route]]:
    """A team's assignment (get, replace), then create, replace and delete of one ``kind``."""
    slug = kind.item.lower()

    async def get_team(request: web.Request, node: AdminNode) -> web.Response:
        team_id = _team(request, node)
        if isinstance(team_id, X.ErrorResponse):
            return _error(team_id)
        return _xml(kind.render_team(kind.team(node.core.directory, team_id)))

    async def put_team(request: web.Request, node: AdminNode) -> web.Response:
        team_id = _team(request, node)
        if isinstance(team_id, X.ErrorResponse):
            return _error(team_id)
        try:
            ids = parse_team_assignment(await _body(request), kind.items, kind.item)
        except X.XmlInputError as exc:
            return _error(exc.response)
        problem = kind.assign(node.core.directory, team_id, ids)
        if problem is not None:
            return _error(problem)
        return _xml(kind.render_team(kind.team(node.core.directory, team_id)))

    async def create(request: web.Request, node: AdminNode) -> web.Response:
        try:
            given = kind.parse(await _body(request))
        except X.XmlInputError as exc:
            return _error(exc.response)
        made = kind.create(node.core.directory, given)
        if isinstance(made, X.ErrorResponse):
            return _error(made)
        log.info("finesse_admin_reason_created", kind=kind.item, id=made.id, label=made.label)
        response = _xml(kind.render(made))
        response.headers["Location"] = made.uri
        return response

    async def put(request: web.Request, node: AdminNode) -> web.Response:
        item_id = _id(request)
        if item_id is None:
            return _error(kind.not_found(request))
        try:
            given = kind.parse(await _body(request))
        except X.XmlInputError as exc:
            return _error(exc.response)
        changed = kind.update(node.core.directory, item_id, given)
        return _error(changed) if isinstance(changed, X.ErrorResponse) else _xml(kind.render(changed))

    async def delete(request: web.Request, node: AdminNode) -> web.Response:
        item_id = _id(request)
        problem = kind.not_found(request) if item_id is None else kind.delete(node.core.directory, item_id)
        return _error(problem) if problem is not None else web.Response(status=200)

    return [
        ("GET", f"{API}/Team/{{id}}/{kind.items}", _named(get_team, f"get_team_{slug}s")),
        ("PUT", f"{API}/Team/{{id}}/{kind.items}", _named(put_team, f"put_team_{slug}s")),
        ("POST", f"{API}/{kind.items}", _named(create, f"create_{slug}")),
        ("PUT", f"{API}/{kind.item}/{{id}}", _named(put, f"put_{slug}")),
        ("DELETE", f"{API}/{kind.item}/{{id}}", _named(delete, f"delete_{slug}")),
    ]


# What differs: the reason codes' list is by category; a wrap-up reason is also read by id here.
@administrator
async def list_reason_codes(request: web.Request, node: AdminNode) -> web.Response:
    category = request.query.get("category", "ALL")
    found = A.reason_codes_of(node.core.directory, category)
    if isinstance(found, X.ErrorResponse):
        return _error(found)
    return _xml(reason_codes_admin(found, category))


@administrator
async def list_wrapup_reasons(request: web.Request, node: AdminNode) -> web.Response:
    return _xml(wrapup_reasons_admin(node.core.directory.wrapup_reasons))


@administrator
async def get_wrapup_reason(request: web.Request, node: AdminNode) -> web.Response:
    wid = _id(request)
    found = (
        WRAPUP_REASONS.not_found(request) if wid is None else A.wrapup_reason_by_id(node.core.directory, wid)
    )
    return _error(found) if isinstance(found, X.ErrorResponse) else _xml(X.wrapup_reason(found))


ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("GET", f"{API}/SystemConfig", get_system_config),
    ("PUT", f"{API}/SystemConfig", put_system_config),
    ("GET", f"{API}/EnterpriseDatabaseConfig", get_database_config),
    ("PUT", f"{API}/EnterpriseDatabaseConfig", put_database_config),
    ("GET", f"{API}/ClusterConfig", get_cluster_config),
    ("PUT", f"{API}/ClusterConfig", put_cluster_config),
    ("GET", f"{API}/DesktopProperties", get_desktop_properties_admin),
    ("PUT", f"{API}/DesktopProperties", put_desktop_properties_admin),
    ("GET", f"{API}/CorsConfig", get_cors_config),
    ("PUT", f"{API}/CorsConfig", put_cors_config),
    ("GET", f"{API}/LayoutConfig/default", get_default_layout),
    ("PUT", f"{API}/LayoutConfig/default", put_default_layout),
    ("GET", f"{API}/Team/{{id}}/LayoutConfig", get_team_layout),
    ("PUT", f"{API}/Team/{{id}}/LayoutConfig", put_team_layout),
    ("GET", f"{API}/ReasonCodes", list_reason_codes),
    *reason_routes(REASON_CODES),
    ("GET", f"{API}/WrapUpReasons", list_wrapup_reasons),
    ("GET", f"{API}/WrapUpReason/{{id}}", get_wrapup_reason),
    *reason_routes(WRAPUP_REASONS),
)
PATHS = frozenset((method, path) for method, path, _ in ROUTES)


def _pattern(path: str) -> str:
    return re.escape(path).replace(re.escape("{id}"), "[^/]+")


# One pattern per method, every administration path of that method in it: one match per request
# asked about (a loop over each path's own pattern cost tens of microseconds, as much as a tenth of
# what serving a REST request costs).
_BY_METHOD = {
    method: re.compile("|".join(sorted(_pattern(p) for m, p in PATHS if m == method)))
    for method in {m for m, _ in PATHS}
}


def configuration_route(method: str, path: str) -> bool:
    """Whether ``method path`` is an administration route: the node's 503 gate lets these through.
    A node that is out of service is still configured through its administration console (a new
    node is OUT_OF_SERVICE until its CTI servers are set there), so the configuration APIs answer
    while the desktop APIs answer 503."""
    pattern = _BY_METHOD.get(method)
    return pattern is not None and pattern.fullmatch(path) is not None


def add_routes(app: web.Application, caller: web.RequestKey[AuthUser]) -> None:
    """The administration routes on the REST app; ``caller``: where authentication puts the
    authenticated user. The node sets :data:`ADMIN_KEY` before serving."""
    app[NAMES_KEY] = DatabaseNames()
    app[CALLER_KEY] = caller
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
