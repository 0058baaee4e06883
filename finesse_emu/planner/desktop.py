"""The planner's shell around one unchanged ``DesktopMachine``: the virtual-time twin of
``desktop/client.py``.

It drives the machine with the asyncio client's ``emu_base.sansio.Driver`` on the simulator's
clock (``events.SimClock``): carries out every command the machine outputs and reports each
outcome back through the same input the asyncio client uses (GetSystemInfo -> ``on_system_info``,
ConnectNotification -> ``on_notification``, SignIn -> ``on_sign_in``, LoadDesktop ->
``on_loaded``; the machine's deadline -> ``handle_timer``; the world calls
``on_notification_lost``, ``on_system_info_event`` and ``on_finesse_presence`` when a fault
reaches the desktop). Only the transport differs: requests go to the server model (``server.py``)
and take virtual time instead of sockets.

What a browser does that costs time is modelled here, because it belongs to the client:
* at most ``browser_connections`` requests in flight per node (browsers open six per host);
* the connections to a node cost ``connect_round_trips`` RTTs (TCP, then TLS) before the first
  request: opened together, on the first request to that node, then kept alive;
* a Notification Service session costs ``xmpp_round_trips`` RTTs of protocol exchanges (BOSH
  session creation, SASL, bind, subscriptions) besides its work on the server;
* a host that is gone answers nothing: the client gives up after ``dead_timeout``; a live host
  whose service is down refuses at once (one RTT).
"""

from __future__ import annotations

from collections.abc import Callable

from emu_base.sansio import Driver
from finesse_emu.desktop.machine import (
    ConnectNotification,
    DesktopMachine,
    DropNotification,
    GetSystemInfo,
    LoadDesktop,
    Output,
    Record,
    Result,
    SignIn,
    SignOut,
    SystemInfo,
)
from finesse_emu.planner.events import SimClock
from finesse_emu.planner.server import Kind, Request
from finesse_emu.planner.world import World

_GADGETS = (Kind.XML_GADGET, Kind.JSP_GADGET)
_OK = Result(True)
_FAILED = Result(False, "unavailable")


class _Load:
    """One LoadDesktop in progress: a queue of requests behind the browser's connection limit."""

    __slots__ = ("failed", "left", "node", "pending")

    def __init__(self, node: str, kinds: list[Kind]) -> None:
        self.node = node
        self.pending = kinds  # not sent yet (popped from the end)
        self.left = len(kinds)  # not answered yet
        self.failed = False


