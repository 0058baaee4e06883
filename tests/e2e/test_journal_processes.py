"""The journal and a REST fault rule through real processes: CTI A/B, an AWDB, Prosody and a
Finesse node (tests/e2e/test_finesse_processes.py's deployment), read with the Python client and
the deployment's token."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from finesse_emu.deployment.journal import Journal
from tests.conftest import ProsodyFactory
from tests.e2e.test_finesse_processes import ADMIN_TOKEN, HOST, auth, processes

pytestmark = pytest.mark.e2e


async def test_a_rule_and_the_journal_of_a_node_process(
    tmp_path: Path, prosody_factory: ProsodyFactory
) -> None:
    async with processes(tmp_path, prosody_factory) as dep, aiohttp.ClientSession() as http:
        admin = f"http://{HOST}:{dep.ports['adm']}"
        rule = {"kind": "rest_rule", "method": "PUT", "path": "/finesse/api/User/1003", "count": 1}
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with http.post(f"{admin}/emu/faults", json=rule, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            rule_id = (await resp.json())["id"]
        body = "<User><state>LOGIN</state><extension>2003</extension></User>"
        hdrs = {**auth("1003"), "Content-Type": "application/xml"}
        statuses = []
        for _ in range(2):
            async with http.put(f"{dep.base}/User/1003", data=body, headers=hdrs) as resp:
                statuses.append(resp.status)
        assert statuses == [503, 202]
        async with Journal.at({"finesse-a": admin}, ADMIN_TOKEN) as journal:
            faulted, passed = await journal.verify("PUT", "/finesse/api/User/1003", count=2, agent="1003")
            assert (faulted["status"], faulted["fault"]) == (503, rule_id)
            assert (passed["status"], passed["fault"]) == (202, None)
            updates = await journal.wait_for("notification", agent="1003", path="/finesse/api/User/1003")
            assert "<state>" in updates[0]["body"] and updates[0]["seq"] > passed["seq"]
