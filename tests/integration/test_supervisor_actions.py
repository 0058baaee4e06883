"""A supervisor's actions over real sockets: a Finesse node, both CTI stub sides (GED-188 over TCP)
and Prosody; the supervisor's and the agent's desktops are slixmpp clients that see their dialog
events.

The supervisor (1000, team 1) silently monitors an agent's call (the agent sees nothing of it), barges
in (the agent sees the supervisor join) and drops the agent; an agent and another team's supervisor
(1025) are refused; a supervisor changes the agent's state; a silent monitor survives a CTI side kill
and is republished, still the supervisor's only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from defusedxml import ElementTree as DET

from finesse_emu.desktop.xmpp import AgentXmpp
from tests.helpers import eventually
from tests.integration.test_dialog_calls import act, dialog_event, participants
from tests.integration.test_finesse_node import API, HOST, text
from tests.integration.test_finesse_node_xmpp import XDeployment, dep_xmpp, next_event

__all__ = ["dep_xmpp"]  # the fixture these tests use

SUP, AGENT, OTHER, SUP2 = "1000", "1010", "1011", "1025"


def ext(agent_id: str) -> str:
    return str(2000 + int(agent_id) - 1000)


@asynccontextmanager
async def desktop(dep: XDeployment, agent_id: str) -> AsyncIterator[AgentXmpp]:
    """Signed in over REST (NOT_READY), its XMPP client subscribed to its Dialogs node."""
    agent = AgentXmpp(f"{agent_id}@{HOST}/emu", f"pass{agent_id}", HOST, dep.node.config.xmpp_port)
    await agent.connect(wait_finesse=True)
    wanted = {(f"{API}/User/{agent_id}/Dialogs", "subscribed")}
    await eventually(agent.subscriptions, "subscribed", until=lambda subs: wanted <= set(subs), every=0.02)
    body = f"<User><state>LOGIN</state><extension>{ext(agent_id)}</extension></User>"
    assert (await dep.call("PUT", f"/User/{agent_id}", user=agent_id, body=body))[0] == 202
    await dep.wait_user_state(agent_id, "NOT_READY")
    try:
        yield agent
    finally:
        await agent.disconnect()


def supervise(action: str, frm: str, to: str, associated: str = "") -> str:
    extra = f"<associatedDialogUri>{associated}</associatedDialogUri>" if associated else ""
    return (
        f"<Dialog><requestedAction>{action}</requestedAction><fromAddress>{frm}</fromAddress>"
        f"<toAddress>{to}</toAddress>{extra}</Dialog>"
    )


async def agent_talking(dep: XDeployment, desk: AgentXmpp) -> str:
    """The agent Ready, a caller's call delivered and answered: its dialog id."""
    assert (await dep.call("PUT", f"/User/{AGENT}", user=AGENT, body="<User><state>READY</state></User>"))[
        0
    ] == 202
    await dep.wait_user_state(AGENT, "READY")
    call = {"agent_id": AGENT, "ani": "5550001", "dnis": "8001"}
    async with dep.http.post(f"http://{HOST}:{dep.a.admin_port}/emu/calls", json=call) as resp:
        call_id = str((await resp.json())["call_id"])
    await dialog_event(desk, AGENT, "<state>ALERTING</state>", f"<id>{call_id}</id>")
    assert (await dep.call("PUT", f"/Dialog/{call_id}", user=AGENT, body=act("ANSWER", ext(AGENT))))[0] == 202
    await dep.wait_user_state(AGENT, "TALKING")
    return call_id


async def start_monitor(dep: XDeployment, desk_sup: AgentXmpp) -> str:
    body = supervise("SILENT_MONITOR", ext(SUP), ext(AGENT))
    status, _, _ = await dep.call("POST", f"/User/{SUP}/Dialogs", user=SUP, body=body, requestId="sm-1")
    assert status == 202
    posted = await dialog_event(desk_sup, SUP, "<event>POST</event>", "SUPERVISOR_MONITOR")
    doc = DET.fromstring(posted)
    assert text(doc, "data/dialogs/Dialog/mediaProperties/callType") == "SUPERVISOR_MONITOR"
    monitor = text(doc, "data/dialogs/Dialog/id")
    seen = await dialog_event(desk_sup, SUP, f"<id>{monitor}</id>", "<state>ACTIVE</state>")
    assert participants(seen) == {ext(SUP): ("ACTIVE", ["BARGE_CALL", "DROP"]), ext(AGENT): ("ACTIVE", [])}
    await dep.wait_user_state(SUP, "TALKING")  # "the supervisor transitions to TALKING state"
    return monitor


