"""A whole deployment for a test: started as real processes on a free loopback /24, or attached.

:meth:`Deployment.start` runs what ``finesse-emu up`` runs (deployment/launcher.py) on a network
claimed for this process (network.py); :meth:`Deployment.attach` uses a deployment someone started
(its run directory, as ``status`` and ``chaos`` do). Either way the object gives:

- the addresses of every component (:class:`Addresses`), from the run directory's deployment.json;
- the agents of the deployment's directory (:class:`Agent`: ids, extensions, passwords, teams,
  supervisors);
- faults by component name (:meth:`inject`, any kind a component's ``/emu/faults`` accepts: the
  kinds of emu_base/faults.py, none named here; a client-path kind on a node goes to the node's
  client-path proxy, as ``finesse-emu chaos`` sends it: :meth:`client_fault`, and :meth:`rest_rule`
  for the node's REST fault rules) and the process verbs ``finesse-emu chaos`` uses (:meth:`kill`,
  :meth:`stop`, :meth:`restart`, :meth:`hang`, or any verb with :meth:`chaos`);
- the nodes' request journal (:attr:`journal`: deployment/journal.py's reader of ``/emu/journal``);
- waits on observable state (:meth:`wait_until` and the ones built on it);
- a swarm of emulated desktops in this process (:meth:`swarm`);
- :meth:`heal`: every fault injected through it cleared, every frozen Prosody resumed, every
  component down restarted, every swarm stopped, the deployment healthy again and the nodes'
  journals emptied (the next test sees only its own traffic); :meth:`close`
  heals and, for a deployment it started, stops every process.

Everything here is a coroutine on one event loop; :mod:`finesse_emu.testing.sync` runs it on a
thread of its own for plain (synchronous) tests and for tests on another loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import inspect
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from defusedxml import ElementTree

from emu_base import faults as fault_kinds
from emu_base.admin import auth_headers
from emu_base.directory import AgentRecord, resolve
from emu_base.procs import pid_alive
from emu_base.timers import Timers
from finesse_emu.deployment import chaos as chaos_verbs
from finesse_emu.deployment import launcher
from finesse_emu.deployment.journal import Journal, JournalError
from finesse_emu.deployment.topology import XMPP_C2S_PORT, XMPP_HTTP_PORT
from finesse_emu.desktop.client import AgentCredentials
from finesse_emu.desktop.swarm import (
    Swarm,
    SwarmConfig,
    endpoints_from_deployment,
    ids_from_deployment,
    imp_from_deployment,
)
from finesse_emu.testing.healing import ClearFault, Healing, Restart, Resume
from finesse_emu.testing.network import NetworkClaim, claim_network
from finesse_emu.xmpp.prosody import ProsodyNotFound, prosody_binary

FINESSE_NS = "{http://www.cisco.com/vtg/finesse}"
NODE_ROLES = ("publisher", "subscriber")
POLL = 0.05  # seconds between two probes of a wait
REQUEST_TIMEOUT = 5.0  # one probe's HTTP request (a hung component is a value, not a hang)


class DeploymentError(RuntimeError):
    """The deployment could not be started, reached or changed; the message says why."""


@dataclass(frozen=True)
class NodeAddresses:
    """One Finesse node: its REST API, its Notification Service (XMPP, BOSH, WebSocket), its control plane."""

    name: str
    role: str  # publisher | subscriber
    host: str
    rest_http: str  # http://HOST:8082 (the REST API is under /finesse/api/)
    rest_https: str  # https://HOST:8445, certificate from the deployment's CA (Addresses.ca_file)
    xmpp_host: str
    xmpp_port: int  # c2s, 5222
    xmpp_tls_port: int | None  # direct TLS, 5223, when the release offers it
    xmpp_domain: str  # the node's host: an agent's JID is ID@xmpp_domain, pubsub is pubsub.DOMAIN
    bosh: str  # http://HOST:7071/http-bind
    websocket: str  # ws://HOST:7071/ws
    control: str  # http://HOST:8089 (/emu/health, /emu/faults)


@dataclass(frozen=True)
class ServiceAddresses:
    """A CTI Server side (GED-188, host and port) or an AWDB (its query API), with its control plane."""

    name: str
    host: str
    port: int
    control: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Addresses:
    network: str
    nodes: dict[str, NodeAddresses]  # finesse-a (publisher), finesse-b (subscriber)
    cti: dict[str, ServiceAddresses]  # cti-a, cti-b
    awdb: dict[str, ServiceAddresses]  # awdb-a, awdb-b
    ca_file: str | None  # the CA that issued the nodes' HTTPS certificates

    @property
    def publisher(self) -> NodeAddresses:
        return next(n for n in self.nodes.values() if n.role == "publisher")

    @property
    def subscriber(self) -> NodeAddresses:
        return next(n for n in self.nodes.values() if n.role == "subscriber")


@dataclass(frozen=True)
class Agent:
    id: str
    login: str
    password: str
    extension: str
    team_id: int
    supervisor: bool
    first_name: str = ""
    last_name: str = ""

    @property
    def authorization(self) -> dict[str, str]:
        """The agent's Basic Authorization header, as Finesse REST takes it."""
        return {"Authorization": "Basic " + base64.b64encode(f"{self.id}:{self.password}".encode()).decode()}


