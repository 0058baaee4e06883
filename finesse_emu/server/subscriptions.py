"""Each agent's pubsub nodes and subscriptions on the node's Notification Service.

As Finesse does, a user is subscribed to its nodes (:func:`finesse_emu.server.paths.subscription_nodes`)
at its first authenticated request, and the whole directory once the Notification Service is up:
Openfire keeps them from the users' provisioning, and otherwise a failover is also the moment a
thousand agents' pubsub set-up (five requests each) lands on the subscriber's Prosody
(docs/benchmarks.md, failover under load). A new Prosody session makes them again on demand.
:class:`Notifier` is what the node needs of that session (``publisher.NotificationPublisher``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol

from emu_base.logs import get_logger
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.paths import subscription_nodes

log = get_logger()


class PubsubSession(Protocol):
    """What the set-up needs of the node's Notification Service session."""

    @property
    def connected(self) -> bool: ...

    async def ensure_node(self, node: str) -> None: ...

    async def subscribe_other(self, node: str, jid: str) -> None: ...


class Notifier(PubsubSession, Protocol):
    """What the node needs of its Notification Service session (NotificationPublisher has it)."""

    async def start(self, wait: bool = True, timeout: float = 10.0) -> None: ...

    async def stop(self, timeout: float = 2.0) -> None: ...

    async def publish(self, node: str, update_xml: str, item_id: str | None = None) -> str: ...

    @property
    def available_agents(self) -> frozenset[str]: ...


class Subscriptions:
    def __init__(
        self,
        session: PubsubSession,
        domain: str,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
    ) -> None:
        self.session = session
        self.domain = domain
        self._spawn = spawn
        self.subscribed: set[str] = set()  # agents whose set-up is made or under way

    def reset(self) -> None:
        """A new Prosody session: subscriptions are made again on demand."""
        self.subscribed.clear()

    def user(self, user: AuthUser) -> asyncio.Task[None] | None:
        """Set ``user`` up, once per session; the set-up's task, None when there is nothing to do."""
        if user.id in self.subscribed or not self.session.connected:
            return None
        self.subscribed.add(user.id)
        jid = f"{user.id.lower()}@{self.domain}"
        return self._spawn(self._subscribe(subscription_nodes(user), jid))

    async def provision(self, users: Iterable[AuthUser]) -> None:
        """Every user set up; returns when every set-up has ended (a failed request is logged). A
        user the directory gains later is still set up at its first request."""
        tasks = []
        for user in list(users):
            task = self.user(user)  # the publisher bounds what is in flight
            if task is not None:
                tasks.append(task)
            await asyncio.sleep(0)  # let requests in meanwhile
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _subscribe(self, nodes: list[str], jid: str) -> None:
        for node in nodes:
            try:
                await self.session.ensure_node(node)
                await self.session.subscribe_other(node, jid)
            except Exception as exc:
                log.warning("finesse_subscribe_failed", node=node, jid=jid, error=repr(exc))
