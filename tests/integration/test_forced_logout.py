"""The presence-driven forced logout with a real Prosody, a Finesse node and the CTI stub.

Cisco, "Desktop Behavior": Finesse receives the agent's Unavailable presence, waits 60 s (scaled),
then sends a forced logout with reason code 255 to the CTI server; not if the browser came back
(refresh); after the call if the agent is on one; a crashed browser is detected by the XMPP server
"within up to 120 seconds", so a sign-out can take up to 180 s. Here at time_scale 0.02: 1.2 s,
2.4 s and 3.6 s.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from emu_base.timers import Timers
from finesse_emu.desktop.xmpp import AgentXmpp
from finesse_emu.server.presence import ForcedLogout, Phase
from ged188 import AgentState
from tests.conftest import ProsodyFactory
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST, SCALE, deployment
from tests.integration.test_finesse_node_xmpp import XDeployment

# The AWDB's request timeout given room (25 emulated s -> 0.5 s): at SCALE its 0.1 s is shorter than a
# cold first authentication on a loaded machine, and these tests are about presence, not the AWDB.
TIMERS = Timers.build(SCALE, awdb_request_timeout=25.0)
DELAY = TIMERS.forced_logout_after_unavailable  # 60 s -> 1.2 s
CRASH = TIMERS.browser_crash_detection  # 120 s -> 2.4 s
SLACK = 0.5  # scheduling, CTI round trip, event delivery on a loaded 2-core machine
POLL = 0.005  # fine enough for the timings measured below


@pytest.fixture
async def dep(prosody_factory: ProsodyFactory) -> AsyncIterator[XDeployment]:
    """A node IN_SERVICE with its Prosody, which closes silent client sessions within CRASH."""
    prosody = prosody_factory(domain=HOST, host=HOST, crash_detection=CRASH)
    await prosody.start()
    password_file = str(prosody.config.password_file)  # the finesse account's
    async with deployment(
        TIMERS, xmpp_host=HOST, xmpp_port=prosody.c2s_port, xmpp_password_file=password_file
    ) as d:
        yield XDeployment(d.a, d.b, d.awdb, d.node, d.http, prosody)


class StateRequests:
    """Every SET_AGENT_STATE_REQ the active CTI side accepted: (agent, state, reason, loop time)."""

    def __init__(self, dep: XDeployment, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, AgentState, int, float]] = []
        model = dep.a.model
        real = model.set_state

        def spy(now: float, agent_id: str, state: AgentState, reason: int = 0, **kw: Any) -> Any:
            self.seen.append((agent_id, state, reason, asyncio.get_running_loop().time()))
            return real(now, agent_id, state, reason, **kw)

        monkeypatch.setattr(model, "set_state", spy)

    def forced(self, agent_id: str) -> list[tuple[str, AgentState, int, float]]:
        return [s for s in self.seen if s[0] == agent_id and s[1] is AgentState.LOGOUT and s[2] == 255]


@pytest.fixture
def requests(dep: XDeployment, monkeypatch: pytest.MonkeyPatch) -> StateRequests:
    return StateRequests(dep, monkeypatch)


async def node_state(dep: XDeployment, agent_id: str, state: str) -> None:
    await eventually(
        lambda: dep.node.model.user(agent_id).state,
        f"{agent_id} {state} on the node",
        until=lambda seen: seen == state,
        every=POLL,
    )


async def presence(dep: XDeployment, agent_id: str, available: bool) -> None:
    await eventually(
        lambda: dep.node.presence.available(agent_id),
        f"the node sees {agent_id} {'Available' if available else 'Unavailable'}",
        until=lambda seen: seen is available,
        every=POLL,
    )


async def forced_logout_sent(requests: StateRequests, agent_id: str, within: float = 5.0) -> float:
    """The loop time at which the CTI side accepted the forced logout (reason 255) of ``agent_id``."""
    sent = await eventually(
        lambda: requests.forced(agent_id),
        f"a forced logout of {agent_id} at the CTI side",
        within=within,
        every=POLL,
    )
    return sent[0][3]


async def pending_phase(
    dep: XDeployment, agent_id: str, until: Callable[[Phase | None], bool], what: str, within: float = 5.0
) -> None:
    await eventually(
        lambda: p.phase if (p := dep.node.presence.pending(agent_id)) is not None else None,
        f"{agent_id}'s pending forced logout: {what}",
        until=until,
        within=within,
        every=POLL,
    )


async def signed_in_and_present(dep: XDeployment, agent_id: str, state: str = "READY") -> AgentXmpp:
    """REST sign-in on the extension, the desktop's XMPP session, the node seeing it Available."""
    ext = str(int(agent_id) + 1000)
    body = f"<User><state>LOGIN</state><extension>{ext}</extension></User>"
    status, _, _ = await dep.call("PUT", f"/User/{agent_id}", user=agent_id, body=body)
    assert status == 202
    await node_state(dep, agent_id, "NOT_READY")
    if state == "READY":
        body = "<User><state>READY</state></User>"
        assert (await dep.call("PUT", f"/User/{agent_id}", user=agent_id, body=body))[0] == 202
        await node_state(dep, agent_id, "READY")
    desktop = AgentXmpp(f"{agent_id}@{HOST}/desktop", f"pass{agent_id}", HOST, dep.prosody.c2s_port)
    await desktop.connect(wait_finesse=True)
    await presence(dep, agent_id, True)
    return desktop


