"""Every component a real process: CTI A/B, AWDB, Prosody and a Finesse node; kill -9 CTI side A.

What the agent's clients see: 503 and a SystemInfo OUT_OF_SERVICE event while the node fails over,
then SystemInfo IN_SERVICE (CTI side B) and its last state, over REST and XMPP: the agent, Talking
with a pending NOT_READY when side A dies, shows no pendingState after the failover and goes to Not
Ready - Connection Failure when the call ends.

Call control as a client developer drives it (REST in, XMPP Dialog notifications out, both agents'
desktops checked step by step): MAKE_CALL, hold, consult, TRANSFER, TRANSFER_SST and conferences,
each kind of call carried through one SIGKILL of CTI side A and one of the node itself; the opt-in
conference_glitch fault injected through the node's control plane (with its token) and each of the
chapter's conference-note behaviours seen over XMPP and REST until the agent drops off.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from defusedxml import ElementTree as DET

from emu_base.procs import Proc, cti_stub_argv, free_port, wait_health
from finesse_emu.desktop.xmpp import AgentXmpp, PubsubEvent
from finesse_emu.xmpp.prosody import agent_accounts
from tests.conftest import ProsodyFactory
from tests.helpers import eventually

HOST = "127.0.0.1"
SCALE = 0.05
API = "/finesse/api"
pytestmark = pytest.mark.e2e
ADMIN_TOKEN = "e2e-admin-token-of-this-deployment"


def auth(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:pass{user}".encode()).decode()}


async def next_event(agent: AgentXmpp, node: str, contains: str, timeout: float = 10.0) -> PubsubEvent:
    async with asyncio.timeout(timeout):
        while True:
            event: PubsubEvent = await agent.events.get()
            if event.node == node and contains in event.update:
                return event


async def put_state(http: aiohttp.ClientSession, base: str, user: str, state: str) -> None:
    """PUT User ``state``, with a requestId: its event is published even when the state stays."""
    body = f"<User><state>{state}</state></User>"
    hdrs = {**auth(user), "Content-Type": "application/xml", "requestId": f"e2e-{state}"}
    async with http.put(f"{base}/User/{user}", data=body, headers=hdrs) as resp:
        assert resp.status == 202, await resp.text()


@dataclass
class Processes:
    """CTI sides A and B, an AWDB and a Finesse node, each a process, with a real Prosody."""

    ports: dict[str, int]
    procs: list[Proc]
    prosody_port: int

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.ports['http']}{API}"


@asynccontextmanager
async def processes(tmp_path: Path, prosody_factory: ProsodyFactory) -> AsyncIterator[Processes]:
    """The deployment IN_SERVICE on CTI side A; every process stopped at the end."""
    prosody = prosody_factory(domain=HOST, host=HOST, accounts=agent_accounts(20))  # the AWDB's agents
    await prosody.start()
    ports = {
        k: free_port() for k in ("a", "b", "la", "lb", "adm_a", "adm_b", "awdb", "awdb_adm", "http", "adm")
    }
    procs: list[Proc] = []
    try:
        procs.append(
            Proc(
                "cti-a",
                cti_stub_argv(
                    "A", HOST, ports["a"], ports["adm_a"], ports["la"], (HOST, ports["lb"]), 20, SCALE
                ),
                tmp_path / "cti-a.log",
            )
        )
        # Side A active before side B starts: B started first on a loaded machine takes over alone.
        await wait_health(HOST, ports["adm_a"], "active")
        procs.append(
            Proc(
                "cti-b",
                cti_stub_argv(
                    "B", HOST, ports["b"], ports["adm_b"], ports["lb"], (HOST, ports["la"]), 20, SCALE
                ),
                tmp_path / "cti-b.log",
            )
        )
        await wait_health(HOST, ports["adm_b"], "idle")
        awdb_argv = ["-m", "awdb_stub", "--host", HOST, "--port", str(ports["awdb"])]
        awdb_argv += ["--admin-port", str(ports["awdb_adm"]), "--agents", "20"]
        procs.append(Proc("awdb-a", awdb_argv, tmp_path / "awdb-a.log"))
        config = {
            "name": "finesse-a",
            "host": HOST,
            "http_port": ports["http"],
            "https_port": -1,
            "admin_port": ports["adm"],
            "cti_sides": [["A", HOST, ports["a"]], ["B", HOST, ports["b"]]],
            "awdb_urls": [f"http://{HOST}:{ports['awdb']}"],
            "xmpp_host": HOST,
            "xmpp_port": prosody.c2s_port,
            "xmpp_password_file": str(prosody.config.password_file),
            "admin_token": ADMIN_TOKEN,  # the control plane's, as a deployment has one
        }
        (tmp_path / "finesse-a.yaml").write_text(yaml.safe_dump(config))
        node_argv = ["-m", "finesse_emu.server", "--config", str(tmp_path / "finesse-a.yaml")]
        procs.append(Proc("finesse-a", [*node_argv, "--time-scale", str(SCALE)], tmp_path / "finesse-a.log"))
        await wait_health(HOST, ports["adm"], "IN_SERVICE", timeout=20)
        yield Processes(ports, procs, prosody.c2s_port)

    finally:
        for proc in procs:  # SIGTERM to all first: they stop together
            proc.terminate()
        for proc in procs:
            proc.stop()


async def test_kill_9_cti_side_a_under_a_finesse_node(
    tmp_path: Path, prosody_factory: ProsodyFactory
) -> None:
    """Agent 1002 Talking with a pending NOT_READY; agents 1013 and 1014 in a conference with a
    customer, the conference_glitch fault set (POST /emu/faults, the deployment's token). CTI side A
    is SIGKILLed: 1002's pending state is lost; 1013's and 1014's desktops show the conference note
    until each drops off (or the fault is removed)."""
    async with processes(tmp_path, prosody_factory) as dep:
        ports, procs, prosody_port, base = dep.ports, dep.procs, dep.prosody_port, dep.base
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/User/1002", headers=auth("1002")) as resp:
                assert resp.status == 200
            agent = AgentXmpp(f"1002@{HOST}/emu", "pass1002", HOST, prosody_port)
            await agent.connect(wait_finesse=True)
            # The node subscribes the agent to its nodes (subscribe-other): wait until SystemInfo's is
            # there, the event this test waits for after the kill.
            await eventually(
                agent.subscriptions,
                "1002 subscribed to SystemInfo",
                until=lambda subs: (f"{API}/SystemInfo", "subscribed") in subs,
                within=10.0,
                every=0.05,
            )
            body = "<User><state>LOGIN</state><extension>2002</extension></User>"
            hdrs = {**auth("1002"), "Content-Type": "application/xml", "requestId": "e2e-1"}
            async with http.put(f"{base}/User/1002", data=body, headers=hdrs) as resp:
                assert resp.status == 202 and resp.headers["requestId"] == "e2e-1"
            await next_event(agent, f"{API}/User/1002", "<requestId>e2e-1</requestId>")
            # On a call, NOT_READY is the pending state (chapter "Finesse Failover Mechanisms": "The
            # pending state change is lost during the failover").
            await put_state(http, base, "1002", "READY")
            await next_event(agent, f"{API}/User/1002", "<state>READY</state>")
            cti_a = f"http://{HOST}:{ports['adm_a']}/emu/calls"
            async with http.post(cti_a, json={"agent_id": "1002"}) as resp:
                assert resp.status == 201, await resp.text()
                call_id = (await resp.json())["call_id"]
            async with http.post(f"{cti_a}/{call_id}/answer") as resp:
                assert resp.status == 200
            await next_event(agent, f"{API}/User/1002", "<state>TALKING</state>")
            await put_state(http, base, "1002", "NOT_READY")
            await next_event(agent, f"{API}/User/1002", "<pendingState>NOT_READY</pendingState>")
            # Meanwhile 1013 is in a conference with agent 1014 and a customer (no agent), and the
            # opt-in conference_glitch fault is set through the node's control plane.
            desk_a, desk_b = (
                await desktop(dep, http, "1013", "2013"),
                await desktop(dep, http, "1014", "2014"),
            )
            conference_id = await conference_with_a_customer(dep, http, desk_a, desk_b)
            await inject_the_conference_glitch(dep, http)

            procs[0].kill()  # SIGKILL cti-a
            await next_event(agent, f"{API}/SystemInfo", "<status>OUT_OF_SERVICE</status>")
            async with http.get(f"{base}/User/1002", headers=auth("1002")) as resp:
                # 503 while failing over (unless the switch to side B already completed)
                assert resp.status in (503, 200)
            await next_event(agent, f"{API}/SystemInfo", "<status>IN_SERVICE</status>", timeout=20)
            last = await next_event(agent, f"{API}/User/1002", "<user>")
            user = DET.fromstring(last.update).find("data/user")
            assert user is not None
            assert (user.findtext("state"), user.findtext("pendingState")) == ("TALKING", "")
            async with http.get(f"{base}/User/1002", headers=auth("1002")) as resp:
                assert DET.fromstring(await resp.read()).findtext("pendingState") == ""
            # The PG side switch was a CTI disconnect: "the Agent goes into Not Ready - Connection
            # Failure state after the call ends" (LOAD 0), not the state asked for during the call.
            async with http.post(f"http://{HOST}:{ports['adm_b']}/emu/calls/{call_id}/end") as resp:
                assert resp.status == 200
            ended = await next_event(agent, f"{API}/User/1002", "<state>NOT_READY</state>")
            assert DET.fromstring(ended.update).findtext("data/user/ReasonCode/code") == "50002"
            async with http.get(f"{base}/SystemInfo") as resp:
                doc = DET.fromstring(await resp.read())
                assert doc.findtext("status") == "IN_SERVICE"
                actives = [s.findtext("active") for s in doc.findall("ctiServers/ctiServer")]
                assert actives == ["false", "true"]
            await the_conference_glitch_until_the_agent_drops_off(dep, http, desk_a, desk_b, conference_id)
            for desk in (agent, desk_a, desk_b):
                await desk.disconnect()


FAULTS = "/emu/faults"
GLITCH = {"kind": "conference_glitch"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def faults_of(dep: Processes, http: aiohttp.ClientSession) -> list[str]:
    async with http.get(f"http://{HOST}:{dep.ports['adm']}{FAULTS}", headers=bearer(ADMIN_TOKEN)) as resp:
        assert resp.status == 200
        return [f["kind"] for f in (await resp.json())["faults"]]


async def inject_the_conference_glitch(dep: Processes, http: aiohttp.ClientSession) -> None:
    """POST /emu/faults on the node's control plane: refused without the deployment's token or
    with another (401, nothing set), created with it."""
    url = f"http://{HOST}:{dep.ports['adm']}{FAULTS}"
    for headers in ({}, bearer("not-the-token"), {"Authorization": f"Basic {ADMIN_TOKEN}"}):
        async with http.post(url, json=GLITCH, headers=headers) as resp:
            assert resp.status == 401, await resp.text()
    assert await faults_of(dep, http) == []
    async with http.post(url, json=GLITCH, headers=bearer(ADMIN_TOKEN)) as resp:
        assert resp.status == 201, await resp.text()
    assert await faults_of(dep, http) == ["conference_glitch"]


async def conference_with_a_customer(
    dep: Processes, http: aiohttp.ClientSession, a: AgentXmpp, b: AgentXmpp
) -> str:
    """1013 calls a customer (who answers by itself), consults agent 1014, who answers, and makes
    a conference of the three, replicated to CTI side B: its id."""
    call_id = await outside_call(dep, http, a, "1013", "2013", "5550113")
    await dialog_call(
        http, f"{dep.base}/Dialog/{call_id}", "1013", act("CONSULT_CALL", "2013", "2014"), "c13"
    )
    ringing = await next_event(b, f"{API}/User/1014/Dialogs", "<state>ALERTING</state>")
    consult_id = step_of(ringing.update)[1]
    await dialog_call(http, f"{dep.base}/Dialog/{consult_id}", "1014", act("ANSWER", "2014"), "ans14")
    await next_event(a, f"{API}/User/1013/Dialogs", "<requestId>ans14</requestId>")
    await dialog_call(http, f"{dep.base}/Dialog/{call_id}", "1013", act("CONFERENCE", "2013"), "conf13")
    for desk, user in ((a, "1013"), (b, "1014")):
        event = await next_event(desk, f"{API}/User/{user}/Dialogs", "<callType>CONFERENCE</callType>")
        everyone = {"2013": ("ACTIVE", TALKS), "2014": ("ACTIVE", TALKS), "5550113": ("ACTIVE", NONE)}
        assert step_of(event.update)[4] == everyone
    adm_b = f"http://{HOST}:{dep.ports['adm_b']}/emu/calls"

    async def parties_on_b() -> set[str]:
        async with http.get(adm_b) as resp:
            calls = (await resp.json())["calls"]
        return {c["device"] for call in calls if len(call["connections"]) == 3 for c in call["connections"]}

    await eventually(parties_on_b, "the conference on side B", until={"2013", "2014", "5550113"}.__eq__)
    return call_id


async def the_conference_glitch_until_the_agent_drops_off(
    dep: Processes, http: aiohttp.ClientSession, a: AgentXmpp, b: AgentXmpp, call_id: str
) -> None:
    """The chapter's conference note after the CTI failover, with the fault set: "the desktop does
    not show that the signed-in agent [...] is in an active call" (a DELETE, GET Dialogs leaves it
    out), "does not show all participants" and "inconsistent call notifications" (a PUT of a
    dialog it was told is gone, without the customer and without the agent), until "Desktop
    behavior returns to usual after the agent or supervisor drops off the conference call"."""
    for desk, user in ((a, "1013"), (b, "1014")):
        gone = await republished(desk, user, {call_id})
        assert [(s[0], s[1]) for s in gone] == [("DELETE", call_id)], gone
        assert await dialogs_of(dep, http, user) == {}
    # The call goes on and takes every action: 1014 holds.
    await dialog_call(http, f"{dep.base}/Dialog/{call_id}", "1014", act("HOLD", "2014"), "h14")
    odd = await dialog_steps(a, "1013", 1)
    assert odd == [("PUT", call_id, "CONFERENCE", "ACTIVE", {"2014": ("HELD", HELD)})]
    assert await dialog_steps(b, "1014", 1) == [
        ("PUT", call_id, "CONFERENCE", "ACTIVE", {"2013": ("ACTIVE", TALKS)})
    ]
    await dialog_call(http, f"{dep.base}/Dialog/{call_id}", "1013", act("DROP", "2013"), "d13")
    usual = {"2013": ("DROPPED", NONE), "2014": ("HELD", HELD), "5550113": ("ACTIVE", NONE)}
    assert await dialog_steps(a, "1013", 1) == [("PUT", call_id, "CONFERENCE", "ACTIVE", usual)]
    assert await dialogs_of(dep, http, "1013") == {call_id: ("CONFERENCE", "ACTIVE", usual)}
    # 1014 is still on the conference: still glitched, until the fault is removed (refused
    # without the token: nothing changes), which mends its desktop.
    url = f"http://{HOST}:{dep.ports['adm']}{FAULTS}"
    for headers in ({}, bearer("not-the-token")):
        async with http.delete(url, headers=headers) as resp:
            assert resp.status == 401
    assert await faults_of(dep, http) == ["conference_glitch"]
    async with http.delete(url, headers=bearer(ADMIN_TOKEN)) as resp:
        assert resp.status in (200, 204)
    assert await dialog_steps(b, "1014", 2) == [
        ("PUT", call_id, "CONFERENCE", "ACTIVE", {"2013": ("DROPPED", NONE)}),  # 1013 left (glitched)
        ("PUT", call_id, "CONFERENCE", "ACTIVE", usual),  # the fault removed
    ]
    assert await dialogs_of(dep, http, "1014") == {call_id: ("CONFERENCE", "ACTIVE", usual)}
    assert await faults_of(dep, http) == []


