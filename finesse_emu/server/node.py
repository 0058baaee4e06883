"""One Finesse node (publisher or subscriber): CTI link, AWDB authentication, REST, notifications.

The node's logic lives in pure pieces (:mod:`.status`, :mod:`.model`, :mod:`finesse_emu.server.auth`,
:mod:`finesse_emu.server.cti.link`); this module wires them to sockets and decides what is published when.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import ssl
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from emu_base import faults as F
from emu_base import history_events as history
from emu_base.admin import admin_routes, bound_port
from emu_base.awdb_login import awdb_login
from emu_base.clock import Clock, LoopClock
from emu_base.directory import VOICE_MRD
from emu_base.httpbody import app_runner
from emu_base.logs import get_logger
from emu_base.secret_files import read_secret_file
from emu_base.timers import Timers
from finesse_emu.server import xml as X
from finesse_emu.server.auth import Authenticator, AuthUser, AwdbClient
from finesse_emu.server.auth.awdb_client import AwdbTimeout, AwdbUnavailable
from finesse_emu.server.cti import (
    CtiClient,
    CtiLinkConfig,
    CtiRequestError,
    HeartbeatResult,
    LinkDown,
    LinkUp,
    Unsolicited,
)
from finesse_emu.server.gadgets import PACER_KEY, Pacer
from finesse_emu.server.model import (
    REQUESTABLE,
    Change,
    DialogChange,
    FinesseModel,
    MediaChange,
    MediaSlot,
    UserChange,
)
from finesse_emu.server.presence import (
    CALL_STATES,
    Action,
    Cancelled,
    ForcedLogout,
    PresenceTracker,
    Skipped,
    TimerStarted,
    WaitingForCall,
)
from finesse_emu.server.pubsub_access import PubsubAccess
from finesse_emu.server.rest import API, build_app
from finesse_emu.server.status import Dependency, ServiceState, ServiceStatus, StatusChange
from finesse_emu.xmpp.envelope import update_document
from ged188 import ARM_ERROR_TEXT, AgentState, ArmError, MediaAction, MessageType, Tag, make

log = get_logger()
M = MessageType
SYSTEM_INFO_NODE = f"{API}/SystemInfo"
# currentTimestamp of a template rendered at epoch 0, replaced per request.
_EPOCH_STAMP = b"<currentTimestamp>" + X.format_time(0.0).encode()
# System reason codes that exist whatever the AWDB holds (clients must be able to render them).
SYSTEM_REASON_CODES = {
    50002: "Connection Failure",
    50001: "System Disconnect",
    50003: "Device Out of Service",
    50004: "Inactivity Timeout",
    255: "Forced Logout",
    32767: "Call Not Answered",
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


@dataclass
class NodeConfig:
    name: str = "finesse-a"
    role: str = "publisher"  # or "subscriber"
    host: str = "127.0.0.1"  # bind address, node host and xmppDomain
    http_port: int = 8082  # 0: any free port; -1: off
    https_port: int = 8445  # -1: off
    admin_port: int = 8089  # the emulator's control plane; -1: off
    primary_host: str = ""  # SystemInfo primaryNode/host ("" = this host if publisher)
    secondary_host: str = ""  # SystemInfo secondaryNode/host ("" = single node)
    cti_sides: list[tuple[str, str, int]] = field(default_factory=list)
    old_pg: bool = False
    awdb_urls: list[str] = field(default_factory=list)
    # The login every AWDB request carries (the AWDB's --login-user / --login-password-file); no
    # file: the AWDBs are open (a standalone stub on loopback).
    awdb_user: str = "finesse"
    awdb_password_file: str | None = None
    xmpp_host: str | None = None  # this node's Prosody (None: no notifications)
    xmpp_port: int = 5222
    xmpp_domain: str = ""  # "" = host
    # The file holding the password of the `finesse` XMPP account this node publishes with (random
    # per deployment, mode 0600: <run_dir>/xmpp-password, /secrets/xmpp-password in containers).
    xmpp_password_file: str | None = None
    # HTTPS (emu_base/tls.py): the node's certificate and key, and the CA that issued it (what
    # clients trust). Without them the node makes a CA and a certificate in run_dir.
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    run_dir: str = ""  # the generated CA and certificate, when no cert_file is given
    deployment_type: str = "UCCE"
    peripheral_id: int = 5000
    admin_token: str | None = None
    # Finesse's enableAutoWorkModeStateChange: after a CTI reconnect, true (the default, the old
    # behaviour) brings agents back from WORK on their non-voice MRDs by itself; false leaves them
    # in WORK until the client calls the Media Work-to-Active API (UCCE 12.5+).
    enable_auto_work_mode_state_change: bool = True
    # Reload coordination (server/gadgets.py Pacer): desktop content requests per second, in seed
    # terms (scaled with the run's time_scale); 0 = off.
    reload_rate: float = 0.0
    # Log every pubsub publish, REST answer and authentication (history events publish, request,
    # auth): a scenario run's history then lets `finesse-emu check` verify the node too.
    event_log: bool = False

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together (or neither: a certificate is made)")

    @property
    def domain(self) -> str:
        return self.xmpp_domain or self.host

    def tls_hosts(self) -> list[str]:
        """What a certificate made for this node names: its name, XMPP domain and bind address (the
        loopback names and addresses as well when it binds every address)."""
        hosts = [self.name, self.domain, self.host]
        try:
            if ipaddress.ip_address(self.host).is_unspecified:
                hosts = [self.name, self.domain, "localhost", "127.0.0.1", "::1"]
        except ValueError:
            pass
        return list(dict.fromkeys(hosts))

    def xmpp_password(self) -> str:
        """The ``finesse`` account's password, from ``xmpp_password_file``; ValueError if missing."""
        if not self.xmpp_password_file:
            raise ValueError("xmpp_host needs xmpp_password_file: the finesse XMPP account's password")
        return read_secret_file(self.xmpp_password_file, "xmpp_password_file")