def cti_state(dep: XDeployment, agent_id: str) -> tuple[AgentState, int]:
    agent = dep.a.model.agents[agent_id]
    return agent.state, agent.reason_code


# What the CTI server makes of the 255 is LOAD's business: LOAD 0 (the stub's default) "places the
# agent in Not Ready state" (Not Ready - Connection Failure, 50002); LOAD 1 logs it out. A stub that
# simply applies the request logs it out with 255.
AFTER_FORCED_LOGOUT = {(AgentState.NOT_READY, 50002), (AgentState.LOGOUT, 50002), (AgentState.LOGOUT, 255)}


async def test_sign_out_by_closing_the_browser_forced_logout_after_the_timer(
    dep: XDeployment, requests: StateRequests
) -> None:
    desktop = await signed_in_and_present(dep, "1003")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await desktop.disconnect()  # unavailable presence, stream closed (browser closed, Back button)
    sent_at = await forced_logout_sent(requests, "1003", within=DELAY + 3)
    assert DELAY - 0.05 <= sent_at - t0 <= DELAY + SLACK, sent_at - t0
    print(f"\nunavailable -> forced logout at the CTI server: {sent_at - t0:.3f} s (timer {DELAY:.3f} s)")
    [fl] = [f for f in dep.node.forced_logouts if f.agent_id == "1003"]
    assert isinstance(fl, ForcedLogout) and fl.reason_code == 255 and fl.call_wait == 0.0
    assert fl.waited == pytest.approx(DELAY, abs=0.1)
    assert dep.node.stats["forced_logouts"] == 1 and dep.node.stats["forced_logout_timers"] == 1
    await eventually(
        lambda: cti_state(dep, "1003"),
        "1003 leaves AVAILABLE at the CTI side",
        until=lambda s: s != (AgentState.AVAILABLE, 0),
    )
    assert cti_state(dep, "1003") in AFTER_FORCED_LOGOUT
    # The node hears the CTI server's answer like any state change.
    await node_state(dep, "1003", cti_state(dep, "1003")[0].name)
    await asyncio.sleep(DELAY)  # sent once
    assert len(requests.forced("1003")) == 1


async def test_refresh_within_the_window_keeps_the_agent(dep: XDeployment, requests: StateRequests) -> None:
    desktop = await signed_in_and_present(dep, "1004")
    await desktop.disconnect()
    await pending_phase(dep, "1004", lambda phase: phase is not None, "armed")
    await asyncio.sleep(DELAY / 3)  # the page reloads
    reloaded = AgentXmpp(f"1004@{HOST}/desktop", "pass1004", HOST, dep.prosody.c2s_port)
    await reloaded.connect(wait_finesse=True)
    await pending_phase(dep, "1004", lambda phase: phase is None, "cancelled")
    await asyncio.sleep(DELAY + SLACK)  # past the moment the timer would have fired
    assert requests.forced("1004") == [] and dep.node.stats["forced_logouts"] == 0
    assert dep.node.stats["forced_logout_cancelled_available"] == 1
    assert cti_state(dep, "1004") == (AgentState.AVAILABLE, 0)
    await reloaded.disconnect()


async def test_signed_out_agent_closing_the_browser_the_node_tries_and_takes_the_refusal(
    dep: XDeployment, requests: StateRequests
) -> None:
    """Cisco, race conditions: "The agent closes the browser window. Finesse receives a presence
    notification of Unavailable for the user. Finesse tries to sign the agent out; however, that
    agent is already signed out." The request goes after the timer, the CTI server refuses it; the
    node logs it once and publishes nothing."""
    desktop = await signed_in_and_present(dep, "1005", state="NOT_READY")
    body = "<User><state>LOGOUT</state></User>"
    assert (await dep.call("PUT", "/User/1005", user="1005", body=body))[0] == 202
    await node_state(dep, "1005", "LOGOUT")
    published = len(dep.node.published)
    await desktop.disconnect()
    await presence(dep, "1005", False)
    await forced_logout_sent(requests, "1005", within=DELAY + 3)  # tried at the CTI side ...
    await eventually(  # ... refused there, and the refusal handled by the node
        lambda: dep.node.stats["forced_logout_already_signed_out"],
        "the node handling the CTI server's refusal",
        until=lambda n: n == 1,
        every=POLL,
    )
    assert cti_state(dep, "1005")[0] is AgentState.LOGOUT
    assert dep.node.stats["forced_logout_failed"] == 1 and dep.node.presence.pending("1005") is None
    assert not [n for n, _ in list(dep.node.published)[published:] if "/User/1005" in n]  # no event
    assert dep.node.status.in_service and len(requests.forced("1005")) == 1
    status, _, _ = await dep.call("GET", "/User/1005", user="1005")  # the node still serves
    assert status == 200


