"""``finesse-emu swarm``: N desktops (and M IP Phone Agents) in one process.

Agents are split between the publisher and the subscriber as Cisco's chapter recommends ("Agents
configured must be evenly distributed between the publisher and subscriber"), sign in all at once
or as a Poisson arrival, and run the failover logic on their own. ``--slice i/k`` takes the i-th of
k contiguous slices of the agents, so k processes (containers, pods) together run one swarm.
Progress goes to the terminal, counters to Prometheus ``/metrics``, every transition to the run's
history (docs/reports.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import ssl
import sys
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter

from emu_base import control_openapi
from emu_base.admin import bearer_ok, bound_port, read_json_object, unauthorized
from emu_base.control_openapi import ControlOperation, json_object
from emu_base.directory import generate
from emu_base.history import History
from emu_base.history_events import CallsPlaced, ClientAction, FailoverDone
from emu_base.httpbody import app_runner
from emu_base.logs import get_logger
from emu_base.quiet_gc import QuietCollector
from emu_base.timers import Timers
from finesse_emu.desktop.calls import KINDS, CallKind, outside_number, resolve, settled_states
from finesse_emu.desktop.client import AgentCredentials, DesktopClient, ImpServer, LoadPlan, NodeEndpoint
from finesse_emu.desktop.machine import Record

log = get_logger()
CLIENT_ACTIONS = ("close", "back", "crash", "refresh", "glitch", "open", "ready", "not_ready", "chat", "away")
SWARM_FILE = "swarm.json"  # in the run directory: where chaos finds a running swarm's control port


def parse_slice(text: str) -> tuple[int, int]:
    """``"i/k"`` with 0 <= i < k."""
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError as exc:
        raise ValueError(f"--slice must be i/k, got {text!r}") from exc
    if not (k > 0 and 0 <= i < k):
        raise ValueError(f"--slice needs 0 <= i < k, got {text!r}")
    return i, k


def take_slice(items: list[Any], index: int, count: int) -> list[Any]:
    """The index-th of ``count`` contiguous, near-equal slices (together: every item exactly once)."""
    n = len(items)
    return items[index * n // count : (index + 1) * n // count]


def slice_sizes(n: int, count: int) -> list[int]:
    """How many of ``n`` items each of ``count`` slices of ``take_slice`` holds."""
    return [(i + 1) * n // count - i * n // count for i in range(count)]


def publisher_count(n: int, share: float) -> int:
    """How many of a swarm's ``n`` agents start on the publisher (the first ones)."""
    return round(n * share)


def directory_agents(n: int) -> list[AgentCredentials]:
    """The launcher's generated directory: agent 1000+i, password pass<id>, extension 2000+i."""
    return [AgentCredentials(a.id, a.password, a.extension) for a in generate(n)]


def endpoints_from_deployment(run_dir: Path) -> dict[str, NodeEndpoint]:
    """finesse-a and finesse-b of a running ``finesse-emu up`` (its deployment.json)."""
    state = json.loads((run_dir / "deployment.json").read_text())
    comps = {c["name"]: c for c in state["components"]}
    out: dict[str, NodeEndpoint] = {}
    for node, xmpp in (("finesse-a", "xmpp-a"), ("finesse-b", "xmpp-b")):
        c = comps[node]
        x = comps.get(xmpp, {"host": c["host"], "ports": {"xmpp": 5222}})
        out[node] = NodeEndpoint(
            node, f"http://{c['host']}:{c['ports']['rest_http']}", x["host"], x["ports"]["xmpp"]
        )
    return out


def ids_from_deployment(run_dir: Path) -> tuple[str | None, str | None]:
    """The Identity Service's URL of a running ``finesse-emu up`` with single sign-on, and the
    deployment's CA its certificate comes from; (None, None) without single sign-on."""
    state = json.loads((run_dir / "deployment.json").read_text())
    ids = next((c for c in state["components"] if c.get("role") == "ids"), None)
    if ids is None:
        return None, None
    return f"https://{ids['host']}:{ids['ports']['ids']}", state.get("ca_file")


def imp_from_deployment(run_dir: Path) -> list[ImpServer]:
    """The Cisco IM&P nodes of a running ``finesse-emu up`` (publisher first), for desktop chat;
    none for a deployment file that names none."""
    state = json.loads((run_dir / "deployment.json").read_text())
    return [
        ImpServer(c["name"], c["host"], c["ports"]["xmpp"], c.get("domain", ""))
        for c in state["components"]
        if c.get("role") == "imp"
    ]


