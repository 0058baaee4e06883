"""A Finesse node over real sockets: its REST API against in-process CTI stubs and an AWDB stub.

(Notifications through Prosody are covered by the XMPP tests; here the node records what it would
publish.)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from defusedxml import ElementTree as DET

from awdb_stub.db import AwdbDatabase
from awdb_stub.seed import SeedData
from awdb_stub.server import AwdbServer
from awdb_stub.server import ServerConfig as AwdbConfig
from cti_stub.core import Role
from cti_stub.server import CtiServer
from cti_stub.server import ServerConfig as CtiConfig
from emu_base.directory import CHAT_AND_EMAIL, AgentRecord, generate
from emu_base.procs import free_port
from emu_base.timers import Timers
from finesse_emu.deployment.launcher import write_secrets
from finesse_emu.server.node import FinesseNode, NodeConfig
from tests.helpers import eventually

HOST = "127.0.0.1"
SCALE = 0.02  # heartbeat 0.1 s: a silent CTI side is detected in 0.3-0.4 s
API = "/finesse/api"


def basic(user: str, password: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password or 'pass' + user}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Deployment:
    a: CtiServer
    b: CtiServer
    awdb: AwdbServer
    node: FinesseNode
    http: aiohttp.ClientSession

    async def call(
        self, method: str, path: str, user: str | None = "1000", body: str | None = None, **headers: str
    ) -> tuple[int, Any, dict[str, str]]:
        hdrs = dict(headers)
        if user is not None:
            hdrs.update(basic(user))
        if body is not None:
            hdrs["Content-Type"] = "application/xml"
        url = f"http://{HOST}:{self.node.http_port}{API}{path}"
        async with self.http.request(method, url, data=body, headers=hdrs) as resp:
            text = await resp.read()
            doc = DET.fromstring(text) if text else None
            return resp.status, doc, dict(resp.headers)

    async def fault(self, srv: CtiServer, kind: str) -> None:
        async with self.http.post(f"http://{HOST}:{srv.admin_port}/emu/faults", json={"kind": kind}) as resp:
            assert resp.status == 201

    async def wait_status(self, status: str, timeout: float = 5.0) -> None:
        await eventually(
            lambda: self.node.status.status.value,
            f"the node {status}",
            until=lambda s: s == status,
            within=timeout,
        )

    async def wait_user_state(self, agent: str, state: str, within: float = 3.0) -> None:
        await eventually(
            lambda: self.node.model.user(agent).state,
            f"user {agent} {state} on the node",
            until=lambda s: s == state,
            within=within,
        )

    async def wait_dialog(self, call_id: str) -> None:
        await eventually(
            lambda: sorted(self.node.model.dialogs),
            f"dialog {call_id} on the node",
            until=lambda d: call_id in d,
        )

    async def wait_event(self, node: str, marker: str, since: int = 0, within: float = 3.0) -> str:
        """The first event published on ``node`` (from index ``since``) that contains ``marker``."""
        found = await eventually(
            lambda: [e for e in self.events_for(node)[since:] if marker in e],
            f"an event with {marker!r} on {node}",
            within=within,
        )
        return found[0]

    def events_for(self, node: str) -> list[str]:
        return [text for n, text in self.node.published if n == node]


@contextlib.asynccontextmanager
async def deployment(
    timers: Timers | None = None, agents: list[AgentRecord] | None = None, **node_config: Any
) -> AsyncIterator[Deployment]:
    """CTI sides A (active) and B (idle), an AWDB and a Finesse node in this event loop, IN_SERVICE;
    ``agents``: the directory (default 30 generated agents)."""
    timers = timers or Timers.build(SCALE)
    agents = generate(30, non_voice_mrds=CHAT_AND_EMAIL) if agents is None else agents
    port_a, port_b = free_port(), free_port()
    a = CtiServer(
        CtiConfig(side="A", port=port_a, link_port=0, admin_port=0, peer=(HOST, 0), agents=agents), timers
    )
    await a.start()
    assert a.link_port is not None
    b = CtiServer(
        CtiConfig(side="B", port=port_b, link_port=0, admin_port=0, peer=(HOST, a.link_port), agents=agents),
        timers,
    )
    await b.start()
    db = AwdbDatabase()
    db.seed(SeedData(agents))
    awdb = AwdbServer(AwdbConfig(name="awdb-a", host=HOST, port=0, admin_port=0), db)
    await awdb.start()
    await eventually(
        lambda: (a.core.role, a.listening, b.core.role),
        "CTI side A active and listening, B idle",
        until=lambda seen: seen == (Role.ACTIVE, True, Role.IDLE),
    )
    config: dict[str, Any] = {
        "name": "finesse-a",
        "host": HOST,
        "http_port": 0,
        "https_port": -1,
        "admin_port": 0,
        "cti_sides": [("A", HOST, port_a), ("B", HOST, port_b)],
        "awdb_urls": [f"http://{HOST}:{awdb.port}"],
        **node_config,
    }
    node = FinesseNode(NodeConfig(**config), timers)
    await node.start()
    http = aiohttp.ClientSession()
    try:
        d = Deployment(a, b, awdb, node, http)
        await d.wait_status("IN_SERVICE", timeout=10)
        yield d
    finally:
        await http.close()
        await node.stop()
        await b.stop()
        await a.stop()
        await awdb.stop()
        db.close()


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(secondary_host="127.0.0.2") as d:
        yield d


def text(doc: Any, path: str) -> str:
    el = doc.find(path)
    assert el is not None, path
    return str(el.text or "")


async def test_system_info_without_credentials(dep: Deployment) -> None:
    status, doc, headers = await dep.call("GET", "/SystemInfo", user=None)
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    assert text(doc, "status") == "IN_SERVICE"
    assert text(doc, "xmppDomain") == HOST and text(doc, "xmppPubSubDomain") == f"pubsub.{HOST}"
    assert text(doc, "primaryNode/host") == HOST and text(doc, "secondaryNode/host") == "127.0.0.2"
    assert text(doc, "lastCTIHeartbeatStatus") == "success"
    assert int(text(doc, "lastSuccessCTIHeartbeatTime")) > 1_600_000_000_000
    assert text(doc, "ctiHeartbeatInterval") == "5"
    # SystemInfo is rendered once per change of its content and stamped per request.
    stamp = datetime.strptime(text(doc, "currentTimestamp"), "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs(stamp.timestamp() - time.time()) < 5

    async def stamp_again() -> str:
        return text((await dep.call("GET", "/SystemInfo", user=None))[1], "currentTimestamp")

    first = text(doc, "currentTimestamp")
    await eventually(stamp_again, f"a currentTimestamp later than {first}", until=lambda later: later > first)
    assert [text(s, "active") for s in doc.findall("ctiServers/ctiServer")] == ["true", "false"]


async def test_authentication_and_authorization(dep: Deployment) -> None:
    status, doc, _ = await dep.call("GET", "/User/1000", user=None)
    assert status == 401 and text(doc, "ApiError/ErrorType") == "Authorization Failure"
    bad = dep.node.stats["auth_bad_credentials"]
    async with dep.http.get(
        f"http://{HOST}:{dep.node.http_port}{API}/User/1000", headers=basic("1000", "nope")
    ) as resp:
        assert resp.status == 401 and dep.node.stats["auth_bad_credentials"] == bad + 1
        assert not any(h.lower().startswith("x-emu") for h in resp.headers)  # only what Finesse sends
    status, doc, _ = await dep.call("GET", "/User/1000")
    assert status == 200 and text(doc, "loginId") == "1000" and text(doc, "state") == "LOGOUT"
    status, doc, _ = await dep.call("GET", "/User/agent0001")  # lookup by login name
    assert status == 200 and text(doc, "loginName") == "agent0001"
    status, doc, _ = await dep.call("GET", "/User/1002", user="1001")  # another agent: refused
    assert status == 401 and text(doc, "ApiError/ErrorType") == "Invalid Authorization User Specified"
    status, doc, _ = await dep.call("GET", "/User/1002", user="1000")  # 1000 supervises team 1
    assert status == 200
    status, doc, _ = await dep.call("GET", "/User/99999")
    assert status == 404


async def test_state_changes_202_request_id_and_events(dep: Deployment) -> None:
    body = "<User><state>LOGIN</state><extension>2001</extension></User>"
    status, _, headers = await dep.call("PUT", "/User/1001", user="1001", body=body, requestId="req-42")
    assert status == 202 and headers["requestId"] == "req-42"
    event = await dep.wait_event(f"{API}/User/1001", "<requestId>req-42</requestId>")
    update = DET.fromstring(event)
    assert text(update, "event") == "PUT" and text(update, "source") == f"{API}/User/1001"
    assert text(update, "data/user/state") == "NOT_READY" and text(update, "data/user/extension") == "2001"
    status, doc, _ = await dep.call("GET", "/User/1001", user="1001")
    assert text(doc, "state") == "NOT_READY"
    # The change also goes to the team node supervisors subscribe to.
    team_events = dep.events_for(f"{API}/Team/1/Users")
    assert team_events and text(DET.fromstring(team_events[-1]), "data/user/loginId") == "1001"
    status, doc, _ = await dep.call("GET", "/Team/1", user="1000")  # 1000 supervises team 1
    assert status == 200 and "1001" in [u.findtext("loginId") for u in doc.findall("users/User")]
    status, _, _ = await dep.call("GET", "/Team/1", user="1001")  # an agent may not
    assert status == 401
    status, _, _ = await dep.call("PUT", "/User/1001", user="1001", body="<User><state>READY</state></User>")
    assert status == 202
    await dep.wait_user_state("1001", "READY")
    status, doc, _ = await dep.call("GET", "/User/1001/ReasonCodes?category=NOT_READY", user="1001")
    rc_id = text(doc, "ReasonCode/uri").rsplit("/", 1)[1]
    body = f"<User><state>NOT_READY</state><reasonCodeId>{rc_id}</reasonCodeId></User>"
    status, _, _ = await dep.call("PUT", "/User/1001", user="1001", body=body)
    assert status == 202
    await dep.wait_user_state("1001", "NOT_READY")
    status, doc, _ = await dep.call("GET", "/User/1001", user="1001")
    assert text(doc, "reasonCodeId") == rc_id


async def test_bad_requests_change_nothing(dep: Deployment) -> None:
    status, doc, _ = await dep.call(
        "PUT", "/User/1003", user="1003", body="<User><state>READY</state></User>"
    )
    assert status == 400 and text(doc, "ApiError/ErrorMessage") == "Invalid State specified for user"
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        "<User><state>&b;</state></User>"
    )
    status, doc, _ = await dep.call("PUT", "/User/1003", user="1003", body=bomb)
    assert status == 400
    status, doc, _ = await dep.call("PUT", "/User/1003", user="1003", body="<Dialog/>")
    assert status == 400
    status, doc, _ = await dep.call(
        "PUT", "/User/1003", user="1003", body="<User><state>LOGIN</state></User>"
    )
    assert status == 400 and text(doc, "ApiError/ErrorType") == "Parameter Missing"
    body = "<User><state>LOGIN</state><extension>2003</extension></User>"
    await dep.call("PUT", "/User/1003", user="1003", body=body)
    await dep.wait_user_state("1003", "NOT_READY")
    status, doc, _ = await dep.call(
        "PUT",
        "/User/1003",
        user="1003",
        body="<User><state>NOT_READY</state><reasonCodeId>987654</reasonCodeId></User>",
    )
    assert status == 400 and text(doc, "ApiError/ErrorData") == "reasonCodeId"
    assert dep.node.model.user("1003").state == "NOT_READY"


async def test_silent_cti_side_503_then_last_state_after_side_b(dep: Deployment) -> None:
    await dep.call(
        "PUT", "/User/1004", user="1004", body="<User><state>LOGIN</state><extension>2004</extension></User>"
    )
    await dep.call("PUT", "/User/1004", user="1004", body="<User><state>READY</state></User>")
    await dep.wait_user_state("1004", "READY")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await dep.fault(dep.a, "ignore_heartbeats")
    await dep.wait_status("OUT_OF_SERVICE")
    detection = loop.time() - t0
    timers = dep.node.timers
    # 3 unanswered heartbeats: between 3 and 4 intervals after the side went silent (+ scheduling slack).
    assert detection <= 4 * timers.cti_heartbeat_interval + 0.3
    status, doc, _ = await dep.call("GET", "/User/1004", user="1004")
    assert status == 503 and text(doc, "ApiError/ErrorMessage") == "SERVER_OUT_OF_SERVICE"
    status, doc, _ = await dep.call("GET", "/SystemInfo", user=None)
    assert status == 200 and text(doc, "status") == "OUT_OF_SERVICE"
    assert text(doc, "statusReason") == "CTI server connection lost"
    sys_events = dep.events_for(f"{API}/SystemInfo")
    assert "<status>OUT_OF_SERVICE</status>" in sys_events[-1]
    before = len(dep.node.published)
    await dep.fault(dep.a, "deactivate")  # the PG switches to side B
    await dep.wait_status("IN_SERVICE", timeout=10)
    assert dep.node.cti.active_side == "B"
    # The last state is published again after the failover.
    republished = [t for n, t in list(dep.node.published)[before:] if n == f"{API}/User/1004"]
    assert republished, "no user event after the failover"
    # The PG switched sides: a CTI disconnect. Chapter "Finesse Failover Mechanisms": "If agent is
    # in Ready State before Failover, agent moves to Not Ready — Connection Failure upon his next
    # state change to Not Ready": READY is the last state clients receive...
    assert dep.b.model.agents["1004"].state.name == "AVAILABLE"
    event = DET.fromstring(republished[-1])
    assert text(event, "data/user/state") == "READY"
    # ... and the agent's next Not Ready is Not Ready - Connection Failure (50002).
    await dep.call("PUT", "/User/1004", user="1004", body="<User><state>NOT_READY</state></User>")
    await dep.wait_user_state("1004", "NOT_READY")
    status, doc, _ = await dep.call("GET", "/User/1004", user="1004")
    assert status == 200 and text(doc, "state") == "NOT_READY"
    rc = dep.node.core.directory.reason_code_by_id(int(text(doc, "reasonCodeId")))
    assert rc is not None and (rc.code, rc.label) == (50002, "Connection Failure")


async def https_get(port: int, server_hostname: str, context: ssl.SSLContext, path: str) -> bytes:
    """GET over TLS to HOST:port, checked as ``server_hostname`` (SNI and the hostname check)."""
    reader, writer = await asyncio.open_connection(HOST, port, ssl=context, server_hostname=server_hostname)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {server_hostname}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


def client_context(ca_file: Path) -> ssl.SSLContext:
    """What a client does: trust the CA, check the chain and the host name; strict X.509 (the default
    of Python 3.13) on top, so that a certificate missing an extension fails here already."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    return context


