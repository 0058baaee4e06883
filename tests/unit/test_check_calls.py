"""The calls invariants (finesse_emu/runs/check/calls.py) and the report's calls table: a clean
history passes; a call lost or changed across a failover, a dialog published twice, and a call first
heard of by its end are each caught, with the events that prove it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finesse_emu.cli.check import main
from finesse_emu.runs.check import check_history
from finesse_emu.runs.check.calls import CALLS_SURVIVE, NO_ENDED_PUBLISH, PUBLISHED_ONCE
from finesse_emu.runs.check.engine import OK, VIOLATED
from finesse_emu.runs.report import entries, render_html, render_summary_table, summarize
from tests.unit.test_check import ev, failover, sign_in

Event = dict[str, Any]
CALLS = (CALLS_SURVIVE, PUBLISHED_ONCE, NO_ENDED_PUBLISH)


def seen(
    t: float,
    agent: str,
    dialog: str,
    mine: str,
    via: str = "xmpp",
    verb: str = "PUT",
    node: str = "finesse-a",
) -> Event:
    state = "ACTIVE" if mine in ("ACTIVE", "HELD") else mine
    digest = f"{dialog}-{mine}"
    return ev(t, "desktop", "dialog_seen", agent=agent, node=node, dialog=dialog, via=via, verb=verb,
              state=state, mine=mine, parties=[f"2010={mine}"], digest=digest)  # fmt: skip


def clean() -> list[Event]:
    """Agent 1000 on a held call, agent 1001 on an active one; the publisher dies at 100; both
    desktops move to the subscriber and their reload lists both calls as they were."""
    out = [ev(0.0, "scenario", "start", name="calls", time_scale=1.0)]
    out += sign_in(1.0, "1000", "finesse-a") + sign_in(1.0, "1001", "finesse-a")
    out += [ev(5.0, "scenario", "calls_placed", kind="incoming_held", agents=["1000"])]
    out += [ev(5.0, "scenario", "calls_placed", kind="incoming", agents=["1001"])]
    out += [
        seen(6.0, "1000", "7", "ALERTING", verb="POST"),
        seen(7.0, "1000", "7", "ACTIVE"),
        seen(8.0, "1000", "7", "HELD"),
    ]
    out += [seen(6.0, "1001", "8", "ALERTING", verb="POST"), seen(7.0, "1001", "8", "ACTIVE")]
    out += [ev(100.0, "scenario", "fault", target="finesse-a", action="kill")]
    for agent in ("1000", "1001"):
        out += failover(100.0, agent, "finesse-a", "finesse-b")
    out += [seen(121.0, "1000", "7", "HELD", via="rest", verb="GET", node="finesse-b")]
    out += [seen(121.0, "1001", "8", "ACTIVE", via="rest", verb="GET", node="finesse-b")]
    return sorted(out, key=lambda e: e["t"])


def outcomes(events: list[Event]) -> dict[str, Any]:
    return {o.name: o for o in check_history(events, only=CALLS).outcomes}


def test_clean_history_passes_and_report_counts_calls() -> None:
    found = outcomes(clean())
    assert {n: o.status for n, o in found.items()} == dict.fromkeys(CALLS, OK)
    assert found[CALLS_SURVIVE].checked_on == 2
    # Without naming them, the calls invariants judge a run that placed calls, and only such a run.
    assert {o.name for o in check_history(clean()).outcomes} >= set(CALLS)
    no_calls = [e for e in clean() if e["event"] not in ("calls_placed", "dialog_seen")]
    assert not {o.name for o in check_history(no_calls).outcomes} & set(CALLS)
    summary = summarize(clean())
    assert summary["calls"]["before"] == {"ACTIVE": 1, "HELD": 1}
    assert summary["calls"]["after"] == {"ACTIVE": 1, "HELD": 1}
    assert summary["calls"]["placed"] == {"incoming": 1, "incoming_held": 1}
    text = render_summary_table(summary)
    assert "calls seen by the desktops" in text and "HELD" in text
    page = render_html(entries(clean()), summary)
    assert "<h2>Calls</h2>" in page and "incoming_held 1" in page
    assert "<h2>Calls</h2>" not in render_html(entries(no_calls), summarize(no_calls))


def test_lost_call_is_caught() -> None:
    # The reload no longer lists 1000's held call.
    events = [
        e for e in clean() if not (e["event"] == "dialog_seen" and e["agent"] == "1000" and e["t"] > 100)
    ]
    found = outcomes(events)
    assert found[CALLS_SURVIVE].status == VIOLATED
    (v,) = found[CALLS_SURVIVE].violations
    assert "1000" in v.message and "lost" in v.message
    # Seen gone by the reload, with nobody dropping it: lost too.
    gone = [*events, seen(121.0, "1000", "7", "HELD", via="rest", verb="GONE", node="finesse-b")]
    assert outcomes(sorted(gone, key=lambda e: e["t"]))[CALLS_SURVIVE].status == VIOLATED
    # Dropped by a desktop: an end, not a loss.
    dropped = [
        *gone,
        ev(50.0, "desktop", "dialog_action", agent="1000", action="DROP", dialog="7", status=202),
    ]
    assert outcomes(sorted(dropped, key=lambda e: e["t"]))[CALLS_SURVIVE].status == OK


def test_held_call_seen_active_after_the_failover_is_caught() -> None:
    events = [
        seen(121.0, "1000", "7", "ACTIVE", via="rest", verb="GET", node="finesse-b")
        if e.get("dialog") == "7" and e["t"] > 100
        else e
        for e in clean()
    ]
    (v,) = outcomes(events)[CALLS_SURVIVE].violations
    assert "HELD before the failover and ACTIVE after" in v.message


def test_dialog_published_twice_is_caught() -> None:
    events = [*clean(), seen(122.0, "1001", "8", "ACTIVE", node="finesse-b")]  # the republish: once, fine
    assert outcomes(sorted(events, key=lambda e: e["t"]))[PUBLISHED_ONCE].status == OK
    twice = [*events, seen(122.5, "1001", "8", "ACTIVE", node="finesse-b")]
    (v,) = outcomes(sorted(twice, key=lambda e: e["t"]))[PUBLISHED_ONCE].violations
    assert "1001" in v.message and "twice" in v.message and len(v.events) == 2


def test_call_first_heard_of_by_its_end_is_caught() -> None:
    events = [*clean(), seen(125.0, "1001", "9", "DROPPED", verb="DELETE", node="finesse-b")]
    (v,) = outcomes(sorted(events, key=lambda e: e["t"]))[NO_ENDED_PUBLISH].violations
    assert "call 9" in v.message


def test_the_command_checks_a_calls_invariant_by_name(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(e) + "\n" for e in clean()))
    assert main([str(tmp_path), "--only", PUBLISHED_ONCE]) == 0


def consulting() -> list[Event]:
    """Agent 1000 called an outside number (call 7) and consults agent 1001 (call 8), who answered:
    1000 holds 7 and talks on 8. The publisher dies at 100; both desktops move to the subscriber."""
    out = [ev(0.0, "scenario", "start", name="calls", time_scale=1.0)]
    out += sign_in(1.0, "1000", "finesse-a") + sign_in(1.0, "1001", "finesse-a")
    out += [ev(5.0, "scenario", "calls_placed", kind="consult", agents=["1000", "1001"])]
    out += [seen(6.0, "1000", "7", "ACTIVE", verb="POST"), seen(8.0, "1000", "7", "HELD")]
    out += [ev(7.9, "desktop", "dialog_action", agent="1000", action="CONSULT_CALL", dialog="7", status=202)]
    out += [seen(8.0, "1000", "8", "INITIATED", verb="POST"), seen(9.0, "1000", "8", "ACTIVE")]
    out += [seen(8.0, "1001", "8", "ALERTING", verb="POST"), seen(9.0, "1001", "8", "ACTIVE")]
    out += [ev(100.0, "scenario", "fault", target="finesse-a", action="kill")]
    for agent in ("1000", "1001"):
        out += failover(100.0, agent, "finesse-a", "finesse-b")
    return out


def test_a_consult_seen_again_with_both_legs_passes() -> None:
    events = consulting()
    events += [
        seen(121.0, "1000", d, m, via="rest", verb="GET", node="finesse-b")
        for d, m in (("7", "HELD"), ("8", "ACTIVE"))
    ]
    events += [seen(121.0, "1001", "8", "ACTIVE", via="rest", verb="GET", node="finesse-b")]
    found = outcomes(sorted(events, key=lambda e: e["t"]))
    assert {n: o.status for n, o in found.items()} == dict.fromkeys(CALLS, OK)
    assert found[CALLS_SURVIVE].checked_on == 3


def test_a_consults_held_leg_lost_across_the_failover_is_caught() -> None:
    # The reload lists the consult only: the customer call 1000 held is gone.
    events = consulting()
    events += [seen(121.0, "1000", "8", "ACTIVE", via="rest", verb="GET", node="finesse-b")]
    events += [seen(121.0, "1001", "8", "ACTIVE", via="rest", verb="GET", node="finesse-b")]
    (v,) = outcomes(sorted(events, key=lambda e: e["t"]))[CALLS_SURVIVE].violations
    assert "1000" in v.message and "call 7" in v.message and "lost" in v.message
    # Listed gone by the reload: lost too.
    gone = [*events, seen(121.0, "1000", "7", "HELD", via="rest", verb="GONE", node="finesse-b")]
    assert outcomes(sorted(gone, key=lambda e: e["t"]))[CALLS_SURVIVE].status == VIOLATED


def test_a_transfer_across_the_failover_is_no_loss_and_no_ended_call() -> None:
    """1000 transfers just before the publisher dies; the effect is seen after the failover: 1000's
    calls ended by its own request (not lost), 1001 first hears of the customer call it was given
    (not a call first heard of by its end), its consult merged away (ended by 1000's request)."""
    events = consulting()
    events += [ev(99.0, "desktop", "dialog_action", agent="1000", action="TRANSFER", dialog="7", status=202)]
    events += [seen(121.0, "1000", "7", "DROPPED", via="rest", verb="GET", node="finesse-b")]
    events += [seen(121.0, "1000", "8", "ACTIVE", via="rest", verb="GONE", node="finesse-b")]
    events += [seen(121.0, "1001", "7", "ACTIVE", via="rest", verb="GET", node="finesse-b")]
    events += [seen(121.0, "1001", "8", "ACTIVE", via="rest", verb="GONE", node="finesse-b")]
    found = outcomes(sorted(events, key=lambda e: e["t"]))
    assert {n: o.violations for n, o in found.items()} == dict.fromkeys(CALLS, ()), found
    # Without 1000's request, the same picture is three calls lost or ended with nobody asking.
    asked = [e for e in events if not (e["event"] == "dialog_action" and e["action"] == "TRANSFER")]
    assert len(outcomes(sorted(asked, key=lambda e: e["t"]))[CALLS_SURVIVE].violations) == 3
    # Transferred over XMPP (no failover between): 1001 hears of call 7 by its POST, then 8's end.
    live = consulting()[:-12]  # before the publisher dies
    live += [ev(50.0, "desktop", "dialog_action", agent="1000", action="TRANSFER", dialog="7", status=202)]
    live += [seen(51.0, "1001", "7", "ACTIVE", verb="POST"), seen(51.0, "1001", "8", "ACTIVE", verb="DELETE")]
    live += [seen(51.0, "1000", "8", "ACTIVE", verb="DELETE"), seen(51.0, "1000", "7", "DROPPED")]
    live += [seen(60.0, "1000", "7", "DROPPED", verb="DELETE")]  # the call ends: its last picture removed
    found = outcomes(sorted(live, key=lambda e: e["t"]))
    assert {n: o.violations for n, o in found.items()} == dict.fromkeys(CALLS, ()), found
    # The same DELETE twice is a duplicate.
    twice = [*live, seen(60.5, "1000", "7", "DROPPED", verb="DELETE")]
    assert outcomes(sorted(twice, key=lambda e: e["t"]))[PUBLISHED_ONCE].status == VIOLATED
