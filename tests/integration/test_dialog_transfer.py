"""Consult, transfer and conference over real sockets: a Finesse node, both CTI stub sides and
Prosody; each agent's desktop is a slixmpp client that sees its dialog events.

A's customer (an outside number) is consulted over to B and transferred; a conference of A, B and
the customer goes through a kill of the active CTI side and is republished whole.
"""

from __future__ import annotations

from defusedxml import ElementTree as DET

from finesse_emu.desktop.xmpp import AgentXmpp
from tests.helpers import eventually
from tests.integration.test_dialog_calls import (
    ACTIVE_ACTIONS,
    EXT,
    A,
    B,
    act,
    desktop,
    dialog_event,
    make_call,
    participants,
)
from tests.integration.test_finesse_node import API, text
from tests.integration.test_finesse_node_xmpp import XDeployment, dep_xmpp, next_event

__all__ = ["dep_xmpp"]  # the fixture these tests use

CUSTOMER = "5550188"
CALL_DATA = ["UPDATE_CALL_DATA", "SEND_DTMF"]


def consult(to: str, target: str) -> str:
    return (
        f"<Dialog><requestedAction>CONSULT_CALL</requestedAction><toAddress>{to}</toAddress>"
        f"<targetMediaAddress>{target}</targetMediaAddress></Dialog>"
    )


async def customer_call(dep: XDeployment, desk_a: AgentXmpp) -> str:
    """A calls the customer, who answers by itself: the call A consults about."""
    status, _, _ = await dep.call("POST", f"/User/{A}/Dialogs", user=A, body=make_call(EXT[A], CUSTOMER))
    assert status == 202
    active = await dialog_event(
        desk_a, A, "<state>ACTIVE</state>", f"<mediaAddress>{CUSTOMER}</mediaAddress>"
    )
    return text(DET.fromstring(active), "data/dialog/id")


async def consult_answered(dep: XDeployment, desk_a: AgentXmpp, desk_b: AgentXmpp) -> tuple[str, str]:
    held = await customer_call(dep, desk_a)
    status, _, _ = await dep.call(
        "PUT", f"/Dialog/{held}", user=A, body=consult(EXT[B], EXT[A]), requestId="c"
    )
    assert status == 202
    on_hold = await dialog_event(desk_a, A, "<requestId>c</requestId>")
    assert participants(on_hold)[EXT[A]][0] == "HELD"
    ringing = await dialog_event(desk_b, B, "<event>POST</event>", "<state>ALERTING</state>")
    doc = DET.fromstring(ringing)
    consult_id = text(doc, "data/dialogs/Dialog/id")
    assert text(doc, "data/dialogs/Dialog/mediaProperties/callType") == "CONSULT"
    assert participants(ringing) == {EXT[A]: ("INITIATED", ["DROP"]), EXT[B]: ("ALERTING", ["ANSWER"])}
    status, _, _ = await dep.call(
        "PUT", f"/Dialog/{consult_id}", user=B, body=act("ANSWER", EXT[B]), requestId="a"
    )
    assert status == 202
    answered = await dialog_event(desk_a, A, "<requestId>a</requestId>", f"<id>{consult_id}</id>")
    assert participants(answered) == {
        EXT[A]: ("ACTIVE", ["DROP", *CALL_DATA]),
        EXT[B]: ("ACTIVE", ACTIVE_ACTIONS),
    }
    # The held customer call now offers TRANSFER and CONFERENCE to A.
    view = await eventually(
        lambda: dep.node.core.dialog_view(held), "the held call offers TRANSFER",
        until=lambda v: "CONFERENCE" in v.participants[0].actions,
    )  # fmt: skip
    assert view.participants[0].actions == ("TRANSFER", "CONFERENCE", "DROP")
    return held, consult_id