async def desktop(dep: Processes, http: aiohttp.ClientSession, user: str, extension: str) -> AgentXmpp:
    """The agent's XMPP client subscribed to its Dialogs and SystemInfo nodes, signed in over REST."""
    async with http.get(f"{dep.base}/User/{user}", headers=auth(user)) as resp:
        assert resp.status == 200
    agent = AgentXmpp(f"{user}@{HOST}/emu", f"pass{user}", HOST, dep.prosody_port)
    await agent.connect(wait_finesse=True)
    wanted = {(f"{API}/User/{user}/Dialogs", "subscribed"), (f"{API}/SystemInfo", "subscribed")}
    await eventually(
        agent.subscriptions, "subscribed", until=lambda s: wanted <= set(s), within=10.0, every=0.05
    )
    body = f"<User><state>LOGIN</state><extension>{extension}</extension></User>"
    hdrs = {**auth(user), "Content-Type": "application/xml", "requestId": f"in-{user}"}
    async with http.put(f"{dep.base}/User/{user}", data=body, headers=hdrs) as resp:
        assert resp.status == 202
    await next_event(agent, f"{API}/User/{user}", f"<requestId>in-{user}</requestId>")
    return agent


async def dialog_call(
    http: aiohttp.ClientSession, url: str, user: str, body: str, request_id: str, method: str = "PUT"
) -> None:
    hdrs = {**auth(user), "Content-Type": "application/xml", "requestId": request_id}
    async with http.request(method, url, data=body, headers=hdrs) as resp:
        assert resp.status == 202, await resp.text()


