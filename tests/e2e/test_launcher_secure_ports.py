"""``finesse-emu up`` with each Finesse release: the secure notification ports its processes listen
on, verified with the deployment's CA, and the SystemInfo that names them (docs/finesse.md, "Ports").

12.5: XMPP over direct TLS on 5223 and https (BOSH, wss, the EventTunnel page) on 7443, no web-port
WebSocket, SystemInfo's node elements with <host> only. 12.6 (the default): 5223, the WebSocket
through the node's 8445, nothing on 7443, SystemInfo naming httpsPort, xmppPort and xmppSecurePort.
12.5 on a deployment of its own; the default release is the shared deployment's (tests/e2e/shared.py).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from pathlib import Path

import aiohttp
import pytest
from defusedxml import ElementTree as DET

from emu_base.procs import port_in_use, run_cli
from tests.e2e import shared

pytestmark = pytest.mark.e2e
NETWORK = "127.0.67"
NODES = {"finesse-a": f"{NETWORK}.7", "finesse-b": f"{NETWORK}.8"}


def xmpp_tls_features(host: str, ca_file: Path) -> bytes:
    """Open a stream over direct TLS on 5223, the certificate checked against the CA and ``host``."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection((host, 5223), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(
            f"<?xml version='1.0'?><stream:stream to='{host}' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".encode()
        )
        data = b""
        while b"</stream:features>" not in data:
            chunk = tls.recv(4096)
            assert chunk, data
            data += chunk
        return data


async def up(tmp_path: Path, version: str) -> tuple[Path, Path]:
    config = tmp_path / "deployment.yaml"
    config.write_text(f'agents: 4\ntime_scale: 0.05\nnetwork: {NETWORK}\nfinesse: {{version: "{version}"}}\n')
    run_dir = tmp_path / "run"
    started = await asyncio.to_thread(
        run_cli, "up", "--detach", "--config", str(config), "--run-dir", str(run_dir)
    )
    assert started.returncode == 0, started.stdout + started.stderr
    return run_dir, (run_dir / "ca.crt").absolute()


async def system_info_node(session: aiohttp.ClientSession, host: str) -> dict[str, str]:
    async with session.get(f"http://{host}:8082/finesse/api/SystemInfo") as resp:
        doc = DET.fromstring(await resp.read())
    node = doc.find("primaryNode")
    assert node is not None
    return {child.tag: child.text or "" for child in node}


async def ws_login(session: aiohttp.ClientSession, url: str, context: ssl.SSLContext) -> str:
    """Open, SASL PLAIN as agent 1001 over RFC 7395: the SASL outcome frame."""
    async with session.ws_connect(url, protocols=("xmpp",), ssl=context) as ws:
        host = url.split("//")[1].split(":", maxsplit=1)[0]
        await ws.send_str(f"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{host}' version='1.0'/>")
        while "<mechanism>PLAIN" not in (await ws.receive_str(timeout=10)):
            pass
        token = base64.b64encode(b"\x001001\x00pass1001").decode()
        await ws.send_str(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        return await ws.receive_str(timeout=10)


async def test_release_12_5_listens_on_5223_and_7443_with_the_deployments_ca(tmp_path: Path) -> None:
    run_dir, ca_file = await up(tmp_path, "12.5")
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
        async with aiohttp.ClientSession() as session:
            for host in NODES.values():
                # 5223 in both releases, the node's certificate (issued by the deployment's CA).
                assert b"PLAIN" in await asyncio.to_thread(xmpp_tls_features, host, ca_file)
                assert await system_info_node(session, host) == {"host": f"{NETWORK}.7"}
                async with session.get(f"https://{host}:7443/tunnel/", ssl=context) as resp:
                    assert resp.status == 200
                assert "<success" in await ws_login(session, f"wss://{host}:7443/ws/", context)
                assert port_in_use(host, 7443)
    finally:
        await asyncio.to_thread(run_cli, "down", "--run-dir", str(run_dir))


async def test_the_default_release_listens_on_5223_and_8445_with_the_deployments_ca(
    shared_deployment: Path,
) -> None:
    """12.6, the default: the shared deployment (tests/e2e/shared.py) is one, with no version given."""
    ca_file = (shared_deployment / "ca.crt").absolute()
    context = ssl.create_default_context(cafile=str(ca_file))
    async with aiohttp.ClientSession() as session:
        for host in (f"{shared.NETWORK}.7", f"{shared.NETWORK}.8"):
            assert b"PLAIN" in await asyncio.to_thread(xmpp_tls_features, host, ca_file)
            assert await system_info_node(session, host) == {
                "host": f"{shared.NETWORK}.7",
                "httpsPort": "8445",
                "xmppPort": "5222",
                "xmppSecurePort": "5223",
            }
            assert not port_in_use(host, 7443)  # deprecated in 12.6: nothing listens
            assert "<success" in await ws_login(session, f"wss://{host}:8445/ws/", context)