def endpoint_from_url(name: str, url: str, xmpp_port: int = 5222, xmpp: str | None = None) -> NodeEndpoint:
    """A node from its REST URL. Its Notification Service is on the same host unless ``xmpp``
    (``HOST[:PORT]``) says otherwise, as in docker compose; the XMPP domain stays the URL's host
    (Finesse's xmppDomain is the node's host name)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host, port = parsed.hostname, xmpp_port
    if xmpp:
        host, _, raw_port = xmpp.partition(":")
        if not host or (raw_port and not raw_port.isdigit()):
            raise ValueError(f"XMPP server must be HOST[:PORT], got {xmpp!r}")
        port = int(raw_port) if raw_port else xmpp_port
    return NodeEndpoint(name, f"{parsed.scheme}://{parsed.netloc}", host, port, parsed.hostname)


@dataclass
class SwarmConfig:
    endpoints: dict[str, NodeEndpoint]  # publisher first
    agents: list[AgentCredentials]
    timers: Timers
    ippa: int = 0  # the last M agents are IP Phone Agents (each stays on its node)
    publisher_share: float = 0.5
    plan: LoadPlan = field(default_factory=LoadPlan)
    arrival: str = "all"  # all | poisson
    rate: float = 50.0  # sign-ins per second with poisson arrival
    seed: int = 0
    # Single sign-on: the Identity Service the desktops get their tokens from (None: Basic), and a
    # CA file the swarm trusts besides the system's (the deployment's, which issued its certificate).
    ids_url: str | None = None
    ca_file: str | None = None
    connections: int = 512  # HTTP connection pool of the whole swarm
    hold: int = 0  # the last K desktops are not opened at start (a scenario opens them later)
    verify_tls: bool = True  # False: accept a lab's self-signed certificate (--insecure)
    rtt_ms: float = 0.0  # WAN round trip between desktops and nodes (emulated milliseconds, scaled)
    imp: list[ImpServer] = field(default_factory=list)  # Cisco IM&P nodes for desktop chat
    slow_network: bool = False  # a closed browser's Unavailable presence never arrives (client.py)


class Swarm:
    def __init__(self, config: SwarmConfig, history: History | None = None) -> None:
        self.config = config
        self.history = history or History()
        self.clients: list[DesktopClient] = []
        self.registry = CollectorRegistry()
        self._states = Gauge(
            "finesse_emu_clients",
            "clients by kind, state and node",
            ["kind", "state", "node"],
            registry=self.registry,
        )
        self._failovers = Histogram(
            "finesse_emu_failover_seconds",
            "desktop failover time (detection to signed in again)",
            ["node"],
            buckets=(1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300),
            registry=self.registry,
        )
        self._events = PromCounter(
            "finesse_emu_client_events", "client history events by name", ["event"], registry=self.registry
        )
        self._http: aiohttp.ClientSession | None = None
        self._starter: asyncio.Task[None] | None = None
        # The calls place_calls set up: each kind with its desktops (calls_settled judges them).
        self.placed: list[tuple[CallKind, list[DesktopClient]]] = []
        self._records = 0  # client records so far: the activity the garbage collector watches
        self.collector = QuietCollector(lambda: self._records)  # full GC passes between bursts

    def _on_record(self, client: DesktopClient, record: Record) -> None:
        self._records += 1
        self._events.labels(record.event).inc()
        done = record.entry
        if isinstance(done, FailoverDone) and done.seconds is not None:
            self._failovers.labels(done.node or "").observe(done.seconds)

    async def start(self) -> None:
        cfg = self.config
        nodes = list(cfg.endpoints)
        tls: ssl.SSLContext | bool = cfg.verify_tls
        if cfg.verify_tls and cfg.ca_file:  # the deployment's CA trusted too, as a lab browser would be
            tls = ssl.create_default_context(cafile=cfg.ca_file)
            tls.load_default_certs()
        connector = aiohttp.TCPConnector(limit=cfg.connections, limit_per_host=0, ttl_dns_cache=300, ssl=tls)
        self._http = aiohttp.ClientSession(connector=connector)
        n = len(cfg.agents)
        n_pub = publisher_count(n, cfg.publisher_share) if len(nodes) > 1 else n
        # IP Phone Agents are the last agents of each node's group, in proportion to the group.
        ippa_pub = round(cfg.ippa * n_pub / n) if n else 0
        ippa_ids = {a.id for a in cfg.agents[n_pub - ippa_pub : n_pub]}
        ippa_ids |= (
            {a.id for a in cfg.agents[n - (cfg.ippa - ippa_pub) : n]} if cfg.ippa > ippa_pub else set()
        )
        for i, agent in enumerate(cfg.agents):
            home = nodes[0] if i < n_pub or len(nodes) == 1 else nodes[1]
            client = DesktopClient(
                agent,
                cfg.endpoints,
                home,
                self._http,
                self.history,
                cfg.timers,
                ippa=agent.id in ippa_ids,
                plan=cfg.plan,
                ids_url=None if agent.id in ippa_ids else cfg.ids_url,
                rtt=cfg.rtt_ms / 1000 * cfg.timers.time_scale,
                imp=cfg.imp,
                slow_network=cfg.slow_network,
            )
            client.on_record = self._on_record
            self.clients.append(client)
        self._starter = asyncio.create_task(self._arrive())
        self.collector.start()

    @property
    def held(self) -> list[DesktopClient]:
        """The desktops kept closed at start (``hold``) that have not been opened since, in order."""
        desktops = [c for c in self.clients if c.source == "desktop"]
        held = desktops[len(desktops) - self.config.hold :] if self.config.hold else []
        return [c for c in held if not c.started]

    async def _arrive(self) -> None:
        rng = random.Random(self.config.seed)
        held = {id(c) for c in self.held}
        for client in self.clients:
            if id(client) in held:
                continue
            client.start()
            if self.config.arrival == "poisson":
                await asyncio.sleep(rng.expovariate(self.config.rate))
            else:
                await asyncio.sleep(0)  # let the event loop breathe between thousands of starts

    async def stop(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
        await asyncio.gather(*(c.stop() for c in self.clients), return_exceptions=True)
        await self.collector.stop()
        if self._http is not None:
            await self._http.close()
        # Let the XMPP send tasks cancelled just now finish, while the loop still runs (otherwise
        # asyncio reports each as "destroyed but pending" when the loop closes).
        await asyncio.sleep(self.config.timers.swarm_stop_grace)
        self.history.flush()

    # -- browser actions (scenarios, chaos) ---------------------------------------------------------
    def act(
        self,
        action: str,
        count: int = 1,
        node: str | None = None,
        agent: str | None = None,
        seconds: float = 0.0,
        source: str = "chaos",
    ) -> list[str]:
        """A browser action on ``count`` signed-in desktops (of ``node``), or on ``agent``'s.

        ``close`` / ``back`` (Unavailable presence), ``crash`` (nothing sent), ``refresh``,
        ``glitch`` (no network to its node for ``seconds``), ``open`` (desktops kept closed by
        ``hold``, then desktops closed earlier: the browser launched again). Returns the agents
        acted on; ValueError when there are not enough of them.
        """
        if action not in CLIENT_ACTIONS:
            raise ValueError(f"unknown client action {action!r}; one of {', '.join(CLIENT_ACTIONS)}")
        if action in ("chat", "away") and not self.config.imp:
            raise ValueError(f"{action}: these desktops have no chat gadget (swarm chat: true, --chat)")
        if action == "open":
            closed = [
                c for c in self.clients if c.source == "desktop" and c.started and c.state == "SIGNED_OUT"
            ]
            opened = (self.held + closed)[:count]
            for client in opened:
                client.start()
            return [c.agent.id for c in opened]
        if agent is not None:
            chosen = [c for c in self.clients if c.agent.id == agent and c.source == "desktop"]
            if not chosen:
                raise ValueError(f"no desktop of agent {agent!r} in this swarm")
        else:
            signed = [c for c in self.clients if c.source == "desktop" and c.signed_in]
            chosen = [c for c in signed if node is None or c.node == node][:count]
            if len(chosen) < count:
                where = f" on {node}" if node else ""
                raise ValueError(f"{len(chosen)} signed-in desktops{where}, {count} wanted")
        for c in chosen:
            self.history.record(source, ClientAction(action=action, agent=c.agent.id, node=c.node))
            if action in ("close", "back"):
                c.close_browser()
            elif action == "crash":
                c.close_browser(crash=True)
            elif action == "refresh":
                c.refresh_browser()
            elif action == "glitch":
                c.network_glitch(seconds)
            elif action in ("ready", "not_ready"):
                c.set_agent_state(action.upper())
            elif action == "away":
                c.set_chat_status("away")
        if action == "chat":  # the chosen desktops chat in pairs: 1st with 2nd, 3rd with 4th, ...
            for a, b in zip(chosen[0::2], chosen[1::2], strict=False):
                a.start_chat(b)
        return [c.agent.id for c in chosen]

    # -- calls (scenarios) -----------------------------------------------------------------------------
    def call_plan(
        self, share: float, kinds: Sequence[str], seed: int = 0
    ) -> list[tuple[CallKind, list[DesktopClient]]]:
        """Which signed-in desktops go on which kind of call: ``share`` of the signed-in desktops
        that hold no dialog, drawn with ``seed`` (a run is repeatable), the kinds taken in turn
        (a kind of two desktops takes two). ValueError for an unknown kind."""
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise ValueError(f"unknown call kinds {unknown}; known: {', '.join(KINDS)}")
        free = [c for c in self.clients if c.source == "desktop" and c.signed_in and not c.calls.dialogs]
        wanted = round(share * len([c for c in self.clients if c.source == "desktop"]))
        random.Random(seed).shuffle(free)
        plan: list[tuple[CallKind, list[DesktopClient]]] = []
        i = used = 0
        while True:
            kind = KINDS[kinds[i % len(kinds)]]
            if used + kind.desktops > min(wanted, len(free)):
                break
            plan.append((kind, free[used : used + kind.desktops]))
            used += kind.desktops
            i += 1
        return plan

    async def place_calls(
        self,
        share: float,
        kinds: Sequence[str],
        ring: Callable[[DesktopClient], Awaitable[None]],
        seed: int = 0,
        source: str = "scenario",
        ready_within: float | None = None,
    ) -> list[tuple[CallKind, list[str]]]:
        """Put ``share`` of the desktops on calls (:meth:`call_plan`): each desktop gets its kind's
        script; the caller dials the other desktop's extension or an outside number, or ``ring``
        has an outside caller ring it (the CTI server's control plane: the shell knows where).
        A queue call goes to a Ready agent only: those agents click READY first, and the calls ring
        once every one of them shows READY (TimeoutError after ``ready_within`` seconds, default the
        desktop's request timeout). Returns the kinds and their agents, as recorded (``calls_placed``)."""
        plan = self.call_plan(share, kinds, seed)
        called = [desktops[0] for kind, desktops in plan if kind.dial == "queue"]
        for client in called:
            client.set_agent_state("READY")
        timeout = self.config.timers.desktop_request_timeout if ready_within is None else ready_within
        await self.wait(lambda _s: all(c.user_state == "READY" for c in called), timeout)
        placed: list[tuple[CallKind, list[str]]] = []
        for kind, desktops in plan:
            outside = outside_number(len(placed))
            to = {"agent": desktops[1].agent.extension if len(desktops) > 1 else "", "outside": outside}.get(
                kind.dial, ""
            )
            extensions = [c.agent.extension for c in desktops]
            for k, (client, script) in enumerate(zip(desktops, kind.scripts, strict=True)):
                client.place_call(resolve(script, extensions, outside), to if k == 0 else "")
            if kind.dial == "queue":
                await ring(desktops[0])
            agents = [c.agent.id for c in desktops]
            self.history.record(source, CallsPlaced(kind=kind.name, agents=agents, to=to or None))
            placed.append((kind, agents))
            self.placed.append((kind, desktops))
        return placed

    def calls_settled(self) -> tuple[bool, str]:
        """Whether every desktop put on a call shows its own participant in the state its kind
        settles in (KINDS: ``settled``), and which do not."""
        off = [
            f"{c.agent.id} ({kind.name}): {sorted(c.calls.states().values()) or 'no call'}, want {state}"
            for kind, desktops in self.placed
            for c, state in zip(desktops, kind.settled, strict=True)
            if settled_states(c.calls.states().values()) != state
        ]
        placed = sum(len(d) for _, d in self.placed)
        return not off and placed > 0, "; ".join(off[:5]) or f"{placed} desktops on calls, each as set up"

    def call_states(self) -> Counter[str]:
        """The state of each desktop's own participant in each dialog it holds, counted."""
        return Counter(s for c in self.clients if c.source == "desktop" for s in c.calls.states().values())

    # -- views -------------------------------------------------------------------------------------
    def counts(self) -> Counter[tuple[str, str, str]]:
        """(kind, state, node) -> clients."""
        return Counter((c.source, c.state, c.node) for c in self.clients)

    def signed_in(self, node: str | None = None, kind: str = "desktop") -> int:
        return sum(
            1 for c in self.clients if c.source == kind and c.signed_in and (node is None or c.node == node)
        )

    async def wait(self, predicate: Any, timeout: float, poll: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self):
                await asyncio.sleep(poll or self.config.timers.swarm_poll)

    def metrics(self) -> bytes:
        self._states.clear()
        for (kind, state, node), n in self.counts().items():
            self._states.labels(kind, state, node).set(n)
        return bytes(generate_latest(self.registry))

    def progress_line(self) -> str:
        c = self.counts()
        parts = [f"{kind} {state} {node}: {n}" for (kind, state, node), n in sorted(c.items())]
        return " | ".join(parts)


CONTROL_OPERATIONS = {
    ("GET", "/metrics"): ControlOperation(
        "The swarm's Prometheus metrics (no token: it only reads)", (200,), open=True, media_type="text/plain"
    ),
    ("POST", "/emu/clients"): ControlOperation(
        "Act on browsers: close, crash, refresh, reopen, ... (count of them, on a node, or one agent)",
        (200, 400, 413, 415),
        json_object(
            {
                "action": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "node": {"type": "string"},
                "agent": {"type": "string"},
                "seconds": {"type": "number", "minimum": 0},
            },
            ("action",),
        ),
    ),
}


async def serve_control(
    swarm: Swarm, host: str, port: int, token: str | None = None
) -> tuple[web.AppRunner, int]:
    """:func:`control_app` on host:port (0: any)."""
    runner = app_runner(control_app(swarm, token), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, bound_port(site)


def control_app(swarm: Swarm, token: str | None = None) -> web.Application:
    """Prometheus ``/metrics``, ``POST /emu/clients`` (browser actions) and the description of both
    (``GET /emu/control/openapi.json``). With ``token``, browser actions need ``Authorization:
    Bearer TOKEN``; /metrics and the description only read."""

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=swarm.metrics(), content_type="text/plain", charset="utf-8")

    async def clients(request: web.Request) -> web.Response:
        if not bearer_ok(request, token):
            return unauthorized()
        try:
            body = await read_json_object(request)  # 400/413/415 JSON; a gzip body is capped
            agents = swarm.act(
                str(body.get("action", "")),
                int(body.get("count", 1)),
                body.get("node"),
                None if body.get("agent") is None else str(body["agent"]),
                float(body.get("seconds", 0.0)) * swarm.config.timers.time_scale,
            )
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"agents": agents})

    app = web.Application(client_max_size=4096)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/emu/clients", clients)
    control_openapi.serve(app, "desktop swarm")
    control_openapi.describe(app, CONTROL_OPERATIONS)
    return app


