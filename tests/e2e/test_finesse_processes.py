"""Every component a real process: CTI A/B, AWDB, Prosody and a Finesse node; kill -9 CTI side A.

What the agent's clients see: 503 and a SystemInfo OUT_OF_SERVICE event while the node fails over,
then SystemInfo IN_SERVICE (CTI side B) and its last state, over REST and XMPP: the agent, Talking
with a pending NOT_READY when side A dies, shows no pendingState after the failover and goes to Not
Ready - Connection Failure when the call ends.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

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
            await agent.disconnect()


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


async def test_kill_9_cti_side_a_a_held_call_is_republished_held(
    tmp_path: Path, prosody_factory: ProsodyFactory
) -> None:
    """Agent 1003 calls agent 1004 through REST, 1004 answers, 1003 holds; meanwhile agent 1005
    consults agent 1006 about its call with an outside number. CTI side A is SIGKILLed. Once the
    node is IN_SERVICE on side B the desktops get the dialogs again: the held call still held,
    the consult with both legs (the customer call held, the consult active); the held party
    retrieves and drops its call there, and 1005 makes a conference of its two calls."""
    async with processes(tmp_path, prosody_factory) as dep, aiohttp.ClientSession() as http:
        caller, callee = await desktop(dep, http, "1003", "2003"), await desktop(dep, http, "1004", "2004")
        consulting, consulted = (
            await desktop(dep, http, "1005", "2005"),
            await desktop(dep, http, "1006", "2006"),
        )
        make_call = (
            "<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>2003</fromAddress>"
            "<toAddress>2004</toAddress></Dialog>"
        )
        await dialog_call(http, f"{dep.base}/User/1003/Dialogs", "1003", make_call, "mk", "POST")
        ringing = await next_event(callee, f"{API}/User/1004/Dialogs", "<state>ALERTING</state>")
        call_id = DET.fromstring(ringing.update).findtext("data/dialogs/Dialog/id")
        assert call_id

        def act(action: str, target: str) -> str:
            return (
                f"<Dialog><requestedAction>{action}</requestedAction>"
                f"<targetMediaAddress>{target}</targetMediaAddress></Dialog>"
            )

        dialog_url = f"{dep.base}/Dialog/{call_id}"
        await dialog_call(http, dialog_url, "1004", act("ANSWER", "2004"), "ans")
        await next_event(caller, f"{API}/User/1003/Dialogs", "<requestId>ans</requestId>")
        await dialog_call(http, dialog_url, "1003", act("HOLD", "2003"), "hold")
        held = await next_event(caller, f"{API}/User/1003/Dialogs", "<requestId>hold</requestId>")
        assert participant_states(held.update) == {"2003": "HELD", "2004": "ACTIVE"}
        await next_event(callee, f"{API}/User/1004/Dialogs", "<requestId>hold</requestId>")
        # Side B has the held call (replicated) before side A dies.
        adm_b = f"http://{HOST}:{dep.ports['adm_b']}/emu/calls"

        async def held_on_b() -> list[tuple[str, str]]:
            async with http.get(adm_b) as resp:
                calls = (await resp.json())["calls"]
            return [(c["device"], c["state"]) for call in calls for c in call["connections"]]

        await eventually(held_on_b, "held on side B", until=lambda c: ("2003", "HOLD") in c, within=10.0)
        customer_id, consult_id = await consult_in_progress(dep, http, consulting, consulted)
        on_b = ("2005", "HOLD"), ("5550155", "CONNECT"), ("2005", "CONNECT"), ("2006", "CONNECT")
        await eventually(
            held_on_b, "the consult's legs on side B", until=lambda c: set(on_b) <= set(c), within=10.0
        )

        dep.procs[0].kill()  # SIGKILL cti-a
        for agent in (caller, callee, consulting, consulted):
            await next_event(agent, f"{API}/SystemInfo", "<status>OUT_OF_SERVICE</status>")
            await next_event(agent, f"{API}/SystemInfo", "<status>IN_SERVICE</status>", timeout=20)
        for agent, user in ((caller, "1003"), (callee, "1004")):
            again = await next_event(agent, f"{API}/User/{user}/Dialogs", f"<id>{call_id}</id>")
            assert participant_states(again.update) == {"2003": "HELD", "2004": "ACTIVE"}
        await dialog_call(http, dialog_url, "1003", act("RETRIEVE", "2003"), "ret")
        back = await next_event(caller, f"{API}/User/1003/Dialogs", "<requestId>ret</requestId>")
        assert participant_states(back.update) == {"2003": "ACTIVE", "2004": "ACTIVE"}
        await dialog_call(http, dialog_url, "1003", act("DROP", "2003"), "drop")
        await next_event(callee, f"{API}/User/1004/Dialogs", "<event>DELETE</event>")
        # Both legs of the consult were republished to 1005, and 1005 conferences them on side B.
        seen: dict[str, str] = {}
        while set(seen) != {customer_id, consult_id}:  # republished in either order
            event = await next_event(consulting, f"{API}/User/1005/Dialogs", "<Participant>")
            seen[DET.fromstring(event.update).findtext("data/dialog/id") or ""] = event.update
        assert participant_states(seen[customer_id]) == {"2005": "HELD", "5550155": "ACTIVE"}
        assert participant_states(seen[consult_id]) == {"2005": "ACTIVE", "2006": "ACTIVE"}
        await dialog_call(http, f"{dep.base}/Dialog/{customer_id}", "1005", act("CONFERENCE", "2005"), "conf")
        conf = await next_event(consulted, f"{API}/User/1006/Dialogs", f"<id>{customer_id}</id>")
        assert participant_states(conf.update) == {"2005": "ACTIVE", "5550155": "ACTIVE", "2006": "ACTIVE"}
        for agent in (caller, callee, consulting, consulted):
            await agent.disconnect()


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
