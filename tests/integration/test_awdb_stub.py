"""The AWDB stub over real sockets on 127.0.0.1: every route, bad input, each fault, the admin port,
and the AWDB login every query route requires (issue 14)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from awdb_stub.db import AwdbDatabase
from awdb_stub.login import Login
from awdb_stub.seed import SeedData
from awdb_stub.server import API, AwdbServer, ServerConfig
from emu_base.awdb_login import AwdbLogin, basic_header
from emu_base.directory import generate
from finesse_emu.server.auth.awdb_client import AwdbClient, AwdbUnavailable, BadCredentials
from tests.helpers import eventually

HOST = "127.0.0.1"
PASSWORD = "tRQ1s-awdb-login-password"
LOGIN = Login("finesse", PASSWORD)
AUTH = {"Authorization": basic_header("finesse", PASSWORD)}
AGENT_KEYS = {
    "id",
    "login",
    "first_name",
    "last_name",
    "extension",
    "team_id",
    "supervisor",
    "admin",
    "skill_groups",
    "non_voice_mrds",
    "icm_agent_id",
    "teams_supervised",
    # The agent's desk settings (Agent Desk Settings: Finesse's User settings).
    "wrap_up_on_incoming",
    "wrap_up_on_outgoing",
    "wrap_up_time",
}


async def start_stub(**config: Any) -> AwdbServer:
    """A stub with 60 agents that requires LOGIN (``login=None``: an open one)."""
    db = AwdbDatabase()
    db.seed(SeedData(generate(60)))
    config.setdefault("login", LOGIN)
    srv = AwdbServer(ServerConfig(name="awdb-a", host=HOST, port=0, admin_port=0, **config), db)
    await srv.start()
    return srv


async def stop_stub(srv: AwdbServer) -> None:
    await srv.stop()
    srv.db.close()


@pytest.fixture
async def stub() -> AsyncIterator[AwdbServer]:
    srv = await start_stub()
    yield srv
    await stop_stub(srv)


async def api(
    srv: AwdbServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
    login: bool = True,
) -> tuple[int, Any]:
    """A query, with the AWDB login unless ``login`` is false or ``headers`` say otherwise."""
    sent = {**(AUTH if login else {}), **(headers or {})}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
        http.request(
            method, f"http://{HOST}:{srv.port}{API}{path}", json=body, data=data, headers=sent
        ) as resp,
    ):
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


async def admin(
    srv: AwdbServer, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"http://{HOST}:{srv.admin_port}{path}", json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def authenticate(srv: AwdbServer, user: str, password: str, **kw: Any) -> tuple[int, Any]:
    return await api(srv, "POST", "/authenticate", {"user": user, "password": password}, **kw)


async def test_every_route(stub: AwdbServer) -> None:
    assert await api(stub, "GET", "/ping") == (200, {"ok": True, "name": "awdb-a"})

    status, body = await authenticate(stub, "1003", "pass1003")
    assert status == 200 and set(body) == {"agent"} and set(body["agent"]) == AGENT_KEYS
    agent = body["agent"]
    assert (agent["id"], agent["login"], agent["extension"], agent["team_id"]) == (
        "1003",
        "agent0004",
        "2003",
        1,
    )
    assert await authenticate(stub, "agent0004", "pass1003") == (200, body)

    assert await api(stub, "GET", "/agents/1003") == (200, body)
    assert await api(stub, "GET", "/agents/agent0004") == (200, body)
    status, listed = await api(stub, "GET", "/agents?team_id=3")
    assert status == 200 and [a["id"] for a in listed["agents"]] == [str(1050 + i) for i in range(10)]
    status, everyone = await api(stub, "GET", "/agents")
    assert status == 200 and len(everyone["agents"]) == 60

    status, teams = await api(stub, "GET", "/teams")
    assert status == 200
    assert teams["teams"] == [
        {"id": 1, "name": "Team 1", "supervisors": ["1000"], "size": 25},
        {"id": 2, "name": "Team 2", "supervisors": ["1025"], "size": 25},
        {"id": 3, "name": "Team 3", "supervisors": ["1050"], "size": 10},
    ]
    status, team = await api(stub, "GET", "/teams/2")
    assert status == 200 and team["team"]["name"] == "Team 2" and team["team"]["supervisors"] == ["1025"]
    assert len(team["team"]["agents"]) == 25 and team["team"]["agents"][0]["supervisor"] is True

    status, codes = await api(stub, "GET", "/reason-codes")
    assert status == 200
    categories = {c["category"] for c in codes["reason_codes"]}
    assert categories == {"NOT_READY", "LOGOUT"}
    assert all(set(c) == {"id", "code", "label", "category", "system"} for c in codes["reason_codes"])
    status, logout = await api(stub, "GET", "/reason-codes?category=LOGOUT")
    assert status == 200 and {c["category"] for c in logout["reason_codes"]} == {"LOGOUT"}
    assert "End of shift" in [c["label"] for c in logout["reason_codes"]]
    status, nr = await api(stub, "GET", "/reason-codes?category=not_ready")
    assert status == 200 and "Break" in [c["label"] for c in nr["reason_codes"]]
    assert len(nr["reason_codes"]) + len(logout["reason_codes"]) == len(codes["reason_codes"])

    status, wrapups = await api(stub, "GET", "/wrapup-reasons")
    assert status == 200 and all(set(w) == {"id", "label"} for w in wrapups["wrapup_reasons"])
    assert await api(stub, "GET", "/mrds") == (
        200,
        {
            "mrds": [
                {"id": 1, "name": "Voice", "voice": True},
                {"id": 5000, "name": "Chat", "voice": False},
                {"id": 5001, "name": "Email", "voice": False},
            ]
        },
    )
    status, groups = await api(stub, "GET", "/skill-groups")
    assert status == 200 and [g["size"] for g in groups["skill_groups"]] == [25, 25, 10]


async def test_401_is_the_same_for_unknown_users_and_wrong_passwords(stub: AwdbServer) -> None:
    unknown = await authenticate(stub, "nobody", "pass1003")
    wrong = await authenticate(stub, "1003", "pass1004")
    assert unknown == wrong == (401, {"error": "invalid credentials"})
    for user in ("' OR '1'='1", "1003' --", "1003'; DROP TABLE person; --", "%", "*"):
        assert await authenticate(stub, user, "' OR '1'='1") == (401, {"error": "invalid credentials"})
    assert (await authenticate(stub, "1003", "pass1003"))[0] == 200
    assert stub.db.agent_count() == 60


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        (b'{"user": "1003", "password": ', "application/json", "body is not JSON"),
        (b"[1, 2]", "application/json", "body must be a JSON object"),
        (b'"just a string"', "application/json", "body must be a JSON object"),
        (b"", "application/json", "user is required"),
        (b'{"password": "pass1003"}', "application/json", "user is required"),
        (b'{"user": "1003"}', "application/json", "password is required"),
        (b'{"user": 1003, "password": "pass1003"}', "application/json", "user must be a string"),
        (b'{"user": "1003", "password": ["pass1003"]}', "application/json", "password must be a string"),
        (b'{"user": "", "password": "x"}', "application/json", "user must not be empty"),
        (b'{"user": "\\ud800", "password": "x"}', "application/json", "user is not valid Unicode"),
        (b'{"user": "1003", "password": "pass1003"}', "application/json; charset=no-such", "not JSON"),
        (b"\xff\xfe\x00", "application/json", "body is not JSON"),
        (b"[" * 8000 + b"]" * 8000, "application/json", "body is not JSON"),
        (b'{"user": "' + b"u" * 300 + b'", "password": "x"}', "application/json", "longer than 256"),
    ],
)
async def test_malformed_authenticate_bodies_are_400(
    stub: AwdbServer, data: bytes, content_type: str, expected: str
) -> None:
    status, body = await api(stub, "POST", "/authenticate", data=data, headers={"Content-Type": content_type})
    assert status == 400 and expected in body["error"], body
    assert (await authenticate(stub, "1003", "pass1003"))[0] == 200


async def test_unknown_things_are_json_404_and_bad_parameters_400(stub: AwdbServer) -> None:
    status, body = await api(stub, "GET", "/agents/9999")
    assert status == 404 and "unknown agent" in body["error"]
    assert (await api(stub, "GET", "/agents/agent0099"))[0] == 404
    assert (await api(stub, "GET", "/teams/42"))[0] == 404
    assert (await api(stub, "GET", "/nothing-here"))[0] == 404
    assert (await api(stub, "DELETE", "/ping"))[0] == 405
    assert (await api(stub, "GET", "/teams/two"))[0] == 400
    assert (await api(stub, "GET", "/teams/" + "9" * 30))[0] == 400
    assert (await api(stub, "GET", "/agents?team_id=x"))[0] == 400
    assert (await api(stub, "GET", "/reason-codes?category=BREAK"))[0] == 400
    assert (await api(stub, "GET", "/agents/" + "a" * 300))[0] == 400
    assert await api(stub, "GET", "/agents?team_id=77") == (200, {"agents": []})
    status, health = await admin(stub, "GET", "/emu/health")
    assert health["stats"]["http_404"] == 4 and health["stats"]["http_400"] == 5
    assert health["stats"]["http_405"] == 1


async def test_body_cap(stub: AwdbServer) -> None:
    huge = json.dumps({"user": "1003", "password": "x" * 100_000}).encode()
    status, body = await api(stub, "POST", "/authenticate", data=huge)
    assert status == 413 and "16384" in body["error"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(20):
            yield b" " * 4096

    status, body = await api(stub, "POST", "/authenticate", data=chunks())  # type: ignore[arg-type]
    assert status == 413 and "error" in body
    assert (await authenticate(stub, "1003", "pass1003"))[0] == 200


async def test_each_rejection_is_one_log_line_and_no_secret_is_ever_logged(stub: AwdbServer) -> None:
    with capture_logs() as logs:
        assert (await authenticate(stub, "1003", "pass1003"))[0] == 200
        assert (await authenticate(stub, "agent0005", "pass1003"))[0] == 401
        assert (await api(stub, "POST", "/authenticate", data=b"{oops"))[0] == 400
        assert (await api(stub, "GET", "/agents/424242"))[0] == 404
        _, body = await api(stub, "GET", "/teams/1")
    rejected = [e for e in logs if e["event"] == "awdb_rejected"]
    assert [e["status"] for e in rejected] == [401, 400, 404]
    assert rejected[0]["user"] == "agent0005" and rejected[0]["path"] == f"{API}/authenticate"
    text = json.dumps(logs, default=str) + json.dumps(body)
    assert "pass1003" not in text and "pbkdf2" not in text and "password_hash" not in text


async def test_hang_fault_times_out_clients_until_removed(stub: AwdbServer) -> None:
    status, fault = await admin(stub, "POST", "/emu/faults", {"kind": "hang"})
    assert status == 201 and fault["kind"] == "hang"
    # The connection is accepted and the request read; no answer comes: the client's timeout path.
    with pytest.raises(TimeoutError):
        await authenticate(stub, "1003", "pass1003", timeout=0.3)
    status, health = await admin(stub, "GET", "/emu/health")  # the admin port is not affected
    assert status == 200 and health["state"] == "hanging" and health["listening"] is True
    waiting = asyncio.create_task(authenticate(stub, "1004", "pass1004"))
    await eventually(lambda: stub.held, "the request held by the hang", until=lambda held: held == 1)
    assert not waiting.done()
    assert (await admin(stub, "DELETE", f"/emu/faults/{fault['id']}"))[0] == 200
    status, body = await waiting  # a held request is answered once the AWDB recovers
    assert status == 200 and body["agent"]["id"] == "1004"
    assert (await authenticate(stub, "1003", "pass1003", timeout=0.3))[0] == 200
    assert (await admin(stub, "GET", "/emu/health"))[1]["state"] == "up"


async def test_refuse_fault_closes_the_listener_and_kept_alive_connections(stub: AwdbServer) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        url = f"http://{HOST}:{stub.port}{API}/ping"
        async with http.get(url) as resp:  # leaves a kept-alive connection in the pool
            assert resp.status == 200
        status, _ = await admin(stub, "POST", "/emu/faults", {"kind": "refuse"})
        assert status == 201
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(HOST, stub.port)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(url) as resp:
                await resp.read()
    status, health = await admin(stub, "GET", "/emu/health")
    assert health["state"] == "refusing" and health["listening"] is False
    assert (await admin(stub, "DELETE", "/emu/faults"))[1] == {"cleared": 1}
    assert await api(stub, "GET", "/ping") == (200, {"ok": True, "name": "awdb-a"})
    assert (await admin(stub, "GET", "/emu/health"))[1]["listening"] is True


async def test_slow_fault_delays_every_answer_but_not_the_admin_port(stub: AwdbServer) -> None:
    # A delay far above what a loaded host adds: the admin port answering within half of it shows
    # it is not delayed, whatever the host's speed.
    assert (await admin(stub, "POST", "/emu/faults", {"kind": "slow", "ms": 1500}))[0] == 201
    t0 = time.perf_counter()
    status, _ = await authenticate(stub, "1003", "pass1003")
    slow = time.perf_counter() - t0
    t0 = time.perf_counter()
    status_admin, health = await admin(stub, "GET", "/emu/health")
    fast = time.perf_counter() - t0
    assert status == 200 and slow >= 1.5
    assert status_admin == 200 and health["state"] == "slow" and fast < 0.75
    assert (await admin(stub, "POST", "/emu/faults", {"kind": "slow"}))[0] == 400  # ms is required
    assert (await admin(stub, "POST", "/emu/faults", {"kind": "slow", "ms": -5}))[0] == 400
    await admin(stub, "DELETE", "/emu/faults")
    t0 = time.perf_counter()
    await api(stub, "GET", "/ping")
    assert time.perf_counter() - t0 < 0.75  # healed: no 1.5 s delay any more


async def test_error_fault_answers_every_query_with_the_status(stub: AwdbServer) -> None:
    status, fault = await admin(stub, "POST", "/emu/faults", {"kind": "error"})
    assert status == 201 and fault["status"] == 500
    assert await authenticate(stub, "1003", "pass1003") == (500, {"error": "injected fault: HTTP 500"})
    assert (await api(stub, "GET", "/ping"))[0] == 500
    assert (await admin(stub, "GET", "/emu/health"))[1]["state"] == "erroring"
    await admin(stub, "DELETE", "/emu/faults")
    assert (await admin(stub, "POST", "/emu/faults", {"kind": "error", "status": 503}))[0] == 201
    assert await api(stub, "GET", "/mrds") == (503, {"error": "injected fault: HTTP 503"})
    for bad in (200, 302, 600, "500"):
        assert (await admin(stub, "POST", "/emu/faults", {"kind": "error", "status": bad}))[0] == 400
    status, faults = await admin(stub, "GET", "/emu/faults")
    assert [f["status"] for f in faults["faults"]] == [503]  # rejected faults never became active
    assert set(faults["kinds"]) == {"hang", "refuse", "slow", "error"}
    await admin(stub, "DELETE", "/emu/faults")
    assert (await authenticate(stub, "1003", "pass1003"))[0] == 200


async def test_stop_does_not_wait_for_requests_held_by_a_hang() -> None:
    srv = await start_stub()
    await admin(srv, "POST", "/emu/faults", {"kind": "hang"})
    waiting = asyncio.create_task(authenticate(srv, "1003", "pass1003"))
    await eventually(lambda: srv.held, "the request held by the hang", until=lambda held: held == 1)
    async with asyncio.timeout(3):
        await stop_stub(srv)
    assert await waiting == (503, {"error": "shutting down"})  # released, not cut off


async def test_admin_token_guards_the_control_plane_only() -> None:
    srv = await start_stub(admin_token="s3cret")
    try:
        assert (await admin(srv, "GET", "/emu/health"))[0] == 200  # a read-only probe: no token
        status, body = await admin(srv, "GET", "/emu/faults")
        assert status == 401 and "token" in body["error"]
        assert (await admin(srv, "POST", "/emu/faults", {"kind": "error"}))[0] == 401
        assert (await admin(srv, "POST", "/emu/faults", {"kind": "error"}, token="wrong"))[0] == 401
        status, health = await admin(srv, "GET", "/emu/health", token="s3cret")
        assert status == 200 and health["role"] == "awdb" and health["state"] == "up"
        assert health["agents"] == 60 and health["db"] == ":memory:"
        assert (await authenticate(srv, "1003", "pass1003"))[0] == 200  # the query port needs no token
    finally:
        await stop_stub(srv)


async def test_burst_of_concurrent_authentications(stub: AwdbServer) -> None:
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector, headers=AUTH) as http:

        async def one(i: int) -> tuple[int, str | None]:
            agent = 1000 + i % 60
            password = f"pass{agent}" if i % 4 else "wrong"
            user = str(agent) if i % 2 else f"agent{agent - 999:04d}"
            async with http.post(
                f"http://{HOST}:{stub.port}{API}/authenticate", json={"user": user, "password": password}
            ) as resp:
                body = await resp.json()
                return resp.status, body.get("agent", {}).get("id")

        async with asyncio.timeout(20):
            results = await asyncio.gather(*(one(i) for i in range(400)))
    for i, (status, agent_id) in enumerate(results):
        if i % 4:
            assert (status, agent_id) == (200, str(1000 + i % 60))
        else:
            assert (status, agent_id) == (401, None)
    _, health = await admin(stub, "GET", "/emu/health")
    assert health["requests"] == 400
    assert health["stats"]["authenticate_ok"] == 300 and health["stats"]["authenticate_failed"] == 100


# -- the AWDB login (issue 14: the query API answered anyone, `GET /agents` dumped the directory) -----
QUERY_ROUTES = [
    ("POST", "/authenticate", {"user": "1003", "password": "pass1003"}),
    ("GET", "/agents", None),
    ("GET", "/agents?team_id=1", None),
    ("GET", "/agents/1003", None),
    ("GET", "/teams", None),
    ("GET", "/teams/1", None),
    ("GET", "/reason-codes", None),
    ("GET", "/wrapup-reasons", None),
    ("GET", "/mrds", None),
    ("GET", "/skill-groups", None),
]
WRONG = [
    {},  # no credentials at all
    {"Authorization": basic_header("finesse", PASSWORD + "x")},
    {"Authorization": basic_header("finesse", "")},
    {"Authorization": basic_header("sa", PASSWORD)},
    {"Authorization": basic_header("1003", "pass1003")},  # an agent's own credentials are not the login
    {"Authorization": f"Bearer {PASSWORD}"},
    {"Authorization": "Basic not*base64"},
]


async def test_every_query_route_requires_the_awdb_login(stub: AwdbServer) -> None:
    for method, path, body in QUERY_ROUTES:
        for headers in WRONG:
            async with (
                aiohttp.ClientSession() as http,
                http.request(
                    method, f"http://{HOST}:{stub.port}{API}{path}", json=body, headers=headers
                ) as resp,
            ):
                assert resp.status == 401, (method, path, headers)
                assert resp.headers["WWW-Authenticate"] == 'Basic realm="awdb", charset="UTF-8"'
                answer = await resp.json()
            assert answer == {"error": "AWDB login required (HTTP Basic)"}, (method, path)
        status, answer = await api(stub, method, path, body)
        assert status == 200 and "error" not in answer, (method, path, answer)
    # Unknown routes and wrong methods tell a stranger nothing either.
    assert (await api(stub, "GET", "/nothing-here", login=False))[0] == 401
    assert (await api(stub, "DELETE", "/agents", login=False))[0] == 401
    assert (await api(stub, "GET", "/nothing-here"))[0] == 404
    # The liveness probe stays open: it reads nothing (a TDS pre-login, not a query).
    assert await api(stub, "GET", "/ping", login=False) == (200, {"ok": True, "name": "awdb-a"})
    _, health = await admin(stub, "GET", "/emu/health")
    refused = len(QUERY_ROUTES) * len(WRONG) + 2
    assert health["login_required"] is True and health["stats"]["login_refused"] == refused
    # Refusals never reach the database: no password was checked for them.
    assert health["stats"]["authenticate_ok"] == 1 and "authenticate_failed" not in health["stats"]


async def test_password_guesses_without_the_login_are_refused_before_any_password_check(
    stub: AwdbServer,
) -> None:
    """The attack: 300 guesses of agent passwords in 0.3 s, none of them with the AWDB's login."""
    async with aiohttp.ClientSession() as http:
        for i in range(300):
            url = f"http://{HOST}:{stub.port}{API}/authenticate"
            async with http.post(url, json={"user": "1003", "password": f"guess{i}"}) as resp:
                assert resp.status == 401
        async with http.get(f"http://{HOST}:{stub.port}{API}/agents") as resp:
            assert resp.status == 401 and "agents" not in await resp.json()
    assert stub.stats["login_refused"] == 301 and stub.stats["authenticate_failed"] == 0
    assert (await authenticate(stub, "1003", "pass1003"))[0] == 200


