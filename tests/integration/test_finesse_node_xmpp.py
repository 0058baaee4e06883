"""A Finesse node with its Notification Service (a real Prosody): what an agent's XMPP client sees.

Issue "Finesse server emulator", done-when: a slixmpp agent logs in over REST and XMPP, changes
state and receives the pubsub event with the same requestId; a CTI side is silenced and SystemInfo
turns OUT_OF_SERVICE within the 3-heartbeat window while other APIs return 503; after the reconnect
to side B the agent receives its last state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from defusedxml import ElementTree as DET

from finesse_emu.desktop.xmpp import AgentXmpp, PubsubEvent
from finesse_emu.server.node import FinesseNode, NodeConfig
from finesse_emu.server.publisher import NotificationPublisher
from finesse_emu.xmpp.client import AuthenticationFailed
from finesse_emu.xmpp.prosody import ProsodyProcess, agent_accounts
from ged188 import AgentState
from tests.conftest import ProsodyFactory
from tests.helpers import eventually
from tests.integration.test_finesse_node import API, HOST, Deployment, deployment, text

AGENTS = 30  # test_finesse_node.deployment's directory (AWDB and CTI stubs)


@dataclass
class XDeployment(Deployment):
    prosody: ProsodyProcess


@pytest.fixture
async def dep_xmpp(prosody_factory: ProsodyFactory) -> AsyncIterator[XDeployment]:
    # The deployment's agents (the AWDB's) with their passwords; finesse's in the run dir's file.
    prosody = prosody_factory(domain=HOST, host=HOST, accounts=agent_accounts(AGENTS))
    await prosody.start()
    password_file = str(prosody.config.password_file)
    async with deployment(xmpp_host=HOST, xmpp_port=prosody.c2s_port, xmpp_password_file=password_file) as d:
        yield XDeployment(d.a, d.b, d.awdb, d.node, d.http, prosody)


async def next_event(agent: AgentXmpp, node: str, contains: str, timeout: float = 5.0) -> PubsubEvent:
    async with asyncio.timeout(timeout):
        while True:
            event: PubsubEvent = await agent.events.get()
            if event.node == node and contains in event.update:
                return event


async def test_agent_sees_its_events_the_failover_and_its_last_state(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    assert dep.node.notifier is not None and dep.node.notifier.connected
    status, _, _ = await dep.call("GET", "/User/1006", user="1006")  # first REST call: subscriptions
    assert status == 200
    agent = AgentXmpp(f"1006@{HOST}/emu", "pass1006", HOST, dep.node.config.xmpp_port)
    await agent.connect(wait_finesse=True)
    assert agent.finesse_available
    user_node = f"{API}/User/1006"
    # The node subscribes the agent to its nodes (subscribe-other): wait until they are all there.
    wanted = {(n, "subscribed") for n in (user_node, f"{user_node}/Dialogs", f"{API}/SystemInfo")}
    await eventually(
        agent.subscriptions,
        f"subscribed to {sorted(wanted)}",
        until=lambda subs: wanted <= set(subs),
        every=0.02,
    )

    body = "<User><state>LOGIN</state><extension>2006</extension></User>"
    status, _, headers = await dep.call("PUT", "/User/1006", user="1006", body=body, requestId="rq-77")
    assert status == 202 and headers["requestId"] == "rq-77"
    event = await next_event(agent, user_node, "<requestId>rq-77</requestId>")
    update = DET.fromstring(event.update)
    assert text(update, "event") == "PUT" and text(update, "data/user/state") == "NOT_READY"
    assert text(update, "source") == user_node

    await dep.call("PUT", "/User/1006", user="1006", body="<User><state>READY</state></User>")
    await next_event(agent, user_node, "<state>READY</state>")

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await dep.fault(dep.a, "ignore_heartbeats")
    event = await next_event(agent, f"{API}/SystemInfo", "<status>OUT_OF_SERVICE</status>")
    assert loop.time() - t0 <= 4 * dep.node.timers.cti_heartbeat_interval + 0.5
    status, _, _ = await dep.call("GET", "/User/1006", user="1006")
    assert status == 503
    await dep.fault(dep.a, "deactivate")
    await next_event(agent, f"{API}/SystemInfo", "<status>IN_SERVICE</status>", timeout=10)
    last = await next_event(agent, user_node, "<user>", timeout=5)
    assert text(DET.fromstring(last.update), "data/user/state") == dep.b.model.agents[
        "1006"
    ].state.name.replace("AVAILABLE", "READY")
    await agent.disconnect()


async def test_notification_service_loss_takes_the_node_out_of_service(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    dep.prosody.kill()  # SIGKILL: the publisher's session dies under it
    await dep.wait_status("OUT_OF_SERVICE")
    status, doc, _ = await dep.call("GET", "/SystemInfo", user=None)
    assert text(doc, "statusReason") == "Notification Service unavailable"
    status, _, _ = await dep.call("GET", "/User/1000")
    assert status == 503
    await dep.prosody.wait()
    await dep.prosody.start()  # same ports: the publisher reconnects and the node serves again
    await dep.wait_status("IN_SERVICE", timeout=10)


async def test_awdb_failover_holds_requests_while_events_keep_flowing(dep_xmpp: XDeployment) -> None:
    """Cisco: "During failover, Cisco Finesse does not process any requests, but clients can still
    receive events." Then, both AWDBs down and nothing cached: 401 for the API request."""
    dep = dep_xmpp
    status, _, _ = await dep.call("GET", "/User/1007", user="1007")  # cached from now on, subscribed
    assert status == 200
    agent = AgentXmpp(f"1007@{HOST}/emu", "pass1007", HOST, dep.node.config.xmpp_port)
    await agent.connect(wait_finesse=True)
    await eventually(
        agent.subscriptions,
        "1007 subscribed to its User node",
        until=lambda subs: (f"{API}/User/1007", "subscribed") in set(subs),
        every=0.02,
    )
    async with dep.http.post(
        f"http://{HOST}:{dep.awdb.admin_port}/emu/faults", json={"kind": "hang"}
    ) as resp:
        assert resp.status == 201
    lookups = dep.node.authenticator.awdb_lookups
    timeouts = dep.node.stats["auth_awdb_timeout"]
    held = asyncio.create_task(dep.call("GET", "/User/1008", user="1008"))  # not cached: needs the AWDB
    await eventually(
        lambda: dep.node.authenticator.awdb_lookups,
        "the node asking the AWDB for 1008",
        until=lambda n: n > lookups,
    )
    # Meanwhile the CTI server changes agent 1007's state: the event still reaches the desktop.
    dep.a.core.admin_set_state(dep.a.clock.wall(), "1007", AgentState.LOGIN, 0, extension="2007")
    dep.a.pump()
    await next_event(agent, f"{API}/User/1007", "<state>NOT_READY</state>")
    status, _, headers = await held
    assert status == 401 and dep.node.stats["auth_awdb_timeout"] == timeouts + 1
    assert not any(h.lower().startswith("x-emu") for h in headers)  # a plain 401, as Finesse's
    status, _, _ = await dep.call("GET", "/User/1007", user="1007")  # the cache still vouches for 1007
    assert status == 200
    await agent.disconnect()


