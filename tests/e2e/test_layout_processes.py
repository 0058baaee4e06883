"""The 8 vCPU recommendation and the CUIC gadget URL rewrite on a Finesse node process.

Cisco's *Finesse Failover Mechanisms*: "Deployments with 2000 active users and configuring more
than eight XML-gadgets per user on average, or more than six JSP-based gadgets per user on average,
are recommended to deploy Cisco Finesse OVA with 8 vCPUs." A node process with 2000 users in its
AWDB, seven CUIC JSP gadgets per user and 4 vCPUs prints the warning and shows it in its health;
``finesse-emu layout update-cuic-gadget-url`` turns them into XML gadgets, and the warning goes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from emu_base.procs import Proc, free_port, wait_health
from tests.e2e.test_launcher import emu
from tests.helpers import eventually

HOST = "127.0.0.1"
pytestmark = pytest.mark.e2e


async def health(admin: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"http://{HOST}:{admin}/emu/health") as resp:
        data: dict[str, Any] = await resp.json()
        return data


async def put_layout(url: str, layout: dict[str, int]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.put(f"{url}/emu/layout", json={"layout": layout}) as resp,
    ):
        assert resp.status == 200
        data: dict[str, Any] = await resp.json()
        return data


@pytest.fixture(scope="module")
def awdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """One AWDB process with 2000 users for both nodes (they only read it): (port, admin port)."""
    workdir = tmp_path_factory.mktemp("awdb")
    port, admin = free_port(), free_port()
    proc = Proc(
        "awdb-a",
        ["-m", "awdb_stub", "--host", HOST, "--port", str(port), "--admin-port", str(admin),
         "--agents", "2000"],
        workdir / "awdb-a.log",
    )  # fmt: skip
    try:
        yield port, admin
    finally:
        proc.stop()


def warnings_logged(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [e for e in lines if e.get("event") == "finesse_capacity_recommendation"]


async def test_the_node_warns_at_2000_users_with_seven_jsp_gadgets_until_they_are_xml(
    tmp_path: Path, awdb: tuple[int, int]
) -> None:
    awdb_port, awdb_admin = awdb
    http_port, admin_port = free_port(), free_port()
    config = {
        "name": "finesse-a",
        "host": HOST,
        "http_port": http_port,
        "https_port": -1,
        "admin_port": admin_port,
        "cti_sides": [["A", HOST, free_port()], ["B", HOST, free_port()]],  # none listening: no CTI
        "awdb_urls": [f"http://{HOST}:{awdb_port}"],
        "run_dir": str(tmp_path / "finesse-a"),
        "layout": {"cuic_jsp": 7},
        "vcpus": 4,
    }
    (tmp_path / "finesse-a.yaml").write_text(yaml.safe_dump(config))
    node_log = tmp_path / "finesse-a.log"
    node = Proc(
        "finesse-a", ["-m", "finesse_emu.server", "--config", str(tmp_path / "finesse-a.yaml")], node_log
    )
    try:
        await wait_health(HOST, awdb_admin, "up")
        await wait_health(HOST, admin_port, timeout=30)
        shown = await eventually(
            lambda: health(admin_port),
            "the node's directory loaded",
            until=lambda h: h["config_loaded"],
            within=60,
        )
        layout = shown["layout"]
        assert layout["users"] == 2000 and layout["jsp_gadgets_per_user"] == 7 and layout["vcpus"] == 4
        assert "8 vCPUs" in layout["capacity_warning"]
        logged = await eventually(lambda: warnings_logged(node_log), "the warning in the node's log")
        assert len(logged) == 1 and logged[0]["level"] == "warning" and "8 vCPUs" in logged[0]["message"]

        url = f"http://{HOST}:{admin_port}"
        done = emu("layout", "show", "--admin-url", url)
        assert done.returncode == 0, done.stderr
        assert "WARNING: 2000 users with 0 XML and 7 JSP gadgets per user" in done.stdout

        done = emu("layout", "update-cuic-gadget-url", "--admin-url", url)
        assert done.returncode == 0, done.stderr
        assert "CUIC gadget URLs changed from JSP to XML: 7" in done.stdout
        assert "WARNING" not in done.stdout  # seven XML gadgets: not more than eight
        layout = (await health(admin_port))["layout"]
        assert layout["default"] == [f"/desktop/gadgets/xml/cuic{i}" for i in range(7)]
        assert layout["capacity_warning"] is None and layout["xml_gadgets_per_user"] == 7

        # A layout change that crosses it again is logged again (nine XML gadgets).
        assert (await put_layout(url, {"xml": 9}))["capacity_warning"] is not None
        assert "more than 8 XML gadgets" in (await health(admin_port))["layout"]["capacity_warning"]
        await eventually(lambda: warnings_logged(node_log), "a second warning", until=lambda w: len(w) == 2)
        # A configuration the recommendation does not cover: the node says nothing.
        assert (await put_layout(url, {"xml": 8, "cuic_jsp": 6}))["capacity_warning"] is None
    finally:
        node.stop()


async def test_the_node_does_not_warn_with_8_vcpus(tmp_path: Path, awdb: tuple[int, int]) -> None:
    """The same users and gadgets on the recommended OVA: no warning."""
    awdb_port, awdb_admin = awdb
    admin_port = free_port()
    config = {
        "host": HOST,
        "http_port": 0,
        "https_port": -1,
        "admin_port": admin_port,
        "cti_sides": [["A", HOST, free_port()]],
        "awdb_urls": [f"http://{HOST}:{awdb_port}"],
        "run_dir": str(tmp_path / "finesse-a"),
        "layout": {"cuic_jsp": 7},
        "vcpus": 8,
    }
    (tmp_path / "finesse-a.yaml").write_text(yaml.safe_dump(config))
    node_log = tmp_path / "finesse-a.log"
    node = Proc(
        "finesse-a", ["-m", "finesse_emu.server", "--config", str(tmp_path / "finesse-a.yaml")], node_log
    )
    try:
        await wait_health(HOST, awdb_admin, "up")
        await wait_health(HOST, admin_port, timeout=30)
        shown = await eventually(
            lambda: health(admin_port), "the directory loaded", until=lambda h: h["config_loaded"], within=60
        )
        assert shown["layout"]["users"] == 2000 and shown["layout"]["capacity_warning"] is None
        assert warnings_logged(node_log) == []
    finally:
        node.stop()