async def kill_side_a_with_the_conference(dep: XDeployment, desk_a: AgentXmpp, held: str) -> None:
    """Once the conference of three is replicated to side B, the active PG side A dies; B takes
    over, the node reconnects to it and is IN_SERVICE again (A's desktop sees both SystemInfos)."""

    def replicated() -> int:
        call = dep.b.model.calls.get(int(held))
        return len(call.live) if call is not None and call.role == "conference" else 0

    await eventually(replicated, "the conference replicated to side B", until=(3).__eq__)
    await dep.a.stop()
    await next_event(desk_a, f"{API}/SystemInfo", "<status>OUT_OF_SERVICE</status>", timeout=15)
    await next_event(desk_a, f"{API}/SystemInfo", "<status>IN_SERVICE</status>", timeout=30)


async def a_acts(dep: XDeployment, held: str, name: str) -> None:
    """A's ``name`` action on its participant in the held call's dialog (requestId: the action's
    name), accepted (202)."""
    status, _, _ = await dep.call("PUT", f"/Dialog/{held}", user=A, body=act(name, EXT[A]), requestId=name)
    assert status == 202


async def a_drops_off(dep: XDeployment, desk: AgentXmpp, user: str, held: str) -> dict[str, str]:
    """A drops off the conference: the participants' states as ``user``'s desktop then sees them."""
    await a_acts(dep, held, "DROP")
    left = await dialog_event(desk, user, "<requestId>DROP</requestId>")
    return {k: v[0] for k, v in participants(left).items()}


