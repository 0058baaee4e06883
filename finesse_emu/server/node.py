"""One Finesse node (publisher or subscriber), the asyncio shell around its sans-IO core.

Every decision is :class:`~finesse_emu.server.core.NodeCore`'s (what is published, state changes,
resync, forced logouts, service state); this module wires it, through :class:`emu_base.sansio.Driver`,
to the CTI link (:mod:`finesse_emu.server.cti`), the AWDB (the directory and authentication), the REST
API (:mod:`.rest`), the Notification Service (:mod:`.publisher`) and the control plane, and logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiohttp import web

from emu_base import faults as F
from emu_base import history_events as history
from emu_base.admin import admin_routes, bound_port
from emu_base.awdb_login import awdb_login
from emu_base.clock import Clock, LoopClock
from emu_base.dropped_peers import DroppedPeers
from emu_base.httpbody import app_runner
from emu_base.logs import get_logger
from emu_base.sansio import Driver
from emu_base.timers import Timers
from finesse_emu.server import capacity, journal, layout_admin, rest_rules, ws_proxy
from finesse_emu.server.admin_api import ADMIN_KEY
from finesse_emu.server.auth import Authenticator, AuthUser, AwdbClient
from finesse_emu.server.awdb_directory import load_directory
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.core import CtiFailure, NodeCore, Output, Publish, SendToCti
from finesse_emu.server.cors import CorsPolicy
from finesse_emu.server.cors_control import add_cors_routes
from finesse_emu.server.cti import CtiClient, CtiLinkConfig, CtiRequestError, PublicEvent
from finesse_emu.server.gadgets import RELOAD_KEY
from finesse_emu.server.listeners import RestListeners
from finesse_emu.server.metrics import NodeMetrics
from finesse_emu.server.model import FinesseModel
from finesse_emu.server.node_log import log_output
from finesse_emu.server.presence import ForcedLogout, PresenceTracker
from finesse_emu.server.reload import ReloadDistribution, ReloadGate
from finesse_emu.server.rest import CORS_KEY, USER_KEY, build_app
from finesse_emu.server.status import ServiceState
from finesse_emu.server.subscriptions import Notifier, Subscriptions

__all__ = ["FinesseNode", "NodeConfig", "Notifier", "run_forever"]

log = get_logger()
R = TypeVar("R")


class FinesseNode:
    def __init__(
        self,
        config: NodeConfig,
        timers: Timers | None = None,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.timers = timers or Timers.build()
        if config.credential_cache is not None:  # emulated seconds, scaled like the 30 minutes it replaces
            cache = config.credential_cache * self.timers.time_scale
            self.timers = dataclasses.replace(self.timers, awdb_credential_cache=cache)
        self.clock: Clock = clock or LoopClock()
        if notifier is None and config.xmpp_host:
            from finesse_emu.server.publisher import NotificationPublisher

            notifier = NotificationPublisher(
                config.xmpp_host,
                config.xmpp_port,
                config.domain,
                config.xmpp_password(),
                on_presence=self.on_agent_presence,
                on_connection_change=self.on_notification_change,
                node_access=self._pubsub_readers,
            )
        self.notifier = notifier
        self.cti = CtiClient(
            CtiLinkConfig.from_timers(config.cti_sides, self.timers, old_pg=config.old_pg), self.clock
        )
        self.core = NodeCore(config, self.timers, self.cti, notification=notifier is not None)
        self.driver: Driver[Output] = Driver(self.core, self.clock, self._on_output)
        self.capacity_gate = capacity.gate(config.capacity, self.clock, self.timers.time_scale)  # None: none
        # Clients that go away mid-request: counted in the node's stats, logged once per kind.
        self.dropped_peers = DroppedPeers(self.core.stats, "finesse")
        self.forced_logouts: deque[ForcedLogout] = deque(maxlen=2000)  # newest last
        self.published: deque[tuple[str, str]] = deque(maxlen=2000)  # (node, Update text), newest last
        login = awdb_login(config.awdb_user, config.awdb_password_file)
        self.sso_key = config.sso_key()  # single sign-on: the IdS's signing key (None: NON_SSO)
        self.awdb = AwdbClient(config.awdb_urls, self.timers.awdb_request_timeout, login=login)
        # Lockout counts per agent whatever alias is typed: the directory resolves id or login name.
        self.authenticator = Authenticator(
            self.awdb,
            self.timers,
            self.clock,
            resolve=lambda name: u.id if (u := self.core.directory.user(name)) else None,
        )
        if config.event_log:
            # A lifetime of its own travels with every authentication (the checker's bound for it).
            configured = config.credential_cache is not None
            cache_ttl = self.timers.unscaled("awdb_credential_cache") if configured else None
            self.authenticator.on_result = lambda user, ok, via, reason: history.emit(
                history.Auth(agent=user, ok=ok, via=via, reason=reason, cache_ttl=cache_ttl), log
            )
        self.faults = F.FaultRegistry(
            F.FINESSE,
            {
                F.WEBAPP_DOWN: self._webapp_down,
                F.REST_API_DOWN: self._rest_api_down,
                F.CONFERENCE_GLITCH: self._conference_glitch,
                F.REST_RULE: self._rest_rule,
            },
        )
        # Every REST request and notification, for tests (server/journal.py), and the REST fault
        # rules (server/rest_rules.py).
        self.journal = journal.Journal(config.journal_size)
        self.rest_rules = rest_rules.RestRules()
        self.subscriptions = None if notifier is None else Subscriptions(notifier, config.domain, self._spawn)
        # The directory's pubsub set-up is done: until then the Notification Service does not count
        # as up (see on_notification_change).
        self._provisioned = False
        self._provisioning: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runners: list[web.AppRunner] = []
        self._rest_runner: web.AppRunner | None = None
        self.rest: RestListeners | None = None
        self.http_port: int | None = None
        self.https_port: int | None = None
        self.ca_file: str | None = None  # the CA of the HTTPS certificate, when known
        self.admin_port: int | None = None
        self.config_loaded = asyncio.Event()
        # The desktop layout served to desktops (changed live by the control plane), and the 8 vCPU
        # recommendation checked against it and the configured users.
        self.layouts = layout_admin.LayoutState(
            config.desktop_layout(), config.vcpus, lambda: (u.team_id for u in self.directory.values())
        )
        self.cors = CorsPolicy.of(config.cors_origins)  # ValueError on a malformed origin
        self.metrics = NodeMetrics(self)  # GET /metrics on the control plane (docs/metrics.md)

    # -- the core: its state (health, tests), and every input at the node's now ------------------
    @property
    def status(self) -> ServiceState:
        return self.core.status

    @property
    def model(self) -> FinesseModel:
        return self.core.model

    @property
    def presence(self) -> PresenceTracker:
        return self.core.presence

    @property
    def stats(self) -> Counter[str]:
        return self.core.stats

    @property
    def directory(self) -> dict[str, AuthUser]:
        return self.core.directory.agents

    def now(self) -> float:
        return self.clock.now()

    def wall(self) -> float:
        """Wall seconds: the time single sign-on tokens carry (issued by the IdS, another process)."""
        return self.clock.wall()

    def _pubsub_readers(self, node: str) -> frozenset[str] | None:
        # Who may read a pubsub node: the REST policy, from the directory (loaded after start).
        return self.core.directory.pubsub_access.readers(node)

    def command(self, run: Callable[[float], R]) -> R:
        """Feed the core one input at ``now``; what it outputs is acted on before this returns."""
        result = run(self.clock.now())
        self.driver.pump()
        return result

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self.core.wall_offset = self.clock.wall() - self.clock.now()
        self.command(self.core.start)
        await self._start_rest()
        if self.config.admin_port != -1:
            await self._start_admin()
        self._spawn(self._load_config_then_connect())
        if self.notifier is not None:
            self._spawn(self.notifier.start(wait=False))
        log.info(
            "finesse_started",
            name=self.config.name,
            role=self.config.role,
            host=self.config.host,
            http_port=self.http_port,
            https_port=self.https_port,
            admin_port=self.admin_port,
        )

    async def stop(self) -> None:
        self.command(self.core.stop)
        self.driver.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.cti.close()
        if self.notifier is not None:
            await self.notifier.stop()
        for runner in self._runners:
            await runner.cleanup()
        await self.awdb.close()
        log.info("finesse_stopped", name=self.config.name)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("finesse_task_failed", error=repr(task.exception()))

    # -- configuration from the AWDB, then the CTI link --------------------------------------------
    async def _load_config_then_connect(self) -> None:
        directory = await load_directory(self.awdb, self.config.domain, self.clock)
        self.command(lambda now: self.core.directory_loaded(now, directory))
        log.info(
            "finesse_config_loaded",
            agents=len(directory.agents),
            teams=len(directory.teams),
            reason_codes=len(directory.reason_codes),
        )
        self.layouts.check()  # the configured users are known now
        self.config_loaded.set()
        events = self.cti.subscribe()
        self._spawn(self._cti_events(events))
        await self.cti.start()

    async def _cti_events(self, events: asyncio.Queue[PublicEvent]) -> None:
        while True:
            event = await events.get()
            try:
                self.core.cti_event(self.clock.now(), event)
            except Exception:  # a bad event must not stop the node
                log.exception("finesse_cti_event_failed", event=type(event).__name__)
            self.driver.pump()  # what the core decided before a failure still goes out

    async def _cti_request(self, out: SendToCti) -> None:
        try:
            conf = await self.cti.request(out.message, timeout=self.timers.cti_open_timeout)
        except (CtiRequestError, ValueError) as exc:  # ValueError: a field the CTI wire cannot carry
            if isinstance(exc, CtiRequestError):
                failure = CtiFailure(str(exc), exc.status, exc.reply)
            else:
                failure = CtiFailure(str(exc))
            self.core.cti_failed(self.clock.now(), out.ref, failure)
        else:
            self.core.cti_reply(self.clock.now(), out.ref, conf)
        self.driver.pump()

    # -- the core's outputs ------------------------------------------------------------------------
    def _on_output(self, out: Output) -> None:
        if isinstance(out, Publish):
            self._publish(out)
        elif isinstance(out, SendToCti):
            self._spawn(self._cti_request(out))
        else:
            if isinstance(out, ForcedLogout):
                self.forced_logouts.append(out)
            log_output(self.config.name, out)

    def _publish(self, out: Publish) -> None:
        self.published.append((out.node, out.text))
        self.metrics.published(out.node, out.error)
        if self.journal.size:
            self.journal.notification(self.clock.wall(), out.node, out.verb, out.text, out.error)
        connected = self.notifier is not None and self.notifier.connected
        if out.error:  # a refusal after the 202: on the user's node as it stands
            if connected:
                assert self.notifier is not None
                self._spawn(self.notifier.publish(out.node, out.text))
            return
        if self.config.event_log:
            history.emit(history.Publish(node=out.node, verb=out.verb, status=out.status), log)
        self.stats["events"] += 1
        if connected:
            self._spawn(self._send(out.node, out.text))

    async def _send(self, node: str, text: str) -> None:
        assert self.notifier is not None
        try:
            await self.notifier.ensure_node(node)
            await self.notifier.publish(node, text)
        except Exception as exc:  # Prosody going away is handled by its status; log once here
            self.stats["publish_failed"] += 1
            log.warning("finesse_publish_failed", node=node, error=repr(exc))

    # -- the Notification Service: presence, connection, the agents' pubsub set-up -----------------
    def on_agent_presence(self, full_jid: str, available: bool) -> None:
        """An agent resource's presence changed on this node's Notification Service."""
        self.command(lambda now: self.core.agent_presence(now, full_jid, available))

    def on_notification_change(self, connected: bool) -> None:
        assert self.subscriptions is not None
        if connected and not self._provisioned:
            # The first session: every agent's nodes and subscriptions are in place before the node
            # counts its Notification Service as up, as Openfire keeps them from the users'
            # provisioning. Serving sign-ins meanwhile would answer them late: the set-up of a few
            # hundred agents keeps this process busy for seconds.
            if self._provisioning is None or self._provisioning.done():
                self.subscriptions.reset()
                self._provisioning = self._spawn(self._provision_then_up())
            return
        if connected:
            self.subscriptions.reset()
        self.command(lambda now: self.core.notification(now, connected))

    async def _provision_then_up(self) -> None:
        assert self.subscriptions is not None
        await self.config_loaded.wait()
        await self.subscriptions.provision(self.directory.values())
        self._provisioned = True
        if self.notifier is not None and self.notifier.connected:  # up, with the set-up kept
            self.command(lambda now: self.core.notification(now, True))

    def on_authenticated(self, user: AuthUser, password: str) -> asyncio.Task[None] | None:
        """First authenticated request of a user: subscribe it to its nodes (as real Finesse does)."""
        return None if self.subscriptions is None else self.subscriptions.user(user)

    # -- CORS ----------------------------------------------------------------------------------------
    def set_cors_origins(self, origins: Iterable[str]) -> list[str]:
        """Replace the allowed origins (ValueError, nothing changed, on a malformed one); the REST
        API follows at once. What the control plane, and the administration API, call."""
        listed = self.cors.set_origins(origins)
        log.info("finesse_cors_origins", name=self.config.name, origins=listed)
        return listed

    # -- HTTP servers ------------------------------------------------------------------------------
    def rest_app(self) -> web.Application:
        """The node's web application: the REST API of rest.py and what this node adds to it (the
        administration API's key, reload distribution, 12.6's WebSocket through the web port)."""
        app = build_app(self)
        app[CORS_KEY] = self.cors
        app[ADMIN_KEY] = self  # the administration API (server/admin_api.py)
        if self.config.reload_distribution:
            # On by default (server/reload.py); an explicit reload_rate is per emulated second, so per
            # real second it is divided by the time scale.
            rate = self.config.reload_rate / self.timers.time_scale if self.config.reload_rate > 0 else None
            policy = ReloadDistribution(self.timers.reload_spread, self.timers.reload_burst, rate)
            app[RELOAD_KEY] = ReloadGate(policy, lambda: self.layouts.content)
        if self.config.xmpp_host and self.config.secure_ports.web_port_websocket:  # 12.6: wss://node:8445/ws/
            upstream = f"ws://{self.config.xmpp_host}:{self.config.xmpp_http_port}/ws"
            ws_proxy.install(
                app,
                ws_proxy.WebSocketProxy(
                    upstream, self.cors, self.timers.ws_proxy_connect_timeout, self.timers.http_shutdown_grace
                ),
            )
        self._journal_rest(app)
        capacity.install(app, self.capacity_gate)  # --capacity: requests queue as the model says
        app.middlewares.insert(0, self.metrics.rest_middleware())  # every answer, 401s and 503s too
        app.middlewares.insert(
            0, self.dropped_peers.middleware(lambda r: "ws_relay" if r.path in ws_proxy.WS_PATHS else "rest")
        )
        return app

    def _journal_rest(self, app: web.Application) -> None:
        # The journal outermost (the answer the client gets); the fault rules innermost, after
        # authentication (the journal names the agent of a faulted request).
        app.middlewares.insert(
            0, journal.rest_middleware(self.journal, self.clock.now, self.clock.wall, _agent)
        )
        app.middlewares.append(rest_rules.middleware(self.rest_rules, self.clock))

    async def _start_rest(self) -> None:
        runner = app_runner(self.rest_app(), access_log=None)  # bodies never inflated unread (httpbody)
        await runner.setup()
        self._runners.append(runner)
        self._rest_runner = runner
        self.rest = RestListeners(runner, self.config)
        await self._open_rest()

    async def _open_rest(self) -> None:
        assert self.rest is not None
        await self.rest.open()
        self.http_port, self.https_port, self.ca_file = (
            self.rest.http_port,
            self.rest.https_port,
            self.rest.ca_file,
        )
        self.core.https_port = self.https_port

    def admin_app(self) -> web.Application:
        """The node's control plane: the /emu routes of every component and the node's own."""
        app = admin_routes(
            self.config.name,
            "finesse",
            self.health,
            self.faults,
            self.config.admin_token,
            self.metrics.registry,
        )
        layout_admin.add_routes(app, self.layouts)
        add_cors_routes(app, lambda: self.cors.origins, self.set_cors_origins)
        journal.add_routes(app, self.journal)
        app.middlewares.insert(0, self.dropped_peers.middleware(lambda _r: "admin"))
        return app

    async def _start_admin(self) -> None:
        runner = app_runner(self.admin_app(), access_log=None)
        await runner.setup()
        self._runners.append(runner)
        host = self.config.admin_host or self.config.host
        site = web.TCPSite(runner, host, self.config.admin_port, reuse_address=True)
        await site.start()
        self.admin_port = bound_port(site)

    # The fault kinds are emu_base/faults.py; what each does to this node is bound here.
    async def _webapp_down(self, fault: F.Fault, active: bool) -> None:
        if active:
            self.command(lambda now: self.core.webapp(now, False))
            assert self.rest is not None
            await self.rest.close()
            if self.notifier is not None:
                await self.notifier.stop()  # the finesse user's presence turns Unavailable
        else:
            await self._open_rest()
            if self.notifier is not None:
                self._spawn(self.notifier.start(wait=False))
            self.command(lambda now: self.core.webapp(now, True))

    def _rest_rule(self, fault: F.Fault, active: bool) -> None:
        if active:
            self.rest_rules.add(rest_rules.RestRule.of(fault.id, fault.params))
        else:
            self.rest_rules.remove(fault.id)

    def _conference_glitch(self, fault: F.Fault, active: bool) -> None:
        self.command(lambda now: self.core.conference_glitch(now, active))

    async def _rest_api_down(self, fault: F.Fault, active: bool) -> None:
        # Tomcat keeps its listeners: the API answers 503 and SystemInfo OUT_OF_SERVICE (the node is
        # out of service), the desktop content is served; the web app's own XMPP session ends.
        if active:
            self.command(lambda now: self.core.rest_api(now, False))
            if self.notifier is not None:
                await self.notifier.stop()  # "Finesse web app goes down": 'finesse' turns Unavailable
        else:
            if self.notifier is not None:
                self._spawn(self.notifier.start(wait=False))
            self.command(lambda now: self.core.rest_api(now, True))

    def health(self) -> dict[str, Any]:
        return {
            "state": self.status.status.value,
            "status_reason": self.status.reason,
            "node_role": self.config.role,
            "host": self.config.host,
            "ports": {"rest_http": self.http_port, "rest_https": self.https_port, "admin": self.admin_port},
            "ca_file": self.ca_file,  # the CA clients trust for rest_https (a path, nothing secret)
            "cti": {
                "state": self.cti.state.value,
                "side": self.cti.active_side,
                "last_heartbeat_ok": self.cti.last_heartbeat_ok,
            },
            "awdb": {"current": self.awdb.current, "cached_users": len(self.authenticator.cache)},
            "notification": None if self.notifier is None else {"connected": self.notifier.connected},
            # Agents with a live desktop session on this node: their XMPP presence here is available.
            "signed_in_agents": 0
            if self.notifier is None
            else len({jid.split("/")[0] for jid in self.notifier.available_agents}),
            "logged_in_agents": len(self.model.signed_in()),
            "forced_logouts_pending": {
                agent_id: p.phase.value for agent_id, p in sorted(self.presence.pending_agents.items())
            },
            "config_loaded": self.config_loaded.is_set(),
            "layout": self.layouts.to_json(),
            "cors_origins": self.cors.origins,
            "stats": dict(self.stats),
        }


def _agent(request: web.Request) -> str | None:
    """The user a REST request authenticated as (None: no credentials, or refused)."""
    user = request.get(USER_KEY)
    return None if user is None else user.id


async def run_forever(node: FinesseNode) -> None:
    await node.start()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
