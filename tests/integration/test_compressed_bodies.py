"""Compressed request bodies (issue 14, finding 5): no server inflates a body nobody reads, and a
body that is read is never inflated past its cap.

Before: aiohttp inflated any gzip body as it arrived, so one unauthenticated 1 MB gzip body of
zeros (1 GiB inflated) to SystemInfo cost about 3 s of CPU. Every server of the project is tried
here over real sockets in this process, and the CPU the process spends on each bomb is measured
(``time.process_time``: the servers run in this event loop). tests/e2e/test_compression_bomb.py
measures a node process from outside (/proc).
"""

from __future__ import annotations

import ast
import json
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from defusedxml import ElementTree as DET

from emu_base.timers import Timers
from finesse_emu.desktop.swarm import Swarm, SwarmConfig, serve_control
from finesse_emu.server import xml as X
from tests.gzipbomb import gzip, gzip_bomb, send_raw
from tests.integration.test_finesse_node import HOST, Deployment, basic, deployment

TOKEN = "s3cret"
# A 1 GiB bomb inflated costs seconds; sending its 1 MB costs a few milliseconds.
CPU_BUDGET = 0.25
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["finesse_emu", "cti_stub", "awdb_stub", "ged188", "emu_base"]


@pytest.fixture(scope="module")
def bomb() -> list[bytes]:
    return gzip_bomb(1 << 30)


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(admin_token=TOKEN) as d:
        yield d


async def test_no_server_inflates_a_body_nobody_reads(dep: Deployment, bomb: list[bytes]) -> None:
    assert sum(map(len, bomb)) < 1_100_000
    swarm = Swarm(SwarmConfig(endpoints={}, agents=[], timers=Timers.build(0.05)))
    runner, swarm_port = await serve_control(swarm, HOST, 0, TOKEN)
    node, awdb, cti = dep.node.http_port, dep.awdb.port, dep.a.admin_port
    assert node is not None and dep.node.admin_port is not None and cti is not None
    targets = [
        ("node REST, SystemInfo (no credentials)", node, "GET /finesse/api/SystemInfo", 200),
        ("node REST, a desktop resource", node, "GET /desktop/resources/bundle0.js", 200),
        ("node REST, PUT User without credentials", node, "PUT /finesse/api/User/1000", 401),
        ("node control plane, health", dep.node.admin_port, "GET /emu/health", 200),
        ("AWDB query API", awdb, "GET /awdb/v1/ping", None),  # 200, or 401 once it takes a login
        ("AWDB control plane", dep.awdb.admin_port, "GET /emu/health", 200),
        ("CTI control plane", cti, "GET /emu/health", 200),
        ("swarm control", swarm_port, "GET /metrics", 200),
    ]
    try:
        for name, port, request, expected in targets:
            assert port is not None, name
            method, path = request.split()
            head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip"
            cpu = time.process_time()
            status, _ = await send_raw(HOST, port, head, bomb)
            spent = time.process_time() - cpu
            assert status == expected or (expected is None and status in (200, 401)), (name, status)
            assert spent < CPU_BUDGET, f"{name}: {spent:.3f} s of CPU for a body nobody reads"
    finally:
        await runner.cleanup()
    # Still serving, as before the bombs.
    status, _, _ = await dep.call("GET", "/User/1000")
    assert status == 200


