"""The pubsub side of ``finesse``: the nodes it owns, who may read them, what it publishes on them.

:class:`NotificationPublisher` creates ``/finesse/api/...`` nodes on demand, publishes ``Update``
documents as escaped text inside ``<notification>`` (the Finesse notification format), subscribes
agents on their behalf (``finesse`` is in Prosody's ``admins``, hence pubsub owner), and, after a
reconnect to a Prosody that lost its in-memory state (a restart), recreates the nodes and
subscriptions it had made, as Openfire's database would have kept them. Its session with Prosody
(login, reconnects, presence) is :class:`~finesse_emu.server.publisher.session.PublisherSession`.

Access: every node is created with its XEP-0060 access model in the create request, and a
``whitelist`` node's readers (``node_access``) get the ``member`` affiliation in one owner request
per node; a node that already exists gets its members brought in line with the current policy.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable

from slixmpp import JID
from slixmpp.exceptions import IqError
from slixmpp.jid import InvalidJID

from emu_base.logs import get_logger
from finesse_emu.server.publisher.session import (
    ConnectionCallback,
    NotificationError,
    PresenceCallback,
    PublisherSession,
)
from finesse_emu.server.pubsub_access import PubsubAccess
from finesse_emu.server.xml.common import xml_safe
from finesse_emu.xmpp.envelope import DEFAULT_NOTIFICATION_NS
from finesse_emu.xmpp.pubsub import OWNER_NS, PUBSUB_NS, iq_condition, node_config

log = get_logger()

# node -> the bare JIDs that may read it besides the owner (whitelist members), None: open to all.
NodeAccess = Callable[[str], "frozenset[str] | None"]


def _bare(jid: str) -> str:
    return jid.partition("/")[0].lower()


class NotificationPublisher(PublisherSession):
    """``finesse@<domain>`` on one node's Prosody: its session (see :class:`PublisherSession`, which
    says what ``on_presence`` and ``on_connection_change`` get) and the pubsub nodes it owns.

    ``node_access`` names each node's readers; by default
    :class:`~finesse_emu.server.pubsub_access.PubsubAccess` with no directory: each agent its own
    ``User/{id}`` nodes.
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
        super().__init__(
            host,
            port,
            domain,
            password,
            user=user,
            resource=resource,
            max_in_flight=max_in_flight,
            iq_timeout=iq_timeout,
            login_timeout=login_timeout,
            reconnect_min=reconnect_min,
            reconnect_max=reconnect_max,
            on_presence=on_presence,
            on_connection_change=on_connection_change,
        )
        self.notification_ns = notification_ns
        self.node_access: NodeAccess = node_access or PubsubAccess(domain).readers
        self.restore_after_restart = restore_after_restart
        self._nodes: set[str] = set()  # created (or found existing) in the current Prosody
        self._creating: dict[str, asyncio.Future[None]] = {}
        self._known_nodes: dict[str, None] = {}  # every node ever ensured, in order (for restore)
        self._subscriptions: dict[tuple[str, str], None] = {}  # (node, jid) made by subscribe_other
        self._bad_jids: set[str] = set()  # readers that are no JID, logged once each
        self._item_prefix: dict[str, str] = {}
        self._item_seq: dict[str, itertools.count[int]] = {}

    # -- the session's hooks ---------------------------------------------------------------------
    def _session_started(self) -> None:
        if self._sessions > 1 and self.restore_after_restart and self._known_nodes:
            self._restore_task = asyncio.create_task(self._restore_if_lost())  # runs once connected

    def _session_lost_state(self) -> None:
        self._nodes.clear()
        self._creating.clear()

    # -- pubsub ----------------------------------------------------------------------------------
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
        child = ET.Element(f"{{{OWNER_NS}}}subscriptions", node=node)
        try:
            result = await self._request(self._iq("get", child, owner=True))
        except IqError as exc:
            raise NotificationError(f"subscriptions of {node!r}: {iq_condition(exc)}") from exc
        out: dict[str, str] = {}
        for el in result.xml.iter(f"{{{OWNER_NS}}}subscription"):
            out[el.get("jid", "")] = el.get("subscription", "")
        return out

    async def wait_restored(self, timeout: float = 10.0) -> None:
        """Wait until the nodes and subscriptions lost by a Prosody restart are back (if any)."""
        task = self._restore_task
        if task is not None and not task.done():
            await asyncio.wait_for(asyncio.shield(task), timeout)

    async def _node_exists(self, node: str) -> bool:
        child = ET.Element(f"{{{OWNER_NS}}}subscriptions", node=node)
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