async def test_on_a_call_the_forced_logout_waits_for_the_end_of_the_call(
    dep: XDeployment, requests: StateRequests
) -> None:
    desktop = await signed_in_and_present(dep, "1006")
    call_id = dep.a.core.inject_call(dep.a.clock.wall(), "1006", ani="5551234")
    dep.a.core.answer_call(dep.a.clock.wall(), call_id)
    dep.a.pump()
    await node_state(dep, "1006", "TALKING")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    desktop.abort()  # a crash the XMPP server sees at once (FIN): Unavailable now
    await pending_phase(dep, "1006", lambda phase: phase is not None, "armed")
    await pending_phase(
        dep, "1006", lambda phase: phase is Phase.CALL, "waiting for the call", within=DELAY + 3
    )
    assert loop.time() - t0 >= DELAY - 0.05
    await asyncio.sleep(DELAY / 2)  # the call goes on: no request
    assert requests.forced("1006") == [] and cti_state(dep, "1006") == (AgentState.TALKING, 0)
    t_end = loop.time()
    dep.a.core.end_call(dep.a.clock.wall(), call_id)
    dep.a.pump()
    assert await forced_logout_sent(requests, "1006") - t_end <= SLACK
    print(f"\ncall end -> forced logout at the CTI server: {requests.forced('1006')[0][3] - t_end:.3f} s")
    [fl] = [f for f in dep.node.forced_logouts if f.agent_id == "1006"]
    assert fl.call_wait >= DELAY / 2 and fl.waited >= DELAY + DELAY / 2
    await eventually(
        lambda: cti_state(dep, "1006")[0],
        "1006 leaves AVAILABLE at the CTI side",
        until=lambda s: s is not AgentState.AVAILABLE,
    )
    assert cti_state(dep, "1006") in AFTER_FORCED_LOGOUT


# -- crash detection: a socket that just goes silent -----------------------------------------------


async def _read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}: {data[-300:]!r}")
        data += chunk
    return data


async def silent_desktop(
    host: str, port: int, domain: str, user: str, resource: str = "desktop"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw XMPP client: PLAIN, bind, initial presence, and then nothing at all, ever.

    It neither reads nor answers pings nor closes: what Prosody sees of a browser that crashed behind
    a dead network (no FIN, no RST), as opposed to a killed browser whose kernel closes the socket.
    """
    reader, writer = await asyncio.open_connection(host, port)
    header = (
        f"<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    ).encode()
    writer.write(header)
    await _read_until(reader, b"</stream:features>")
    token = base64.b64encode(f"\0{user}\0pass{user}".encode()).decode()
    writer.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>".encode())
    await _read_until(reader, b"<success")
    writer.write(header)
    await _read_until(reader, b"</stream:features>")
    bind = f"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind>"
    writer.write(f"<iq type='set' id='bind1'>{bind}</iq>".encode())
    await _read_until(reader, b"</iq>")
    writer.write(b"<presence/>")
    await writer.drain()
    return reader, writer


async def test_crashed_browser_detected_within_the_bound_then_forced_logout(
    dep: XDeployment, requests: StateRequests
) -> None:
    body = "<User><state>LOGIN</state><extension>2007</extension></User>"
    assert (await dep.call("PUT", "/User/1007", user="1007", body=body))[0] == 202
    await node_state(dep, "1007", "NOT_READY")
    # A live desktop idle all along must not be taken for dead: it answers the server's pings.
    idle = await signed_in_and_present(dep, "1008")
    loop = asyncio.get_running_loop()
    reader, writer = await silent_desktop(HOST, dep.prosody.c2s_port, HOST, "1007")
    t0 = loop.time()  # its last byte
    try:
        await presence(dep, "1007", True)
        sent_at = await forced_logout_sent(requests, "1007", within=CRASH + DELAY + 3)
    finally:
        writer.close()
    [fl] = [f for f in dep.node.forced_logouts if f.agent_id == "1007"]
    detection = fl.unavailable_since - t0
    # Prosody pings after half the bound of silence and gives the answer 45% of it: 0.95 x bound.
    assert 0.5 * CRASH <= detection <= CRASH, detection
    assert fl.waited == pytest.approx(DELAY, abs=0.1)
    assert sent_at - t0 <= CRASH + DELAY + SLACK  # Cisco's "up to 180 seconds", scaled
    print(f"\ncrash detection {detection:.3f} s (bound {CRASH:.3f} s); sign-out after {sent_at - t0:.3f} s")
    assert cti_state(dep, "1007") in AFTER_FORCED_LOGOUT
    # The idle desktop and the node's own session survived the same silence.
    assert dep.node.presence.available("1008") and idle.connected and idle.pings_answered >= 1
    assert requests.forced("1008") == []
    assert dep.node.notifier is not None and dep.node.notifier.connected
    assert getattr(dep.node.notifier, "sessions", 1) == 1 and dep.node.status.in_service
    await idle.disconnect()
    del reader
