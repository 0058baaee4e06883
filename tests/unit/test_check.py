"""The history checker (finesse_emu.runs.check): each invariant passes a clean history and catches a
seeded violation, naming the events that prove it; the command's exit codes and output.

The histories are synthetic but shaped like real runs (finesse_emu/scenarios/publisher-killed.yaml and
network-glitch.yaml at time_scale 1 unless said otherwise): the same sources, events and fields.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emu_base.history_events import AgentSignedIn, AgentSignedOut
from finesse_emu.cli.check import main
from finesse_emu.runs.check import Options, Violation, check_history
from finesse_emu.runs.check.engine import NOT_EXERCISED, OK, SKIPPED, VIOLATED
from finesse_emu.runs.check.view import RunView

Event = dict[str, Any]

A, B = "finesse-a", "finesse-b"


def ev(t: float, source: str, event: str, **fields: Any) -> Event:
    return {"t": t, "wall": 1_790_000_000.0 + t, "source": source, "event": event, **fields}


def state(t: float, agent: str, frm: str, to: str, node: str, source: str = "desktop") -> Event:
    return ev(t, source, "state", agent=agent, **{"from": frm, "to": to}, node=node)


def sign_in(t: float, agent: str, node: str, source: str = "desktop") -> list[Event]:
    return [
        state(t, agent, "SIGNED_OUT", "SIGNING_IN", node, source),
        state(t + 0.5, agent, "SIGNING_IN", "SIGNED_IN", node, source),
        ev(t + 0.5, source, "signed_in", agent=agent, node=node),
    ]


def failover(t: float, agent: str, frm: str, to: str, took: float = 12.0, finish: bool = True) -> list[Event]:
    """Notification lost at t, three attempts, detection 10 s later, signed in on ``to`` (unless
    ``finish`` is False: the desktop is left FAILING_OVER)."""
    detected, done = t + 10.0, t + 10.0 + took
    out = [
        state(t, agent, "SIGNED_IN", "RECONNECTING_NOTIFICATION", frm),
        ev(t, "desktop", "notification_lost", agent=agent, node=frm),
        state(detected, agent, "RECONNECTING_NOTIFICATION", "FAILING_OVER", frm),
        ev(detected, "desktop", "failover_detected", agent=agent, trigger="notification", node=frm),
    ]
    if not finish:
        return out
    if to != frm:
        out.append(ev(done, "desktop", "moved", agent=agent, **{"from": frm, "to": to}))
    out += [
        state(done, agent, "FAILING_OVER", "SIGNED_IN", to),
        ev(done, "desktop", "signed_in", agent=agent, node=to),
        ev(done, "desktop", "failover_done", agent=agent, node=to, seconds=took, trigger="notification"),
    ]
    return out


# Desktop 1000's failover in the publisher-killed run: detected, then signed in on the subscriber.
DETECTED = 10.2 + 10.0
MOVED = 10.2 + 10.0 + 12.0


def publisher_killed(end: float = 140.0, scale: float = 1.0, finish: bool = True) -> list[Event]:
    """The history as written by a run at ``scale`` (real seconds)."""
    return scaled(emulated_publisher_killed(end, scale, finish), scale)


def emulated_publisher_killed(end: float = 140.0, scale: float = 1.0, finish: bool = True) -> list[Event]:
    """Desktops 1000 (publisher) and 1001 (subscriber), IP phone 1002 on the publisher; xmpp-a and
    finesse-a killed at 10, restarted at 60; the run ends at ``end``. Times in emulated seconds; desktop
    1000 stays FAILING_OVER unless ``finish``."""
    h = [
        ev(0.0, "scenario", "start", name="publisher killed", time_scale=scale, agents=3),
        ev(1.0, "cti-a", "role", role="active"),
        ev(1.0, "cti-b", "role", role="idle"),
        ev(1.0, A, "status", status="IN_SERVICE", reason=""),
        ev(1.0, B, "status", status="IN_SERVICE", reason=""),
        ev(1.2, "scenario", "phase", name="sign in"),
        *sign_in(1.5, "1000", A),
        *sign_in(1.5, "1001", B),
        *sign_in(1.5, "1002", A, "ippa"),
        ev(9.0, "scenario", "phase", name="publisher killed"),
        ev(10.0, "scenario", "fault", target="xmpp-a", action="kill", detail="xmpp-a killed"),
        ev(10.1, "scenario", "fault", target=A, action="kill", detail="finesse-a killed"),
        ev(10.5, A, "status", status="OUT_OF_SERVICE", reason="process down"),
        *failover(10.2, "1000", A, B, finish=finish),
        state(10.2, "1002", "SIGNED_IN", "RETRYING", A, "ippa"),
        ev(10.2, "ippa", "failover_detected", agent="1002", trigger="notification", node=A),
        state(25.4, "1002", "RETRYING", "SERVER_UNAVAILABLE", A, "ippa"),
        ev(25.4, "ippa", "server_unavailable", agent="1002", node=A, attempts=3),
        ev(59.0, "scenario", "phase", name="publisher back"),
        ev(60.0, "scenario", "heal", target="xmpp-a", action="start", detail="xmpp-a started"),
        ev(60.1, "scenario", "heal", target=A, action="start", detail="finesse-a started"),
        ev(62.0, A, "status", status="IN_SERVICE", reason=""),
        state(66.0, "1002", "SERVER_UNAVAILABLE", "SIGN_IN_SCREEN", A, "ippa"),
        ev(end, "scenario", "end", ok=True, expectations=3),
    ]
    return sorted(h, key=lambda e: e["t"])


def scaled(events: list[Event], scale: float) -> list[Event]:
    """Emulated-second times turned into a run's real seconds (what history.jsonl holds)."""
    if scale == 1.0:
        return events
    out = []
    for original in events:
        e = dict(original)
        e["t"] = round(e["t"] * scale, 6)
        if e["event"] in ("failover_done", "network_glitch"):
            e["seconds"] = e["seconds"] * scale
        out.append(e)
    return out


