"""The Finesse administration API over real sockets (issue 17): an administrator's credentials, the
publisher only, the settings the Finesse Failover Mechanisms chapter says are "configured through the
Finesse administration console" taking effect where they are next used, and the refusal when both
AWDBs are down: "Administrators cannot update or retrieve settings in the Cisco Finesse
administration console."

The node of ``test_finesse_node``'s deployment (CTI sides A and B, an AWDB, in this event loop) with
30 generated agents (1000 supervises team 1) and one administrator, 9000."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from awdb_stub.db import AwdbDatabase
from awdb_stub.seed import SeedData
from awdb_stub.server import AwdbServer
from awdb_stub.server import ServerConfig as AwdbConfig
from emu_base.directory import AgentRecord, generate
from emu_base.timers import Timers
from finesse_emu.server.admin_api import ROUTES
from tests.helpers import eventually
from tests.integration.test_cti_client_fake_server import FakeCtiServer
from tests.integration.test_finesse_node import API, HOST, SCALE, Deployment, deployment, text

ADMIN = AgentRecord(id="9000", login="admin", password="pass9000", extension="9000", admin=True)
AGENTS = [*generate(30), ADMIN]
ADMIN_ROUTES = [(method, path) for method, path, _ in ROUTES]


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(agents=AGENTS, secondary_host="127.0.0.2") as d:
        yield d


def concrete(path: str) -> str:
    return re.sub(r"\{id\}", "1", path)[len(API) :]


async def test_every_administration_route_is_the_administrators_only(dep: Deployment) -> None:
    """No credentials, a wrong password, an agent, a supervisor: 401 Authorization Failure on every
    route, and nothing read or changed; the administrator reads every resource."""
    before = (dep.node.cti.sides, list(dep.node.core.directory.reason_codes))
    for method, path in ADMIN_ROUTES:
        url = concrete(path)
        for user in (None, "1001", "1000"):
            status, doc, _ = await dep.call(
                method, url, user=user, body="<x/>" if method in ("PUT", "POST") else None
            )
            assert status == 401, (method, path, user)
            assert text(doc, "ApiError/ErrorType") == "Authorization Failure", (method, path, user)
    status, _, _ = await dep.call("GET", "/SystemConfig", user=None, Authorization="Basic OTAwMDp3cm9uZw==")
    assert status == 401  # 9000:wrong
    assert (dep.node.cti.sides, dep.node.core.directory.reason_codes) == before
    for method, path in ADMIN_ROUTES:
        if method == "GET":
            status, doc, _ = await dep.call(method, concrete(path), user="9000")
            assert status == 200, (path, status)
    status, doc, _ = await dep.call("GET", "/SystemConfig", user="9000")
    assert [text(doc, f"cti/{n}") for n in ("host", "port", "backupHost", "backupPort")] == [
        HOST,
        str(dep.a.config.port),
        HOST,
        str(dep.b.config.port),
    ]
    # The administration API leaves the routes agents use as they were: an agent reads a reason code.
    assert (await dep.call("GET", "/ReasonCode/1", user="1001"))[0] == 200


async def test_the_subscriber_refuses_the_administrator_with_403() -> None:
    """ "Configuration APIs cannot be run against the secondary Finesse server": reads and writes."""
    async with deployment(agents=AGENTS, role="subscriber") as d:
        for method, path in ADMIN_ROUTES:
            body = "<x/>" if method in ("PUT", "POST") else None
            status, doc, _ = await d.call(method, concrete(path), user="9000", body=body)
            assert (status, text(doc, "ApiError/ErrorType")) == (403, "Forbidden"), (method, path)
            assert (await d.call(method, concrete(path), user="1001", body=body))[0] == 401


async def test_a_new_side_b_is_used_at_the_next_cti_failover(dep: Deployment) -> None:
    """ "The B Side CTI host and port must be configured through the Finesse administration
    console": the link on A goes on; when A goes, the node connects to the B side just configured."""
    new_b = await FakeCtiServer("B2").start()
    try:
        body = (
            f"<SystemConfig><cti><backupHost>{HOST}</backupHost><backupPort>{new_b.port}</backupPort>"
            "</cti></SystemConfig>"
        )
        status, doc, _ = await dep.call("PUT", "/SystemConfig", user="9000", body=body)
        assert status == 200 and text(doc, "cti/backupPort") == str(new_b.port)
        assert dep.node.cti.active_side == "A" and new_b.sessions == 0  # nothing moves until a failover
        status, doc, _ = await dep.call("GET", "/SystemConfig", user="9000")
        assert text(doc, "cti/backupPort") == str(new_b.port) and text(doc, "cti/port") == str(
            dep.a.config.port
        )
        await dep.fault(dep.a, "deactivate")  # side A goes idle: the node fails over
        await eventually(
            lambda: (new_b.sessions, dep.node.cti.active_side),
            "the node on the new side B",
            until=lambda seen: seen[0] >= 1 and seen[1] == "B",
            within=10,
        )
        # The old side B (active now) never saw the node: the link went where it was told.
        assert not any(s.client_id == "Finesse" for s in dep.b.core.sessions.values())
    finally:
        await new_b.stop()


