"""The Notification Service over real sockets: a real Prosody, the finesse publisher, agent clients."""

from __future__ import annotations

import asyncio
import base64
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import psutil
import pytest
from defusedxml import ElementTree as SafeET

from emu_base.procs import free_port
from finesse_emu.desktop.xmpp import AgentXmpp, PubsubEvent, XmppRequestError
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.publisher import NotConnectedError, NotificationError, NotificationPublisher
from finesse_emu.server.pubsub_access import PubsubAccess
from finesse_emu.xmpp.client import AuthenticationFailed
from finesse_emu.xmpp.envelope import PUBSUB_EVENT_NS, update_document
from finesse_emu.xmpp.prosody import ProsodyError, ProsodyProcess
from tests.conftest import ProsodyFactory
from tests.helpers import eventually

USER_NODE = "/finesse/api/User/{}"
ITEM_ID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(\d+)$")


class Presences:
    """What a publisher's callbacks reported."""

    def __init__(self) -> None:
        self.presence: list[tuple[str, bool]] = []
        self.connection: list[bool] = []

    def on_presence(self, jid: str, available: bool) -> None:
        self.presence.append((jid, available))

    def on_connection(self, connected: bool) -> None:
        self.connection.append(connected)

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        """Until ``predicate()``; a failure shows every callback seen so far."""
        await eventually(
            lambda: {"presence": list(self.presence), "connection": list(self.connection)},
            what,
            until=lambda _: predicate(),
            within=timeout,
        )