def network_glitch(end: float = 230.0, finish: bool = True) -> list[Event]:
    """Desktop 1000 loses the publisher for 60 s at 20 and moves to the subscriber."""
    return [
        ev(0.0, "scenario", "start", name="network glitch", time_scale=1.0, agents=2),
        ev(1.0, A, "status", status="IN_SERVICE", reason=""),
        ev(1.0, B, "status", status="IN_SERVICE", reason=""),
        *sign_in(1.5, "1000", A),
        *sign_in(1.5, "1001", A),
        ev(20.0, "scenario", "client_action", action="glitch", agent="1000", node=A),
        ev(20.0, "desktop", "network_glitch", agent="1000", node=A, seconds=60.0),
        *failover(20.0, "1000", A, B, took=0.3, finish=finish),
        ev(end, "scenario", "end", ok=True, expectations=2),
    ]


def run(events: list[Event], name: str, **options: Any) -> list[Violation]:
    report = check_history(events, Options(**options), only=[name])
    (outcome,) = report.outcomes
    assert outcome.status != SKIPPED, outcome.notes
    return list(outcome.violations)


def outcome_status(events: list[Event], name: str) -> str:
    (outcome,) = check_history(events, only=[name]).outcomes
    return outcome.status


def with_events(events: list[Event], *extra: Event) -> list[Event]:
    return sorted([*events, *extra], key=lambda e: e["t"])


def proves(v: Violation, *pairs: tuple[float, str]) -> None:
    """The violation names the events at these (t, event) pairs."""
    shown = {(e.t, e.name) for e in v.events}
    for pair in pairs:
        assert pair in shown, f"{pair} not among {sorted(shown)}"


# -- the clean histories -------------------------------------------------------------------------------
@pytest.mark.parametrize("history", [publisher_killed(), network_glitch(), publisher_killed(scale=0.05)])
def test_clean_histories_have_no_violations(history: list[Event]) -> None:
    report = check_history(history)
    assert report.ok, [v.message for v in report.violations]
    checked = {o.name for o in report.outcomes if o.status != SKIPPED}
    assert {"desktops-converge", "no-return-after-move", "failovers-finish"} <= checked


def test_emulated_seconds_come_from_the_start_event() -> None:
    view = RunView(publisher_killed(scale=0.05))
    assert view.scale == 0.05
    assert view.end == pytest.approx(140.0)


# -- 1. no event published while OUT_OF_SERVICE ------------------------------------------------------
NO_PUBLISH = "no-publish-while-out-of-service"


def test_publish_while_out_of_service_is_caught() -> None:
    history = with_events(
        publisher_killed(),
        ev(10.5, A, "publish", node="/finesse/api/SystemInfo"),  # the OUT_OF_SERVICE announcement
        ev(30.0, A, "publish", node="/finesse/api/User/1000"),
        ev(70.0, A, "publish", node="/finesse/api/User/1000"),  # back IN_SERVICE
    )
    (v,) = run(history, NO_PUBLISH)
    assert "published /finesse/api/User/1000" in v.message
    proves(v, (10.5, "status"), (30.0, "publish"), (62.0, "status"))


def test_publish_at_the_edge_of_a_status_change_is_tolerated() -> None:
    # The observer samples status: a publish just before the IN_SERVICE report is not held against it.
    history = with_events(publisher_killed(), ev(61.5, A, "publish", node="/finesse/api/User/1000"))
    assert run(history, NO_PUBLISH) == []


def test_publish_check_is_skipped_without_publish_events() -> None:
    (o,) = check_history(publisher_killed(), only=[NO_PUBLISH]).outcomes
    assert o.status == SKIPPED
    assert "finesse-*/publish" in o.notes[0]


# -- 2. no successful REST answer while OUT_OF_SERVICE, except SystemInfo -------------------------------
NO_REST = "no-rest-success-while-out-of-service"


def test_rest_success_while_out_of_service_is_caught() -> None:
    history = with_events(
        publisher_killed(),
        ev(30.0, A, "request", method="GET", path="/finesse/api/SystemInfo", status=200),
        ev(31.0, A, "request", method="GET", path="/finesse/api/User/1000", status=503),
        ev(32.0, A, "request", method="PUT", path="/finesse/api/User/1000", status=202),
        ev(70.0, A, "request", method="GET", path="/finesse/api/User/1000", status=200),
    )
    (v,) = run(history, NO_REST)
    assert "PUT /finesse/api/User/1000 with 202" in v.message
    proves(v, (32.0, "request"), (10.5, "status"))


