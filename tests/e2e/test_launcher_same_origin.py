"""``finesse-emu up`` with a deployment file that names a gadget folder, allowed origins and voice-only
agents: every process gets its part (the nodes, both Prosodys, the CTI stubs and AWDBs), and
``finesse-emu cors`` changes the running nodes. The same deployment shows ``--config`` itself: agent
count, time scale, network and CTI LOAD from the file, a flag (``--agents``) winning over it.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from emu_base.procs import run_cli

pytestmark = pytest.mark.e2e
NETWORK = "127.0.65"
PAGE = "http://127.0.0.9:8000"


def request(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_a_deployment_with_a_folder_origins_and_the_default_voice_only_agents(tmp_path: Path) -> None:
    (tmp_path / "gadgets").mkdir()
    (tmp_path / "gadgets" / "index.html").write_text("<!doctype html><title>sample</title>")
    config = tmp_path / "deployment.yaml"
    config.write_text(
        f"agents: 6\ntime_scale: 0.05\nnetwork: {NETWORK}\ncti: {{load: 1}}\n"
        f"finesse: {{thirdparty_dir: gadgets, cors_origins: ['{PAGE}']}}\n"
    )
    run_dir = tmp_path / "run"
    up = run_cli("up", "--detach", "--config", str(config), "--run-dir", str(run_dir), "--agents", "7")
    node = f"http://{NETWORK}.7:8082"
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status, headers, body = request(f"{node}/3rdpartygadget/files/index.html")
        assert status == 200 and "sample" in body and headers["Content-Type"].startswith("text/html")
        preflight = {"Origin": PAGE, "Access-Control-Request-Method": "PUT"}
        status, headers, _ = request(f"{node}/finesse/api/User/1001", "OPTIONS", **preflight)
        assert status == 200 and headers["Access-Control-Allow-Origin"] == PAGE
        # Prosody's BOSH has the same list (the deployment file's, at its start).
        bosh = f"http://{NETWORK}.7:7071/http-bind"
        for origin, allowed in ((PAGE, PAGE), ("http://127.0.0.10:8000", None)):
            asked = {"Origin": origin, "Access-Control-Request-Method": "POST"}
            _, headers, _ = request(bosh, "OPTIONS", **asked)
            assert headers.get("Access-Control-Allow-Origin") == allowed
        # The default directory is voice-only: the AWDB the node loaded it from has no non-voice MRD.
        auth = "Basic " + base64.b64encode(b"1001:pass1001").decode()
        status, _, media = request(f"{node}/finesse/api/User/1001/Media", Authorization=auth)
        assert status == 200 and "<id>1</id>" in media and "5000" not in media and "5001" not in media
        state = json.loads((run_dir / "deployment.json").read_text())
        cti = next(c for c in state["components"] if c["name"] == "cti-a")["command"]
        assert cti[cti.index("--agents") + 1] == "7"  # generated, by every component; the flag wins
        assert cti[cti.index("--load") + 1] == "1"  # the file's CTI LOAD
        report = json.loads(run_cli("status", "--json", "--run-dir", str(run_dir)).stdout)
        node_a = next(c for c in report["components"] if c["name"] == "finesse-a")
        assert node_a["host"] == f"{NETWORK}.7" and node_a["state"] == "IN_SERVICE"
        bad = run_cli("up", "--config", str(tmp_path / "missing.yaml"), "--run-dir", str(tmp_path / "other"))
        assert bad.returncode == 2 and "missing.yaml" in bad.stderr
        # finesse-emu cors, live on both nodes.
        done = run_cli("cors", "remove", PAGE, "--run-dir", str(run_dir))
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["finesse-a: (none: CORS off)", "finesse-b: (none: CORS off)"]
        status, headers, _ = request(f"{node}/finesse/api/User/1001", "OPTIONS", **preflight)
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
    finally:
        run_cli("down", "--run-dir", str(run_dir))
