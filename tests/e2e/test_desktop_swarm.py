"""200 desktops and 10 IP Phone Agents against the embedded deployment; the publisher VM dies.

The publisher's web app and its Notification Service (finesse-a and xmpp-a) are killed, as when
the publisher's server goes down. Every desktop must end signed in on the subscriber and stay
there after the publisher comes back; IP Phone Agents show "server unavailable" after about three
5 s polls, never move, and show the Sign In screen when their server returns.

30% of the desktops are on calls of every kind (finesse_emu/desktop/calls.py, KINDS: answered from
a caller, agent to agent, to an outside number, each also held; a consult; a blind transfer) when
the publisher dies: each call
is seen again in the same state once its desktop is on the subscriber, none is published twice
(the checker's calls invariants), and the report's calls table shows the same calls by state
before and after.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

import aiohttp
import pytest

from emu_base.history import History
from emu_base.history_events import FailoverDetected, FailoverDone, Fault, Moved, ServerUnavailable
from emu_base.timers import Timers
from finesse_emu.desktop.calls import KINDS
from finesse_emu.desktop.swarm import Swarm, SwarmConfig, directory_agents, endpoints_from_deployment
from finesse_emu.runs.check import CALL_INVARIANTS, Options, check_history
from finesse_emu.runs.report import render_summary_table, summarize
from finesse_emu.runs.scenario.call_control import ringer
from tests.e2e.test_launcher import emu, status
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
SCALE = 0.05
AGENTS, IPPA = 200, 10
CALL_SHARE = 0.3  # of the desktops, on calls of every kind when the publisher dies
RUN_KINDS = list(KINDS)


async def node_state(run_dir: Path, name: str) -> str:
    report = await asyncio.to_thread(status, run_dir)
    return str(next(c for c in report["components"] if c["name"] == name)["state"])


async def test_publisher_killed_under_200_desktops(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    up = await asyncio.to_thread(
        emu, "up", "--detach", "--run-dir", str(run_dir), "--agents", str(AGENTS), "--time-scale", str(SCALE),
        "--network", "127.0.21",  # not the default 127.0.10: runs beside a user's deployment
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    history = History(tmp_path / "history.jsonl")
    timers = Timers.build(SCALE)
    # Desktops arrive over about 1.5 s, not in one instant: the failover is under test, not how many
    # sign-ins the node can take at once (a phone whose first sign-in times out stays on its Sign In
    # screen, and 105 desktops at once keep a node busy longer than their 2 s request timeout).
    config = SwarmConfig(
        endpoints_from_deployment(run_dir),
        directory_agents(AGENTS),
        timers,
        ippa=IPPA,
        arrival="poisson",
        rate=150.0,
    )
    swarm = Swarm(config, history)
    try:
        await swarm.start()
        await swarm.wait(lambda s: s.signed_in() + s.signed_in(kind="ippa") == AGENTS, timeout=90)
        assert swarm.signed_in("finesse-a") == swarm.signed_in("finesse-b") == (AGENTS - IPPA) // 2
        phones = [c for c in swarm.clients if c.source == "ippa"]
        assert {c.node for c in phones} == {"finesse-a", "finesse-b"}

        # 30% of the desktops on calls, every kind in turn; all set up before the publisher dies.
        async with aiohttp.ClientSession() as http:
            placed_ids = await swarm.place_calls(
                CALL_SHARE, RUN_KINDS, ringer(run_dir, http), ready_within=30
            )
        by_id = {c.agent.id: c for c in swarm.clients}
        placed = [(kind, [by_id[a] for a in agents]) for kind, agents in placed_ids]
        on_calls = {c.agent.id for _, desktops in placed for c in desktops}
        # The share, less one where the last kind takes two desktops and only one is left.
        assert 0 <= round(CALL_SHARE * (AGENTS - IPPA)) - len(on_calls) <= 1
        assert {k.name for k, _ in placed} == set(RUN_KINDS)
        assert {by_id[a].node for a in on_calls} == {"finesse-a", "finesse-b"}
        await swarm.wait(lambda s: s.calls_settled()[0], timeout=30)
        before = swarm.call_states()
        # Each desktop's calls as its kind settles (a consult holds two; a transfer leaves none).
        held = {
            c.agent.id: len(s.split("+")) if s else 0
            for k, d in placed
            for c, s in zip(d, k.settled, strict=True)
        }
        assert before["HELD"] and before["ACTIVE"] and sum(before.values()) == sum(held.values())

        kill_at = asyncio.get_running_loop().time()
        for target in ("xmpp-a", "finesse-a"):  # the Notification Service first: trigger 2
            done = await asyncio.to_thread(emu, "chaos", "kill", target, "--run-dir", str(run_dir))
            assert done.returncode == 0, done.stderr
        history.record("scenario", Fault(target="finesse-a+xmpp-a", action="kill"))

        await swarm.wait(lambda s: s.signed_in("finesse-b") == AGENTS - IPPA, timeout=90)
        pub_phones = [c for c in phones if c.node == "finesse-a"]
        await swarm.wait(lambda s: all(c.state == "SERVER_UNAVAILABLE" for c in pub_phones), timeout=30)

        # Desktops: failover from detection, never back; the data refresh was not a config reload.
        done_events = history.of(FailoverDone, "desktop")
        assert len(done_events) == (AGENTS - IPPA) // 2
        assert {e["trigger"] for e in done_events} == {"notification"}  # after three XMPP attempts
        desktops = [c for c in swarm.clients if c.source == "desktop"]
        assert all(c.user_state == "NOT_READY" for c in desktops if c.agent.id not in on_calls)
        # The calls: each seen again on the subscriber as it was (the refresh's GET of the dialogs).
        await swarm.wait(lambda s: s.calls_settled()[0], timeout=30)
        assert swarm.call_states() == before
        assert {by_id[a].user_state for a in on_calls if held[a]} <= {"TALKING", "HOLD"}
        # IPPA: "After three attempts ... displays a server unavailable message": three failed 5 s
        # polls after the Notification Service went, so never sooner than about three intervals (a
        # loaded host may make them later: the count is what is checked, not an upper time bound).
        lost = {e["agent"]: e["t"] for e in history.of(FailoverDetected, "ippa")}
        unavailable = history.of(ServerUnavailable, "ippa")
        shown = {e["agent"]: e["t"] for e in unavailable}
        delays = [(shown[a] - lost[a]) / timers.ippa_poll_interval for a in shown]
        assert len(delays) == len(pub_phones) and statistics.median(delays) > 2.5, delays
        assert {e["attempts"] for e in unavailable} == {timers.ippa_attempts}
        assert {c.node for c in pub_phones} == {"finesse-a"}

        # The publisher comes back: desktops stay on the subscriber, phones show the Sign In screen.
        for target in ("xmpp-a", "finesse-a"):
            done = await asyncio.to_thread(emu, "chaos", "start", target, "--run-dir", str(run_dir))
            assert done.returncode == 0, done.stderr
        await eventually(
            lambda: node_state(run_dir, "finesse-a"),
            "finesse-a IN_SERVICE again",
            until=lambda state: state == "IN_SERVICE",
            within=60,
            every=0.2,
        )
        await swarm.wait(lambda s: all(c.state == "SIGN_IN_SCREEN" for c in pub_phones), timeout=30)
        # A window in which nothing may move back: five desktop polls.
        await asyncio.sleep(5 * timers.desktop_systeminfo_poll)
        assert swarm.signed_in("finesse-a") == 0 and swarm.signed_in("finesse-b") == AGENTS - IPPA
        assert not [e for e in history.of(Moved) if e["to"] == "finesse-a"]
        assert {c.node for c in pub_phones} == {"finesse-a"}
        assert asyncio.get_running_loop().time() - kill_at < 120

        # The checker's calls invariants (this history has no node or observer events for the others):
        # no call lost or published twice, none first heard of by its end; the publisher's desktops
        # each had their call checked across their failover.
        names = [i.name for i in CALL_INVARIANTS]
        report = check_history(history.events, Options(time_scale=SCALE), only=names)
        outcomes = {o.name: o for o in report.outcomes}
        assert report.ok, [v.message for v in report.violations][:5]
        assert {n: o.status for n, o in outcomes.items()} == dict.fromkeys(names, "ok")
        moved_calls = sum(held[a] for a in on_calls if any(e["agent"] == a for e in done_events))
        assert outcomes["calls-survive-failover"].checked_on == moved_calls > 0
        # The report: the calls by state before the publisher died and at the end, the same (ENDED:
        # the calls transferred away, and a blind transfer's short consult).
        calls = summarize(history.events)["calls"]
        assert calls["before"] == calls["after"]
        assert {s: n for s, n in calls["before"].items() if s != "ENDED"} == dict(sorted(before.items()))
        assert calls["placed"] == {
            k: sum(1 for kind, _ in placed if kind.name == k) for k in sorted(RUN_KINDS)
        }
        assert "calls seen by the desktops" in render_summary_table(summarize(history.events))
    finally:
        await swarm.stop()
        history.close()
        await asyncio.to_thread(emu, "down", "--run-dir", str(run_dir))


async def test_swarm_cli_metrics_and_chaos_on_desktops(tmp_path: Path) -> None:
    """finesse-emu swarm as a process against finesse-emu up; chaos on N of M desktops and one agent."""
    import json
    import subprocess
    import sys

    import aiohttp

    run_dir = tmp_path / "run"
    up = await asyncio.to_thread(
        emu, "up", "--detach", "--run-dir", str(run_dir), "--agents", "12", "--time-scale", str(SCALE),
        "--network", "127.0.22",
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    history = tmp_path / "swarm.jsonl"
    swarm = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "finesse_emu.cli", "swarm", "--agents", "12", "--run-dir", str(run_dir),
        "--history", str(history), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await eventually((run_dir / "swarm.json").exists, "swarm.json written", within=60, every=0.1)
        control = json.loads((run_dir / "swarm.json").read_text())["control"]
        async with aiohttp.ClientSession() as http:

            async def metrics() -> str:
                async with http.get(f"http://{control}/metrics") as resp:
                    return await resp.text()

            await eventually(
                metrics,
                "6 desktops SIGNED_IN on finesse-a in the swarm's metrics",
                until=lambda text: (
                    'finesse_emu_clients{kind="desktop",node="finesse-a",state="SIGNED_IN"} 6.0' in text
                ),
                within=60,
                every=0.2,
            )
        crash = await asyncio.to_thread(
            emu,
            "chaos",
            "crash",
            "desktops",
            "--count",
            "2",
            "--node",
            "finesse-a",
            "--run-dir",
            str(run_dir),
        )
        assert crash.returncode == 0 and crash.stdout.startswith("crash: 1000, 1001"), (
            crash.stdout + crash.stderr
        )
        refresh = await asyncio.to_thread(emu, "chaos", "refresh", "agent:1010", "--run-dir", str(run_dir))
        assert refresh.returncode == 0 and "1010" in refresh.stdout, refresh.stderr
        too_many = await asyncio.to_thread(
            emu, "chaos", "close", "desktops", "--count", "50", "--run-dir", str(run_dir)
        )
        assert too_many.returncode == 2 and "50 wanted" in too_many.stderr
    finally:
        swarm.terminate()
        await asyncio.wait_for(swarm.wait(), 30)
        await asyncio.to_thread(emu, "down", "--run-dir", str(run_dir))
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    crashed = [e["agent"] for e in lines if e["event"] == "browser_crash"]
    assert crashed == ["1000", "1001"]
    assert any(e["event"] == "browser_refresh" and e["agent"] == "1010" for e in lines)
    assert not (run_dir / "swarm.json").exists()