class SimDesktop:
    __slots__ = (
        "_cached",
        "_driver",
        "_load",
        "_ready",
        "detected_at",
        "done_at",
        "failover_seconds",
        "index",
        "machine",
        "moved",
        "world",
        "xmpp_node",
    )

    def __init__(self, world: World, index: int, machine: DesktopMachine) -> None:
        self.world = world
        self.index = index
        self.machine = machine
        self.xmpp_node = ""  # the node of the live Notification Service session ("" = none)
        self._driver: Driver[Output] = Driver(machine, SimClock(world.sim), self._execute)
        self._ready: dict[str, float] = {}  # node -> when the browser's connections to it are up
        self._cached: set[str] = set()  # nodes whose desktop resources the browser holds
        self._load: _Load | None = None
        self.detected_at: float | None = None  # the failover_detected record's time
        self.done_at: float | None = None
        self.failover_seconds: float | None = None  # the failover_done record's ``seconds``
        self.moved = False

    def start(self) -> None:
        """Open the desktop: it signs in to its home node."""
        self.machine.start(self.world.sim.now)
        self._driver.pump()

    # -- the commands (client.py's _on_output) --------------------------------------------------------
    def _execute(self, cmd: Output) -> None:
        kind = type(cmd)
        if kind is Record:
            assert isinstance(cmd, Record)
            self._record(cmd)
        elif kind is GetSystemInfo:
            assert isinstance(cmd, GetSystemInfo)
            self._send(cmd.node, Kind.SYSTEMINFO, self._on_system_info)
        elif kind is ConnectNotification:
            assert isinstance(cmd, ConnectNotification)
            self._connect(cmd.node)
        elif kind is SignIn:
            assert isinstance(cmd, SignIn)
            self._send(cmd.node, Kind.SIGN_IN, self._on_sign_in)
        elif kind is LoadDesktop:
            assert isinstance(cmd, LoadDesktop)
            self._start_load(cmd.node, cmd.config)
        elif kind is DropNotification:
            assert isinstance(cmd, DropNotification)
            if self.xmpp_node == cmd.node:
                self.xmpp_node = ""  # leaving costs the client nothing worth modelling
        elif kind is SignOut:
            pass  # only SSO token expiry signs out; the planner runs no tokens
        else:  # pragma: no cover - a new command in machine.py must be handled here
            raise TypeError(f"unhandled command {cmd!r}")

    def _record(self, cmd: Record) -> None:
        event = cmd.event
        world = self.world
        world.records[event] = world.records.get(event, 0) + 1
        if event == "failover_detected":
            self.detected_at = world.sim.now
        elif event == "failover_done":
            self.failover_seconds = float(cmd.fields["seconds"])
            self.done_at = world.sim.now
        elif event == "moved":
            self.moved = True

    # -- transport -------------------------------------------------------------------------------------
    def _send(self, node_name: str, kind: Kind, done: Callable[[Request], None]) -> None:
        """Send one request to ``node_name``, opening a connection first if the browser needs one."""
        world = self.world
        node = world.nodes[node_name]
        request = Request(self, node_name, kind, done)
        if world.instant:  # warm-up: answered at once, from the node's health
            request.ok = node.host_up and node.web_up and node.status == "IN_SERVICE"
            request.status, request.heartbeat_ok = node.status, node.heartbeat_ok
            world.sim.after(0.0, done, request)
            return
        if not node.host_up:
            world.sim.after(world.net.dead_timeout, done, request)
            return
        if not node.web_up:
            world.sim.after(world.net.rtt, done, request)  # refused by the live host
            return
        ready = self._ready.get(node_name)
        if ready is None:
            # The first request to a node opens the browser's connections to it (in parallel:
            # one handshake's time); whatever is sent before they are up waits for them.
            ready = world.sim.now + world.net.rtt * world.browser.connect_round_trips
            self._ready[node_name] = ready
        if ready > world.sim.now:
            world.sim.at(ready, node.send, request)
        else:
            node.send(request)

    def _connect(self, node_name: str) -> None:
        """ConnectNotification: a BOSH session (its round trips, then its work on the node)."""
        world = self.world
        node = world.nodes[node_name]
        if world.instant:
            ok = node.host_up and node.xmpp_up
            world.sim.after(0.0, self._on_notification, (node_name, ok))
        elif not node.host_up:
            world.sim.after(world.net.dead_timeout, self._on_notification, (node_name, False))
        elif not node.xmpp_up:
            world.sim.after(world.net.rtt, self._on_notification, (node_name, False))
        else:
            # Its own connection (not one of the six): TCP and TLS, then the XMPP exchanges; the
            # node's work for the session is one XMPP job at the end.
            trips = world.browser.connect_round_trips + world.browser.xmpp_round_trips - 1
            request = Request(self, node_name, Kind.XMPP, self._on_xmpp)
            world.sim.after(world.net.rtt * trips, node.send, request)

    def _on_xmpp(self, request: Request) -> None:
        self._on_notification((request.node, request.ok))

    # -- outcomes back into the machine ----------------------------------------------------------------
    def _on_system_info(self, request: Request) -> None:
        info = (
            SystemInfo(True, request.status, request.heartbeat_ok)
            if request.ok
            else SystemInfo(reachable=False)
        )
        self.machine.on_system_info(self.world.sim.now, request.node, info)
        self._driver.pump()

    def _on_notification(self, arg: tuple[str, bool]) -> None:
        node, ok = arg
        if ok:
            self.xmpp_node = node
        self.machine.on_notification(self.world.sim.now, node, _OK if ok else _FAILED)
        self._driver.pump()

    def _on_sign_in(self, request: Request) -> None:
        result = _OK if request.ok else _FAILED
        self.machine.on_sign_in(self.world.sim.now, request.node, result)
        self._driver.pump()

    # -- LoadDesktop (client.py's _load) ---------------------------------------------------------------
    def _start_load(self, node: str, config: bool) -> None:
        b = self.world.browser
        resource = Kind.RESOURCE if node in self._cached else Kind.RESOURCE_FULL
        gadget = Kind.JSP_GADGET if b.jsp else Kind.XML_GADGET
        # In the browser's order (the list is popped from its end): the desktop's resources, the
        # gadgets, then the user's data; each gadget's own assets follow its spec (_on_load_part).
        kinds = [Kind.REST] * (5 if config else 2) + [gadget] * b.gadgets + [resource] * b.resources
        if config:
            # The first sign-in leaves the resources in the browser's cache; preLoadSecondaryResources
            # also fetches the other node's, so a failover there only revalidates them.
            self._cached.add(node)
            if b.preload_secondary:
                self._cached.update(self.world.nodes)
        if self.world.instant:  # warm-up: the whole desktop loads at once (one event, not forty)
            n = self.world.nodes[node]
            ok = n.host_up and n.web_up and n.status == "IN_SERVICE"
            self.world.sim.after(0.0, self._loaded_at_once, (node, ok))
            return
        self._load = _Load(node, kinds)
        for _ in range(min(b.browser_connections, len(kinds))):
            self._next_load_request()

    def _loaded_at_once(self, arg: tuple[str, bool]) -> None:
        node, ok = arg
        self.machine.on_loaded(self.world.sim.now, node, _OK if ok else _FAILED)
        self._driver.pump()

    def _next_load_request(self) -> None:
        load = self._load
        if load is not None and load.pending:
            self._send(load.node, load.pending.pop(), self._on_load_part)

    def _on_load_part(self, request: Request) -> None:
        load = self._load
        if load is None or request.node != load.node:
            return
        load.left -= 1
        assets = self.world.browser.gadget_assets
        if request.ok and assets and request.kind in _GADGETS and not load.failed:
            # The rendered gadget names its scripts and styles: fetched (revalidated) only now.
            load.pending.extend([Kind.RESOURCE] * assets)
            load.left += assets
        if not request.ok and not load.failed:  # one failure fails the load: send nothing more
            load.failed = True
            load.left -= len(load.pending)
            load.pending.clear()
        if load.pending:
            self._next_load_request()
        elif load.left == 0:
            self._load = None
            self.world.nodes[load.node].release(self)
            result = _FAILED if load.failed else _OK
            self.machine.on_loaded(self.world.sim.now, load.node, result)
            self._driver.pump()

    # -- faults reaching the desktop (client.py's _lost, _presence, _read_events) ------------------
    def notification_lost(self, node: str) -> None:
        if self.xmpp_node == node:
            self.xmpp_node = ""
            self.machine.on_notification_lost(self.world.sim.now)
            self._driver.pump()

    def system_info_event(self, arg: tuple[str, str]) -> None:
        node, status = arg
        if self.xmpp_node == node:  # events reach only a live session on that node
            self.machine.on_system_info_event(self.world.sim.now, node, status)
            self._driver.pump()

    def finesse_presence(self, arg: tuple[str, bool]) -> None:
        node, available = arg
        if self.xmpp_node == node:
            self.machine.on_finesse_presence(self.world.sim.now, available)
            self._driver.pump()