async def assert_verified(port: int, ca_file: Path, names: list[str]) -> None:
    """Verified under each of ``names``; refused without the CA, and under a name it does not carry."""
    context = client_context(ca_file)
    for name in names:
        answer = await https_get(port, name, context, f"{API}/SystemInfo")
        assert answer.startswith(b"HTTP/1.1 200") and b"<SystemInfo>" in answer, (name, answer[:200])
    with pytest.raises(ssl.SSLCertVerificationError, match=r"unable to get local issuer|self.signed"):
        await https_get(port, names[0], ssl.create_default_context(), "/")
    with pytest.raises(ssl.SSLCertVerificationError, match=r"Hostname mismatch|IP address mismatch"):
        await https_get(port, "finesse-x", context, "/")
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        await https_get(port, "127.0.0.2", context, "/")


async def test_https_a_standalone_node_makes_a_ca_that_clients_verify(
    dep: Deployment, tmp_path: Path
) -> None:
    """No cert_file: the node makes a CA and its certificate in run_dir (emu_base/tls.py), for its
    name and address, which a client verifies with ssl.create_default_context(cafile=ca.crt)."""
    cfg = NodeConfig(
        name="finesse-b", role="subscriber", host=HOST, http_port=-1, https_port=0, admin_port=-1,
        cti_sides=dep.node.config.cti_sides, awdb_urls=dep.node.config.awdb_urls, run_dir=str(tmp_path),
        primary_host="127.0.0.9",
    )  # fmt: skip
    node = FinesseNode(cfg, dep.node.timers)
    await node.start()
    try:
        assert node.https_port is not None
        ca_file = tmp_path / "ca.crt"
        assert node.health()["ca_file"] == str(ca_file)
        assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "finesse-b.key").stat().st_mode & 0o777 == 0o600
        await assert_verified(node.https_port, ca_file, [HOST, "finesse-b"])
        url = f"https://{HOST}:{node.https_port}{API}/SystemInfo"

        async def system_info() -> Any:
            async with dep.http.get(url, ssl=client_context(ca_file)) as resp:
                return DET.fromstring(await resp.read())

        doc = await eventually(
            system_info, "the node IN_SERVICE over HTTPS", until=lambda d: text(d, "status") == "IN_SERVICE"
        )
        assert text(doc, "primaryNode/host") == "127.0.0.9" and text(doc, "secondaryNode/host") == HOST
    finally:
        await node.stop()
    # Started again: the same CA (a client that trusts it keeps trusting the node).
    ca = (tmp_path / "ca.crt").read_bytes()
    node = FinesseNode(cfg, dep.node.timers)
    await node.start()
    try:
        assert node.https_port is not None
        assert (tmp_path / "ca.crt").read_bytes() == ca
        await assert_verified(node.https_port, tmp_path / "ca.crt", ["finesse-b"])
    finally:
        await node.stop()


