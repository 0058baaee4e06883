"""An emulated desktop on a call, over real sockets (a Finesse node, both CTI stub sides over
GED-188, Prosody): it follows its dialog from the Updates, answers the call it is offered and holds
it through the REST API; the active CTI side dies, the node goes OUT_OF_SERVICE and back, the
desktop fails over in place and its reload lists the call still held. The history says so, and the
calls invariants judge it clean."""

from __future__ import annotations

import aiohttp

from emu_base.history import History
from emu_base.history_events import CallsPlaced, DialogAction, DialogSeen, FailoverDone
from finesse_emu.desktop.calls import KINDS
from finesse_emu.runs.check import CALL_INVARIANTS, check_history
from tests.helpers import eventually
from tests.integration.test_desktop_call_kinds import signed_in
from tests.integration.test_finesse_node import HOST
from tests.integration.test_finesse_node_xmpp import XDeployment, dep_xmpp

__all__ = ["dep_xmpp"]  # the fixture these tests use

AGENT = "1010"  # extension 2010


async def test_desktop_answers_holds_and_keeps_its_held_call_through_a_cti_failover(
    dep_xmpp: XDeployment,
) -> None:
    dep = dep_xmpp
    history = History(None)
    kind = KINDS["incoming_held"]
    async with aiohttp.ClientSession() as http:
        (desktop,) = await signed_in(dep, http, history, [AGENT])
        try:
            # A queue call reaches a Ready agent only.
            desktop.set_agent_state("READY")
            await eventually(lambda: desktop.user_state, "READY", until="READY".__eq__, within=10.0)
            desktop.place_call(kind.scripts[0])
            history.record("scenario", CallsPlaced(kind=kind.name, agents=[AGENT]))
            admin = f"http://{HOST}:{dep.a.admin_port}/emu/calls"
            async with http.post(admin, json={"agent_id": AGENT, "ani": "5550123"}) as resp:
                assert resp.status == 201, await resp.text()
            await eventually(
                lambda: list(desktop.calls.states().values()),
                f"the call {kind.settled[0]} on the desktop",
                until=lambda states: states == list(kind.settled),
                within=10.0,
            )
            (call_id,) = desktop.calls.dialogs
            seen = [e for e in history.of(DialogSeen) if e["dialog"] == call_id]
            assert [e["mine"] for e in seen][:1] == ["ALERTING"] and seen[-1]["mine"] == "HELD"
            assert all(e["via"] == "xmpp" for e in seen)
            actions = [(e["action"], e["status"]) for e in history.of(DialogAction)]
            assert actions == [("ANSWER", 202), ("HOLD", 202)]

            await dep.a.stop()  # the active PG side dies: the node goes OUT_OF_SERVICE, then IN_SERVICE on B
            await eventually(
                lambda: len(history.of(FailoverDone)),
                "the desktop's failover done",
                until=(1).__le__,
                within=30.0,
            )
            await eventually(
                lambda: [e for e in history.of(DialogSeen) if e["via"] == "rest" and e["t"] > seen[-1]["t"]],
                "the refresh's GET of the dialogs",
                until=bool,
                within=10.0,
            )
            assert desktop.calls.states() == {call_id: "HELD"}
        finally:
            await desktop.stop()
    after = [e for e in history.of(DialogSeen) if e["t"] > seen[-1]["t"]]
    assert after and {e["mine"] for e in after} == {"HELD"}, after
    outcomes = {
        o.name: o for o in check_history(history.events, only=[i.name for i in CALL_INVARIANTS]).outcomes
    }
    assert {n: o.status for n, o in outcomes.items()} == dict.fromkeys(outcomes, "ok"), outcomes
    assert outcomes["calls-survive-failover"].checked_on == 1
