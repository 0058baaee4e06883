"""The asyncio shell around :class:`AwdbDatabase`: the query API on the main port, the control plane
(``/emu/health``, ``/emu/faults``) on the admin port.

The query API takes the AWDB's login (:mod:`awdb_stub.login`, HTTP Basic) on every route but
``/ping``, as a SQL Server answers nothing before its login; without a configured login (a
standalone stub on loopback) it is open.

Queries run synchronously in the event loop: each is an index search of tens of microseconds
(measured in docs/awdb.md), far cheaper than handing them to a thread. Faults act on the query port
only, so the admin port always answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from awdb_stub.db import AwdbDatabase
from awdb_stub.login import REALM, Login, PeerLog
from awdb_stub.metrics import AwdbMetrics
from awdb_stub.seed import CATEGORIES
from emu_base import faults as F
from emu_base.admin import admin_routes, json_error, read_json_object
from emu_base.clock import Clock, LoopClock
from emu_base.httpbody import app_runner
from emu_base.logs import get_logger

log = get_logger()

API = "/awdb/v1"
DEFAULT_PORT = 1433
QUERY_MAX_BODY = 16 * 1024  # an authenticate body is ~60 bytes; anything near this is abuse
MAX_USER = 256
MAX_PASSWORD = 1024
OPEN_PATHS = {f"{API}/ping"}  # a liveness probe that reads nothing, like a TDS pre-login
LOG_FIELD_MAX = 120  # user names and paths are cut in log lines: one bad request, one short line

# The health state names the most drastic active fault.
FAULT_STATES = (
    (F.AWDB_REFUSE, "refusing"),
    (F.AWDB_HANG, "hanging"),
    (F.AWDB_ERROR, "erroring"),
    (F.AWDB_SLOW, "slow"),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _read(fault: F.Fault, active: bool) -> None:
    """A fault that every request reads while it is active (``_serve``): nothing to do on a change."""


class ClientError(Exception):
    """A request the stub refuses: answered ``{"error": message}`` with ``status`` and logged once."""

    def __init__(self, status: int, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields


@dataclass
class ServerConfig:
    name: str = "awdb-a"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0: any free port
    admin_host: str | None = None  # None: host
    admin_port: int | None = None  # None: port + 1 (any free port when port is 0); -1: no admin server
    admin_token: str | None = None
    max_body: int = QUERY_MAX_BODY
    login: Login | None = None  # the AWDB login every query route requires; None: an open API


def _cut(value: str) -> str:
    return value if len(value) <= LOG_FIELD_MAX else value[:LOG_FIELD_MAX] + "..."


def _listen_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # SO_REUSEADDR (set by create_server): the port is reopened at once after a `refuse` fault or a restart.
    return socket.create_server((host, port), family=family, backlog=1024)


def _text(value: Any, name: str, max_len: int) -> str:
    if value is None:
        raise ClientError(400, f"{name} is required")
    if not isinstance(value, str):
        raise ClientError(400, f"{name} must be a string")
    if len(value) > max_len:
        raise ClientError(400, f"{name} is longer than {max_len} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON escapes: SQLite could not bind them
        raise ClientError(400, f"{name} is not valid Unicode") from None
    return value


def _int_param(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ClientError(400, f"{name} must be an integer, got {_cut(value)!r}") from None
    if not -(2**63) <= number < 2**63:
        raise ClientError(400, f"{name} is out of range")
    return number


class _AiohttpLogs(logging.Handler):
    """aiohttp's own records as one JSON line each, instead of a multi-line traceback.

    They are about requests that never reach a route: bytes that are not HTTP, a header over 8190
    bytes (aiohttp answers those 400 itself and closes the connection). aiohttp logs a first
    request that is not HTTP at debug level; it is still one bad request, so it gets its line.
    """

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        bad_http = isinstance(exc, HttpProcessingError)
        if record.levelno < logging.WARNING and not bad_http:
            return
        log.warning(
            "awdb_bad_http" if bad_http else "awdb_http_error",
            logger=record.name,
            message=_cut(record.getMessage()),
            error=_cut(" ".join(repr(exc).split())) if exc is not None else None,
        )


def json_aiohttp_logs() -> None:
    """Route the ``aiohttp`` loggers through structlog (process-wide: called by ``__main__``)."""
    logger = logging.getLogger("aiohttp")
    if not any(isinstance(h, _AiohttpLogs) for h in logger.handlers):
        logger.addHandler(_AiohttpLogs())
    logger.propagate = False
    logging.getLogger("aiohttp.server").setLevel(logging.DEBUG)  # the filter is in emit()


class AwdbServer:
    def __init__(self, config: ServerConfig, db: AwdbDatabase, clock: Clock | None = None) -> None:
        self.config = config
        self.db = db
        self.clock: Clock = clock or LoopClock()
        self.name = config.name
        self.port = config.port
        self.admin_port: int | None = None
        # hang and refuse act here; slow and error are read by each request (_serve).
        self.faults = F.FaultRegistry(
            F.AWDB,
            {F.AWDB_HANG: self._hang, F.AWDB_REFUSE: self._refuse, F.AWDB_SLOW: _read, F.AWDB_ERROR: _read},
        )
        self.stats: Counter[str] = Counter()
        self.held = 0  # requests waiting out a `hang` fault
        self._refusals_logged = PeerLog()
        self.agent_count = db.agent_count()  # the database does not change while serving
        self._unhung = asyncio.Event()
        self._unhung.set()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._admin_runner: web.AppRunner | None = None
        self.metrics = AwdbMetrics(self)  # GET /metrics on the control plane (docs/metrics.md)

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        self._runner = app_runner(
            self._query_app(),
            access_log=None,
            # A client that gives up (its timeout during `hang`) ends its request here too.
            handler_cancellation=True,
            shutdown_timeout=2.0,
        )
        await self._runner.setup()
        await self._open_listener()
        if cfg.admin_port != -1:
            await self._start_admin()
        log.info(
            "awdb_started",
            name=self.name,
            host=cfg.host,
            port=self.port,
            admin_port=self.admin_port,
            db=self.db.path,
            agents=self.agent_count,
            login_required=cfg.login is not None,
            seeded_at=self.db.info().get("seeded_at"),
            source=self.db.info().get("source"),
        )

    async def stop(self) -> None:
        self._stopping = True
        self._unhung.set()  # held requests end (503) instead of delaying the shutdown
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
            self._admin_runner = None
        log.info("awdb_stopped", name=self.name, requests=self.stats["requests"])

    @property
    def listening(self) -> bool:
        return self._site is not None

    async def _open_listener(self) -> None:
        assert self._runner is not None
        sock = _listen_socket(self.config.host, self.port)
        self.port = sock.getsockname()[1]  # a later reopen (after `refuse`) uses the same port
        site = web.SockSite(self._runner, sock, backlog=1024)
        await site.start()
        self._site = site

    async def _close_listener(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None
        server = self._runner.server if self._runner is not None else None
        for conn in server.connections if server is not None else []:
            conn.force_close()  # kept-alive connections would otherwise still be answered

    def admin_app(self) -> web.Application:
        """The control plane (the /emu routes of every component; the AWDB stub adds none)."""
        return admin_routes(
            self.name, "awdb", self.health, self.faults, self.config.admin_token, self.metrics.registry
        )

    async def _start_admin(self) -> None:
        cfg = self.config
        self._admin_runner = app_runner(self.admin_app(), access_log=None)
        await self._admin_runner.setup()
        port = cfg.admin_port if cfg.admin_port is not None else (self.port + 1 if cfg.port else 0)
        sock = _listen_socket(cfg.admin_host or cfg.host, port)
        self.admin_port = sock.getsockname()[1]
        await web.SockSite(self._admin_runner, sock).start()

    # -- faults --------------------------------------------------------------------------------------
    def _hang(self, fault: F.Fault, active: bool) -> None:
        if self.faults.has(F.AWDB_HANG):
            self._unhung.clear()
        else:
            self._unhung.set()

    async def _refuse(self, fault: F.Fault, active: bool) -> None:
        if self.faults.has(F.AWDB_REFUSE) and self._site is not None:
            await self._close_listener()
            log.info("awdb_not_listening", name=self.name, port=self.port)
        elif not self.faults.has(F.AWDB_REFUSE) and self._site is None and not self._stopping:
            try:
                await self._open_listener()
            except OSError as exc:
                log.error("awdb_listen_failed", name=self.name, port=self.port, error=str(exc))
                return
            log.info("awdb_listening", name=self.name, port=self.port)

    @property
    def state(self) -> str:
        return next((state for kind, state in FAULT_STATES if self.faults.has(kind)), "up")

    def health(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "host": self.config.host,
            "port": self.port,
            "listening": self.listening,
            "agents": self.agent_count,
            "login_required": self.config.login is not None,
            "requests": self.stats["requests"],
            "held": self.held,
            "db": self.db.path,
            "faults": [f.to_json() for f in self.faults.active()],
            "stats": dict(self.stats),
        }

    # -- query API -----------------------------------------------------------------------------------
    def _query_app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.config.max_body,
            # Metrics outermost: a query's latency includes a slow fault, its status an injected one.
            middlewares=[self.metrics.middleware(), self._serve, self._login, self._errors],
        )
        r = app.router
        r.add_get(f"{API}/ping", self._ping)
        r.add_post(f"{API}/authenticate", self._authenticate)
        r.add_get(f"{API}/agents", self._agents)
        r.add_get(f"{API}/agents/{{key}}", self._agent)
        r.add_get(f"{API}/teams", self._teams)
        r.add_get(f"{API}/teams/{{team_id}}", self._team)
        r.add_get(f"{API}/reason-codes", self._reason_codes)
        r.add_get(f"{API}/wrapup-reasons", self._wrapup_reasons)
        r.add_get(f"{API}/mrds", self._mrds)
        r.add_get(f"{API}/skill-groups", self._skill_groups)
        return app

    @web.middleware
    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Faults first (hang, then slow, then error), then the route; counts every answer."""
        if not self._unhung.is_set():
            self.held += 1
            try:
                await self._unhung.wait()
            finally:
                self.held -= 1
        if self._stopping:
            return json_error(503, "shutting down")
        slow = self.faults.first(F.AWDB_SLOW)
        if slow is not None:
            await self.clock.sleep(slow.params["ms"] / 1000.0)
        error = self.faults.first(F.AWDB_ERROR)
        if error is not None:
            status = error.params["status"]
            response: web.StreamResponse = json_error(status, f"injected fault: HTTP {status}")
            self.stats["injected_errors"] += 1
        else:
            response = await handler(request)
        self.stats["requests"] += 1
        return response

    @web.middleware
    async def _login(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The AWDB login before any route (unknown routes too: nothing is told to a stranger)."""
        login = self.config.login
        if login is None or request.path in OPEN_PATHS or login.accepts(request.headers.get("Authorization")):
            return await handler(request)
        self.stats["login_refused"] += 1
        self.stats["http_401"] += 1
        peer = request.remote or "?"
        seen = self._refusals_logged.note(peer)
        if seen == "first":
            log.warning(
                "awdb_login_refused",
                peer=peer,
                method=request.method,
                path=_cut(request.path),
                credentials="wrong" if "Authorization" in request.headers else "missing",
                note="logged once per peer address",
            )
        elif seen == "limit":
            log.warning("awdb_login_refusals_not_logged", peers=self._refusals_logged.limit)
        response = json_error(401, "AWDB login required (HTTP Basic)")
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
        return response

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every refusal becomes a JSON error, logged as one line; a bug answers 500, never kills."""
        fields: dict[str, Any] = {}
        try:
            return await handler(request)
        except ClientError as exc:
            status, message, fields = exc.status, exc.message, exc.fields
        except web.HTTPException as exc:  # router 404/405, the body cap's 413, read_json_object's 400
            if exc.status < 400:
                raise
            status, message = exc.status, self._http_error_message(request, exc)
        except Exception as exc:
            self.stats["internal_errors"] += 1
            log.exception("awdb_internal_error", method=request.method, path=_cut(request.path))
            return json_error(500, f"internal error: {type(exc).__name__}")
        self.stats[f"http_{status}"] += 1
        log.info(
            "awdb_rejected",
            status=status,
            method=request.method,
            path=_cut(request.path),
            error=_cut(message),
            **fields,
        )
        return json_error(status, message)

    @staticmethod
    def _http_error_message(request: web.Request, exc: web.HTTPException) -> str:
        if exc.status == 404:
            return f"no such route: {_cut(request.path)}"
        if exc.status == 405:
            return f"method {request.method} not allowed here"
        if exc.content_type == "application/json" and exc.text:
            try:
                return str(json.loads(exc.text)["error"])
            except (ValueError, KeyError, TypeError):
                pass
        return exc.text or exc.reason

    async def _ping(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True, "name": self.name})

    async def _authenticate(self, request: web.Request) -> web.Response:
        max_body = self.config.max_body
        if request.content_length is not None and request.content_length > max_body:
            raise ClientError(413, f"body larger than {max_body} bytes")
        try:
            body = await read_json_object(request)
        except (LookupError, RecursionError):  # an unknown charset; JSON nested past the parser's depth
            raise ClientError(400, "body is not JSON") from None
        user = _text(body.get("user"), "user", MAX_USER)
        password = _text(body.get("password"), "password", MAX_PASSWORD)
        if not user:
            raise ClientError(400, "user must not be empty")
        agent = self.db.authenticate(user, password)
        if agent is None:
            self.stats["authenticate_failed"] += 1
            # The same answer for an unknown user and a wrong password: no user enumeration.
            raise ClientError(401, "invalid credentials", user=_cut(user))
        self.stats["authenticate_ok"] += 1
        log.debug("awdb_authenticated", user=_cut(user), agent_id=agent["id"])
        return web.json_response({"agent": agent})

    async def _agent(self, request: web.Request) -> web.Response:
        key = _text(request.match_info["key"], "agent id or login", MAX_USER)
        agent = self.db.agent(key)
        if agent is None:
            raise ClientError(404, f"unknown agent {_cut(key)!r}")
        return web.json_response({"agent": agent})

    async def _agents(self, request: web.Request) -> web.Response:
        raw = request.query.get("team_id")
        team_id = None if raw is None else _int_param(raw, "team_id")
        return web.json_response({"agents": self.db.agents(team_id)})

    async def _teams(self, _: web.Request) -> web.Response:
        return web.json_response({"teams": self.db.teams()})

    async def _team(self, request: web.Request) -> web.Response:
        team_id = _int_param(request.match_info["team_id"], "team id")
        team = self.db.team(team_id)
        if team is None:
            raise ClientError(404, f"unknown team {team_id}")
        return web.json_response({"team": team})

    async def _reason_codes(self, request: web.Request) -> web.Response:
        category = request.query.get("category")
        if category is not None:
            category = category.upper()
            if category not in CATEGORIES:
                raise ClientError(400, f"category must be one of {list(CATEGORIES)}")
        return web.json_response({"reason_codes": self.db.reason_codes(category)})

    async def _wrapup_reasons(self, _: web.Request) -> web.Response:
        return web.json_response({"wrapup_reasons": self.db.wrapup_reasons()})

    async def _mrds(self, _: web.Request) -> web.Response:
        return web.json_response({"mrds": self.db.mrds()})

    async def _skill_groups(self, _: web.Request) -> web.Response:
        return web.json_response({"skill_groups": self.db.skill_groups()})
