"""One Finesse node (publisher or subscriber), the asyncio shell around its sans-IO core.

Every decision is :class:`~finesse_emu.server.core.NodeCore`'s (what is published, state changes,
resync, forced logouts, service state); this module wires it, through :class:`emu_base.sansio.Driver`,
to the CTI link (:mod:`finesse_emu.server.cti`), the AWDB (the directory and authentication), the REST
API (:mod:`.rest`), the Notification Service (:mod:`.publisher`) and the control plane, and logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web

from emu_base import tls
from emu_base.admin import FaultKind, FaultRegistry, admin_routes, bound_port
from emu_base.awdb_login import awdb_login
from emu_base.clock import Clock, LoopClock
from emu_base.httpbody import app_runner
from emu_base.logs import get_logger
from emu_base.sansio import Driver
from emu_base.timers import Timers
from finesse_emu.server import api_xml as X
from finesse_emu.server.auth import Authenticator, AuthUser, AwdbClient
from finesse_emu.server.auth.awdb_client import AwdbTimeout, AwdbUnavailable
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.core import (
    CtiFailure,
    CtiPurpose,
    CtiRequestRefused,
    Directory,
    NodeCore,
    Output,
    Publish,
    SendToCti,
    SessionChanged,
    StatusChanged,
)
from finesse_emu.server.cti import CtiClient, CtiLinkConfig, CtiRequestError, PublicEvent
from finesse_emu.server.gadgets import PACER_KEY, Pacer
from finesse_emu.server.model import FinesseModel
from finesse_emu.server.paths import subscription_nodes
from finesse_emu.server.presence import (
    Cancelled,
    ForcedLogout,
    PresenceTracker,
    Skipped,
    TimerStarted,
    WaitingForCall,
)
from finesse_emu.server.pubsub_access import PubsubAccess
from finesse_emu.server.rest import build_app
from finesse_emu.server.status import ServiceState

__all__ = ["FAULT_KINDS", "FinesseNode", "NodeConfig", "Notifier", "run_forever"]

log = get_logger()

# The log line of each CTI request the core gave up on: (event, level, the user field's name).
_REFUSED = {
    CtiPurpose.STATE_CHANGE: ("finesse_state_change_failed", "info", "user"),
    CtiPurpose.MEDIA_CHANGE: ("finesse_media_change_failed", "info", "user"),
    CtiPurpose.DIALOG_ACTION: ("finesse_dialog_action_failed", "info", "user"),
    CtiPurpose.AUTO_WORK_TO_ACTIVE: ("finesse_auto_work_to_active_failed", "info", "user"),
    CtiPurpose.FORCED_LOGOUT: ("finesse_forced_logout_failed", "warning", "agent"),
}


class Notifier(Protocol):
    """What the node needs of its Notification Service session (NotificationPublisher has it)."""

    @property
    def connected(self) -> bool: ...

    async def start(self, wait: bool = True, timeout: float = 10.0) -> None: ...

    async def stop(self, timeout: float = 2.0) -> None: ...

    async def ensure_node(self, node: str) -> None: ...

    async def publish(self, node: str, update_xml: str, item_id: str | None = None) -> str: ...

    async def subscribe_other(self, node: str, jid: str) -> None: ...

    @property
    def available_agents(self) -> frozenset[str]: ...


FAULT_KINDS = [
    FaultKind("webapp_down", "the web application stops: REST is refused, the node goes OUT_OF_SERVICE"),
]


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
                node_access=lambda node: self.pubsub_access.readers(node),  # noqa: PLW0108 (set later)
            )
        self.notifier = notifier
        self.cti = CtiClient(
            CtiLinkConfig.from_timers(config.cti_sides, self.timers, old_pg=config.old_pg), self.clock
        )
        self.core = NodeCore(config, self.timers, self.cti, notification=notifier is not None)
        self.driver: Driver[Output] = Driver(self.core, self.clock, self._on_output)
        self.forced_logouts: deque[ForcedLogout] = deque(maxlen=2000)  # newest last
        self.published: deque[tuple[str, str]] = deque(maxlen=2000)  # (node, Update text), newest last
        login = awdb_login(config.awdb_user, config.awdb_password_file)
        self.awdb = AwdbClient(config.awdb_urls, self.timers.awdb_request_timeout, login=login)
        # Lockout counts per agent whatever alias is typed: the directory resolves id or login name.
        self.authenticator = Authenticator(
            self.awdb,
            self.timers,
            self.clock,
            resolve=lambda name: u.id if (u := self.directory_user(name)) else None,
        )
        if config.event_log:
            self.authenticator.on_result = lambda user, ok, via, reason: log.info(
                "finesse_auth", agent=user, ok=ok, via=via, reason=reason
            )
        self.faults = FaultRegistry(FAULT_KINDS, self._on_fault)
        self._subscribed: set[str] = set()
        # The directory's pubsub set-up is done: until then the Notification Service does not count
        # as up (see on_notification_change).
        self._provisioned = False
        self._provisioning: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runners: list[web.AppRunner] = []
        self._rest_sites: list[web.BaseSite] = []
        self._rest_runner: web.AppRunner | None = None
        self.http_port: int | None = None
        self.https_port: int | None = None
        self._ssl_context: ssl.SSLContext | None = None  # made once: webapp_down reopens the sites
        self.ca_file: str | None = None  # the CA of the HTTPS certificate, when known
        self.admin_port: int | None = None
        self.config_loaded = asyncio.Event()

    # -- the core's state, as the REST API, health and tests read it -------------------------------
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

    @property
    def pubsub_access(self) -> PubsubAccess:
        return self.core.directory.pubsub_access

    @property
    def reason_codes(self) -> list[X.ReasonCodeView]:
        return self.core.directory.reason_codes

    @property
    def wrapup_reasons(self) -> Sequence[X.WrapUpReasonView]:
        return self.core.directory.wrapup_reasons

    def directory_user(self, key: str) -> AuthUser | None:
        return self.core.directory.user(key)

    def mrds_of(self, user: AuthUser) -> list[int]:
        return self.core.directory.mrds_of(user)

    def reason_codes_for(self, category: str) -> list[X.ReasonCodeView]:
        return self.core.directory.reason_codes_for(category)

    def reason_code_by_id(self, rc_id: int) -> X.ReasonCodeView | None:
        return self.core.directory.reason_code_by_id(rc_id)

    def user_view(self, user_id: str) -> X.UserView:
        return self.core.user_view(user_id)

    def media_view(self, user_id: str, mrd: int) -> X.MediaView:
        return self.core.media_view(user_id, mrd)

    def dialog_view(self, dialog_id: str) -> X.DialogView:
        return self.core.dialog_view(dialog_id)

    def team_view(self, team_id: int) -> X.TeamView | None:
        return self.core.team_view(team_id)

    def system_info_view(self) -> X.SystemInfoView:
        return self.core.system_info_view(self.clock.now())

    def system_info_document(self) -> bytes:
        return self.core.system_info_document(self.clock.now())

    # -- REST commands: the core decides; 202 or its ApiErrors --------------------------------------
    def change_user_state(
        self, target: AuthUser, update: X.UserUpdate, request_id: str, password: str | None
    ) -> X.ErrorResponse | None:
        return self._pumped(
            self.core.change_user_state(self.clock.now(), target, update, request_id, password)
        )

    def change_media_state(
        self, target: AuthUser, mrd: int, update: X.MediaUpdate, request_id: str
    ) -> X.ErrorResponse | None:
        return self._pumped(self.core.change_media_state(self.clock.now(), target, mrd, update, request_id))

    def dialog_action(
        self, user: AuthUser, dialog_id: str, action: X.DialogAction, request_id: str
    ) -> X.ErrorResponse | None:
        return self._pumped(self.core.dialog_action(self.clock.now(), user, dialog_id, action, request_id))

    def _pumped(self, result: X.ErrorResponse | None) -> X.ErrorResponse | None:
        self.driver.pump()
        return result

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self.core.wall_offset = self.clock.wall() - self.clock.now()
        self.core.start(self.clock.now())
        self.driver.pump()
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
        self.core.stop(self.clock.now())
        self.driver.pump()
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
        pause = 0.05
        while True:
            try:
                directory = await self._load_config()
                break
            except (AwdbUnavailable, AwdbTimeout) as exc:
                log.warning("finesse_config_load_failed", error=str(exc))
                await self.clock.sleep(pause)
                pause = min(pause * 2, 2.0)
        self.core.directory_loaded(self.clock.now(), directory)
        log.info(
            "finesse_config_loaded",
            agents=len(directory.agents),
            teams=len(directory.teams),
            reason_codes=len(directory.reason_codes),
        )
        self.config_loaded.set()
        events = self.cti.subscribe()
        self._spawn(self._cti_events(events))
        await self.cti.start()

    async def _load_config(self) -> Directory:
        rows = [
            (await self.awdb.get(f"/awdb/v1/{path}"))[key]
            for path, key in (
                ("agents", "agents"),
                ("teams", "teams"),
                ("mrds", "mrds"),
                ("reason-codes", "reason_codes"),
                ("wrapup-reasons", "wrapup_reasons"),
            )
        ]
        return Directory.from_awdb(self.config.domain, *rows)

    async def _cti_events(self, events: asyncio.Queue[PublicEvent]) -> None:
        while True:
            event = await events.get()
            try:
                self.core.cti_event(self.clock.now(), event)
            except Exception:  # a bad event must not stop the node
                log.exception("finesse_cti_event_failed", event=type(event).__name__)
            self.driver.pump()

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
        name = self.config.name
        if isinstance(out, Publish):
            self._publish(out)
        elif isinstance(out, SendToCti):
            self._spawn(self._cti_request(out))
        elif isinstance(out, StatusChanged):
            log.info("finesse_status", name=name, status=out.change.status.value, reason=out.change.reason)
        elif isinstance(out, SessionChanged):
            fields = {} if out.reason_code is None else {"reason_code": out.reason_code}
            log.info(
                "finesse_agent_signed_in" if out.signed_in else "finesse_agent_signed_out",
                agent=out.agent_id, name=name, status=out.status, why=out.why, **fields,
            )  # fmt: skip
        elif isinstance(out, CtiRequestRefused):
            self._log_refused(out)
        elif isinstance(out, ForcedLogout):
            self.forced_logouts.append(out)
            log.info(
                "finesse_forced_logout", name=name, agent=out.agent_id, reason_code=out.reason_code,
                waited=round(out.waited, 3), call_wait=round(out.call_wait, 3),
            )  # fmt: skip
        elif isinstance(out, TimerStarted):
            waits = round(out.fires_at - out.at, 3)
            log.info("finesse_agent_unavailable", name=name, agent=out.agent_id, forced_logout_in=waits)
        elif isinstance(out, Cancelled):
            after = round(out.at - out.unavailable_since, 3)
            log.info(
                "finesse_forced_logout_cancelled", name=name, agent=out.agent_id, reason=out.reason.value,
                after=after,
            )  # fmt: skip
        elif isinstance(out, WaitingForCall):
            log.info("finesse_forced_logout_waits_for_call", agent=out.agent_id, state=out.state)
        elif isinstance(out, Skipped):
            log.debug("finesse_agent_unavailable_no_timer", agent=out.agent_id, reason=out.reason.value)

    def _log_refused(self, out: CtiRequestRefused) -> None:
        event, level, who = _REFUSED[out.purpose]
        fields: dict[str, Any] = {who: out.user_id}
        if out.mrd is not None:
            fields["mrd"] = out.mrd
        if out.dialog_id is not None:
            fields["dialog"] = out.dialog_id
        getattr(log, level)(event, **fields, error=out.error)

    def _publish(self, out: Publish) -> None:
        self.published.append((out.node, out.text))
        connected = self.notifier is not None and self.notifier.connected
        if out.error:  # a refusal after the 202: on the user's node as it stands
            if connected:
                assert self.notifier is not None
                self._spawn(self.notifier.publish(out.node, out.text))
            return
        if self.config.event_log:
            log.info("finesse_publish", node=out.node, verb=out.verb, status=out.status)
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
        self.core.agent_presence(self.clock.now(), full_jid, available)
        self.driver.pump()

    def on_notification_change(self, connected: bool) -> None:
        if connected and not self._provisioned:
            # The first session: every agent's nodes and subscriptions are in place before the node
            # counts its Notification Service as up, as Openfire keeps them from the users'
            # provisioning. Serving sign-ins meanwhile would answer them late: the set-up of a few
            # hundred agents keeps this process busy for seconds.
            if self._provisioning is None or self._provisioning.done():
                self._subscribed.clear()
                self._provisioning = self._spawn(self._provision_then_up())
            return
        if connected:
            self._subscribed.clear()  # a new Prosody session: subscriptions are made again on demand
        self.core.notification(self.clock.now(), connected)
        self.driver.pump()

    async def _provision_then_up(self) -> None:
        await self.config_loaded.wait()
        await self._provision_subscriptions()
        self._provisioned = True
        if self.notifier is not None and self.notifier.connected:  # up, with the set-up kept
            self.core.notification(self.clock.now(), True)
            self.driver.pump()

    async def _provision_subscriptions(self) -> None:
        """Every agent of the directory gets its nodes and subscriptions once the Notification
        Service is up, as Openfire keeps them from the users' provisioning, rather than at the
        agent's first request to this node: otherwise a failover is also the moment a thousand
        agents' pubsub set-up (five requests each) lands on the subscriber's Prosody
        (docs/benchmarks.md, failover under load). A user the directory gains later is still set up
        at its first request. Returns when every set-up has ended (a failed request is logged)."""
        assert self.notifier is not None
        tasks = []
        for user in list(self.directory.values()):
            task = self.on_authenticated(user, "")  # the publisher bounds what is in flight
            if task is not None:
                tasks.append(task)
            await asyncio.sleep(0)  # let requests in meanwhile
        await asyncio.gather(*tasks, return_exceptions=True)

    def on_authenticated(self, user: AuthUser, password: str) -> asyncio.Task[None] | None:
        """First authenticated request of a user: subscribe it to its nodes (as real Finesse does).
        Returns the set-up's task, None when there is nothing to set up."""
        if self.notifier is None or user.id in self._subscribed or not self.notifier.connected:
            return None
        self._subscribed.add(user.id)
        jid = f"{user.id.lower()}@{self.config.domain}"
        return self._spawn(self._subscribe(subscription_nodes(user), jid))

    async def _subscribe(self, nodes: list[str], jid: str) -> None:
        assert self.notifier is not None
        for node in nodes:
            try:
                await self.notifier.ensure_node(node)
                await self.notifier.subscribe_other(node, jid)
            except Exception as exc:
                log.warning("finesse_subscribe_failed", node=node, jid=jid, error=repr(exc))

    # -- HTTP servers ------------------------------------------------------------------------------
    async def _start_rest(self) -> None:
        app = build_app(self)
        if self.config.reload_rate > 0:
            # Requests per seed second become requests per real second divided by the time scale.
            app[PACER_KEY] = Pacer(self.config.reload_rate / self.timers.time_scale)
        runner = app_runner(app, access_log=None)  # bodies never inflated unread (httpbody)
        await runner.setup()
        self._runners.append(runner)
        self._rest_runner = runner
        await self._open_rest()

    async def _open_rest(self) -> None:
        assert self._rest_runner is not None
        cfg = self.config
        if cfg.http_port != -1:
            port = self.http_port or cfg.http_port
            site = web.TCPSite(self._rest_runner, cfg.host, port, reuse_address=True)
            await site.start()
            self._rest_sites.append(site)
            self.http_port = bound_port(site)
        if cfg.https_port != -1:
            if self._ssl_context is None:
                self._ssl_context = self._tls_context()
            port = self.https_port or cfg.https_port
            site = web.TCPSite(
                self._rest_runner, cfg.host, port, ssl_context=self._ssl_context, reuse_address=True
            )
            await site.start()
            self._rest_sites.append(site)
            self.https_port = self.core.https_port = bound_port(site)

    async def _close_rest(self) -> None:
        for site in self._rest_sites:
            await site.stop()
        self._rest_sites.clear()

    def _tls_context(self) -> ssl.SSLContext:
        cfg = self.config
        made = tls.server_context(
            cfg.name, cfg.tls_hosts(), cfg.cert_file, cfg.key_file, cfg.ca_file, cfg.run_dir
        )
        if made.made is not None:
            files = [p.name for p in made.made.made]
            log.info("finesse_tls_ca", ca_file=made.ca_file, hosts=cfg.tls_hosts(), made=files)
        self.ca_file = made.ca_file
        return made.context

    async def _start_admin(self) -> None:
        app = admin_routes(self.config.name, "finesse", self.health, self.faults, self.config.admin_token)
        runner = app_runner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.config.host, self.config.admin_port, reuse_address=True)
        await site.start()
        self.admin_port = bound_port(site)

    async def _on_fault(self, fault: Any, active: bool) -> None:
        if fault.kind == "webapp_down":
            if active:
                self.core.webapp(self.clock.now(), False)
                self.driver.pump()
                await self._close_rest()
                if self.notifier is not None:
                    await self.notifier.stop()  # the finesse user's presence turns Unavailable
            else:
                await self._open_rest()
                if self.notifier is not None:
                    self._spawn(self.notifier.start(wait=False))
                self.core.webapp(self.clock.now(), True)
                self.driver.pump()

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
            "stats": dict(self.stats),
        }


async def run_forever(node: FinesseNode) -> None:
    await node.start()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
