"""What an agent's XMPP client receives while its Finesse node is OUT_OF_SERVICE: SystemInfo only.

Real sockets: two CTI stub sides, an AWDB stub, a Finesse node and a real Prosody; the agents are
slixmpp clients subscribed to their nodes. Cisco, "CTI Failover": "During this period, Finesse does
not entertain client requests or send out events." and "If an agent either makes or answers a call,
and then ends that call during failover (that is, the entire call takes place during failover), the
corresponding events are not published." The pure rules are in
tests/unit/test_node_core_out_of_service.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from emu_base.timers import Timers
from finesse_emu.desktop.xmpp import AgentXmpp, PubsubEvent
from finesse_emu.xmpp.prosody import agent_accounts
from tests.conftest import ProsodyFactory
from tests.helpers import eventually
from tests.integration.test_finesse_node import API, HOST, SCALE, Deployment, deployment, text
from tests.integration.test_finesse_node_xmpp import AGENTS, XDeployment, next_event

SYSTEM_INFO = f"{API}/SystemInfo"
# A request outlives the 3-heartbeat detection (0.3-0.4 s at SCALE): the link's loss fails it, not
# its own timeout (10 s of Cisco's OPEN_CONF wait, 0.2 s at SCALE, would end it first).
REQUEST_TIMEOUT = 100.0  # emulated seconds: 2 s at SCALE


@contextlib.asynccontextmanager
async def xmpp_deployment(
    prosody_factory: ProsodyFactory, scale: float = SCALE, **timers: float
) -> AsyncIterator[XDeployment]:
    prosody = prosody_factory(domain=HOST, host=HOST, accounts=agent_accounts(AGENTS))
    await prosody.start()
    async with deployment(
        Timers.build(scale, **timers),
        xmpp_host=HOST,
        xmpp_port=prosody.c2s_port,
        xmpp_password_file=str(prosody.config.password_file),
    ) as d:
        yield XDeployment(d.a, d.b, d.awdb, d.node, d.http, prosody)


@pytest.fixture
async def dep_oos(prosody_factory: ProsodyFactory) -> AsyncIterator[XDeployment]:
    async with xmpp_deployment(prosody_factory, cti_open_timeout=REQUEST_TIMEOUT) as d:
        yield d


@pytest.fixture
async def dep_slow_heartbeats(prosody_factory: ProsodyFactory) -> AsyncIterator[XDeployment]:
    """Heartbeats every 1 s (2 s for a CONF): a side answering 0.5 s late keeps its session."""
    async with xmpp_deployment(prosody_factory, scale=0.2) as d:
        yield d


async def signed_in_client(dep: XDeployment, agent: str) -> AgentXmpp:
    """Agent signed in (READY) through the node, its XMPP client subscribed to its nodes."""
    status, _, _ = await dep.call("GET", f"/User/{agent}", user=agent)  # first request: subscriptions
    assert status == 200
    client = AgentXmpp(f"{agent}@{HOST}/emu", f"pass{agent}", HOST, dep.node.config.xmpp_port)
    await client.connect(wait_finesse=True)
    user_node = f"{API}/User/{agent}"
    wanted = {(n, "subscribed") for n in (user_node, f"{user_node}/Dialogs", SYSTEM_INFO)}
    await eventually(
        client.subscriptions, f"{agent} subscribed", until=lambda subs: wanted <= set(subs), every=0.02
    )
    login = f"<User><state>LOGIN</state><extension>2{agent[1:]}</extension></User>"
    assert (await dep.call("PUT", f"/User/{agent}", user=agent, body=login))[0] == 202
    await dep.wait_user_state(agent, "NOT_READY")
    assert (await dep.call("PUT", f"/User/{agent}", user=agent, body="<User><state>READY</state></User>"))[
        0
    ] == 202
    await next_event(client, user_node, "<state>READY</state>")
    return client


async def until_in_service(client: AgentXmpp, timeout: float = 10.0) -> list[PubsubEvent]:
    """Every event the client receives up to the SystemInfo IN_SERVICE event (included)."""
    seen: list[PubsubEvent] = []
    async with asyncio.timeout(timeout):
        while True:
            event = await client.events.get()
            seen.append(event)
            if event.node == SYSTEM_INFO and "<status>IN_SERVICE</status>" in event.update:
                return seen


def drain(client: AgentXmpp) -> list[PubsubEvent]:
    out: list[PubsubEvent] = []
    while not client.events.empty():
        out.append(client.events.get_nowait())
    return out


async def admin(dep: XDeployment, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with dep.http.post(f"http://{HOST}:{dep.a.admin_port}{path}", json=body or {}) as resp:
        assert resp.status in (200, 201), await resp.text()
        result: dict[str, Any] = await resp.json()
        return result


async def test_a_request_failed_by_the_cti_loss_sends_no_event(dep_oos: XDeployment) -> None:
    """The request is accepted (202), then the CTI link is lost before its CONF: the client
    receives the SystemInfo OUT_OF_SERVICE, then nothing until SystemInfo IN_SERVICE (no
    apiErrors for the request)."""
    dep = dep_oos
    client = await signed_in_client(dep, "1006")
    drain(client)
    # Side A answers late (its heartbeats too) and takes no new session: the node loses its link
    # with the request in flight, and stays OUT_OF_SERVICE until side B takes over.
    await dep.fault(dep.a, "refuse_sessions")
    async with dep.http.post(
        f"http://{HOST}:{dep.a.admin_port}/emu/faults", json={"kind": "latency", "ms": 1500}
    ) as resp:
        assert resp.status == 201, await resp.text()
    body = "<User><state>NOT_READY</state></User>"
    status, _, _ = await dep.call("PUT", "/User/1006", user="1006", body=body, requestId="oos-1")
    assert status == 202
    before = await next_event(client, SYSTEM_INFO, "<status>OUT_OF_SERVICE</status>", timeout=5)
    assert before is not None
    await eventually(  # the request failed by the loss, while OUT_OF_SERVICE
        lambda: dep.node.model.user("1006").request_id, "the request of 1006 failed", until=lambda r: r == ""
    )
    await dep.fault(dep.a, "deactivate")  # the PG switches to side B
    between = await until_in_service(client)
    assert [e.node for e in between] == [SYSTEM_INFO], [e.update[:200] for e in between]
    assert dep.node.stats["events_withheld_out_of_service"] >= 1  # its apiErrors, withheld
    # Nothing about the failed request afterwards either: the last state is republished instead.
    last = await next_event(client, f"{API}/User/1006", "<user>", timeout=5)
    assert "oos-1" not in last.update
    assert not any("oos-1" in text for _, text in dep.node.published)
    await client.disconnect()


async def test_a_call_inside_the_failover_is_never_published_a_live_call_is(dep_oos: XDeployment) -> None:
    dep = dep_oos
    live_client = await signed_in_client(dep, "1007")
    client = await signed_in_client(dep, "1008")
    live = await admin(dep, "/emu/calls", {"agent_id": "1007", "ani": "5550007"})
    live_id = live["call_id"]
    await admin(dep, f"/emu/calls/{live_id}/answer")
    await next_event(live_client, f"{API}/User/1007/Dialogs", "<state>ACTIVE</state>")

    # Side A drops Finesse and takes no new session (B is idle): OUT_OF_SERVICE until B takes over.
    await dep.fault(dep.a, "refuse_sessions")
    await dep.fault(dep.a, "drop_sessions")
    for c in (client, live_client):  # what came before the transition is dropped
        await next_event(c, SYSTEM_INFO, "<status>OUT_OF_SERVICE</status>", timeout=5)
    # The entire call takes place during the failover: offered, answered, ended on the CTI side
    # (the agent, put in Not Ready by the lost session, makes itself ready at the phone first).
    await admin(dep, "/emu/agents/1008/state", {"state": "AVAILABLE"})
    inside = await admin(dep, "/emu/calls", {"agent_id": "1008", "ani": "5550008"})
    inside_id = inside["call_id"]
    await admin(dep, f"/emu/calls/{inside_id}/answer")
    await admin(dep, f"/emu/calls/{inside_id}/end")
    assert dep.node.status.status.value == "OUT_OF_SERVICE"

    await dep.fault(dep.a, "deactivate")  # side B takes over, with the calls A replicated to it
    between = await until_in_service(client)
    assert [e.node for e in between] == [SYSTEM_INFO]
    between_live = await until_in_service(live_client)
    assert [e.node for e in between_live] == [SYSTEM_INFO]
    # The live call is republished after the resync ...
    republished = await next_event(live_client, f"{API}/User/1007/Dialogs", f"<id>{live_id}</id>")
    assert "<state>ACTIVE</state>" in republished.update
    # ... the call made and ended during the failover never is, to anyone.
    await next_event(client, f"{API}/User/1008", "<user>")  # 1008's last state came after the resync
    after = drain(client)
    marker = f"<id>{inside_id}</id>"
    assert not any(marker in e.update for e in after)
    assert not any(n.endswith("/Dialogs") and marker in text for n, text in dep.node.published)
    assert str(inside_id) not in dep.node.model.dialogs
    await live_client.disconnect()
    await client.disconnect()


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment() as d:
        yield d


async def test_desktop_content_is_served_while_out_of_service(dep: Deployment) -> None:
    """The choice documented in docs/finesse.md (Service status): an OUT_OF_SERVICE node's web
    server still serves gadgets and resources; its REST API answers 503 (SystemInfo excepted)."""
    await dep.fault(dep.a, "refuse_sessions")
    await dep.fault(dep.a, "drop_sessions")
    await dep.wait_status("OUT_OF_SERVICE")
    base = f"http://{HOST}:{dep.node.http_port}"
    for path in ("/desktop/gadgets/xml/team", "/desktop/gadgets/jsp/queue", "/desktop/resources/finesse.js"):
        async with dep.http.get(base + path) as resp:
            assert resp.status == 200 and len(await resp.read()) > 1000, path
    status, doc, _ = await dep.call("GET", "/User/1000")
    assert status == 503 and text(doc, "ApiError/ErrorMessage") == "SERVER_OUT_OF_SERVICE"
    status, doc, _ = await dep.call("GET", "/SystemInfo", user=None)
    assert status == 200 and text(doc, "status") == "OUT_OF_SERVICE"


async def test_a_seen_call_that_ends_during_the_resync_is_deleted(dep_slow_heartbeats: XDeployment) -> None:
    """A call the client saw, announced again by the new CTI side and ended before the node's
    resync is over (the node learns it OUT_OF_SERVICE, publishing nothing): once IN_SERVICE the
    client gets the dialog's DELETE with the last state."""
    dep = dep_slow_heartbeats
    client = await signed_in_client(dep, "1009")
    call_id = (await admin(dep, "/emu/calls", {"agent_id": "1009"}))["call_id"]
    await admin(dep, f"/emu/calls/{call_id}/answer")
    await next_event(client, f"{API}/User/1009/Dialogs", "<state>ACTIVE</state>")
    await dep.fault(dep.a, "refuse_sessions")
    await dep.fault(dep.a, "drop_sessions")
    await next_event(client, SYSTEM_INFO, "<status>OUT_OF_SERVICE</status>", timeout=5)
    # Side B answers 0.5 s late: its OPEN_CONF (with the call announced again) and, behind it, the
    # end of the call reach the node before the answers to its resync queries.
    async with dep.http.post(
        f"http://{HOST}:{dep.b.admin_port}/emu/faults", json={"kind": "latency", "ms": 500}
    ) as resp:
        assert resp.status == 201
    await dep.fault(dep.a, "deactivate")
    await eventually(
        lambda: [s.opened for s in dep.b.core.sessions.values()], "Finesse's session open on B", until=any
    )
    async with dep.http.post(f"http://{HOST}:{dep.b.admin_port}/emu/calls/{call_id}/end") as resp:
        assert resp.status == 200, await resp.text()
    between = await until_in_service(client)
    assert [e.node for e in between] == [SYSTEM_INFO]
    deleted = await next_event(client, f"{API}/User/1009/Dialogs", f"<id>{call_id}</id>")
    assert "<event>DELETE</event>" in deleted.update
    await client.disconnect()
