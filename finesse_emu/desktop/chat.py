"""Desktop chat: the chat gadget's session on Cisco IM&P (Unified CM IM and Presence).

IM&P is a server cluster of its own (publisher and subscriber nodes), beside Finesse: the desktop
signs in there with the agent's own credentials, and the agent's chat status (its presence status)
and chat sessions (one-to-one messages) live on that session, not on the Finesse Notification
Service. The chapter "Finesse Failover Mechanisms", "Desktop Chat Failover":

| Failover Type | Desktop Chat Behavior |
|---|---|
| Cisco IM&P server failover | The desktop chat status is retained, and all active chat sessions are lost. |
| Finesse server failover | The desktop chat status is retained, and all active chat sessions are lost. |
| CTI server failover | The desktop chat status and all chat sessions are retained. |

How each row comes about here:

- IM&P failover: the IM&P session drops; the gadget signs in to the other IM&P node at once (then
  to each in turn, a pause between rounds), sending the status again as its initial presence; the
  sessions of the dropped session are gone (``chat_lost``).
- Finesse failover: the desktop moves to the other Finesse node, a page load there, so the chat
  gadget loads again: a new IM&P session (the status sent again, the sessions lost).
- CTI failover: the desktop stays on its node and only reloads its data (no page load): the IM&P
  session is untouched and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from emu_base.history import History
from emu_base.timers import Timers
from finesse_emu.desktop.xmpp import AgentXmpp


def gadget_reloads(page: str, node: str, full: bool) -> bool:
    """Whether the desktop loading its page on Finesse ``node`` (``full``: a browser (re)load, else a
    data refresh) loads the chat gadget again, given the node of the page it lives in now (``page``,
    "" for none): a first load, a browser reload or a move to the other node (Finesse failover) do;
    a data refresh in place (CTI failover) does not."""
    return full or node != page


@dataclass(frozen=True)
class ImpServer:
    """One IM&P node the chat gadget may sign in to."""

    name: str  # imp-a, imp-b (or any label)
    host: str
    port: int = 5222
    domain: str = ""  # the presence domain ("" = host); both nodes of a cluster share it

    @property
    def presence_domain(self) -> str:
        return self.domain or self.host


class DesktopChat:
    """The chat gadget of one desktop: its IM&P session, the agent's chat status, active sessions."""

    def __init__(
        self,
        agent_id: str,
        password: str,
        servers: Sequence[ImpServer],
        history: History,
        timers: Timers,
        *,
        source: str = "desktop",
        request_timeout: float | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.password = password
        self.servers = list(servers)
        self.history = history
        self.timers = timers
        self.source = source
        self.request_timeout = request_timeout or timers.desktop_request_timeout
        self.status = ""  # the agent's chat status: kept by the gadget across every failover
        self.sessions: set[str] = set()  # peers (agent ids) with an active chat session
        self.xmpp: AgentXmpp | None = None
        self.server = ""  # the IM&P node of the current session
        self.page = ""  # the Finesse node whose desktop page the gadget was loaded in
        self._index = 0  # the IM&P node tried first (the publisher, then the one that answered)
        self._connecting: asyncio.Task[None] | None = None
        self.signing_in: AgentXmpp | None = None  # the client of the sign-in under way
        self._old: set[asyncio.Task[Any]] = set()
        self._closed = False

    @property
    def available(self) -> bool:
        """Whether this desktop has an IM&P cluster to chat on at all."""
        return bool(self.servers)

    @property
    def connected(self) -> bool:
        return self.xmpp is not None and self.xmpp.connected

    @property
    def session_status(self) -> str:
        """The status the current IM&P session carries (its presence), "" with no session."""
        return self.xmpp.status if self.connected and self.xmpp is not None else ""

    # -- the page the gadget lives in ------------------------------------------------------------
    def page_loaded(self, node: str, full: bool) -> None:
        """The desktop loaded its page on Finesse node ``node`` (``full``: a browser (re)load, not a
        data refresh). A new page is a new gadget: a new IM&P session, sessions lost, status kept.
        A data refresh on the same node (after a CTI failover) leaves the session alone."""
        if not self.servers or self._closed:
            return
        if not gadget_reloads(self.page, node, full) and (
            self.xmpp is not None or self._connecting is not None
        ):
            return
        self.page = node
        self._drop(f"page loaded on {node}")
        self._connect()

    def close(self, crash: bool = False) -> None:
        """The browser closed (Unavailable presence and a stream close) or crashed (the connection
        just drops)."""
        self.page = ""
        self._drop("browser closed", presence=not crash)

    async def stop(self) -> None:
        self._closed = True
        self._drop("stopped")
        for task in list(self._old):
            task.cancel()
        await asyncio.gather(*self._old, return_exceptions=True)

    # -- chat actions ------------------------------------------------------------------------------
    def start(self, peer: str) -> bool:
        """Open a chat with agent ``peer`` (a message through this desktop's IM&P session)."""
        if self.xmpp is None or not self.xmpp.connected:
            return False
        self.sessions.add(peer)
        self.xmpp.send_chat(f"{peer.lower()}@{self._domain()}", "hello")
        self.history.append(
            self.source, "chat_started", agent=self.agent_id, peer=peer, server=self.server, node=self.page
        )
        return True

    def set_status(self, status: str) -> None:
        """The agent's chat status: sent to IM&P now if signed in there, and at every sign-in."""
        self.status = status
        for xmpp in (self.xmpp, self.signing_in):  # a sign-in under way sends it too
            if xmpp is not None:
                xmpp.set_status(status)
        self.history.append(
            self.source, "chat_status", agent=self.agent_id, status=status, server=self.server, node=self.page
        )

    # -- the IM&P session --------------------------------------------------------------------------
    def _domain(self) -> str:
        return self.servers[self._index % len(self.servers)].presence_domain

    def _connect(self) -> None:
        self._connecting = asyncio.ensure_future(self._sign_in())

    async def _sign_in(self) -> None:
        """Sign in to IM&P: the current node first, then the others in turn, a pause between rounds."""
        tried = 0
        try:
            while not self._closed:
                server = self.servers[self._index % len(self.servers)]
                xmpp = self.signing_in = self._new_xmpp(server)
                try:
                    await xmpp.connect(timeout=self.request_timeout)
                    # A round trip (XEP-0199) after the initial presence: IM&P has taken the
                    # presence in once it answers, so a peer's message finds this agent online.
                    await xmpp.ping()
                except asyncio.CancelledError:  # the page went away meanwhile
                    xmpp.abort()
                    raise
                except Exception:  # refused, auth failure, no answer in time
                    xmpp.abort()
                    self._index += 1
                    tried += 1
                    if tried % len(self.servers) == 0:
                        await asyncio.sleep(self.timers.chat_reconnect_pause)
                    continue
                self.xmpp, self.server, self.signing_in = xmpp, server.name, None
                self.history.append(
                    self.source, "chat_connected", agent=self.agent_id, server=server.name, node=self.page
                )
                return
        finally:
            if self._connecting is asyncio.current_task():
                self._connecting, self.signing_in = None, None

    def _new_xmpp(self, server: ImpServer) -> AgentXmpp:
        jid = f"{self.agent_id.lower()}@{server.presence_domain}/{self.source}"
        xmpp = AgentXmpp(jid, self.password, server.host, server.port, iq_timeout=self.request_timeout)
        xmpp.status = self.status  # sent again as the initial presence: the status is retained
        xmpp.on_chat = lambda sender, _body: self._received(xmpp, sender)
        xmpp.on_disconnected = lambda: self._lost(xmpp)
        return xmpp

    def _received(self, xmpp: AgentXmpp, sender: str) -> None:
        if xmpp is not self.xmpp or self._closed:
            return
        peer = sender.split("@", 1)[0]
        if peer not in self.sessions:
            self.sessions.add(peer)
            self.history.append(
                self.source, "chat_joined", agent=self.agent_id, peer=peer, server=self.server, node=self.page
            )

    def _lost(self, xmpp: AgentXmpp) -> None:
        """The IM&P node ended the session (killed, stopped): sign in to the other node."""
        xmpp.abort()
        if xmpp is not self.xmpp or self._closed:
            return
        self._end_sessions(f"{self.server} lost")
        self.xmpp, self.server = None, ""
        self._index += 1  # the other node first
        self._connect()

    def _drop(self, why: str, presence: bool = True) -> None:
        """End the current session (and any sign-in under way); its chat sessions are lost."""
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting, self.signing_in = None, None
        self._end_sessions(why)
        xmpp, self.xmpp, self.server = self.xmpp, None, ""
        if xmpp is None:
            return
        xmpp.on_disconnected = None
        if presence:
            task = asyncio.ensure_future(xmpp.disconnect())
            self._old.add(task)
            task.add_done_callback(self._old.discard)
        else:
            with contextlib.suppress(Exception):
                xmpp.abort()

    def _end_sessions(self, why: str) -> None:
        if self.sessions:
            lost = sorted(self.sessions)
            self.sessions.clear()
            self.history.append(
                self.source,
                "chat_lost",
                agent=self.agent_id,
                peers=lost,
                server=self.server,
                node=self.page,
                why=why,
            )
