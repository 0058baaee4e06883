"""A small Finesse client, written for docs/testing.md: it is what the example test puts under a failover.

It signs an agent in over the Finesse REST API (aiohttp), follows the agent's User notifications on
the Finesse Notification Service (slixmpp: the pubsub events Finesse publishes for the user) and,
when the Notification Service connection drops, fails over as Cisco's "Cisco Finesse Failover
Mechanisms" chapter has the desktop do ("No matter which trigger is detected, the desktop
reconnection logic is as follows"; the triggers this client watches: "The Finesse Notification
Service is disconnected." and "The XMPP presence of "Finesse" user changes to Unavailable."):

1. "Poll SystemInfo for publisher every 20 seconds." (``poll_interval``; the test gives a shorter one)
2. "If SystemInfo API reports Finesse is IN_SERVICE, check the Finesse Notification Service."
4. "If XMPP is disconnected, make the Finesse Notification Service request."
5. "If the Finesse Notification Service is successful and Finesse service is IN_SERVICE, refresh
   the data." (GET User)

and "The failover logic prefers to stay with the publisher": each round tries the publisher first,
then the subscriber. Step 3 (the CTI heartbeat status) is left out of this small client.

It imports nothing of finesse-emu: it is a client of a Finesse, real or emulated.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import aiohttp
from slixmpp import ClientXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

EVENT_NS = "http://jabber.org/protocol/pubsub#event"
FINESSE_NS = "{http://www.cisco.com/vtg/finesse}"


@dataclass(frozen=True)
class Node:
    rest: str  # http://HOST:8082
    xmpp_host: str
    xmpp_port: int = 5222

    @property
    def domain(self) -> str:  # Finesse's xmppDomain is the node's host
        return self.rest.split("//", 1)[1].split(":", 1)[0]


@dataclass(frozen=True)
class Seen:
    node: str  # the node whose Notification Service delivered it
    state: str  # the agent's state in the User notification


def _text(element: ET.Element | None, path: str) -> str | None:
    found = None if element is None else element.find(path)
    if found is None:  # documents may carry Finesse's namespace or none
        found = None if element is None else element.find(path.replace("/", f"/{FINESSE_NS}"))
    return None if found is None else (found.text or "")


class FinesseClient:
    def __init__(
        self, nodes: list[Node], agent_id: str, password: str, extension: str, poll_interval: float = 20.0
    ) -> None:
        self.nodes = nodes  # the publisher first
        self.agent_id, self.password, self.extension = agent_id, password, extension
        self.poll_interval = poll_interval
        self.node: Node | None = None  # the node the client is on
        self.seen: list[Seen] = []  # every User notification, in order
        self.failovers: list[str] = []  # the node each failover ended on
        basic = base64.b64encode(f"{agent_id}:{password}".encode()).decode()
        self.http = aiohttp.ClientSession(
            headers={"Authorization": f"Basic {basic}"}, timeout=aiohttp.ClientTimeout(total=5)
        )
        self._xmpp: ClientXMPP | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.changed = asyncio.Event()  # set whenever seen or node change (for the test's waits)

    # -- REST -------------------------------------------------------------------------------------
    async def system_info(self, node: Node) -> str | None:
        try:
            async with self.http.get(f"{node.rest}/finesse/api/SystemInfo") as resp:
                return _text(ET.fromstring(await resp.text()), "status")
        except (aiohttp.ClientError, OSError, TimeoutError, ET.ParseError):
            return None

    async def put_state(self, node: Node, state: str) -> int:
        extension = f"<extension>{self.extension}</extension>" if state == "LOGIN" else ""
        body = f"<User><state>{state}</state>{extension}</User>"
        headers = {"Content-Type": "application/xml"}
        async with self.http.put(
            f"{node.rest}/finesse/api/User/{self.agent_id}", data=body, headers=headers
        ) as r:
            return r.status

    async def user_state(self, node: Node) -> str | None:
        async with self.http.get(f"{node.rest}/finesse/api/User/{self.agent_id}") as resp:
            return _text(ET.fromstring(await resp.text()), "state")

    # -- the Notification Service -----------------------------------------------------------------
    async def _connect_xmpp(self, node: Node) -> None:
        # Plain c2s on the lab's loopback with SASL PLAIN, as the emulated Notification Service offers.
        xmpp = ClientXMPP(
            f"{self.agent_id}@{node.domain}",
            self.password,
            ssl_context=ssl.create_default_context(),
            plugin_config={"feature_mechanisms": {"unencrypted_plain": True, "use_mech": "PLAIN"}},
        )
        xmpp.enable_starttls = xmpp.enable_direct_tls = False
        xmpp.enable_plaintext = True
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def session_start(_event: Any) -> None:
            if not started.done():
                started.set_result(None)

        xmpp.add_event_handler("session_start", session_start)
        xmpp.add_event_handler("disconnected", lambda _e: self._on_disconnected(xmpp, started))
        xmpp.add_event_handler("presence_unavailable", lambda p: self._on_unavailable(xmpp, node, p))
        xmpp.register_handler(
            Callback("event", MatchXPath(f"{{jabber:client}}message/{{{EVENT_NS}}}event"), self._on_event)
        )
        xmpp.connect(node.xmpp_host, node.xmpp_port)
        async with asyncio.timeout(10):
            await started
        xmpp.send_presence()
        self._xmpp = xmpp

    def _on_disconnected(self, xmpp: ClientXMPP, started: asyncio.Future[None]) -> None:
        if not started.done():
            started.set_exception(ConnectionError("the Notification Service closed the connection"))
        elif xmpp is self._xmpp and not self._closing:
            self._lost.set()  # the trigger: "The Finesse Notification Service is disconnected."

    def _on_unavailable(self, xmpp: ClientXMPP, node: Node, presence: Any) -> None:
        # The trigger: "The XMPP presence of "Finesse" user changes to Unavailable." (the node's
        # web application is gone while its Notification Service still runs).
        if xmpp is self._xmpp and str(presence["from"].bare) == f"finesse@{node.domain}":
            self._lost.set()

    def _on_event(self, msg: Any) -> None:
        items = msg.xml.find(f"{{{EVENT_NS}}}event/{{{EVENT_NS}}}items")
        if items is None or not items.get("node", "").endswith(f"/User/{self.agent_id}"):
            return
        for item in items:
            payload = next(iter(item), None)
            update = ET.fromstring("".join(payload.itertext())) if payload is not None else None
            state = _text(update, "data/user/state")
            if state and self.node is not None:
                self.seen.append(Seen(self.node.domain, state))
                self.changed.set()

    # -- the agent's life -------------------------------------------------------------------------
    async def start(self) -> None:
        """Notification Service first, then sign in (so the sign-in's own notification is seen)."""
        self.node = self.nodes[0]
        await self._connect_xmpp(self.node)
        status = await self.put_state(self.node, "LOGIN")
        if status != 202:
            raise RuntimeError(f"sign-in refused: {status}")
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            await self._lost.wait()
            self._lost.clear()
            await self._fail_over()

    async def _fail_over(self) -> None:
        if self._xmpp is not None:  # the old connection, if it is still up, is given up
            old, self._xmpp = self._xmpp, None
            old.disconnect()
        while True:
            for node in self.nodes:  # the publisher first: the failover logic prefers it
                if await self.system_info(node) != "IN_SERVICE":
                    continue
                try:
                    await self._connect_xmpp(node)
                except (ConnectionError, OSError, TimeoutError):
                    continue
                self.node = node
                # Signed in to the node now serving it, then "refresh the data".
                await self.put_state(node, "LOGIN")
                state = await self.user_state(node)
                if state:
                    self.seen.append(Seen(node.domain, state))
                self.failovers.append(node.domain)
                self.changed.set()
                return
            await asyncio.sleep(self.poll_interval)  # "Poll SystemInfo ... every 20 seconds."

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._xmpp is not None:
            self._xmpp.disconnect()
        await self.http.close()
