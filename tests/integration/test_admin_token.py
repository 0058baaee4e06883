"""The control planes' access control, denial by denial, over real sockets (issue 9).

Every route of the CTI stub's and the AWDB's control plane, and the swarm's browser actions, refuse
a request without the token and with a wrong one (``GET /emu/health``, a read-only probe, and the
swarm's ``/metrics`` need none) and accept the right one; a component asked to serve its control
plane on a non-loopback address without a token refuses to start; ``finesse-emu up`` resolves its
token from flags, config file and environment. All on 127.0.51.x (no other test uses 127.0.51).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from awdb_stub.db import AwdbDatabase
from awdb_stub.seed import SeedData
from awdb_stub.server import AwdbServer
from awdb_stub.server import ServerConfig as AwdbConfig
from cti_stub.server import CtiServer
from cti_stub.server import ServerConfig as CtiConfig
from emu_base.admin import (
    INSECURE_ENV,
    OPEN_ROUTES,
    TOKEN_ENV,
    admin_token_from,
    check_admin_bind,
    is_loopback,
    read_token_file,
)
from emu_base.directory import generate
from emu_base.timers import Timers
from finesse_emu import cli
from finesse_emu.cli import deployment as cli_deployment
from finesse_emu.desktop.swarm import Swarm, SwarmConfig, serve_control

HOST = "127.0.51.20"
TOKEN = "t0ken-of-this-test"
WRONG = {"Authorization": "Bearer not-the-token"}
RIGHT = {"Authorization": f"Bearer {TOKEN}"}
OPEN = OPEN_ROUTES  # the health probe and the control plane's OpenAPI description
VALUES = {"fault_id": "latency-1", "agent_id": "1000", "mrd": "5000", "call_id": "1", "action": "end"}


def routes(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, concrete path) of a control-plane application."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter", "")
        path = re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)], path)
        out.append((route.method, path))
    return out


async def denials(base: str, app: web.Application) -> list[tuple[str, str]]:
    """Routes checked: each must answer 401 (with WWW-Authenticate) without and with a wrong
    token, except the open health probe, which answers 200 without any."""
    checked = []
    async with aiohttp.ClientSession() as http:
        for method, path in routes(app):
            body = {"kind": "latency", "ms": 1.0} if method == "POST" else None
            if (method, path) in OPEN:
                async with http.request(method, base + path) as resp:
                    assert resp.status == 200, (method, path)
                continue
            for headers in ({}, WRONG, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
                async with http.request(method, base + path, json=body, headers=headers) as resp:
                    assert resp.status == 401, (method, path, headers)
                    assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
            checked.append((method, path))
    return checked


@pytest.fixture
async def cti() -> AsyncIterator[CtiServer]:
    cfg = CtiConfig(
        side="A", host=HOST, port=0, link_port=0, admin_port=0, agents=generate(5), admin_token=TOKEN
    )
    srv = CtiServer(cfg, Timers.build(0.02))
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def awdb() -> AsyncIterator[AwdbServer]:
    db = AwdbDatabase()
    db.seed(SeedData(generate(5)))
    srv = AwdbServer(AwdbConfig(name="awdb-a", host=HOST, port=0, admin_port=0, admin_token=TOKEN), db)
    await srv.start()
    yield srv
    await srv.stop()
    db.close()


async def test_every_cti_control_route_needs_the_token(cti: CtiServer) -> None:
    assert cti._admin_runner is not None
    base = f"http://{HOST}:{cti.admin_port}"
    checked = await denials(base, cti._admin_runner.app)
    # Faults, sessions, agents (state, work to active), calls (inject, answer/end/data).
    assert {p for _, p in checked} >= {
        "/emu/faults",
        "/emu/faults/latency-1",
        "/emu/sessions",
        "/emu/agents",
        "/emu/agents/1000/state",
        "/emu/agents/1000/media/5000/work-to-active",
        "/emu/calls",
        "/emu/calls/1/end",
    }
    assert cti.faults.active() == [] and cti.model.calls == {}  # nothing refused changed anything
    async with aiohttp.ClientSession(headers=RIGHT) as http:
        async with http.post(f"{base}/emu/faults", json={"kind": "latency", "ms": 1.0}) as resp:
            assert resp.status == 201
        async with http.get(f"{base}/emu/agents/1000") as resp:
            assert resp.status == 200 and (await resp.json())["id"] == "1000"
        async with http.delete(f"{base}/emu/faults") as resp:
            assert resp.status == 200 and (await resp.json()) == {"cleared": 1}


async def test_queueing_a_caller_and_hanging_up_need_the_token(cti: CtiServer) -> None:
    """POST /emu/calls without agent_id (a caller waiting in queue) and POST /emu/calls/{id}/hangup:
    refused without the token and with a wrong one (nothing queued, nobody hung up), done with it."""
    base = f"http://{HOST}:{cti.admin_port}"
    async with aiohttp.ClientSession() as http:
        for headers in ({}, WRONG):
            async with http.post(f"{base}/emu/calls", json={"ani": "5550100"}, headers=headers) as resp:
                assert resp.status == 401
        assert cti.model.calls == {}
        async with http.post(f"{base}/emu/calls", json={"ani": "5550100"}, headers=RIGHT) as resp:
            assert resp.status == 201
            call = await resp.json()
        assert call["phase"] == "queued"
        for headers in ({}, WRONG):
            async with http.post(f"{base}/emu/calls/{call['call_id']}/hangup", headers=headers) as resp:
                assert resp.status == 401
        assert [c.call_id for c in cti.model.queued_calls()] == [call["call_id"]]
        async with http.post(f"{base}/emu/calls/{call['call_id']}/hangup", headers=RIGHT) as resp:
            assert resp.status == 200
        assert cti.model.calls == {}


async def test_every_awdb_control_route_needs_the_token(awdb: AwdbServer) -> None:
    assert awdb._admin_runner is not None
    base = f"http://{HOST}:{awdb.admin_port}"
    checked = await denials(base, awdb._admin_runner.app)
    assert set(checked) >= {
        ("GET", "/emu/faults"),
        ("POST", "/emu/faults"),
        ("DELETE", "/emu/faults"),
        ("DELETE", "/emu/faults/latency-1"),
    }
    assert awdb.faults.active() == []
    async with aiohttp.ClientSession(headers=RIGHT) as http:
        async with http.post(f"{base}/emu/faults", json={"kind": "slow", "ms": 1}) as resp:
            assert resp.status == 201
        async with http.delete(f"{base}/emu/faults") as resp:
            assert (await resp.json()) == {"cleared": 1}
        # The query API is the product's, not a control plane: no token.
        body = {"user": "1001", "password": "pass1001"}
        async with (
            aiohttp.ClientSession() as anon,
            anon.post(f"http://{HOST}:{awdb.port}/awdb/v1/authenticate", json=body) as resp,
        ):
            assert resp.status == 200


async def test_swarm_browser_actions_need_the_token() -> None:
    swarm = Swarm(SwarmConfig(endpoints={}, agents=[], timers=Timers.build(0.05)))
    runner, port = await serve_control(swarm, HOST, 0, TOKEN)
    base = f"http://{HOST}:{port}"
    body = {"action": "refresh", "agent": "1000"}
    try:
        async with aiohttp.ClientSession() as http:
            for headers in ({}, WRONG):
                async with http.post(f"{base}/emu/clients", json=body, headers=headers) as resp:
                    assert resp.status == 401
            async with http.get(f"{base}/metrics") as resp:  # read-only
                assert resp.status == 200
            # With the token the request reaches the swarm (which has no desktop of agent 1000).
            async with http.post(f"{base}/emu/clients", json=body, headers=RIGHT) as resp:
                assert resp.status == 400 and "no desktop of agent" in (await resp.json())["error"]
    finally:
        await runner.cleanup()


# -- binding: a control plane on a non-loopback address needs a token --------------------------------
def refused(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, INSECURE_ENV)}
    return subprocess.run(
        [sys.executable, "-m", *argv], capture_output=True, text=True, env=env, timeout=30, check=False
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["cti_stub", "--host", "0.0.0.0", "--port", "0", "--link-port", "0", "--admin-port", "0"],
        ["cti_stub", "--host", HOST, "--port", "0", "--admin-port", "0", "--admin-host", "0.0.0.0"],
        ["awdb_stub", "--host", "0.0.0.0", "--port", "0", "--admin-port", "0"],
        ["awdb_stub", "--host", HOST, "--port", "0", "--admin-port", "0", "--admin-host", "::"],
        ["finesse_emu.server", "--host", "0.0.0.0", "--http-port", "0", "--https-port", "-1"],
    ],
)
def test_a_non_loopback_control_plane_without_a_token_is_refused(argv: list[str]) -> None:
    t0 = time.monotonic()
    done = refused(*argv)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not a loopback address, without a token" in done.stderr
    assert "--admin-insecure" in done.stderr
    assert time.monotonic() - t0 < 20  # refused at once: nothing was started


def test_the_bind_rule() -> None:
    for host in ("127.0.0.1", "127.0.51.3", "::1", "localhost", "::ffff:127.0.0.1"):
        assert is_loopback(host), host
        check_admin_bind(host, None, insecure=False)
    for host in ("0.0.0.0", "", "::", "10.1.2.3", "192.0.2.1"):
        assert not is_loopback(host), host
        with pytest.raises(ValueError, match="not a loopback address"):
            check_admin_bind(host, None, insecure=False)
        check_admin_bind(host, TOKEN, insecure=False)  # a token makes it acceptable
        check_admin_bind(host, None, insecure=True)  # so does the explicit opt-in


def test_component_token_sources(tmp_path: Path) -> None:
    def args(**kw: Any) -> argparse.Namespace:
        return argparse.Namespace(**{"admin_token": None, "admin_token_file": None, **kw})

    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    env = {TOKEN_ENV: "from-env"}
    assert admin_token_from(args(admin_token="flag", admin_token_file=str(token_file)), "cfg", env) == "flag"
    assert admin_token_from(args(admin_token_file=str(token_file)), "cfg", env) == "from-file"
    assert admin_token_from(args(), "cfg", env) == "cfg"
    assert admin_token_from(args(), None, env) == "from-env"
    assert admin_token_from(args(), None, {TOKEN_ENV: ""}) is None
    for bad in ("", "has space", "naïve"):
        with pytest.raises(ValueError, match="visible ASCII"):
            admin_token_from(args(admin_token=bad), None, {})
    with pytest.raises(ValueError, match="admin token file"):
        read_token_file(tmp_path / "missing")


# -- finesse-emu up: where the deployment's token comes from ------------------------------------------
def up_token(tmp_path: Path, *argv: str, config: str | None = None, env: str | None = None) -> Any:
    parser = cli.build_parser()
    if config is not None:
        (tmp_path / "up.yaml").write_text(config)
        argv = (*argv, "--config", str(tmp_path / "up.yaml"))
    args = parser.parse_args(["up", *argv])
    saved = os.environ.pop(TOKEN_ENV, None)
    if env is not None:
        os.environ[TOKEN_ENV] = env
    try:
        return cli_deployment._up_settings(args)["admin_token"]
    finally:
        os.environ.pop(TOKEN_ENV, None)
        if saved is not None:
            os.environ[TOKEN_ENV] = saved


def test_up_token_precedence(tmp_path: Path) -> None:
    a, b = up_token(tmp_path), up_token(tmp_path)
    assert isinstance(a, str) and len(a) >= 40 and a != b  # random, one per deployment
    assert up_token(tmp_path, env="mine") == "mine"
    assert up_token(tmp_path, config="admin_token: fromfile\n", env="mine") == "fromfile"
    assert up_token(tmp_path, config="admin_token: false\n", env="mine") is None
    assert len(up_token(tmp_path, config="admin_token: true\n")) >= 40
    assert up_token(tmp_path, "--admin-token", "flag", config="admin_token: false\n") == "flag"
    assert up_token(tmp_path, "--no-admin-token", config="admin_token: x\n", env="mine") is None
    (tmp_path / "tok").write_text("in-a-file\n")
    assert up_token(tmp_path, "--admin-token-file", str(tmp_path / "tok"), env="mine") == "in-a-file"
    with pytest.raises(ValueError, match="admin_token"):
        up_token(tmp_path, config="admin_token: 3\n")
    with pytest.raises(SystemExit):  # one source of the token at a time
        cli.build_parser().parse_args(["up", "--admin-token", "x", "--no-admin-token"])
