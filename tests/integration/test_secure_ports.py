"""The secure notification ports over real sockets, with the deployment's CA (emu_base/tls.py):
XMPP with direct TLS (5223), https BOSH, wss and the EventTunnel page on the Notification Service's
HTTPS port (7443, 12.0/12.5), and the 12.6 WebSocket through the node's web port
(``wss://<node>:8445/ws/``, server/ws_proxy.py). Each refuses a wrong password; the web port's relay
reaches its own Prosody only and survives bad input.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.async_api import Browser, async_playwright

from emu_base import tls
from emu_base.procs import free_port
from finesse_emu.xmpp.client import AuthenticationFailed, close, make_client, open_session
from finesse_emu.xmpp.prosody import ProsodyProcess, agent_accounts
from tests.conftest import ProsodyFactory
from tests.helpers import eventually
from tests.integration.test_event_tunnel_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    EVENT,
    STATUS,
    log_in,
    open_tunnel,
    parent_origin,
    sign_in_10x,
)
from tests.integration.test_finesse_node import API, HOST, Deployment, deployment

__all__ = ["parent_origin"]  # the fixture, imported for the browser test

AGENTS = 30  # test_finesse_node.deployment's directory
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
OPEN = f"<open xmlns='{FRAMING}' to='{HOST}' version='1.0'/>"
TIMEOUT = 10.0


@dataclass
class TlsDeployment(Deployment):
    prosody: ProsodyProcess
    ca_file: Path
    cert_file: Path

    def ssl(self) -> ssl.SSLContext:
        """What a client trusting the deployment's CA (and nothing else) uses."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def wss_7443(self) -> str:
        return f"wss://{HOST}:{self.prosody.https_port}/ws/"

    @property
    def wss_web_port(self) -> str:
        return f"wss://{HOST}:{self.node.https_port}/ws/"


@contextlib.asynccontextmanager
async def tls_deployment(
    prosody_factory: ProsodyFactory, tmp_path: Path, **node: Any
) -> AsyncIterator[TlsDeployment]:
    """A node (HTTPS on a free port) and its Prosody with both secure ports, every certificate the
    node's, issued by one CA (as the launcher's write_secrets makes them)."""
    files = tls.ensure_tls(tmp_path / "secrets", {"finesse-a": [HOST]})
    cert, key = files.nodes["finesse-a"]
    prosody = prosody_factory(
        domain=HOST,
        host=HOST,
        accounts=agent_accounts(AGENTS),
        c2s_tls_port=free_port(HOST),
        https_port=free_port(HOST),
        tls_cert=cert,
        tls_key=key,
    )
    await prosody.start()
    async with deployment(
        xmpp_host=HOST,
        xmpp_port=prosody.c2s_port,
        xmpp_secure_port=prosody.c2s_tls_port,
        xmpp_http_port=prosody.http_port,
        xmpp_password_file=str(prosody.config.password_file),
        https_port=0,
        cert_file=str(cert),
        key_file=str(key),
        ca_file=str(files.ca_file),
        **node,
    ) as d:
        yield TlsDeployment(d.a, d.b, d.awdb, d.node, d.http, prosody, files.ca_file, cert)


@pytest.fixture
async def dep_tls(prosody_factory: ProsodyFactory, tmp_path: Path) -> AsyncIterator[TlsDeployment]:
    async with tls_deployment(prosody_factory, tmp_path) as d:  # 12.6, the default
        yield d


