"""The Compose/Kubernetes Notification Service (``emu-prosody``, docker/prosody_entrypoint.py) with its
secure port, run for real: the container command line of ``xmpp-a`` (docker-compose.yml) on loopback
ports, with the secrets ``finesse-emu secrets`` writes into the ``secrets`` volume. XMPP over direct
TLS signs an agent in with the node's certificate, verified with the deployment's CA for the XMPP
domain; a client that trusts another CA, or a wrong password, is refused.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emu_base.procs import free_port, port_in_use, run_cli
from finesse_emu.xmpp.client import AuthenticationFailed, close, open_session
from tests.helpers import eventually_blocking
from tests.integration.test_secure_ports import tls_client

HOST = "127.0.0.1"
DOMAIN = "finesse-a"
ENTRYPOINT = Path(__file__).resolve().parents[2] / "docker" / "prosody_entrypoint.py"
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def secure_xmpp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    tmp = tmp_path_factory.mktemp("emu-prosody")
    secrets = tmp / "secrets"
    made = run_cli("secrets", str(secrets), "--nodes", DOMAIN, "--hosts", f"localhost,{HOST}")
    assert made.returncode == 0, made.stdout + made.stderr
    c2s, http, tls_port = free_port(HOST), free_port(HOST), free_port(HOST)
    # docker-compose.yml's xmpp-a command, on free loopback ports instead of the container's.
    argv = [
        *("--domain", DOMAIN, "--c2s-port", str(c2s), "--http-port", str(http)),
        *("--run-dir", str(tmp / "xmpp-a"), "--agents", "3"),
        *("--service-password-file", str(secrets / "xmpp-password")),
        *("--c2s-tls-port", str(tls_port)),
        *("--tls-cert", str(secrets / f"{DOMAIN}.crt"), "--tls-key", str(secrets / f"{DOMAIN}.key")),
        *("--bind", HOST),
    ]
    proc = subprocess.Popen([sys.executable, str(ENTRYPOINT), *argv])
    try:
        eventually_blocking(
            lambda: port_in_use(HOST, tls_port) or proc.poll() is not None, "the TLS port", within=30.0
        )
        assert proc.poll() is None, f"emu-prosody exited {proc.returncode}"
        yield tls_port, secrets / "ca.crt"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_direct_tls_signs_in_with_the_nodes_certificate(secure_xmpp: tuple[int, Path]) -> None:
    port, ca = secure_xmpp
    client = tls_client(f"1001@{DOMAIN}/tls", "pass1001", ssl.create_default_context(cafile=str(ca)))
    try:
        await open_session(client, HOST, port, TIMEOUT)
        assert client.is_connected()
        peer = client.transport.get_extra_info("peercert")
        assert peer is not None and ("DNS", DOMAIN) in peer["subjectAltName"]
    finally:
        await close(client, 2.0)


async def test_direct_tls_refuses_a_client_of_another_ca(secure_xmpp: tuple[int, Path]) -> None:
    port, _ = secure_xmpp
    stranger = tls_client(f"1001@{DOMAIN}/tls", "pass1001", ssl.create_default_context())
    with pytest.raises(ConnectionError):
        await open_session(stranger, HOST, port, TIMEOUT)


async def test_direct_tls_refuses_a_wrong_password(secure_xmpp: tuple[int, Path]) -> None:
    port, ca = secure_xmpp
    client = tls_client(f"1001@{DOMAIN}/tls", "pass1002", ssl.create_default_context(cafile=str(ca)))
    with pytest.raises(AuthenticationFailed):
        await open_session(client, HOST, port, TIMEOUT)


def test_the_secure_port_needs_its_certificate(tmp_path: Path) -> None:
    # The entrypoint refuses a TLS port without the certificate to serve on it (exit 2, no Prosody).
    done = subprocess.run(
        [
            *(sys.executable, str(ENTRYPOINT), "--domain", DOMAIN, "--run-dir", str(tmp_path)),
            *("--agents", "1", "--c2s-tls-port", "5223", "--print-config"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "tls_cert" in done.stderr