async def test_xmpp_takes_the_password_rest_takes(dep_xmpp: XDeployment) -> None:
    # Agents log in to the Notification Service with their Finesse password, before or without
    # any REST request (the accounts come from the directory the AWDB is seeded from).
    dep = dep_xmpp
    port = dep.node.config.xmpp_port
    agent = AgentXmpp(f"1011@{HOST}/emu", "pass1011", HOST, port)
    await agent.connect(wait_finesse=True)
    status, _, _ = await dep.call("GET", "/User/1011", user="1011")  # the same password over REST
    assert status == 200
    for user, password in (("1011", "not-the-password"), ("1011", "pass1012"), (f"{AGENTS + 1000}", "pass")):
        with pytest.raises(AuthenticationFailed):
            await AgentXmpp(f"{user}@{HOST}/phone", password, HOST, port).connect(timeout=5)
    # The node's own session (finesse, the deployment's password) was never disturbed.
    assert dep.node.notifier is not None and dep.node.notifier.connected
    assert agent.finesse_available and agent.finesse_changes.qsize() == 1
    await agent.disconnect()


async def test_node_needs_the_finesse_password_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="xmpp_password_file"):
        FinesseNode(NodeConfig(host=HOST, xmpp_host=HOST))
    with pytest.raises(ValueError, match="xmpp_password_file"):
        FinesseNode(NodeConfig(host=HOST, xmpp_host=HOST, xmpp_password_file=str(tmp_path / "none")))


