"""The deployment on an event loop of its own thread, for plain tests and for tests on any loop.

A :class:`~finesse_emu.testing.deployment.Deployment` lives on one loop: the launcher reaps its
processes there and a swarm's desktops run there. A test session shares one deployment across
tests whose loops come and go (pytest-asyncio gives each test its own), so the deployment gets a
loop on a thread of its own (:class:`Portal`, as anyio's blocking portal). :class:`SyncDeployment`
calls it from plain code and blocks; :class:`AsyncDeployment` awaits it from any other loop. Both
offer the same methods as the Deployment, and its attributes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from finesse_emu.deployment.journal import Entry, Journal
from finesse_emu.testing.deployment import Addresses, Agent, Deployment

T = TypeVar("T")


class Portal:
    """An event loop running on a daemon thread; :meth:`call` runs a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="finesse-emu-deployment", daemon=True
        )
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.submit(coro).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class _Facade:
    def __init__(self, deployment: Deployment, portal: Portal) -> None:
        self.deployment = deployment
        self.portal = portal

    # Plain attributes of the deployment, the same on both faces.
    @property
    def run_dir(self) -> Path:
        return self.deployment.run_dir

    @property
    def addresses(self) -> Addresses:
        return self.deployment.addresses

    @property
    def network(self) -> str:
        return self.deployment.network

    @property
    def components(self) -> list[str]:
        return self.deployment.components

    @property
    def agents(self) -> list[Agent]:
        return self.deployment.agents

    @property
    def supervisors(self) -> list[Agent]:
        return self.deployment.supervisors

    @property
    def teams(self) -> dict[int, list[Agent]]:
        return self.deployment.teams

    @property
    def admin_headers(self) -> dict[str, str]:
        return self.deployment.admin_headers

    def agent(self, agent_id: str) -> Agent:
        return self.deployment.agent(agent_id)

    def client_proxy(self, node: str) -> str:
        return self.deployment.client_proxy(node)


class SyncJournal:
    """The deployment's :class:`~finesse_emu.deployment.journal.Journal`, its calls blocking."""

    def __init__(self, journal: Journal, portal: Portal) -> None:
        self._journal = journal
        self._portal = portal

    @property
    def nodes(self) -> dict[str, str]:
        return self._journal.nodes

    def entries(self, **filters: Any) -> list[Entry]:
        return self._portal.call(self._journal.entries(**filters))

    def count(self, method: str | None = None, path: str | None = None, **filters: Any) -> int:
        return self._portal.call(self._journal.count(method, path, **filters))

    def clear(self, node: str | None = None) -> None:
        self._portal.call(self._journal.clear(node))

    def verify(self, method: str, path: str, **options: Any) -> list[Entry]:
        return self._portal.call(self._journal.verify(method, path, **options))

    def wait_for(self, kind: str | None = None, **options: Any) -> list[Entry]:
        return self._portal.call(self._journal.wait_for(kind, **options))


class AsyncJournal:
    """The deployment's :class:`~finesse_emu.deployment.journal.Journal`, coroutines of the caller's loop."""

    def __init__(self, journal: Journal, portal: Portal) -> None:
        self._journal = journal
        self._portal = portal

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(self._portal.submit(coro))

    @property
    def nodes(self) -> dict[str, str]:
        return self._journal.nodes

    async def entries(self, **filters: Any) -> list[Entry]:
        return await self._call(self._journal.entries(**filters))

    async def count(self, method: str | None = None, path: str | None = None, **filters: Any) -> int:
        return await self._call(self._journal.count(method, path, **filters))

    async def clear(self, node: str | None = None) -> None:
        await self._call(self._journal.clear(node))

    async def verify(self, method: str, path: str, **options: Any) -> list[Entry]:
        return await self._call(self._journal.verify(method, path, **options))

    async def wait_for(self, kind: str | None = None, **options: Any) -> list[Entry]:
        return await self._call(self._journal.wait_for(kind, **options))


