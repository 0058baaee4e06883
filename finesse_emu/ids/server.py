"""The emulated Cisco Identity Service as a process: the asyncio shell of :class:`IdsCore`.

Routes (Cisco IdS's OAuth endpoints, on its port 8553 as on the product; HTTPS with the deployment
CA's certificate when one is given):

- ``GET /ids/v1/oauth/authorize?response_type=code&client_id=..&redirect_uri=..&state=..``: the
  emulated identity provider's sign-in page (an HTML form; a real IdS redirects the browser to the
  customer's IdP, a SAML exchange that is not emulated);
- ``POST /ids/v1/oauth/authorize`` (form: the same fields, ``username``, ``password``): the IdP
  sign-in; 302 to ``redirect_uri?code=..&state=..``, or the OAuth error;
- ``POST /ids/v1/oauth/token`` (form): RFC 6749's token endpoint, JSON in the answer;
- ``GET /ids/v1/status``: whether the service is up (no credentials).

Every refusal is RFC 6749's JSON error, logged once (``ids_refused``); a form that cannot be read
(over the size cap, not url-encoded) is ``invalid_request``, never a 500. The control plane
(``/emu/health``, ``/emu/faults``: no fault kinds of its own yet; kill and hang are process faults)
is on the admin port.
"""

from __future__ import annotations

import html
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from emu_base.admin import admin_routes, bound_port
from emu_base.clock import Clock, LoopClock
from emu_base.faults import FaultRegistry
from emu_base.httpbody import app_runner
from emu_base.logs import get_logger
from emu_base.metrics import HttpMetrics, SnapshotCollector, counter
from emu_base.sansio import Cancellable, Driver
from finesse_emu.ids.core import MAX_FIELD_CHARS, IdsCore, Issued, OAuthError, Output, Refused

log = get_logger()

BASE = "/ids/v1"
AUTHORIZE = f"{BASE}/oauth/authorize"
TOKEN = f"{BASE}/oauth/token"
STATUS = f"{BASE}/status"
DEFAULT_PORT = 8553  # Cisco IdS's HTTPS port
MAX_FORM_BYTES = 16 * 1024
FORM_FIELDS = ("response_type", "client_id", "redirect_uri", "state")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class IdsConfig:
    name: str = "ids"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0: any free port
    admin_port: int = -1  # -1: no control plane
    admin_token: str | None = None
    ssl_context: ssl.SSLContext | None = None  # None: plain HTTP


class _WallClock:
    """The core counts in wall seconds (the time tokens carry, read by the nodes in other
    processes); its one timer is armed on the shell's monotonic clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.wall()

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable:
        return self._clock.call_at(when - self._clock.wall() + self._clock.now(), callback)


def oauth_error(exc: OAuthError) -> web.Response:
    return web.json_response(exc.as_json(), status=exc.status, headers={"Cache-Control": "no-store"})


async def read_form(request: web.Request) -> dict[str, str]:
    """The url-encoded form of a POST (one value per name), or OAuthError invalid_request."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise OAuthError(400, "invalid_request", "the body is a url-encoded form")
    try:
        form = await request.post()
    except (web.HTTPException, ValueError, UnicodeDecodeError):
        raise OAuthError(400, "invalid_request", "the form could not be read") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def sign_in_page(query: Mapping[str, str]) -> str:
    """The emulated identity provider's page: the OAuth fields carried over, a user name and a
    password asked for."""
    hidden = "".join(
        f'<input type="hidden" name="{f}" value="{html.escape(query.get(f, "")[:MAX_FIELD_CHARS])}">'
        for f in FORM_FIELDS
    )
    return (
        "<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
        f'<form method="post" action="{AUTHORIZE}">{hidden}'
        '<label>User name <input name="username" autocomplete="username"></label>'
        '<label>Password <input name="password" type="password"></label>'
        '<button type="submit">Sign in</button></form></body></html>'
    )


