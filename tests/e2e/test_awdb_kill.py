"""Two real AWDB stub processes (SIGKILL): the primary, then both. One pair serves both readers:
Finesse's authentication (an Authenticator in this process, at time_scale 1: its 30-minute cache
outlives the test) and the administration API (issue 17) of a Finesse node in this process whose
CTI servers are nowhere (its administration API answers out of service: the console is how a node
gets them).

The Finesse Failover Mechanisms chapter, AWDB Failover: "If Cisco Finesse loses connection to the
primary Administration & Data server ... it tries to reconnect to the secondary server"; "that user
continues to be authenticated until 30 minutes pass, even if both AWDBs are down"; and
"Administrators cannot update or retrieve settings in the Cisco Finesse administration console"
once both AWDBs are down and the credentials have left the cache. The node's credential cache is
20 emulated seconds here, 1 s of real time at time_scale 0.05."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from emu_base.directory import AgentRecord, dump, generate
from emu_base.procs import Proc, free_port, wait_health
from emu_base.timers import Timers
from finesse_emu.server.auth import Authenticator, AuthError, AuthReason, AwdbClient
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.node import FinesseNode
from tests.helpers import eventually

HOST = "127.0.0.1"
pytestmark = pytest.mark.e2e
ADMIN = AgentRecord(id="9000", login="admin", password="pass9000", extension="9000", admin=True)
AUTH = {"Authorization": "Basic " + base64.b64encode(b"9000:pass9000").decode()}


def awdb(name: str, workdir: Path, agents: Path, port: int = 0) -> tuple[Proc, int, int]:
    port, admin = port or free_port(), free_port()
    argv = [
        "-m",
        "awdb_stub",
        "--name",
        name,
        "--host",
        HOST,
        "--port",
        str(port),
        "--admin-port",
        str(admin),
    ]
    return Proc(name, [*argv, "--agents", str(agents)], workdir / f"{name}.log"), port, admin


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_primary_killed_then_both_killed_and_the_administrator_is_refused_once_the_cache_expires(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    agents = tmp_path / "agents.yaml"
    agents.write_text(dump([*generate(5), ADMIN]))
    (a, a_port, a_admin), (b, b_port, b_admin) = (
        awdb("awdb-a", tmp_path, agents),
        awdb("awdb-b", tmp_path, agents),
    )
    urls = [f"http://{HOST}:{a_port}", f"http://{HOST}:{b_port}"]
    config = NodeConfig(
        host=HOST,
        http_port=0,
        https_port=-1,
        admin_port=-1,
        cti_sides=[("A", HOST, free_port()), ("B", HOST, free_port())],  # nothing listens
        awdb_urls=urls,
    )
    node = FinesseNode(config, Timers.build(0.05, awdb_credential_cache=20.0))
    client = AwdbClient(urls, 1.0, ["awdb-a", "awdb-b"])
    auth = Authenticator(client, Timers.build(1.0))
    try:
        await wait_health(HOST, a_admin, "up")
        await wait_health(HOST, b_admin, "up")
        await node.start()
        url = f"http://{HOST}:{node.http_port}/finesse/api/SystemConfig"

        async def status() -> int:
            async with http.get(url, headers=AUTH) as resp:
                return resp.status

        assert await status() == 200  # out of service (no CTI), the console answers
        assert (await auth.authenticate("1000", "pass1000")).id == "1000"
        a.kill()
        a.popen.wait()
        # The kill is seen as a refused connection: the same request goes to the secondary.
        assert (await auth.authenticate("agent0002", "pass1001")).id == "1001"
        assert client.current == "awdb-b"
        b.kill()
        b.popen.wait()
        # "that user continues to be authenticated until 30 minutes pass, even if both AWDBs are down"
        assert (await auth.authenticate("1000", "pass1000")).id == "1000"
        assert (await auth.authenticate("1001", "pass1001")).id == "1001"
        with pytest.raises(AuthError) as err:
            await auth.authenticate("1002", "pass1002")
        assert err.value.reason is AuthReason.AWDB_UNAVAILABLE
        with pytest.raises(AuthError) as err:  # a wrong password is not rescued by the cache
            await auth.authenticate("1000", "wrong")
        assert err.value.reason is AuthReason.AWDB_UNAVAILABLE

        # The node's cached credentials (20 emulated seconds) hold, then expire; from then on, 401.
        await eventually(status, "the administrator refused", until=lambda s: s == 401, within=30)
        body = "<SystemConfig><cti><backupPort>44027</backupPort></cti></SystemConfig>"
        headers = {**AUTH, "Content-Type": "application/xml"}
        async with http.put(url, data=body, headers=headers) as resp:
            assert resp.status == 401
            assert b"Authorization Failure" in await resp.read()
        assert node.cti.sides[1].port == config.cti_sides[1][2]  # nothing changed
        assert node.stats["auth_awdb_unavailable"] >= 1
        # The primary back where the node looks: the administrator gets in again.
        a, _, a_admin = awdb("awdb-a", tmp_path, agents, a_port)
        await wait_health(HOST, a_admin, "up")
        await eventually(status, "the administrator back in", until=lambda s: s == 200, within=30)
    finally:
        await client.close()
        await node.stop()
        a.stop()
        b.stop()
