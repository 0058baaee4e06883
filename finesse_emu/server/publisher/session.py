"""``finesse``'s session with one node's Prosody: log in, stay logged in, watch agents' presence.

:class:`PublisherSession` logs into Prosody as ``finesse@<domain>`` with the deployment's password
(SASL PLAIN over plain TCP on loopback, :mod:`finesse_emu.xmpp.client`) and sends available
presence, which is what desktops watch as the health of the Finesse web app. When Prosody goes away
it reconnects with capped exponential backoff (jittered: two nodes times N restarts would otherwise
come back in step). IQs go out pipelined with bounded concurrency; every one in flight fails with
:class:`NotConnectedError` when the session is lost. What a session means for pubsub (the nodes,
their members, restoring them after a Prosody restart) is the subclass's business
(:class:`~finesse_emu.server.publisher.nodes.NotificationPublisher`), through two hooks:
:meth:`PublisherSession._session_started` and :meth:`PublisherSession._session_lost_state`.
"""

from __future__ import annotations

import asyncio
import random
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqTimeout

from emu_base.logs import get_logger
from finesse_emu.xmpp.client import (
    AuthenticationFailed,
    answer_pings,
    close,
    make_client,
    open_session,
    retire,
    watch_presence,
)
from finesse_emu.xmpp.pubsub import pubsub_iq

log = get_logger()

PresenceCallback = Callable[[str, bool], None]
ConnectionCallback = Callable[[bool], None]


class NotificationError(Exception):
    """A pubsub request failed (the publisher itself keeps running)."""


class NotConnectedError(NotificationError):
    """The publisher has no session with Prosody right now."""


