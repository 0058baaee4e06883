"""Fault kinds are one object each (emu_base/faults.py): a kind added there shows up in the control
plane of the components that bind it, in ``finesse-emu chaos`` and in the scenario's fault step,
and every one of them rejects a bad request with the same message."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from emu_base import faults as F
from emu_base.admin import admin_routes
from finesse_emu import cli
from finesse_emu.deployment import chaos
from finesse_emu.runs.scenario.spec import ScenarioError, parse
from finesse_emu.runs.scenario.steps import fault_actions
from tests.unit.test_cli import subparsers

WOBBLE = F.FaultKind(
    "wobble",
    (F.AWDB,),
    "answer every other query late",
    {"ms": F.Param(float, minimum=1, maximum=50)},
    chaos="wobble",
    chaos_value="ms",
)


def scenario(fault: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "deployment": {"agents": 2}, "steps": [{"fault": fault}]}


def awdb_bindings(seen: list[tuple[str, bool]]) -> dict[F.FaultKind, F.FaultHandler]:
    return {kind: lambda fault, active: seen.append((fault.kind, active)) for kind in F.KINDS.of(F.AWDB)}


async def test_a_kind_added_in_one_place_reaches_chaos_the_scenario_and_the_control_plane() -> None:
    assert "wobble" not in chaos.actions()
    with F.KINDS.registered(WOBBLE):
        # finesse-emu chaos: the verb and the fault it posts to an AWDB, with --ms in its parameter.
        assert "wobble" in chaos.actions()
        # finesse-emu chaos: a verb its parser knows.
        parser = cli.build_parser()
        assert parser.parse_args(["chaos", "wobble", "awdb-a", "--ms", "5"]).action == "wobble"
        chaos_help = next(s for s in subparsers(parser) if s.prog == "finesse-emu chaos").format_help()
        assert "wobble ms=FLOAT 1..50: answer every other query late [chaos wobble]" in chaos_help
        assert chaos.fault_for("wobble", "awdb", 5.0) == ({"kind": "wobble", "ms": 5.0}, "+5 ms")
        assert chaos.fault_for("wobble", "cti", 5.0) is None  # not a CTI fault
        with pytest.raises(chaos.ChaosError, match="wobble needs --ms N"):
            chaos.fault_for("wobble", "awdb", None)
        # The scenario's fault step: the verb, its number required, inject checked against the kind.
        assert "wobble" in fault_actions()
        parse(scenario({"action": "wobble", "target": "awdb-a", "ms": 5}))
        with pytest.raises(ScenarioError, match=r"wobble on awdb-a \(wobble\): .*ms is required"):
            parse(scenario({"action": "wobble", "target": "awdb-a"}))
        parse(scenario({"action": "inject", "target": "awdb-b", "fault": {"kind": "wobble", "ms": 2}}))
        with pytest.raises(ScenarioError, match=r"awdb-b: fault 'wobble': ms must be 1\.\.50"):
            parse(scenario({"action": "inject", "target": "awdb-b", "fault": {"kind": "wobble", "ms": 99}}))
        with pytest.raises(ScenarioError, match="unknown fault kind 'wobble'"):
            parse(scenario({"action": "inject", "target": "cti-a", "fault": {"kind": "wobble", "ms": 2}}))
        # A component of that kind must say what the fault does there.
        with pytest.raises(ValueError, match=r"\['wobble'\] have no handler"):
            F.FaultRegistry(F.AWDB, {k: awdb_bindings([])[k] for k in F.KINDS.of(F.AWDB) if k is not WOBBLE})
        seen: list[tuple[str, bool]] = []
        registry = F.FaultRegistry(F.AWDB, awdb_bindings(seen))
        async with TestClient(TestServer(admin_routes("awdb-a", "awdb", dict, registry))) as client:
            listing = await (await client.get("/emu/faults")).json()
            assert listing["kinds"]["wobble"] == {
                "description": "answer every other query late",
                "params": ["ms"],
                "one_shot": False,
            }
            bad = await client.post("/emu/faults", json={"kind": "wobble", "ms": 0})
            assert bad.status == 400
            assert (await bad.json())["error"] == "fault 'wobble': ms must be 1..50"
            made = await client.post("/emu/faults", json={"kind": "wobble", "ms": 3})
            assert made.status == 201 and (await made.json())["ms"] == 3.0
            assert (await client.delete("/emu/faults")).status == 200
        assert seen == [("wobble", True), ("wobble", False)]
    assert "wobble" not in chaos.actions() and F.KINDS.get("wobble") is None


def test_chaos_verbs_post_the_faults_they_always_did() -> None:
    # The client-path verbs (bandwidth ... reset) are the node's proxy's (finesse_emu/edge/).
    verbs = ("kill", "stop", "start", "hang", "latency", "bandwidth", "slicer", "timeout", "reset", "heal")
    assert chaos.actions() == verbs
    hang = {role: chaos.fault_for("hang", role, None) for role in ("cti", "awdb", "publisher", "subscriber")}
    assert {role: found and found[0] for role, found in hang.items()} == {
        "cti": {"kind": "ignore_heartbeats"},
        "awdb": {"kind": "hang"},
        "publisher": {"kind": "webapp_down"},
        "subscriber": {"kind": "webapp_down"},
    }
    assert chaos.fault_for("latency", "cti", 20.0) == ({"kind": "latency", "ms": 20.0}, "+20 ms")
    assert chaos.fault_for("latency", "awdb", 20.0) == ({"kind": "slow", "ms": 20.0}, "+20 ms")
    assert chaos.fault_for("latency", "publisher", 20.0) is None  # chaos() sends it to the node's proxy
    where = {"port": "rest", "direction": None, "rate_kb_s": None}
    assert chaos.fault_for("latency", "edge", 20.0, where) == (
        {"kind": "client_latency", "ms": 20.0, "port": "rest"},
        "+20 ms",
    )
    assert chaos.fault_for("reset", "edge", None, where) == (
        {"kind": "client_reset", "port": "rest"},
        "client_reset",
    )
    with pytest.raises(chaos.ChaosError, match="bandwidth needs --rate-kb-s N"):
        chaos.fault_for("bandwidth", "edge", None, where)
    assert fault_actions() == (*chaos.actions(), "inject")


@pytest.mark.parametrize(
    ("body", "component", "message"),
    [
        ({}, F.CTI, "'kind' is required; known: ["),
        ({"kind": "nope"}, F.CTI, "unknown fault kind 'nope'; known: ["),
        ({"kind": "hang"}, F.CTI, "unknown fault kind 'hang'; known: ["),  # an AWDB fault
        ({"kind": "latency"}, F.CTI, "fault 'latency': ms is required"),
        ({"kind": "latency", "ms": "5"}, F.CTI, "fault 'latency': ms must be float"),
        ({"kind": "latency", "ms": True}, F.CTI, "fault 'latency': ms must be float"),
        ({"kind": "latency", "ms": 5, "x": 1}, F.CTI, "fault 'latency' takes no parameter(s) ['x']"),
        ({"kind": "slow", "ms": -1}, F.AWDB, "fault 'slow': ms must be 0..600000"),
        ({"kind": "error", "status": 200}, F.AWDB, "fault 'error': status must be 400..599"),
    ],
)
def test_one_message_for_a_bad_request(body: dict[str, Any], component: str, message: str) -> None:
    with pytest.raises(F.FaultError) as err:
        F.KINDS.validate(body, component)
    assert str(err.value).startswith(message)


def test_defaults_and_ints_for_floats() -> None:
    assert F.KINDS.validate({"kind": "error"}, F.AWDB) == (F.AWDB_ERROR, {"status": 500})
    assert F.KINDS.validate({"kind": "latency", "ms": 5}, F.CTI)[1] == {"ms": 5.0}


def test_tomcat_down_and_rest_api_down_are_two_finesse_kinds() -> None:
    """The chapter's "Finesse Tomcat Service becomes Unavailable" and "Finesse REST API Service
    becomes Unavailable": two kinds of the node, the chaos verb hang keeps posting Tomcat down."""
    assert {k.name for k in F.KINDS.of(F.FINESSE)} == {
        "webapp_down",
        "rest_api_down",
        "conference_glitch",
        "rest_rule",
    }
    assert F.KINDS.validate({"kind": "rest_api_down"}, F.FINESSE) == (F.REST_API_DOWN, {})
    with pytest.raises(F.FaultError, match="unknown fault kind 'rest_api_down'"):
        F.KINDS.validate({"kind": "rest_api_down"}, F.CTI)
    parse(scenario({"action": "inject", "target": "finesse-a", "fault": {"kind": "rest_api_down"}}))


