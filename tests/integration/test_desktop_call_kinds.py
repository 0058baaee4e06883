"""Every kind of call a swarm puts desktops on that takes more than one dialog (consult, transfer
consultative and blind, conference between agents and with an outside number), against the real
node over sockets (a Finesse node, both CTI stub sides over GED-188, Prosody): the emulated
desktops follow their dialogs and take their kind's script through the REST API (KINDS,
finesse_emu/desktop/calls.py); each settles in the states its kind names; the active CTI side
dies, the node goes OUT_OF_SERVICE and back on side B, every desktop fails over in place and shows
the same states again; the calls invariants judge the history clean."""

from __future__ import annotations

import aiohttp
import pytest

from emu_base.history import History
from emu_base.history_events import CallsPlaced, DialogAction, DialogRefused, DialogSeen, FailoverDone
from finesse_emu.desktop.calls import KINDS, outside_number, resolve, settled_states
from finesse_emu.desktop.client import AgentCredentials, DesktopClient, LoadPlan, NodeEndpoint
from finesse_emu.runs.check import CALL_INVARIANTS, check_history
from tests.helpers import eventually
from tests.integration.test_finesse_node import HOST
from tests.integration.test_finesse_node_xmpp import XDeployment, dep_xmpp

__all__ = ["dep_xmpp"]  # the fixture these tests use

NEW_KINDS = ["consult", "transfer_sst", "transfer", "conference", "conference_outside"]


async def signed_in(
    dep: XDeployment, http: aiohttp.ClientSession, history: History, agents: list[str]
) -> list[DesktopClient]:
    """Desktops of ``agents`` (extension 1000 more than the id) signed in on the node."""
    endpoint = NodeEndpoint(
        "finesse-a", f"http://{HOST}:{dep.node.http_port}", HOST, dep.node.config.xmpp_port
    )
    desktops = [
        DesktopClient(
            AgentCredentials(a, f"pass{a}", str(int(a) + 1000)),
            {"finesse-a": endpoint},
            "finesse-a",
            http,
            history,
            dep.node.timers,
            plan=LoadPlan(gadgets=1, resources=1, preload_secondary=False),
        )
        for a in agents
    ]
    for d in desktops:
        d.start()
    await eventually(
        lambda: [d.state for d in desktops], "all signed in", until=lambda s: set(s) == {"SIGNED_IN"}
    )
    return desktops


async def test_a_request_refused_after_its_202_is_in_the_history(dep_xmpp: XDeployment) -> None:
    """A desktop talking to an outside number dials another: the MAKE_CALL is accepted (202), then
    refused by the CTI server (an agent already active on a call); the apiErrors Update it gets
    is recorded, so a run shows why a script stalled."""
    history = History(None)
    async with aiohttp.ClientSession() as http:
        (desktop,) = await signed_in(dep_xmpp, http, history, ["1010"])
        try:
            desktop.place_call((), outside_number(0))
            await eventually(
                desktop.calls.states, "talking", until=lambda s: list(s.values()) == ["ACTIVE"], within=10.0
            )
            desktop.place_call((), outside_number(1))
            refused = await eventually(
                lambda: history.of(DialogRefused), "the refusal recorded", until=bool, within=10.0
            )
        finally:
            await desktop.stop()
    (r,) = refused
    assert r["action"] == "MAKE_CALL" and r["dialog"] == "" and r["message"] and r["error_type"], r
    assert [e["status"] for e in history.of(DialogAction)] == [202, 202]


@pytest.mark.parametrize("name", NEW_KINDS)
async def test_each_kind_settles_and_shows_again_after_a_cti_failover(
    name: str, dep_xmpp: XDeployment
) -> None:
    dep = dep_xmpp
    kind = KINDS[name]
    history = History(None)
    agents = [str(1010 + k) for k in range(kind.desktops)]
    extensions = [str(int(a) + 1000) for a in agents]
    outside = outside_number(0)
    async with aiohttp.ClientSession() as http:
        desktops = await signed_in(dep, http, history, agents)
        try:
            # As Swarm.place_calls does: the first desktop dials, each takes its script.
            to = {"agent": extensions[1], "outside": outside}[kind.dial]
            for k, (d, script) in enumerate(zip(desktops, kind.scripts, strict=True)):
                d.place_call(resolve(script, extensions, outside), to if k == 0 else "")
            history.record("scenario", CallsPlaced(kind=name, agents=agents, to=to))

            def settled() -> list[str]:
                return [settled_states(d.calls.states().values()) for d in desktops]

            await eventually(
                settled, f"the call settled as {kind.settled}", until=list(kind.settled).__eq__, within=10.0
            )
            # A single-step transfer reaches the CTI server as a consult and a transfer, and the node
            # publishes that short consult to the target, which may answer it as it vanishes (refused
            # after the 202: recorded). Any other kind sets up without a refusal.
            refused = {(e["agent"], e["action"]) for e in history.of(DialogRefused)}
            assert refused <= ({(agents[1], "ANSWER")} if name == "transfer_sst" else set()), refused
            before = history.events[-1]["t"]
            await dep.a.stop()  # the active PG side dies: OUT_OF_SERVICE, then IN_SERVICE on side B
            await eventually(
                lambda: {e["agent"] for e in history.of(FailoverDone)},
                "every desktop's failover done",
                until=set(agents).__eq__,
                within=30.0,
            )
            # Each desktop's refresh read its dialogs again: the same states.
            await eventually(
                lambda: {
                    e["agent"] for e in history.of(DialogSeen) if e["via"] == "rest" and e["t"] > before
                },
                "every desktop's refresh GET",
                until=lambda seen: seen >= {a for a, s in zip(agents, kind.settled, strict=True) if s},
                within=10.0,
            )
            assert settled() == list(kind.settled)
        finally:
            for d in desktops:
                await d.stop()
    outcomes = {
        o.name: o for o in check_history(history.events, only=[i.name for i in CALL_INVARIANTS]).outcomes
    }
    assert {n: o.status for n, o in outcomes.items()} == dict.fromkeys(outcomes, "ok"), outcomes
    held = sum(len(s.split("+")) for s in kind.settled if s)
    assert outcomes["calls-survive-failover"].checked_on == held
