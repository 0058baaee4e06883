"""The example of docs/testing.md: the small client of finesse_client.py, its publisher killed under it,
and the nodes' request journal showing what the client asked of each node and what each published.

Uses the ``finesse_deployment_async`` fixture of finesse-emu's pytest plugin (installed with the
package: nothing to import or configure) and pytest-asyncio.
"""

from __future__ import annotations

import pytest
from finesse_client import FinesseClient, Node, Seen

from finesse_emu.testing import AsyncDeployment


@pytest.mark.asyncio
async def test_the_client_follows_its_agent_to_the_subscriber(
    finesse_deployment_async: AsyncDeployment,
) -> None:
    emu = finesse_deployment_async
    publisher, subscriber = emu.addresses.publisher, emu.addresses.subscriber
    agent = emu.agents[0]
    nodes = [Node(n.rest_http, n.xmpp_host, n.xmpp_port) for n in (publisher, subscriber)]
    # Cisco's desktop polls every 20 s; this test's client polls faster to keep the test short.
    client = FinesseClient(nodes, agent.id, agent.password, agent.extension, poll_interval=0.5)
    # The fixture empties the journal after each test: this test sees its own traffic only.
    assert await emu.journal.entries() == []
    try:
        await client.start()
        await emu.wait_until(lambda: client.seen, "the sign-in's User notification")
        assert client.seen[0] == Seen(publisher.host, "NOT_READY")
        user = f"/finesse/api/User/{agent.id}"
        await emu.journal.verify("PUT", user, count=1, status=202, agent=agent.id, node=publisher.name)

        await emu.kill(publisher.name)  # SIGKILL: the publisher and its REST API are gone

        await emu.wait_until(lambda: client.failovers, "the client's failover", timeout=30)
        assert client.failovers == [subscriber.host]
        assert client.node is not None and client.node.domain == subscriber.host
        await emu.wait_agent_state(agent.id, "NOT_READY", node=subscriber.name)
        # Notifications now come from the subscriber's Notification Service.
        assert await client.put_state(client.node, "READY") == 202
        await emu.wait_until(
            lambda: Seen(subscriber.host, "READY") in client.seen, "READY published by the subscriber"
        )
        assert all(s.node == publisher.host for s in client.seen[:1])

        # The journal of the subscriber (the publisher's is gone with its process): the client
        # signed in again there as its agent, and every state it was told came from a notification
        # the subscriber published on the agent's User node.
        signed_in = await emu.journal.verify("PUT", user, status=202, agent=agent.id, node=subscriber.name)
        assert "<state>LOGIN</state>" in signed_in[0]["request_body"]
        published = await emu.journal.entries(kind="notification", agent=agent.id, node=subscriber.name)
        told = {s.state for s in client.seen if s.node == subscriber.host}
        assert told and all(any(f"<state>{s}</state>" in e["body"] for e in published) for s in told), told
    finally:
        await client.close()