async def test_https_with_the_deployments_certificate_files(dep: Deployment, tmp_path: Path) -> None:
    """cert_file, key_file, ca_file (what the launcher and compose give): the node only loads them."""
    secrets = write_secrets(tmp_path / "secrets", {"finesse-a": [HOST, "finesse-a", "finesse-a.example"]})
    cert, key = secrets.certs.nodes["finesse-a"]
    cfg = NodeConfig(
        name="finesse-a", host=HOST, http_port=-1, https_port=0, admin_port=-1,
        cti_sides=dep.node.config.cti_sides, awdb_urls=dep.node.config.awdb_urls,
        run_dir=str(tmp_path / "run"), cert_file=str(cert), key_file=str(key), ca_file=str(secrets.ca_file),
    )  # fmt: skip
    node = FinesseNode(cfg, dep.node.timers)
    await node.start()
    try:
        assert node.https_port is not None
        assert not (tmp_path / "run").exists()  # nothing made: loaded only
        assert node.health()["ca_file"] == str(secrets.ca_file)
        await assert_verified(node.https_port, secrets.ca_file, [HOST, "finesse-a", "finesse-a.example"])
        # The webapp_down fault closes and reopens the sites: the same certificate again.
        await node.faults.add("webapp_down", {})
        assert await node.faults.clear() == 1
        await assert_verified(node.https_port, secrets.ca_file, ["finesse-a"])
    finally:
        await node.stop()
    bad = dataclasses.replace(cfg, key_file=str(tmp_path / "missing.key"))
    broken = FinesseNode(bad, dep.node.timers)
    with pytest.raises(OSError, match=r"missing\.key"):
        await broken.start()
    await broken.stop()