def test_rest_check_is_skipped_without_request_events() -> None:
    assert outcome_status(publisher_killed(), NO_REST) == SKIPPED


# -- 3. every desktop converges to exactly one node -----------------------------------------------------
CONVERGE = "desktops-converge"


def test_desktop_left_failing_over_does_not_converge() -> None:
    (v,) = run(publisher_killed(finish=False), CONVERGE)
    assert "desktop 1000 is not signed in on any node 55 s after" in v.message
    proves(v, (62.0, "status"), (DETECTED, "state"))


def test_desktop_leaving_its_node_without_a_fault_is_caught() -> None:
    history = with_events(publisher_killed(), state(130.0, "1001", "SIGNED_IN", "FAILING_OVER", B))
    (v,) = run(history, CONVERGE)
    assert "had converged on finesse-b but left it at 130.00 s" in v.message
    proves(v, (130.0, "state"))


def test_desktop_and_phone_of_one_agent_on_two_nodes_is_caught() -> None:
    history = with_events(publisher_killed(), *sign_in(70.0, "1001", A, "ippa"))
    (v,) = run(history, CONVERGE)
    assert "agent 1001 is on finesse-b (desktop) and finesse-a (IP phone)" in v.message


def test_run_ending_within_the_bound_is_not_held_against_a_failing_over_desktop() -> None:
    history = publisher_killed(end=100.0, finish=False)
    assert run(history, CONVERGE) == []
    assert run(history, CONVERGE, bound=30.0) != []


def test_closed_browser_need_not_converge() -> None:
    history = with_events(
        publisher_killed(),
        ev(80.0, "scenario", "client_action", action="close", agent="1001", node=B),
        state(80.0, "1001", "SIGNED_IN", "SIGNED_OUT", B),
        ev(80.0, "desktop", "browser_close", agent="1001", node=B),
    )
    assert run(history, CONVERGE) == []


def test_glitch_moves_the_anchor_to_its_end() -> None:
    # Glitch from 20 to 80: the desktop has until 135 to settle; a run ending at 120 judges nothing late.
    assert run(network_glitch(end=120.0, finish=False), CONVERGE) == []
    (v,) = run(network_glitch(end=200.0, finish=False), CONVERGE)
    assert "network_glitch" in v.message


# -- 4. never signed in on both nodes at once, except in the race window ---------------------------------
ONE_NODE = "one-node-per-agent"


def test_two_clients_of_one_agent_on_two_nodes_are_caught() -> None:
    history = with_events(network_glitch(), *sign_in(100.0, "1001", B, "ippa"))
    (v,) = run(history, ONE_NODE)
    assert "agent 1001 signed in on finesse-a (desktop) and finesse-b (ippa) at once" in v.message
    assert "no glitch" in v.message
    proves(v, (2.0, "state"), (100.5, "state"))


def node_view(t_out: float, end: float = 400.0, *extra: Event) -> list[Event]:
    """The publisher's own view of agent 1000 in the glitch run: signed in at 2, forced out at ``t_out``."""
    return with_events(
        network_glitch(end=end),
        *extra,
        ev(2.0, A, "agent_signed_in", agent="1000"),
        ev(t_out, A, "forced_logout", agent="1000", reason_code=255),
    )


def test_forced_logout_inside_the_race_window_is_allowed() -> None:
    # Glitch at 20: up to 120 s to notice, 60 s to wait: the publisher may hold the agent until 200.
    assert run(node_view(190.0), ONE_NODE) == []


def test_forced_logout_after_the_race_window_is_caught() -> None:
    (v,) = run(node_view(250.0), ONE_NODE)
    assert "beyond the race window opened by" in v.message
    assert "(it ends at 200.00 s)" in v.message
    proves(v, (250.0, "forced_logout"), (20.0, "network_glitch"))


def test_a_call_keeps_the_race_window_open_until_it_ends() -> None:
    # Answered 1 s after 15, 400 s of talk: the forced logout waits until 416.
    call = ev(15.0, "scenario", "call", agent="1000", talk_time=400, cti="cti-a")
    assert run(node_view(416.5, 500.0, call), ONE_NODE) == []
    assert len(run(node_view(430.0, 500.0, call), ONE_NODE)) == 1


def test_node_view_does_not_count_while_the_node_is_out_of_service() -> None:
    history = with_events(publisher_killed(), ev(2.0, A, "agent_signed_in", agent="1000"))
    assert run(history, ONE_NODE) == []


def signed(t: float, node: str, agent: str, why: str = "sign_in", **fields: Any) -> Event:
    """A node's own view changing, as the nodes log it (event_log): ``agent_signed_in`` for
    ``sign_in``, ``agent_signed_out`` for every other ``why``."""
    name = "agent_signed_in" if why == "sign_in" else "agent_signed_out"
    return ev(t, node, name, agent=agent, name=node, status="IN_SERVICE", why=why, **fields)