class IdsServer:
    def __init__(self, config: IdsConfig, core: IdsCore, clock: Clock | None = None) -> None:
        self.config = config
        self.core = core
        self.clock = clock or LoopClock()
        self.driver = Driver(core, _WallClock(self.clock), self._on_output)
        self.faults = FaultRegistry("ids", {})
        self.port = config.port
        self.admin_port = config.admin_port
        self.issued = 0
        self.refused = 0
        self._runners: list[web.AppRunner] = []
        # GET /metrics on the control plane (docs/metrics.md): its own registry, requests by route.
        self.registry = CollectorRegistry()
        self.requests = HttpMetrics(self.registry, "finesse_emu_ids")
        self.registry.register(SnapshotCollector(self._metrics))

    def _metrics(self) -> Iterable[Metric]:
        yield counter("finesse_emu_ids_tokens_issued", "tokens issued (any grant)", self.issued)
        yield counter("finesse_emu_ids_tokens_refused", "token requests refused", self.refused)

    # -- outputs ------------------------------------------------------------------------------------
    def _on_output(self, output: Output) -> None:
        if isinstance(output, Issued):
            self.issued += 1
            log.info(
                "ids_issued",
                user=output.user,
                grant=output.grant,
                access_exp=output.access_exp,
                refresh_exp=output.refresh_exp,
            )
        elif isinstance(output, Refused):
            self.refused += 1
            log.info(
                "ids_refused",
                endpoint=output.endpoint,
                error=output.error,
                description=output.description,
                user=output.user[:64],
            )

    # -- routes -------------------------------------------------------------------------------------
    async def _authorize_page(self, request: web.Request) -> web.Response:
        return web.Response(text=sign_in_page(request.query), content_type="text/html")

    async def _authorize(self, request: web.Request) -> web.Response:
        try:
            form = await read_form(request)
        except OAuthError as exc:
            self.core_refused("authorize", exc)
            return oauth_error(exc)
        try:
            _, location = self.core.sign_in(self.clock.wall(), form)
        except OAuthError as exc:
            return oauth_error(exc)
        finally:
            self.driver.pump()
        return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})

    async def _token(self, request: web.Request) -> web.Response:
        try:
            form = await read_form(request)
        except OAuthError as exc:
            self.core_refused("token", exc)
            return oauth_error(exc)
        try:
            grant = self.core.token(self.clock.wall(), form)
        except OAuthError as exc:
            return oauth_error(exc)
        finally:
            self.driver.pump()
        return web.json_response(grant.as_json(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def core_refused(self, endpoint: str, exc: OAuthError) -> None:
        """A request refused before the core saw it (an unreadable form): logged like the core's."""
        self._on_output(Refused(endpoint, exc.error, exc.description, ""))

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "IN_SERVICE"})

    def health(self) -> dict[str, Any]:
        return {"state": "running", "port": self.port, "issued": self.issued, "refused": self.refused}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_FORM_BYTES, middlewares=[self.requests.middleware()])
        app.router.add_get(AUTHORIZE, self._authorize_page)
        app.router.add_post(AUTHORIZE, self._authorize)
        app.router.add_post(TOKEN, self._token)
        app.router.add_get(STATUS, self._status)
        return app

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        runner = app_runner(self.app(), access_log=None)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=cfg.ssl_context)
        await site.start()
        self.port = bound_port(site)
        if cfg.admin_port != -1:
            admin = app_runner(
                admin_routes(cfg.name, "ids", self.health, self.faults, cfg.admin_token, self.registry),
                access_log=None,
            )
            await admin.setup()
            self._runners.append(admin)
            admin_site = web.TCPSite(admin, cfg.host, cfg.admin_port)
            await admin_site.start()
            self.admin_port = bound_port(admin_site)
        self.driver.pump()
        scheme = "https" if cfg.ssl_context else "http"
        log.info("ids_listening", name=cfg.name, url=f"{scheme}://{cfg.host}:{self.port}{BASE}")

    async def stop(self) -> None:
        self.driver.close()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    @property
    def url(self) -> str:
        scheme = "https" if self.config.ssl_context else "http"
        return f"{scheme}://{self.config.host}:{self.port}"