def agent_saw(dep: XDeployment, dialog_id: str) -> bool:
    """Whether any Update published to the agent's Dialogs node named the dialog."""
    return any(f"<id>{dialog_id}</id>" in e for e in dep.events_for(f"{API}/User/{AGENT}/Dialogs"))


async def test_silent_monitor_barge_in_and_drop_the_agent(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    async with desktop(dep, SUP) as desk_sup, desktop(dep, AGENT) as desk_agent:
        call_id = await agent_talking(dep, desk_agent)
        monitor = await start_monitor(dep, desk_sup)
        # The agent's desktop shows nothing of it: no monitor dialog, no supervisor in its call.
        assert monitor not in {d.id for d in dep.node.model.dialogs_of(AGENT)}
        assert agent_saw(dep, call_id) and not agent_saw(dep, monitor)
        status, doc, _ = await dep.call("GET", f"/User/{AGENT}/Dialogs", user=AGENT)
        assert status == 200 and ext(SUP) not in DET.tostring(doc).decode()

        # Barge-in: the call becomes the supervisor's too, and the agent sees it join.
        body = supervise("BARGE_CALL", ext(SUP), ext(AGENT), f"{API}/Dialog/{monitor}")
        status, _, _ = await dep.call("POST", f"/User/{SUP}/Dialogs", user=SUP, body=body, requestId="b-1")
        assert status == 202
        joined = await dialog_event(desk_agent, AGENT, f"<id>{call_id}</id>", f"<mediaAddress>{ext(SUP)}")
        assert set(participants(joined)) == {"5550001", ext(AGENT), ext(SUP)}
        # "the call becomes a conference call": CALL_CONFERENCED_EVENT, then the monitor call's end.
        posted = await dialog_event(desk_sup, SUP, "<event>POST</event>", f"<id>{call_id}</id>")
        assert "PARTICIPANT_DROP" in participants(posted)[ext(SUP)][1]
        await dialog_event(desk_sup, SUP, "<event>DELETE</event>", f"<id>{monitor}</id>")
        await dialog_event(desk_agent, AGENT, f"<id>{call_id}</id>", "<callType>CONFERENCE</callType>")

        # The agent may not drop its supervisor; the supervisor drops the agent and stays on the call.
        drop = act("PARTICIPANT_DROP", ext(SUP))
        status, _, _ = await dep.call("PUT", f"/Dialog/{call_id}", user=AGENT, body=drop)
        assert status == 400
        drop = act("PARTICIPANT_DROP", ext(AGENT))
        status, _, _ = await dep.call("PUT", f"/Dialog/{call_id}", user=SUP, body=drop, requestId="pd-1")
        assert status == 202
        dropped = await dialog_event(desk_sup, SUP, "<requestId>pd-1</requestId>")
        assert participants(dropped)[ext(AGENT)][0] == "DROPPED"
        assert participants(dropped)[ext(SUP)][0] == participants(dropped)["5550001"][0] == "ACTIVE"
        call = dep.a.model.calls[int(call_id)]
        assert {c.device for c in call.live} == {"5550001", ext(SUP)}


async def test_who_may_monitor_and_change_an_agents_state(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    async with desktop(dep, SUP), desktop(dep, AGENT) as desk_agent, desktop(dep, OTHER), desktop(dep, SUP2):
        await agent_talking(dep, desk_agent)
        # An agent may not monitor: "Supervisors can use this API".
        status, doc, _ = await dep.call(
            "POST",
            f"/User/{OTHER}/Dialogs",
            user=OTHER,
            body=supervise("SILENT_MONITOR", ext(OTHER), ext(AGENT)),
        )
        assert status == 401 and text(doc, "ApiError/ErrorType") == "Authorization Failure"
        # Another team's supervisor may not; its own dialogs only (another's Dialogs: 401 too).
        body = supervise("SILENT_MONITOR", ext(SUP2), ext(AGENT))
        status, doc, _ = await dep.call("POST", f"/User/{SUP2}/Dialogs", user=SUP2, body=body)
        assert status == 401 and text(doc, "ApiError/ErrorType") == "Invalid Authorization User Specified"
        status, _, _ = await dep.call("POST", f"/User/{SUP}/Dialogs", user=SUP2, body=body)
        assert status == 401
        assert [c.kind for c in dep.a.model.calls.values()] == ["inbound"]  # nothing reached the PG
        # An agent not TALKING (OTHER is NOT_READY) is the CTI server's refusal, after the 202: an
        # asynchronous apiErrors Update on the supervisor's Dialogs node, with the requestId.
        body = supervise("SILENT_MONITOR", ext(SUP), ext(OTHER))
        status, _, _ = await dep.call("POST", f"/User/{SUP}/Dialogs", user=SUP, body=body, requestId="sm-x")
        assert status == 202
        refused = await dep.wait_event(f"{API}/User/{SUP}/Dialogs", "<requestId>sm-x</requestId>")
        assert "<apiErrors>" in refused and "<errorType>Invalid State</errorType>" in refused
        assert dep.node.model.user(SUP).state == "NOT_READY"

        # The agent's state, by its supervisor: NOT_READY is refused while it talks, a reason code
        # always; LOGOUT while talking is pending, with the supervisor's 999.
        nr = "<User><state>NOT_READY</state></User>"
        assert (await dep.call("PUT", f"/User/{AGENT}", user=SUP, body=nr))[0] == 400
        nr_reason = "<User><state>NOT_READY</state><reasonCodeId>1</reasonCodeId></User>"
        status, doc, _ = await dep.call("PUT", f"/User/{AGENT}", user=SUP, body=nr_reason)
        assert status == 400 and text(doc, "ApiError/ErrorType") == "Invalid Input"
        assert (await dep.call("PUT", f"/User/{AGENT}", user=SUP2, body=nr))[0] == 401
        status, _, _ = await dep.call(
            "PUT", f"/User/{OTHER}", user=SUP, body="<User><state>READY</state></User>"
        )
        assert status == 202
        await dep.wait_user_state(OTHER, "READY")
        assert (await dep.call("PUT", f"/User/{OTHER}", user=SUP, body=nr))[0] == 202
        await dep.wait_user_state(OTHER, "NOT_READY")
        assert dep.node.model.user(OTHER).reason_code == 999
        assert dep.a.model.agents[OTHER].reason_code == 999


async def test_a_silent_monitor_survives_a_cti_side_kill(dep_xmpp: XDeployment) -> None:
    """The PG's sides share the call state, so the supervisor's monitor call and the agent's call are
    both on side B after the kill and republished once the node is IN_SERVICE (chapter "Finesse
    Failover Mechanisms": the last state of call control), the monitor still the supervisor's only;
    and the supervisor can still barge in on side B."""
    dep = dep_xmpp
    async with desktop(dep, SUP) as desk_sup, desktop(dep, AGENT) as desk_agent:
        call_id = await agent_talking(dep, desk_agent)
        monitor = await start_monitor(dep, desk_sup)
        await eventually(
            lambda: sorted(dep.b.model.calls), "both calls replicated to side B", until=lambda k: len(k) == 2
        )
        await dep.a.stop()
        await next_event(desk_sup, f"{API}/SystemInfo", "<status>OUT_OF_SERVICE</status>", timeout=15)
        await next_event(desk_sup, f"{API}/SystemInfo", "<status>IN_SERVICE</status>", timeout=30)
        again = await dialog_event(desk_sup, SUP, f"<id>{monitor}</id>", "<Participant>")
        assert participants(again) == {
            ext(SUP): ("ACTIVE", ["BARGE_CALL", "DROP"]),
            ext(AGENT): ("ACTIVE", []),
        }
        theirs = await dialog_event(desk_agent, AGENT, f"<id>{call_id}</id>", "<Participant>")
        assert set(participants(theirs)) == {"5550001", ext(AGENT)}
        assert monitor not in {d.id for d in dep.node.model.dialogs_of(AGENT)} and not agent_saw(dep, monitor)

        body = supervise("BARGE_CALL", ext(SUP), ext(AGENT), f"{API}/Dialog/{monitor}")
        assert (await dep.call("POST", f"/User/{SUP}/Dialogs", user=SUP, body=body))[0] == 202
        await dialog_event(desk_agent, AGENT, f"<id>{call_id}</id>", f"<mediaAddress>{ext(SUP)}")


async def test_a_silent_monitor_follows_the_agent_it_was_transferred_to(dep_xmpp: XDeployment) -> None:
    """The agent consults OTHER, the supervisor monitors OTHER on the consult, the agent transfers:
    OTHER neither dropped nor transferred ("If an agent drops from or transfers the call that the
    supervisor is monitoring, the silent monitoring session ends"), so the monitor goes on, now of
    the customer call, and the supervisor barges in there."""
    dep = dep_xmpp
    async with (
        desktop(dep, SUP) as desk_sup,
        desktop(dep, AGENT) as desk_agent,
        desktop(dep, OTHER) as desk_other,
    ):
        call_id = await agent_talking(dep, desk_agent)
        consult = (
            f"<Dialog><requestedAction>CONSULT_CALL</requestedAction><toAddress>{ext(OTHER)}</toAddress>"
            f"<targetMediaAddress>{ext(AGENT)}</targetMediaAddress></Dialog>"
        )
        assert (await dep.call("PUT", f"/Dialog/{call_id}", user=AGENT, body=consult))[0] == 202
        ringing = await dialog_event(desk_other, OTHER, "<event>POST</event>", "<state>ALERTING</state>")
        consult_id = text(DET.fromstring(ringing), "data/dialogs/Dialog/id")
        answer = act("ANSWER", ext(OTHER))
        assert (await dep.call("PUT", f"/Dialog/{consult_id}", user=OTHER, body=answer))[0] == 202
        await dep.wait_user_state(OTHER, "TALKING")
        body = supervise("SILENT_MONITOR", ext(SUP), ext(OTHER))
        assert (await dep.call("POST", f"/User/{SUP}/Dialogs", user=SUP, body=body))[0] == 202
        posted = await dialog_event(desk_sup, SUP, "<event>POST</event>", "SUPERVISOR_MONITOR")
        monitor = text(DET.fromstring(posted), "data/dialogs/Dialog/id")
        await eventually(
            lambda: dep.node.core.dialog_view(call_id).participants[0].actions, "TRANSFER offered",
            until=lambda actions: "TRANSFER" in actions,
        )  # fmt: skip
        transfer = act("TRANSFER", ext(AGENT))
        assert (await dep.call("PUT", f"/Dialog/{call_id}", user=AGENT, body=transfer))[0] == 202
        await dialog_event(desk_other, OTHER, "<event>POST</event>", f"<id>{call_id}</id>")
        await eventually(
            lambda: dep.a.model.calls.get(int(monitor)), "the monitor follows OTHER",
            until=lambda call: call is not None and call.monitored == int(call_id),
        )  # fmt: skip
        assert monitor in dep.node.model.dialogs
        body = supervise("BARGE_CALL", ext(SUP), ext(OTHER), f"{API}/Dialog/{monitor}")
        assert (await dep.call("POST", f"/User/{SUP}/Dialogs", user=SUP, body=body))[0] == 202
        joined = await dialog_event(desk_other, OTHER, f"<id>{call_id}</id>", f"<mediaAddress>{ext(SUP)}")
        live = {k for k, (state, _) in participants(joined).items() if state != "DROPPED"}
        assert live == {"5550001", ext(OTHER), ext(SUP)}  # (the agent who transferred: DROPPED)