async def test_put_user_inflates_a_compressed_body_only_up_to_64_kib(dep: Deployment) -> None:
    port = dep.node.http_port
    assert port is not None
    auth = basic("1001")["Authorization"]

    async def put(body: bytes, encoding: str, user: str = "1001") -> tuple[int, str, str]:
        head = f"PUT /finesse/api/User/{user} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
        head += f"Content-Type: application/xml\r\nContent-Encoding: {encoding}"
        status, payload = await send_raw(HOST, port, head, [body])
        doc = DET.fromstring(payload) if payload else None
        kind = "" if doc is None else doc.findtext("ApiError/ErrorType") or ""
        message = "" if doc is None else doc.findtext("ApiError/ErrorMessage") or ""
        return status, kind, message

    sign_in = b"<User><state>LOGIN</state><extension>2001</extension></User>"
    assert (await put(gzip(sign_in), "gzip"))[0] == 202  # a small gzip body works
    ready = b"<User><state>READY</state></User>"
    assert (await put(zlib.compress(ready), "deflate"))[0] == 202  # RFC 9110 deflate (zlib)
    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    not_ready = b"<User><state>NOT_READY</state></User>"
    body = raw_deflate.compress(not_ready) + raw_deflate.flush()
    assert (await put(body, "DEFLATE"))[0] == 202  # raw DEFLATE, as many clients send it
    assert (await put(gzip(ready), "x-gzip, identity"))[0] == 202
    # Inflating past the cap: 413, whatever follows the cap (10 MiB of zeros is 10 KB of gzip).
    at_cap = ready.ljust(X.MAX_BODY_BYTES)
    assert (await put(gzip(at_cap), "gzip"))[0] == 202  # exactly 64 KiB inflated is read
    over = gzip(ready.ljust(X.MAX_BODY_BYTES + 1))
    assert await put(over, "gzip") == (
        413,
        "Request Entity Too Large",
        "Request body exceeds 65536 bytes once inflated",
    )
    assert (await put(gzip(bytes(10 * 1024 * 1024)), "gzip"))[0] == 413
    # Unknown or stacked codings: 415; a body that is not what it says: 400.
    status, kind, _ = await put(ready, "br")
    assert (status, kind) == (415, "Unsupported Media Type")
    assert (await put(gzip(gzip(ready)), "gzip, gzip"))[0] == 415
    assert (await put(gzip(ready)[:-6], "gzip"))[:2] == (400, "Bad Request")  # truncated
    assert (await put(gzip(ready) + b"junk", "gzip"))[:2] == (400, "Bad Request")
    assert (await put(gzip(ready) + gzip(b""), "gzip"))[0] == 202  # two members: one document
    assert dep.node.model.user("1001").state == "READY"


async def test_control_planes_read_a_compressed_body_up_to_their_cap(dep: Deployment) -> None:
    port = dep.node.admin_port
    assert port is not None
    head = f"POST /emu/faults HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
    head += "Content-Type: application/json\r\nContent-Encoding: gzip"
    status, payload = await send_raw(HOST, port, head, [gzip(b'{"kind": "no_such_fault"}')])
    assert status == 400 and "unknown fault kind 'no_such_fault'" in json.loads(payload)["error"]
    big = json.dumps({"kind": "x" * 70_000}).encode()
    status, payload = await send_raw(HOST, port, head, [gzip(big)])
    assert status == 413 and "inflated" in json.loads(payload)["error"]
    status, payload = await send_raw(HOST, port, head.replace(": gzip", ": zstd"), [big[:100]])
    assert status == 415 and "zstd" in json.loads(payload)["error"]
    # The swarm's browser actions: a 4 KiB cap.
    swarm = Swarm(SwarmConfig(endpoints={}, agents=[], timers=Timers.build(0.05)))
    runner, swarm_port = await serve_control(swarm, HOST, 0, TOKEN)
    try:
        head = f"POST /emu/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        head += "Content-Encoding: gzip"
        action = {"action": "refresh", "agent": "1000"}
        status, payload = await send_raw(HOST, swarm_port, head, [gzip(json.dumps(action).encode())])
        assert status == 400 and "no desktop of agent" in json.loads(payload)["error"]
        status, _ = await send_raw(
            HOST, swarm_port, head, [gzip(json.dumps({**action, "x": " " * 5000}).encode())]
        )
        assert status == 413
    finally:
        await runner.cleanup()
    assert dep.node.faults.active() == []


def test_every_server_is_made_by_app_runner() -> None:
    """A server built with aiohttp's own AppRunner would inflate bodies again: only
    emu_base.httpbody.app_runner may call it."""
    offenders = []
    for path in sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("AppRunner", "run_app", "Server") and path.name != "httpbody.py":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not offenders, offenders