async def test_refusals_are_logged_once_per_peer_without_any_secret(stub: AwdbServer) -> None:
    with capture_logs() as logs:
        for headers in WRONG * 3:
            assert (await api(stub, "GET", "/agents", headers=headers, login=False))[0] == 401
    refused = [e for e in logs if e["event"] == "awdb_login_refused"]
    assert len(refused) == 1  # 21 refusals from one address: one line
    assert refused[0]["peer"] == HOST and refused[0]["credentials"] == "missing"
    text = json.dumps(logs, default=str)
    assert PASSWORD not in text and AUTH["Authorization"] not in text and "pass1003" not in text


async def test_without_a_configured_login_the_api_is_open() -> None:
    srv = await start_stub(login=None)
    try:
        assert (await api(srv, "GET", "/agents", login=False))[0] == 200
        assert (await admin(srv, "GET", "/emu/health"))[1]["login_required"] is False
    finally:
        await stop_stub(srv)


async def test_the_node_client_sends_the_login_and_tells_a_refused_login_from_bad_credentials(
    stub: AwdbServer,
) -> None:
    url = f"http://{HOST}:{stub.port}"
    right = AwdbClient([url], 2.0, ["awdb-a"], login=AwdbLogin.of("finesse", PASSWORD))
    wrong = AwdbClient([url], 2.0, ["awdb-a"], login=AwdbLogin.of("finesse", "stale"))
    none = AwdbClient([url], 2.0, ["awdb-a"])
    try:
        assert (await right.authenticate("agent0004", "pass1003")).id == "1003"
        with pytest.raises(BadCredentials):  # the agent's password: the AWDB answered
            await right.authenticate("1003", "pass1004")
        assert len((await right.get("/awdb/v1/agents"))["agents"]) == 60
        with capture_logs() as logs:
            for client in (wrong, wrong, none):
                # The node's own login refused: no agent's password is wrong, the AWDB is unusable.
                with pytest.raises(AwdbUnavailable, match="refused the AWDB login"):
                    await client.authenticate("1003", "pass1003")
            with pytest.raises(AwdbUnavailable):
                await wrong.get("/awdb/v1/agents")
        errors = [e for e in logs if e["event"] == "awdb_login_refused" and e["log_level"] == "error"]
        assert [e["user"] for e in errors] == ["finesse", None]  # once per client and AWDB
        assert "awdb_password_file" in errors[0]["hint"]
    finally:
        for client in (right, wrong, none):
            await client.close()


async def test_a_node_fails_over_to_the_awdb_that_takes_its_login() -> None:
    a = await start_stub(login=Login("finesse", "another-deployment"))
    b = await start_stub()
    client = AwdbClient(
        [f"http://{HOST}:{a.port}", f"http://{HOST}:{b.port}"],
        2.0,
        ["awdb-a", "awdb-b"],
        login=AwdbLogin.of("finesse", PASSWORD),
    )
    try:
        assert (await client.authenticate("1003", "pass1003")).id == "1003"
        assert client.current == "awdb-b" and a.stats["login_refused"] == 1
    finally:
        await client.close()
        await stop_stub(a)
        await stop_stub(b)
