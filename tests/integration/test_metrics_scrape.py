"""Every component's ``GET /metrics`` over real sockets (docs/metrics.md): the deployment of
``test_finesse_node`` (CTI sides A and B, an AWDB stub, a Finesse node, each with its control plane)
scraped and parsed with prometheus_client's parser; the series move with what the deployment does;
and every series the Grafana dashboard in deploy/grafana/ plots is in a scrape."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from emu_base.timers import Timers
from finesse_emu.desktop.sso import sign_in
from finesse_emu.ids.core import IdpUser, IdsCore
from finesse_emu.ids.server import IdsConfig, IdsServer
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST, Deployment, deployment

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "finesse-emu.json"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment() as d:
        yield d


async def scrape(dep: Deployment, admin_port: int | None) -> tuple[set[str], Samples]:
    """The sample names and samples of one control plane's /metrics, as Prometheus's parser reads them."""
    async with dep.http.get(f"http://{HOST}:{admin_port}/metrics") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    families = list(text_string_to_metric_families(text))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
    return {s.name for f in families for s in f.samples}, samples


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_every_component_serves_metrics_that_move_with_the_deployment(dep: Deployment) -> None:
    _, node = await scrape(dep, dep.node.admin_port)
    assert get(node, "finesse_emu_node_service_state", state="IN_SERVICE") == 1
    assert get(node, "finesse_emu_node_cti_link_state", state="OPEN") == 1
    assert get(node, "finesse_emu_node_cti_active_side", side="A") == 1
    assert get(node, "finesse_emu_node_awdb_current", awdb="awdb-a") == 1

    # A REST request by its route template and status, with its latency; a refusal with its own.
    user = {"route": "/finesse/api/User/{user}", "method": "GET"}
    before = get(node, "finesse_emu_rest_requests_total", **user, status="200")
    assert (await dep.call("GET", "/User/1001", user="1001"))[0] == 200
    assert (await dep.call("GET", "/User/1002", user="1002"))[0] == 200
    assert (await dep.call("GET", "/User/1001", user=None))[0] == 401
    body = "<User><state>LOGIN</state><extension>2001</extension></User>"
    assert (await dep.call("PUT", "/User/1001", user="1001", body=body))[0] == 202
    _, node = await scrape(dep, dep.node.admin_port)
    assert get(node, "finesse_emu_rest_requests_total", **user, status="200") == before + 2
    assert get(node, "finesse_emu_rest_requests_total", **user, status="401") == 1
    assert get(node, "finesse_emu_rest_request_duration_seconds_count", **user) >= before + 3
    assert not any("1001" in str(labels) for _, labels in node)  # no raw path, no agent id in a label

    # The login is published on the user's node (kind User, ids dropped).
    async def published() -> float:
        _, node = await scrape(dep, dep.node.admin_port)
        return get(node, "finesse_emu_node_publishes_total", kind="User")

    await eventually(published, "a User publish counted", until=lambda n: n >= 1)

    # CTI side A: active, Finesse's session open, heartbeats counted as they arrive.
    _, a = await scrape(dep, dep.a.admin_port)
    _, b = await scrape(dep, dep.b.admin_port)
    assert (get(a, "cti_stub_active"), get(b, "cti_stub_active")) == (1, 0)
    assert get(a, "cti_stub_open_sessions") >= 1
    assert get(a, "cti_stub_messages_received_total", type="OPEN_REQ") >= 1
    assert get(a, "cti_stub_messages_received_total", type="SET_AGENT_STATE_REQ") >= 1
    first = get(a, "cti_stub_heartbeats_received_total")

    async def heartbeats() -> float:
        return get((await scrape(dep, dep.a.admin_port))[1], "cti_stub_heartbeats_received_total")

    await eventually(heartbeats, "side A counting heartbeats", until=lambda n: n > first, within=5.0)

    # The AWDB: the node's directory load and authentications, by query kind and status.
    _, awdb = await scrape(dep, dep.awdb.admin_port)
    assert get(awdb, "awdb_stub_queries_total", query="agents", method="GET", status="200") >= 1
    assert get(awdb, "awdb_stub_queries_total", query="authenticate", method="POST", status="200") >= 1
    assert get(awdb, "awdb_stub_state", state="up") == 1


async def test_the_grafana_dashboard_plots_only_series_the_components_serve(dep: Deployment) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    served: set[str] = set()
    for port in (dep.node.admin_port, dep.a.admin_port, dep.b.admin_port, dep.awdb.admin_port):
        served |= (await scrape(dep, port))[0]
    assert (await dep.call("GET", "/User/1001", user="1001"))[0] == 200  # a request series exists
    served |= (await scrape(dep, dep.node.admin_port))[0]
    panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
    assert panels
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\b((?:finesse_emu|cti_stub|awdb_stub)_[a-z_]+)", target["expr"]))
            assert names, (panel["title"], target["expr"])
            assert names <= served, (panel["title"], names - served)


async def test_the_identity_service_counts_its_requests_and_tokens_behind_the_token() -> None:
    users = [IdpUser("1001", "agent0001", "pass1001")]
    ids = IdsServer(
        IdsConfig(host=HOST, port=0, admin_port=0, admin_token="ids-token"),
        IdsCore(b"deployment-signing-key-0123456789", Timers.build(1.0), users),
    )
    await ids.start()
    try:
        async with aiohttp.ClientSession() as http:
            await sign_in(http, ids.url, "1001", "pass1001", f"http://{HOST}/desktop/sso/authcode", 5.0)
            url = f"http://{HOST}:{ids.admin_port}/metrics"
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                async with http.get(url, headers=headers) as resp:
                    assert resp.status == 401
            async with http.get(url, headers={"Authorization": "Bearer ids-token"}) as resp:
                assert resp.status == 200
                families = list(text_string_to_metric_families(await resp.text()))
    finally:
        await ids.stop()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
    assert samples[("finesse_emu_ids_tokens_issued_total", ())] == 1
    posts = [
        dict(labels)["route"]
        for (name, labels), v in samples.items()
        if name == "finesse_emu_ids_requests_total" and dict(labels)["method"] == "POST" and v >= 1
    ]
    assert posts and all("{" in r or r.startswith("/") for r in posts)  # route templates, counted