async def test_consult_then_transfer_to_another_agent(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    async with desktop(dep, A) as desk_a, desktop(dep, B) as desk_b:
        held, consult_id = await consult_answered(dep, desk_a, desk_b)
        await a_acts(dep, held, "TRANSFER")
        # B gets the customer call (POSTed: new to B), as TRANSFER, with the customer and itself.
        got = await dialog_event(desk_b, B, "<event>POST</event>", f"<id>{held}</id>")
        assert participants(got)[CUSTOMER] == ("ACTIVE", [])
        assert participants(got)[EXT[B]] == ("ACTIVE", ACTIVE_ACTIONS)
        for desk, agent_id in ((desk_a, A), (desk_b, B)):
            await dialog_event(desk, agent_id, "<event>DELETE</event>", f"<id>{consult_id}</id>")
        await dep.wait_user_state(B, "TALKING")
        await dep.wait_user_state(A, "READY")
        call = dep.a.model.calls[int(held)]
        assert {c.device for c in call.live} == {CUSTOMER, EXT[B]}
        # Its callType changes with the CTI server's CALL_DATA_UPDATE_EVENT (TRANSFER_IN).
        await dialog_event(desk_b, B, f"<id>{held}</id>", "<callType>TRANSFER</callType>")


async def test_a_conference_survives_a_cti_side_kill(dep_xmpp: XDeployment) -> None:
    dep = dep_xmpp
    async with desktop(dep, A) as desk_a, desktop(dep, B) as desk_b:
        held, _ = await consult_answered(dep, desk_a, desk_b)
        await a_acts(dep, held, "CONFERENCE")
        conf = await dialog_event(desk_b, B, f"<id>{held}</id>", f"<mediaAddress>{CUSTOMER}</mediaAddress>")
        assert set(participants(conf)) == {EXT[A], EXT[B], CUSTOMER}
        everyone = {
            EXT[A]: ("ACTIVE", ACTIVE_ACTIONS),
            EXT[B]: ("ACTIVE", ACTIVE_ACTIONS),
            CUSTOMER: ("ACTIVE", []),
        }

        def seen() -> dict[str, tuple[str, list[str]]]:
            view = dep.node.core.dialog_view(held)
            return {p.media_address: (p.state, list(p.actions)) for p in view.participants}

        await eventually(seen, "the conference", until=everyone.__eq__)

        await kill_side_a_with_the_conference(dep, desk_a, held)
        for desk, agent_id in ((desk_a, A), (desk_b, B)):
            again = await dialog_event(desk, agent_id, f"<id>{held}</id>", "<Participant>")
            assert participants(again) == everyone
            assert text(DET.fromstring(again), "data/dialog/mediaProperties/callType") == "CONFERENCE"
        # ... and still controllable on side B: A drops off, B and the customer go on.
        assert await a_drops_off(dep, desk_b, B, held) == {
            EXT[A]: "DROPPED",
            EXT[B]: "ACTIVE",
            CUSTOMER: "ACTIVE",
        }


async def test_the_conference_glitch_fault_after_a_cti_side_kill(dep_xmpp: XDeployment) -> None:
    """The opt-in conference_glitch fault (the chapter's conference note): after the failover the
    conference with the customer (a device that is no agent) is DELETEd on A's desktop and absent
    from its GET Dialogs, then shown without the customer and without A; once A drops off, its
    desktop is itself again."""
    dep = dep_xmpp
    async with desktop(dep, A) as desk_a, desktop(dep, B) as desk_b:
        held, _ = await consult_answered(dep, desk_a, desk_b)
        await a_acts(dep, held, "CONFERENCE")
        await dialog_event(desk_a, A, f"<id>{held}</id>", f"<mediaAddress>{EXT[B]}</mediaAddress>")
        await dep.node.faults.add("conference_glitch", {})

        await kill_side_a_with_the_conference(dep, desk_a, held)
        await dialog_event(desk_a, A, "<event>DELETE</event>", f"<id>{held}</id>")
        status, doc, _ = await dep.call("GET", f"/User/{A}/Dialogs", user=A)
        assert status == 200 and doc.find("Dialog") is None
        # The call goes on: B holds, and A's desktop gets a PUT of a dialog it was told is gone,
        # without the customer and without A.
        status, _, _ = await dep.call(
            "PUT", f"/Dialog/{held}", user=B, body=act("HOLD", EXT[B]), requestId="h"
        )
        assert status == 202
        odd = await dialog_event(desk_a, A, "<requestId>h</requestId>")
        assert participants(odd) == {EXT[B]: ("HELD", ["RETRIEVE", "DROP"])}
        # "Desktop behavior returns to usual after the agent or supervisor drops off the conference call."
        assert await a_drops_off(dep, desk_a, A, held) == {
            EXT[A]: "DROPPED",
            EXT[B]: "HELD",
            CUSTOMER: "ACTIVE",
        }
        await dep.node.faults.clear()


async def test_a_failed_consult_is_dropped_before_the_held_call_is_retrieved(dep_xmpp: XDeployment) -> None:
    """A consults a number the deployment does not know: the consult dialog FAILED, the held call
    offering DROP only until A drops the failed consult (the CTI server would refuse a RETRIEVE
    while the phone is off hook); then A retrieves its customer."""
    dep = dep_xmpp
    async with desktop(dep, A) as desk_a:
        held = await customer_call(dep, desk_a)
        status, _, _ = await dep.call("PUT", f"/Dialog/{held}", user=A, body=consult("99", EXT[A]))
        assert status == 202
        failed = await dialog_event(desk_a, A, "<state>FAILED</state>")
        failed_id = text(DET.fromstring(failed), "data/dialog/id")
        view = await eventually(
            lambda: dep.node.core.dialog_view(held), "the held call with the failed consult",
            until=lambda v: v.participants[0].state == "HELD",
        )  # fmt: skip
        assert view.participants[0].actions == ("DROP",)
        status, _, _ = await dep.call("PUT", f"/Dialog/{failed_id}", user=A, body=act("DROP", EXT[A]))
        assert status == 202
        await dialog_event(desk_a, A, "<event>DELETE</event>", f"<id>{failed_id}</id>")
        retrieve = act("RETRIEVE", EXT[A])
        assert (await dep.call("PUT", f"/Dialog/{held}", user=A, body=retrieve, requestId="r"))[0] == 202
        back = await dialog_event(desk_a, A, "<requestId>r</requestId>")
        assert participants(back)[EXT[A]][0] == "ACTIVE"