async def test_a_registry_names_a_fault_of_another_component() -> None:
    registry = F.FaultRegistry(
        F.FINESSE,
        {k: lambda fault, active: None for k in F.KINDS.of(F.FINESSE)},
    )
    with pytest.raises(F.FaultError, match=r"unknown fault kind 'hang' here \(a fault of awdb\)"):
        await registry.add("hang", {})
    with pytest.raises(ValueError, match="not for this component"):
        F.FaultRegistry(F.CTI, {F.WEBAPP_DOWN: lambda fault, active: None})


def test_the_conference_glitch_is_an_opt_in_finesse_kind() -> None:
    """The chapter's conference note is a fault a run asks for: a kind of the node, in no chaos
    verb and not drawn by a chaos run."""
    from finesse_emu.runs.scenario.chaos_run import KINDS as CHAOS_KINDS

    assert F.KINDS.validate({"kind": "conference_glitch"}, F.FINESSE) == (F.CONFERENCE_GLITCH, {})
    assert F.CONFERENCE_GLITCH.chaos is None
    assert "conference_glitch" not in {k.name for k in CHAOS_KINDS}
    parse(scenario({"action": "inject", "target": "finesse-a", "fault": {"kind": "conference_glitch"}}))


def test_a_scenario_injects_client_path_faults_on_a_node() -> None:
    """The client_* kinds are the node's proxy's (finesse_emu/edge/): a scenario names the node."""
    body = {"kind": "client_bandwidth", "rate_kb_s": 50, "port": "bosh", "direction": "both"}
    parse(scenario({"action": "inject", "target": "finesse-a", "fault": body}))
    parse(scenario({"action": "latency", "target": "finesse-b", "ms": 300}))
    with pytest.raises(ScenarioError, match="port must be one of"):
        parse(scenario({"action": "inject", "target": "finesse-a", "fault": {**body, "port": "ftp"}}))
    with pytest.raises(ScenarioError, match="unknown fault kind 'client_reset'"):  # a CTI side has no proxy
        parse(scenario({"action": "inject", "target": "cti-a", "fault": {"kind": "client_reset"}}))