# -- a small RFC 7395 client -------------------------------------------------------------------------
class XmppWs:
    """XMPP over one WebSocket (RFC 7395): each frame one element."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[str] = []

    async def send(self, xml: str) -> None:
        await self.ws.send_str(xml)

    async def expect(self, pattern: str, what: str) -> str:
        """The next frame matching ``pattern`` (a regex), keeping the ones before it."""
        while True:
            msg = await self.ws.receive(timeout=TIMEOUT)
            assert msg.type is WSMsgType.TEXT, f"waiting for {what}: {msg.type.name} {msg.data!r}"
            self.frames.append(msg.data)
            if re.search(pattern, msg.data):
                return str(msg.data)

    async def authenticate(self, user: str, password: str) -> bool:
        await self.send(OPEN)
        await self.expect("<mechanism>PLAIN</mechanism>", "stream features offering PLAIN")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        await self.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>")
        outcome = await self.expect("<success|<failure", "the SASL outcome")
        return outcome.startswith("<success")

    async def sign_in(self, user: str, password: str) -> None:
        """SASL PLAIN, a new stream, bind, available presence: pubsub events now reach this socket."""
        assert await self.authenticate(user, password), self.frames[-1]
        await self.send(OPEN)
        await self.expect("urn:ietf:params:xml:ns:xmpp-bind", "the features offering bind")
        await self.send(
            "<iq xmlns='jabber:client' type='set' id='bind1'>"
            "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>wss</resource></bind></iq>"
        )
        bound = await self.expect("id=['\"]bind1['\"]", "the bind result")
        assert "type='result'" in bound or 'type="result"' in bound, bound
        await self.send("<presence xmlns='jabber:client'/>")


@contextlib.asynccontextmanager
async def xmpp_ws(url: str, context: ssl.SSLContext | bool, **kwargs: Any) -> AsyncIterator[XmppWs]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("xmpp",), ssl=context, **kwargs) as ws,
    ):
        assert ws.protocol == "xmpp"
        yield XmppWs(ws)


async def sign_in_and_get_an_event(dep: TlsDeployment, url: str, agent: str) -> None:
    async with xmpp_ws(url, dep.ssl()) as x:
        await x.sign_in(agent, f"pass{agent}")
        await log_in(dep, agent, requestId=f"rq-{agent}")  # type: ignore[arg-type]
        event = await x.expect(f"rq-{agent}", "the pubsub event of the REST state change")
        assert f"{API}/User/{agent}" in event and "NOT_READY" in event


# -- 5223: XMPP with direct TLS -----------------------------------------------------------------------
def tls_client(jid: str, password: str, context: ssl.SSLContext) -> Any:
    client = make_client(jid, password)
    client.ssl_context = context
    client.enable_direct_tls, client.enable_starttls, client.enable_plaintext = True, False, False
    return client


async def test_xmpp_over_direct_tls_verifies_the_deployments_ca(dep_tls: TlsDeployment) -> None:
    port = dep_tls.prosody.c2s_tls_port
    assert port is not None
    client = tls_client(f"1006@{HOST}/tls", "pass1006", dep_tls.ssl())
    try:
        await open_session(client, HOST, port, TIMEOUT)
        assert client.is_connected()
        peer = client.transport.get_extra_info("peercert")
        assert peer is not None and ("IP Address", HOST) in peer["subjectAltName"]
    finally:
        await close(client, 2.0)
    # The same server is refused by a client that does not trust the deployment's CA.
    stranger = tls_client(f"1006@{HOST}/tls", "pass1006", ssl.create_default_context())
    with pytest.raises(ConnectionError):
        await open_session(stranger, HOST, port, TIMEOUT)


async def test_xmpp_over_direct_tls_refuses_a_wrong_password(dep_tls: TlsDeployment) -> None:
    port = dep_tls.prosody.c2s_tls_port
    assert port is not None
    client = tls_client(f"1006@{HOST}/tls", "not-the-password", dep_tls.ssl())
    with pytest.raises(AuthenticationFailed):
        await open_session(client, HOST, port, TIMEOUT)


async def test_the_plain_c2s_port_still_offers_no_starttls(dep_tls: TlsDeployment) -> None:
    # The certificate is the TLS listeners' only: 5222 stays what the emulator's clients use.
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, dep_tls.prosody.c2s_port), TIMEOUT)
    writer.write(
        f"<?xml version='1.0'?><stream:stream to='{HOST}' xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".encode()
    )
    features = b""
    while b"</stream:features>" not in features:
        chunk = await asyncio.wait_for(reader.read(4096), TIMEOUT)
        assert chunk, features
        features += chunk
    writer.close()
    assert b"PLAIN" in features and b"starttls" not in features


# -- 7443: https BOSH, wss, the EventTunnel page ------------------------------------------------------
async def test_wss_on_the_https_port_signs_in_and_receives_events(dep_tls: TlsDeployment) -> None:
    await sign_in_and_get_an_event(dep_tls, dep_tls.wss_7443, "1007")


async def test_https_bosh_and_the_tunnel_page_on_the_https_port(dep_tls: TlsDeployment) -> None:
    origin = dep_tls.prosody.https_origin
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{origin}/tunnel/", ssl=dep_tls.ssl()) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"

        async def bosh(body: str) -> str:
            headers = {"Content-Type": "text/xml; charset=utf-8"}
            async with s.post(f"{origin}/http-bind", data=body, headers=headers, ssl=dep_tls.ssl()) as r:
                assert r.status == 200
                return await r.text()

        async def session_auth(password: str) -> str:
            created = await bosh(
                f"<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='100' "
                f"to='{HOST}' wait='5' hold='1' xmpp:version='1.0'/>"
            )
            match = re.search(r"sid=['\"]([^'\"]+)", created)
            assert match and "PLAIN" in created, created
            token = base64.b64encode(f"\0{'1008'}\0{password}".encode()).decode()
            return await bosh(
                f"<body xmlns='http://jabber.org/protocol/httpbind' rid='101' sid='{match[1]}'>"
                f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth></body>"
            )

        assert "<success" in await session_auth("pass1008")
        assert "<failure" in await session_auth("wrong")


async def test_the_https_port_refuses_a_wrong_password(dep_tls: TlsDeployment) -> None:
    async with xmpp_ws(dep_tls.wss_7443, dep_tls.ssl()) as x:
        assert not await x.authenticate("1009", "not-the-password")
        assert "not-authorized" in x.frames[-1]


# -- the 12.6 WebSocket through the node's web port -----------------------------------------------------
async def test_the_web_ports_websocket_signs_in_and_receives_events(dep_tls: TlsDeployment) -> None:
    await sign_in_and_get_an_event(dep_tls, dep_tls.wss_web_port, "1010")
    # The same relay on the plain web port, and at /ws without the slash.
    async with xmpp_ws(f"ws://{HOST}:{dep_tls.node.http_port}/ws", False) as x:
        assert await x.authenticate("1010", "pass1010")


async def test_the_web_ports_websocket_refuses_a_wrong_password(dep_tls: TlsDeployment) -> None:
    async with xmpp_ws(dep_tls.wss_web_port, dep_tls.ssl()) as x:
        assert not await x.authenticate("1011", "not-the-password")
        assert "not-authorized" in x.frames[-1]


async def test_the_relay_reaches_its_own_prosody_only(dep_tls: TlsDeployment) -> None:
    """No open relay: neither Host, query nor path choose the upstream; only /ws and /ws/ exist."""
    seen: list[str] = []

    async def victim(request: web.Request) -> web.StreamResponse:
        seen.append(request.path_qs)
        return web.Response(text="victim")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", victim)
    runner = web.AppRunner(app)
    await runner.setup()
    victim_port = free_port(HOST)
    site = web.TCPSite(runner, HOST, victim_port)
    await site.start()
    elsewhere = f"{HOST}:{victim_port}"
    try:
        url = f"{dep_tls.wss_web_port}?url=ws://{elsewhere}/ws&host={elsewhere}"
        async with xmpp_ws(url, dep_tls.ssl(), headers={"Host": elsewhere}, server_hostname=HOST) as x:
            assert await x.authenticate("1012", "pass1012")  # Prosody's accounts: the node's own
        web_port = f"https://{HOST}:{dep_tls.node.https_port}"
        async with aiohttp.ClientSession() as s:
            for path in ("/ws/http-bind", f"/ws/ws://{elsewhere}/", "/wsx", "/ws/../http-bind", "/http-bind"):
                async with s.get(web_port + path, ssl=dep_tls.ssl()) as resp:
                    assert resp.status == 404, path
            async with s.post(web_port + "/ws/", data=b"x", ssl=dep_tls.ssl()) as resp:
                assert resp.status == 405
        assert seen == []
    finally:
        await runner.cleanup()


async def test_bad_input_on_the_relay_never_breaks_the_node(dep_tls: TlsDeployment) -> None:
    dep = dep_tls
    url = dep.wss_web_port
    proxy_limit = 256 * 1024
    async with aiohttp.ClientSession() as s:
        # Not an upgrade, and an upgrade without the xmpp subprotocol.
        async with s.get(f"https://{HOST}:{dep.node.https_port}/ws/", ssl=dep.ssl()) as resp:
            assert resp.status == 400
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await s.ws_connect(url, protocols=("chat",), ssl=dep.ssl())
        assert refused.value.status == 501
        # A page of another origin, while CORS is off (Finesse's default).
        with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
            await s.ws_connect(url, protocols=("xmpp",), ssl=dep.ssl(), origin="https://crm.example")
        assert foreign.value.status == 403
        # Garbage text, a binary frame, a frame over the stanza limit: each ends that socket only.
        bad: list[tuple[str | bytes, int | None]] = [
            ("<<<not xml", None),  # Prosody's stream error, then its close
            (b"\x00\xff" * 10, 1003),
            ("<a>" + "x" * (proxy_limit + 1) + "</a>", 1009),
        ]
        for frame, code in bad:
            async with s.ws_connect(url, protocols=("xmpp",), ssl=dep.ssl()) as ws:
                await ws.send_str(OPEN)
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
                while (msg := await ws.receive(timeout=TIMEOUT)).type is WSMsgType.TEXT:
                    pass
                assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), msg
                if code is not None:  # the code of the close frame (the socket may drop after it)
                    assert msg.type is WSMsgType.CLOSE and msg.data == code, msg
    # The node serves on, and a well-behaved client still gets its events.
    status, _, _ = await dep.call("GET", "/SystemInfo")
    assert status == 200
    await sign_in_and_get_an_event(dep, url, "1013")
    proxy = dep.node  # every relay ended with its socket
    await eventually(
        lambda: proxy_relays(proxy), "no relay left open", until=lambda n: n == 0, within=TIMEOUT
    )


def proxy_relays(node: Any) -> int:
    from finesse_emu.server.ws_proxy import PROXY_KEY

    assert node._rest_runner is not None
    return int(node._rest_runner.app[PROXY_KEY].relays)


async def test_an_allowed_origin_may_use_the_relay(dep_tls: TlsDeployment) -> None:
    dep_tls.node.set_cors_origins(["https://crm.example"])
    async with xmpp_ws(dep_tls.wss_web_port, dep_tls.ssl(), origin="https://crm.example") as x:
        assert await x.authenticate("1014", "pass1014")


async def test_the_relay_answers_502_when_its_prosody_is_gone(dep_tls: TlsDeployment) -> None:
    dep_tls.prosody.kill()
    await dep_tls.prosody.wait()
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await s.ws_connect(dep_tls.wss_web_port, protocols=("xmpp",), ssl=dep_tls.ssl())
    assert refused.value.status == 502


async def test_a_125_node_has_no_web_port_websocket_and_names_no_ports(
    prosody_factory: ProsodyFactory, tmp_path: Path
) -> None:
    async with tls_deployment(prosody_factory, tmp_path, version="12.5") as dep:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as missing:
                await s.ws_connect(dep.wss_web_port, protocols=("xmpp",), ssl=dep.ssl())
        assert missing.value.status == 404
        _, doc, _ = await dep.call("GET", "/SystemInfo")
        assert [child.tag for child in doc.find("primaryNode")] == ["host"]


async def test_a_126_node_advertises_the_ports_that_listen(dep_tls: TlsDeployment) -> None:
    _, doc, _ = await dep_tls.call("GET", "/SystemInfo")
    node = doc.find("primaryNode")
    assert node.findtext("httpsPort") == str(dep_tls.node.https_port)
    assert node.findtext("xmppPort") == str(dep_tls.prosody.c2s_port)
    assert node.findtext("xmppSecurePort") == str(dep_tls.prosody.c2s_tls_port)


# -- the 10.x EventTunnel page from 7443 in Chromium ---------------------------------------------------
def spki_hash(cert_file: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)): what Chromium's --ignore-certificate-errors-spki-list
    takes. It trusts exactly the node's key (the certificate Prosody presents), nothing else."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture
async def pinned_browser(dep_tls: TlsDeployment) -> AsyncIterator[Browser]:
    # Chromium on Linux reads trust anchors from an NSS database (certutil, not installed here) or
    # takes pinned keys on its command line: the node's key is pinned, certificate checks stay on.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    args = [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={spki_hash(dep_tls.cert_file)}"]
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield b
        finally:
            await b.close()


async def test_the_10x_tunnel_from_the_https_port_gets_an_event_over_wss(
    dep_tls: TlsDeployment, pinned_browser: Browser, parent_origin: str
) -> None:
    origin = dep_tls.prosody.https_origin
    assert origin is not None
    t = await open_tunnel(pinned_browser, parent_origin, origin)
    await t.send("12|websocket")
    await sign_in_10x(t, "1015", "pass1015")
    await t.wait(STATUS, "connected")
    assert any("over websocket" in m for m in await t.of_type("13"))
    await t.subscribed(f"{API}/User/1015")
    await log_in(dep_tls, "1015", requestId="rq-wss")  # type: ignore[arg-type]
    event = await t.wait(EVENT, "<requestId>rq-wss</requestId>")
    assert event.startswith(f"0|{API}/User/1015<Update>")


async def test_the_web_application_going_down_ends_its_websockets(dep_tls: TlsDeployment) -> None:
    """12.6's notifications pass through the web server: the webapp_down fault (Tomcat down) drops
    them, while the Notification Service's own ports stay up."""
    async with (
        xmpp_ws(dep_tls.wss_web_port, dep_tls.ssl()) as through_web,
        xmpp_ws(dep_tls.wss_7443, dep_tls.ssl()) as direct,
    ):
        await through_web.sign_in("1016", "pass1016")
        await direct.sign_in("1017", "pass1017")
        await dep_tls.node.faults.add("webapp_down", {})
        try:
            while (msg := await through_web.ws.receive(timeout=TIMEOUT)).type is WSMsgType.TEXT:
                pass
            assert msg.type is WSMsgType.CLOSE and msg.data == 1001, msg
            await direct.send(
                "<iq xmlns='jabber:client' type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>"
            )
            await direct.expect("id=['\"]ping1['\"]", "the ping's answer on 7443")
        finally:
            await dep_tls.node.faults.clear()
