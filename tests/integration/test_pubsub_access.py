"""Pubsub access follows the REST policy, over real sockets (a Finesse node and a real Prosody).

The attack on a running deployment found every node open to every logged-in user: another agent's
User and Dialogs nodes and Team/1/Users could be subscribed to, stored Dialog items (ANI, call
variables) fetched, and disco#items listed every node. Here, as REST allows it: an agent reads its
own nodes; a supervisor also its team's; nobody else anything but SystemInfo; only ``finesse``
publishes, creates, deletes, purges and configures.

Directory (30 generated agents): team 1 is 1000-1024 with supervisor 1000, team 2 is 1025-1029
with supervisor 1025. Agents log in with their directory password, after a REST request (which is
what writes their XMPP account when Prosody checks passwords).
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slixmpp.exceptions import IqError, IqTimeout

from finesse_emu.desktop.xmpp import AgentXmpp, PubsubEvent, XmppRequestError
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.publisher import NotificationError, NotificationPublisher
from finesse_emu.server.pubsub_access import PubsubAccess
from finesse_emu.xmpp.envelope import update_document
from finesse_emu.xmpp.prosody import ProsodyProcess
from finesse_emu.xmpp.pubsub import PUBSUB_NS, iq_condition, pubsub_iq
from tests.conftest import ProsodyFactory
from tests.helpers import eventually
from tests.integration.test_finesse_node import API, HOST
from tests.integration.test_finesse_node_xmpp import XDeployment, dep_xmpp  # noqa: F401

OWNER_NS = f"{PUBSUB_NS}#owner"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
SUP1, SUP2 = "1000", "1025"  # supervisors of team 1 and team 2


def user_nodes(agent_id: str) -> list[str]:
    base = f"{API}/User/{agent_id}"
    return [base, f"{base}/Dialogs", f"{base}/Media/5000", f"{base}/Media/5001"]


async def provisioned(dep: XDeployment) -> None:
    """Wait until the node has set up every agent's nodes and subscriptions (it does at start)."""
    notifier = dep.node.notifier
    assert isinstance(notifier, NotificationPublisher)
    wanted = {(n, f"{a.lower()}@{HOST}") for a in dep.node.directory for n in user_nodes(a)}
    await eventually(
        lambda: len(wanted - set(notifier._subscriptions)),
        "every agent's nodes subscribed (count missing)",
        until=lambda missing: missing == 0,
        within=20.0,
        every=0.05,
    )


async def login(dep: XDeployment, agent_id: str) -> AgentXmpp:
    """A desktop: a REST request, then XMPP with the agent's directory password."""
    status, _, _ = await dep.call("GET", f"/User/{agent_id}", user=agent_id)
    assert status == 200
    agent = AgentXmpp(f"{agent_id}@{HOST}/desktop", f"pass{agent_id}", HOST, dep.node.config.xmpp_port)
    await agent.connect(timeout=5, wait_finesse=True)
    return agent


async def request(agent: AgentXmpp, itype: str, child: ET.Element, owner: bool = False) -> Any:
    """A raw pubsub IQ to the service; the error condition as XmppRequestError."""
    iq = pubsub_iq(agent._client, agent.pubsub_domain, itype, child, owner)
    try:
        return await iq.send(timeout=5)
    except IqError as exc:
        raise XmppRequestError(iq_condition(exc) or "error") from exc
    except IqTimeout as exc:
        raise XmppRequestError("timeout") from exc


async def items(agent: AgentXmpp, node: str) -> list[str]:
    """The node's stored items (their text), as XEP-0060 "retrieve items" gives them."""
    result = await request(agent, "get", ET.Element(f"{{{PUBSUB_NS}}}items", node=node))
    return ["".join(item.itertext()) for item in result.xml.iter(f"{{{PUBSUB_NS}}}item")]


async def disco(agent: AgentXmpp, ns: str, node: str | None = None) -> Any:
    iq: Any = agent._client.make_iq_get(ito=agent.pubsub_domain)
    iq.append(ET.Element(f"{{{ns}}}query", {"node": node} if node else {}))
    try:
        return await iq.send(timeout=5)
    except IqError as exc:
        raise XmppRequestError(iq_condition(exc) or "error") from exc


async def listed_nodes(agent: AgentXmpp) -> set[str]:
    result = await disco(agent, DISCO_ITEMS)
    return {item.get("node", "") for item in result.xml.iter(f"{{{DISCO_ITEMS}}}item")}


async def refused(coro: Any) -> str:
    """The error condition the request got (the test fails if it succeeded)."""
    with pytest.raises(XmppRequestError) as info:
        await coro
    return str(info.value)


