"""Calls agents place and control, over real sockets: a Finesse node, both CTI stub sides (GED-188
over TCP) and Prosody; each agent's desktop is a slixmpp client that sees its dialog events.

Agent A calls agent B, B answers, A holds and retrieves, A drops; A calls an outside number; the
access rules and bad input; a held call through a CTI side kill, republished held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from defusedxml import ElementTree as DET

from finesse_emu.desktop.xmpp import AgentXmpp
from tests.helpers import eventually
from tests.integration.test_finesse_node import API, HOST, text
from tests.integration.test_finesse_node_xmpp import XDeployment, dep_xmpp, next_event

__all__ = ["dep_xmpp"]  # the fixture these tests use

A, B, C = "1010", "1011", "1012"
EXT = {A: "2010", B: "2011", C: "2012"}
# An active agent participant's actions: call control and the call data ones.
ACTIVE_ACTIONS = ["HOLD", "DROP", "UPDATE_CALL_DATA", "SEND_DTMF", "CONSULT_CALL", "TRANSFER_SST"]


@asynccontextmanager
async def desktop(dep: XDeployment, agent_id: str) -> AsyncIterator[AgentXmpp]:
    """The agent signed in over REST, with its XMPP client subscribed to its nodes."""
    status, _, _ = await dep.call("GET", f"/User/{agent_id}", user=agent_id)
    assert status == 200
    agent = AgentXmpp(f"{agent_id}@{HOST}/emu", f"pass{agent_id}", HOST, dep.node.config.xmpp_port)
    await agent.connect(wait_finesse=True)
    wanted = {(f"{API}/User/{agent_id}/Dialogs", "subscribed")}
    await eventually(agent.subscriptions, "subscribed", until=lambda subs: wanted <= set(subs), every=0.02)
    body = f"<User><state>LOGIN</state><extension>{EXT[agent_id]}</extension></User>"
    status, _, _ = await dep.call("PUT", f"/User/{agent_id}", user=agent_id, body=body)
    assert status == 202
    await dep.wait_user_state(agent_id, "NOT_READY")
    try:
        yield agent
    finally:
        await agent.disconnect()


def make_call(frm: str, to: str) -> str:
    return (
        f"<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>{frm}</fromAddress>"
        f"<toAddress>{to}</toAddress></Dialog>"
    )


def act(action: str, target: str) -> str:
    return (
        f"<Dialog><requestedAction>{action}</requestedAction>"
        f"<targetMediaAddress>{target}</targetMediaAddress></Dialog>"
    )


def participants(update: str) -> dict[str, tuple[str, list[str]]]:
    """mediaAddress -> (state, actions) of the dialog an Update carries."""
    doc = DET.fromstring(update)
    out: dict[str, tuple[str, list[str]]] = {}
    for p in doc.iter("Participant"):
        actions = [a.text or "" for a in p.iter("action")]
        out[text(p, "mediaAddress")] = (text(p, "state"), actions)
    return out


async def dialog_event(agent: AgentXmpp, agent_id: str, *contains: str) -> str:
    """The next dialog Update on the agent's Dialogs node that contains every marker."""
    node = f"{API}/User/{agent_id}/Dialogs"
    while True:
        event = await next_event(agent, node, contains[0])
        if all(c in event.update for c in contains):
            return event.update


