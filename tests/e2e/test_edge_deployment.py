"""The client-path proxy in a deployment (finesse_emu/edge/): ``finesse-emu up`` puts each node
behind its proxy; a REST client of finesse-a sees ``finesse-emu chaos latency finesse-a --port rest``
(the latency added within 10%, measured against the same requests before the fault) and ``chaos
reset`` (ECONNRESET), finesse-b does not, ``chaos heal finesse-a`` heals it; the node keeps its public
address in SystemInfo; a killed node leaves its proxy listening, which resets its clients at once.

On 127.0.103 (no other test uses it). The latency is one second, so that the 10% bound (100 ms) is
far above a loaded machine's noise on a local GET.
"""

from __future__ import annotations

import json
import socket
import statistics
import time
from pathlib import Path

import pytest

from emu_base.procs import pid_alive, run_cli

pytestmark = pytest.mark.e2e
NETWORK = "127.0.103"
A, B = f"{NETWORK}.7", f"{NETWORK}.8"


def get_system_info(host: str) -> tuple[float, bytes]:
    """GET SystemInfo over a new connection: (seconds, the answer)."""
    start = time.monotonic()
    with socket.create_connection((host, 8082), timeout=10) as s:
        s.sendall(
            f"GET /finesse/api/SystemInfo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return time.monotonic() - start, b"".join(chunks)


def median_get(host: str, n: int = 3) -> float:
    times = []
    for _ in range(n):
        seconds, answer = get_system_info(host)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        times.append(seconds)
    return statistics.median(times)


def chaos(run_dir: Path, *args: str) -> str:
    done = run_cli("chaos", *args, "--run-dir", str(run_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_rest_client_sees_the_client_path_faults_of_one_node_and_their_heal(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    up = run_cli(
        "up", "--detach", "--run-dir", str(run_dir), "--agents", "5", "--time-scale", "0.05",
        "--network", NETWORK,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        report = json.loads(run_cli("status", "--json", "--run-dir", str(run_dir)).stdout)
        edges = {c["name"]: c for c in report["components"] if c["role"] == "edge"}
        assert set(edges) == {"edge-a", "edge-b"} and edges["edge-a"]["host"] == A
        assert edges["edge-a"]["ports"]["rest"] == 8082 and edges["edge-a"]["state"] == "up"
        _, answer = get_system_info(A)
        # Known by its public address, although it listens behind the proxy.
        assert f"<xmppDomain>{A}</xmppDomain>".encode() in answer and f"<host>{A}</host>".encode() in answer

        base_a, base_b = median_get(A), median_get(B)
        said = chaos(run_dir, "latency", "finesse-a", "--ms", "1000", "--port", "rest")
        assert "edge-a" in said
        added = median_get(A) - base_a
        assert 0.9 <= added / 1.0 <= 1.1, added
        assert median_get(B) - base_b < 0.5  # the other node is untouched

        chaos(run_dir, "reset", "finesse-a", "--port", "rest")
        with pytest.raises(ConnectionResetError):
            get_system_info(A)

        assert "fault(s) cleared" in chaos(run_dir, "heal", "finesse-a")
        assert median_get(A) - base_a < 0.5

        # The proxy outlives its node: a connection to the killed node is reset at once.
        chaos(run_dir, "kill", "finesse-a")
        with pytest.raises(ConnectionResetError):
            get_system_info(A)
        assert pid_alive(edges["edge-a"]["pid"])
    finally:
        down = run_cli("down", "--run-dir", str(run_dir))
        assert down.returncode == 0, down.stdout + down.stderr