async def next_event(agent: AgentXmpp, node: str, contains: str = "", timeout: float = 5.0) -> PubsubEvent:
    async with asyncio.timeout(timeout):
        while True:
            event = await agent.events.get()
            if event.node == node and contains in event.update:
                return event


@pytest.fixture
async def dep(dep_xmpp: XDeployment) -> AsyncIterator[XDeployment]:  # noqa: F811
    await provisioned(dep_xmpp)
    yield dep_xmpp


async def test_an_agent_cannot_subscribe_to_another_agents_nodes(dep: XDeployment) -> None:
    a = await login(dep, "1001")
    for node in user_nodes("1002"):
        assert await refused(a.subscribe(node)) == "forbidden", node
        assert await refused(a.subscribe(node, bare=True)) == "forbidden", node
    for node in user_nodes("1001"):  # its own: allowed (the node subscribed it already, bare)
        await a.subscribe(node)
    await a.subscribe(f"{API}/SystemInfo")  # what every desktop needs
    assert {n for n, _ in await a.subscriptions()} == {*user_nodes("1001"), f"{API}/SystemInfo"}
    await a.disconnect()


async def test_stored_dialog_items_are_readable_by_the_agent_and_its_supervisor_only(
    dep: XDeployment,
) -> None:
    login_body = "<User><state>LOGIN</state><extension>2002</extension></User>"
    assert (await dep.call("PUT", "/User/1002", user="1002", body=login_body))[0] == 202
    assert (await dep.call("PUT", "/User/1002", user="1002", body="<User><state>READY</state></User>"))[
        0
    ] == 202
    await dep.wait_user_state("1002", "READY")
    async with dep.http.post(
        f"http://{HOST}:{dep.a.admin_port}/emu/calls",
        json={"agent_id": "1002", "ani": "5550172", "dnis": "8001"},
    ) as resp:
        assert resp.status in (200, 201)
    dialogs = f"{API}/User/1002/Dialogs"
    owner, sup1, sup2, other = [await login(dep, i) for i in ("1002", SUP1, SUP2, "1001")]
    await eventually(  # the Dialog event is stored as the node's item
        lambda: items(owner, dialogs),
        "the Dialog item with 5550172",
        until=lambda texts: any("5550172" in text for text in texts),
        every=0.05,
    )
    assert any("5550172" in text for text in await items(sup1, dialogs))  # 1000 supervises team 1
    for outsider in (other, sup2):  # another agent; the supervisor of team 2
        assert await refused(items(outsider, dialogs)) == "forbidden"
        assert await refused(items(outsider, f"{API}/User/1002")) == "forbidden"
        assert await refused(disco(outsider, DISCO_ITEMS, dialogs)) == "forbidden"  # item ids
    for client in (owner, sup1, sup2, other):
        await client.disconnect()


async def test_supervisors_read_their_teams_nodes_only(dep: XDeployment) -> None:
    sup1, sup2, agent = [await login(dep, i) for i in (SUP1, SUP2, "1003")]
    team1, team2 = f"{API}/Team/1/Users", f"{API}/Team/2/Users"
    notifier = dep.node.notifier
    assert isinstance(notifier, NotificationPublisher)
    for member in ("1004", "1026"):  # a team member's change creates its Team node
        body = f"<User><state>LOGIN</state><extension>{int(member) + 1000}</extension></User>"
        assert (await dep.call("PUT", f"/User/{member}", user=member, body=body))[0] == 202
    await eventually(
        lambda: sorted(notifier._nodes & {team1, team2}),
        "both Team nodes created",
        until=lambda made: len(made) == 2,
    )
    for node in [*user_nodes("1004"), team1]:
        await sup1.subscribe(node)
        assert await refused(sup2.subscribe(node)) == "forbidden", node
    for node in [*user_nodes("1026"), team2]:
        await sup2.subscribe(node)
        assert await refused(sup1.subscribe(node)) == "forbidden", node
    for node in (team1, team2):
        assert await refused(agent.subscribe(node)) == "forbidden"  # not a supervisor

    # Events still reach every subscriber: the agent (subscribed by the node) and its supervisor.
    owner = await login(dep, "1004")
    await dep.call(
        "PUT", "/User/1004", user="1004", body="<User><state>READY</state></User>", requestId="acl-1"
    )
    for client in (owner, sup1):
        await next_event(client, f"{API}/User/1004", "<requestId>acl-1</requestId>")
    await next_event(sup1, team1, "<state>READY</state>")
    for client in (sup2, agent):  # a ping's answer comes after anything Prosody queued before it
        await client.ping()
    assert all(e.node not in (f"{API}/User/1004", team1) for e in _drain(sup2) + _drain(agent))
    for client in (sup1, sup2, agent, owner):
        await client.disconnect()