async def test_dialog_answer_and_drop_over_cti(dep: Deployment) -> None:
    await dep.call(
        "PUT", "/User/1008", user="1008", body="<User><state>LOGIN</state><extension>2008</extension></User>"
    )
    await dep.call("PUT", "/User/1008", user="1008", body="<User><state>READY</state></User>")
    await dep.wait_user_state("1008", "READY")
    async with dep.http.post(
        f"http://{HOST}:{dep.a.admin_port}/emu/calls",
        json={"agent_id": "1008", "ani": "5550001", "dnis": "8001"},
    ) as resp:
        call_id = str((await resp.json())["call_id"])
    await dep.wait_dialog(call_id)
    status, doc, _ = await dep.call("GET", "/User/1008/Dialogs", user="1008")
    assert status == 200 and text(doc, "Dialog/id") == call_id and text(doc, "Dialog/state") == "ALERTING"
    assert text(doc, "Dialog/fromAddress") == "5550001"
    status, doc, _ = await dep.call("GET", f"/Dialog/{call_id}", user="1009")  # not this agent's call
    assert status == 401 and text(doc, "ApiError/ErrorType") == "Invalid Authorization User Specified"
    drop = "<Dialog><requestedAction>DROP</requestedAction>"
    drop += "<targetMediaAddress>2008</targetMediaAddress></Dialog>"
    answer = drop.replace("DROP", "ANSWER")
    status, doc, _ = await dep.call(
        "PUT", f"/Dialog/{call_id}", user="1008", body=answer.replace("2008", "9999")
    )
    assert status == 400 and text(doc, "ApiError/ErrorData") == "targetMediaAddress"
    status, _, headers = await dep.call(
        "PUT", f"/Dialog/{call_id}", user="1008", body=answer, requestId="ans-1"
    )
    assert status == 202 and headers["requestId"] == "ans-1"
    await eventually(
        lambda: dep.node.model.dialogs[call_id].state,
        f"dialog {call_id} ACTIVE",
        until=lambda s: s == "ACTIVE",
    )
    dialog_events = dep.events_for(f"{API}/User/1008/Dialogs")
    assert any("<requestId>ans-1</requestId>" in e and "<state>ACTIVE</state>" in e for e in dialog_events)
    assert dep.node.model.user("1008").state == "TALKING"
    status, doc, _ = await dep.call("PUT", f"/Dialog/{call_id}", user="1008", body=answer)  # not ALERTING now
    assert status == 400

    def participant_state() -> str:
        return dep.node.model.dialogs[call_id].participants["2008"].state

    for verb, state in (("HOLD", "HELD"), ("RETRIEVE", "ACTIVE")):
        status, _, _ = await dep.call(
            "PUT", f"/Dialog/{call_id}", user="1008", body=drop.replace("DROP", verb)
        )
        assert status == 202, verb
        await eventually(participant_state, f"participant {state}", until=state.__eq__)
    recording = drop.replace("DROP", "START_RECORDING")
    status, doc, _ = await dep.call("PUT", f"/Dialog/{call_id}", user="1008", body=recording)
    assert status == 501  # not emulated
    status, _, _ = await dep.call("PUT", f"/Dialog/{call_id}", user="1008", body=drop, requestId="drop-1")
    assert status == 202
    await eventually(
        lambda: sorted(dep.node.model.dialogs), f"dialog {call_id} gone", until=lambda d: call_id not in d
    )
    events = dep.events_for(f"{API}/User/1008/Dialogs")
    # The first event the DROP causes (the dialog DROPPED) carries its requestId; then it is deleted.
    dropped = [e for e in events if "<requestId>drop-1</requestId>" in e]
    assert dropped and "<state>DROPPED</state>" in dropped[0]
    assert "<event>DELETE</event>" in events[-1]
    assert dep.a.model.agents["1008"].state.name == "AVAILABLE"