def participant_states(update: str) -> dict[str, str]:
    doc = DET.fromstring(update)
    return {p.findtext("mediaAddress") or "": p.findtext("state") or "" for p in doc.iter("Participant")}


# The actions of a participant, as Cisco's developer guide lists them for UCCE (docs/finesse.md).
TALKS = ("HOLD", "DROP", "UPDATE_CALL_DATA", "SEND_DTMF", "CONSULT_CALL", "TRANSFER_SST")
CONSULTS = ("DROP", "UPDATE_CALL_DATA", "SEND_DTMF")  # the consulting agent on its consult
HELD = ("RETRIEVE", "DROP")
NONE: tuple[str, ...] = ()
# What a desktop sees of one Dialog notification: event, dialog id, callType, dialog state, and
# each participant's state and actions.
Parties = dict[str, tuple[str, tuple[str, ...]]]
Step = tuple[str, str, str, str, Parties]


def step_of(update: str) -> Step:
    doc = DET.fromstring(update)
    dialog = doc.find("data/dialog")
    if dialog is None:
        dialog = doc.find("data/dialogs/Dialog")
    assert dialog is not None, update
    return dialog_step(doc.findtext("event") or "", dialog)


def dialog_step(event: str, dialog: Any) -> Step:
    """One Dialog element (of a notification or of GET Dialogs) as a step."""
    parties = {
        p.findtext("mediaAddress") or "": (
            p.findtext("state") or "",
            tuple(a.text or "" for a in p.iter("action")),
        )
        for p in dialog.iter("Participant")
    }
    call_type = dialog.findtext("mediaProperties/callType") or ""
    return (event, dialog.findtext("id") or "", call_type, dialog.findtext("state") or "", parties)


