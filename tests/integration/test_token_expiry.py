"""SSO refresh-token expiry: the desktop signs in through the emulated Identity Service, refreshes
its access token while it works, and at the end of its refresh token sends the forced logout, which
reaches the CTI server as 255, so the CTI server's LOAD decides the outcome. Real sockets, a real
Prosody, the Identity Service's server, a node in SSO mode (Bearer only), a real desktop client.

Chapter "Finesse Failover Mechanisms", The Refresh Token has expired: "Finesse desktop sends a forced
logout request to the CTI server." / "The Finesse server forwards the forced logout request to the
CTI server." Load parameter = 0: "the agent's state after force logout is changed to Not Ready -
Connection Failure"; Load parameter = 1: "When the agent's current state is Talking, the Agent goes
to Logged Out - System Failure immediately even though the call is still active."
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emu_base.directory import generate
from emu_base.history import History
from emu_base.timers import Timers
from finesse_emu.desktop.client import AgentCredentials, DesktopClient, LoadPlan, NodeEndpoint
from finesse_emu.ids.core import IdpUser, IdsCore
from finesse_emu.ids.server import IdsConfig, IdsServer
from finesse_emu.xmpp.prosody import agent_accounts
from ged188 import AgentState
from tests.conftest import ProsodyFactory
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST, deployment
from tests.integration.test_finesse_node_xmpp import AGENTS, XDeployment

# Real seconds: the refresh token lives 4 s (the warnings fire at once at the node's time scale), the
# access token 1 s, refreshed at 0.75 s: three refreshes before the session ends.
LIFETIMES = {"sso_refresh_token_lifetime": 4.0, "sso_access_token_lifetime": 1.0}
KEY = "token-expiry-signing-key"


@dataclass
class SsoDeployment(XDeployment):
    ids: IdsServer


@pytest.fixture
async def dep(prosody_factory: ProsodyFactory, tmp_path: Path) -> AsyncIterator[SsoDeployment]:
    prosody = prosody_factory(domain=HOST, host=HOST, accounts=agent_accounts(AGENTS))
    await prosody.start()
    password_file = str(prosody.config.password_file)
    key_file = tmp_path / "sso-signing-key"
    key_file.write_text(KEY)
    users = [IdpUser(a.id, a.login, a.password) for a in generate(AGENTS)]
    ids = IdsServer(
        IdsConfig(host=HOST, port=0), IdsCore(KEY.encode(), Timers.build(1.0, **LIFETIMES), users)
    )
    await ids.start()
    try:
        async with deployment(
            xmpp_host=HOST,
            xmpp_port=prosody.c2s_port,
            xmpp_password_file=password_file,
            auth_mode="SSO",
            sso_signing_key_file=str(key_file),
        ) as d:
            yield SsoDeployment(d.a, d.b, d.awdb, d.node, d.http, prosody, ids)
    finally:
        await ids.stop()


def desktop(dep: SsoDeployment, http: aiohttp.ClientSession, n: int) -> DesktopClient:
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
        ids_url=dep.ids.url,
    )


def spy_requests(dep: SsoDeployment, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, AgentState, int]]:
    """Every SET_AGENT_STATE_REQ the active CTI side got: (agent, state, reason)."""
    seen: list[tuple[str, AgentState, int]] = []
    real = dep.a.model.set_state

    def spy(now: float, agent_id: str, state: AgentState, reason: int = 0, **kw: Any) -> Any:
        seen.append((agent_id, state, reason))
        return real(now, agent_id, state, reason, **kw)

    monkeypatch.setattr(dep.a.model, "set_state", spy)
    return seen


def cti_state(dep: SsoDeployment, agent_id: str) -> tuple[AgentState, int]:
    agent = dep.a.model.agents[agent_id]
    return agent.state, agent.reason_code


async def test_token_expiry_is_a_forced_logout_load_0(
    dep: SsoDeployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = spy_requests(dep, monkeypatch)
    async with aiohttp.ClientSession() as http:
        d = desktop(dep, http, 12)
        try:
            d.start()
            await eventually(lambda: d.state, "1012 signed in", until=lambda s: s == "SIGNED_IN", within=10)
            # It keeps working across access-token refreshes (each 1 s token replaced at 0.75 s).
            await eventually(lambda: d.stats["sso_refreshes"], "two refreshes", until=lambda n: n >= 2)
            d.set_agent_state("READY")
            await eventually(
                lambda: cti_state(dep, "1012")[0], "1012 Ready", until=lambda s: s is AgentState.AVAILABLE
            )
            assert dep.node.stats["auth_token_expired"] == 0 and d.stats["http_401"] == 0
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
    dep: SsoDeployment, monkeypatch: pytest.MonkeyPatch
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
