"""Both AWDBs down and the credential cache expired: what the desktop shows, decided from what the
node puts on the wire (a 401, and how long it took), over real sockets and a real Prosody.

Cisco, "AWDB Failover": "If Cisco Finesse cannot connect to either of the Administration & Data
servers and the cache has expired, the systems returns the following errors: Agents and supervisors
who attempt to sign in to the Finesse desktop receive an 'Invalid user ID or password' error
message. ... Users who are already signed in to Cisco Finesse receive an 'Operation timed out' error
message. Users who make API requests receive an 401 'Unauthorized' HTTP error message."
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from emu_base.history import History
from emu_base.history_events import ErrorShown
from emu_base.timers import Timers
from finesse_emu.desktop.client import AgentCredentials, DesktopClient, LoadPlan, NodeEndpoint
from finesse_emu.xmpp.prosody import agent_accounts
from tests.conftest import ProsodyFactory
from tests.helpers import eventually
from tests.integration.test_finesse_node import API, HOST, deployment
from tests.integration.test_finesse_node_xmpp import AGENTS, XDeployment

SCALE = 0.05  # the AWDB request timeout 0.25 s, a desktop's 0.5 s
CACHE = 20.0  # emulated seconds the credentials stay cached here (1 s of real time)


@pytest.fixture
async def dep(prosody_factory: ProsodyFactory) -> AsyncIterator[XDeployment]:
    prosody = prosody_factory(domain=HOST, host=HOST, accounts=agent_accounts(AGENTS))
    await prosody.start()
    timers = Timers.build(SCALE, awdb_credential_cache=CACHE)
    password_file = str(prosody.config.password_file)
    async with deployment(
        timers, xmpp_host=HOST, xmpp_port=prosody.c2s_port, xmpp_password_file=password_file
    ) as d:
        yield XDeployment(d.a, d.b, d.awdb, d.node, d.http, prosody)


def desktop(dep: XDeployment, http: aiohttp.ClientSession, history: History, n: int) -> DesktopClient:
    endpoint = NodeEndpoint(
        "finesse-a", f"http://{HOST}:{dep.node.http_port}", HOST, dep.node.config.xmpp_port
    )
    return DesktopClient(
        AgentCredentials(f"{1000 + n}", f"pass{1000 + n}", f"{2000 + n}"),
        {"finesse-a": endpoint},
        "finesse-a",
        http,
        history,
        dep.node.timers,
        plan=LoadPlan(gadgets=1, resources=1, preload_secondary=False),
    )


async def test_sign_in_and_signed_in_users_see_ciscos_messages(dep: XDeployment) -> None:
    history = History(None)
    async with aiohttp.ClientSession() as http:
        signed = desktop(dep, http, history, 12)
        late = desktop(dep, http, history, 13)
        try:
            signed.start()
            await eventually(
                lambda: signed.state, "1012 signed in", until=lambda s: s == "SIGNED_IN", within=10
            )
            # The AWDB hangs (the only one: "either of the Administration & Data servers"); 1012's
            # cached credentials expire.
            async with dep.http.post(
                f"http://{HOST}:{dep.awdb.admin_port}/emu/faults", json={"kind": "hang"}
            ) as resp:
                assert resp.status == 201
            auth = dep.node.authenticator
            await eventually(
                lambda: auth.cache.get("1012", "pass1012", auth.clock.now()),
                "1012's credentials to leave the cache",
                until=lambda user: user is None,
                within=10,
            )
            # The signed-in user changes state: the node asks the AWDB, which never answers; after
            # the node's AWDB timeout the answer is a plain 401.
            timeouts = dep.node.stats["auth_awdb_timeout"]
            signed.set_agent_state("READY")
            shown = await eventually(
                lambda: history.of(ErrorShown),
                "1012's error message",
                until=lambda seen: len(seen) == 1,
                within=10,
            )
            (first,) = shown
            assert first["message"] == "Operation timed out" and first["agent"] == "1012"
            assert first["status"] == 401 and first["request"] == f"PUT {API}/User/1012"
            assert first["seconds"] >= dep.node.timers.awdb_request_timeout * 0.9  # the node's wait
            assert dep.node.stats["auth_awdb_timeout"] == timeouts + 1
            assert signed.state == "SIGNED_IN"  # a message, not a failover
            # A desktop signing in now: the same 401, read as the sign-in's message.
            late.start()
            shown = await eventually(
                lambda: history.of(ErrorShown),
                "1013's error message",
                until=lambda seen: len(seen) == 2,
                within=10,
            )
            assert shown[1]["agent"] == "1013" and shown[1]["request"] == "sign_in"
            assert (shown[1]["message"], shown[1]["status"]) == ("Invalid user ID or password", 401)
            assert late.state == "SIGNING_IN"  # tried again a poll later
        finally:
            await signed.stop()
            await late.stop()