async def dialog_steps(agent: AgentXmpp, user: str, count: int, timeout: float = 10.0) -> list[Step]:
    """The next ``count`` notifications of the agent's Dialogs node, in order (other nodes skipped)."""
    steps: list[Step] = []
    async with asyncio.timeout(timeout):
        while len(steps) < count:
            event: PubsubEvent = await agent.events.get()
            if event.node == f"{API}/User/{user}/Dialogs":
                steps.append(step_of(event.update))
    return steps


def act(action: str, target: str, to: str = "") -> str:
    """A ``PUT Dialog/{id}`` body: ``action`` for the participant ``target`` (to ``to``, if given)."""
    dest = f"<toAddress>{to}</toAddress>" if to else ""
    return (
        f"<Dialog><requestedAction>{action}</requestedAction>{dest}"
        f"<targetMediaAddress>{target}</targetMediaAddress></Dialog>"
    )


def make_call(src: str, dst: str) -> str:
    return (
        f"<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>{src}</fromAddress>"
        f"<toAddress>{dst}</toAddress></Dialog>"
    )


async def test_kill_9_cti_side_a_then_the_node_every_call_is_republished(
    tmp_path: Path, prosody_factory: ProsodyFactory
) -> None:
    """Every kind of call in place, made through REST, each step seen over XMPP by both agents: agent
    1003 calls agent 1004, who answers, and 1003 holds; 1005 consults agent 1006 about its call
    with an outside number; 1007 calls 1008 and makes a conference with an outside number; 1009
    TRANSFERs a customer to 1010 after a consult; 1011 TRANSFER_SSTs a customer to 1012. CTI side
    A is SIGKILLed: once the node is IN_SERVICE on side B each desktop gets its dialogs again as
    they were (the held call held, the consult with both legs, the conference whole, the
    transferred calls with the agent they went to). Then the node itself is SIGKILLed and started
    again (a desktop failover: "If the publisher recovers its state, the desktop notifies the agent
    that it has reconnected"): each desktop signs in again and GET User/{id}/Dialogs shows each
    call as it was. The calls are still controlled there: the held party retrieves and drops its
    call, 1005 makes a conference of its two calls, 1008 leaves its conference, 1012 holds the
    call transferred to it."""
    held_call = {"2003": ("HELD", HELD), "2004": ("ACTIVE", TALKS)}
    async with processes(tmp_path, prosody_factory) as dep, aiohttp.ClientSession() as http:
        desks = {user: await desktop(dep, http, user, "2" + user[1:]) for user in USERS}
        caller, callee, consulting, consulted = (desks[u] for u in ("1003", "1004", "1005", "1006"))
        await dialog_call(
            http, f"{dep.base}/User/1003/Dialogs", "1003", make_call("2003", "2004"), "mk", "POST"
        )
        ringing = await next_event(callee, f"{API}/User/1004/Dialogs", "<state>ALERTING</state>")
        call_id = DET.fromstring(ringing.update).findtext("data/dialogs/Dialog/id")
        assert call_id
        dialog_url = f"{dep.base}/Dialog/{call_id}"
        await dialog_call(http, dialog_url, "1004", act("ANSWER", "2004"), "ans")
        await next_event(caller, f"{API}/User/1003/Dialogs", "<requestId>ans</requestId>")
        await dialog_call(http, dialog_url, "1003", act("HOLD", "2003"), "hold")
        held = await next_event(caller, f"{API}/User/1003/Dialogs", "<requestId>hold</requestId>")
        assert participant_states(held.update) == {"2003": "HELD", "2004": "ACTIVE"}
        await next_event(callee, f"{API}/User/1004/Dialogs", "<requestId>hold</requestId>")
        customer_id, consult_id = await consult_in_progress(dep, http, consulting, consulted)
        conference_id = await conference_with_an_outside_number(dep, http, desks["1007"], desks["1008"])
        transferred_id = await consult_transfer(dep, http, desks["1009"], desks["1010"])
        sst_id = await single_step_transfer(dep, http, desks["1011"], desks["1012"])
        # Side B has every call (replicated) before side A dies.
        adm_b = f"http://{HOST}:{dep.ports['adm_b']}/emu/calls"

        async def on_side_b() -> set[tuple[str, str]]:
            async with http.get(adm_b) as resp:
                calls = (await resp.json())["calls"]
            return {(c["device"], c["state"]) for call in calls for c in call["connections"]}

        on_b = {("2003", "HOLD"), ("2005", "HOLD"), ("2006", "CONNECT"), ("5550177", "CONNECT")}
        on_b |= {("2007", "CONNECT"), ("2008", "CONNECT"), ("2010", "CONNECT"), ("2012", "CONNECT")}
        await eventually(on_side_b, "every call on side B", until=on_b.__le__, within=10.0)
        before = {user: await dialogs_of(dep, http, user) for user in USERS}
        assert before["1003"] == before["1004"] == {call_id: ("AGENT_INSIDE", "ACTIVE", held_call)}
        assert set(before["1005"]) == {customer_id, consult_id}
        assert before["1007"] == before["1008"] and before["1007"][conference_id][0] == "CONFERENCE"
        assert before["1009"] == before["1010"] and set(before["1010"]) == {transferred_id}
        assert before["1011"] == before["1012"] and set(before["1012"]) == {sst_id}

        dep.procs[0].kill()  # SIGKILL cti-a
        for user, agent in desks.items():  # each call once, as it was (PUT: the desktop has it)
            again = await republished(agent, user, set(before[user]))
            assert [s[0] for s in again] == ["PUT"] * len(before[user]), again
            assert picture_of(again) == before[user] == await dialogs_of(dep, http, user)

        # The publisher node SIGKILLed and started again: each desktop, once SystemInfo is
        # IN_SERVICE, refreshes its calls (GET User/{id}/Dialogs) and gets them published again.
        node = dep.procs[3]
        node.kill()
        node.popen.wait()
        dep.procs[3] = Proc(node.name, node.argv, tmp_path / "finesse-a-again.log")
        for user, agent in desks.items():
            await next_event(agent, f"{API}/SystemInfo", "<status>IN_SERVICE</status>", timeout=20)
            # A new node knows the calls from the CTI server: their parties, not who left them.
            now, was = await dialogs_of(dep, http, user), live(before[user])
            if user in ("1009", "1011"):  # they transferred their customer away: no call now
                assert not now, (user, now)
                continue
            assert now == was, (user, now)
        await dialog_call(http, dialog_url, "1003", act("RETRIEVE", "2003"), "ret")
        back = await next_event(caller, f"{API}/User/1003/Dialogs", "<requestId>ret</requestId>")
        assert participant_states(back.update) == {"2003": "ACTIVE", "2004": "ACTIVE"}
        await dialog_call(http, dialog_url, "1003", act("DROP", "2003"), "drop")
        await next_event(callee, f"{API}/User/1004/Dialogs", "<event>DELETE</event>")
        await dialog_call(http, f"{dep.base}/Dialog/{customer_id}", "1005", act("CONFERENCE", "2005"), "conf")
        conf = await next_event(consulted, f"{API}/User/1006/Dialogs", f"<id>{customer_id}</id>")
        assert participant_states(conf.update) == {"2005": "ACTIVE", "5550155": "ACTIVE", "2006": "ACTIVE"}
        # The conference goes on without 1008; the transferred call is held by the agent it went to.
        await dialog_call(http, f"{dep.base}/Dialog/{conference_id}", "1008", act("DROP", "2008"), "d8")
        left = await next_event(desks["1007"], f"{API}/User/1007/Dialogs", "<requestId>d8</requestId>")
        assert participant_states(left.update) == {"2007": "ACTIVE", "2008": "DROPPED", "5550177": "ACTIVE"}
        await dialog_call(http, f"{dep.base}/Dialog/{sst_id}", "1012", act("HOLD", "2012"), "h12")
        on_hold = await next_event(desks["1012"], f"{API}/User/1012/Dialogs", "<requestId>h12</requestId>")
        assert step_of(on_hold.update)[4] == {"5550111": ("ACTIVE", NONE), "2012": ("HELD", HELD)}
        for agent in desks.values():
            await agent.disconnect()