def both_nodes(t_out: float, end: float = 400.0) -> list[Event]:
    """The glitch run with both nodes' view of agent 1000: the publisher from its sign-in at 2 until
    its forced logout at ``t_out``, the subscriber from the desktop's sign-in there at 30.3."""
    return with_events(
        network_glitch(end=end),
        signed(2.0, A, "1000"),
        signed(2.0, A, "1001"),
        signed(30.3, B, "1000"),
        signed(t_out, A, "1000", "forced_logout", reason_code=255),
        ev(t_out, A, "forced_logout", agent="1000", reason_code=255, name=A),
    )


def one_node_notes(events: list[Event]) -> tuple[str, ...]:
    (outcome,) = check_history(events, only=[ONE_NODE]).outcomes
    return outcome.notes


def test_both_nodes_holding_the_agent_inside_the_race_window_is_allowed() -> None:
    history = both_nodes(190.0)
    assert run(history, ONE_NODE) == []
    notes = one_node_notes(history)
    assert any(n.startswith("the nodes' own view compared with the clients': 2 agents") for n in notes)
    assert not any("only the clients' own views" in n for n in notes)


def test_both_nodes_holding_the_agent_past_the_race_window_is_caught() -> None:
    violations = run(both_nodes(250.0), ONE_NODE)
    nodes = [v for v in violations if "finesse-a (its own view) and finesse-b (its own view)" in v.message]
    (v,) = nodes
    assert "agent 1000 signed in on" in v.message and "from 30.30 s to 250.00 s" in v.message
    assert "beyond the race window opened by" in v.message and "(it ends at 200.00 s)" in v.message
    proves(v, (20.0, "network_glitch"), (2.0, "agent_signed_in"), (30.3, "agent_signed_in"))
    proves(v, (250.0, "agent_signed_out"))
    # The desktop on the subscriber against the publisher's view: the same overlap.
    assert any("finesse-b (desktop) and finesse-a (its own view)" in x.message for x in violations)


def test_nodes_view_alone_catches_an_agent_on_both_nodes() -> None:
    # Agent 1007 has no client in the history (someone's own desktop): only the nodes saw it.
    history = with_events(publisher_killed(), signed(30.0, B, "1007"), signed(80.0, A, "1007"))
    (v,) = run(history, ONE_NODE)
    assert v.message == (
        "agent 1007 signed in on finesse-a (its own view) and finesse-b (its own view) at once from "
        "80.00 s to 140.00 s, with no glitch, browser action or failover to explain it"
    )
    assert [(e.t, e.source, e.name) for e in v.events] == [
        (30.0, B, "agent_signed_in"),
        (80.0, A, "agent_signed_in"),
    ]
    # Signed out of the subscriber (through it, or by the CTI side) before the publisher: clean.
    history = with_events(history, signed(79.0, B, "1007", "cti_logout", reason_code=0))
    assert run(history, ONE_NODE) == []


def test_clients_view_alone_is_compared_with_a_note() -> None:
    history = with_events(network_glitch(), *sign_in(100.0, "1001", B, "ippa"))
    (v,) = run(history, ONE_NODE)
    assert "finesse-a (desktop) and finesse-b (ippa)" in v.message
    (note, count) = one_node_notes(history)
    assert note.startswith(
        "only the clients' own views compared: the history has no finesse-*/agent_signed_in "
    )
    assert count == "2 agents"
    assert run(network_glitch(), ONE_NODE) == []


def test_a_restarted_node_signing_the_agent_in_again_opens_a_new_span() -> None:
    # The killed publisher wrote no sign-out (its first span ends when it went OUT_OF_SERVICE); back
    # up, it logs agent 1000 signed in again at 250 while the subscriber holds it since 32.2.
    history = with_events(
        publisher_killed(end=300.0), signed(2.0, A, "1000"), signed(32.2, B, "1000"), signed(250.0, A, "1000")
    )
    violations = run(history, ONE_NODE)
    assert violations
    (v, *_) = violations
    assert "from 250.00 s to 300.00 s" in v.message and "finesse-a (its own view)" in v.message
    proves(v, (250.0, "agent_signed_in"), (20.2, "failover_detected"))
    # Without the second sign-in the first span, cut at 10.5, overlaps nothing.
    history = [e for e in history if e["t"] != 250.0]
    assert run(history, ONE_NODE) == []


def glitch(t: float, agent: str, node: str) -> list[Event]:
    return [
        ev(t, "scenario", "client_action", action="glitch", agent=agent, node=node),
        ev(t, "desktop", "network_glitch", agent=agent, node=node, seconds=60.0),
    ]


def back_and_forth(*, third_glitch: bool = True) -> list[Event]:
    """Chaos seed 7's shape: glitches move desktop 1000 A -> B (20), back B -> A (120), and again
    A -> B (240), each time before the node it left noticed the silent client and forced it out (the
    return cancels the forced logout). Each node logged its session once, at the first sign-in
    through it (a second sign-in logs nothing), so both views stay open until the run ends at 400."""
    history = [
        *network_glitch(end=400.0),
        signed(2.0, A, "1000"),
        signed(30.3, B, "1000"),
        *glitch(120.0, "1000", B),
        *failover(120.0, "1000", B, A, took=0.3),
    ]
    if third_glitch:
        history += [*glitch(240.0, "1000", A), *failover(240.0, "1000", A, B, took=0.3)]
    return with_events(history)