async def test_system_config_refuses_bad_bodies_and_changes_nothing(dep: Deployment) -> None:
    sides = dep.node.cti.sides
    for body, error_type in [
        ("<SystemConfig><cti>", "Bad Request"),
        ("<SystemConfig><cti><backupHost>bad host!</backupHost></cti></SystemConfig>", "Invalid Input"),
        ("<SystemConfig><cti><secure>true</secure></cti></SystemConfig>", "Invalid Input"),
        (
            f"<SystemConfig><cti><backupHost>{HOST}</backupHost><backupPort>{dep.a.config.port}</backupPort>"
            "</cti></SystemConfig>",
            "Invalid Input",
        ),
        ('<!DOCTYPE a [<!ENTITY e "x">]><SystemConfig/>', "Bad Request"),
    ]:
        status, doc, _ = await dep.call("PUT", "/SystemConfig", user="9000", body=body)
        assert (status, text(doc, "ApiError/ErrorType")) == (400, error_type), body
    assert dep.node.cti.sides == sides


async def awdb_server(agents: list[AgentRecord], name: str) -> tuple[AwdbServer, AwdbDatabase]:
    db = AwdbDatabase()
    db.seed(SeedData(agents))
    server = AwdbServer(AwdbConfig(name=name, host=HOST, port=0, admin_port=0), db)
    await server.start()
    return server, db


async def awdb_fault(dep: Deployment, server: AwdbServer, kind: str | None) -> None:
    url = f"http://{HOST}:{server.admin_port}/emu/faults"
    if kind is None:
        async with dep.http.delete(url) as resp:
            assert resp.status in (200, 204)
        return
    async with dep.http.post(url, json={"kind": kind}) as resp:
        assert resp.status == 201


async def test_the_secondary_awdb_is_used_from_the_next_request(dep: Deployment) -> None:
    """ "The secondary AWDB host is configured through the Cisco Finesse administration console":
    with the only AWDB refusing, an agent not yet cached is 401; once the administrator (cached)
    names a secondary AWDB, the agent's next request signs in through it."""
    second, db = await awdb_server(AGENTS, "awdb-b")
    try:
        assert (await dep.call("GET", "/EnterpriseDatabaseConfig", user="9000"))[0] == 200  # cached now
        await awdb_fault(dep, dep.awdb, "refuse")
        assert (await dep.call("GET", "/User/1006", user="1006"))[0] == 401
        body = (
            f"<EnterpriseDatabaseConfig><backupHost>{HOST}</backupHost><backupPort>{second.port}</backupPort>"
            "<databaseName>ucce_awdb</databaseName></EnterpriseDatabaseConfig>"
        )
        status, doc, _ = await dep.call("PUT", "/EnterpriseDatabaseConfig", user="9000", body=body)
        assert status == 200
        assert [
            text(doc, n) for n in ("host", "port", "backupHost", "backupPort", "databaseName", "password")
        ] == [
            HOST,
            str(dep.awdb.port),
            HOST,
            str(second.port),
            "ucce_awdb",
            "",
        ]
        assert (await dep.call("GET", "/User/1006", user="1006"))[0] == 200
        assert dep.node.awdb.current == "awdb-b"
    finally:
        await awdb_fault(dep, dep.awdb, None)
        await second.stop()
        db.close()


@pytest.fixture
async def short_cache() -> AsyncIterator[Deployment]:
    timers = Timers.build(SCALE, awdb_credential_cache=20.0)  # 0.4 s of real time
    async with deployment(timers, agents=AGENTS) as d:
        yield d