async def test_webapp_down_fault_refuses_rest_and_comes_back(dep: Deployment) -> None:
    admin = f"http://{HOST}:{dep.node.admin_port}/emu/faults"
    async with dep.http.post(admin, json={"kind": "webapp_down"}) as resp:
        assert resp.status == 201
    assert dep.node.status.status.value == "OUT_OF_SERVICE"
    assert dep.node.status.reason == "Finesse web application unavailable"
    with pytest.raises(aiohttp.ClientConnectionError):
        await dep.call("GET", "/SystemInfo", user=None)  # Tomcat down: nothing listens
    with pytest.raises(aiohttp.ClientConnectionError):  # nor the desktop's own content
        await dep.http.get(f"http://{HOST}:{dep.node.http_port}/desktop/resources/finesse.js")
    async with dep.http.get(f"http://{HOST}:{dep.node.admin_port}/emu/health") as resp:
        assert (await resp.json())["state"] == "OUT_OF_SERVICE"
    async with dep.http.delete(admin) as resp:
        assert resp.status == 200
    await dep.wait_status("IN_SERVICE")
    status, doc, _ = await dep.call("GET", "/SystemInfo", user=None)
    assert status == 200 and text(doc, "status") == "IN_SERVICE"


async def test_rest_api_down_fault_answers_503_while_tomcat_serves(dep: Deployment) -> None:
    """The REST API service down inside a running Tomcat, unlike webapp_down (Tomcat down): the
    web ports answer, the API says 503, SystemInfo says (and publishes) OUT_OF_SERVICE, the desktop
    content is still served."""
    admin = f"http://{HOST}:{dep.node.admin_port}/emu/faults"
    since = len(dep.events_for(f"{API}/SystemInfo"))
    async with dep.http.post(admin, json={"kind": "rest_api_down"}) as resp:
        assert resp.status == 201
    assert dep.node.status.reason == "Finesse REST API service unavailable"
    await dep.wait_event(f"{API}/SystemInfo", "<status>OUT_OF_SERVICE</status>", since=since)
    status, doc, _ = await dep.call("GET", "/User/1000")
    assert status == 503 and text(doc, "ApiError/ErrorMessage") == "SERVER_OUT_OF_SERVICE"
    status, doc, _ = await dep.call("GET", "/SystemInfo", user=None)
    assert status == 200 and text(doc, "status") == "OUT_OF_SERVICE"
    async with dep.http.get(f"http://{HOST}:{dep.node.http_port}/desktop/resources/finesse.js") as resp:
        assert resp.status == 200 and len(await resp.read()) > 1000
    async with dep.http.delete(admin) as resp:
        assert resp.status == 200
    await dep.wait_status("IN_SERVICE")
    status, doc, _ = await dep.call("GET", "/User/1000")
    assert status == 200