async def test_agent_calls_agent_answer_hold_retrieve_drop(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    async with desktop(dep, A) as desk_a, desktop(dep, B) as desk_b:
        status, _, headers = await dep.call(
            "POST", f"/User/{A}/Dialogs", user=A, body=make_call(EXT[A], EXT[B]), requestId="mk-1"
        )
        assert status == 202 and headers["requestId"] == "mk-1"
        # A's desktop: the new dialog, dialling; B's: the same dialog alerting, with ANSWER to offer.
        first = await dialog_event(desk_a, A, "<event>POST</event>")
        call_id = text(DET.fromstring(first), "data/dialogs/Dialog/id")
        ringing = await dialog_event(desk_b, B, "<event>POST</event>", "<state>ALERTING</state>")
        assert text(DET.fromstring(ringing), "data/dialogs/Dialog/id") == call_id
        assert participants(ringing) == {
            EXT[A]: ("INITIATED", ["DROP"]),
            EXT[B]: ("ALERTING", ["ANSWER"]),
        }
        seen_a = await dialog_event(desk_a, A, f"<mediaAddress>{EXT[B]}</mediaAddress>")
        assert participants(seen_a)[EXT[A]] == ("INITIATED", ["DROP"])
        assert dep.node.model.user(A).state == "TALKING"

        status, _, _ = await dep.call(
            "PUT", f"/Dialog/{call_id}", user=B, body=act("ANSWER", EXT[B]), requestId="ans-1"
        )
        assert status == 202
        answered = await dialog_event(desk_b, B, "<requestId>ans-1</requestId>")
        assert participants(answered) == {
            EXT[A]: ("ACTIVE", ACTIVE_ACTIONS),
            EXT[B]: ("ACTIVE", ACTIVE_ACTIONS),
        }
        await dialog_event(desk_a, A, "<requestId>ans-1</requestId>", "<state>ACTIVE</state>")

        status, _, _ = await dep.call(
            "PUT", f"/Dialog/{call_id}", user=A, body=act("HOLD", EXT[A]), requestId="hold-1"
        )
        assert status == 202
        for desk, agent_id in ((desk_a, A), (desk_b, B)):
            held = await dialog_event(desk, agent_id, "<requestId>hold-1</requestId>")
            assert participants(held)[EXT[A]] == ("HELD", ["RETRIEVE", "DROP"])
            assert participants(held)[EXT[B]] == ("ACTIVE", ACTIVE_ACTIONS)
        await dep.wait_user_state(A, "HOLD")
        # Only what the participant lists is allowed: HOLD again is 400, and nothing changes.
        status, _, _ = await dep.call("PUT", f"/Dialog/{call_id}", user=A, body=act("HOLD", EXT[A]))
        assert status == 400

        status, _, _ = await dep.call(
            "PUT", f"/Dialog/{call_id}", user=A, body=act("RETRIEVE", EXT[A]), requestId="ret-1"
        )
        assert status == 202
        retrieved = await dialog_event(desk_a, A, "<requestId>ret-1</requestId>")
        assert participants(retrieved)[EXT[A]] == ("ACTIVE", ACTIVE_ACTIONS)
        await dep.wait_user_state(A, "TALKING")

        status, _, _ = await dep.call(
            "PUT", f"/Dialog/{call_id}", user=A, body=act("DROP", EXT[A]), requestId="drop-1"
        )
        assert status == 202
        for desk, agent_id in ((desk_a, A), (desk_b, B)):
            await dialog_event(desk, agent_id, "<event>DELETE</event>", f"<id>{call_id}</id>")
        assert call_id not in dep.node.model.dialogs
        assert dep.a.model.calls == {}


async def test_agent_calls_an_outside_number(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    outside = "5550199"
    async with desktop(dep, A) as desk_a:
        status, _, _ = await dep.call("POST", f"/User/{A}/Dialogs", user=A, body=make_call(EXT[A], outside))
        assert status == 202
        # The far end answers by itself (cti_outside_answer_after, scaled).
        active = await dialog_event(
            desk_a, A, "<state>ACTIVE</state>", f"<mediaAddress>{outside}</mediaAddress>"
        )
        doc = DET.fromstring(active)
        assert text(doc, "data/dialog/mediaProperties/callType") == "AGENT_OUT"
        assert participants(active) == {EXT[A]: ("ACTIVE", ACTIVE_ACTIONS), outside: ("ACTIVE", [])}
        call_id = text(doc, "data/dialog/id")
        status, _, _ = await dep.call("PUT", f"/Dialog/{call_id}", user=A, body=act("DROP", EXT[A]))
        assert status == 202
        await dialog_event(desk_a, A, "<event>DELETE</event>", f"<id>{call_id}</id>")


async def test_a_call_to_a_busy_agent_or_an_unknown_number_fails(dep_xmpp: XDeployment) -> None:
    """CALL_FAILED_EVENT on the wire, as the desktop sees it: the dialog FAILED, the agent's
    participant FAILED with stateCause BUSY (an agent nobody is logged in on) or BAD_DESTINATION
    (a number outside the dial plan), DROP its only action; the drop ends it."""
    dep = dep_xmpp
    async with desktop(dep, A) as desk_a:
        for dialed, cause in ((EXT[B], "BUSY"), ("2999", "BAD_DESTINATION")):
            status, _, _ = await dep.call(
                "POST", f"/User/{A}/Dialogs", user=A, body=make_call(EXT[A], dialed)
            )
            assert status == 202
            failed = await dialog_event(
                desk_a, A, "<state>FAILED</state>", f"<stateCause>{cause}</stateCause>"
            )
            doc = DET.fromstring(failed)
            assert text(doc, "data/dialog/state") == "FAILED"
            assert participants(failed)[EXT[A]] == ("FAILED", ["DROP"])
            call_id = text(doc, "data/dialog/id")
            status, _, _ = await dep.call("PUT", f"/Dialog/{call_id}", user=A, body=act("DROP", EXT[A]))
            assert status == 202
            await dialog_event(desk_a, A, "<event>DELETE</event>", f"<id>{call_id}</id>")


async def test_access_control_and_bad_input(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    async with desktop(dep, A), desktop(dep, B), desktop(dep, C):
        # Making a call for another agent: the product's 401.
        status, doc, _ = await dep.call("POST", f"/User/{B}/Dialogs", user=A, body=make_call(EXT[B], EXT[C]))
        assert status == 401 and text(doc, "ApiError/ErrorType") == "Invalid Authorization User Specified"
        # Bad input: another user's extension as fromAddress, calling oneself, a malformed body, a
        # PUT-only action, an unknown action.
        cases: list[tuple[str, str]] = [
            (make_call(EXT[B], EXT[C]), "fromAddress"),
            (make_call(EXT[A], EXT[A]), "toAddress"),
            ("<Dialog><requestedAction>MAKE_CALL", ""),
            (act("HOLD", EXT[A]), "requestedAction"),
            ("<Dialog><requestedAction>FLY</requestedAction></Dialog>", "requestedAction"),
        ]
        for body, data in cases:
            status, doc, _ = await dep.call("POST", f"/User/{A}/Dialogs", user=A, body=body)
            assert status == 400, body
            if data:
                assert text(doc, "ApiError/ErrorData") == data, body
        assert dep.a.model.calls == {}

        status, _, _ = await dep.call("POST", f"/User/{A}/Dialogs", user=A, body=make_call(EXT[A], EXT[B]))
        assert status == 202
        call_id = await eventually(
            lambda: [d for d in dep.node.model.dialogs if B in dep.node.model.dialogs[d].user_ids],
            "the dialog reaches B",
            until=bool,
        )
        dialog_id = call_id[0]
        # C is in no participant of this call: the product's 401 on GET and PUT.
        status, _, _ = await dep.call("GET", f"/Dialog/{dialog_id}", user=C)
        assert status == 401
        status, _, _ = await dep.call("PUT", f"/Dialog/{dialog_id}", user=C, body=act("DROP", EXT[C]))
        assert status == 401
        # B may not act on A's participant; A may not answer B's alerting line; unknown dialog.
        status, doc, _ = await dep.call("PUT", f"/Dialog/{dialog_id}", user=B, body=act("DROP", EXT[A]))
        assert status == 400 and text(doc, "ApiError/ErrorData") == "targetMediaAddress"
        status, doc, _ = await dep.call("PUT", f"/Dialog/{dialog_id}", user=A, body=act("ANSWER", EXT[B]))
        assert status == 400
        status, _, _ = await dep.call("PUT", "/Dialog/99999999", user=A, body=act("DROP", EXT[A]))
        assert status == 404
        # An action the participant does not list now (dialling: DROP only), and a malformed body.
        status, doc, _ = await dep.call("PUT", f"/Dialog/{dialog_id}", user=A, body=act("HOLD", EXT[A]))
        assert status == 400
        status, _, _ = await dep.call("PUT", f"/Dialog/{dialog_id}", user=A, body="<Dialog><requested")
        assert status == 400
        # A second call while dialling: the CTI server refuses it after the 202, as an apiErrors
        # Update on A's Dialogs node.
        status, _, _ = await dep.call(
            "POST", f"/User/{A}/Dialogs", user=A, body=make_call(EXT[A], EXT[C]), requestId="mk-2"
        )
        assert status == 202
        update = await dep.wait_event(f"{API}/User/{A}/Dialogs", "<requestId>mk-2</requestId>")
        assert "apiErrors" in update and "requestedAction" in update
        assert len(dep.a.model.calls) == 1


async def test_a_held_call_survives_a_cti_side_kill(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    async with desktop(dep, A) as desk_a, desktop(dep, B) as desk_b:
        status, _, _ = await dep.call("POST", f"/User/{A}/Dialogs", user=A, body=make_call(EXT[A], EXT[B]))
        assert status == 202
        ringing = await dialog_event(desk_b, B, "<state>ALERTING</state>")
        call_id = text(DET.fromstring(ringing), "data/dialogs/Dialog/id")
        await dep.call("PUT", f"/Dialog/{call_id}", user=B, body=act("ANSWER", EXT[B]))
        await dialog_event(desk_a, A, "<state>ACTIVE</state>")
        await dep.call("PUT", f"/Dialog/{call_id}", user=A, body=act("HOLD", EXT[A]), requestId="h")
        await dialog_event(desk_a, A, "<requestId>h</requestId>")
        await dialog_event(desk_b, B, "<requestId>h</requestId>")  # what each desktop saw last

        def held_on_b() -> str:
            call = dep.b.model.calls.get(int(call_id))
            conn = call.connection(EXT[A]) if call is not None else None
            return conn.state.name if conn is not None else ""

        await eventually(held_on_b, "the held call replicated to side B", until="HOLD".__eq__)

        await dep.a.stop()  # the active PG side dies; B takes over, the node reconnects to it
        await next_event(desk_a, f"{API}/SystemInfo", "<status>OUT_OF_SERVICE</status>", timeout=15)
        await next_event(desk_a, f"{API}/SystemInfo", "<status>IN_SERVICE</status>", timeout=30)
        # The last state of the call, republished once the node is IN_SERVICE: still held.
        for desk, agent_id in ((desk_a, A), (desk_b, B)):
            again = await dialog_event(desk, agent_id, f"<id>{call_id}</id>", "<Participant>")
            assert participants(again) == {
                EXT[A]: ("HELD", ["RETRIEVE", "DROP"]),
                EXT[B]: ("ACTIVE", ACTIVE_ACTIONS),
            }
        # ... and still controllable on side B.
        status, _, _ = await dep.call(
            "PUT", f"/Dialog/{call_id}", user=A, body=act("RETRIEVE", EXT[A]), requestId="r"
        )
        assert status == 202
        retrieved = await dialog_event(desk_a, A, "<requestId>r</requestId>")
        assert participants(retrieved)[EXT[A]] == ("ACTIVE", ACTIVE_ACTIONS)