USERS = tuple(str(user) for user in range(1003, 1013))
Picture = dict[str, tuple[str, str, Parties]]  # dialog id: callType, state, participants


def picture_of(dialogs: list[Step]) -> Picture:
    return {step[1]: (step[2], step[3], step[4]) for step in dialogs}


def live(picture: Picture) -> Picture:
    """The picture without the parties that left the calls (DROPPED)."""
    return {
        dialog_id: (call_type, state, {a: p for a, p in parties.items() if p[0] != "DROPPED"})
        for dialog_id, (call_type, state, parties) in picture.items()
    }


async def dialogs_of(dep: Processes, http: aiohttp.ClientSession, user: str) -> Picture:
    """``GET User/{user}/Dialogs``, as a desktop's picture of its calls."""
    async with http.get(f"{dep.base}/User/{user}/Dialogs", headers=auth(user)) as resp:
        assert resp.status == 200, await resp.text()
        doc = DET.fromstring(await resp.read())
    return picture_of([dialog_step("GET", dialog) for dialog in doc.findall("Dialog")])


async def republished(agent: AgentXmpp, user: str, dialog_ids: set[str], timeout: float = 20.0) -> list[Step]:
    """After a CTI side kill: the agent's Dialogs notifications from SystemInfo OUT_OF_SERVICE
    until each of ``dialog_ids`` was published again once IN_SERVICE. None comes while the
    node is OUT_OF_SERVICE ("After the failover is complete, the last state of call control
    [...] are published as events to all clients")."""
    steps: list[Step] = []
    status = ""
    async with asyncio.timeout(timeout):
        while status != "IN_SERVICE" or not dialog_ids <= {s[1] for s in steps}:
            event: PubsubEvent = await agent.events.get()
            if event.node == f"{API}/SystemInfo":
                found = [e.text or "" for e in DET.fromstring(event.update).iter("status")]
                status = found[0] if found else status
            elif event.node == f"{API}/User/{user}/Dialogs" and status:
                assert status == "IN_SERVICE", f"{user}: a dialog published while {status}"
                steps.append(step_of(event.update))
    return steps


