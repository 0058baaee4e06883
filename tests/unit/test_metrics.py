"""The components' Prometheus metrics (docs/metrics.md), unit level: each collector moves with the
event it counts, every scrape parses with prometheus_client's parser, label values stay bounded,
and ``GET /metrics`` on a control plane takes the deployment's token like the rest of it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from awdb_stub.metrics import AwdbMetrics, query_kind
from cti_stub.core import Role
from cti_stub.metrics import CtiMetrics
from emu_base.admin import admin_routes
from emu_base.faults import FaultRegistry
from emu_base.metrics import HttpMetrics
from finesse_emu.server.auth import AwdbClient
from finesse_emu.server.auth.failover import Outcome
from finesse_emu.server.metrics import NodeMetrics, publish_kind
from ged188.constants import AgentState
from ged188.constants import MessageType as M
from tests.unit.test_cti_core import Harness

TOKEN = "s3cret-metrics-token"


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape of ``registry``, as the Prometheus text parser reads it."""
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return samples(registry).get((name, tuple(sorted(labels.items()))))


# -- the shared kit: requests by route template, method and status -----------------------------------
async def test_a_request_moves_its_route_and_status_counter_and_its_latency() -> None:
    registry = CollectorRegistry()
    http = HttpMetrics(registry, "t")

    async def user(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def refused(_: web.Request) -> web.Response:
        raise web.HTTPUnauthorized()

    app = web.Application(middlewares=[http.middleware()])
    app.router.add_get("/User/{user}", user)
    app.router.add_get("/refused", refused)
    async with TestClient(TestServer(app)) as client:
        for agent in ("1001", "1002", "1003"):
            assert (await client.get(f"/User/{agent}")).status == 200
        assert (await client.get("/refused")).status == 401
        assert (await client.get("/no/such/path/1234")).status == 404
    route = {"route": "/User/{user}", "method": "GET"}
    assert value(registry, "t_requests_total", **route, status="200") == 3  # one series, not three
    assert value(registry, "t_requests_total", route="/refused", method="GET", status="401") == 1
    assert value(registry, "t_requests_total", route="unmatched", method="GET", status="404") == 1
    assert value(registry, "t_request_duration_seconds_count", **route) == 3
    assert value(registry, "t_request_duration_seconds_bucket", **route, le="+Inf") == 3
    assert not any("1001" in str(key) for key in samples(registry))


# -- GET /metrics on a control plane: the token guard ---------------------------------------------
async def test_metrics_on_the_control_plane_take_the_token() -> None:
    registry = CollectorRegistry()
    HttpMetrics(registry, "t").observe("/x", "GET", 200, 0.01)
    app = admin_routes("c", "test", dict, FaultRegistry("ids", {}), TOKEN, registry)
    async with TestClient(TestServer(app)) as client:
        no_token = await client.get("/metrics")
        assert no_token.status == 401
        assert "t_requests" not in await no_token.text()  # nothing counted leaks with the refusal
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert wrong.status == 401
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status == 200
        assert right.headers["Content-Type"].startswith("text/plain; version=")
        names = {f.name for f in text_string_to_metric_families(await right.text())}
        assert "t_requests" in names
        # Read-only: no write on the route.
        post = await client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert post.status == 405
        described = await (await client.get("/emu/control/openapi.json")).json()
        op = described["paths"]["/metrics"]["get"]
        assert "401" in op["responses"] and "text/plain" in op["responses"]["200"]["content"]
        assert "x-emu-undocumented" not in op


async def test_a_control_plane_without_a_registry_serves_an_empty_parseable_one() -> None:
    async with TestClient(TestServer(admin_routes("c", "test", dict, FaultRegistry("ids", {})))) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert list(text_string_to_metric_families(await resp.text())) == []


# -- the Finesse node -------------------------------------------------------------------------------
class FakeNode:
    def __init__(self) -> None:
        self.awdb = AwdbClient(["http://127.0.0.1:1", "http://127.0.0.1:2"], 1.0)
        self.state: dict[str, Any] = {
            "state": "OUT_OF_SERVICE",
            "cti": {"state": "CONNECTING", "side": None},
            "notification": {"connected": False},
            "signed_in_agents": 0,
            "logged_in_agents": 0,
            "stats": {},
        }

    def health(self) -> dict[str, Any]:
        return self.state


def test_publish_kinds_drop_the_ids() -> None:
    assert publish_kind("/finesse/api/User/1001") == "User"
    assert publish_kind("/finesse/api/User/1001/Dialogs") == "User/Dialogs"
    assert publish_kind("/finesse/api/Team/5/Users") == "Team/Users"
    assert publish_kind("/something/else") == "other"


def test_the_node_reports_its_state_at_each_scrape_and_counts_publishes_and_awdb_failovers() -> None:
    node = FakeNode()
    m = NodeMetrics(node)
    assert value(m.registry, "finesse_emu_node_service_state", state="OUT_OF_SERVICE") == 1
    assert value(m.registry, "finesse_emu_node_service_state", state="IN_SERVICE") == 0
    assert value(m.registry, "finesse_emu_node_cti_active_side", side="A") == 0
    assert value(m.registry, "finesse_emu_node_awdb_failovers_total") == 0
    node.state.update(
        state="IN_SERVICE",
        cti={"state": "OPEN", "side": "B"},
        notification={"connected": True},
        signed_in_agents=3,
    )
    m.published("/finesse/api/User/1001", error=False)
    m.published("/finesse/api/User/1002", error=False)
    m.published("/finesse/api/User/1002", error=True)
    node.awdb.failover.record(0, Outcome.REFUSED)  # the primary fails: the node goes to the secondary
    assert value(m.registry, "finesse_emu_node_service_state", state="IN_SERVICE") == 1
    assert value(m.registry, "finesse_emu_node_cti_link_state", state="OPEN") == 1
    assert value(m.registry, "finesse_emu_node_cti_active_side", side="B") == 1
    assert value(m.registry, "finesse_emu_node_notification_connected") == 1
    assert value(m.registry, "finesse_emu_node_signed_in_agents") == 3
    assert value(m.registry, "finesse_emu_node_publishes_total", kind="User") == 2
    assert value(m.registry, "finesse_emu_node_publishes_total", kind="ApiErrors") == 1
    assert value(m.registry, "finesse_emu_node_awdb_failovers_total") == 1
    assert value(m.registry, "finesse_emu_node_awdb_current", awdb="awdb-b") == 1


def test_two_nodes_in_one_process_keep_their_own_series() -> None:
    one, two = NodeMetrics(FakeNode()), NodeMetrics(FakeNode())
    one.published("/finesse/api/User/1001", error=False)
    assert value(one.registry, "finesse_emu_node_publishes_total", kind="User") == 1
    assert value(two.registry, "finesse_emu_node_publishes_total", kind="User") is None


# -- a CTI stub side --------------------------------------------------------------------------------
class Side:
    def __init__(self, h: Harness) -> None:
        self.side, self.core, self.model = "A", h.core, h.model


def test_a_cti_side_counts_sessions_heartbeats_and_messages_by_type() -> None:
    h = Harness()
    m = CtiMetrics(Side(h))
    assert value(m.registry, "cti_stub_role", role="active") == 1
    assert value(m.registry, "cti_stub_active") == 1
    sid = h.opened()
    assert value(m.registry, "cti_stub_open_sessions") == 1
    assert value(m.registry, "cti_stub_messages_received_total", type="OPEN_REQ") == 1
    assert value(m.registry, "cti_stub_messages_sent_total", type="OPEN_CONF") == 1
    before = value(m.registry, "cti_stub_heartbeats_received_total")
    h.send(sid, make_heartbeat(9))
    h.send(sid, make_heartbeat(10))
    assert value(m.registry, "cti_stub_heartbeats_received_total") == (before or 0) + 2
    assert value(m.registry, "cti_stub_messages_received_total", type="HEARTBEAT_REQ") == 2
    assert value(m.registry, "cti_stub_messages_sent_total", type="HEARTBEAT_CONF") == 2
    h.login(sid)
    assert value(m.registry, "cti_stub_logged_in_agents") == 1
    assert (value(m.registry, "cti_stub_calls"), value(m.registry, "cti_stub_calls_started_total")) == (0, 0)
    h.core.admin_set_state(h.now, "1000", AgentState.AVAILABLE, 0)
    h.core.inject_call(h.now, "1000", answer_after=2.0, talk_time=3.0)
    assert (value(m.registry, "cti_stub_calls"), value(m.registry, "cti_stub_calls_started_total")) == (1, 1)
    h.core.become_idle(h.now, "test")
    assert (value(m.registry, "cti_stub_active"), value(m.registry, "cti_stub_role", role="idle")) == (0, 1)


def test_unknown_message_types_share_one_label_value() -> None:
    h = Harness()
    m = CtiMetrics(Side(h))
    sid = h.opened()
    for mtype in (60000, 60001, 60002):  # no such GED-188 types
        h.send(sid, (8).to_bytes(4, "big") + mtype.to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes(4))
    received = [k for k in samples(m.registry) if k[0] == "cti_stub_messages_received_total"]
    types = {dict(k[1]).get("type") for k in received}
    assert "UNKNOWN" in types and not any(t and t.startswith("UNKNOWN_") for t in types)


def make_heartbeat(invoke: int) -> bytes:
    return (4).to_bytes(4, "big") + int(M.HEARTBEAT_REQ).to_bytes(4, "big") + invoke.to_bytes(4, "big")


# -- the AWDB stub ----------------------------------------------------------------------------------
class Stub:
    held = 0
    state = "up"


def test_awdb_queries_by_kind_and_status_and_the_stub_state() -> None:
    stub = Stub()
    m = AwdbMetrics(stub)
    assert query_kind("/awdb/v1/agents/{key}") == "agents/{key}"
    assert query_kind("unmatched") == "unmatched"
    m.queries.observe("/awdb/v1/authenticate", "POST", 200, 0.002)
    m.queries.observe("/awdb/v1/authenticate", "POST", 401, 0.001)
    auth = {"query": "authenticate", "method": "POST"}
    assert value(m.registry, "awdb_stub_queries_total", **auth, status="200") == 1
    assert value(m.registry, "awdb_stub_queries_total", **auth, status="401") == 1
    assert value(m.registry, "awdb_stub_query_duration_seconds_count", **auth) == 2
    assert value(m.registry, "awdb_stub_state", state="up") == 1
    stub.state = "hanging"
    assert value(m.registry, "awdb_stub_state", state="hanging") == 1
    assert value(m.registry, "awdb_stub_state", state="up") == 0


def test_role_values_are_the_states_listed() -> None:
    assert {r.value for r in Role} == {"starting", "active", "idle"}


def test_the_labelled_series_are_looked_up_once_per_route_method_and_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prometheus_client's labels() locks and checks its arguments: a request after the first of its
    kind moves the series found then, and still the right ones (the route named as configured)."""
    registry = CollectorRegistry()
    http = HttpMetrics(registry, "t", route_name=lambda template: template.removeprefix("/api"))
    lookups: list[tuple[str, ...]] = []
    counter_labels, histogram_labels = http.requests.labels, http.duration.labels

    def counting_counter(*values: str) -> Any:
        lookups.append(values)
        return counter_labels(*values)

    def counting_histogram(*values: str) -> Any:
        lookups.append(values)
        return histogram_labels(*values)

    monkeypatch.setattr(http.requests, "labels", counting_counter)
    monkeypatch.setattr(http.duration, "labels", counting_histogram)
    for _ in range(3):
        http.observe("/api/User/{user}", "GET", 200, 0.01)
    http.observe("/api/User/{user}", "GET", 401, 0.01)
    http.observe("/api/User/{user}", "PUT", 202, 0.01)
    assert lookups == [
        ("/User/{user}", "GET", "200"),
        ("/User/{user}", "GET"),
        ("/User/{user}", "GET", "401"),
        ("/User/{user}", "GET"),
        ("/User/{user}", "PUT", "202"),
        ("/User/{user}", "PUT"),
    ]
    route = {"route": "/User/{user}"}
    assert value(registry, "t_requests_total", **route, method="GET", status="200") == 3
    assert value(registry, "t_requests_total", **route, method="GET", status="401") == 1
    assert value(registry, "t_requests_total", **route, method="PUT", status="202") == 1
    assert value(registry, "t_request_duration_seconds_count", **route, method="GET") == 4
    assert value(registry, "t_request_duration_seconds_count", **route, method="PUT") == 1
