"""TLS a client can verify (attack report finding 7: the node's certificate had CN = IP and no
subjectAltName, so Python, Java and browsers refused it even when trusted).

``finesse-emu up`` makes the deployment's CA and each node's certificate in the run directory and
prints where the CA is; a client that trusts it verifies each node's HTTPS port by address and by
name, with Python's default checks (chain and host name). A node started alone, without
certificate files, makes its own CA and logs where it is.
"""

from __future__ import annotations

import json
import socket
import ssl
import stat
from pathlib import Path

import pytest
import yaml

from emu_base.procs import Proc, free_port, run_cli
from finesse_emu.deployment.topology import FINESSE_HTTPS_PORT
from tests.e2e import shared
from tests.helpers import eventually_blocking

pytestmark = pytest.mark.e2e
NETWORK = shared.NETWORK
SECRET_FILES = ["admin-token", "xmpp-password", "awdb-password", "ca.key", "finesse-a.key", "finesse-b.key"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def client_context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default: the extensions must be right
    return context


def https_get(host: str, port: int, server_hostname: str, context: ssl.SSLContext) -> bytes:
    """GET SystemInfo over TLS from host:port, the certificate checked for ``server_hostname``."""
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        request = (
            f"GET /finesse/api/SystemInfo HTTP/1.1\r\nHost: {server_hostname}\r\nConnection: close\r\n\r\n"
        )
        tls.sendall(request.encode())
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_verified(host: str, port: int, ca_file: Path, names: list[str]) -> None:
    context = client_context(ca_file)
    for name in names:
        answer = https_get(host, port, name, context)
        assert answer.startswith(b"HTTP/1.1 200") and b"<SystemInfo>" in answer, (name, answer[:200])
    with pytest.raises(ssl.SSLCertVerificationError):  # not without the CA: verification is on
        https_get(host, port, names[0], ssl.create_default_context())


def test_up_makes_a_ca_clients_verify_the_nodes_with(shared_deployment: Path) -> None:
    """On the shared deployment (tests/e2e/shared.py). That the CA and the certificates outlive
    ``down`` (the next ``up`` keeps them) is checked by test_launcher's test_up_status_kill_and_down."""
    run_dir = shared_deployment
    up_output = (run_dir.parent / shared.UP_OUTPUT).read_text()  # up's stdout and stderr
    ca_file = (run_dir / "ca.crt").absolute()
    assert f"the deployment's CA {ca_file}" in up_output
    assert (
        f"curl --cacert {ca_file} https://{NETWORK}.7:{FINESSE_HTTPS_PORT}/finesse/api/SystemInfo"
        in up_output
    )
    st = run_cli("status", "--run-dir", str(run_dir))
    assert st.returncode == 0 and f"the deployment's CA {ca_file}" in st.stdout
    report = json.loads(run_cli("status", "--json", "--run-dir", str(run_dir)).stdout)
    assert report["ca_file"] == str(ca_file)
    state = json.loads((run_dir / "deployment.json").read_text())
    assert state["ca_file"] == str(ca_file)
    assert state["xmpp_password_file"] == str(ca_file.parent / "xmpp-password")
    assert state["awdb_password_file"] == str(ca_file.parent / "awdb-password")
    # Secrets 0600, certificates 0644, the node configs (which name the keys) 0600.
    assert {n: mode(run_dir / n) for n in SECRET_FILES} == dict.fromkeys(SECRET_FILES, 0o600)
    assert {mode(run_dir / n) for n in ("ca.crt", "finesse-a.crt", "finesse-b.crt")} == {0o644}
    for node in ("finesse-a", "finesse-b"):
        config = run_dir / f"{node}.yaml"
        assert mode(config) == 0o600
        assert yaml.safe_load(config.read_text())["ca_file"] == str(ca_file)
    # Never printed: not by up, not by status.
    for secret in ("xmpp-password", "awdb-password"):
        value = (run_dir / secret).read_text().strip()
        assert value not in up_output + st.stdout
    # Python's ssl with the deployment's CA: each node by address and by name.
    assert_verified(f"{NETWORK}.7", FINESSE_HTTPS_PORT, ca_file, [f"{NETWORK}.7", "finesse-a"])
    assert_verified(f"{NETWORK}.8", FINESSE_HTTPS_PORT, ca_file, [f"{NETWORK}.8", "finesse-b"])
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):  # finesse-a's is not b's
        https_get(f"{NETWORK}.7", FINESSE_HTTPS_PORT, "finesse-b", client_context(ca_file))


def test_a_node_started_alone_makes_its_ca_and_logs_where_it_is(tmp_path: Path) -> None:
    """python -m finesse_emu.server with a config that names no certificate still serves HTTPS."""
    port, nowhere = free_port(), free_port()  # nothing listens on nowhere: no CTI, no AWDB
    config = tmp_path / "node.yaml"
    config.write_text(
        yaml.safe_dump(
            {"name": "finesse-a", "host": "127.0.0.1", "http_port": -1, "https_port": port, "admin_port": -1,
             "run_dir": str(tmp_path / "run"), "cti_sides": [["A", "127.0.0.1", nowhere]],
             "awdb_urls": [f"http://127.0.0.1:{nowhere}"]}
        )
    )  # fmt: skip
    proc = Proc("finesse-a", ["-m", "finesse_emu.server", "--config", str(config)], tmp_path / "node.log")
    try:

        def started() -> bool:
            assert proc.popen.poll() is None, "\n".join(proc.log_lines())  # exited: fail at once
            return any('"finesse_started"' in line for line in proc.log_lines())

        eventually_blocking(started, "the node logs finesse_started", within=30)
        logged = [json.loads(line) for line in proc.log_lines() if '"finesse_tls_ca"' in line]
        assert len(logged) == 1, proc.log_lines()
        ca_file = tmp_path / "run" / "ca.crt"
        assert logged[0]["ca_file"] == str(ca_file.absolute())
        assert mode(tmp_path / "run" / "ca.key") == mode(tmp_path / "run" / "finesse-a.key") == 0o600
        assert_verified("127.0.0.1", port, ca_file, ["127.0.0.1", "finesse-a"])
    finally:
        proc.stop()