async def consult_in_progress(
    dep: Processes, http: aiohttp.ClientSession, consulting: AgentXmpp, consulted: AgentXmpp
) -> tuple[str, str]:
    """1005 calls an outside number (which answers by itself) and consults 1006, who answers:
    the ids of the customer call (held) and of the consult."""
    body = (
        "<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>2005</fromAddress>"
        "<toAddress>5550155</toAddress></Dialog>"
    )
    await dialog_call(http, f"{dep.base}/User/1005/Dialogs", "1005", body, "mk5", "POST")
    node = f"{API}/User/1005/Dialogs"
    talking = await next_event(consulting, node, "<state>ACTIVE</state>")
    customer_id = DET.fromstring(talking.update).findtext("data/dialog/id") or ""
    body = (
        "<Dialog><requestedAction>CONSULT_CALL</requestedAction><toAddress>2006</toAddress>"
        "<targetMediaAddress>2005</targetMediaAddress></Dialog>"
    )
    await dialog_call(http, f"{dep.base}/Dialog/{customer_id}", "1005", body, "cons")
    ringing = await next_event(consulted, f"{API}/User/1006/Dialogs", "<state>ALERTING</state>")
    consult_id = DET.fromstring(ringing.update).findtext("data/dialogs/Dialog/id") or ""
    body = (
        "<Dialog><requestedAction>ANSWER</requestedAction>"
        "<targetMediaAddress>2006</targetMediaAddress></Dialog>"
    )
    await dialog_call(http, f"{dep.base}/Dialog/{consult_id}", "1006", body, "ans6")
    await next_event(consulting, node, "<requestId>ans6</requestId>")
    return customer_id, consult_id


def dialed(src: str, dst: str, dialog_id: str, call_type: str, dst_actions: tuple[str, ...]) -> list[Step]:
    """The caller's notifications of a MAKE_CALL (or a consult) until the called party rings."""
    return [
        ("POST", dialog_id, call_type, "INITIATING", {src: ("INITIATING", ("DROP",))}),
        ("PUT", dialog_id, call_type, "INITIATED", {src: ("INITIATED", ("DROP",))}),
        (
            "PUT",
            dialog_id,
            call_type,
            "ALERTING",
            {src: ("INITIATED", ("DROP",)), dst: ("ALERTING", dst_actions)},
        ),
    ]


def held_call(
    call_id: str,
    call_type: str,
    ext: str,
    actions: tuple[str, ...],
    others: dict[str, tuple[str, tuple[str, ...]]],
) -> Step:
    """The PUT of a call ``ext`` holds, offering ``actions`` (they follow its other call)."""
    return ("PUT", call_id, call_type, "ACTIVE", {ext: ("HELD", actions), **others})


def consult_dialed(
    src: str, dst: str, consult_id: str, dst_actions: tuple[str, ...], held: Step
) -> list[Step]:
    """The consulting agent's notifications of a consult until the consulted party rings: as for
    a MAKE_CALL, with its held call published again once the consult dials (it offers TRANSFER)."""
    posted, *rest = dialed(src, dst, consult_id, "CONSULT", dst_actions)
    return [posted, held, *rest]


