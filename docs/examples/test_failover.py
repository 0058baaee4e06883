"""The example of docs/testing.md: the small client of finesse_client.py, its publisher killed under it.

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
    try:
        await client.start()
        await emu.wait_until(lambda: client.seen, "the sign-in's User notification")
        assert client.seen[0] == Seen(publisher.host, "NOT_READY")

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
    finally:
        await client.close()