async def test_every_agent_is_subscribed_before_its_first_request(dep_xmpp: XDeployment) -> None:
    # Openfire keeps the agents' nodes and subscriptions: an agent that never called this node
    # (as on a failover to it) finds them made, and its first request adds no pubsub work.
    dep = dep_xmpp
    notifier = dep.node.notifier
    assert isinstance(notifier, NotificationPublisher)
    agent_id = sorted(dep.node.directory)[-1]
    jid = f"{agent_id.lower()}@{HOST}"
    wanted = {
        (f"{API}/User/{agent_id}", jid),
        (f"{API}/User/{agent_id}/Dialogs", jid),
        (f"{API}/SystemInfo", jid),
    }
    await eventually(  # Prosody answered every subscribe-other
        lambda: sorted(wanted - set(notifier._subscriptions)),
        "every subscribe-other answered (missing shown)",
        until=lambda missing: not missing,
        within=10.0,
        every=0.05,
    )
    assert dep.node.subscriptions is not None and set(dep.node.directory) <= dep.node.subscriptions.subscribed


async def test_the_node_is_in_service_once_every_agent_is_set_up(dep_xmpp: XDeployment) -> None:
    """The deployment is IN_SERVICE (the fixture waited for it): by then every agent of the
    directory has its nodes and subscriptions, made before the Notification Service counted as up,
    so that no sign-in burst meets the set-up (a few hundred agents keep the node busy for seconds)."""
    notifier = dep_xmpp.node.notifier
    assert isinstance(notifier, NotificationPublisher)
    assert dep_xmpp.node.health()["state"] == "IN_SERVICE"
    agents = list(dep_xmpp.node.directory)
    assert len(agents) == AGENTS
    wanted = {(f"{API}/User/{a}{n}", f"{a.lower()}@{HOST}") for a in agents for n in ("", "/Dialogs")}
    assert wanted <= set(notifier._subscriptions)


async def test_rest_api_down_agent_sees_system_info_then_finesse_unavailable(dep_xmpp: XDeployment) -> None:
    """The REST API service down (Tomcat up): the agent's XMPP client receives the SystemInfo
    OUT_OF_SERVICE event, then the 'finesse' user's presence turns Unavailable ("Finesse web app
    goes down", Cisco's Failure Scenarios); both come back when the fault is removed."""
    dep = dep_xmpp
    status, _, _ = await dep.call("GET", "/User/1007", user="1007")  # first REST call: subscriptions
    assert status == 200
    agent = AgentXmpp(f"1007@{HOST}/emu", "pass1007", HOST, dep.node.config.xmpp_port)
    await agent.connect(wait_finesse=True)
    system_info = f"{API}/SystemInfo"
    await eventually(
        agent.subscriptions,
        "subscribed to SystemInfo",
        until=lambda subs: (system_info, "subscribed") in set(subs),
        every=0.02,
    )
    await dep.node.faults.add("rest_api_down", {})
    await next_event(agent, system_info, "<status>OUT_OF_SERVICE</status>")
    await eventually(lambda: agent.finesse_available, "'finesse' Unavailable", until=lambda up: not up)
    status, _, _ = await dep.call("GET", "/User/1007", user="1007")
    assert status == 503  # the web server answers: no connection error
    await dep.node.faults.clear()
    await eventually(lambda: agent.finesse_available, "'finesse' Available again", within=10)
    await dep.wait_status("IN_SERVICE", timeout=10)
    await agent.disconnect()