class SyncDeployment(_Facade):
    """The deployment's methods as blocking calls (plain pytest tests)."""

    @classmethod
    def start(cls, **options: Any) -> SyncDeployment:
        """``Deployment.start(**options)`` on a new portal; the portal is closed again if it fails."""
        portal = Portal()
        try:
            return cls(portal.call(Deployment.start(**options)), portal)
        except BaseException:
            portal.close()
            raise

    @classmethod
    def attach(cls, run_dir: Path) -> SyncDeployment:
        return cls(Deployment.attach(run_dir), Portal())

    def close(self) -> None:
        try:
            self.portal.call(self.deployment.close())
        finally:
            self.portal.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Any coroutine on the deployment's loop (e.g. a swarm's ``place_calls``)."""
        return self.portal.call(coro)

    @property
    def journal(self) -> SyncJournal:
        """The nodes' request journals (entries, count, clear, verify, wait_for), blocking."""
        return SyncJournal(self.deployment.journal, self.portal)

    def inject(self, component: str, kind: str, **params: Any) -> str:
        return self.portal.call(self.deployment.inject(component, kind, **params))

    def client_fault(self, node: str, kind: str, **params: Any) -> str:
        return self.portal.call(self.deployment.client_fault(node, kind, **params))

    def rest_rule(self, node: str, path: str, **params: Any) -> str:
        return self.portal.call(self.deployment.rest_rule(node, path, **params))

    def clear(self, component: str, fault_id: str) -> None:
        self.portal.call(self.deployment.clear(component, fault_id))

    def faults(self, component: str) -> list[dict[str, Any]]:
        return self.portal.call(self.deployment.faults(component))

    def chaos(self, verb: str, component: str, value: float | None = None) -> str:
        return self.portal.call(self.deployment.chaos(verb, component, value))

    def kill(self, component: str) -> None:
        self.portal.call(self.deployment.kill(component))

    def stop(self, component: str) -> None:
        self.portal.call(self.deployment.stop(component))

    def hang(self, component: str) -> None:
        self.portal.call(self.deployment.hang(component))

    def restart(self, component: str, timeout: float = 60.0) -> None:
        self.portal.call(self.deployment.restart(component, timeout))

    def health(self, component: str) -> dict[str, Any] | None:
        return self.portal.call(self.deployment.health(component))

    def system_info_status(self, node: str) -> str | None:
        return self.portal.call(self.deployment.system_info_status(node))

    def agent_state(self, agent_id: str, node: str | None = None) -> str | None:
        return self.portal.call(self.deployment.agent_state(agent_id, node))

    def cti_active(self) -> str | None:
        return self.portal.call(self.deployment.cti_active())

    def wait_until(
        self,
        probe: Callable[[], Any],
        what: str,
        *,
        timeout: float = 30.0,
        until: Callable[[Any], object] = bool,
        every: float = 0.05,
    ) -> Any:
        """Poll ``probe`` until ``until(value)`` holds. A plain probe runs on the caller's thread
        (it may read the test's own objects); an async one on the deployment's loop."""
        return self.portal.call(
            self.deployment.wait_until(_on_caller(probe), what, timeout=timeout, until=until, every=every)
        )

    def wait_node_status(self, node: str, status: str = "IN_SERVICE", timeout: float = 30.0) -> None:
        self.portal.call(self.deployment.wait_node_status(node, status, timeout))

    def wait_agent_state(
        self, agent_id: str, state: str, node: str | None = None, timeout: float = 30.0
    ) -> None:
        self.portal.call(self.deployment.wait_agent_state(agent_id, state, node, timeout))

    def wait_cti_active(self, side: str, timeout: float = 30.0) -> None:
        self.portal.call(self.deployment.wait_cti_active(side, timeout))

    def swarm(self, agents: int | list[Agent] = 10, **options: Any) -> Any:
        return self.portal.call(self.deployment.swarm(agents, **options))

    def heal(self, timeout: float = 60.0) -> None:
        self.portal.call(self.deployment.heal(timeout))