class PublisherSession:
    """``finesse@<domain>`` logged into one node's Prosody, reconnecting until :meth:`stop`.

    ``on_presence(full_jid, available)`` is called on every change of an agent resource's presence
    within a session; after a reconnect every online agent is reported available again (Prosody
    probes them), so a consumer should treat agents not re-reported as unknown.
    ``on_connection_change(connected)`` is called when the session comes up or goes away.
    Callbacks run on the event loop and must not block; their exceptions are logged and ignored.
    """

    def __init__(
        self,
        host: str,
        port: int,
        domain: str,
        password: str,
        *,
        user: str = "finesse",
        resource: str = "finesse",
        max_in_flight: int = 100,
        iq_timeout: float = 10.0,
        login_timeout: float = 5.0,
        reconnect_min: float = 0.05,
        reconnect_max: float = 2.0,
        on_presence: PresenceCallback | None = None,
        on_connection_change: ConnectionCallback | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.domain = domain
        self.pubsub_domain = f"pubsub.{domain}"
        self.jid = f"{user}@{domain}/{resource}"
        self.bare_jid = f"{user}@{domain}"
        self.password = password
        self.on_presence = on_presence
        self.on_connection_change = on_connection_change
        self.iq_timeout = iq_timeout
        self.login_timeout = login_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self._max_in_flight = max_in_flight
        self._sem: asyncio.Semaphore | None = None
        self._client: ClientXMPP | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._session_lost: asyncio.Event | None = None
        self._up: asyncio.Event | None = None
        self._connected = False
        self._sessions = 0
        self._inflight: set[asyncio.Future[Any]] = set()
        self._available: set[str] = set()
        # Work a subclass starts for a new session (restoring a restarted Prosody's nodes); it is
        # cancelled with the supervisor.
        self._restore_task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- hooks for what a session means to the subclass ---------------------------------------------
    def _session_started(self) -> None:
        """A session is up (:attr:`sessions` counts it); called before the connection callback."""

    def _session_lost_state(self) -> None:
        """The session is gone, and with it whatever the subclass knew of the server's state."""

    # -- state ---------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def sessions(self) -> int:
        """How many sessions have been established since :meth:`start` (1 + reconnects)."""
        return self._sessions

    @property
    def available_agents(self) -> frozenset[str]:
        """Full JIDs of agent resources available in the current session."""
        return frozenset(self._available)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        if self._up is None:
            raise NotConnectedError("publisher not started")
        await asyncio.wait_for(self._up.wait(), timeout)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Start connecting (and keep reconnecting until :meth:`stop`).

        With ``wait`` it returns once the first session is up, or raises ``TimeoutError`` after
        ``timeout`` while the publisher keeps trying in the background.
        """
        if self._supervisor is not None and not self._supervisor.done():
            raise RuntimeError("publisher already started")
        self._sem = asyncio.Semaphore(self._max_in_flight)
        self._up = asyncio.Event()
        self._sessions = 0
        self._stopping = False
        self._supervisor = asyncio.create_task(self._supervise(), name=f"xmpp-publisher {self.jid}")
        if wait:
            await self.wait_connected(timeout)

    async def stop(self, timeout: float = 2.0) -> None:
        """Close the session cleanly (Prosody then broadcasts ``finesse`` unavailable) and stop."""
        client = self._client
        self._stopping = True
        await self._cancel_supervisor(timeout)
        if client is not None:
            await close(client, timeout)
        self._session_down()
        self._client = None

    def abort(self) -> None:
        """Drop the TCP connection without closing the stream and stop reconnecting (a crash)."""
        client = self._client
        for task in (self._supervisor, self._restore_task):
            if task is not None:
                task.cancel()
        self._supervisor = self._restore_task = None
        if client is not None:
            retire(client)
        self._session_down()
        self._client = None

    async def _cancel_supervisor(self, timeout: float) -> None:
        # Waited for at most ``timeout``: a stop is bounded whatever the tasks do with the cancel.
        # asyncio.wait, unlike awaiting the task under suppress(CancelledError), never swallows a
        # cancel of the caller itself.
        tasks = {t for t in (self._supervisor, self._restore_task) if t is not None and not t.done()}
        for task in tasks:
            task.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                log.warning("xmpp_publisher_task_not_stopped", jid=self.jid, task=task.get_name())
        self._supervisor = None
        self._restore_task = None

    async def _supervise(self) -> None:
        delay = self.reconnect_min
        while True:
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, timed out, auth failed: all retried
                # A refused password is a deployment mistake (the xmpp-password file), not a restart.
                event = (
                    "xmpp_publisher_auth_failed"
                    if isinstance(exc, AuthenticationFailed)
                    else "xmpp_publisher_connect_failed"
                )
                level = log.warning if isinstance(exc, AuthenticationFailed) else log.info
                level(event, jid=self.jid, error=str(exc), retry_in=round(delay, 3))
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # jitter: 2 nodes x N restarts
                delay = min(delay * 2, self.reconnect_max)
                continue
            if self._stopping:  # stop() came while the session opened: it closes the client
                return
            delay = self.reconnect_min
            assert self._session_lost is not None
            await self._session_lost.wait()
            self._session_down()
            if self._client is not None:
                retire(self._client)
                self._client = None

    async def _connect_once(self) -> None:
        client = make_client(self.jid, self.password)
        # Handlers check they belong to the current client: an aborted one may still report late.
        client.add_event_handler("disconnected", lambda reason: self._on_disconnected(client, reason))
        watch_presence(client, lambda full, bare, available: self._presence(client, full, bare, available))
        # Prosody pings silent sessions and closes those that do not answer (crash detection).
        answer_pings(client)
        self._session_lost = asyncio.Event()
        self._available.clear()
        self._client = client
        try:
            await open_session(client, self.host, self.port, self.login_timeout)
        except BaseException:
            self._client = None
            raise
        client.send_presence()
        self._sessions += 1
        self._session_started()
        self._set_connected(True)
        log.info(
            "xmpp_publisher_connected", jid=self.jid, host=self.host, port=self.port, session=self._sessions
        )

    # -- slixmpp event handlers (never raise) --------------------------------------------------
    def _on_disconnected(self, client: ClientXMPP, reason: Any) -> None:
        if client is not self._client:
            return
        if self._session_lost is not None:
            self._session_lost.set()
        if self._connected and not self._stopping:
            log.warning("xmpp_publisher_disconnected", jid=self.jid, reason=str(reason))
        self._session_down()

    def _presence(self, client: ClientXMPP, full: str, bare: str, available: bool) -> None:
        if client is not self._client:
            return
        if bare == self.bare_jid or "@" not in bare:
            return
        if available == (full in self._available):
            return
        if available:
            self._available.add(full)
        else:
            self._available.discard(full)
        self._callback(self.on_presence, full, available)

    def _session_down(self) -> None:
        for fut in self._inflight:
            if not fut.done():
                fut.set_exception(NotConnectedError("connection to the Notification Service lost"))
        self._inflight.clear()
        self._session_lost_state()
        self._available.clear()
        self._set_connected(False)

    def _set_connected(self, value: bool) -> None:
        if value == self._connected:
            return
        self._connected = value
        if self._up is not None:
            if value:
                self._up.set()
            else:
                self._up.clear()
        self._callback(self.on_connection_change, value)

    @staticmethod
    def _callback(cb: Callable[..., None] | None, *args: Any) -> None:
        if cb is None:
            return
        try:
            cb(*args)
        except Exception:
            log.exception("xmpp_publisher_callback_failed", callback=getattr(cb, "__name__", repr(cb)))

    # -- requests ------------------------------------------------------------------------------
    async def _request(self, iq: Any) -> Any:
        """Send an IQ with bounded concurrency (pipelined: many in flight, each awaited)."""
        if not self._connected or self._client is None or self._sem is None:
            raise NotConnectedError("not connected to the Notification Service")
        async with self._sem:
            if not self._connected:
                raise NotConnectedError("not connected to the Notification Service")
            fut: asyncio.Future[Any] = iq.send(timeout=self.iq_timeout)
            self._inflight.add(fut)
            try:
                return await fut
            except IqTimeout as exc:
                raise NotificationError(f"no answer from {self.pubsub_domain} in {self.iq_timeout}s") from exc
            finally:
                self._inflight.discard(fut)

    def _iq(self, itype: str, child: ET.Element, owner: bool = False) -> Any:
        if self._client is None:
            raise NotConnectedError("not connected to the Notification Service")
        return pubsub_iq(self._client, self.pubsub_domain, itype, child, owner)