def _drain(agent: AgentXmpp) -> list[PubsubEvent]:
    out = []
    while not agent.events.empty():
        out.append(agent.events.get_nowait())
    return out


async def test_pubsub_matches_rest_for_every_pair(dep: XDeployment) -> None:
    """Whoever GET /User/X refuses is refused X's User node, and the other way round."""
    readers = ("1001", SUP1, SUP2, "1026")
    clients = {r: await login(dep, r) for r in readers}
    for reader, client in clients.items():
        for target in ("1001", "1002", "1026", SUP1):
            status, _, _ = await dep.call("GET", f"/User/{target}", user=reader)
            try:
                await client.subscribe(f"{API}/User/{target}/Dialogs")
                xmpp = "allowed"
            except XmppRequestError as exc:
                xmpp = str(exc)
            assert (status, xmpp) in ((200, "allowed"), (401, "forbidden")), (reader, target)
    for client in clients.values():
        await client.disconnect()


async def test_only_finesse_publishes_creates_deletes_purges_and_configures(dep: XDeployment) -> None:
    # These were refused before (agents never had those rights); kept so that membership never grants them.
    a = await login(dep, "1001")
    own = f"{API}/User/1001"
    doc = update_document("<user><state>LOGOUT</state></user>", "PUT", "", own)
    publish = ET.Element(f"{{{PUBSUB_NS}}}publish", node=own)
    ET.SubElement(
        ET.SubElement(publish, f"{{{PUBSUB_NS}}}item", id="forged"), "{urn:xmpp:push:0}notification"
    ).text = doc
    assert await refused(request(a, "set", publish)) == "forbidden"
    assert (
        await refused(request(a, "set", ET.Element(f"{{{PUBSUB_NS}}}create", node=f"{API}/User/9999")))
        == "forbidden"
    )
    for action in ("delete", "purge"):
        assert (
            await refused(request(a, "set", ET.Element(f"{{{OWNER_NS}}}{action}", node=own), owner=True))
            == "forbidden"
        )
    for action in ("configure", "affiliations", "subscriptions"):
        child = ET.Element(f"{{{OWNER_NS}}}{action}", node=own)
        assert await refused(request(a, "get", child, owner=True)) == "forbidden", action
    affiliation = ET.Element(f"{{{OWNER_NS}}}affiliations", node=f"{API}/User/1002")
    ET.SubElement(affiliation, f"{{{OWNER_NS}}}affiliation", jid=f"1001@{HOST}", affiliation="member")
    assert await refused(request(a, "set", affiliation, owner=True)) == "forbidden"  # no self-granting
    await a.disconnect()


async def test_disco_lists_and_describes_only_nodes_one_may_read(dep: XDeployment) -> None:
    a, sup1 = await login(dep, "1001"), await login(dep, SUP1)
    assert await listed_nodes(a) == {*user_nodes("1001"), f"{API}/SystemInfo"}
    seen_by_sup1 = await listed_nodes(sup1)
    team1 = {n for i in range(1000, 1025) for n in user_nodes(str(i))}
    assert team1 <= seen_by_sup1 and not any("/User/1026" in n for n in seen_by_sup1)
    assert await refused(disco(a, DISCO_INFO, f"{API}/User/1002")) == "item-not-found"  # as if absent
    info = await disco(a, DISCO_INFO, f"{API}/User/1001")
    assert "whitelist" in str(info)
    await a.disconnect()
    await sup1.disconnect()


# -- the publisher alone: membership follows the directory, and survives a Prosody restart ------------


def directory(team_of_1050: int) -> PubsubAccess:
    users = [
        AuthUser(id="1050", login="agent1050", team_id=team_of_1050),
        AuthUser(id="1051", login="agent1051", team_id=1, supervisor=True),
        AuthUser(id="1052", login="agent1052", team_id=2, supervisor=True),
    ]
    return PubsubAccess("emu.test", users)


async def agent(p: ProsodyProcess, agent_id: str) -> AgentXmpp:
    client = AgentXmpp(f"{agent_id}@{p.domain}/desktop", f"pass{agent_id}", p.host, p.c2s_port)
    await client.connect(timeout=5, wait_finesse=True)
    return client