async def test_inputs_the_cti_wire_cannot_carry_and_unknown_routes(dep: Deployment) -> None:
    body = "<User><state>LOGIN</state><extension>☃☃☃</extension></User>"
    status, doc, _ = await dep.call("PUT", "/User/1010", user="1010", body=body)
    assert status == 400 and text(doc, "ApiError/ErrorData") == "extension"
    assert dep.node.model.user("1010").state == "LOGOUT"
    status, doc, headers = await dep.call("GET", "/Users")
    assert status == 404 and headers["Content-Type"].startswith("application/xml")
    status, doc, _ = await dep.call("DELETE", "/User/1000")
    assert status == 405 and text(doc, "ApiError/ErrorData") == "DELETE"
    status, _, _ = await dep.call("GET", "/Team/\uff11")  # a full-width digit is not a team id
    assert status == 404
    long_user = "x" * 300
    bad = dep.node.stats["auth_bad_credentials"]
    async with dep.http.get(
        f"http://{HOST}:{dep.node.http_port}{API}/User/1000", headers=basic(long_user, "pw")
    ) as resp:
        assert resp.status == 401 and dep.node.stats["auth_bad_credentials"] == bad + 1
        assert not any(h.lower().startswith("x-emu") for h in resp.headers)  # only what Finesse sends