async def outside_call(
    dep: Processes, http: aiohttp.ClientSession, agent: AgentXmpp, user: str, ext: str, customer: str
) -> str:
    """``user`` calls an outside number, which answers by itself: the dialog's id."""
    await dialog_call(
        http, f"{dep.base}/User/{user}/Dialogs", user, make_call(ext, customer), f"mk{user}", "POST"
    )
    steps = await dialog_steps(agent, user, 4)
    call_id = steps[0][1]
    talking = ("PUT", call_id, "AGENT_OUT", "ACTIVE", {ext: ("ACTIVE", TALKS), customer: ("ACTIVE", NONE)})
    assert steps == [*dialed(ext, customer, call_id, "AGENT_OUT", NONE), talking]
    return call_id


async def conference_with_an_outside_number(
    dep: Processes, http: aiohttp.ClientSession, a: AgentXmpp, b: AgentXmpp
) -> str:
    """1007 calls agent 1008 (MAKE_CALL), who answers; 1007 consults an outside number (which
    answers by itself) and makes a conference of the three: each step's notifications on both
    desktops, in order. The conference's id."""
    await dialog_call(http, f"{dep.base}/User/1007/Dialogs", "1007", make_call("2007", "2008"), "mk7", "POST")
    (ringing,) = await dialog_steps(b, "1008", 1)
    call_id = ringing[1]
    assert ringing == (
        "POST", call_id, "AGENT_INSIDE", "ALERTING",
        {"2007": ("INITIATED", ("DROP",)), "2008": ("ALERTING", ("ANSWER",))},
    )  # fmt: skip
    assert await dialog_steps(a, "1007", 3) == dialed("2007", "2008", call_id, "AGENT_INSIDE", ("ANSWER",))
    await dialog_call(http, f"{dep.base}/Dialog/{call_id}", "1008", act("ANSWER", "2008"), "ans8")
    talking = {"2007": ("ACTIVE", TALKS), "2008": ("ACTIVE", TALKS)}
    for agent, user in ((a, "1007"), (b, "1008")):
        assert await dialog_steps(agent, user, 1) == [("PUT", call_id, "AGENT_INSIDE", "ACTIVE", talking)]
    await dialog_call(
        http, f"{dep.base}/Dialog/{call_id}", "1007", act("CONSULT_CALL", "2007", "5550177"), "c7"
    )
    held = ("PUT", call_id, "AGENT_INSIDE", "ACTIVE", {"2007": ("HELD", HELD), "2008": ("ACTIVE", TALKS)})
    assert await dialog_steps(b, "1008", 1) == [held]
    steps = await dialog_steps(a, "1007", 7)
    consult_id = steps[1][1]
    answered = {"2007": ("ACTIVE", CONSULTS), "5550177": ("ACTIVE", NONE)}

    def held_offering(actions: tuple[str, ...]) -> Step:
        return held_call(call_id, "AGENT_INSIDE", "2007", actions, {"2008": ("ACTIVE", TALKS)})

    assert steps == [
        held,
        *consult_dialed("2007", "5550177", consult_id, NONE, held_offering(("TRANSFER", "DROP"))),
        ("PUT", consult_id, "CONSULT", "ACTIVE", answered),
        held_offering(("TRANSFER", "CONFERENCE", "DROP")),  # the held call's new actions, published
    ]
    await dialog_call(http, f"{dep.base}/Dialog/{call_id}", "1007", act("CONFERENCE", "2007"), "conf7")
    everyone = {"2007": ("ACTIVE", TALKS), "2008": ("ACTIVE", TALKS), "5550177": ("ACTIVE", NONE)}
    joined = ("PUT", call_id, "AGENT_INSIDE", "ACTIVE", everyone)
    conference = ("PUT", call_id, "CONFERENCE", "ACTIVE", everyone)
    assert await dialog_steps(b, "1008", 2) == [joined, conference]
    assert await dialog_steps(a, "1007", 5) == [
        joined,
        ("PUT", consult_id, "CONSULT", "DROPPED", {"2007": ("DROPPED", NONE), "5550177": ("ACTIVE", NONE)}),
        ("PUT", consult_id, "CONSULT", "DROPPED", {"2007": ("DROPPED", NONE), "5550177": ("DROPPED", NONE)}),
        (
            "DELETE",
            consult_id,
            "CONSULT",
            "DROPPED",
            {"2007": ("DROPPED", NONE), "5550177": ("DROPPED", NONE)},
        ),
        conference,
    ]
    return call_id