def addresses_from_state(state: Mapping[str, Any]) -> Addresses:
    """Every component's addresses, from a deployment.json."""
    comps = {c["name"]: c for c in state["components"]}
    nodes: dict[str, NodeAddresses] = {}
    for c in state["components"]:
        if c["role"] not in NODE_ROLES:
            continue
        xmpp = comps.get("xmpp-" + c["name"].rsplit("-", 1)[1], {"host": c["host"], "ports": {}})
        ports, xports = c["ports"], xmpp["ports"]
        web = xports.get("http", XMPP_HTTP_PORT)
        nodes[c["name"]] = NodeAddresses(
            c["name"],
            c["role"],
            c["host"],
            f"http://{c['host']}:{ports['rest_http']}",
            f"https://{c['host']}:{ports['rest_https']}",
            xmpp["host"],
            xports.get("xmpp", XMPP_C2S_PORT),
            xports.get("xmpp_tls"),
            c["host"],
            f"http://{xmpp['host']}:{web}/http-bind",
            f"ws://{xmpp['host']}:{web}/ws",
            f"http://{c['host']}:{ports['admin']}",
        )

    def service(c: Mapping[str, Any], port: str) -> ServiceAddresses:
        return ServiceAddresses(
            c["name"], c["host"], c["ports"][port], f"http://{c['host']}:{c['ports']['admin']}"
        )

    host = next(iter(comps.values()))["host"] if comps else "127.0.0.1"
    return Addresses(
        host.rsplit(".", 1)[0],
        nodes,
        {n: service(c, "cti") for n, c in comps.items() if c["role"] == "cti"},
        {n: service(c, "awdb") for n, c in comps.items() if c["role"] == "awdb"},
        state.get("ca_file"),
    )


def agents_from(records: list[AgentRecord]) -> list[Agent]:
    return [
        Agent(r.id, r.login, r.password, r.extension, r.team_id, r.supervisor, r.first_name, r.last_name)
        for r in records
    ]


def _xml_text(body: str, tag: str) -> str | None:
    element = ElementTree.fromstring(body).find(f".//{tag}")
    return None if element is None else (element.text or "")