async def test_cti_refusal_after_202_is_an_asynchronous_error_event(dep: Deployment) -> None:
    await dep.call(
        "PUT", "/User/1012", user="1012", body="<User><state>LOGIN</state><extension>2012</extension></User>"
    )
    await dep.wait_user_state("1012", "NOT_READY")
    body = "<User><state>LOGIN</state><extension>2012</extension></User>"  # 1012's extension
    status, _, _ = await dep.call("PUT", "/User/1013", user="1013", body=body, requestId="busy-1")
    assert status == 202  # accepted; the CTI server refuses afterwards
    node = f"{API}/User/1013"
    update = DET.fromstring(await dep.wait_event(node, "busy-1"))
    assert text(update, "event") == "put"  # asynchronous errors use the lower-case verb (12.5 capture)
    assert "E_CTI_DEVICE_IN_USE" in text(update, "data/apiErrors/apiError/errorMessage")
    assert dep.node.model.user("1013").state == "LOGOUT"


async def wait_for_event(dep: Deployment, node: str, marker: str) -> Any:
    return DET.fromstring(await dep.wait_event(node, marker))


@pytest.fixture
async def dep_no_auto_work() -> AsyncIterator[Deployment]:
    async with deployment(enable_auto_work_mode_state_change=False) as d:
        yield d


async def test_media_put_state_routable_errors_and_work_to_active(dep_no_auto_work: Deployment) -> None:
    """Non-voice MRD 5000: state and routable changes, ARM refusals after the 202, Work to Active
    (enableAutoWorkModeStateChange=false: the agent stays in WORK until the client asks)."""
    dep = dep_no_auto_work
    await dep.call(
        "PUT", "/User/1014", user="1014", body="<User><state>LOGIN</state><extension>2014</extension></User>"
    )
    node = f"{API}/User/1014/Media/5000"
    await wait_for_event(dep, node, "<state>NOT_READY</state>")  # the voice sign-in signs into the MRDs
    put = "PUT", "/User/1014/Media/5000"
    status, _, headers = await dep.call(
        *put, user="1014", body="<Media><state>READY</state></Media>", requestId="m-1"
    )
    assert status == 202 and headers["requestId"] == "m-1"
    update = await wait_for_event(dep, node, "m-1")
    assert text(update, "data/media/state") == "READY" and text(update, "data/media/routable") == "true"
    status, doc, _ = await dep.call("GET", "/User/1014/Media/5000", user="1014")
    assert text(doc, "state") == "READY"
    # Not routable, then NOT_READY with a reason code: the Media document shows both.
    await dep.call(*put, user="1014", body="<Media><routable>false</routable></Media>", requestId="m-2")
    assert text(await wait_for_event(dep, node, "m-2"), "data/media/routable") == "false"
    status, doc, _ = await dep.call("GET", "/User/1014/ReasonCodes?category=NOT_READY", user="1014")
    rc_id = text(doc, "ReasonCode/uri").rsplit("/", 1)[1]
    body = f"<Media><state>NOT_READY</state><reasonCodeId>{rc_id}</reasonCodeId></Media>"
    await dep.call(*put, user="1014", body=body, requestId="m-3")
    update = await wait_for_event(dep, node, "m-3")
    assert (
        text(update, "data/media/state") == "NOT_READY" and text(update, "data/media/reasonCodeId") == rc_id
    )
    # Refused by the CTI side after the 202: an asynchronous error naming the MRD.
    status, _, _ = await dep.call(
        *put, user="1014", body="<Media><routable>false</routable></Media>", requestId="m-4"
    )
    assert status == 202
    err = await wait_for_event(dep, node, "m-4")
    assert text(err, "data/apiErrors/apiError/errorMessage") == "E_ARM_STAT_ALREADY_IN_REQUESTED_AGENT_MODE"
    assert text(err, "data/apiErrors/apiError/errorMedia") == "5000"
    login = "<Media><state>LOGIN</state><maxDialogLimit>5</maxDialogLimit></Media>"
    await dep.call(*put, user="1014", body=login, requestId="m-5")
    err = await wait_for_event(dep, node, "m-5")
    assert text(err, "data/apiErrors/apiError/errorMessage") == "E_ARM_STAT_AGENT_ALREADY_LOGGED_IN"
    # Refused at once: Work to Active outside WORK, the voice MRD, an unknown MRD, somebody else's MRD.
    active = "<Media><state>ACTIVE</state></Media>"
    status, doc, _ = await dep.call(*put, user="1014", body=active)
    assert status == 400 and text(doc, "ApiError/ErrorType") == "Invalid State"
    status, _, _ = await dep.call("PUT", "/User/1014/Media/1", user="1014", body=active)
    assert status == 400
    status, _, _ = await dep.call("PUT", "/User/1014/Media/4242", user="1014", body=active)
    assert status == 404
    status, _, _ = await dep.call(*put, user="1015", body="<Media><state>READY</state></Media>")
    assert status == 401
    # The CTI session drops: the PG puts the MRD in WORK and (12.5+) keeps it there after reconnect.
    await dep.fault(dep.a, "drop_sessions")
    await wait_for_event(dep, node, "<state>WORK</state>")
    await dep.wait_status("IN_SERVICE", timeout=10)
    status, _, _ = await dep.call(*put, user="1014", body=active, requestId="m-6")
    assert status == 202
    update = await wait_for_event(dep, node, "m-6")
    assert text(update, "data/media/state") == "NOT_READY"  # the state before the forced WORK