def media_api_error(peripheral_error: int, mrd: int, detail: str) -> X.ApiError:
    """The asynchronous ApiError of a refused Media PUT (``E_ARM_STAT_...`` in ``errorMessage``)."""
    try:
        arm = ArmError(peripheral_error)
    except ValueError:
        return X.ApiError("Invalid State", detail, "", error_media=str(mrd))
    error_type, error_data = ARM_ERROR_TEXT[arm]
    return X.ApiError(error_type, arm.name, error_data, error_media=str(mrd))


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
        required = [Dependency.CTI, Dependency.WEBAPP]
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
        if notifier is not None:
            required.append(Dependency.NOTIFICATION)
        self.status = ServiceState(0.0, tuple(required))
        self.model = FinesseModel()
        # Agents' presence on this node's Notification Service -> forced logouts (reason 255).
        self.presence = PresenceTracker(
            self.timers.forced_logout_after_unavailable, self.timers.forced_logout_reason_code
        )
        self.forced_logouts: deque[ForcedLogout] = deque(maxlen=2000)  # newest last
        self._sessions: set[str] = set()  # agents signed in on this node, kept for event_log only
        self._signing_out: set[str] = set()  # agents whose sign-out through this node is under way
        self._presence_task: asyncio.Task[None] | None = None
        self._presence_deadline: float | None = None
        self.notifier = notifier
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
            self.authenticator.on_result = lambda user, ok, via, reason: history.emit(
                history.Auth(agent=user, ok=ok, via=via, reason=reason), log
            )
        self.cti = CtiClient(
            CtiLinkConfig.from_timers(config.cti_sides, self.timers, old_pg=config.old_pg), self.clock
        )
        self.faults = F.FaultRegistry(F.FINESSE, {F.WEBAPP_DOWN: self._webapp_down})
        self.stats: Counter[str] = Counter()
        self.published: deque[tuple[str, str]] = deque(maxlen=2000)  # (node, Update text), newest last
        self.directory: dict[str, AuthUser] = {}
        self._by_login: dict[str, str] = {}
        self.teams: dict[int, str] = {}
        # Who may read which pubsub node (the REST policy), rebuilt when the directory is loaded.
        self.pubsub_access = PubsubAccess(config.domain)
        self.mrds: dict[int, str] = {}
        self._media_limits: dict[tuple[str, int], int] = {}  # maxDialogLimit given at MRD sign-in
        self.reason_codes: list[X.ReasonCodeView] = []
        self.wrapup_reasons: list[X.WrapUpReasonView] = []
        self._subscribed: set[str] = set()
        # The directory's pubsub set-up is done: until then the Notification Service does not count
        # as up (see on_notification_change).
        self._provisioned = False
        self._provisioning: asyncio.Task[None] | None = None
        self._dialog_views: dict[str, X.DialogView] = {}
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
        self._cti_up_at: float | None = None
        # SystemInfo's lastCTIHeartbeatStatus: the session's open counts as a success, then every
        # heartbeat result; a lost link is a failure.
        self._heartbeat_ok = False
        self._heartbeat_ok_wall: float | None = None
        self._system_info_key: X.SystemInfoView | None = None
        self._system_info_template = b""

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self.status = ServiceState(self.clock.now(), self.status.required)
        self._apply_status(self.status.up(Dependency.WEBAPP, self.clock.now()))
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
        self._end_sessions("stopped")
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

    # -- configuration from the AWDB ---------------------------------------------------------------
    async def _load_config_then_connect(self) -> None:
        pause = 0.05
        while True:
            try:
                await self._load_config()
                break
            except (AwdbUnavailable, AwdbTimeout) as exc:
                log.warning("finesse_config_load_failed", error=str(exc))
                await self.clock.sleep(pause)
                pause = min(pause * 2, 2.0)
        self.config_loaded.set()
        events = self.cti.subscribe()
        self._spawn(self._cti_events(events))
        await self.cti.start()

    async def _load_config(self) -> None:
        agents = (await self.awdb.get("/awdb/v1/agents"))["agents"]
        self.directory = {a.id: a for a in (AuthUser.from_json(x) for x in agents)}
        self._by_login = {u.login.lower(): u.id for u in self.directory.values()}
        self.pubsub_access = PubsubAccess(self.config.domain, self.directory.values())
        self.teams = {int(t["id"]): str(t["name"]) for t in (await self.awdb.get("/awdb/v1/teams"))["teams"]}
        self.mrds = {int(m["id"]): str(m["name"]) for m in (await self.awdb.get("/awdb/v1/mrds"))["mrds"]}
        rows = (await self.awdb.get("/awdb/v1/reason-codes"))["reason_codes"]
        self.reason_codes = [
            X.ReasonCodeView(
                id=int(r["id"]),
                category=str(r["category"]),
                code=int(r["code"]),
                label=str(r["label"]),
                system_code=bool(r.get("system", False)),
            )
            for r in rows
        ]
        known = {(rc.category, rc.code) for rc in self.reason_codes}
        next_id = max((rc.id for rc in self.reason_codes), default=0) + 1000
        for code, label in SYSTEM_REASON_CODES.items():
            for category in ("NOT_READY", "LOGOUT"):
                if (category, code) not in known:
                    self.reason_codes.append(
                        X.ReasonCodeView(next_id, category, code, label, system_code=True)
                    )
                    next_id += 1
        wrap = (await self.awdb.get("/awdb/v1/wrapup-reasons"))["wrapup_reasons"]
        self.wrapup_reasons = [X.WrapUpReasonView(int(w["id"]), str(w["label"])) for w in wrap]
        log.info(
            "finesse_config_loaded",
            agents=len(self.directory),
            teams=len(self.teams),
            reason_codes=len(self.reason_codes),
        )

    def directory_user(self, key: str) -> AuthUser | None:
        user = self.directory.get(key)
        if user is None:
            agent_id = self._by_login.get(key.lower())
            user = self.directory.get(agent_id) if agent_id else None
        return user

    # -- CTI ---------------------------------------------------------------------------------------
    async def _cti_events(self, events: asyncio.Queue[Any]) -> None:
        while True:
            event = await events.get()
            try:
                if isinstance(event, LinkUp):
                    self._heartbeat_ok, self._heartbeat_ok_wall = True, self.clock.wall()
                    self._spawn(self._resync_then_in_service())
                elif isinstance(event, HeartbeatResult):
                    self._heartbeat_ok = event.ok
                    if event.ok:
                        self._heartbeat_ok_wall = self.clock.wall()
                elif isinstance(event, LinkDown):
                    self._heartbeat_ok = False
                    self._cti_up_at = None
                    self.model.cti_lost()
                    self._apply_status(self.status.down(Dependency.CTI, self.clock.now()))
                elif isinstance(event, Unsolicited):
                    changes = self.model.apply(event.message, self.clock.wall())
                    self._track_states(changes)
                    if self.status.in_service:
                        self._publish(changes)
            except Exception:  # a bad event must not stop the node
                log.exception("finesse_cti_event_failed", event=type(event).__name__)

    async def _resync_then_in_service(self) -> None:
        """After (re)connecting: learn every agent's state, then serve and republish."""
        sem = asyncio.Semaphore(50)

        async def query(agent_id: str) -> None:
            async with sem:
                msg = make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, agent_id)], MRDID=1)
                try:
                    conf = await self.cti.request(msg, timeout=self.timers.cti_open_timeout)
                except CtiRequestError:
                    return
                if conf.type == M.QUERY_AGENT_STATE_CONF:
                    self._track_states(self.model.apply_query(agent_id, conf, self.clock.wall()))

        await asyncio.gather(*(query(a) for a in self.directory))
        if self.cti.in_service:
            self._cti_up_at = self.clock.now()
            self._apply_status(self.status.up(Dependency.CTI, self.clock.now()))
            if self.config.enable_auto_work_mode_state_change:
                self._spawn(self._auto_work_to_active())

    async def _auto_work_to_active(self) -> None:
        """enableAutoWorkModeStateChange=true: every non-voice MRD the PG left in WORK goes back."""
        for user in list(self.model.users.values()):
            for mrd, slot in list(user.media.items()):
                if slot.state != "WORK":
                    continue
                fields = {"MRDID": mrd, "PeripheralID": self.config.peripheral_id}
                msg = make(
                    M.EMU_SET_MEDIA_STATE_REQ,
                    [(Tag.AGENT_ID, user.id)],
                    Action=MediaAction.WORK_TO_ACTIVE,
                    **fields,
                )
                try:
                    await self.cti.request(msg, timeout=self.timers.cti_open_timeout)
                    self.stats["auto_work_to_active"] += 1
                except CtiRequestError as exc:  # e.g. the agent left WORK meanwhile
                    log.info("finesse_auto_work_to_active_failed", user=user.id, mrd=mrd, error=str(exc))

    # -- status and publishing ----------------------------------------------------------------------
    def _apply_status(self, change: StatusChange | None) -> None:
        if change is None:
            return
        log.info("finesse_status", name=self.config.name, status=change.status.value, reason=change.reason)
        if change.status is not ServiceStatus.IN_SERVICE:
            self._end_sessions("out_of_service")
        self._presence_actions(self.presence.service(change.status is ServiceStatus.IN_SERVICE, change.at))
        # The SystemInfo event goes out even when going OUT_OF_SERVICE: it is the desktops' trigger.
        self._emit(SYSTEM_INFO_NODE, X.system_info_event(self.system_info_view()), "PUT", "")
        if change.republish:
            self._publish(self.model.republish())

    def _publish(self, changes: Iterable[Change]) -> None:
        for change in changes:
            if isinstance(change, UserChange):
                node = f"{API}/User/{change.user_id}"
                agent = self.directory.get(change.user_id)
                if agent is not None:
                    self._emit(node, X.user_event(self.user_view(change.user_id)), "PUT", change.request_id)
                    # Supervisors subscribe to their teams' nodes explicitly (not auto-subscribed).
                    team_node = f"{API}/Team/{agent.team_id}/Users"
                    self._emit(team_node, X.team_user_event(self._team_user(agent)), "PUT", "")
            elif isinstance(change, MediaChange):
                node = f"{API}/User/{change.user_id}/Media/{change.mrd}"
                if change.user_id in self.directory:
                    view = self.media_view(change.user_id, change.mrd)
                    self._emit(node, X.media_event(view), "PUT", change.request_id)
            elif isinstance(change, DialogChange):
                self._publish_dialog(change)

    def _publish_dialog(self, change: DialogChange) -> None:
        node = f"{API}/User/{change.user_id}/Dialogs"
        if change.event == "DELETE":
            view = self._dialog_views.pop(change.dialog_id, None)
            if view is not None:
                self._emit(node, X.dialogs_event([view]), "DELETE", change.request_id)
            return
        view = self.dialog_view(change.dialog_id)
        self._dialog_views[change.dialog_id] = view
        if change.event == "POST":
            self._emit(node, X.dialogs_event([view]), "POST", change.request_id)
        else:
            source = f"{API}/Dialog/{change.dialog_id}"
            self._emit(node, X.dialog_event(view), "PUT", change.request_id, source=source)

    def _emit(self, node: str, data: str, event: str, request_id: str, source: str | None = None) -> None:
        text = update_document(data, event, request_id, source or node)
        if self.config.event_log:
            history.emit(history.Publish(node=node, verb=event, status=self.status.status.value), log)
        self.published.append((node, text))
        self.stats["events"] += 1
        if self.notifier is not None and self.notifier.connected:
            self._spawn(self._send(node, text))

    async def _send(self, node: str, text: str) -> None:
        assert self.notifier is not None
        try:
            await self.notifier.ensure_node(node)
            await self.notifier.publish(node, text)
        except Exception as exc:  # Prosody going away is handled by its status; log once here
            self.stats["publish_failed"] += 1
            log.warning("finesse_publish_failed", node=node, error=repr(exc))

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
        dep_change = (self.status.up if connected else self.status.down)(
            Dependency.NOTIFICATION, self.clock.now()
        )
        if connected:
            self._subscribed.clear()  # a new Prosody session: subscriptions are made again on demand
        self._apply_status(dep_change)
        if not connected:
            self.presence.session_lost()

    # -- presence and the forced logout (seed "Desktop Behavior") ------------------------------------
    def on_agent_presence(self, full_jid: str, available: bool) -> None:
        """An agent resource's presence changed on this node's Notification Service."""
        bare, _, resource = full_jid.partition("/")
        local, _, domain = bare.rpartition("@")
        if domain != self.config.domain or not local:
            return
        user = self.directory_user(local) or next(  # JIDs carry the agent id lower-cased
            (u for u in self.directory.values() if u.id.lower() == local.lower()), None
        )
        if user is None:
            return
        self._presence_actions(self.presence.presence(user.id, resource, available, self.clock.now()))

    def _track_states(self, changes: Iterable[Change]) -> None:
        now = self.clock.now()
        for change in changes:
            if isinstance(change, UserChange):
                user = self.model.user(change.user_id)
                if user.state == "LOGOUT":
                    why = "sign_out" if user.id in self._signing_out else "cti_logout"
                    self._signing_out.discard(user.id)
                    self._session(user.id, False, why, reason_code=user.reason_code)
                self._presence_actions(self.presence.agent_state(change.user_id, user.state, now))

    def _presence_actions(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, ForcedLogout):
                self.stats["forced_logouts"] += 1
                self.forced_logouts.append(action)
                self._session(action.agent_id, False, "forced_logout", reason_code=action.reason_code)
                history.emit(
                    history.ForcedLogout(
                        name=self.config.name,
                        agent=action.agent_id,
                        reason_code=action.reason_code,
                        waited=round(action.waited, 3),
                        call_wait=round(action.call_wait, 3),
                    ),
                    log,
                )
                self._spawn(self._send_forced_logout(action))
            elif isinstance(action, TimerStarted):
                self.stats["forced_logout_timers"] += 1
                log.info(
                    "finesse_agent_unavailable",
                    name=self.config.name,
                    agent=action.agent_id,
                    forced_logout_in=round(action.fires_at - action.at, 3),
                )
            elif isinstance(action, Cancelled):
                self.stats[f"forced_logout_cancelled_{action.reason.value}"] += 1
                log.info(
                    "finesse_forced_logout_cancelled",
                    name=self.config.name,
                    agent=action.agent_id,
                    reason=action.reason.value,
                    after=round(action.at - action.unavailable_since, 3),
                )
            elif isinstance(action, WaitingForCall):
                log.info("finesse_forced_logout_waits_for_call", agent=action.agent_id, state=action.state)
            elif isinstance(action, Skipped):
                reason = action.reason.value
                log.debug("finesse_agent_unavailable_no_timer", agent=action.agent_id, reason=reason)
        self._rearm_presence_timer()

    # -- who is signed in on this node, as the node sees it (event_log; docs/check.md) ---------------
    def _session(self, agent_id: str, signed_in: bool, why: str, reason_code: int | None = None) -> None:
        """An agent's session (desktop or IP phone) on this node began or ended: emitted as
        agent_signed_in / agent_signed_out (emu_base.history_events). Signed in here means signed in *through
        this node* (its REST sign-in was confirmed by the CTI server while the node was IN_SERVICE),
        not logged in on the CTI side, which both nodes see. It ends with a sign-out through this
        node (``sign_out``), this node's forced logout (``forced_logout``, reason 255), the CTI side
        reporting the agent logged out (``cti_logout``: signed out through the other node, or by the
        PG), or the node leaving IN_SERVICE or stopping (``out_of_service``, ``stopped``: its
        clients sign in again)."""
        if not self.config.event_log or (agent_id in self._sessions) == signed_in:
            return
        if signed_in and not self.status.in_service:
            return  # confirmed after the node went out of service: the client will sign in again
        (self._sessions.add if signed_in else self._sessions.discard)(agent_id)
        history.emit(
            (history.AgentSignedIn if signed_in else history.AgentSignedOut)(
                agent=agent_id, name=self.config.name, status=self.status.status.value, why=why,
                reason_code=reason_code,
            ),
            log,
        )  # fmt: skip

    def _end_sessions(self, why: str) -> None:
        for agent_id in sorted(self._sessions):
            self._session(agent_id, False, why)

    def _rearm_presence_timer(self) -> None:
        deadline = self.presence.next_deadline()
        if deadline == self._presence_deadline and (deadline is None or self._presence_task is not None):
            return
        if self._presence_task is not None:
            self._presence_task.cancel()
            self._presence_task = None
        self._presence_deadline = deadline
        if deadline is not None:
            self._presence_task = self._spawn(self._presence_wake(deadline))

    async def _presence_wake(self, deadline: float) -> None:
        await self.clock.sleep(deadline - self.clock.now())
        self._presence_task, self._presence_deadline = None, None
        self._presence_actions(self.presence.tick(self.clock.now()))

    async def _send_forced_logout(self, action: ForcedLogout) -> None:
        """SET_AGENT_STATE_REQ LOGOUT, reason 255, forced: what the CTI server makes of it is LOAD's."""
        msg = make(
            M.SET_AGENT_STATE_REQ,
            [(Tag.AGENT_ID, action.agent_id)],
            PeripheralID=self.config.peripheral_id,
            AgentState=AgentState.LOGOUT,
            EventReasonCode=action.reason_code,
            ForcedFlag=1,
        )
        try:
            await self.cti.request(msg, timeout=self.timers.cti_open_timeout)
        except CtiRequestError as exc:
            self.stats["forced_logout_failed"] += 1
            log.warning("finesse_forced_logout_failed", agent=action.agent_id, error=str(exc))

    async def _provision_then_up(self) -> None:
        await self.config_loaded.wait()
        await self._provision_subscriptions()
        self._provisioned = True
        if self.notifier is not None and self.notifier.connected:  # up, with the set-up kept
            self._apply_status(self.status.up(Dependency.NOTIFICATION, self.clock.now()))

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
        nodes = [f"{API}/User/{user.id}", f"{API}/User/{user.id}/Dialogs", SYSTEM_INFO_NODE]
        nodes += [f"{API}/User/{user.id}/Media/{mrd}" for mrd in user.non_voice_mrds]
        return self._spawn(self._subscribe(nodes, jid))

    async def _subscribe(self, nodes: list[str], jid: str) -> None:
        assert self.notifier is not None
        for node in nodes:
            try:
                await self.notifier.ensure_node(node)
                await self.notifier.subscribe_other(node, jid)
            except Exception as exc:
                log.warning("finesse_subscribe_failed", node=node, jid=jid, error=repr(exc))

    # -- state changes requested over REST ---------------------------------------------------------
    async def change_user_state(
        self, target: AuthUser, update: X.UserUpdate, request_id: str, password: str | None
    ) -> X.ErrorResponse | None:
        user = self.model.user(target.id)
        wanted = update.state.value
        if update.extension is not None and not (update.extension.isascii() and len(update.extension) < 16):
            # An instrument is an ASCII string of at most 15 characters on the CTI wire (STRING 16).
            return X.invalid_input("extension", "Invalid extension specified")
        if wanted != "LOGIN" and user.state == "LOGOUT":
            return X.invalid_input("state", "Invalid State specified for user")
        reason = 0
        if update.reason_code_id is not None:
            category = "LOGOUT" if wanted == "LOGOUT" else "NOT_READY"
            rc = next(
                (r for r in self.reason_codes if r.id == update.reason_code_id and r.category == category),
                None,
            )
            if rc is None:
                return X.invalid_input("reasonCodeId", "Invalid reasonCodeId specified")
            reason = rc.code
        floating: list[tuple[int, str | bytes | int]] = [(Tag.AGENT_ID, target.id)]
        if wanted == "LOGIN":
            floating.append((Tag.AGENT_INSTRUMENT, update.extension or ""))
            if password is not None:
                floating.append((Tag.AGENT_PASSWORD, password.encode()))
        elif user.state in ("TALKING", "RESERVED", "HOLD"):
            user.pending_state = wanted  # applied by the CTI server when the call ends
        msg = make(M.SET_AGENT_STATE_REQ, floating, AgentState=REQUESTABLE[wanted], EventReasonCode=reason)
        user.request_id = request_id
        self._spawn(self._send_state_request(target.id, msg, request_id))
        return None

    async def _send_state_request(self, user_id: str, msg: Any, request_id: str) -> None:
        if self.config.event_log and msg["AgentState"] == AgentState.LOGOUT:
            self._signing_out.add(user_id)  # the CTI side's LOGOUT may come before the answer
        try:
            await self.cti.request(msg, timeout=self.timers.cti_open_timeout)
        except (CtiRequestError, ValueError) as exc:  # ValueError: a field the CTI wire cannot carry
            self.model.user(user_id).request_id = ""
            node = f"{API}/User/{user_id}"
            self._async_error(node, node, request_id, "state", exc)
            log.info("finesse_state_change_failed", user=user_id, error=str(exc))
            self._signing_out.discard(user_id)
        else:
            if msg["AgentState"] == AgentState.LOGIN:
                self._signing_out.discard(user_id)
                self._session(user_id, True, "sign_in")
            elif msg["AgentState"] == AgentState.LOGOUT and self.model.user(user_id).state not in CALL_STATES:
                # Signed out through this node (whatever LOAD makes of a 255); on a call, the CTI side
                # logs the agent out when the call ends.
                self._signing_out.discard(user_id)
                self._session(user_id, False, "sign_out")

    async def dialog_action(
        self, user: AuthUser, dialog_id: str, action: X.DialogAction, request_id: str
    ) -> X.ErrorResponse | None:
        """ANSWER (ANSWER_CALL_REQ) and DROP (CLEAR_CONNECTION_REQ); other actions are not emulated."""
        dialog = self.model.dialogs.get(dialog_id)
        if dialog is None:  # the call ended while the request was being read
            return X.not_found(X.NotFound.DIALOG, dialog_id)
        name = action.requested_action.value
        target = action.target_media_address
        if target is not None and target != dialog.device:
            return X.invalid_input("targetMediaAddress", "Invalid targetMediaAddress specified")
        if name == "ANSWER":
            if dialog.state != "ALERTING":
                return X.invalid_state("requestedAction", "Invalid action for the dialog state")
            mtype = M.ANSWER_CALL_REQ
        elif name == "DROP":
            if dialog.state not in ("ALERTING", "ACTIVE"):
                return X.invalid_state("requestedAction", "Invalid action for the dialog state")
            mtype = M.CLEAR_CONNECTION_REQ
        else:
            return X.not_implemented("requestedAction", f"{name} is not emulated (ANSWER and DROP are)")
        floating: list[tuple[int, str | bytes | int]] = [
            (Tag.CONNECTION_DEVID, dialog.device),
            (Tag.AGENT_INSTRUMENT, dialog.device),
        ]
        msg = make(mtype, floating, PeripheralID=self.config.peripheral_id, ConnectionCallID=dialog.call_id)
        dialog.request_id = request_id
        self._spawn(self._send_call_control(user.id, dialog, msg, request_id))
        return None

    async def _send_call_control(self, user_id: str, dialog: Any, msg: Any, request_id: str) -> None:
        try:
            await self.cti.request(msg, timeout=self.timers.cti_open_timeout)
        except (CtiRequestError, ValueError) as exc:  # ValueError: a field the CTI wire cannot carry
            node, source = f"{API}/User/{user_id}/Dialogs", f"{API}/Dialog/{dialog.id}"
            self._async_error(node, source, request_id, "requestedAction", exc)
            log.info("finesse_dialog_action_failed", user=user_id, dialog=dialog.id, error=str(exc))

    def _async_error(self, node: str, source: str, request_id: str, data: str, exc: Exception) -> None:
        """A CTI refusal after the 202: an Update with apiErrors on the user's node, by requestId."""
        status = exc.status if isinstance(exc, CtiRequestError) else None
        err = X.ApiError("Invalid State", str(exc), data, peripheral_error_code=str(status or ""))
        text = update_document(X.api_errors_event([err]), "PUT", request_id, source, error=True)
        self.published.append((node, text))
        if self.notifier is not None and self.notifier.connected:
            self._spawn(self.notifier.publish(node, text))

    # -- views -------------------------------------------------------------------------------------
    def _reason(self, category: str, code: int) -> X.ReasonCodeView | None:
        if not code:
            return None
        return next((r for r in self.reason_codes if r.category == category and r.code == code), None)

    def reason_codes_for(self, category: str) -> list[X.ReasonCodeView]:
        return [r for r in self.reason_codes if r.category == category and not r.system_code]

    def reason_code_by_id(self, rc_id: int) -> X.ReasonCodeView | None:
        return next((r for r in self.reason_codes if r.id == rc_id), None)

    def user_view(self, user_id: str) -> X.UserView:
        d = self.directory[user_id]
        u = self.model.user(user_id)
        category = "LOGOUT" if u.state == "LOGOUT" else "NOT_READY"
        roles = ("Agent", "Supervisor") if d.supervisor else ("Agent",)
        teams = tuple(X.TeamRef(t, self.teams.get(t, f"Team {t}")) for t in d.teams_supervised)
        return X.UserView(
            login_id=d.id,
            login_name=d.login,
            state=u.state,
            first_name=d.first_name,
            last_name=d.last_name,
            state_change_time=u.state_change_time or None,
            extension=u.extension,
            roles=roles,
            pending_state=u.pending_state,
            reason_code=self._reason(category, u.reason_code) if u.state in ("NOT_READY", "LOGOUT") else None,
            team_id=d.team_id,
            team_name=self.teams.get(d.team_id, ""),
            skill_target_id=d.icm_agent_id or None,
            teams=teams if d.supervisor else (),
        )

    def mrds_of(self, user: AuthUser) -> list[int]:
        return [1, *user.non_voice_mrds]

    def media_view(self, user_id: str, mrd: int) -> X.MediaView:
        u = self.model.user(user_id)
        name = self.mrds.get(mrd, str(mrd))
        if mrd == VOICE_MRD:
            reason = self._reason("NOT_READY", u.reason_code) if u.state == "NOT_READY" else None
            return X.MediaView(
                user_id, mrd, name, state=u.state, routable=u.state != "LOGOUT", reason_code=reason,
                state_change_time=u.state_change_time or None,
            )  # fmt: skip
        slot = u.media.get(mrd) or MediaSlot()
        category = "LOGOUT" if slot.state == "LOGOUT" else "NOT_READY"
        reason = self._reason(category, slot.reason_code) if slot.state in ("NOT_READY", "LOGOUT") else None
        return X.MediaView(
            user_id,
            mrd,
            name,
            state=slot.state,
            state_change_time=slot.state_change_time or None,
            routable=slot.routable,
            reason_code=reason,
            max_dialog_limit=self._media_limits.get((user_id, mrd), 1),
        )

    # -- Media PUT (non-voice MRDs) ------------------------------------------------------------------
    async def change_media_state(
        self, target: AuthUser, mrd: int, update: X.MediaUpdate, request_id: str
    ) -> X.ErrorResponse | None:
        """Sign in, state, routable or Work to Active in one MRD: 202, then the Media event."""
        user = self.model.user(target.id)
        slot = user.media.get(mrd) or MediaSlot()
        fields: dict[str, int] = {"MRDID": mrd, "PeripheralID": self.config.peripheral_id}
        if update.work_to_active:
            # "Users can only use this API when an agent state is WORK."
            if slot.state != "WORK":
                return X.invalid_state("state", "Invalid State: the agent is not in WORK in this MRD")
            fields["Action"] = MediaAction.WORK_TO_ACTIVE
        elif update.state is not None:
            wanted = update.state.value
            reason = 0
            if update.reason_code_id is not None:
                if wanted not in ("NOT_READY", "LOGOUT"):
                    return X.invalid_input("reasonCodeId", "A reason code goes with NOT_READY or LOGOUT only")
                rc = self.reason_code_by_id(update.reason_code_id)
                if rc is None or rc.category != wanted:
                    return X.invalid_input("reasonCodeId", "Invalid reasonCodeId specified")
                reason = rc.code
            fields |= {
                "Action": MediaAction.SET_STATE,
                "AgentState": REQUESTABLE[wanted],
                "EventReasonCode": reason,
            }
            if wanted == "LOGIN":
                fields["MaxTaskLimit"] = update.max_dialog_limit or 1
                self._media_limits[(target.id, mrd)] = update.max_dialog_limit or 1
        else:
            fields |= {"Action": MediaAction.SET_ROUTABLE, "AgentMode": int(bool(update.routable))}
        msg = make(M.EMU_SET_MEDIA_STATE_REQ, [(Tag.AGENT_ID, target.id)], **fields)
        user.media.setdefault(mrd, slot).request_id = request_id
        self._spawn(self._send_media_request(target.id, mrd, msg, request_id))
        return None

    async def _send_media_request(self, user_id: str, mrd: int, msg: Any, request_id: str) -> None:
        try:
            await self.cti.request(msg, timeout=self.timers.cti_open_timeout)
        except CtiRequestError as exc:
            slot = self.model.user(user_id).media.get(mrd)
            if slot is not None:
                slot.request_id = ""
            node = source = f"{API}/User/{user_id}/Media/{mrd}"
            code = (
                exc.reply["PeripheralErrorCode"]
                if exc.reply is not None and exc.reply.type == M.CONTROL_FAILURE_CONF
                else 0
            )
            err = media_api_error(code, mrd, str(exc))
            text = update_document(X.api_errors_event([err]), "PUT", request_id, source, error=True)
            self.published.append((node, text))
            if self.notifier is not None and self.notifier.connected:
                self._spawn(self.notifier.publish(node, text))
            log.info("finesse_media_change_failed", user=user_id, mrd=mrd, error=str(exc))

    def dialog_view(self, dialog_id: str) -> X.DialogView:
        d = self.model.dialogs[dialog_id]
        agent_state = {"ALERTING": "ALERTING", "ACTIVE": "ACTIVE"}.get(d.state, "DROPPED")
        actions = {"ALERTING": ("ANSWER",), "ACTIVE": ("HOLD", "DROP", "TRANSFER_SST", "CONSULT_CALL")}
        participants = (
            X.ParticipantView(d.device, agent_state, actions.get(d.state, ()), "AGENT_DEVICE", d.start_time),
            X.ParticipantView(
                d.from_address or "unknown",
                "ACTIVE" if d.state != "DROPPED" else "DROPPED",
                (),
                "",
                d.start_time,
            ),
        )
        variables = tuple(X.CallVariable(k, v) for k, v in sorted(d.variables.items()))
        props = X.MediaPropertiesView(
            dialed_number=d.to_address, call_type="ACD_IN", dnis=d.to_address, call_variables=variables
        )
        return X.DialogView(d.id, d.state, d.from_address, d.to_address, participants, props)

    def team_view(self, team_id: int) -> X.TeamView | None:
        if team_id not in self.teams:
            return None
        members = tuple(self._team_user(a) for a in self.directory.values() if a.team_id == team_id)
        return X.TeamView(team_id, self.teams[team_id], members)

    def _team_user(self, agent: AuthUser) -> X.TeamUserView:
        u = self.model.user(agent.id)
        category = "LOGOUT" if u.state == "LOGOUT" else "NOT_READY"
        reason = self._reason(category, u.reason_code) if u.state in ("NOT_READY", "LOGOUT") else None
        return X.TeamUserView(
            agent.id,
            u.state,
            agent.first_name,
            agent.last_name,
            u.extension,
            u.pending_state,
            u.state_change_time or None,
            reason,
        )

    def system_info_document(self) -> bytes:
        """GET SystemInfo, rendered once per change of its content and stamped per request.

        Clients poll SystemInfo (desktops every 20 s, IP Phone Agents every 5 s): rendering the XML
        was most of each request's cost, and only currentTimestamp changes between most polls.
        """
        view = self.system_info_view()
        key = dataclasses.replace(view, current_timestamp=0.0)
        if key != self._system_info_key:
            self._system_info_key = key
            self._system_info_template = X.system_info(key)
        stamp = X.format_time(view.current_timestamp).encode()
        return self._system_info_template.replace(_EPOCH_STAMP, b"<currentTimestamp>" + stamp, 1)

    def system_info_view(self) -> X.SystemInfoView:
        cfg = self.config
        primary = cfg.primary_host or (cfg.domain if cfg.role == "publisher" else "")
        secondary = cfg.secondary_host or (cfg.domain if cfg.role == "subscriber" else "")
        https = self.https_port or cfg.https_port
        now = self.clock.now()
        servers = tuple(
            X.CtiServerView(
                host,
                int(now - self._cti_up_at) if self.cti.active_side == name and self._cti_up_at else 0,
                self.cti.active_side == name,
            )
            for name, host, _port in cfg.cti_sides
        )
        return X.SystemInfoView(
            current_timestamp=self.clock.wall(),
            status=self.status.status.value,
            status_reason=self.status.reason,
            xmpp_domain=cfg.domain,
            primary_node=X.NodeView(primary or cfg.domain, https, cfg.xmpp_port),
            secondary_node=X.NodeView(secondary, https, cfg.xmpp_port) if secondary else None,
            deployment_type=cfg.deployment_type,
            last_cti_heartbeat_ok=self._heartbeat_ok,
            last_success_cti_heartbeat_time=self._heartbeat_ok_wall,
            cti_heartbeat_interval=round(self.timers.unscaled("cti_heartbeat_interval")),
            peripheral_id=cfg.peripheral_id,
            cti_servers=servers,
        )

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
            site = web.TCPSite(
                self._rest_runner, cfg.host, self.http_port or cfg.http_port, reuse_address=True
            )
            await site.start()
            self._rest_sites.append(site)
            self.http_port = bound_port(site)
        if cfg.https_port != -1:
            if self._ssl_context is None:
                self._ssl_context = self._tls_context()
            site = web.TCPSite(
                self._rest_runner,
                cfg.host,
                self.https_port or cfg.https_port,
                ssl_context=self._ssl_context,
                reuse_address=True,
            )
            await site.start()
            self._rest_sites.append(site)
            self.https_port = bound_port(site)

    async def _close_rest(self) -> None:
        for site in self._rest_sites:
            await site.stop()
        self._rest_sites.clear()

    def _tls_context(self) -> ssl.SSLContext:
        """The HTTPS server context: the configured certificate and key (the node only loads them),
        or, for a node started without any, a CA and a certificate made in its run_dir."""
        from emu_base import tls

        cfg = self.config
        cert, key, ca = cfg.cert_file, cfg.key_file, cfg.ca_file
        if not (cert and key):
            run = Path(cfg.run_dir or ".")
            made = tls.ensure_tls(run, {cfg.name: cfg.tls_hosts()})
            cert, key = (str(p) for p in made.nodes[cfg.name])
            ca = str(made.ca_file.absolute())
            log.info("finesse_tls_ca", ca_file=ca, hosts=cfg.tls_hosts(), made=[p.name for p in made.made])
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise OSError(f"{cfg.name}: HTTPS certificate {cert} / key {key}: {exc}") from exc
        self.ca_file = ca
        return ctx

    async def _start_admin(self) -> None:
        app = admin_routes(self.config.name, "finesse", self.health, self.faults, self.config.admin_token)
        runner = app_runner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.config.host, self.config.admin_port, reuse_address=True)
        await site.start()
        self.admin_port = bound_port(site)

    async def _webapp_down(self, fault: F.Fault, active: bool) -> None:
        now = self.clock.now()
        if active:
            self._apply_status(self.status.down(Dependency.WEBAPP, now))
            await self._close_rest()
            if self.notifier is not None:
                await self.notifier.stop()  # the finesse user's presence turns Unavailable
        else:
            await self._open_rest()
            if self.notifier is not None:
                self._spawn(self.notifier.start(wait=False))
            self._apply_status(self.status.up(Dependency.WEBAPP, now))

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