def publisher_for(
    p: ProsodyProcess, seen: Presences | None = None, **kwargs: object
) -> NotificationPublisher:
    return NotificationPublisher(
        p.host, p.c2s_port, p.domain, p.service_password,
        on_presence=seen.on_presence if seen else None,
        on_connection_change=seen.on_connection if seen else None,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
async def publisher(prosody: ProsodyProcess) -> AsyncIterator[tuple[NotificationPublisher, Presences]]:
    seen = Presences()
    pub = publisher_for(prosody, seen)
    await pub.start()
    yield pub, seen
    await pub.stop()


async def agent(p: ProsodyProcess, agent_id: str, resource: str = "desktop", **kwargs: object) -> AgentXmpp:
    """A directory agent logged in with its Finesse password (pass<id>, tests.conftest.FIXTURE_AGENTS)."""
    client = AgentXmpp(f"{agent_id}@{p.domain}/{resource}", f"pass{agent_id}", p.host, p.c2s_port, **kwargs)  # type: ignore[arg-type]
    await client.connect(timeout=5.0, wait_finesse=True)
    return client


async def next_event(a: AgentXmpp, timeout: float = 5.0) -> PubsubEvent:
    return await asyncio.wait_for(a.events.get(), timeout)


def messages_on_wire(wire: bytes) -> list[ET.Element]:
    """The <message> stanzas exactly as Prosody sent them (namespace of the stream re-declared)."""
    out = []
    for raw in re.findall(rb"<message[ >].*?</message>", wire, re.DOTALL):
        fixed = raw.replace(b"<message", b"<message xmlns='jabber:client'", 1)
        out.append(SafeET.fromstring(fixed))
    return out


# -- Prosody itself ------------------------------------------------------------------------------


async def test_prosody_listens_on_loopback_only_and_starts_fast(prosody: ProsodyProcess) -> None:
    assert prosody.pid is not None and prosody.running
    assert prosody.startup_seconds is not None and prosody.startup_seconds < 5.0
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(prosody.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {("127.0.0.1", prosody.c2s_port), ("127.0.0.1", prosody.http_port)}
    assert "s2s" not in prosody.log_text()


async def test_start_refuses_a_port_in_use(prosody_factory: ProsodyFactory) -> None:
    first = prosody_factory()
    await first.start()
    second = prosody_factory(c2s_port=first.c2s_port)
    with pytest.raises(ProsodyError, match="already in use"):
        await second.start()


CRASHING_EMULATOR = """
import asyncio, os, sys
from finesse_emu.xmpp.prosody import ProsodyProcess
async def main():
    p = ProsodyProcess("emu.test", c2s_port=int(sys.argv[1]), http_port=int(sys.argv[2]), run_dir=sys.argv[3])
    await p.start()
    print(p.pid, flush=True)
    os._exit(1)  # no stop(): a crash
asyncio.run(main())
"""


async def test_prosody_dies_with_a_crashed_parent(tmp_path: Path) -> None:
    argv = [CRASHING_EMULATOR, str(free_port()), str(free_port()), str(tmp_path)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    pid = int(out.split()[-1])

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # dead, awaiting init's reaping
        except psutil.NoSuchProcess:
            return True

    try:
        await eventually(gone, "prosody gone with the process that started it", every=0.02)
    except AssertionError:
        psutil.Process(pid).kill()
        raise


async def test_graceful_stop_then_restart_on_same_ports(prosody_factory: ProsodyFactory) -> None:
    p = prosody_factory()
    await p.start()
    pid = p.pid
    # 0, or -SIGTERM when the signal lands before mod_posix installed its handler.
    assert await p.stop(timeout=5.0) in (0, -15)
    assert not p.running
    await p.start()
    assert p.running and p.pid != pid


# -- publisher, agents and the event envelope ------------------------------------------------------


async def test_event_envelope_reaches_subscribed_agents_only(
    prosody: ProsodyProcess, publisher: tuple[NotificationPublisher, Presences]
) -> None:
    pub, _ = publisher
    a1000 = await agent(prosody, "1000", record_wire=True)
    a1001 = await agent(prosody, "1001")
    assert a1000.finesse_available and a1001.finesse_available
    for agent_id in ("1000", "1001"):  # subscribe-other, as Finesse does for the User node
        await pub.subscribe_other(USER_NODE.format(agent_id), f"{agent_id}@{prosody.domain}")
    await pub.ensure_node(USER_NODE.format("1000"))  # idempotent
    assert (await pub.subscribers(USER_NODE.format("1000"))) == {f"1000@{prosody.domain}": "subscribed"}

    node = USER_NODE.format("1000")
    data = "<user><loginId>1000</loginId><state>READY</state><note>a &amp; b</note></user>"
    doc = update_document(data, "put", "req-1", node)
    item_id = await pub.publish(node, doc)
    ev = await next_event(a1000)
    assert ev == PubsubEvent(node, item_id, doc)
    second = await pub.publish(node, update_document(data, "PUT", "", node))
    assert (await next_event(a1000)).item_id == second
    m1, m2 = ITEM_ID.match(item_id), ITEM_ID.match(second)
    assert m1 and m2 and m1.group(1) == m2.group(1) and int(m2.group(2)) == int(m1.group(2)) + 1
    other = await pub.publish(USER_NODE.format("1001"), update_document(data, "PUT", "", "x"))
    assert (await next_event(a1001)).item_id == other
    assert a1001.events.empty() and a1000.events.empty()  # 1001 got nothing of 1000's node

    # The exact envelope, as bytes on the wire (the Finesse notification format).
    assert b"&lt;Update&gt;" in a1000.wire and b"&lt;event&gt;PUT&lt;/event&gt;" in a1000.wire
    msg = messages_on_wire(a1000.wire)[0]
    assert msg.get("from") == f"pubsub.{prosody.domain}"
    assert msg.get("to") == f"1000@{prosody.domain}"
    items = msg.find(f"{{{PUBSUB_EVENT_NS}}}event/{{{PUBSUB_EVENT_NS}}}items")
    assert items is not None and items.get("node") == node
    item = items.find(f"{{{PUBSUB_EVENT_NS}}}item")
    assert item is not None and item.get("id") == item_id
    notification = item.find("{urn:xmpp:push:0}notification")
    assert notification is not None and len(notification) == 0  # escaped text, no child elements
    assert notification.text == doc
    update = SafeET.fromstring(notification.text)
    assert update.tag == "Update"
    assert [c.tag for c in update] == ["data", "event", "requestId", "source"]
    assert update.findtext("event") == "PUT"
    assert update.findtext("requestId") == "req-1"
    assert update.findtext("source") == node
    assert update.findtext("data/user/state") == "READY"
    assert update.findtext("data/user/note") == "a & b"
    await a1000.disconnect()
    await a1001.disconnect()


async def test_notification_namespace_is_configurable(prosody: ProsodyProcess) -> None:
    pub = publisher_for(prosody, notification_ns="http://jabber.org/protocol/pubsub")  # Finesse 11.x
    await pub.start()
    a = await agent(prosody, "1002", record_wire=True)
    node = USER_NODE.format("1002")
    await pub.subscribe_other(node, a.jid)  # a full JID works too
    await pub.publish(node, update_document("<user/>", "POST", "", node))
    await next_event(a)
    item = messages_on_wire(a.wire)[0].find(f".//{{{PUBSUB_EVENT_NS}}}item")
    assert item is not None
    assert item.find("{http://jabber.org/protocol/pubsub}notification") is not None
    await a.disconnect()
    await pub.stop()


async def test_pipelined_publishing_delivers_everything_in_order(
    prosody: ProsodyProcess, publisher: tuple[NotificationPublisher, Presences]
) -> None:
    pub, _ = publisher
    a = await agent(prosody, "1003")
    nodes = [USER_NODE.format("1003"), f"{USER_NODE.format('1003')}/Dialogs"]
    for node in nodes:
        await pub.subscribe_other(node, f"1003@{prosody.domain}")
    events = [
        (nodes[i % 2], update_document(f"<user><n>{i}</n></user>", "PUT", "", nodes[i % 2]))
        for i in range(300)
    ]
    ids = await pub.publish_many(events)
    assert all(isinstance(i, str) for i in ids)
    got = [await next_event(a) for _ in range(300)]
    assert [e.item_id for e in got] == ids
    await a.disconnect()


async def test_agent_subscribes_itself_and_lists_subscriptions(prosody: ProsodyProcess) -> None:
    supervisor = AuthUser(id="1004", login="agent0005", team_id=1, supervisor=True)  # may read Team/1
    pub = publisher_for(prosody, node_access=PubsubAccess(prosody.domain, [supervisor]).readers)
    await pub.start()
    team = "/finesse/api/Team/1/Users"
    await pub.ensure_node(team)
    a = await agent(prosody, "1004")
    await a.subscribe(team)  # explicit subscription: full JID, as Finesse asks
    assert (team, "subscribed") in await a.subscriptions()
    await pub.publish(team, update_document("<users/>", "PUT", "", team))
    assert (await next_event(a)).node == team
    await a.unsubscribe(team)
    assert await a.subscriptions() == []
    with pytest.raises(XmppRequestError, match="item-not-found"):
        await a.subscribe("/finesse/api/Queue/404")
    await a.disconnect()
    await pub.stop()


async def test_pings_both_ways(
    prosody: ProsodyProcess, publisher: tuple[NotificationPublisher, Presences]
) -> None:
    a = await agent(prosody, "1005")
    b = await agent(prosody, "1006")
    assert await a.ping() < 1.0  # the domain, as EventTunnel pings it
    assert await b.ping(a.jid) < 1.0  # a answers XEP-0199
    assert a.pings_answered == 1
    await a.disconnect()
    await b.disconnect()


async def test_agent_client_reconnects_with_the_same_object(
    prosody: ProsodyProcess, publisher: tuple[NotificationPublisher, Presences]
) -> None:
    a = await agent(prosody, "1007")
    for crash in (True, False, True):
        if crash:
            a.abort()
            await a.wait_closed()
        else:
            await a.disconnect()
        assert not a.connected and not a.finesse_available
        await a.connect(timeout=5.0, wait_finesse=True)
        assert await a.ping() < 1.0
    await a.disconnect()


# -- presence: finesse's health as seen by agents, agents' presence as seen by finesse ---------------


async def test_finesse_crash_and_return_seen_by_agents(prosody: ProsodyProcess) -> None:
    pub = publisher_for(prosody)
    await pub.start()
    agents = [await agent(prosody, str(i)) for i in (1010, 1011)]
    t0 = time.monotonic()
    pub.abort()  # TCP dropped, no unavailable presence sent by the publisher itself
    for a in agents:
        await a.wait_finesse(False, timeout=2.0)
    assert time.monotonic() - t0 < 2.0
    assert [await a.finesse_changes.get() for a in agents] == [True, True]
    assert [await a.finesse_changes.get() for a in agents] == [False, False]

    await pub.start()  # finesse back: every agent sees it available again
    for a in agents:
        await a.wait_finesse(True, timeout=2.0)
        assert a.finesse_available and a.connected

    await pub.stop()  # a clean shutdown is also seen as unavailable
    for a in agents:
        await a.wait_finesse(False, timeout=2.0)
        await a.disconnect()


async def test_agent_presence_reported_to_publisher(
    prosody: ProsodyProcess, publisher: tuple[NotificationPublisher, Presences]
) -> None:
    pub, seen = publisher
    crashed = await agent(prosody, "1020", resource="desktop")
    signed_out = await agent(prosody, "1021", resource="ipad")
    jids = (f"1020@{prosody.domain}/desktop", f"1021@{prosody.domain}/ipad")
    await seen.wait_for(lambda: all((j, True) in seen.presence for j in jids), "every agent Available")
    assert pub.available_agents == frozenset(jids)

    t0 = time.monotonic()
    crashed.abort()  # browser crash: no unavailable presence, TCP just goes away
    await seen.wait_for(lambda: (jids[0], False) in seen.presence, f"{jids[0]} Unavailable", timeout=2.0)
    assert time.monotonic() - t0 < 2.0
    await signed_out.disconnect()
    await seen.wait_for(lambda: (jids[1], False) in seen.presence, f"{jids[1]} Unavailable", timeout=2.0)
    assert pub.available_agents == frozenset()

    # Agents online before finesse (re)connects are reported too (Prosody probes them).
    early = await agent(prosody, "1022")
    pub.abort()
    await pub.start()
    await seen.wait_for(lambda: seen.presence.count((early.jid, True)) == 2, f"{early.jid} Available twice")
    await early.disconnect()


# -- transports ---------------------------------------------------------------------------------------


async def test_websocket_and_bosh_endpoints_answer(prosody: ProsodyProcess) -> None:
    open_frame = f'<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="{prosody.domain}" version="1.0"/>'
    async with aiohttp.ClientSession() as http:
        for path in ("/ws", "/ws/"):  # EventTunnel uses the trailing slash
            url = f"http://{prosody.host}:{prosody.http_port}{path}"
            async with http.ws_connect(url, protocols=("xmpp",)) as ws:
                assert ws.protocol == "xmpp"
                await ws.send_str(open_frame)
                reply = await asyncio.wait_for(ws.receive_str(), 5)
                assert reply.startswith("<open") and "urn:ietf:params:xml:ns:xmpp-framing" in reply
                features = await asyncio.wait_for(ws.receive_str(), 5)
                assert mechanisms(features) == ["PLAIN"]

        body = (
            f"<body content='text/xml; charset=utf-8' hold='1' rid='1000' to='{prosody.domain}' ver='1.6' "
            "wait='5' xml:lang='en' xmpp:version='1.0' xmlns='http://jabber.org/protocol/httpbind' "
            "xmlns:xmpp='urn:xmpp:xbosh'/>"
        )
        headers = {"Content-Type": "text/xml; charset=utf-8", "Origin": "http://desktop.example"}
        async with http.post(prosody.bosh_url, data=body, headers=headers) as resp:
            assert resp.status == 200
            # CORS is off by default, as on Finesse's Notification Service: no origin is allowed.
            assert "Access-Control-Allow-Origin" not in resp.headers
            text = await resp.text()
        root = SafeET.fromstring(text)
        assert root.tag == "{http://jabber.org/protocol/httpbind}body" and root.get("sid")
        assert mechanisms(text) == ["PLAIN"]


async def test_bosh_and_websocket_cors_follow_the_allowed_origins(prosody_factory: ProsodyFactory) -> None:
    """With an origin allowed (the node's cors_origins), BOSH answers its preflight and its requests
    with that origin and credentials, and nothing to another origin."""
    page, other = "https://gadgets.example:8443", "https://evil.example"
    prosody = prosody_factory(cors_origins=(page,))
    await prosody.start()
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    async with aiohttp.ClientSession() as http:
        for url in (prosody.bosh_url, f"http://{prosody.host}:{prosody.http_port}/ws"):
            async with http.options(url, headers={"Origin": page, **preflight}) as resp:
                assert resp.headers.get("Access-Control-Allow-Origin") == page, url
                assert resp.headers.get("Access-Control-Allow-Credentials") == "true", url
            async with http.options(url, headers={"Origin": other, **preflight}) as resp:
                assert "Access-Control-Allow-Origin" not in resp.headers, url
        body = f"<body rid='1' to='{prosody.domain}' wait='5' hold='1' xmlns='http://jabber.org/protocol/httpbind'/>"
        for origin, allowed in ((page, page), (other, None)):
            headers = {"Content-Type": "text/xml; charset=utf-8", "Origin": origin}
            async with http.post(prosody.bosh_url, data=body, headers=headers) as resp:
                assert resp.status == 200 and resp.headers.get("Access-Control-Allow-Origin") == allowed


# -- failures of Prosody itself -----------------------------------------------------------------------


async def test_prosody_sigkill_publisher_reconnects_and_restores(prosody: ProsodyProcess) -> None:
    seen = Presences()
    pub = publisher_for(prosody, seen, reconnect_max=0.5)
    await pub.start()
    node = USER_NODE.format("1030")
    await pub.subscribe_other(node, f"1030@{prosody.domain}")
    a = await agent(prosody, "1030")

    t0 = time.monotonic()
    prosody.kill()
    await seen.wait_for(lambda: seen.connection[-1] is False, "the publisher disconnected", timeout=2.0)
    assert time.monotonic() - t0 < 2.0 and not pub.connected
    await a.wait_closed()
    assert not a.finesse_available
    with pytest.raises(NotConnectedError):
        await pub.publish(node, update_document("<user/>", "PUT", "", node))

    await prosody.wait()
    await prosody.start()  # a new Prosody, same ports, empty memory
    await seen.wait_for(lambda: seen.connection[-1] is True, "the publisher connected again", timeout=5.0)
    assert seen.connection == [True, False, True] and pub.sessions == 2
    # The node and the subscription finesse had made come back (as Openfire's database keeps them).
    await pub.wait_restored()
    assert (await pub.subscribers(node)) == {f"1030@{prosody.domain}": "subscribed"}
    b = await agent(prosody, "1030")
    item_id = await pub.publish(node, update_document("<user/>", "PUT", "", node))
    assert (await next_event(b)).item_id == item_id
    await b.disconnect()
    await pub.stop()


async def test_publisher_survives_bad_input(
    prosody: ProsodyProcess, publisher: tuple[NotificationPublisher, Presences]
) -> None:
    pub, seen = publisher
    a = await agent(prosody, "1040")
    node = USER_NODE.format("1040")
    await pub.subscribe_other(node, f"1040@{prosody.domain}")
    # Characters XML cannot carry are replaced instead of breaking the stream.
    await pub.publish(node, update_document("<user><name>a\x00b\x1b</name></user>", "PUT", "", node))
    assert "a\ufffdb\ufffd" in (await next_event(a)).update
    with pytest.raises(NotificationError):
        await pub.publish("", "<Update/>")
    with pytest.raises(NotificationError, match="bad-request"):
        await pub.subscribe_other(node, "not@a@jid")  # refused by Prosody
    with pytest.raises(ValueError):
        update_document("<user/>", "PATCH", "", node)
    # Junk from a client: odd presences and messages to finesse are ignored.
    raw = a._client  # the slixmpp client, to send what no well-behaved client would
    raw.send_raw(f"<message to='{pub.bare_jid}'><event xmlns='{PUBSUB_EVENT_NS}'><items/></event></message>")
    raw.send_raw(f"<presence to='{pub.bare_jid}' type='bogus'/>")
    raw.send_raw(f"<presence to='{pub.bare_jid}'><priority>not-a-number</priority></presence>")
    assert await a.ping() < 1.0  # round trip: Prosody has handled the junk by now
    assert pub.connected and seen.connection == [True]
    await pub.publish(node, update_document("<user/>", "PUT", "", node))
    assert (await next_event(a)).node == node
    await a.disconnect()


async def test_publish_before_start_raises_not_connected(prosody: ProsodyProcess) -> None:
    pub = publisher_for(prosody)
    with pytest.raises(NotConnectedError):
        await pub.publish(USER_NODE.format("1"), "<Update/>")


async def test_publisher_keeps_trying_until_prosody_starts(prosody_factory: ProsodyFactory) -> None:
    p = prosody_factory()
    seen = Presences()
    pub = publisher_for(p, seen, reconnect_max=0.2)
    with pytest.raises(TimeoutError):
        await pub.start(timeout=0.3)
    await p.start()
    await pub.wait_connected(timeout=5.0)
    assert seen.connection == [True]
    await pub.stop()


# -- domains and accounts ----------------------------------------------------------------------------


async def test_ip_literal_domain(prosody_factory: ProsodyFactory) -> None:
    host = "127.0.10.7"  # Finesse's xmppDomain is the node host, which may be an address
    p = prosody_factory(domain=host, host=host)
    await p.start()
    pub = publisher_for(p)
    await pub.start()
    a = await agent(p, "1050")
    assert a.pubsub_domain == "pubsub.127.0.10.7"
    node = USER_NODE.format("1050")
    await pub.subscribe_other(node, f"1050@{host}")
    await pub.publish(node, update_document("<user/>", "PUT", "", node))
    assert (await next_event(a)).node == node
    await a.disconnect()
    await pub.stop()


# -- authentication: real passwords (attack report finding 1) --------------------------------------


def mechanisms(features: str) -> list[str]:
    """The SASL mechanisms a <stream:features> (or BOSH body) offers."""
    return re.findall(r"<mechanism>([^<]*)</mechanism>", features)


async def test_agents_log_in_with_their_finesse_password_only(
    prosody: ProsodyProcess, publisher: tuple[NotificationPublisher, Presences]
) -> None:
    good = await agent(prosody, "1060")  # pass1060, its Finesse password
    assert good.finesse_available
    for jid, password in (
        ("1060", "wrong"),
        ("1060", "secret"),  # what any password used to be
        ("1060", "pass1061"),  # another agent's password
        ("1060", ""),
        ("9999", "pass9999"),  # not an agent of the deployment
    ):
        bad = AgentXmpp(f"{jid}@{prosody.domain}/phone", password, prosody.host, prosody.c2s_port)
        with pytest.raises(AuthenticationFailed, match="authentication failed"):
            await bad.connect(timeout=5.0)
        assert not bad.connected
    assert good.connected and await good.ping() < 1.0  # the real session is untouched
    await good.disconnect()


async def test_nobody_else_logs_in_as_finesse(
    prosody: ProsodyProcess, publisher: tuple[NotificationPublisher, Presences]
) -> None:
    # The attack: log in as finesse/finesse (kicking the publisher's session, whose resource it
    # takes) and send unavailable presence or fake events. Every guess is refused now.
    pub, seen = publisher
    watcher = await agent(prosody, "1061")
    node = USER_NODE.format("1061")
    await pub.subscribe_other(node, f"1061@{prosody.domain}")
    for password in ("finesse", "wrong", "pass1061", prosody.service_password.upper()):
        forger = AgentXmpp(f"finesse@{prosody.domain}/finesse", password, prosody.host, prosody.c2s_port)
        with pytest.raises(AuthenticationFailed):
            await forger.connect(timeout=5.0)
    # The publisher's session was never kicked: still its first, and desktops never saw finesse go.
    item_id = await pub.publish(node, update_document("<user/>", "PUT", "", node))
    assert (await next_event(watcher)).item_id == item_id
    assert pub.connected and pub.sessions == 1 and seen.connection == [True]
    assert watcher.finesse_available and watcher.finesse_changes.qsize() == 1  # only the first "up"
    await watcher.disconnect()


async def test_only_plain_is_offered_and_checked_over_every_transport(prosody: ProsodyProcess) -> None:
    # Finesse offers SASL PLAIN; with plain-text accounts Prosody would also offer SCRAM, whose
    # every login costs the server a PBKDF2. Over TCP: only PLAIN, and SCRAM is refused.
    def auth(user: str, password: str, mechanism: str = "PLAIN") -> str:
        blob = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>{blob}</auth>"

    async def tcp_login(user: str, password: str, mechanism: str = "PLAIN") -> tuple[str, str]:
        reader, writer = await asyncio.open_connection(prosody.host, prosody.c2s_port)
        try:
            writer.write(
                f"<?xml version='1.0'?><stream:stream to='{prosody.domain}' version='1.0' "
                "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".encode()
            )
            features = await read_until(reader, b"</stream:features>")
            writer.write(auth(user, password, mechanism).encode())
            return features, await read_until(reader, b"</failure>", b"<success")
        finally:
            writer.close()

    features, answer = await tcp_login("1070", "pass1070")
    assert mechanisms(features) == ["PLAIN"] and "<success" in answer
    _, answer = await tcp_login("1070", "wrong")
    assert "<not-authorized/>" in answer
    _, answer = await tcp_login("1070", "pass1070", "SCRAM-SHA-1")
    assert "<invalid-mechanism/>" in answer
    # WebSocket (what the desktop's EventTunnel uses): the same check.
    url = f"http://{prosody.host}:{prosody.http_port}/ws"
    open_frame = f'<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="{prosody.domain}" version="1.0"/>'
    async with aiohttp.ClientSession() as http:
        for password, want in (("wrong", "<not-authorized/>"), ("pass1071", "<success")):
            async with http.ws_connect(url, protocols=("xmpp",)) as ws:
                await ws.send_str(open_frame)
                await asyncio.wait_for(ws.receive_str(), 5)  # <open/>
                assert mechanisms(await asyncio.wait_for(ws.receive_str(), 5)) == ["PLAIN"]
                await ws.send_str(auth("1071", password))
                assert want in await asyncio.wait_for(ws.receive_str(), 5)


async def read_until(reader: asyncio.StreamReader, *ends: bytes, timeout: float = 5.0) -> str:
    data = b""
    async with asyncio.timeout(timeout):
        while not any(end in data for end in ends):
            chunk = await reader.read(4096)
            if not chunk:
                break
            data += chunk
    return data.decode()


async def test_fixtures_check_passwords(prosody_factory: ProsodyFactory) -> None:
    assert prosody_factory().config.auth == "internal_plain"
    with pytest.raises(pytest.fail.Exception, match="internal_plain"):
        prosody_factory(auth="insecure")  # the benchmark's baseline, never a test's


async def test_accounts_are_rewritten_at_each_start(prosody_factory: ProsodyFactory) -> None:
    # A restart with another directory: the new agents get in, an agent of the old one no longer.
    p = prosody_factory(accounts={"1080": "old-pw"})
    await p.start()
    await (await agent_with(p, "1080", "old-pw")).disconnect()
    await p.stop()
    p2 = prosody_factory(run_dir=p.config.run_dir, accounts={"1081": "new-pw"}, c2s_port=p.c2s_port)
    await p2.start()
    with pytest.raises(AuthenticationFailed):
        await agent_with(p2, "1080", "old-pw")
    await (await agent_with(p2, "1081", "new-pw")).disconnect()


async def agent_with(p: ProsodyProcess, agent_id: str, password: str) -> AgentXmpp:
    client = AgentXmpp(f"{agent_id}@{p.domain}/desktop", password, p.host, p.c2s_port)
    await client.connect(timeout=5.0)
    return client


async def test_missing_binary_error_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("finesse_emu.xmpp.prosody.os.access", lambda *_a: False)
    p = ProsodyProcess("emu.test", c2s_port=free_port(), http_port=free_port(), run_dir=tmp_path)
    with pytest.raises(ProsodyError, match=r"apt-get install prosody.*make test"):
        await p.start()