def test_a_client_back_on_a_node_renews_its_view() -> None:
    # Before, the publisher's view (2-400) against the subscriber's (30.3-400) was one overlap judged
    # by the window of the first glitch (20-200): a violation from 30.3 to 400, although at every
    # moment the node the desktop had left was within 180 s of the glitch that made it leave.
    assert run(back_and_forth(), ONE_NODE) == []
    # Each node's view is renewed where the desktop signed in on it again.
    view = RunView(back_and_forth())
    spans = [(s.node, s.start, s.end) for s in view.node_view_spans("1000")]
    assert spans == [(A, 2.0, 130.3), (A, 130.3, 400.0), (B, 30.3, 250.3), (B, 250.3, 400.0)]


def test_a_node_holding_the_agent_after_the_client_came_back_is_still_caught() -> None:
    # The desktop is back on the publisher from 130.3 (glitch at 120) and stays: the subscriber must
    # let go by 300; it still holds the agent at 400.
    violations = run(back_and_forth(third_glitch=False), ONE_NODE)
    nodes = [v for v in violations if "finesse-a (its own view) and finesse-b (its own view)" in v.message]
    (v,) = nodes
    assert "from 130.30 s to 400.00 s" in v.message and "(it ends at 300.00 s)" in v.message
    proves(v, (120.0, "network_glitch"), (130.3, "state"), (30.3, "agent_signed_in"))
    assert any("finesse-a (desktop) and finesse-b (its own view)" in x.message for x in violations)


def test_node_log_lines_reach_the_checker(tmp_path: Path) -> None:
    """The nodes' log lines (event_log) join the run's history under the names they were emitted with,
    which are the names the checker parses."""
    from finesse_emu.runs.history import ingest_logs

    start = ev(0.0, "scenario", "start", name="network glitch", time_scale=1.0, agents=1)
    wall0 = start["wall"]

    def line(dt: float, event: str, **fields: Any) -> str:
        stamp = datetime.fromtimestamp(wall0 + dt, UTC).isoformat().replace("+00:00", "Z")
        record = {**fields, "event": event, "component": A, "level": "info", "timestamp": stamp}
        return json.dumps(record)

    log = tmp_path / "finesse-a.log"
    node = {"agent": "1000", "name": A, "status": "IN_SERVICE"}
    lines = [
        line(2.0, AgentSignedIn.NAME, **node, why="sign_in"),
        line(9.0, AgentSignedOut.NAME, **node, why="sign_out"),
    ]
    log.write_text("\n".join(lines) + "\n")
    events = ingest_logs([start, ev(10.0, "scenario", "end", ok=True)], {A: log})
    view = RunView(events)
    (signed_in,) = view.node_events(AgentSignedIn)
    (signed_out,) = view.node_events(AgentSignedOut)
    assert (signed_in.t, signed_in.source, signed_in.event.why) == (2.0, A, "sign_in")
    assert (signed_out.t, signed_out.event.why) == (9.0, "sign_out")
    (span,) = view.node_view_spans("1000")
    assert (span.node, span.start, span.end) == (A, 2.0, 9.0)


# -- 5. no return to a node left by itself -----------------------------------------------------------------
NO_RETURN = "no-return-after-move"


def returns(extra: list[Event]) -> list[Event]:
    """Desktop 1000 of the publisher-killed run moves back to the publisher at 100."""
    back = [
        state(95.0, "1000", "SIGNED_IN", "FAILING_OVER", B),
        ev(95.0, "desktop", "failover_detected", agent="1000", trigger="systeminfo", node=B),
        ev(100.0, "desktop", "moved", agent="1000", **{"from": B, "to": A}),
        state(100.0, "1000", "FAILING_OVER", "SIGNED_IN", A),
        ev(100.0, "desktop", "signed_in", agent="1000", node=A),
        ev(100.0, "desktop", "failover_done", agent="1000", node=A, seconds=5.0),
    ]
    return with_events(publisher_killed(), *back, *extra)


def test_return_to_the_publisher_by_itself_is_caught() -> None:
    (v,) = run(returns([]), NO_RETURN)
    assert "desktop 1000 went back to finesse-a at 100.00 s" in v.message
    proves(v, (MOVED, "moved"), (100.0, "moved"))


@pytest.mark.parametrize(
    "trouble",
    [
        [
            ev(94.0, B, "status", status="OUT_OF_SERVICE", reason="cti"),
            ev(99.0, B, "status", status="IN_SERVICE"),
        ],
        [ev(90.0, "scenario", "fault", target="xmpp-b", action="kill")],
        [ev(90.0, "scenario", "fault", target="cti-a", action="inject")],
        [ev(90.0, "desktop", "network_glitch", agent="1000", node=B, seconds=30.0)],
    ],
    ids=["subscriber-out-of-service", "subscriber-prosody-killed", "cti-fault", "glitch"],
)
def test_return_after_the_new_node_failed_is_normal(trouble: list[Event]) -> None:
    assert run(returns(trouble), NO_RETURN) == []


