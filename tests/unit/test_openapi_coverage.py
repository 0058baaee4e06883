"""Every route of the real applications is in its OpenAPI description: the Finesse node's web app
(REST, the administration API, desktop content, 12.6's WebSocket through the web port) and the
control plane (``/emu``) of every component that has one: the node, the CTI and AWDB stubs, the
desktop swarm. Built the way each component builds them, not started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from awdb_stub.db import AwdbDatabase
from awdb_stub.server import AwdbServer
from awdb_stub.server import ServerConfig as AwdbConfig
from cti_stub.server import CtiServer
from cti_stub.server import ServerConfig as CtiConfig
from emu_base import control_openapi as C
from emu_base.directory import generate
from emu_base.timers import Timers
from finesse_emu.desktop.swarm import Swarm, SwarmConfig, control_app
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.node import FinesseNode
from finesse_emu.server.openapi import build_openapi, stale_operations, undocumented_routes
from finesse_emu.server.rest import OPEN_PATHS


def node(tmp_path: Path, version: str = "12.6") -> FinesseNode:
    """A node configured as the launcher configures one (its Prosody named: 12.6 relays /ws/)."""
    password = tmp_path / "xmpp-password"
    password.write_text("secret\n")
    config = NodeConfig(
        name="finesse-a",
        cti_sides=[("A", "127.0.0.1", 42027)],
        awdb_urls=["http://127.0.0.1:1434"],
        xmpp_host="127.0.0.1",
        xmpp_password_file=str(password),
        version=version,
    )
    return FinesseNode(config, Timers.build(0.05))


async def test_the_nodes_web_app_is_described_route_by_route(tmp_path: Path) -> None:
    app = node(tmp_path).rest_app()
    assert undocumented_routes(app.router) == [] and stale_operations(app.router) == []
    served = build_openapi(app.router, OPEN_PATHS)
    assert {"/ws", "/ws/"} <= set(served["paths"])  # 12.6's WebSocket through the web port
    assert not [p for p, ops in served["paths"].items() for op in ops.values() if "x-emu-undocumented" in op]
    # 12.5 has no WebSocket on the web port: its app has fewer routes, none undescribed.
    older = node(tmp_path, "12.5").rest_app()
    assert undocumented_routes(older.router) == []
    assert sorted(stale_operations(older.router)) == [("GET", "/ws"), ("GET", "/ws/")]


@pytest.fixture
def control_planes(tmp_path: Path) -> Iterator[dict[str, web.Application]]:
    db = AwdbDatabase()
    cti = CtiServer(
        CtiConfig(side="A", port=0, link_port=0, admin_port=0, agents=generate(3)), Timers.build(0.05)
    )
    awdb = AwdbServer(AwdbConfig(name="awdb-a", port=0, admin_port=0), db)
    swarm = Swarm(SwarmConfig(endpoints={}, agents=[], timers=Timers.build(0.05)))
    yield {
        "finesse": node(tmp_path).admin_app(),
        "cti": cti.admin_app(),
        "awdb": awdb.admin_app(),
        "swarm": control_app(swarm, "token"),
    }
    db.close()


def described(app: web.Application) -> dict[str, Any]:
    return C.build_control_openapi(app.router, app[C.OPERATIONS_KEY], "test")


async def test_every_control_plane_route_is_described(control_planes: dict[str, web.Application]) -> None:
    for name, app in control_planes.items():
        operations = app[C.OPERATIONS_KEY]
        assert C.undocumented_routes(app.router, operations) == [], name
        assert C.stale_operations(app.router, operations) == [], name
        doc = described(app)
        assert C.CONTROL_OPENAPI_PATH in doc["paths"], name  # each serves its description
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                assert "x-emu-undocumented" not in op, (name, method, path)
                # The token guard's 401 is derived: on every route but the open ones.
                # The swarm's /metrics is open (on loopback); a component's takes the token.
                swarm_metrics = (name, path) == ("swarm", "/metrics")
                guarded = (method.upper(), path) not in C.OPEN_ROUTES and not swarm_metrics
                assert ("401" in op["responses"]) is guarded, (name, method, path)
                assert ("security" not in op) is guarded, (name, method, path)
    node_paths = set(described(control_planes["finesse"])["paths"])
    assert {"/emu/health", "/emu/faults", "/emu/layout", "/emu/cors"} <= node_paths
    cti_paths = set(described(control_planes["cti"])["paths"])
    assert {"/emu/agents/{agent_id}/state", "/emu/calls/{call_id}/{action}"} <= cti_paths
    assert "/emu/clients" in described(control_planes["swarm"])["paths"]


async def test_a_control_route_without_a_description_is_caught(
    control_planes: dict[str, web.Application],
) -> None:
    app = control_planes["awdb"]

    async def pause(_: web.Request) -> web.Response:
        raise AssertionError

    app.router.add_post("/emu/pause", pause)
    assert C.undocumented_routes(app.router, app[C.OPERATIONS_KEY]) == [("POST", "/emu/pause")]
    op = described(app)["paths"]["/emu/pause"]["post"]
    assert op["x-emu-undocumented"] is True and "401" in op["responses"]
    app[C.OPERATIONS_KEY][("GET", "/emu/gone")] = C.ControlOperation("a route that was removed", (200,))
    assert C.stale_operations(app.router, app[C.OPERATIONS_KEY]) == [("GET", "/emu/gone")]