async def test_with_both_awdbs_down_and_the_cache_expired_administrators_cannot_update_or_retrieve(
    short_cache: Deployment,
) -> None:
    """The chapter, AWDB Failover: "Administrators cannot update or retrieve settings in the Cisco
    Finesse administration console." While the administrator's credentials are cached the API
    answers; once they expire, every request is 401 and nothing changes; the AWDB back, it answers."""
    dep = short_cache
    assert (await dep.call("GET", "/SystemConfig", user="9000"))[0] == 200
    await awdb_fault(dep, dep.awdb, "refuse")  # the deployment's only AWDB: both are down
    auth = dep.node.authenticator
    await eventually(
        lambda: auth.cache.get("9000", "pass9000", auth.clock.now()),
        "the administrator's credentials to leave the cache",
        until=lambda user: user is None,
        within=10,
    )
    status, doc, _ = await dep.call("GET", "/SystemConfig", user="9000")
    assert (status, text(doc, "ApiError/ErrorType")) == (401, "Authorization Failure")
    sides = dep.node.cti.sides
    body = "<SystemConfig><cti><backupPort>44027</backupPort></cti></SystemConfig>"
    assert (await dep.call("PUT", "/SystemConfig", user="9000", body=body))[0] == 401
    assert dep.node.cti.sides == sides
    await awdb_fault(dep, dep.awdb, None)
    assert (await dep.call("GET", "/SystemConfig", user="9000"))[0] == 200


async def test_cluster_config_and_system_info(dep: Deployment) -> None:
    status, doc, _ = await dep.call("GET", "/ClusterConfig", user="9000")
    assert status == 200 and text(doc, "secondaryNode/host") == "127.0.0.2"
    body = "<ClusterConfig><secondaryNode><host>127.0.0.3</host></secondaryNode></ClusterConfig>"
    assert (await dep.call("PUT", "/ClusterConfig", user="9000", body=body))[0] == 200
    status, doc, _ = await dep.call("GET", "/SystemInfo", user=None)
    assert text(doc, "secondaryNode/host") == "127.0.0.3"


async def test_desktop_properties_change_live(dep: Deployment) -> None:
    status, doc, _ = await dep.call("GET", "/DesktopProperties", user="9000")
    assert status == 200 and text(doc, "enableAutoWorkModeStateChange") == "true"
    assert text(doc, "preLoadSecondaryResources") == "true"
    body = (
        "<DesktopProperties><preLoadSecondaryResources>false</preLoadSecondaryResources>"
        "<enableAutoWorkModeStateChange>false</enableAutoWorkModeStateChange></DesktopProperties>"
    )
    assert (await dep.call("PUT", "/DesktopProperties", user="9000", body=body))[0] == 200
    assert (
        dep.node.config.enable_auto_work_mode_state_change is False
    )  # what the node reads after a CTI reconnect
    status, doc, _ = await dep.call("GET", "/User/1001/DesktopProperties", user="1001")
    assert text(doc, "preLoadSecondaryResources") == "false"  # what the desktop loads next
    bad = "<DesktopProperties><preLoadSecondaryResources>yes</preLoadSecondaryResources></DesktopProperties>"
    assert (await dep.call("PUT", "/DesktopProperties", user="9000", body=bad))[0] == 400


async def test_cors_origins_through_the_administration_api(dep: Deployment) -> None:
    origin = "https://gadgets.example:8443"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "GET"}
    url = f"http://{HOST}:{dep.node.http_port}{API}/User/1001"
    async with dep.http.options(url, headers=preflight) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers  # CORS off, Finesse's default
    body = f"<CorsConfig><origins><origin>{origin}</origin></origins></CorsConfig>"
    status, doc, _ = await dep.call("PUT", "/CorsConfig", user="9000", body=body)
    assert status == 200 and text(doc, "origins/origin") == origin and text(doc, "enabled") == "true"
    async with dep.http.options(url, headers=preflight) as resp:
        assert resp.headers.get("Access-Control-Allow-Origin") == origin
    bad = "<CorsConfig><origins><origin>not an origin</origin></origins></CorsConfig>"
    assert (await dep.call("PUT", "/CorsConfig", user="9000", body=bad))[0] == 400
    assert dep.node.cors.origins == [origin]