def test_a_fault_healed_before_the_move_does_not_excuse_a_return() -> None:
    history = returns(
        [
            ev(5.0, "scenario", "fault", target=B, action="latency"),
            ev(6.0, "scenario", "heal", target=B, action="heal"),
        ]
    )
    assert len(run(history, NO_RETURN)) == 1


# -- 6. cached credentials honoured for exactly 30 minutes -------------------------------------------------
CACHE = "credential-cache-30-min"


def auth(t: float, ok: bool, via: str | None, reason: str = "") -> Event:
    return ev(t, A, "auth", agent="1000", ok=ok, via=via, reason=reason)


def test_cache_within_30_minutes_is_clean() -> None:
    history = [
        auth(10.0, True, "awdb-a"),
        auth(1000.0, True, "cache"),
        auth(1805.0, True, "cache"),  # 1795 s after the AWDB request: still fresh
        auth(1900.0, False, None, "awdb_unavailable"),  # expired, both AWDBs down: refused, as Cisco says
    ]
    assert run(history, CACHE) == []


def test_cache_used_after_30_minutes_is_caught() -> None:
    (v,) = run([auth(10.0, True, "awdb-a"), auth(1900.0, True, "cache")], CACHE)
    assert "from its cache 1890 s after the AWDB success" in v.message
    proves(v, (10.0, "auth"), (1900.0, "auth"))


def test_refusal_while_the_cache_is_fresh_is_caught() -> None:
    (v,) = run([auth(10.0, True, "awdb-b"), auth(600.0, False, None, "awdb_unavailable")], CACHE)
    assert "refused 1000 (awdb_unavailable) 590 s after an AWDB success" in v.message


def test_a_node_with_a_cache_lifetime_of_its_own_is_judged_by_it() -> None:
    """finesse.credential_cache: the AWDB success that fills the entry carries the node's lifetime."""
    filled = ev(10.0, A, "auth", agent="1000", ok=True, via="awdb-a", reason="", cache_ttl=120.0)
    expired = auth(200.0, False, None, "awdb_unavailable")
    assert run([filled, auth(100.0, True, "cache"), expired], CACHE) == []
    (v,) = run([filled, auth(200.0, True, "cache")], CACHE)
    assert "from its cache 190 s after the AWDB success: the entry lives 2 min" in v.message
    (v,) = run([filled, auth(100.0, False, None, "awdb_unavailable")], CACHE)
    assert "90 s after an AWDB success: cached credentials must be honoured for 2 min" in v.message
    # Without it, the same refusal is one inside Cisco's 30 minutes.
    (v,) = run([auth(10.0, True, "awdb-a"), expired], CACHE)
    assert "must be honoured for 30 min" in v.message


def test_cache_check_is_skipped_without_auth_events() -> None:
    assert outcome_status(publisher_killed(), CACHE) == SKIPPED


# -- 7. forced logouts carry code 255 ----------------------------------------------------------------
REASON = "forced-logout-code-255"


def test_forced_logout_codes() -> None:
    assert run([ev(70.0, A, "forced_logout", agent="1000", reason_code=255)], REASON) == []
    (v,) = run([ev(70.0, A, "forced_logout", agent="1000", reason_code=50002)], REASON)
    assert "reason code 50002, not 255" in v.message
    proves(v, (70.0, "forced_logout"))
    assert outcome_status(publisher_killed(), REASON) == SKIPPED


# -- 8. IPPA stays on its node; SERVER_UNAVAILABLE after three failed attempts ---------------------------
IPPA_STAYS = "ippa-stays-on-its-node"
IPPA_UNAVAILABLE = "ippa-unavailable-after-3-attempts"


def test_ippa_moving_by_itself_is_caught() -> None:
    history = with_events(publisher_killed(), *sign_in(70.0, "1002", B, "ippa"))
    (v,) = run(history, IPPA_STAYS)
    assert "IP Phone Agent 1002 went from finesse-a to finesse-b at 70.00 s" in v.message
    proves(v, (66.0, "state"), (70.0, "state"))


def test_ippa_signed_in_elsewhere_by_the_agent_is_fine() -> None:
    history = with_events(
        publisher_killed(),
        ev(69.0, "scenario", "client_action", action="sign_in", agent="1002", node=B),
        *sign_in(70.0, "1002", B, "ippa"),
    )
    assert run(history, IPPA_STAYS) == []


def unavailable_at(t: float, attempts: int = 3, scale: float = 1.0) -> list[Event]:
    history = [
        e for e in emulated_publisher_killed(scale=scale) if not (e.get("agent") == "1002" and e["t"] == 25.4)
    ]
    history += [
        state(t, "1002", "RETRYING", "SERVER_UNAVAILABLE", A, "ippa"),
        ev(t, "ippa", "server_unavailable", agent="1002", node=A, attempts=attempts),
    ]
    return scaled(sorted(history, key=lambda e: e["t"]), scale)


def test_ippa_unavailable_too_early_is_caught() -> None:
    (v,) = run(unavailable_at(20.2), IPPA_UNAVAILABLE)
    assert "SERVER_UNAVAILABLE 10.00 s after detecting the failure" in v.message
    proves(v, (10.2, "failover_detected"), (20.2, "state"))


