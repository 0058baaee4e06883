"""The node's journal and REST fault rules over real sockets: a node in this event loop
(tests/integration/test_finesse_node.py's deployment), its control plane with a token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from finesse_emu.deployment.journal import Journal, JournalError
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST, Deployment, deployment, text

TOKEN = "journal-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LOGIN = "<User><state>LOGIN</state><extension>2001</extension></User>"


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(admin_token=TOKEN) as d:
        yield d


def admin(dep: Deployment, path: str) -> str:
    return f"http://{HOST}:{dep.node.admin_port}{path}"


async def journal(dep: Deployment, **params: Any) -> tuple[int, Any]:
    query = {k: str(v) for k, v in params.items()}
    async with dep.http.get(admin(dep, "/emu/journal"), params=query, headers=AUTH) as resp:
        return resp.status, await resp.json()


async def fault(dep: Deployment, **params: Any) -> dict[str, Any]:
    async with dep.http.post(
        admin(dep, "/emu/faults"), json={"kind": "rest_rule", **params}, headers=AUTH
    ) as r:
        body: dict[str, Any] = await r.json()
        assert r.status == 201, body
        return body


@pytest.mark.parametrize(("method", "path"), [("GET", "/emu/journal"), ("DELETE", "/emu/journal")])
async def test_the_journal_needs_the_deployments_token(dep: Deployment, method: str, path: str) -> None:
    url = admin(dep, path)
    for headers, status in (({}, 401), ({"Authorization": "Bearer wrong"}, 401), (AUTH, 200)):
        async with dep.http.request(method, url, headers=headers) as resp:
            assert resp.status == status, (headers, await resp.text())


async def test_a_request_is_journaled_with_its_agent_and_its_notification(dep: Deployment) -> None:
    status, _, _ = await dep.call("PUT", "/User/1001", user="1001", body=LOGIN)
    assert status == 202
    await dep.call("GET", "/User/1002", user=None)  # 401: no agent
    _, answer = await journal(dep, kind="rest", agent="1001")
    (put,) = answer["entries"]
    assert put["method"] == "PUT" and put["path"] == "/finesse/api/User/1001" and put["status"] == 202
    assert put["request_body"] == LOGIN and put["duration_ms"] >= 0 and put["fault"] is None
    _, answer = await journal(dep, kind="rest", path="/finesse/api/User/1002")
    assert [(e["status"], e["agent"]) for e in answer["entries"]] == [(401, None)]
    assert "UNAUTHORIZED" in answer["entries"][0]["response_body"]

    async def updates() -> list[dict[str, Any]]:
        return list((await journal(dep, kind="notification", agent="1001"))[1]["entries"])

    found = await eventually(updates, "an Update for agent 1001 journaled")
    assert found[0]["node"] == "/finesse/api/User/1001" and found[0]["verb"] == "PUT"
    assert "<Update>" in found[0]["body"] and found[0]["seq"] > put["seq"]


async def test_filters_clear_and_bad_parameters(dep: Deployment) -> None:
    for _ in range(3):
        await dep.call("GET", "/SystemInfo", user=None)
    status, answer = await journal(dep, method="get", path="/finesse/api/SystemInfo", limit=2)
    assert status == 200 and len(answer["entries"]) == 2 and answer["dropped"] == 0
    last = answer["last_seq"]
    assert answer["entries"][-1]["seq"] <= last
    _, after = await journal(dep, after=last)
    assert after["entries"] == []
    status, answer = await journal(dep, kind="xmpp")
    assert status == 400 and "kind: one of rest, notification" in answer["error"]
    status, answer = await journal(dep, after="soon")
    assert status == 400 and "after: an integer" in answer["error"]
    async with dep.http.get(f"http://{HOST}:{dep.node.http_port}/nowhere?x=1") as resp:  # aiohttp's 404
        assert resp.status == 404
    _, answer = await journal(dep, path="/nowhere")
    assert [(e["status"], e["query"], e["agent"]) for e in answer["entries"]] == [(404, "x=1", None)]
    async with dep.http.delete(admin(dep, "/emu/journal"), headers=AUTH) as resp:
        assert resp.status == 200 and (await resp.json())["cleared"] >= 3
    _, answer = await journal(dep, path="/finesse/api/SystemInfo")
    assert answer["entries"] == []


async def test_a_rule_answers_503_twice_then_the_request_passes(dep: Deployment) -> None:
    rule = await fault(dep, path="/finesse/api/User/100?", method="GET", status=503, count=2)
    answers = [await dep.call("GET", "/User/1003", user="1003") for _ in range(3)]
    assert [a[0] for a in answers] == [503, 503, 200]
    assert text(answers[0][1], "ApiError/ErrorMessage") == "SERVER_OUT_OF_SERVICE"
    assert (await dep.call("PUT", "/User/1003", user="1003", body=LOGIN.replace("2001", "2003")))[0] == 202
    _, answer = await journal(dep, kind="rest", agent="1003")
    seen = [(e["method"], e["status"], e["fault"]) for e in answer["entries"]]
    assert seen == [
        ("GET", 503, rule["id"]),
        ("GET", 503, rule["id"]),
        ("GET", 200, None),
        ("PUT", 202, None),
    ]
    async with dep.http.get(admin(dep, "/emu/faults"), headers=AUTH) as resp:
        assert [f["id"] for f in (await resp.json())["faults"]] == [rule["id"]]
    async with dep.http.delete(admin(dep, "/emu/faults"), headers=AUTH) as resp:  # heal
        assert (await resp.json())["cleared"] == 1


async def test_several_rules_and_a_delay(dep: Deployment) -> None:
    first = await fault(dep, path="/finesse/api/User/1004", status=500)
    await fault(dep, path="/finesse/api/User/*", status=0, delay_ms=300)
    assert (await dep.call("GET", "/User/1004", user="1004"))[0] == 500  # the oldest matching rule
    assert (await dep.call("GET", "/User/1005", user="1005"))[0] == 200
    async with dep.http.delete(admin(dep, f"/emu/faults/{first['id']}"), headers=AUTH) as resp:
        assert resp.status == 200
    assert (await dep.call("GET", "/User/1004", user="1004"))[0] == 200
    _, answer = await journal(dep, kind="rest", method="GET", path="/finesse/api/User/100[45]")
    delayed = [e for e in answer["entries"] if e["status"] == 200]
    # The node's clock measures the wait: at least the rule's 300 ms (a lower bound only: a loaded
    # machine adds time, never removes it).
    assert len(delayed) == 2 and all(e["duration_ms"] >= 300 for e in delayed)
    assert all(e["fault"] is not None for e in delayed)


async def test_a_bad_rule_is_a_clear_400(dep: Deployment) -> None:
    async with dep.http.post(
        admin(dep, "/emu/faults"), json={"kind": "rest_rule", "path": "/x", "status": 42}, headers=AUTH
    ) as resp:
        assert resp.status == 400 and "status must be 0" in (await resp.json())["error"]


async def test_the_client_verifies_with_near_misses(dep: Deployment) -> None:
    await dep.call("PUT", "/User/1006", user="1006", body=LOGIN.replace("2001", "2006"))
    await dep.call("GET", "/User/1006", user="1006")
    async with Journal.at({"finesse-a": admin(dep, "")}, TOKEN) as client:
        found = await client.verify("PUT", "/finesse/api/User/1006", count=1, status=202, agent="1006")
        assert found[0]["node_name"] == "finesse-a"
        assert await client.count("GET", "/finesse/api/User/*") == 1
        with pytest.raises(AssertionError) as failed:
            await client.verify("PUT", "/finesse/api/User/1007", at_least=1)
        message = str(failed.value)
        assert message.startswith("expected at least 1 request(s) PUT /finesse/api/User/1007, found 0")
        assert (
            "nearest requests seen:" in message and "PUT /finesse/api/User/1006 -> 202 agent=1006" in message
        )
        updates = await client.wait_for("notification", agent="1006", within=5.0)
        assert updates[0]["agents"] == ["1006"]
        with pytest.raises(TimeoutError):
            await client.wait_for("notification", agent="1999", within=0.2)
    async with Journal.at({"finesse-a": admin(dep, "")}, "wrong") as client:
        with pytest.raises(Exception, match="401"):
            await client.entries()


async def test_node_reads_and_clears_one_nodes_journal_only(dep: Deployment) -> None:
    await dep.call("GET", "/User/1006", user="1006")
    # The same node under two names: read through both, it is there twice; through one, once.
    nodes = {"finesse-a": admin(dep, ""), "mirror": admin(dep, "")}
    async with Journal.at(nodes, TOKEN) as client:
        assert await client.count("GET", "/finesse/api/User/1006") == 2
        found = await client.verify("GET", "/finesse/api/User/1006", count=1, node="mirror")
        assert [e["node_name"] for e in found] == ["mirror"]
        with pytest.raises(AssertionError, match="found 0") as failed:
            await client.verify("PUT", "/finesse/api/User/1006", node="finesse-a")
        assert str(failed.value).count("GET /finesse/api/User/1006") == 1  # near misses of one node
        with pytest.raises(JournalError, match="no Finesse node 'finesse-c'"):
            await client.entries(node="finesse-c")
        await client.clear(node="finesse-a")
        assert await client.entries(node="mirror") == []


async def test_the_control_plane_describes_the_journal(dep: Deployment) -> None:
    async with dep.http.get(admin(dep, "/emu/control/openapi.json")) as resp:
        doc = await resp.json()
    get = doc["paths"]["/emu/journal"]["get"]
    assert {p["name"] for p in get["parameters"]} == {
        "kind",
        "agent",
        "method",
        "status",
        "path",
        "since",
        "after",
        "limit",
    }
    assert {"200", "400", "401"} <= set(get["responses"])
    assert "delete" in doc["paths"]["/emu/journal"]


async def test_the_journal_never_waits_for_a_body_the_node_did_not_read(dep: Deployment) -> None:
    """A PUT without credentials whose body has not all arrived: the 401 goes out at once (the
    journal does not read the rest), and its entry has no request body."""
    reader, writer = await asyncio.open_connection(HOST, dep.node.http_port)
    try:
        head = (
            "PUT /finesse/api/User/1008 HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
            "Content-Length: 100\r\n\r\n<User>"
        )
        writer.write(head.encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10.0)  # generous: no body is coming
        assert status_line.startswith(b"HTTP/1.1 401")
    finally:
        writer.close()
    _, answer = await journal(dep, path="/finesse/api/User/1008")
    assert [(e["status"], e["request_body"]) for e in answer["entries"]] == [(401, None)]