async def test_reason_codes_and_wrapup_reasons_crud(dep: Deployment) -> None:
    body = (
        "<ReasonCode><category>NOT_READY</category><code>77</code><label>Coaching</label>"
        "<forAll>true</forAll></ReasonCode>"
    )
    status, doc, headers = await dep.call("POST", "/ReasonCodes", user="9000", body=body)
    assert status == 200 and text(doc, "label") == "Coaching"
    uri = text(doc, "uri")
    assert headers["Location"] == uri
    rc_id = uri.rsplit("/", 1)[1]
    # The agents' own list shows it at once, and an agent can use it.
    status, doc, _ = await dep.call("GET", "/User/1001/ReasonCodes?category=NOT_READY", user="1001")
    assert "Coaching" in [e.text for e in doc.iter("label")]
    status, doc, _ = await dep.call("POST", "/ReasonCodes", user="9000", body=body)
    assert (status, text(doc, "ApiError/ErrorType")) == (400, "Finesse API Error")  # (code, category) taken
    status, doc, _ = await dep.call(
        "PUT", f"/ReasonCode/{rc_id}", user="9000", body="<ReasonCode><label>Coach</label></ReasonCode>"
    )
    assert status == 200 and text(doc, "label") == "Coach" and text(doc, "code") == "77"
    status, doc, _ = await dep.call("GET", "/ReasonCodes?category=ALL", user="9000")
    assert "Coach" in [e.text for e in doc.iter("label")]
    assert (await dep.call("DELETE", f"/ReasonCode/{rc_id}", user="9000"))[0] == 200
    assert (await dep.call("GET", f"/ReasonCode/{rc_id}", user="1001"))[0] == 404
    assert (await dep.call("DELETE", f"/ReasonCode/{rc_id}", user="9000"))[0] == 404

    status, doc, headers = await dep.call(
        "POST", "/WrapUpReasons", user="9000", body="<WrapUpReason><label>Refund</label></WrapUpReason>"
    )
    assert status == 200
    wid = text(doc, "uri").rsplit("/", 1)[1]
    status, doc, _ = await dep.call("GET", "/User/1001/WrapUpReasons", user="1001")
    assert "Refund" in [e.text for e in doc.iter("label")]
    status, doc, _ = await dep.call(
        "PUT", f"/WrapUpReason/{wid}", user="9000", body="<WrapUpReason><forAll>false</forAll></WrapUpReason>"
    )
    assert status == 200 and text(doc, "forAll") == "false"
    assert (await dep.call("DELETE", f"/WrapUpReason/{wid}", user="9000"))[0] == 200
    assert (await dep.call("GET", f"/WrapUpReason/{wid}", user="9000"))[0] == 404
    status, doc, _ = await dep.call("POST", "/WrapUpReasons", user="9000", body="<WrapUpReason><label>")
    assert (status, text(doc, "ApiError/ErrorType")) == (400, "Bad Request")


async def test_default_and_team_layouts_through_the_administration_api(dep: Deployment) -> None:
    """ "The administrator must configure the team or desktop layouts": the default layout and a
    team's own, as the desktops that load next see them (GET User/{id}/LayoutConfig)."""
    status, doc, _ = await dep.call("GET", "/LayoutConfig/default", user="9000")
    assert status == 200 and "finesseLayout" in text(doc, "layoutxml")
    layout = (
        '<finesseLayout xmlns="http://www.cisco.com/vtg/finesse"><layout><role>Agent</role><tabs><tab>'
        "<id>home</id><gadgets><gadget>/desktop/gadgets/xml/gadget0</gadget>"
        "<gadget>/desktop/gadgets/jsp/cuic0</gadget></gadgets></tab></tabs></layout></finesseLayout>"
    )
    escaped = layout.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = f"<LayoutConfig><layoutxml>{escaped}</layoutxml></LayoutConfig>"
    assert (await dep.call("PUT", "/LayoutConfig/default", user="9000", body=body))[0] == 200
    assert dep.node.layouts.layout.default == ("/desktop/gadgets/xml/gadget0", "/desktop/gadgets/jsp/cuic0")
    status, doc, _ = await dep.call("GET", "/User/1001/LayoutConfig", user="1001")
    assert "/desktop/gadgets/jsp/cuic0" in text(doc, "layoutxml")
    # Team 2 gets its own (the layout as an element this time), then goes back to the default.
    team = (
        f"<TeamLayoutConfig><useDefault>false</useDefault><layoutxml>{layout}</layoutxml></TeamLayoutConfig>"
    )
    team = team.replace("jsp/cuic0", "xml/gadget9")
    status, doc, _ = await dep.call("PUT", "/Team/2/LayoutConfig", user="9000", body=team)
    assert status == 200 and text(doc, "useDefault") == "false"
    assert dep.node.layouts.layout.for_team(2)[-1] == "/desktop/gadgets/xml/gadget9"
    assert dep.node.layouts.layout.for_team(1)[-1] == "/desktop/gadgets/jsp/cuic0"
    back = "<TeamLayoutConfig><useDefault>true</useDefault></TeamLayoutConfig>"
    status, doc, _ = await dep.call("PUT", "/Team/2/LayoutConfig", user="9000", body=back)
    assert status == 200 and text(doc, "useDefault") == "true" and 2 not in dep.node.layouts.layout.teams
    assert (await dep.call("GET", "/Team/77/LayoutConfig", user="9000"))[0] == 404
    for bad in ("<LayoutConfig/>", "<LayoutConfig><layoutxml>&lt;other/&gt;</layoutxml></LayoutConfig>"):
        assert (await dep.call("PUT", "/LayoutConfig/default", user="9000", body=bad))[0] == 400
    assert dep.node.layouts.layout.default[-1] == "/desktop/gadgets/jsp/cuic0"  # unchanged by refusals