def test_ippa_timing_is_judged_in_emulated_seconds() -> None:
    assert run(unavailable_at(25.3, scale=0.05), IPPA_UNAVAILABLE) == []
    (v,) = run(unavailable_at(20.2, scale=0.05), IPPA_UNAVAILABLE)
    assert v.events[0].t == pytest.approx(0.51)  # the history's own t, real seconds


def test_ippa_unavailable_after_fewer_attempts_is_caught() -> None:
    (v,) = run(unavailable_at(25.3, attempts=2), IPPA_UNAVAILABLE)
    assert "after 2 attempts" in v.message


def test_ippa_unavailable_without_detection_is_caught() -> None:
    history = [e for e in unavailable_at(25.3) if e["event"] != "failover_detected" or e["source"] != "ippa"]
    (v,) = run(history, IPPA_UNAVAILABLE)
    assert "with no failure detected" in v.message


# -- 9. every failover finishes ------------------------------------------------------------------------
FINISH = "failovers-finish"


def test_unfinished_failover_is_caught_when_the_run_went_on() -> None:
    (v,) = run(publisher_killed(finish=False), FINISH)
    assert "desktop 1000 detected a failover at 20.20 s and never finished it" in v.message
    proves(v, (DETECTED, "failover_detected"), (62.0, "status"))


def test_unfinished_failover_within_the_bound_is_pending() -> None:
    assert run(publisher_killed(end=100.0, finish=False), FINISH) == []


def test_failover_abandoned_by_a_browser_close_is_finished() -> None:
    history = with_events(
        publisher_killed(finish=False), ev(25.0, "desktop", "browser_close", agent="1000", node=A)
    )
    assert run(history, FINISH) == []


def test_failover_done_without_detection_is_caught() -> None:
    history = with_events(
        publisher_killed(), ev(120.0, "desktop", "failover_done", agent="1001", node=B, seconds=1.0)
    )
    (v,) = run(history, FINISH)
    assert "failover_done with no failover_detected" in v.message


# -- the command --------------------------------------------------------------------------------------------
def write(tmp_path: Path, events: list[Event], extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(e) for e in events] + list(extra_lines)
    (tmp_path / "history.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_clean_run_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(write(tmp_path, publisher_killed()))]) == 0
    out = capsys.readouterr().out
    assert "clean;" in out
    assert "skipped       credential-cache-30-min" in out
    assert (
        "ok            ippa-stays-on-its-node                IP Phone Agents that lost their node: 1" in out
    )
    assert out.endswith("clean; 6 invariants checked, 4 skipped, 0 not exercised\n")


def test_violation_exits_1_and_prints_the_proof(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(write(tmp_path, returns([])))]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION no-return-after-move: desktop 1000 went back to finesse-a" in out
    assert "t=100.000000 [100.00]  desktop moved  agent=1000 from=finesse-b to=finesse-a" in out


def test_malformed_lines_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = ('{"t": 1, "source": "desktop"', "[1, 2]", '{"t": true, "source": "x", "event": "y"}', "")
    assert main([str(write(tmp_path, publisher_killed(), bad))]) == 0
    assert "skipped 3 malformed lines" in capsys.readouterr().err


def test_unreadable_history_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "history.jsonl").write_text("not json\n", encoding="utf-8")
    assert main([str(tmp_path)]) == 2


