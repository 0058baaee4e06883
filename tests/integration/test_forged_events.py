"""A desktop accepts pubsub events only from the pubsub service of its own node (issue 14,
finding 6), over a real Prosody.

Before: AgentXmpp took any message shaped as a pubsub event, whoever sent it, so another agent's
client could send a desktop a SystemInfo OUT_OF_SERVICE "event" and make it fail over.
"""

from __future__ import annotations

import aiohttp

from emu_base.history import History
from emu_base.history_events import FailoverDetected
from finesse_emu.desktop.client import AgentCredentials, DesktopClient, LoadPlan, NodeEndpoint
from finesse_emu.desktop.xmpp import AgentXmpp
from finesse_emu.xmpp.envelope import PUBSUB_EVENT_NS, update_document
from tests.helpers import eventually
from tests.integration.test_finesse_node import API, HOST
from tests.integration.test_finesse_node_xmpp import XDeployment, dep_xmpp  # noqa: F401  (fixture)

OUT_OF_SERVICE = update_document(
    "<SystemInfo><status>OUT_OF_SERVICE</status></SystemInfo>", "PUT", source=f"{API}/SystemInfo"
)


def forged_event(to: str, node: str, update: str) -> str:
    """A message shaped exactly as the pubsub service's events (items/item/notification)."""
    escaped = update.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        f"<message xmlns='jabber:client' to='{to}'><event xmlns='{PUBSUB_EVENT_NS}'>"
        f"<items node='{node}'><item id='forged'><notification xmlns='urn:xmpp:push:0'>{escaped}"
        f"</notification></item></items></event></message>"
    )


async def test_a_peer_cannot_make_a_desktop_fail_over(dep_xmpp: XDeployment) -> None:  # noqa: F811
    dep = dep_xmpp
    port = dep.node.config.xmpp_port
    endpoint = NodeEndpoint("finesse-a", f"http://{HOST}:{dep.node.http_port}", HOST, port)
    history = History(None)
    async with aiohttp.ClientSession() as http:
        desktop = DesktopClient(
            AgentCredentials("1006", "pass1006", "2006"),
            {"finesse-a": endpoint},
            "finesse-a",
            http,
            history,
            dep.node.timers,
            plan=LoadPlan(gadgets=1, resources=1, preload_secondary=False),
        )
        desktop.start()
        forger = AgentXmpp(f"1007@{HOST}/desktop", "pass1007", HOST, port)
        try:
            await eventually(
                lambda: (desktop.state, desktop.xmpp is not None),
                "the desktop signed in with its XMPP session",
                until=lambda seen: seen == ("SIGNED_IN", True),
                within=10.0,
            )
            # The forger signs in over REST first (where XMPP accounts follow AWDB-checked logins).
            assert (await dep.call("GET", "/User/1007", user="1007"))[0] == 200
            await forger.connect()
            xmpp = desktop.xmpp
            assert xmpp is not None
            events = desktop.stats["events"]
            # The forged OUT_OF_SERVICE, then a chat message on the same stream: once the message is
            # in, the forged one has been handled (one sender, one route, in order). Desktop chat is
            # on IM&P, not here: the message is only a marker on the Notification Service session.
            senders: list[str] = []
            xmpp.on_chat = lambda sender, _body: senders.append(sender)
            forger._client.send_raw(forged_event(xmpp.jid, f"{API}/SystemInfo", OUT_OF_SERVICE))
            forger.send_chat(f"1006@{HOST}", "after the forged event")
            await eventually(
                lambda: list(senders),
                "the message from 1007",
                until=lambda seen: f"1007@{HOST}" in seen,
                within=10.0,
            )
            # The desktop's reader has taken whatever came.
            await eventually(
                xmpp.events.qsize, "the desktop's XMPP queue drained", until=lambda n: n == 0, within=10.0
            )
            assert not history.of(FailoverDetected)
            assert desktop.state == "SIGNED_IN" and desktop.node == "finesse-a" and desktop.xmpp is xmpp
            assert desktop.stats["events"] == events
            assert xmpp.foreign_events == 1
            # A real event from the node still arrives.
            body = "<User><state>READY</state></User>"
            assert (await dep.call("PUT", "/User/1006", user="1006", body=body))[0] == 202
            await eventually(
                lambda: desktop.user_state,
                "the desktop sees READY",
                until=lambda s: s == "READY",
                within=10.0,
            )
            assert desktop.stats["events"] > events and xmpp.foreign_events == 1
            assert desktop.state == "SIGNED_IN"
        finally:
            await forger.disconnect()
            await desktop.stop()
