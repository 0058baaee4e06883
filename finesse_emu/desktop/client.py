"""The asyncio shell of a desktop or IP Phone Agent: REST with aiohttp (``rest.py``), XMPP with
slixmpp (``xmpp.py``).

It drives a sans-IO machine (``machine.py``, ``ippa.py``) through ``emu_base.sansio.Driver``:
carries out each command the machine outputs and reports the result back as an input; the
machine's one deadline is a loop timer (``Clock.call_at``), so under ``looptime`` the whole client
runs on virtual time. It speaks only the documented Finesse REST and XMPP surface (plus the gadget
URLs it is given), so it can be aimed at a real Finesse as well as at the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from defusedxml import ElementTree as DET

from emu_base.clock import LoopClock
from emu_base.history import History
from emu_base.history_events import HttpError, NetworkGlitch, NotificationLost, State
from emu_base.sansio import Cancellable, Driver
from emu_base.timers import Timers
from finesse_emu.desktop import calls as C
from finesse_emu.desktop.chat import DesktopChat, ImpServer
from finesse_emu.desktop.ippa import IppaConfig, IppaMachine, IppaState
from finesse_emu.desktop.machine import (
    ConnectNotification,
    DesktopConfig,
    DesktopMachine,
    DesktopState,
    DropNotification,
    GetSystemInfo,
    LoadDesktop,
    Output,
    Record,
    RefreshToken,
    Result,
    SignIn,
    SignOut,
)
from finesse_emu.desktop.rest import API, AgentCredentials, DesktopRest, LoadPlan, NodeEndpoint
from finesse_emu.desktop.sso import SsoError, Tokens
from finesse_emu.desktop.sso import refresh as sso_refresh
from finesse_emu.desktop.sso import sign_in as sso_sign_in
from finesse_emu.desktop.xmpp import AgentXmpp

# The client's public face: callers build one from these.
__all__ = ["AgentCredentials", "DesktopClient", "ImpServer", "LoadPlan", "NodeEndpoint"]


class DesktopClient:
    """One browser (``ippa=False``) or one IP phone (``ippa=True``) signed in as one agent."""

    def __init__(
        self,
        agent: AgentCredentials,
        endpoints: dict[str, NodeEndpoint],
        home: str,
        http: aiohttp.ClientSession,
        history: History,
        timers: Timers,
        *,
        ippa: bool = False,
        plan: LoadPlan | None = None,
        ids_url: str | None = None,
        request_timeout: float | None = None,
        rtt: float = 0.0,
        imp: Sequence[ImpServer] = (),
        slow_network: bool = False,
    ) -> None:
        self.agent = agent
        self.endpoints = endpoints
        self.history = history
        self.timers = timers
        self.ippa = ippa
        self.home = home
        self.source = "ippa" if ippa else "desktop"
        self.plan = plan or LoadPlan()
        # Single sign-on: the Identity Service the desktop gets its tokens from (None: Basic), and
        # the tokens of the current session there.
        self.ids_url = ids_url
        self._tokens: Tokens | None = None
        others = [n for n in endpoints if n != home]
        self.machine: DesktopMachine | IppaMachine
        if ippa:
            self.machine = IppaMachine(IppaConfig(agent.id, home, timers))
        else:
            cfg = DesktopConfig(agent.id, home, others[0] if others else "", timers)
            self.machine = DesktopMachine(cfg)
        self.clock = LoopClock()
        self._driver: Driver[Output] = Driver(self.machine, self.clock, self._on_output)
        self.request_timeout = request_timeout or timers.desktop_request_timeout
        # A WAN between this desktop and the nodes, in user space (no netem here): every request and
        # every Notification Service connect waits one round trip first (seconds, already scaled).
        self.rtt = rtt
        # "If the Finesse desktop is running over a slower network connection, Finesse may not
        # always receive an Unavailable presence notification from the client browser. In this
        # situation, the behavior mimics a browser crash": a closed browser's best-effort
        # Unavailable never reaches the node, which finds the session dead by its pings.
        self.slow_network = slow_network
        self._unload_lost = False  # set while closing on a slow network: the presence is lost
        self.stats: Counter[str] = Counter()
        self.rest = DesktopRest(
            agent,
            endpoints,
            http,
            self.plan,
            self.clock,
            self.request_timeout,
            rtt,
            self.stats,
            self._http_error,
        )
        self.xmpp: AgentXmpp | None = None
        # Unopened XMPP clients by node, reused by the next connect there: the client of a failed
        # attempt, or one built ahead in the quiet reconnect window (_prepare_standby). Building a
        # slixmpp client (its plugins) costs more CPU than a refused attempt or half a login.
        self._spares: dict[str, AgentXmpp] = {}
        self.xmpp_node = ""
        self.user_state = "LOGOUT"
        self.on_record: Callable[[DesktopClient, Record], None] | None = None
        self._standby: dict[str, Cancellable] = {}  # node -> timer building its standby client
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._frozen: list[AgentXmpp] = []  # silent sessions (crash, glitch), released at stop
        # Desktop chat: the chat gadget's session on Cisco IM&P (``imp``: its nodes, publisher
        # first), not on the Notification Service; chat.py says how each failover treats it.
        self.chat = DesktopChat(
            agent.id,
            agent.password,
            () if ippa else imp,
            history,
            timers,
            source=self.source,
            request_timeout=self.request_timeout,
        )
        self._reader: asyncio.Future[None] | None = None  # the current session's event reader
        self.started = False
        # The desktop's calls (calls.py): the dialogs it reads and the call control it does.
        self.calls = C.DialogBook(agent.id, agent.extension)
        self._calls: Driver[C.Output] = Driver(self.calls, self.clock, self._on_call_output)

    # -- life ------------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.clock.now()

    @property
    def state(self) -> str:
        return self.machine.state.value

    @property
    def signed_in(self) -> bool:
        m = self.machine
        return m.state is (IppaState.SIGNED_IN if isinstance(m, IppaMachine) else DesktopState.SIGNED_IN)

    @property
    def node(self) -> str:
        return self.machine.node

    def start(self) -> None:
        """Open the browser (a first launch, or again after it was closed) and sign in."""
        if self.plan.clear_cache_on_launch:
            self.rest.clear_cache()  # a freshly opened browser holds nothing to revalidate
        self.started = True
        m = self.machine
        if isinstance(m, IppaMachine):
            m.sign_in(self.now)
        else:
            m.start(self.now)
        self._pump()

    async def stop(self, presence: bool = True) -> None:
        """Stop the client (test teardown): no more commands, timers or tasks; XMPP closed."""
        self._closed = True
        self._driver.close()
        self._calls.close()
        for handle in self._standby.values():
            handle.cancel()
        self._standby.clear()
        for task in list(self._tasks):
            task.cancel()
        await self._drop(presence)
        await self.chat.stop()
        self._spares.clear()
        for frozen in self._frozen:
            frozen.abort()
        self._frozen.clear()

    # -- browser actions and faults (scenarios) -------------------------------------------------------
    def close_browser(self, crash: bool = False) -> None:
        if isinstance(self.machine, DesktopMachine):
            self.chat.close(crash)
            self._unload_lost = not crash and self.slow_network
            try:
                self.machine.close(self.now, crash)
                self._pump()  # the drop is carried out here, synchronously
            finally:
                self._unload_lost = False

    def refresh_browser(self) -> None:
        if isinstance(self.machine, DesktopMachine):
            self.machine.refresh(self.now)
            self._pump()

    # -- desktop chat --------------------------------------------------------------------------------
    @property
    def chat_status(self) -> str:
        return self.chat.status

    @property
    def chats(self) -> set[str]:
        """Peers (agent ids) with an active chat session."""
        return self.chat.sessions

    def start_chat(self, peer: DesktopClient) -> bool:
        """Open a chat with ``peer`` (a message through this desktop's IM&P session)."""
        return self.chat.start(peer.agent.id)

    def set_chat_status(self, status: str) -> None:
        self.chat.set_status(status)

    def set_agent_state(self, state: str) -> None:
        """The agent clicks READY or NOT_READY: PUT User (the new state arrives as a user event;
        a refusal or no answer may be an error message the desktop shows)."""
        self._spawn(self._set_state(self.node, state))

    async def _set_state(self, node: str, state: str) -> None:
        result = await self.rest.set_state(node, state)
        if isinstance(self.machine, DesktopMachine) and not self._closed:
            self.machine.on_request(self.now, node, f"PUT {API}/User/{self.agent.id}", result)
            self._pump()

    # -- calls ---------------------------------------------------------------------------------------
    def place_call(self, script: Sequence[str], dial: str = "") -> None:
        """Put the agent on a call: the call-control actions to take in order (each once its
        participant lists it), and the number to dial if the agent places the call."""
        self.calls.place(self.now, script, dial)
        self._pump_calls()

    def _pump_calls(self) -> None:
        if not self._closed:
            self._calls.pump()

    def _on_call_output(self, cmd: C.Output) -> None:
        if self._closed:
            return
        if isinstance(cmd, Record):
            self._log_record(cmd)
        else:
            self._spawn(self._call_control(self.node, cmd))

    async def _call_control(self, node: str, cmd: C.ActOnDialog | C.MakeCall) -> None:
        if isinstance(cmd, C.MakeCall):
            status = await self.rest.make_call(node, cmd.to)
            if not self._closed:
                self.calls.on_make_call_result(self.now, cmd.to, status)
        else:
            status = await self.rest.dialog_action(node, cmd.dialog, cmd.action, cmd.to)
            if not self._closed:
                self.calls.on_action_result(self.now, cmd.dialog, cmd.action, status)
        self._pump_calls()

    def network_glitch(self, seconds: float) -> None:
        """This client loses the network to its node for ``seconds``: the XMPP socket dies silently."""
        self.rest.blocked_until[self.node] = self.now + seconds
        self.history.record(self.source, NetworkGlitch(agent=self.agent.id, node=self.node, seconds=seconds))
        xmpp, self.xmpp = self.xmpp, None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if xmpp is not None:
            # Nothing reaches the server: the session goes silent (the server notices only by its
            # pings), while the desktop's own EventTunnel notices the loss and the failover starts.
            xmpp.freeze()
            self._frozen.append(xmpp)
            self.machine.on_notification_lost(self.now)
            self._pump()

    # -- driving the machine -----------------------------------------------------------------------
    def _pump(self) -> None:
        """After every input: carry out what the machine produced, re-arm its deadline."""
        if not self._closed:
            self._driver.pump()

    def _on_output(self, cmd: Output) -> None:
        if self._closed:
            return
        if isinstance(cmd, Record):
            self._log_record(cmd)
        elif isinstance(cmd, DropNotification):
            if self._unload_lost and cmd.presence:
                self.stats["presence_lost"] += 1
            self._spawn(self._drop(cmd.presence and not self._unload_lost))
        else:
            self._spawn(self._execute(cmd))

    def _log_record(self, cmd: Record) -> None:
        """The one place a machine's record reaches the run's history (and the swarm's counters)."""
        self.history.record(self.source, cmd.entry)
        if isinstance(cmd.entry, State):
            self.stats[f"state_{cmd.entry.to}"] += 1
        elif isinstance(cmd.entry, NotificationLost):
            self._prepare_standby()
        if self.on_record is not None:
            self.on_record(self, cmd)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, cmd: Output) -> None:
        m = self.machine
        if isinstance(cmd, GetSystemInfo):
            info = await self.rest.system_info(cmd.node)
            m.on_system_info(self.now, cmd.node, info)
        elif isinstance(cmd, ConnectNotification):
            result = await self._connect(cmd.node)
            m.on_notification(self.now, cmd.node, result)
        elif isinstance(cmd, SignIn):
            refused = await self._sso_sign_in(cmd.node)
            result = refused or await self.rest.sign_in(cmd.node)
            m.on_sign_in(self.now, cmd.node, result)
        elif isinstance(cmd, RefreshToken) and isinstance(m, DesktopMachine):
            await self._sso_refresh(m)
        elif isinstance(cmd, LoadDesktop) and isinstance(m, DesktopMachine):
            result = await self._load(cmd.node, cmd.config)
            if result.ok and not self._closed:
                # The chat gadget is part of the page: a page load (sign-in, browser refresh, a
                # move to the other node) loads it again; a data refresh in place does not.
                self.chat.page_loaded(cmd.node, full=cmd.config)
            m.on_loaded(self.now, cmd.node, result)
        elif isinstance(cmd, SignOut):
            await self.rest.set_state(cmd.node, "LOGOUT", cmd.reason_code or None)
            self._tokens = None  # signed out: the next sign-in goes through the Identity Service
        self._pump()

    # -- single sign-on ------------------------------------------------------------------------------
    async def _sso_sign_in(self, node: str) -> Result | None:
        """Before the REST sign-in, tokens from the Identity Service if the desktop holds none (a
        browser refresh or a move to the other node keeps them). None, or the failed sign-in."""
        if self.ids_url is None or self._tokens is not None or not isinstance(self.machine, DesktopMachine):
            return None
        redirect = f"{self.endpoints[node].base_url}/desktop/sso/authcode"
        asked = self.now
        try:
            tokens = await sso_sign_in(
                self.rest.http,
                self.ids_url,
                self.agent.id,
                self.agent.password,
                redirect,
                self.request_timeout,
            )
        except SsoError as exc:
            self.stats["sso_sign_in_failed"] += 1
            return Result(False, f"single sign-on: {exc}", exc.status)
        self._tokens = tokens
        self.rest.use_bearer(tokens.access_token)
        self.stats["sso_sign_ins"] += 1
        self._on_tokens(self.machine, tokens, asked, True)
        return None

    async def _sso_refresh(self, m: DesktopMachine) -> None:
        if self.ids_url is None or self._tokens is None:
            return
        asked = self.now
        try:
            tokens = await sso_refresh(
                self.rest.http, self.ids_url, self._tokens.refresh_token, self.request_timeout
            )
        except SsoError:
            self.stats["sso_refresh_failed"] += 1
            m.on_token_refresh_failed(self.now)
            return
        self._tokens = tokens
        self.rest.use_bearer(tokens.access_token)
        self.stats["sso_refreshes"] += 1
        self._on_tokens(m, tokens, asked, False)

    def _on_tokens(self, m: DesktopMachine, tokens: Tokens, asked: float, signed_in: bool) -> None:
        """The lifetimes counted from when the tokens were asked for: the IdS issued them after that,
        so the desktop never believes a token lives longer than it does."""
        late = self.now - asked
        m.on_tokens(self.now, tokens.expires_in - late, tokens.refresh_expires_in - late, signed_in)

    async def _load(self, node: str, config: bool) -> Result:
        result, user_state = await self.rest.load(node, config)
        self.user_state = user_state or self.user_state
        if result.ok and self.rest.last_dialogs is not None and not self._closed:
            with contextlib.suppress(Exception):  # an unreadable list: the Updates still follow
                dialogs = C.parse_dialogs(DET.fromstring(self.rest.last_dialogs))
                self.calls.on_loaded(self.now, node, dialogs)
            self._pump_calls()
        # After the first sign-in: preLoadSecondaryResources, as the node's desktop property says
        # (pointless when every reload fetches in full anyway: bypassServerCache).
        if result.ok and config and not self.plan.bypass_server_cache:
            self._spawn(self.rest.preload(node))
        return result

    def _http_error(self, node: str, status: int, error: str, path: str) -> None:
        self.history.record(
            self.source, HttpError(agent=self.agent.id, node=node, status=status, error=error, path=path)
        )

    # -- REST --------------------------------------------------------------------------------------
    # -- XMPP --------------------------------------------------------------------------------------
    async def _connect(self, node: str) -> Result:
        if self.rest.blocked(node):
            return Result(False, "unreachable")
        await self._drop(presence=True)
        if self.rtt > 0:  # TCP, stream and SASL exchanges: a few round trips
            await asyncio.sleep(4 * self.rtt)
        xmpp = self._spares.pop(node, None) or self._new_xmpp(node)
        self.xmpp, self.xmpp_node = xmpp, node
        t0 = time.monotonic()
        try:
            await xmpp.connect(timeout=self.request_timeout, wait_finesse=True)
        except Exception as exc:  # refused, auth failure, no finesse presence in time
            if self.xmpp is xmpp:
                self.xmpp = None
            xmpp.abort()
            if not xmpp.reached:  # never reached its server: no state, no late events
                self._spares[node] = xmpp
            self.stats["xmpp_failed"] += 1
            return Result(False, f"notification: {type(exc).__name__}")
        self.stats["xmpp_connect_seconds_total"] += int((time.monotonic() - t0) * 1000)
        self._spares.clear()  # settled on a node: no memory held for the others
        self._reader = asyncio.ensure_future(self._read_events(xmpp, node))
        self._tasks.add(self._reader)
        self._reader.add_done_callback(self._tasks.discard)
        return Result(True)

    def _prepare_standby(self) -> None:
        """The session dropped: build the other nodes' clients now, spread over the first half of
        the reconnect window while the machine is idle, so that a failover does not pay for them
        when every desktop moves at once."""
        # Spread by agent (deterministic: a virtual-clock run stays repeatable).
        spread = (zlib.crc32(self.agent.id.encode()) % 1000) / 1000
        at = self.now + spread * self.timers.notification_reconnect_pause / 2
        for node in self.endpoints:
            # One pending build per node: a later loss finds it still due, and sooner.
            if node != self.node and node not in self._spares and node not in self._standby:
                self._standby[node] = self.clock.call_at(at, functools.partial(self._build_standby, node))

    def _build_standby(self, node: str) -> None:
        self._standby.pop(node, None)
        if not self._closed and node not in self._spares and node != self.xmpp_node:
            self._spares[node] = self._new_xmpp(node)

    def _new_xmpp(self, node: str) -> AgentXmpp:
        ep = self.endpoints[node]
        jid = f"{self.agent.id.lower()}@{ep.domain}/{self.source}"
        xmpp = AgentXmpp(
            jid, self.agent.password, ep.xmpp_host, ep.xmpp_port, iq_timeout=self.request_timeout
        )
        xmpp.on_finesse_presence = lambda available: self._presence(xmpp, available)
        xmpp.on_disconnected = lambda: self._lost(xmpp)
        return xmpp

    async def _drop(self, presence: bool) -> None:
        xmpp, self.xmpp = self.xmpp, None
        if xmpp is None:
            return
        if presence:
            await xmpp.disconnect()
        else:
            xmpp.freeze()  # a crashed browser sends nothing: the server finds out by its pings
            self._frozen.append(xmpp)

    def _presence(self, xmpp: AgentXmpp, available: bool) -> None:
        # A presence change that comes with the session's own end is reported as the disconnection.
        if (
            xmpp is self.xmpp
            and xmpp.connected
            and not self._closed
            and isinstance(self.machine, DesktopMachine)
        ):
            self.machine.on_finesse_presence(self.now, available)
            self._pump()

    def _lost(self, xmpp: AgentXmpp) -> None:
        # The server ended the session: retire the client so that its send task is cancelled and
        # finished while the loop runs (dropped as it is, asyncio reports it destroyed pending).
        xmpp.abort()
        if xmpp is self.xmpp and not self._closed:
            self.xmpp = None
            if self._reader is not None:
                self._reader.cancel()
                self._reader = None
            self.machine.on_notification_lost(self.now)
            self._pump()

    async def _read_events(self, xmpp: AgentXmpp, node: str) -> None:
        """Pubsub events of one XMPP session, until the client stops (the task is cancelled).

        No timeout on the queue: a wake-up per desktop per second was most of a 2000-desktop
        swarm's idle CPU (docs/benchmarks.md)."""
        while True:
            event = await xmpp.events.get()
            if self._closed:
                return
            self.stats["events"] += 1
            try:
                update = DET.fromstring(event.update)
            except Exception:
                continue
            data = update.find("data")
            if data is None or len(data) == 0:
                continue
            doc = data[0]
            if xmpp is not self.xmpp:
                continue  # a late event of a session this desktop has left
            if event.node == f"{API}/SystemInfo":
                status = doc.findtext("status") or ""
                self.machine.on_system_info_event(self.now, node, status)
                self._pump()
            elif event.node == f"{API}/User/{self.agent.id}/Dialogs":
                refusals = C.parse_api_errors(doc)
                if refusals:  # a call-control request refused after its 202
                    self.calls.on_refused(self.now, node, update.findtext("source") or "", refusals)
                else:
                    verb = update.findtext("event") or ""
                    self.calls.on_update(self.now, node, verb, C.parse_dialogs(doc))
                self._pump_calls()
            elif event.node == f"{API}/User/{self.agent.id}" and doc.tag.lower() == "user":
                self.user_state = doc.findtext("state") or self.user_state
