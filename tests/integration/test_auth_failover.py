"""Finesse authentication against two real AWDB stubs over 127.0.0.1: failover, cache, no stampede.

Cisco, "AWDB Failover": per-request failover to the secondary, 30-minute credential cache that holds
while both AWDBs are down, 401 once it has expired, and requests that may time out before the
failover is detected (a retry then succeeds).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from awdb_stub.db import AwdbDatabase
from awdb_stub.seed import SeedData
from awdb_stub.server import AwdbServer, ServerConfig
from emu_base.directory import generate
from emu_base.timers import Timers
from finesse_emu.server.auth import Authenticator, AuthError, AuthReason, AwdbClient
from tests.helpers import eventually

HOST = "127.0.0.1"
TIMEOUT = 0.3  # the per-request AWDB timeout in these tests


async def start(name: str) -> AwdbServer:
    db = AwdbDatabase()
    db.seed(SeedData(generate(30)))
    srv = AwdbServer(ServerConfig(name=name, host=HOST, port=0, admin_port=0), db)
    await srv.start()
    return srv


class Pair:
    def __init__(self, a: AwdbServer, b: AwdbServer, cache_seconds: float = 1800.0) -> None:
        self.a, self.b = a, b
        self.client = AwdbClient(
            [f"http://{HOST}:{a.port}", f"http://{HOST}:{b.port}"], TIMEOUT, ["awdb-a", "awdb-b"]
        )
        timers = Timers.build(1.0, awdb_credential_cache=cache_seconds, awdb_request_timeout=TIMEOUT)
        self.auth = Authenticator(self.client, timers)

    async def fault(self, srv: AwdbServer, kind: str, **params: Any) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://{HOST}:{srv.admin_port}/emu/faults", json={"kind": kind, **params}) as resp,
        ):
            assert resp.status == 201, await resp.text()

    async def heal(self, srv: AwdbServer) -> None:
        async with aiohttp.ClientSession() as http, http.delete(f"http://{HOST}:{srv.admin_port}/emu/faults"):
            pass


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    a, b = await start("awdb-a"), await start("awdb-b")
    p = Pair(a, b)
    yield p
    await p.client.close()
    for srv in (a, b):
        await srv.stop()
        srv.db.close()


async def test_primary_answers_by_id_and_login(pair: Pair) -> None:
    user = await pair.auth.authenticate("agent0002", "pass1001")
    assert (user.id, user.login, user.extension) == ("1001", "agent0002", "2001")
    assert pair.client.current == "awdb-a"
    with pytest.raises(AuthError) as err:
        await pair.auth.authenticate("1002", "wrong")
    assert err.value.reason is AuthReason.BAD_CREDENTIALS


async def test_refused_primary_fails_over_within_the_same_request_and_back(pair: Pair) -> None:
    await pair.fault(pair.a, "refuse")
    user = await pair.auth.authenticate("1003", "pass1003")
    assert user.id == "1003" and pair.client.current == "awdb-b"
    # Later requests go straight to the secondary; when it dies and the primary is back, back again.
    await pair.heal(pair.a)
    await pair.fault(pair.b, "refuse")
    assert (await pair.auth.authenticate("1004", "pass1004")).id == "1004"
    assert pair.client.current == "awdb-a"


async def test_server_error_on_primary_goes_to_the_secondary(pair: Pair) -> None:
    await pair.fault(pair.a, "error", status=500)
    assert (await pair.auth.authenticate("1005", "pass1005")).id == "1005"
    assert pair.client.current == "awdb-b"


async def test_hanging_primary_times_out_once_then_the_retry_succeeds(pair: Pair) -> None:
    await pair.fault(pair.a, "hang")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(AuthError) as err:
        await pair.auth.authenticate("1006", "pass1006")
    assert err.value.reason is AuthReason.AWDB_TIMEOUT
    assert TIMEOUT <= loop.time() - t0 < TIMEOUT + 0.5
    # "the user ... may need to retry the operation for it to succeed"
    assert (await pair.auth.authenticate("1006", "pass1006")).id == "1006"
    assert pair.client.current == "awdb-b"


async def test_cache_holds_with_both_awdbs_down_and_expires(pair: Pair) -> None:
    short = Pair(pair.a, pair.b, cache_seconds=0.5)
    loop = asyncio.get_running_loop()
    try:
        await short.auth.authenticate("1007", "pass1007")
        cached_at = loop.time()
        await short.fault(pair.a, "refuse")
        await short.fault(pair.b, "refuse")
        assert (await short.auth.authenticate("agent0008", "pass1007")).id == "1007"  # cached, by login too
        with pytest.raises(AuthError) as err:  # never cached, AWDBs down
            await short.auth.authenticate("1008", "pass1008")
        assert err.value.reason is AuthReason.AWDB_UNAVAILABLE

        async def outcome() -> str | AuthReason:
            try:
                return (await short.auth.authenticate("1007", "pass1007")).id
            except AuthError as exc:
                return exc.reason

        # Served from the cache until it expires (a hit does not extend it), then refused.
        reason = await eventually(
            outcome,
            "the cached entry of 1007 expired",
            until=lambda seen: seen != "1007",
            within=2.0,
            every=0.05,
        )
        assert reason is AuthReason.AWDB_UNAVAILABLE
        assert loop.time() - cached_at >= 0.5
    finally:
        await short.client.close()


async def test_concurrent_requests_during_failover_make_one_awdb_query(pair: Pair) -> None:
    await pair.fault(pair.a, "refuse")
    before = pair.b.stats["requests"]
    users = await asyncio.gather(*(pair.auth.authenticate("1009", "pass1009") for _ in range(100)))
    assert {u.id for u in users} == {"1009"}
    assert pair.b.stats["requests"] - before == 1
    assert pair.auth.awdb_lookups == 1