async def test_auto_work_mode_state_change_brings_non_voice_mrds_back(dep: Deployment) -> None:
    """enableAutoWorkModeStateChange=true (the default): after the CTI reconnect the node itself
    takes the agent out of WORK, back to the state it had (READY here)."""
    await dep.call(
        "PUT", "/User/1016", user="1016", body="<User><state>LOGIN</state><extension>2016</extension></User>"
    )
    node = f"{API}/User/1016/Media/5000"
    await wait_for_event(dep, node, "<state>NOT_READY</state>")
    await dep.call("PUT", "/User/1016/Media/5000", user="1016", body="<Media><state>READY</state></Media>")
    await wait_for_event(dep, node, "<state>READY</state>")
    before = len(dep.events_for(node))
    await dep.fault(dep.a, "drop_sessions")
    await dep.wait_event(node, "<state>WORK</state>", since=before, within=10.0)
    await eventually(
        lambda: dep.node.model.user("1016").media[5000].state,
        "MRD 5000 of 1016 back to READY",
        until=lambda s: s == "READY",
        within=10.0,
    )
    assert dep.node.stats["auto_work_to_active"] >= 1
    status, doc, _ = await dep.call("GET", "/User/1016/Media/5000", user="1016")
    assert status == 200 and text(doc, "state") == "READY"


async def test_desktop_content_cache_bypass_and_reload_pacing() -> None:
    """Gadget specs and resources carry an ETag: a desktop that still holds them gets 304; the
    bypassServerCache URL parameter and JSP gadgets always get the content; reload_rate paces."""
    async with deployment(reload_rate=20.0) as d:  # 20 per emulated second = 1000/s at time_scale 0.02
        base = f"http://{HOST}:{d.node.http_port}/desktop"
        async with d.http.get(f"{base}/gadgets/xml/g1") as resp:
            etag, body = resp.headers["ETag"], await resp.read()
        assert resp.status == 200 and len(body) > 10_000
        async with d.http.get(f"{base}/gadgets/xml/g1", headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304 and await resp.read() == b""
        url = f"{base}/gadgets/xml/g1?bypassServerCache=true&nocache=1"
        async with d.http.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 200 and await resp.read() == body
        async with d.http.get(f"{base}/gadgets/jsp/g1") as resp:
            assert resp.status == 200 and "ETag" not in resp.headers
        async with d.http.get(f"{base}/resources/b1.js") as resp:
            assert resp.status == 200 and "ETag" in resp.headers

        # 40 requests at 1000/s take at least 39 ms: served in turn, not at once.
        async def fetch(path: str) -> int:
            async with d.http.get(f"{base}{path}") as resp:
                await resp.read()
                return resp.status

        t0 = asyncio.get_running_loop().time()
        assert set(await asyncio.gather(*(fetch(f"/resources/r{i}.js") for i in range(40)))) == {200}
        assert asyncio.get_running_loop().time() - t0 >= 0.039
        assert d.node.stats["http_desktop_requests"] >= 45