class Deployment:
    """A deployment under test (module docstring). Build it with :meth:`start` or :meth:`attach`."""

    def __init__(
        self,
        run_dir: Path,
        agents: list[Agent],
        launched: launcher.Deployment | None = None,
        claim: NetworkClaim | None = None,
        owned_dir: bool = False,
    ) -> None:
        self.run_dir = run_dir
        self.agents = agents
        self.healing = Healing()
        self._launched = launched
        self._claim = claim
        self._owned_dir = owned_dir
        self._swarms: list[Swarm] = []
        self._http: aiohttp.ClientSession | None = None
        self._journal: Journal | None = None

    # -- life -------------------------------------------------------------------------------------
    @classmethod
    async def start(
        cls,
        run_dir: Path | None = None,
        *,
        agents: int | str = 10,
        time_scale: float = 1.0,
        network: str | None = None,
        node_options: dict[str, Any] | None = None,
        cti_options: list[str] | None = None,
    ) -> Deployment:
        """Start every component as its own process, as ``finesse-emu up`` does, on ``network`` or
        the first free /24 of 127.0.150-199; DeploymentError with the reason when it cannot."""
        try:
            prosody_binary()
        except ProsodyNotFound as exc:  # never a silent skip: the reason, and the fix
            raise DeploymentError(f"cannot start a Finesse deployment: {exc}") from exc
        owned = run_dir is None
        where = Path(tempfile.mkdtemp(prefix="finesse-emu-")) if run_dir is None else run_dir
        try:
            claim = claim_network(network)
        except (RuntimeError, ValueError) as exc:
            raise DeploymentError(str(exc)) from exc
        launched = launcher.Deployment(
            where,
            agents,
            time_scale,
            claim.network,
            list(cti_options or []),
            dict(node_options or {}),
        )
        try:
            await launched.start()
        except BaseException as exc:
            await launched.stop()
            claim.release()
            if isinstance(exc, OSError | RuntimeError | TimeoutError):
                raise DeploymentError(f"the deployment on {claim.network} did not start: {exc}") from exc
            raise
        return cls(where, agents_from(resolve(str(agents))), launched, claim, owned)

    @classmethod
    def attach(cls, run_dir: Path) -> Deployment:
        """A deployment started elsewhere (``finesse-emu up --run-dir RUN_DIR``): healed, never stopped."""
        try:
            state = json.loads((run_dir / launcher.STATE_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise DeploymentError(
                f"no running deployment in {run_dir} (finesse-emu up --run-dir): {exc}"
            ) from exc
        if not pid_alive(state.get("pid")):
            raise DeploymentError(f"the deployment of {run_dir} is not running (its launcher is gone)")
        # The directory's spec, when the launcher wrote it; else the sample it shows in `status`.
        spec = state.get("agents")
        if spec is not None:
            records = resolve(str(spec))
        else:
            records = [
                AgentRecord(a["id"], a["login"], a["password"], a["extension"])
                for a in state["sample_agents"]
            ]
        return cls(run_dir, agents_from(records))

    async def close(self) -> None:
        """Heal, then stop every process this object started; nothing is left listening."""
        try:
            if self._launched is None:
                await self.heal()
            else:
                await self._stop_swarms()
        finally:
            if self._http is not None:
                await self._http.close()
                self._http = None
            if self._journal is not None:
                await self._journal.close()
                self._journal = None
            if self._launched is not None:
                await self._launched.stop()
                self._launched = None
            if self._claim is not None:
                self._claim.release()
                self._claim = None
            if self._owned_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- what it is -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads((self.run_dir / launcher.STATE_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise DeploymentError(f"the deployment of {self.run_dir} is gone: {exc}") from exc
        return state

    @property
    def addresses(self) -> Addresses:
        return addresses_from_state(self.state())

    @property
    def network(self) -> str:
        return self.addresses.network

    @property
    def components(self) -> list[str]:
        return [c["name"] for c in self.state()["components"]]

    def _component(self, name: str) -> dict[str, Any]:
        try:
            return chaos_verbs._component(self.state(), name)
        except chaos_verbs.ChaosError as exc:
            raise DeploymentError(str(exc)) from exc

    def agent(self, agent_id: str) -> Agent:
        for a in self.agents:
            if a.id == agent_id:
                return a
        raise DeploymentError(f"no agent {agent_id!r} in the deployment's directory")

    @property
    def supervisors(self) -> list[Agent]:
        return [a for a in self.agents if a.supervisor]

    @property
    def teams(self) -> dict[int, list[Agent]]:
        teams: dict[int, list[Agent]] = {}
        for a in self.agents:
            teams.setdefault(a.team_id, []).append(a)
        return teams

    @property
    def admin_headers(self) -> dict[str, str]:
        """The control planes' Authorization header (the deployment's token)."""
        return auth_headers(launcher.read_admin_token(self.run_dir))

    @property
    def journal(self) -> Journal:
        """Both nodes' request journals (``GET /emu/journal``): ``entries``, ``count``, ``clear``,
        ``verify``, ``wait_for``, each taking ``node=`` for one node's; emptied by :meth:`heal`."""
        if self._journal is None:
            try:
                self._journal = Journal.of_run(self.run_dir)
            except JournalError as exc:
                raise DeploymentError(str(exc)) from exc
        return self._journal

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT))
        return self._http

    # -- faults and process verbs -----------------------------------------------------------------
    def _edge(self, node: str) -> str:
        """The name of a node's client-path proxy (edge-a for finesse-a); DeploymentError when the
        deployment runs without (``--no-client-proxy``)."""
        state = self.state()
        edge = chaos_verbs._edge_of(state, chaos_verbs._component(state, node))
        if edge is None:
            raise DeploymentError(
                f"{node} has no client-path proxy (the deployment runs with --no-client-proxy):"
                " no client-path fault there"
            )
        return str(edge["name"])

    def _fault_target(self, component: str, kind: str) -> str:
        """Where a fault of ``kind`` on ``component`` is posted: a client-path kind on a node goes
        to the node's proxy (as ``finesse-emu chaos`` sends it), anything else to the component."""
        c = self._component(component)
        known = fault_kinds.KINDS.get(kind)
        if c["role"] in NODE_ROLES and known is not None and fault_kinds.EDGE in known.components:
            return self._edge(component)
        return component

    async def inject(self, component: str, kind: str, **params: Any) -> str:
        """Post a fault of any kind the component accepts (``inject("cti-a", "ignore_heartbeats")``);
        its id. A client-path kind (``client_latency`` ...) on a node is posted to the node's
        client-path proxy. The control plane's own 400 (unknown kind, bad parameter) is raised as
        it says it."""
        target = self._fault_target(component, kind)
        c = self._component(target)
        if c["role"] in chaos_verbs.PROSODY_ROLES:
            raise DeploymentError(f"{component} has no fault API: use kill, stop, hang or restart")
        url = f"http://{c['host']}:{c['ports']['admin']}/emu/faults"
        async with self._session().post(
            url, json={"kind": kind, **params}, headers=self.admin_headers
        ) as resp:
            body = await resp.text()
            if resp.status != 201:
                where = component if target == component else f"{component}'s proxy {target}"
                raise DeploymentError(f"{where} refused fault {kind!r}: {resp.status} {body}")
        fault_id = str(json.loads(body)["id"])
        self.healing.injected(target, fault_id)
        return fault_id

    async def client_fault(self, node: str, kind: str, **params: Any) -> str:
        """A fault on the path between the clients and ``node`` (its client-path proxy):
        ``client_fault("finesse-a", "latency", ms=200, port="rest")``; ``kind`` with or without
        its ``client_`` prefix (latency, bandwidth, slicer, timeout, reset). Its id (on the proxy:
        :meth:`clear` it on :meth:`client_proxy` of the node)."""
        if self._component(node)["role"] not in NODE_ROLES:
            raise DeploymentError(f"{node} is not a Finesse node: client-path faults are the nodes'")
        name = kind if kind.startswith("client_") else f"client_{kind}"
        known = fault_kinds.KINDS.get(name)
        if known is None or fault_kinds.EDGE not in known.components:
            edge_kinds = ", ".join(k.name for k in fault_kinds.KINDS.of(fault_kinds.EDGE))
            raise DeploymentError(f"no client-path fault {kind!r}; kinds: {edge_kinds}")
        return await self.inject(node, name, **params)

    def client_proxy(self, node: str) -> str:
        """The name of the node's client-path proxy (edge-a for finesse-a)."""
        return self._edge(node)

    async def rest_rule(self, node: str, path: str, **params: Any) -> str:
        """A REST fault rule on ``node``: the requests on ``path`` (a glob) answered as the rule
        says (``method``, ``status``, ``delay_ms``, ``probability``, ``count``, ``body``, ``seed``:
        docs/finesse.md, "REST fault rules"); its id, also the ``fault`` of their journal entries."""
        return await self.inject(node, "rest_rule", path=path, **params)

    async def clear(self, component: str, fault_id: str) -> None:
        c = self._component(component)
        url = f"http://{c['host']}:{c['ports']['admin']}/emu/faults/{fault_id}"
        async with self._session().delete(url, headers=self.admin_headers) as resp:
            if resp.status not in (200, 204, 404):  # 404: already gone
                raise DeploymentError(
                    f"{component} refused to clear {fault_id}: {resp.status} {await resp.text()}"
                )
        self.healing.cleared(component, fault_id)

    async def faults(self, component: str) -> list[dict[str, Any]]:
        """The component's active faults, as its control plane lists them."""
        c = self._component(component)
        url = f"http://{c['host']}:{c['ports']['admin']}/emu/faults"
        async with self._session().get(url, headers=self.admin_headers) as resp:
            listed: list[dict[str, Any]] = (await resp.json())["faults"]
        return listed

    async def chaos(self, verb: str, component: str, value: float | None = None) -> str:
        """Any ``finesse-emu chaos`` verb on a component (kill, stop, start, hang, latency, ...)."""
        c = self._component(component)
        try:
            said = await chaos_verbs.chaos(self.run_dir, verb, component, value)
        except chaos_verbs.ChaosError as exc:
            raise DeploymentError(str(exc)) from exc
        if verb in ("kill", "stop"):
            self.healing.stopped(component)
        elif verb == "start":
            self.healing.started(component)
        elif c["role"] in chaos_verbs.PROSODY_ROLES:
            (self.healing.froze if verb == "hang" else self.healing.resumed)(component)
        elif verb == chaos_verbs.HEAL:  # on a node, its proxy is healed too
            healed = {component}
            if c["role"] in NODE_ROLES and self._has_edge(component):
                healed.add(self._edge(component))
            self.healing.faults = [(n, f) for n, f in self.healing.faults if n not in healed]
        else:  # a fault verb: the fault it posted is the newest of where it went (node or proxy)
            where = component
            if (
                c["role"] in NODE_ROLES
                and fault_kinds.KINDS.for_verb(verb, fault_kinds.FINESSE) is None
                and fault_kinds.KINDS.for_verb(verb, fault_kinds.EDGE) is not None
            ):
                where = self._edge(component)
            listed = await self.faults(where)
            if listed:
                self.healing.injected(where, str(listed[-1]["id"]))
        return said

    def _has_edge(self, node: str) -> bool:
        state = self.state()
        return chaos_verbs._edge_of(state, chaos_verbs._component(state, node)) is not None

    async def kill(self, component: str) -> None:
        """SIGKILL: the component dies at once and stays down until :meth:`restart` or :meth:`heal`."""
        await self.chaos("kill", component)
        await self.wait_until(lambda: not self._running(component), f"{component} gone", timeout=10)

    async def stop(self, component: str) -> None:
        await self.chaos("stop", component)
        await self.wait_until(lambda: not self._running(component), f"{component} stopped", timeout=20)

    async def hang(self, component: str) -> None:
        await self.chaos("hang", component)

    async def restart(self, component: str, timeout: float = 60.0) -> None:
        """Start a component that is down with its own command line, and wait for it to be up."""
        await self.chaos("start", component)
        await self._wait_up(component, timeout)

    def _running(self, component: str) -> bool:
        return pid_alive(self._component(component).get("pid"))

    async def _wait_up(self, component: str, timeout: float) -> None:
        c = self._component(component)
        if c["role"] in chaos_verbs.PROSODY_ROLES:
            port = c["ports"]["xmpp"]

            async def listening() -> bool:
                try:
                    _, writer = await asyncio.open_connection(c["host"], port)
                except OSError:
                    return False
                writer.close()
                return True

            await self.wait_until(listening, f"{component} listening on {c['host']}:{port}", timeout=timeout)
        else:
            await self.wait_until(
                lambda: self.health(component),
                f"{component} answering /emu/health",
                timeout=timeout,
                until=lambda h: h is not None,
            )

    # -- observable state -------------------------------------------------------------------------
    async def health(self, component: str) -> dict[str, Any] | None:
        """The component's /emu/health (None: it does not answer)."""
        c = self._component(component)
        try:
            async with self._session().get(f"http://{c['host']}:{c['ports']['admin']}/emu/health") as resp:
                health: dict[str, Any] = await resp.json()
                return health
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None

    async def system_info_status(self, node: str) -> str | None:
        """The node's status as its REST API says it (GET SystemInfo, open to all); None unreachable."""
        url = f"{self.addresses.nodes[node].rest_http}/finesse/api/SystemInfo"
        try:
            async with self._session().get(url) as resp:
                return _xml_text(await resp.text(), "status")
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, SyntaxError):
            return None

    async def agent_state(self, agent_id: str, node: str | None = None) -> str | None:
        """The agent's state as GET User/{id} shows it on ``node`` (default: the publisher)."""
        agent = self.agent(agent_id)
        where = self.addresses.nodes[node] if node else self.addresses.publisher
        url = f"{where.rest_http}/finesse/api/User/{agent_id}"
        try:
            async with self._session().get(url, headers=agent.authorization) as resp:
                if resp.status != 200:
                    return None
                return _xml_text(await resp.text(), "state")
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, SyntaxError):
            return None

    async def cti_active(self) -> str | None:
        """The CTI Server side that is active (cti-a or cti-b), by the sides' own health."""
        for name in self.addresses.cti:
            health = await self.health(name)
            if health is not None and health.get("state") == "active":
                return name
        return None

    async def wait_until(
        self,
        probe: Callable[[], Any],
        what: str,
        *,
        timeout: float = 30.0,
        until: Callable[[Any], object] = bool,
        every: float = POLL,
    ) -> Any:
        """Poll ``probe`` (plain or async) until ``until(value)`` holds; its value. After ``timeout``
        seconds, AssertionError naming what was awaited and the last value seen."""
        deadline = time.monotonic() + timeout
        last: object = "nothing (the probe never returned)"
        error: BaseException | None = None
        while True:
            try:
                value = probe()
                if inspect.isawaitable(value):
                    value = await value
                last, error = value, None
                if until(value):
                    return value
            except (AssertionError, DeploymentError, aiohttp.ClientError, OSError) as exc:
                error = exc
            if time.monotonic() >= deadline:
                message = f"not within {timeout:g} s: {what}; last value seen: {last!r}"
                raise AssertionError(message + (f"; last error: {error!r}" if error else ""))
            await asyncio.sleep(every)

    async def wait_node_status(self, node: str, status: str = "IN_SERVICE", timeout: float = 30.0) -> None:
        await self.wait_until(
            lambda: self.system_info_status(node),
            f"{node}'s SystemInfo status {status}",
            timeout=timeout,
            until=lambda s: s == status,
        )

    async def wait_agent_state(
        self, agent_id: str, state: str, node: str | None = None, timeout: float = 30.0
    ) -> None:
        await self.wait_until(
            lambda: self.agent_state(agent_id, node),
            f"agent {agent_id} {state}",
            timeout=timeout,
            until=lambda s: s == state,
        )

    async def wait_cti_active(self, side: str, timeout: float = 30.0) -> None:
        await self.wait_until(
            self.cti_active, f"{side} the active CTI side", timeout=timeout, until=lambda s: s == side
        )

    # -- the swarm --------------------------------------------------------------------------------
    async def swarm(
        self, agents: int | list[Agent] = 10, *, publisher_share: float = 0.5, **options: Any
    ) -> Swarm:
        """Emulated desktops in this process against the deployment, signed in as ``agents`` (a
        number of the directory's first, or the agents). Stopped by :meth:`heal`. ``options``
        are more :class:`~finesse_emu.desktop.swarm.SwarmConfig` fields."""
        chosen = self.agents[:agents] if isinstance(agents, int) else agents
        ids_url, ca_file = ids_from_deployment(self.run_dir)
        config = SwarmConfig(
            endpoints_from_deployment(self.run_dir),
            [AgentCredentials(a.id, a.password, a.extension) for a in chosen],
            Timers(time_scale=float(self.state().get("time_scale", 1.0))),
            publisher_share=publisher_share,
            ids_url=ids_url,
            ca_file=ca_file or self.addresses.ca_file,
            imp=imp_from_deployment(self.run_dir),
            **options,
        )
        swarm = Swarm(config)
        self._swarms.append(swarm)
        await swarm.start()
        return swarm

    async def _stop_swarms(self) -> None:
        swarms, self._swarms = self._swarms, []
        for swarm in swarms:
            with contextlib.suppress(Exception):
                await swarm.stop()

    # -- healing ----------------------------------------------------------------------------------
    def down_components(self) -> list[str]:
        return [c["name"] for c in self.state()["components"] if not pid_alive(c.get("pid"))]

    async def heal(self, timeout: float = 60.0) -> None:
        """Undo what the test did through this object (and restart any component down), then wait
        until both nodes are IN_SERVICE; the bookkeeping is emptied."""
        await self._stop_swarms()
        for step in self.healing.plan(self.down_components()):
            if isinstance(step, Resume):
                await self.chaos(chaos_verbs.HEAL, step.component)
            elif isinstance(step, Restart):
                await self.restart(step.component, timeout)
            elif isinstance(step, ClearFault):
                await self.clear(step.component, step.fault_id)
        self.healing.forget()
        for name in self.addresses.nodes:
            await self.wait_until(
                functools.partial(self.health, name),
                f"{name} IN_SERVICE after healing",
                timeout=timeout,
                until=lambda h: h is not None and h.get("state") == "IN_SERVICE",
            )
        # Last: the next test's journal holds its own traffic only.
        await self.journal.clear()
