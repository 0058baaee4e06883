"""finesse_emu.testing's Deployment over real processes: a free /24 of the tests' range, attach,
faults of any kind by component name, client-path faults reaching the nodes' proxies, a REST fault
rule and the journal showing it, a frozen Prosody and a killed AWDB, a swarm, healing (proxies
and journal too), and a teardown that leaves nothing listening."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import aiohttp
import psutil
import pytest

from emu_base.procs import port_in_use
from finesse_emu.deployment.launcher import STATE_FILE
from finesse_emu.testing import Deployment, DeploymentError
from finesse_emu.testing.network import FIRST, LAST

pytestmark = pytest.mark.e2e


# A user's test run by the plugin with --finesse-emu-attach against this test's deployment: client-path
# and REST faults through the fixture, the blocking journal; the plugin heals them after it.
ATTACHED_TEST = """
import urllib.error
import urllib.request

import pytest


def test_faults_and_the_journal_through_the_attached_fixture(finesse_deployment):
    d = finesse_deployment
    assert d.journal.entries() == []  # emptied when the session attached
    reset = d.client_fault("finesse-a", "reset", port="xmpp")
    assert [f["id"] for f in d.faults("edge-a")] == [reset]
    rule = d.rest_rule("finesse-b", "/finesse/api/SystemInfo", status=418)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(d.addresses.subscriber.rest_http + "/finesse/api/SystemInfo", timeout=10)
    assert refused.value.code == 418
    found = d.journal.verify("GET", "/finesse/api/SystemInfo", count=1, status=418, node="finesse-b")
    assert found[0]["fault"] == rule
"""


async def test_a_deployment_heals_what_a_test_broke_and_stops_leaving_nothing_listening(
    tmp_path: Path,
) -> None:
    d = await Deployment.start(agents=6, time_scale=0.1)
    try:
        assert FIRST <= int(d.network.rsplit(".", 1)[1]) <= LAST
        listening = [(n.host, 8082) for n in d.addresses.nodes.values()]
        listening += [(c.host, c.port) for c in (*d.addresses.cti.values(), *d.addresses.awdb.values())]
        attached = Deployment.attach(d.run_dir)
        # The whole directory, not the five sample agents `status` shows: deployment.json names its spec.
        assert (
            [a.id for a in attached.agents] == [a.id for a in d.agents] == [str(1000 + i) for i in range(6)]
        )
        assert attached.addresses == d.addresses
        assert await d.system_info_status("finesse-a") == "IN_SERVICE" and await d.cti_active() == "cti-a"

        swarm = await d.swarm(2)
        await d.wait_until(swarm.signed_in, "both desktops signed in", until=lambda n: n == 2, timeout=30)
        await d.wait_agent_state("1000", "NOT_READY")

        fault = await d.inject("cti-a", "ignore_heartbeats")
        assert [f["id"] for f in await d.faults("cti-a")] == [fault]
        with pytest.raises(DeploymentError, match="unknown fault kind 'no_such_kind'"):
            await d.inject("cti-a", "no_such_kind")
        await d.hang("xmpp-b")
        xmpp_b = psutil.Process(next(c["pid"] for c in d.state()["components"] if c["name"] == "xmpp-b"))
        await d.wait_until(xmpp_b.status, "xmpp-b frozen", until=lambda s: s == psutil.STATUS_STOPPED)
        await d.kill("awdb-b")
        assert d.down_components() == ["awdb-b"]

        # The client's path: a latency on finesse-a's REST port is its proxy's (edge-a), seen from a
        # client; the node itself has none. Only a lower bound: the added 0.4 s can only add.
        rest_a, agent = d.addresses.publisher.rest_http, d.agent("1005")
        async with aiohttp.ClientSession() as http:

            async def get(path: str) -> tuple[int, float]:
                start = time.monotonic()
                async with http.get(f"{rest_a}/finesse/api/{path}", headers=agent.authorization) as r:
                    await r.read()
                    return r.status, time.monotonic() - start

            latency = await d.inject("finesse-a", "client_latency", ms=400, port="rest")
            assert d.client_proxy("finesse-a") == "edge-a"
            assert [f["id"] for f in await d.faults("edge-a")] == [latency] and await d.faults(
                "finesse-a"
            ) == []
            status, took = await get("SystemInfo")
            assert status == 200 and took >= 0.4, took
            # The verb as `finesse-emu chaos` has it goes to edge-b, and is healed there too.
            await d.chaos("bandwidth", "finesse-b", 50)
            assert [f["kind"] for f in await d.faults("edge-b")] == ["client_bandwidth"]
            with pytest.raises(DeploymentError, match="no client-path fault 'jitter'"):
                await d.client_fault("finesse-a", "jitter")

            # A REST fault rule answers as configured, and the journal names it.
            rule = await d.rest_rule("finesse-a", "/finesse/api/User/1005", method="GET", status=503, count=1)
            assert (await get("User/1005"))[0] == 503
            assert (await get("User/1005"))[0] == 200  # count=1: it fired once
            faulted = await d.journal.verify(
                "GET", "/finesse/api/User/1005", count=1, status=503, node="finesse-a"
            )
            assert faulted[0]["fault"] == rule and faulted[0]["agent"] == "1005"
            await d.rest_rule("finesse-a", "/finesse/api/User/1005", status=500)  # until healed

            await d.heal()
            assert await d.faults("edge-a") == await d.faults("edge-b") == await d.faults("finesse-a") == []
            assert await d.journal.entries() == []  # emptied: the next test sees its own traffic
            assert (await get("User/1005"))[0] == 200  # the rule left with the heal
            await d.journal.verify("GET", "/finesse/api/User/1005", count=1, status=200)

        assert await d.faults("cti-a") == []
        assert d.down_components() == [] and await d.health("awdb-b") is not None
        await d.wait_until(xmpp_b.status, "xmpp-b resumed", until=lambda s: s != psutil.STATUS_STOPPED)
        assert all(c._closed for c in swarm.clients) and d.healing.clean  # the swarm stopped
        with pytest.raises(AssertionError, match=r"not within 0.2 s: four; last value seen: 3"):
            await d.wait_until(lambda: 3, "four", until=lambda v: v == 4, timeout=0.2)
        await attached.close()  # an attached deployment is healed, never stopped
        assert await d.system_info_status("finesse-b") == "IN_SERVICE"

        # The plugin attached to this deployment: its fixture's faults are healed after the test,
        # on the node and on the proxy, and the deployment is left running.
        (tmp_path / "pytest.ini").write_text("[pytest]\n")
        (tmp_path / "test_attached.py").write_text(ATTACHED_TEST)
        # The plugin named, and no other: the environment's own take seconds to load on a busy machine.
        plugin = ["-p", "finesse_emu.testing.plugin", "--finesse-emu-attach", str(d.run_dir)]
        env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *["-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin],
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
        assert proc.returncode == 0 and "1 passed" in out, out[-3000:]
        assert await d.faults("edge-a") == await d.faults("finesse-b") == []
        assert await d.system_info_status("finesse-b") == "IN_SERVICE"
    finally:
        await d.close()
    assert not (d.run_dir / STATE_FILE).exists()
    assert [hp for hp in listening if port_in_use(*hp)] == []
