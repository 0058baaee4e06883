"""The Finesse web app's side of the Notification Service: user ``finesse`` publishing pubsub events.

:class:`NotificationPublisher` logs into its node's Prosody as ``finesse@<domain>`` with the
deployment's password (SASL PLAIN over plain TCP on loopback), sends available presence (which is
what desktops watch as the health of the Finesse web app), creates ``/finesse/api/...`` nodes on
demand, publishes ``Update`` documents as escaped text inside ``<notification>`` (the Finesse
notification format), subscribes agents on their behalf (``finesse`` is in Prosody's ``admins``, hence pubsub
owner), and reports agents' presence.

Access: every node is created with its XEP-0060 access model in the create request, and a
``whitelist`` node's readers (``node_access``, by default
:class:`~finesse_emu.server.pubsub_access.PubsubAccess` with no directory: each agent its own
``User/{id}`` nodes) get the ``member`` affiliation in one owner request per node. Prosody then
refuses everyone else's subscriptions and item requests, and any subscription ``finesse`` would make
for a non-member. A node that already exists (this process restarted, Prosody did not) gets its
members brought in line with the current policy: newcomers added, the others unsubscribed and
removed.

It keeps itself connected: when Prosody goes away it reconnects with capped exponential backoff,
and if the new Prosody lost its in-memory state (a restart) it recreates the nodes and
subscriptions it had made, as Openfire's database would have kept them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any

from slixmpp import JID, ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.jid import InvalidJID
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from emu_base.logs import get_logger
from finesse_emu.server.pubsub_access import PubsubAccess
from finesse_emu.xmpp._slix import (
    PING_NS,
    PUBSUB_NS,
    AuthenticationFailed,
    iq_condition,
    make_client,
    open_session,
    pubsub_iq,
    retire,
    xml_safe,
)
from finesse_emu.xmpp.envelope import DEFAULT_NOTIFICATION_NS

log = get_logger()

PresenceCallback = Callable[[str, bool], None]
ConnectionCallback = Callable[[bool], None]
# node -> the bare JIDs that may read it besides the owner (whitelist members), None: open to all.
NodeAccess = Callable[[str], "frozenset[str] | None"]
OWNER_NS = f"{PUBSUB_NS}#owner"
DATA_NS = "jabber:x:data"


def node_config(access_model: str) -> ET.Element:
    """The ``<configure>`` form sent with ``<create>`` (XEP-0060 create-and-configure)."""
    configure = ET.Element(f"{{{PUBSUB_NS}}}configure")
    form = ET.SubElement(configure, f"{{{DATA_NS}}}x", type="submit")
    for var, value, ftype in (
        ("FORM_TYPE", f"{PUBSUB_NS}#node_config", "hidden"),
        ("pubsub#access_model", access_model, None),
        ("pubsub#publish_model", "publishers", None),  # only the owner (finesse) publishes
    ):
        field = ET.SubElement(form, f"{{{DATA_NS}}}field", var=var)
        if ftype:
            field.set("type", ftype)
        ET.SubElement(field, f"{{{DATA_NS}}}value").text = value
    return configure


def _bare(jid: str) -> str:
    return jid.partition("/")[0].lower()


class NotificationError(Exception):
    """A pubsub request failed (the publisher itself keeps running)."""


class NotConnectedError(NotificationError):
    """The publisher has no session with Prosody right now."""


class NotificationPublisher:
    """``finesse@<domain>`` on one node's Prosody.

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
        notification_ns: str = DEFAULT_NOTIFICATION_NS,
        *,
        user: str = "finesse",
        resource: str = "finesse",
        max_in_flight: int = 100,
        iq_timeout: float = 10.0,
        login_timeout: float = 5.0,
        reconnect_min: float = 0.05,
        reconnect_max: float = 2.0,
        restore_after_restart: bool = True,
        on_presence: PresenceCallback | None = None,
        on_connection_change: ConnectionCallback | None = None,
        node_access: NodeAccess | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.domain = domain
        self.pubsub_domain = f"pubsub.{domain}"
        self.jid = f"{user}@{domain}/{resource}"
        self.bare_jid = f"{user}@{domain}"
        self.password = password
        self.notification_ns = notification_ns
        self.on_presence = on_presence
        self.on_connection_change = on_connection_change
        self.node_access: NodeAccess = node_access or PubsubAccess(domain).readers
        self.iq_timeout = iq_timeout
        self.login_timeout = login_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.restore_after_restart = restore_after_restart
        self._max_in_flight = max_in_flight
        self._sem: asyncio.Semaphore | None = None
        self._client: ClientXMPP | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._session_lost: asyncio.Event | None = None
        self._up: asyncio.Event | None = None
        self._connected = False
        self._sessions = 0
        self._nodes: set[str] = set()  # created (or found existing) in the current Prosody
        self._creating: dict[str, asyncio.Future[None]] = {}
        self._known_nodes: dict[str, None] = {}  # every node ever ensured, in order (for restore)
        self._subscriptions: dict[tuple[str, str], None] = {}  # (node, jid) made by subscribe_other
        self._bad_jids: set[str] = set()  # readers that are no JID, logged once each
        self._item_prefix: dict[str, str] = {}
        self._item_seq: dict[str, itertools.count[int]] = {}
        self._inflight: set[asyncio.Future[Any]] = set()
        self._available: set[str] = set()
        self._restore_task: asyncio.Task[None] | None = None
        self._stopping = False

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
        await self._cancel_supervisor()
        if client is not None:
            if client.transport is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(wait=timeout), timeout + 0.5)
            retire(client)
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

    async def _cancel_supervisor(self) -> None:
        for task in (self._supervisor, self._restore_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
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
        client.add_event_handler("presence_available", lambda pres: self._presence(client, pres, True))
        client.add_event_handler("presence_unavailable", lambda pres: self._presence(client, pres, False))
        # Prosody pings silent sessions and closes those that do not answer (crash detection).
        client.register_handler(
            Callback("ping", MatchXPath(f"{{jabber:client}}iq/{{{PING_NS}}}ping"), self._on_ping)
        )
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
        if self._sessions > 1 and self.restore_after_restart and self._known_nodes:
            self._restore_task = asyncio.create_task(self._restore_if_lost())  # runs once connected
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

    def _presence(self, client: ClientXMPP, pres: Any, available: bool) -> None:
        if client is not self._client:
            return
        try:
            jid = pres["from"]
            full, bare = str(jid.full), str(jid.bare)
        except Exception:  # malformed from: ignore the stanza
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

    @staticmethod
    def _on_ping(iq: Any) -> None:
        if iq["type"] == "get":
            with contextlib.suppress(Exception):
                iq.reply().send()

    def _session_down(self) -> None:
        for fut in self._inflight:
            if not fut.done():
                fut.set_exception(NotConnectedError("connection to the Notification Service lost"))
        self._inflight.clear()
        self._nodes.clear()
        self._creating.clear()
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

    # -- pubsub ----------------------------------------------------------------------------------
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

    async def ensure_node(self, node: str) -> None:
        """Create ``node`` unless it exists (idempotent; concurrent callers share one request)."""
        if node in self._nodes:
            return
        if not node:
            raise NotificationError("a node name is required (Prosody would create an instant node)")
        pending = self._creating.get(node)
        if pending is not None:
            await asyncio.shield(pending)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._creating[node] = fut
        try:
            await self._create(node)
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc if isinstance(exc, Exception) else NotificationError(repr(exc)))
            fut.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        else:
            self._nodes.add(node)
            self._known_nodes[node] = None
            if not fut.done():
                fut.set_result(None)
        finally:
            if self._creating.get(node) is fut:
                del self._creating[node]

    async def _create(self, node: str) -> None:
        readers = self.node_access(node)
        iq = self._iq("set", ET.Element(f"{{{PUBSUB_NS}}}create", node=node))
        iq.xml.find(f"{{{PUBSUB_NS}}}pubsub").append(node_config("open" if readers is None else "whitelist"))
        try:
            await self._request(iq)
        except IqError as exc:
            if iq_condition(exc) != "conflict":
                raise NotificationError(f"cannot create node {node!r}: {iq_condition(exc)}") from exc
            # It exists already: made by an earlier run of this node, maybe from another directory.
            if readers is not None:
                await self._sync_members(node, self._members(readers))
            return
        if readers:
            await self._set_affiliations(node, dict.fromkeys(self._members(readers), "member"))

    def _members(self, jids: Iterable[str]) -> frozenset[str]:
        """The bare JIDs as Prosody stores them (nodeprep: lower case, ...). One that is not a bare
        user JID (an agent id with '@', '/' or a space) is left out and logged once: it would fail
        the whole affiliations request, or name somebody else."""
        out = set()
        for jid in jids:
            try:
                parsed: JID | None = JID(jid)
            except InvalidJID:
                parsed = None
            if parsed is None or not parsed.user or parsed.resource:
                if jid not in self._bad_jids:
                    self._bad_jids.add(jid)
                    log.warning("xmpp_publisher_invalid_jid", jid=jid)
                continue
            out.add(str(parsed.bare))
        return frozenset(out)

    async def _set_affiliations(self, node: str, changes: dict[str, str]) -> None:
        """One owner request for every change on ``node`` (``member`` or ``none``)."""
        if not changes:
            return
        child = ET.Element(f"{{{OWNER_NS}}}affiliations", node=node)
        for jid in sorted(changes):
            ET.SubElement(child, f"{{{OWNER_NS}}}affiliation", jid=jid, affiliation=changes[jid])
        try:
            await self._request(self._iq("set", child, owner=True))
        except IqError as exc:
            raise NotificationError(f"affiliations of {node!r}: {iq_condition(exc)}") from exc

    async def affiliations(self, node: str) -> dict[str, str]:
        """``{bare jid: affiliation}`` of ``node`` (owner request)."""
        child = ET.Element(f"{{{OWNER_NS}}}affiliations", node=node)
        try:
            result = await self._request(self._iq("get", child, owner=True))
        except IqError as exc:
            raise NotificationError(f"affiliations of {node!r}: {iq_condition(exc)}") from exc
        return {
            el.get("jid", ""): el.get("affiliation", "")
            for el in result.xml.iter(f"{{{OWNER_NS}}}affiliation")
        }

    async def _sync_members(self, node: str, wanted: frozenset[str]) -> None:
        """Make ``node``'s members exactly ``wanted``: a revoked reader is unsubscribed first (on a
        whitelist node Prosody 0.12 refuses to drop the affiliation of a subscribed JID, and events
        go to subscribers whatever their affiliation), then every change goes in one request."""
        current = {j for j, a in (await self.affiliations(node)).items() if a == "member"}
        revoked = current - wanted
        if revoked:
            subs = [j for j in await self.subscribers(node) if _bare(j) in revoked]
            if subs:
                child = ET.Element(f"{{{OWNER_NS}}}subscriptions", node=node)
                for jid in subs:
                    ET.SubElement(child, f"{{{OWNER_NS}}}subscription", jid=jid, subscription="none")
                try:
                    await self._request(self._iq("set", child, owner=True))
                except IqError as exc:
                    raise NotificationError(f"unsubscribe from {node!r}: {iq_condition(exc)}") from exc
            for key in [k for k in self._subscriptions if k[0] == node and _bare(k[1]) in revoked]:
                del self._subscriptions[key]  # not restored after a Prosody restart either
            log.info(
                "xmpp_publisher_members_revoked", node=node, jids=sorted(revoked), unsubscribed=len(subs)
            )
        await self._set_affiliations(
            node, dict.fromkeys(wanted - current, "member") | dict.fromkeys(revoked, "none")
        )

    def next_item_id(self, node: str) -> str:
        """Per-node UUID followed by a decimal sequence number, as in both Finesse captures."""
        prefix = self._item_prefix.get(node)
        if prefix is None:
            prefix = self._item_prefix[node] = str(uuid.uuid4())
            self._item_seq[node] = itertools.count(1)
        return f"{prefix}{next(self._item_seq[node])}"

    async def publish(self, node: str, update_xml: str, item_id: str | None = None) -> str:
        """Publish ``update_xml`` (an ``Update`` document, see envelope.update_document) on ``node``.

        Creates the node first if needed. Returns the item id. Raises :class:`NotificationError`
        (or :class:`NotConnectedError`); concurrent calls are pipelined.
        """
        item_id = item_id or self.next_item_id(node)
        payload = xml_safe(update_xml)
        for attempt in (1, 2):
            await self.ensure_node(node)
            publish = ET.Element(f"{{{PUBSUB_NS}}}publish", node=node)
            item = ET.SubElement(publish, f"{{{PUBSUB_NS}}}item", id=item_id)
            # Text, not child elements: serialised escaped (&lt;Update&gt;...), as Finesse does.
            ET.SubElement(item, f"{{{self.notification_ns}}}notification").text = payload
            try:
                await self._request(self._iq("set", publish))
                return item_id
            except IqError as exc:
                if iq_condition(exc) == "item-not-found" and attempt == 1:
                    self._nodes.discard(node)  # Prosody restarted under us: recreate and retry once
                    continue
                raise NotificationError(f"publish to {node!r} failed: {iq_condition(exc)}") from exc
        raise NotificationError(f"publish to {node!r} failed")  # pragma: no cover

    async def publish_many(self, events: Iterable[tuple[str, str]]) -> list[str | BaseException]:
        """Publish (node, update_xml) pairs concurrently; item ids, or the exception per event."""
        return list(await asyncio.gather(*(self.publish(n, x) for n, x in events), return_exceptions=True))

    async def subscribe_other(self, node: str, jid: str) -> None:
        """Subscribe ``jid`` (bare or full) to ``node`` on its behalf, as Finesse does for the
        auto-subscribed User/Dialogs/Media/SystemInfo nodes. Creates the node if needed. Prosody
        refuses (``forbidden``) a JID that may not read the node (``node_access``)."""
        await self.ensure_node(node)
        child = ET.Element(f"{{{PUBSUB_NS}}}subscribe", node=node, jid=jid)
        try:
            await self._request(self._iq("set", child))
        except IqError as exc:
            raise NotificationError(f"subscribe {jid} to {node!r} failed: {iq_condition(exc)}") from exc
        self._subscriptions[(node, jid)] = None

    async def unsubscribe_other(self, node: str, jid: str) -> None:
        self._subscriptions.pop((node, jid), None)
        child = ET.Element(f"{{{PUBSUB_NS}}}unsubscribe", node=node, jid=jid)
        try:
            await self._request(self._iq("set", child))
        except IqError as exc:
            raise NotificationError(f"unsubscribe {jid} from {node!r} failed: {iq_condition(exc)}") from exc

    async def subscribers(self, node: str) -> dict[str, str]:
        """``{jid: subscription}`` of ``node`` (owner request)."""
        child = ET.Element(f"{{{PUBSUB_NS}#owner}}subscriptions", node=node)
        try:
            result = await self._request(self._iq("get", child, owner=True))
        except IqError as exc:
            raise NotificationError(f"subscriptions of {node!r}: {iq_condition(exc)}") from exc
        out: dict[str, str] = {}
        for el in result.xml.iter(f"{{{PUBSUB_NS}#owner}}subscription"):
            out[el.get("jid", "")] = el.get("subscription", "")
        return out

    async def wait_restored(self, timeout: float = 10.0) -> None:
        """Wait until the nodes and subscriptions lost by a Prosody restart are back (if any)."""
        task = self._restore_task
        if task is not None and not task.done():
            await asyncio.wait_for(asyncio.shield(task), timeout)

    async def _node_exists(self, node: str) -> bool:
        child = ET.Element(f"{{{PUBSUB_NS}#owner}}subscriptions", node=node)
        try:
            await self._request(self._iq("get", child, owner=True))
        except IqError as exc:
            return iq_condition(exc) != "item-not-found"
        return True

    async def _restore_if_lost(self) -> None:
        """After a reconnect: if Prosody lost its memory (restart), recreate nodes and subscriptions."""
        try:
            probe = next(iter(self._known_nodes))
            if await self._node_exists(probe):
                self._nodes.update(self._known_nodes)  # same Prosody: everything is still there
                return
            nodes, subs = list(self._known_nodes), list(self._subscriptions)
            log.info("xmpp_publisher_restoring", nodes=len(nodes), subscriptions=len(subs))
            await asyncio.gather(*(self.ensure_node(n) for n in nodes))
            await asyncio.gather(*(self.subscribe_other(n, j) for n, j in subs))
            log.info("xmpp_publisher_restored", nodes=len(nodes), subscriptions=len(subs))
        except NotificationError as exc:  # lost the session again: the next reconnect retries
            log.warning("xmpp_publisher_restore_failed", error=str(exc))
