"""A node's ``request`` history events (event_log) carry the route template the answer matched
(bounded: ``/finesse/api/User/{user}``, never the agent's id; ``unmatched`` for no route, from
emu_base.metrics) and the time the node took to answer in ms: what the report's per-route table and
latency charts read (docs/reports.md). A node, its CTI sides and its AWDB in this event loop, over
real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from emu_base.history_events import Request
from tests.helpers import eventually
from tests.integration.test_finesse_node import Deployment, deployment


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(event_log=True) as d:
        yield d


async def test_request_events_name_their_route_template_and_latency(dep: Deployment) -> None:
    with capture_logs() as logs:
        assert (await dep.call("GET", "/User/1001", user="1001"))[0] == 200
        assert (await dep.call("GET", "/User/1002", user="1001"))[0] == 401  # not hers: still counted
        assert (await dep.call("GET", "/SystemInfo", user=None))[0] == 200
        assert (await dep.call("GET", "/NoSuchThing/7", user="1001"))[0] == 404
        seen = await eventually(
            lambda: [e for e in logs if e["event"] == Request.NAME],
            "four request lines",
            until=lambda got: len(got) == 4,
            within=5.0,
        )
    routes = [(e["method"], e["route"], e["status"]) for e in seen]
    assert routes == [
        ("GET", "/finesse/api/User/{user}", 200),
        ("GET", "/finesse/api/User/{user}", 401),
        ("GET", "/finesse/api/SystemInfo", 200),
        ("GET", "unmatched", 404),
    ]
    assert [e["path"] for e in seen][:2] == ["/finesse/api/User/1001", "/finesse/api/User/1002"]
    # A latency measured on a loaded machine: only its type and sign are certain.
    assert all(isinstance(e["ms"], float) and e["ms"] >= 0 for e in seen)