async def test_non_global_reason_codes_and_wrapup_reasons_reach_their_teams_only(dep: Deployment) -> None:
    """A reason code with forAll false is seen only by the teams it is assigned to (1001 is in team 1,
    1026 in team 2); a global one by everyone."""
    body = (
        "<ReasonCode><category>NOT_READY</category><code>88</code><label>Team One Huddle</label>"
        "<forAll>false</forAll></ReasonCode>"
    )
    status, doc, _ = await dep.call("POST", "/ReasonCodes", user="9000", body=body)
    assert status == 200
    uri = text(doc, "uri")

    async def labels(agent: str) -> list[str | None]:
        _, doc, _ = await dep.call("GET", f"/User/{agent}/ReasonCodes?category=NOT_READY", user=agent)
        return [e.text for e in doc.iter("label")]

    assert "Team One Huddle" not in await labels("1001")  # assigned to no team yet
    assign = f"<ReasonCodes><ReasonCode><uri>{uri}</uri></ReasonCode></ReasonCodes>"
    status, doc, _ = await dep.call("PUT", "/Team/1/ReasonCodes", user="9000", body=assign)
    assert status == 200 and text(doc, "ReasonCode/uri") == uri
    assert "Team One Huddle" in await labels("1001")
    assert "Team One Huddle" not in await labels("1026")
    global_uri = "/finesse/api/ReasonCode/1"
    refused = f"<ReasonCodes><ReasonCode><uri>{global_uri}</uri></ReasonCode></ReasonCodes>"
    status, doc, _ = await dep.call("PUT", "/Team/1/ReasonCodes", user="9000", body=refused)
    assert (status, text(doc, "ApiError/ErrorType")) == (400, "Finesse API Error")
    assert "Team One Huddle" in await labels("1001")  # nothing changed by the refusal
    status, doc, _ = await dep.call("GET", "/Team/1/ReasonCodes", user="9000")
    assert [e.text for e in doc.iter("uri")] == [uri]
    assert (await dep.call("PUT", "/Team/1/ReasonCodes", user="9000", body="<ReasonCodes/>"))[0] == 200
    assert "Team One Huddle" not in await labels("1001")

    status, doc, _ = await dep.call(
        "POST",
        "/WrapUpReasons",
        user="9000",
        body="<WrapUpReason><label>Escalated</label><forAll>false</forAll></WrapUpReason>",
    )
    wrapup = text(doc, "uri")
    assign = f"<WrapUpReasons><WrapUpReason><uri>{wrapup}</uri></WrapUpReason></WrapUpReasons>"
    assert (await dep.call("PUT", "/Team/2/WrapUpReasons", user="9000", body=assign))[0] == 200
    _, doc, _ = await dep.call("GET", "/User/1026/WrapUpReasons", user="1026")
    assert "Escalated" in [e.text for e in doc.iter("label")]
    _, doc, _ = await dep.call("GET", "/User/1001/WrapUpReasons", user="1001")
    assert "Escalated" not in [e.text for e in doc.iter("label")]
    assert (await dep.call("GET", "/Team/99/WrapUpReasons", user="9000"))[0] == 404