async def run_swarm(
    config: SwarmConfig,
    history_path: Path | None,
    duration: float | None,
    metrics_port: int | None,
    progress_every: float | None = None,
    run_dir: Path | None = None,
    admin_token: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """The CLI's main loop: start, report progress, serve /metrics, stop on Ctrl-C or after duration.
    The control port is on loopback only; ``admin_token`` guards its browser actions. ``progress``
    hears the counts line at every interval (the CLI shows it once per change); without it, the
    line goes to stderr each time."""
    history = History(history_path)
    swarm = Swarm(config, history)
    runner, port = await serve_control(swarm, "127.0.0.1", metrics_port or 0, admin_token or None)
    state_file = run_dir / SWARM_FILE if run_dir is not None and run_dir.is_dir() else None  # noqa: ASYNC240
    if state_file is not None:  # one small file at start: where chaos finds this swarm
        state_file.write_text(json.dumps({"pid": os.getpid(), "control": f"127.0.0.1:{port}"}))
    guard = " (browser actions need the admin token)" if admin_token else ""
    print(f"[swarm] metrics and control on http://127.0.0.1:{port}{guard}", file=sys.stderr, flush=True)
    await swarm.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    try:
        while not stop.is_set():
            if progress is not None:
                progress(swarm.progress_line())
            else:
                print(f"[swarm] {swarm.progress_line()}", file=sys.stderr, flush=True)
            history.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), progress_every or config.timers.swarm_progress_interval)
    finally:
        await swarm.stop()
        await runner.cleanup()
        history.close()
        if state_file is not None:
            state_file.unlink(missing_ok=True)
    print(f"[swarm] stopped: {swarm.progress_line()}", file=sys.stderr)
    return 0