def _on_caller(probe: Callable[[], Any]) -> Callable[[], Any]:
    """A plain probe as the deployment's loop calls it: run in a worker thread, so that a blocking
    probe (a test's own HTTP call) never stalls the loop that the deployment runs on."""

    async def call() -> Any:
        value = await asyncio.to_thread(probe)
        if asyncio.iscoroutine(value):
            return await value
        return value

    return call


class AsyncDeployment(_Facade):
    """The deployment's methods as coroutines of the caller's loop (pytest-asyncio tests)."""

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(self.portal.submit(coro))

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return await self._call(coro)

    @property
    def journal(self) -> AsyncJournal:
        """The nodes' request journals (entries, count, clear, verify, wait_for), as coroutines."""
        return AsyncJournal(self.deployment.journal, self.portal)

    async def inject(self, component: str, kind: str, **params: Any) -> str:
        return await self._call(self.deployment.inject(component, kind, **params))

    async def client_fault(self, node: str, kind: str, **params: Any) -> str:
        return await self._call(self.deployment.client_fault(node, kind, **params))

    async def rest_rule(self, node: str, path: str, **params: Any) -> str:
        return await self._call(self.deployment.rest_rule(node, path, **params))

    async def clear(self, component: str, fault_id: str) -> None:
        await self._call(self.deployment.clear(component, fault_id))

    async def faults(self, component: str) -> list[dict[str, Any]]:
        return await self._call(self.deployment.faults(component))

    async def chaos(self, verb: str, component: str, value: float | None = None) -> str:
        return await self._call(self.deployment.chaos(verb, component, value))

    async def kill(self, component: str) -> None:
        await self._call(self.deployment.kill(component))

    async def stop(self, component: str) -> None:
        await self._call(self.deployment.stop(component))

    async def hang(self, component: str) -> None:
        await self._call(self.deployment.hang(component))

    async def restart(self, component: str, timeout: float = 60.0) -> None:
        await self._call(self.deployment.restart(component, timeout))

    async def health(self, component: str) -> dict[str, Any] | None:
        return await self._call(self.deployment.health(component))

    async def system_info_status(self, node: str) -> str | None:
        return await self._call(self.deployment.system_info_status(node))

    async def agent_state(self, agent_id: str, node: str | None = None) -> str | None:
        return await self._call(self.deployment.agent_state(agent_id, node))

    async def cti_active(self) -> str | None:
        return await self._call(self.deployment.cti_active())

    async def wait_until(
        self,
        probe: Callable[[], Any],
        what: str,
        *,
        timeout: float = 30.0,
        until: Callable[[Any], object] = bool,
        every: float = 0.05,
    ) -> Any:
        """Poll ``probe`` on the caller's loop (it may await the test's own objects) until
        ``until(value)`` holds; AssertionError with the last value seen after ``timeout``."""
        return await Deployment.wait_until(
            self.deployment, probe, what, timeout=timeout, until=until, every=every
        )

    async def wait_node_status(self, node: str, status: str = "IN_SERVICE", timeout: float = 30.0) -> None:
        await self._call(self.deployment.wait_node_status(node, status, timeout))

    async def wait_agent_state(
        self, agent_id: str, state: str, node: str | None = None, timeout: float = 30.0
    ) -> None:
        await self._call(self.deployment.wait_agent_state(agent_id, state, node, timeout))

    async def wait_cti_active(self, side: str, timeout: float = 30.0) -> None:
        await self._call(self.deployment.wait_cti_active(side, timeout))

    async def swarm(self, agents: int | list[Agent] = 10, **options: Any) -> Any:
        return await self._call(self.deployment.swarm(agents, **options))

    async def heal(self, timeout: float = 60.0) -> None:
        await self._call(self.deployment.heal(timeout))