def test_history_file_path_json_and_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, returns([])) / "history.jsonl"
    assert main([str(path), "--json", "--only", NO_RETURN]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False
    (inv,) = result["invariants"]
    assert inv["status"] == VIOLATED
    assert [e["event"] for e in inv["violations"][0]["events"]] == ["moved", "moved"]


def test_bound_option(tmp_path: Path) -> None:
    directory = write(tmp_path, publisher_killed(end=100.0, finish=False))
    assert main([str(directory), "--only", CONVERGE]) == 0
    assert main([str(directory), "--only", CONVERGE, "--bound", "30"]) == 1


def test_a_publish_or_answer_carrying_the_nodes_own_state_is_judged_by_it() -> None:
    """event_log events carry the node's state at that instant: the observer's sampling lag
    (it saw the node come back a moment later) is not a violation, a recorded OUT_OF_SERVICE is."""
    from finesse_emu.runs.check import check_history

    events = [
        {"t": 0.0, "wall": 1.0, "source": "scenario", "event": "start", "time_scale": 1.0},
        {"t": 1.0, "wall": 2.0, "source": "finesse-a", "event": "status", "status": "OUT_OF_SERVICE"},
        {"t": 5.0, "wall": 6.0, "source": "finesse-a", "event": "publish", "node": "/finesse/api/User/1000",
         "status": "IN_SERVICE"},
        {"t": 5.1, "wall": 6.1, "source": "finesse-a", "event": "status", "status": "IN_SERVICE"},
        {"t": 9.0, "wall": 10.0, "source": "finesse-a", "event": "request", "method": "GET",
         "path": "/finesse/api/User/1000", "status": 200, "service": "OUT_OF_SERVICE"},
    ]  # fmt: skip
    report = check_history(
        events, only=["no-publish-while-out-of-service", "no-rest-success-while-out-of-service"]
    )
    assert [v.invariant for v in report.violations] == ["no-rest-success-while-out-of-service"]


# -- not exercised: a rule that held on nothing is not reported as held ------------------------------------
def outcome(events: list[Event], name: str) -> Any:
    (o,) = check_history(events, only=[name]).outcomes
    return o


def test_each_invariant_says_what_it_was_checked_on() -> None:
    glitch = network_glitch()
    assert (outcome(glitch, CONVERGE).checked_on, outcome(glitch, CONVERGE).what) == (2, "desktops judged")
    assert outcome(glitch, NO_RETURN).checked_on == 1  # desktop 1000 moved
    assert outcome(glitch, ONE_NODE).checked_on == 1  # 1000 was on both nodes, 1001 on one
    assert outcome(glitch, FINISH).checked_on == 1
    killed = publisher_killed()
    assert outcome(killed, IPPA_STAYS).checked_on == 1 and outcome(killed, IPPA_UNAVAILABLE).checked_on == 1
    assert outcome(both_nodes(190.0), REASON).checked_on == 1


def test_phones_that_never_lost_their_node_do_not_exercise_the_ippa_rules() -> None:
    # The glitch run has no phone at all: the IPPA rules held on nothing.
    for name in (IPPA_STAYS, IPPA_UNAVAILABLE):
        o = outcome(network_glitch(), name)
        assert (o.status, o.checked_on) == (NOT_EXERCISED, 0)
        assert "IP Phone Agents" in o.exercised_by
    # A phone signed in on the subscriber while only the publisher failed: still nothing tested.
    calm = with_events(network_glitch(), *sign_in(2.0, "1002", B, "ippa"))
    assert outcome(calm, IPPA_STAYS).status == NOT_EXERCISED


def test_no_forced_logout_with_the_nodes_sessions_logged_is_not_exercised() -> None:
    # The nodes log their sessions (event_log) and no forced logout: none happened.
    logged = with_events(network_glitch(), signed(2.0, A, "1000"), signed(2.0, A, "1001"))
    o = outcome(logged, REASON)
    assert (o.status, o.checked_on, o.what) == (NOT_EXERCISED, 0, "forced logouts")
    # Without them, the history cannot tell: skipped, as before.
    assert outcome(network_glitch(), REASON).status == SKIPPED


def served(t: float, node: str, status: int, service: str, path: str = "/finesse/api/User/1000") -> Event:
    return ev(t, node, "request", method="GET", path=path, status=status, service=service)


def test_out_of_service_rules_count_only_what_a_running_node_did_while_out_of_service() -> None:
    # The publisher killed at 10.5: it answered nothing and published nothing while down.
    killed = with_events(
        publisher_killed(),
        served(5.0, A, 200, "IN_SERVICE"),
        ev(5.0, A, "publish", node="/finesse/api/User/1000", status="IN_SERVICE"),
        served(30.0, B, 200, "IN_SERVICE"),
        served(62.5, A, 200, "IN_SERVICE"),  # back, just before the observer saw it
        ev(61.9, A, "publish", node="/finesse/api/SystemInfo", status="IN_SERVICE"),
    )
    assert outcome(killed, NO_REST).status == NOT_EXERCISED
    assert outcome(killed, NO_PUBLISH).status == NOT_EXERCISED
    # The same node out of service while running (its Prosody down): answers 503, publishes SystemInfo.
    running = with_events(
        killed,
        ev(10.4, A, "publish", node="/finesse/api/SystemInfo", status="OUT_OF_SERVICE"),
        served(20.0, A, 503, "OUT_OF_SERVICE"),
        served(21.0, A, 200, "OUT_OF_SERVICE", path="/finesse/api/SystemInfo"),  # not what the rule is about
        served(40.0, A, 503, "OUT_OF_SERVICE"),
    )
    rest = outcome(running, NO_REST)
    assert (rest.status, rest.checked_on) == (OK, 2)
    publish = outcome(running, NO_PUBLISH)
    assert (publish.status, publish.checked_on) == (OK, 1)


def test_strict_fails_a_run_with_an_invariant_not_exercised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = str(write(tmp_path, network_glitch()))
    assert main([directory]) == 0  # no violation: check alone passes
    out = capsys.readouterr().out
    assert (
        "not exercised ippa-stays-on-its-node                IP Phone Agents that lost their node: 0" in out
    )
    assert "exercised by: IP Phone Agents in the swarm and their node killed" in out
    assert out.endswith("clean; 4 invariants checked, 4 skipped, 2 not exercised\n")
    assert main([directory, "--strict"]) == 1
    assert "FAILED: every invariant must be exercised (--strict); not: no-publish" in capsys.readouterr().out
    assert main([directory, "--strict", "--only", CONVERGE, "--only", NO_RETURN]) == 0
    capsys.readouterr()
    assert main([directory, "--strict", "--only", CONVERGE, "--only", IPPA_STAYS, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert (result["ok"], result["strict"], result["passed"]) == (True, True, False)
    assert [(i["name"], i["status"], i["checked_on"]) for i in result["invariants"]] == [
        (CONVERGE, OK, 2),
        (IPPA_STAYS, NOT_EXERCISED, 0),
    ]