async def started(factory: ProsodyFactory, *agent_ids: str) -> ProsodyProcess:
    """Prosody checking passwords, with these agents' accounts (password ``pass<id>``)."""
    p = factory(auth="internal_plain", accounts={i: f"pass{i}" for i in agent_ids})
    await p.start()
    return p


async def test_members_follow_the_directory_when_the_node_restarts(prosody_factory: ProsodyFactory) -> None:
    """The Finesse node restarts with 1050 moved from team 1 to team 2 while Prosody keeps its nodes:
    the old supervisor loses the nodes (unsubscribed, refused), the new one gets them."""
    p = await started(prosody_factory, "1050", "1051", "1052")
    node = f"{API}/User/1050"
    first = NotificationPublisher(
        p.host, p.c2s_port, p.domain, p.service_password, node_access=directory(1).readers
    )
    await first.start()
    await first.subscribe_other(node, "1050@emu.test")
    old_sup, new_sup = await agent(p, "1051"), await agent(p, "1052")
    await old_sup.subscribe(node)
    assert await refused(new_sup.subscribe(node)) == "forbidden"
    await first.stop()

    second = NotificationPublisher(
        p.host, p.c2s_port, p.domain, p.service_password, node_access=directory(2).readers
    )
    await second.start()
    await second.ensure_node(node)  # exists already: its members are brought in line
    assert await second.affiliations(node) == {
        "finesse@emu.test": "owner", "1050@emu.test": "member", "1052@emu.test": "member",
    }  # fmt: skip
    assert set(await second.subscribers(node)) == {"1050@emu.test"}  # 1051's subscription is gone
    assert await refused(old_sup.subscribe(node)) == "forbidden"
    await new_sup.subscribe(node)
    item = await second.publish(node, update_document("<user/>", "PUT", "", node))
    assert (await next_event(new_sup, node)).item_id == item
    await old_sup.ping()  # its answer comes after anything Prosody queued before it
    assert old_sup.events.empty()
    with pytest.raises(NotificationError, match="forbidden"):  # finesse cannot subscribe a non-member
        await second.subscribe_other(node, "1051@emu.test")
    for client in (old_sup, new_sup):
        await client.disconnect()
    await second.stop()


async def test_access_rules_survive_a_prosody_restart(prosody_factory: ProsodyFactory) -> None:
    prosody = await started(prosody_factory, "1060", "1061")
    pub = NotificationPublisher(
        prosody.host, prosody.c2s_port, prosody.domain, prosody.service_password, reconnect_max=0.2
    )
    await pub.start()
    node = f"{API}/User/1060/Dialogs"
    await pub.subscribe_other(node, "1060@emu.test")
    prosody.kill()
    await prosody.wait()
    await prosody.start()
    await eventually(
        lambda: (pub.connected, pub._restore_task is not None),
        "the publisher reconnected and restoring",
        until=lambda seen: seen == (True, True),
        within=10.0,
    )
    await pub.wait_restored()
    owner, other = await agent(prosody, "1060"), await agent(prosody, "1061")
    assert await refused(other.subscribe(node)) == "forbidden"
    await pub.publish(node, update_document("<Dialogs/>", "POST", "", node))
    await next_event(owner, node)  # its subscription came back with the node
    assert await refused(items(other, node)) == "forbidden"
    assert len(await items(owner, node)) == 1
    for client in (owner, other):
        await client.disconnect()
    await pub.stop()


async def test_an_agent_id_that_is_no_jid_leaves_the_node_to_finesse(prosody_factory: ProsodyFactory) -> None:
    """A directory id with a space cannot be a member (it would fail the whole affiliations
    request): its nodes are made, readable by finesse and its supervisor only, and the rest works."""
    p = await started(prosody_factory, "1070")
    users = [
        AuthUser(id="a b", login="ab", team_id=1),
        AuthUser(id="1070", login="x", team_id=1, supervisor=True),
    ]
    pub = NotificationPublisher(
        p.host, p.c2s_port, p.domain, p.service_password, node_access=PubsubAccess(p.domain, users).readers
    )
    await pub.start()
    for node in (f"{API}/User/a b", f"{API}/User/a b/Dialogs"):
        await pub.ensure_node(node)
        assert await pub.affiliations(node) == {"finesse@emu.test": "owner", "1070@emu.test": "member"}
    supervisor = await agent(p, "1070")
    await supervisor.subscribe(f"{API}/User/a b")
    await pub.publish(f"{API}/User/a b", update_document("<user/>", "PUT", "", f"{API}/User/a b"))
    await next_event(supervisor, f"{API}/User/a b")
    await supervisor.disconnect()
    await pub.stop()
