"""SSO refresh-token expiry: the emulated desktop's forced logout reaches the CTI server as 255, so
the CTI server's LOAD decides the outcome. Real sockets, a real Prosody, a real desktop client.

Chapter "Finesse Failover Mechanisms", The Refresh Token has expired: "Finesse desktop sends a forced
logout request to the CTI server." / "The Finesse server forwards the forced logout request to the
CTI server." Load parameter = 0: "the agent's state after force logout is changed to Not Ready -
Connection Failure"; Load parameter = 1: "When the agent's current state is Talking, the Agent goes
to Logged Out - System Failure immediately even though the call is still active."
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from emu_base.history import History
from finesse_emu.desktop.client import AgentCredentials, DesktopClient, LoadPlan, NodeEndpoint
from finesse_emu.xmpp.prosody import agent_accounts
from ged188 import AgentState
from tests.conftest import ProsodyFactory
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST, deployment
from tests.integration.test_finesse_node_xmpp import AGENTS, XDeployment

LIFETIME = 4.0  # real seconds of the SSO refresh token: the warnings fire at once, expiry after 4 s


@pytest.fixture
async def dep(prosody_factory: ProsodyFactory) -> AsyncIterator[XDeployment]:
    prosody = prosody_factory(domain=HOST, host=HOST, accounts=agent_accounts(AGENTS))
    await prosody.start()
    password_file = str(prosody.config.password_file)
    async with deployment(xmpp_host=HOST, xmpp_port=prosody.c2s_port, xmpp_password_file=password_file) as d:
        yield XDeployment(d.a, d.b, d.awdb, d.node, d.http, prosody)


def desktop(dep: XDeployment, http: aiohttp.ClientSession, n: int) -> DesktopClient:
    endpoint = NodeEndpoint(
        "finesse-a", f"http://{HOST}:{dep.node.http_port}", HOST, dep.node.config.xmpp_port
    )
    return DesktopClient(
        AgentCredentials(f"{1000 + n}", f"pass{1000 + n}", f"{2000 + n}"),
        {"finesse-a": endpoint},
        "finesse-a",
        http,
        History(None),
        dep.node.timers,
        plan=LoadPlan(gadgets=1, resources=1, preload_secondary=False),
        token_lifetime=LIFETIME,
    )


def spy_requests(dep: XDeployment, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, AgentState, int]]:
    """Every SET_AGENT_STATE_REQ the active CTI side got: (agent, state, reason)."""
    seen: list[tuple[str, AgentState, int]] = []
    real = dep.a.model.set_state

    def spy(now: float, agent_id: str, state: AgentState, reason: int = 0, **kw: Any) -> Any:
        seen.append((agent_id, state, reason))
        return real(now, agent_id, state, reason, **kw)

    monkeypatch.setattr(dep.a.model, "set_state", spy)
    return seen


def cti_state(dep: XDeployment, agent_id: str) -> tuple[AgentState, int]:
    agent = dep.a.model.agents[agent_id]
    return agent.state, agent.reason_code


async def test_token_expiry_is_a_forced_logout_load_0(
    dep: XDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = spy_requests(dep, monkeypatch)
    async with aiohttp.ClientSession() as http:
        d = desktop(dep, http, 12)
        try:
            d.start()
            await eventually(lambda: d.state, "1012 signed in", until=lambda s: s == "SIGNED_IN", within=10)
            await eventually(lambda: d.state, "1012 signed out", until=lambda s: s == "SIGNED_OUT", within=15)
            # LOAD 0 (the stub's default): Not Ready - Connection Failure, not a plain sign-out.
            await eventually(
                lambda: cti_state(dep, "1012"),
                "1012 Not Ready - Connection Failure at the CTI side",
                until=lambda s: s == (AgentState.NOT_READY, 50002),
                within=5,
            )
            assert ("1012", AgentState.LOGOUT, 255) in seen
        finally:
            await d.stop()


async def test_token_expiry_while_talking_with_load_1_logs_out_at_once(
    dep: XDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep.a.model.load = dep.b.model.load = 1
    seen = spy_requests(dep, monkeypatch)
    async with aiohttp.ClientSession() as http:
        d = desktop(dep, http, 13)
        try:
            d.start()
            await eventually(lambda: d.state, "1013 signed in", until=lambda s: s == "SIGNED_IN", within=10)
            d.set_agent_state("READY")
            await eventually(
                lambda: cti_state(dep, "1013")[0], "1013 Ready", until=lambda s: s is AgentState.AVAILABLE
            )
            call_id = dep.a.core.inject_call(dep.a.clock.wall(), "1013", ani="5551234")
            dep.a.core.answer_call(dep.a.clock.wall(), call_id)
            dep.a.pump()
            await eventually(
                lambda: cti_state(dep, "1013")[0], "1013 Talking", until=lambda s: s is AgentState.TALKING
            )
            assert d.state == "SIGNED_IN"  # the call began before the token expired
            await eventually(lambda: d.state, "1013 signed out", until=lambda s: s == "SIGNED_OUT", within=15)
            await eventually(
                lambda: cti_state(dep, "1013"),
                "1013 Logged Out - System Failure with the call still active",
                until=lambda s: s == (AgentState.LOGOUT, 50002),
                within=5,
            )
            assert call_id in dep.a.model.calls  # the call goes on
            assert ("1013", AgentState.LOGOUT, 255) in seen
        finally:
            await d.stop()