async def consult_transfer(dep: Processes, http: aiohttp.ClientSession, a: AgentXmpp, b: AgentXmpp) -> str:
    """1009 calls a customer, consults agent 1010, who answers, and TRANSFERs the customer to 1010:
    each step's notifications on both desktops, in order. The transferred call's id."""
    call_id = await outside_call(dep, http, a, "1009", "2009", "5550109")
    await dialog_call(http, f"{dep.base}/Dialog/{call_id}", "1009", act("CONSULT_CALL", "2009", "2010"), "c9")
    steps = await dialog_steps(a, "1009", 5)
    consult_id = steps[1][1]

    def held_offering(actions: tuple[str, ...]) -> Step:
        return held_call(call_id, "AGENT_OUT", "2009", actions, {"5550109": ("ACTIVE", NONE)})

    assert steps == [
        held_offering(HELD),
        *consult_dialed("2009", "2010", consult_id, ("ANSWER",), held_offering(("TRANSFER", "DROP"))),
    ]
    assert await dialog_steps(b, "1010", 1) == [
        ("POST", consult_id, "CONSULT", "ALERTING",
         {"2009": ("INITIATED", ("DROP",)), "2010": ("ALERTING", ("ANSWER",))}),
    ]  # fmt: skip
    await dialog_call(http, f"{dep.base}/Dialog/{consult_id}", "1010", act("ANSWER", "2010"), "ans10")
    answered = (
        "PUT",
        consult_id,
        "CONSULT",
        "ACTIVE",
        {"2009": ("ACTIVE", CONSULTS), "2010": ("ACTIVE", TALKS)},
    )
    assert await dialog_steps(b, "1010", 1) == [answered]
    assert await dialog_steps(a, "1009", 2) == [answered, held_offering(("TRANSFER", "CONFERENCE", "DROP"))]
    await dialog_call(http, f"{dep.base}/Dialog/{call_id}", "1009", act("TRANSFER", "2009"), "xfer9")
    joined = {"2009": ("HELD", ("TRANSFER", "CONFERENCE", "DROP")), "5550109": ("ACTIVE", NONE)}
    joined["2010"] = ("ACTIVE", TALKS)
    moved = {"2009": ("DROPPED", NONE), "5550109": ("ACTIVE", NONE), "2010": ("ACTIVE", TALKS)}
    after = [
        ("PUT", call_id, "AGENT_OUT", "ACTIVE", moved),
        ("PUT", consult_id, "CONSULT", "DROPPED", {"2009": ("DROPPED", NONE), "2010": ("ACTIVE", TALKS)}),
        ("PUT", consult_id, "CONSULT", "DROPPED", {"2009": ("DROPPED", NONE), "2010": ("DROPPED", NONE)}),
        ("DELETE", consult_id, "CONSULT", "DROPPED", {"2009": ("DROPPED", NONE), "2010": ("DROPPED", NONE)}),
        ("PUT", call_id, "TRANSFER", "ACTIVE", moved),  # CALL_DATA_UPDATE_EVENT: TRANSFER_IN
    ]
    # The customer call is POSTed to 1010 (new to it); the transferring agent's participant DROPPED.
    assert await dialog_steps(a, "1009", 6) == [("PUT", call_id, "AGENT_OUT", "ACTIVE", joined), *after]
    assert await dialog_steps(b, "1010", 6) == [("POST", call_id, "AGENT_OUT", "ACTIVE", joined), *after]
    return call_id


async def single_step_transfer(
    dep: Processes, http: aiohttp.ClientSession, a: AgentXmpp, b: AgentXmpp
) -> str:
    """1011 calls a customer and TRANSFER_SSTs it to agent 1012, who answers: each step's
    notifications on both desktops, in order. The transferred call's id."""
    call_id = await outside_call(dep, http, a, "1011", "2011", "5550111")
    await dialog_call(
        http, f"{dep.base}/Dialog/{call_id}", "1011", act("TRANSFER_SST", "2011", "2012"), "sst"
    )
    steps = await dialog_steps(a, "1011", 11)
    consult_id = steps[1][1]
    rings = ("ALERTING", ("ANSWER",))
    offered = {"2011": ("HELD", ("TRANSFER", "DROP")), "5550111": ("ACTIVE", NONE), "2012": rings}
    moved = {"2011": ("DROPPED", NONE), "5550111": ("ACTIVE", NONE), "2012": rings}
    after = [
        ("PUT", call_id, "AGENT_OUT", "ACTIVE", moved),
        ("PUT", consult_id, "CONSULT", "DROPPED", {"2011": ("DROPPED", NONE), "2012": rings}),
        ("PUT", consult_id, "CONSULT", "DROPPED", {"2011": ("DROPPED", NONE), "2012": ("DROPPED", NONE)}),
        ("DELETE", consult_id, "CONSULT", "DROPPED", {"2011": ("DROPPED", NONE), "2012": ("DROPPED", NONE)}),
        ("PUT", call_id, "TRANSFER", "ACTIVE", moved),
    ]
    assert steps == [
        ("PUT", call_id, "AGENT_OUT", "ACTIVE", {"2011": ("HELD", HELD), "5550111": ("ACTIVE", NONE)}),
        *consult_dialed(
            "2011",
            "2012",
            consult_id,
            ("ANSWER",),
            (
                "PUT",
                call_id,
                "AGENT_OUT",
                "ACTIVE",
                {"2011": ("HELD", ("TRANSFER", "DROP")), "5550111": ("ACTIVE", NONE)},
            ),
        ),
        ("PUT", call_id, "AGENT_OUT", "ACTIVE", offered),
        *after,
    ]
    assert await dialog_steps(b, "1012", 7) == [
        ("POST", consult_id, "CONSULT", "ALERTING", {"2011": ("INITIATED", ("DROP",)), "2012": rings}),
        ("POST", call_id, "AGENT_OUT", "ACTIVE", offered),
        *after,
    ]
    await dialog_call(http, f"{dep.base}/Dialog/{call_id}", "1012", act("ANSWER", "2012"), "ans12")
    talking = {"2011": ("DROPPED", NONE), "5550111": ("ACTIVE", NONE), "2012": ("ACTIVE", TALKS)}
    for agent, user in ((a, "1011"), (b, "1012")):
        assert await dialog_steps(agent, user, 1) == [("PUT", call_id, "TRANSFER", "ACTIVE", talking)]
    return call_id
