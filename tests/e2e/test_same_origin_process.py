"""A Finesse node process started with ``--thirdparty-dir`` and ``--cors-origin``: its web port serves
the folder and answers the allowed origin's preflights, and its control plane changes the list live.

(No CTI server nor AWDB listening: the node stays OUT_OF_SERVICE, which neither the folder nor a preflight
depends on; the in-process tests in tests/integration/test_same_origin_cors.py cover the API side.)
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from emu_base.procs import Proc, free_port, wait_health

HOST = "127.0.0.1"
PAGE = "http://127.0.0.9:8000"
TOKEN = "e2e-token"
pytestmark = pytest.mark.e2e


async def test_a_node_process_hosts_the_folder_and_follows_its_allow_list(tmp_path: Path) -> None:
    folder = tmp_path / "gadgets"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>same origin</title>")
    (tmp_path / "token").write_text(TOKEN)
    http_port, admin_port = free_port(), free_port()
    # A CTI side and an AWDB nobody listens on: the node keeps trying them, OUT_OF_SERVICE.
    (tmp_path / "node.yaml").write_text(
        f"cti_sides: [[A, {HOST}, {free_port()}]]\nawdb_urls: [http://{HOST}:{free_port()}]\n"
    )
    argv = [
        "-m",
        "finesse_emu.server",
        "--config",
        str(tmp_path / "node.yaml"),
        "--host",
        HOST,
        "--http-port",
        str(http_port),
        "--https-port",
        "-1",
    ]
    argv += ["--admin-port", str(admin_port), "--admin-token-file", str(tmp_path / "token")]
    argv += ["--thirdparty-dir", str(folder), "--cors-origin", PAGE, "--run-dir", str(tmp_path / "run")]
    proc = Proc("finesse-a", argv, tmp_path / "finesse-a.log")
    preflight = {"Origin": PAGE, "Access-Control-Request-Method": "PUT"}
    api = f"http://{HOST}:{http_port}/finesse/api/User/1001"
    try:
        health = await wait_health(HOST, admin_port, timeout=20)
        assert health["cors_origins"] == [PAGE]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{HOST}:{http_port}/3rdpartygadget/files/index.html") as resp:
                assert resp.status == 200 and resp.content_type == "text/html"
                assert "same origin" in await resp.text()
            async with http.options(api, headers=preflight) as resp:
                assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == PAGE
            control = f"http://{HOST}:{admin_port}/emu/cors"
            async with http.put(control, json={"origins": []}) as resp:
                assert resp.status == 401  # the control plane's token
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            async with http.put(control, json={"origins": []}, headers=bearer) as resp:
                assert resp.status == 200
            async with http.options(api, headers=preflight) as resp:
                assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
    finally:
        proc.stop()
