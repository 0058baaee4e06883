"""A minimal agent-side XMPP client (tests, and later the desktop swarm).

It does what a Finesse desktop's EventTunnel does on the wire: SASL PLAIN, bind, initial presence,
then waits for ``finesse``'s available presence before it counts as connected; it receives pubsub
events (the ``Update`` text already unescaped by the XML parser) and answers XEP-0199 pings. It
never reconnects by itself: that is the failover logic's job.

Kept light for thousands of instances: no slixmpp pubsub/disco/ping plugins, raw IQs instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, NamedTuple

from slixmpp import JID, ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from emu_base.logs import get_logger
from emu_base.timers import Timers
from finesse_emu.xmpp.client import (
    PING_NS,
    answer_pings,
    close,
    make_client,
    open_session,
    retire,
    watch_presence,
)
from finesse_emu.xmpp.envelope import PUBSUB_EVENT_NS
from finesse_emu.xmpp.pubsub import PUBSUB_NS, iq_condition, pubsub_iq

log = get_logger()
# Senders of refused pubsub events logged per client (each once); more are counted, not logged.
MAX_FOREIGN_SENDERS_LOGGED = 16
# Defaults for callers that pass no timeouts (tests, benchmarks): Cisco's, unscaled. The desktop
# client passes its own, scaled.
_DEFAULTS = Timers()


class PubsubEvent(NamedTuple):
    node: str  # items/@node: the REST path, e.g. /finesse/api/User/1000
    item_id: str
    update: str  # the <notification> text, unescaped: "<Update>...</Update>"


class XmppRequestError(Exception):
    pass


class _WireClient(ClientXMPP):
    """Optionally keeps every byte received, for tests that check the exact envelope."""

    wire: list[bytes] | None = None

    def data_received(self, data: bytes | str) -> None:
        if self.wire is not None:
            self.wire.append(data.encode() if isinstance(data, str) else data)
        super().data_received(data)


class AgentXmpp:
    """``<agentId>@<domain>/<resource>``; ``jid`` must carry the resource (Finesse requires one)."""

    def __init__(
        self,
        jid: str,
        password: str,
        host: str,
        port: int,
        *,
        service_user: str = "finesse",
        record_wire: bool = False,
        iq_timeout: float = _DEFAULTS.desktop_request_timeout,
        on_finesse_presence: Callable[[bool], None] | None = None,
        on_disconnected: Callable[[], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.password = password
        self.iq_timeout = iq_timeout
        self.on_finesse_presence = on_finesse_presence
        self.on_disconnected = on_disconnected
        # Chat (desktop chat through the Notification Service): (sender's bare JID, body).
        self.on_chat: Callable[[str, str], None] | None = None
        self.status = ""  # the presence status sent at connect (the agent's chat status)
        self.events: asyncio.Queue[PubsubEvent] = asyncio.Queue()
        self.finesse_changes: asyncio.Queue[bool] = asyncio.Queue()
        self.pings_answered = 0
        self.foreign_events = 0  # event-shaped messages not from this server's pubsub service
        self._foreign_senders: set[str] = set()
        self._client: _WireClient = make_client(jid, password, _WireClient)  # type: ignore[assignment]
        if record_wire:
            self._client.wire = []
        self.jid = str(self._client.boundjid.full)
        self.domain = str(self._client.boundjid.domain)
        self.pubsub_domain = f"pubsub.{self.domain}"
        self.finesse_bare = f"{service_user}@{self.domain}"
        self._finesse_resources: set[str] = set()
        self._finesse_up = asyncio.Event()
        self._finesse_down = asyncio.Event()
        self._finesse_down.set()
        self._closed = asyncio.Event()
        self._connected = False
        self.reached = False  # a TCP connection was ever made (a refused client carries no state)
        c = self._client
        watch_presence(c, self._presence)
        c.add_event_handler("disconnected", self._on_disconnected)
        c.add_event_handler("connected", self._on_transport)
        c.register_handler(
            Callback(
                "pubsub event",
                MatchXPath(f"{{jabber:client}}message/{{{PUBSUB_EVENT_NS}}}event"),
                self._on_event,
            )
        )
        answer_pings(c, self._on_ping)
        c.register_handler(
            Callback("chat", MatchXPath("{jabber:client}message/{jabber:client}body"), self._on_chat)
        )

    # -- state ---------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def finesse_available(self) -> bool:
        return bool(self._finesse_resources)

    @property
    def wire(self) -> bytes:
        """Everything received so far (only with ``record_wire=True``)."""
        return b"".join(self._client.wire or [])

    async def wait_finesse(
        self, available: bool = True, timeout: float = _DEFAULTS.desktop_request_timeout
    ) -> None:
        """Wait until ``finesse``'s presence is (un)available."""
        await asyncio.wait_for((self._finesse_up if available else self._finesse_down).wait(), timeout)

    # -- lifecycle -----------------------------------------------------------------------------
    async def connect(
        self, timeout: float = _DEFAULTS.desktop_request_timeout, wait_finesse: bool = False
    ) -> None:
        """Log in and send initial presence; with ``wait_finesse``, also wait for finesse available
        (the EventTunnel only reports "connected" then)."""
        self._closed.clear()
        await open_session(self._client, self.host, self.port, timeout)
        self._connected = True
        self._client.send_presence(pstatus=self.status or None)
        if wait_finesse:
            await self.wait_finesse(True, timeout)

    async def disconnect(self, timeout: float = _DEFAULTS.xmpp_close_wait) -> None:
        """Unavailable presence and a clean stream close (a desktop signing out)."""
        if self._client.transport is not None:
            self._client.send_presence(ptype="unavailable")
        await close(self._client, timeout)
        self._connected = False

    def abort(self) -> None:
        """Drop the TCP connection without unavailable presence or stream close (the peer sees it)."""
        retire(self._client)
        self._connected = False

    def freeze(self) -> None:
        """Go silent without closing anything: the socket stays open and nothing is read or sent,
        as when a browser dies behind a dead network. Only the server's own dead-client detection
        (pings, within 120 s) notices; ``abort()`` later releases the socket."""
        transport = self._client.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.pause_reading()
        self._client.send_raw = lambda *_args, **_kw: None  # type: ignore[method-assign]
        self._connected = False

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._closed.wait(), timeout)

    # -- requests --------------------------------------------------------------------------------
    async def _request(self, iq: Any) -> Any:
        try:
            return await iq.send(timeout=self.iq_timeout)
        except IqError as exc:
            raise XmppRequestError(iq_condition(exc) or "error") from exc
        except IqTimeout as exc:
            raise XmppRequestError("timeout") from exc

    async def subscribe(self, node: str, bare: bool = False) -> None:
        """Subscribe this client (full JID by default, as Finesse asks for explicit subscriptions)."""
        jid = str(self._client.boundjid.bare if bare else self._client.boundjid.full)
        child = ET.Element(f"{{{PUBSUB_NS}}}subscribe", node=node, jid=jid)
        await self._request(pubsub_iq(self._client, self.pubsub_domain, "set", child))

    async def unsubscribe(self, node: str, bare: bool = False) -> None:
        jid = str(self._client.boundjid.bare if bare else self._client.boundjid.full)
        child = ET.Element(f"{{{PUBSUB_NS}}}unsubscribe", node=node, jid=jid)
        await self._request(pubsub_iq(self._client, self.pubsub_domain, "set", child))

    async def subscriptions(self) -> list[tuple[str, str]]:
        """(node, subscription) pairs of this JID, like the desktop's ``subscriptions('to')``."""
        child = ET.Element(f"{{{PUBSUB_NS}}}subscriptions")
        result = await self._request(pubsub_iq(self._client, self.pubsub_domain, "get", child))
        return [
            (el.get("node", ""), el.get("subscription", ""))
            for el in result.xml.iter(f"{{{PUBSUB_NS}}}subscription")
        ]

    async def ping(self, to: str | None = None) -> float:
        """XEP-0199 ping (the domain by default, as EventTunnel does); returns the round trip."""
        iq = self._client.make_iq_get(ito=to or self.domain)
        iq.append(ET.Element(f"{{{PING_NS}}}ping"))
        t0 = time.monotonic()
        await self._request(iq)
        return time.monotonic() - t0

    # -- stanza handlers (never raise) -------------------------------------------------------------
    def _presence(self, full: str, bare: str, available: bool) -> None:
        if bare != self.finesse_bare:
            return
        before = self.finesse_available
        if available:
            self._finesse_resources.add(full)
        else:
            self._finesse_resources.discard(full)
        self._finesse_changed(before)

    def _finesse_changed(self, before: bool) -> None:
        now = self.finesse_available
        if now == before:
            return
        (self._finesse_up if now else self._finesse_down).set()
        (self._finesse_down if now else self._finesse_up).clear()
        self.finesse_changes.put_nowait(now)
        if self.on_finesse_presence is not None:
            with contextlib.suppress(Exception):
                self.on_finesse_presence(now)

    def _on_event(self, msg: Any) -> None:
        try:
            # Only the pubsub service of the server this client is connected to publishes; a
            # message shaped as an event from anyone else (another agent's client) is not one.
            sender = str(msg["from"])
            if sender.lower() != self.pubsub_domain.lower():
                self._foreign_event(sender)
                return
            items = msg.xml.find(f"{{{PUBSUB_EVENT_NS}}}event/{{{PUBSUB_EVENT_NS}}}items")
            if items is None:
                return
            node = items.get("node", "")
            for item in items.findall(f"{{{PUBSUB_EVENT_NS}}}item"):
                payload = next(iter(item), None)
                text = "" if payload is None else "".join(payload.itertext())
                self.events.put_nowait(PubsubEvent(node, item.get("id", ""), text))
        except Exception:  # a malformed event never takes the client down
            return

    def _foreign_event(self, sender: str) -> None:
        self.foreign_events += 1
        if sender not in self._foreign_senders and len(self._foreign_senders) < MAX_FOREIGN_SENDERS_LOGGED:
            self._foreign_senders.add(sender)
            log.warning(
                "xmpp_foreign_event_ignored", jid=self.jid, sender=sender[:200], expected=self.pubsub_domain
            )

    def send_chat(self, to_bare: str, body: str) -> None:
        """A one-to-one chat message (type chat) through this session's server."""
        self._client.send_message(mto=JID(to_bare), mbody=body, mtype="chat")

    def set_status(self, status: str) -> None:
        """The agent's chat status (presence status), kept for the next connect too."""
        self.status = status
        if self._connected:
            self._client.send_presence(pstatus=status)

    def _on_chat(self, msg: Any) -> None:
        try:
            if msg["type"] not in ("chat", "normal") or self.on_chat is None:
                return
            self.on_chat(str(msg["from"].bare), str(msg["body"]))
        except Exception:  # a malformed message never takes the client down
            return

    def _on_ping(self) -> None:
        self.pings_answered += 1

    def _on_transport(self, _event: Any) -> None:
        self.reached = True

    def _on_disconnected(self, _reason: Any) -> None:
        before = self.finesse_available
        self._connected = False
        self._finesse_resources.clear()
        self._finesse_changed(before)
        self._closed.set()
        if self.on_disconnected is not None:
            with contextlib.suppress(Exception):
                self.on_disconnected()
