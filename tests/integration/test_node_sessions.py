"""A node's own view of who is signed in on it (event_log): it emits ``agent_signed_in`` and
``agent_signed_out`` (emu_base.history_events), which the run's history carries under the same
names for ``finesse-emu check``'s one-node-per-agent invariant (docs/check.md).

Signed in on a node means signed in *through* it (its REST sign-in confirmed by the CTI server),
not logged in on the CTI side, which both nodes of a pair see. A node, its CTI sides and its AWDB in
this event loop (tests/integration/test_finesse_node.py), at time_scale 0.02.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from emu_base.history_events import AgentSignedIn, AgentSignedOut
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST, Deployment, deployment

IN, OUT = AgentSignedIn.NAME, AgentSignedOut.NAME
SESSION_EVENTS = (IN, OUT)
LOGIN = "<User><state>LOGIN</state><extension>{ext}</extension></User>"


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(event_log=True) as d:
        yield d


def sessions(logs: list[MutableMapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(event, agent, why, status) of every session line logged."""
    return [(e["event"], e["agent"], e["why"], e["status"]) for e in logs if e["event"] in SESSION_EVENTS]


async def session_lines(logs: list[MutableMapping[str, Any]], count: int, within: float = 5.0) -> None:
    await eventually(
        lambda: sessions(logs),
        f"{count} session lines logged",
        until=lambda seen: len(seen) == count,
        within=within,
    )


async def sign_in(dep: Deployment, agent: str) -> None:
    body = LOGIN.format(ext=int(agent) + 1000)
    assert (await dep.call("PUT", f"/User/{agent}", user=agent, body=body))[0] == 202
    await dep.wait_user_state(agent, "NOT_READY", within=5.0)


async def set_state(dep: Deployment, agent: str, state: str) -> None:
    body = f"<User><state>{state}</state></User>"
    assert (await dep.call("PUT", f"/User/{agent}", user=agent, body=body))[0] == 202
    await dep.wait_user_state(agent, state, within=5.0)


async def test_sign_in_and_sign_out_through_the_node(dep: Deployment) -> None:
    with capture_logs() as logs:
        await sign_in(dep, "1001")
        await session_lines(logs, 1)
        await sign_in(dep, "1001")  # a desktop refresh signs in again: still one session
        await set_state(dep, "1001", "READY")
        await set_state(dep, "1001", "LOGOUT")
        await session_lines(logs, 2)
    assert sessions(logs) == [
        (IN, "1001", "sign_in", "IN_SERVICE"),
        (OUT, "1001", "sign_out", "IN_SERVICE"),
    ]
    assert {e["name"] for e in logs if e["event"] in SESSION_EVENTS} == {"finesse-a"}


async def test_logged_out_on_the_cti_side_ends_the_session(dep: Deployment) -> None:
    with capture_logs() as logs:
        await sign_in(dep, "1002")
        # Logged out elsewhere (the other node, a supervisor, the PG): the node hears it from the CTI.
        url = f"http://{HOST}:{dep.a.admin_port}/emu/agents/1002/state"
        async with dep.http.post(url, json={"state": "LOGOUT", "reason_code": 50001}) as resp:
            assert resp.status == 200
        await session_lines(logs, 2)
    assert sessions(logs)[1] == (OUT, "1002", "cti_logout", "IN_SERVICE")
    (out,) = [e for e in logs if e["event"] == OUT]
    assert out["reason_code"] == 50001


async def test_the_nodes_forced_logout_ends_the_session(dep: Deployment) -> None:
    with capture_logs() as logs:
        await sign_in(dep, "1003")
        jid = f"1003@{dep.node.config.domain}/desktop"
        dep.node.on_agent_presence(jid, True)
        dep.node.on_agent_presence(jid, False)  # the browser is gone: 60 s (1.2 s here), then 255
        await session_lines(logs, 2, within=dep.node.timers.forced_logout_after_unavailable + 3)
    assert sessions(logs)[1] == (OUT, "1003", "forced_logout", "IN_SERVICE")
    (out,) = [e for e in logs if e["event"] == OUT]
    assert out["reason_code"] == 255
    # LOAD 0: the CTI side keeps the agent (Not Ready - Connection Failure); the node's session is over.
    await eventually(
        lambda: dep.node.model.user("1003").reason_code,
        "1003 in Not Ready 50002",
        until=lambda code: code == 50002,
    )
    assert len(sessions(logs)) == 2


async def test_out_of_service_ends_every_session_and_clients_sign_in_again(dep: Deployment) -> None:
    with capture_logs() as logs:
        await sign_in(dep, "1004")
        await sign_in(dep, "1005")
        await session_lines(logs, 2)
        await dep.fault(dep.a, "ignore_heartbeats")
        await dep.wait_status("OUT_OF_SERVICE")
        await dep.fault(dep.a, "deactivate")  # the PG switches to side B
        await dep.wait_status("IN_SERVICE", timeout=10)
        await sign_in(dep, "1004")  # the desktop's failover signs it in again
        await session_lines(logs, 5)
    assert sorted(sessions(logs)[2:4]) == [
        (OUT, "1004", "out_of_service", "OUT_OF_SERVICE"),
        (OUT, "1005", "out_of_service", "OUT_OF_SERVICE"),
    ]
    assert sessions(logs)[4] == (IN, "1004", "sign_in", "IN_SERVICE")


async def test_nothing_is_logged_without_event_log() -> None:
    async with deployment() as d:
        with capture_logs() as logs:
            await sign_in(d, "1006")
            await set_state(d, "1006", "LOGOUT")
    assert sessions(logs) == []
