"""``finesse-emu chaos-run --seed S --duration D``: random faults on a deployment with a swarm,
then the run's history against the invariants of Cisco's chapter (``finesse-emu check --strict``).

The fault schedule is a scenario generated from the seed alone, so the same seed gives the same
schedule (and ``--print`` shows it as the YAML ``finesse-emu run`` would take). Faults come in
pairs that end healed (kill then start, hang then heal, a glitch that ends), so that after the
last one every desktop must converge within the checker's bound.

Every schedule exercises every invariant of ``finesse-emu check`` (:data:`KINDS` says which fault
kind exercises which; :func:`exercised` reads a schedule back and says what it exercises): the swarm
has IP Phone Agents on both nodes and the first component fault kills a node that has phones for
long enough to show SERVER_UNAVAILABLE; a browser is closed and another crashes, each followed by a
quiet stretch (no component fault) long enough for its node's forced logout; the active CTI side or
a Prosody goes down while its node keeps running. Meanwhile an API client (a wallboard, say) reads
an agent on both nodes every two emulated seconds, so that a node out of service is asked something
else than SystemInfo. A run in which an invariant was nonetheless skipped or not exercised fails:
its verdict is ``finesse-emu check --strict``'s, printed by the same function (:func:`judge`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from emu_base.timers import Timers
from finesse_emu.deployment.launcher import STATE_FILE
from finesse_emu.runs.check import INVARIANTS
from finesse_emu.runs.check.cli import EXIT_CLEAN, judge
from finesse_emu.runs.check.invariants import (
    CACHE,
    CONVERGE,
    FAILOVERS_FINISH,
    IPPA_STAYS,
    IPPA_UNAVAILABLE,
    NO_PUBLISH,
    NO_REST,
    NO_RETURN,
    ONE_NODE,
    REASON_CODE,
)
from finesse_emu.runs.report import HISTORY_FILE
from finesse_emu.runs.scenario.runner import Reporter, run_scenario
from finesse_emu.runs.scenario.spec import parse

DEFAULTS = Timers()
MOVES = frozenset({CONVERGE, ONE_NODE, NO_RETURN, FAILOVERS_FINISH})  # desktops leave a node
IPPA = frozenset({IPPA_STAYS, IPPA_UNAVAILABLE})
RUNNING_OUT_OF_SERVICE = frozenset({NO_PUBLISH, NO_REST})

# A node kill that its phones must see through three failed attempts 5 s apart (SERVER_UNAVAILABLE
# after about 15 s), with room for detection: the phones' fault holds at least this long.
IPPA_HOLD = 30.0
HOLD = (15.0, 90.0)  # emulated seconds a component fault lasts before its undo
# Emulated seconds without a component fault after a browser action whose forced logout must land:
# a close sends Unavailable and the node waits 60 s; a crash sends nothing, Prosody notices the
# silent client within 120 s, then the 60 s. Margins for the observer and a loaded machine.
QUIET = {
    "close": DEFAULTS.forced_logout_after_unavailable + 30.0,
    "crash": DEFAULTS.browser_crash_detection + DEFAULTS.forced_logout_after_unavailable + 40.0,
}
SETTLE = 120.0  # emulated seconds after the last fault before the last expectation
API_POLL = 2.0  # emulated seconds between two reads of the API client
BOTH_IN_SERVICE = {"finesse-a": "IN_SERVICE", "finesse-b": "IN_SERVICE"}


@dataclass(frozen=True)
class Kind:
    """A kind of fault: its steps, how often the random draw picks it, what it exercises."""

    name: str
    weight: int  # chance in the random draw
    exercises: frozenset[str]  # the invariants it puts to the test (see exercised() for conditions)
    fault: dict[str, Any] | None = None  # a component fault and its undo...
    undo: dict[str, Any] | None = None
    clients: dict[str, Any] | None = None  # ...or a browser action on desktops of the swarm


KINDS: tuple[Kind, ...] = (
    Kind(
        "kill-publisher", 3, MOVES | IPPA,
        {"action": "kill", "target": "publisher"}, {"action": "start", "target": "publisher"},
    ),
    Kind(
        "kill-subscriber", 2, MOVES | IPPA,
        {"action": "kill", "target": "subscriber"}, {"action": "start", "target": "subscriber"},
    ),
    # The active side, whichever it is by then: killing the idle one takes no node out of service.
    Kind(
        "kill-active-cti", 2, RUNNING_OUT_OF_SERVICE,
        {"action": "kill", "target": "active-cti"}, {"action": "start", "target": "active-cti"},
    ),
    Kind(
        "kill-xmpp-a", 1, MOVES | RUNNING_OUT_OF_SERVICE,
        {"action": "kill", "target": "xmpp-a"}, {"action": "start", "target": "xmpp-a"},
    ),
    Kind(
        "hang-finesse-a", 1, MOVES,
        {"action": "hang", "target": "finesse-a"}, {"action": "heal", "target": "finesse-a"},
    ),
    Kind("hang-awdb-a", 1, frozenset({CACHE}), {"action": "hang", "target": "awdb-a"},
         {"action": "heal", "target": "awdb-a"}),
    Kind("kill-awdb-b", 1, frozenset({CACHE}), {"action": "kill", "target": "awdb-b"},
         {"action": "start", "target": "awdb-b"}),
    Kind("glitch", 4, MOVES, clients={"action": "glitch", "count": 1, "seconds": 60, "optional": True}),
    Kind("refresh", 2, frozenset({CACHE, CONVERGE}),
         clients={"action": "refresh", "count": 2, "optional": True}),
    Kind("close", 1, frozenset({REASON_CODE}), clients={"action": "close", "count": 1, "optional": True}),
    Kind("crash", 1, frozenset({REASON_CODE}), clients={"action": "crash", "count": 1, "optional": True}),
)  # fmt: skip
BY_NAME = {k.name: k for k in KINDS}
# In every schedule: the browser faults, whatever else the draw brings.
ALWAYS = ("close", "crash")
NODE_OF = {"publisher": "finesse-a", "subscriber": "finesse-b"}


def _pick(rng: random.Random, kinds: Iterable[Kind]) -> Kind:
    """One kind, chosen by weight."""
    pool = list(kinds)
    r = rng.uniform(0, sum(k.weight for k in pool))
    for kind in pool:
        r -= kind.weight
        if r <= 0:
            return kind
    return pool[-1]


def plan(seed: int, duration: float, gap: tuple[float, float] = (20.0, 60.0)) -> list[str]:
    """The kinds of fault of one run, in order: a function of the seed and duration only.

    The first component fault kills a node that has phones (after it, its phones wait on the Sign
    In screen for the agent, so a later node fault would find none there); the browser close and
    crash are always in; random draws fill about ``duration`` emulated seconds; any invariant still
    not exercised gets a kind that exercises it, at a random place."""
    rng = random.Random(seed)
    first = rng.choice(["kill-publisher", "kill-subscriber"])
    # About one kind per gap plus a hold (most draws are component faults): ``duration`` of faults.
    mean_gap = sum(gap) / 2 + sum(HOLD) / 2
    drawn = [_pick(rng, KINDS).name for _ in range(max(0, round(duration / mean_gap) - 1))]
    kinds = [first, *drawn]
    for name in ALWAYS:
        if name not in kinds:
            kinds.insert(rng.randrange(1, len(kinds) + 1), name)
    covered = set().union(*(BY_NAME[k].exercises for k in kinds))
    for inv in INVARIANTS:
        if inv.name not in covered:
            able = [k for k in KINDS if inv.name in k.exercises]
            # A browser action when one will do: it costs no quiet stretch nor a node's recovery.
            choice = rng.choice([k for k in able if k.clients is not None] or able)
            kinds.insert(rng.randrange(1, len(kinds) + 1), choice.name)
            covered |= choice.exercises
    return kinds


def schedule(
    seed: int,
    duration: float,
    agents: int,
    time_scale: float,
    gap: tuple[float, float] = (20.0, 60.0),
    ippa: int | None = None,
) -> dict[str, Any]:
    """The scenario of one chaos run: a function of its arguments only (``gap``: emulated seconds
    between faults, drawn uniformly; ``ippa``: phones among the agents, at least one per node)."""
    rng = random.Random(seed)
    phones = default_ippa(agents) if ippa is None else ippa
    steps: list[dict[str, Any]] = [
        {"phase": "sign in"},
        {"until": {"all_signed_in": True}, "timeout": 1200},
    ]
    active, quiet, first = "cti-a", 0.0, True  # quiet: emulated s still owed to a forced logout
    for n, name in enumerate(plan(seed, duration, gap), 1):
        kind = BY_NAME[name]
        pause = round(rng.uniform(*gap), 1)
        if kind.clients is not None:
            steps.append({"wait": pause})
            quiet = max(0.0, quiet - pause)
            if name in QUIET:
                # On a node in service, with desktops signed in: its forced logout is what it is for.
                steps.append({"until": {"node_status": BOTH_IN_SERVICE}, "timeout": 600})
                quiet = max(quiet, QUIET[name])
            steps.append({"phase": f"chaos {n}: {kind.clients['action']} desktops"})
            steps.append({"clients": dict(kind.clients)})
            continue
        assert kind.fault is not None and kind.undo is not None
        pause = max(pause, _past(quiet))  # a pending forced logout is let land first
        steps.append({"wait": pause})
        quiet = 0.0
        target = active if kind.fault["target"] == "active-cti" else kind.fault["target"]
        low = IPPA_HOLD if first and name in ("kill-publisher", "kill-subscriber") else HOLD[0]
        hold = round(rng.uniform(low, max(low, HOLD[1])), 1)
        first = False
        steps.append({"phase": f"chaos {n}: {kind.fault['action']} {target} for {hold:g} s"})
        steps.append({"fault": {**kind.fault, "target": target}})
        steps.append({"wait": hold})
        steps.append({"fault": {**kind.undo, "target": target}})
        if kind.fault["target"] == "active-cti":
            active = "cti-b" if active == "cti-a" else "cti-a"  # the other side took over
    steps += [
        {"phase": "settle"},
        {"until": {"node_status": BOTH_IN_SERVICE}, "timeout": 600},
        {"wait": max(SETTLE, _past(quiet))},
        {"expect": {"name": "every desktop signed in after the last fault", "signed_in": "all"}},
    ]
    return {
        "name": f"chaos run, seed {seed}, {duration:g} s",
        "description": "random faults, each healed; then the history against the invariants of "
        "Cisco's chapter",
        "deployment": {"agents": agents, "time_scale": time_scale},
        "swarm": {"desktops": agents, "ippa": phones},
        "steps": steps,
    }


def default_ippa(agents: int) -> int:
    """Phones in a swarm of ``agents``: a tenth, and at least one per node."""
    return max(2, agents // 10)


def exercised(spec: dict[str, Any]) -> dict[str, list[str]]:
    """What a schedule puts to the test, read back from its steps: invariant -> the steps (phase
    names) that exercise it, each counted only where it can work: a node kill exercises the IPPA
    rules if that node still has phones signed in and it lasts ``IPPA_HOLD``; a CTI kill the
    out-of-service rules if it kills the active side; a close or crash the forced logout rule if
    no component fault follows within its ``QUIET`` seconds and the run goes on that long."""
    steps = spec["steps"]
    swarm = spec.get("swarm") or {}
    has_phones = int(swarm.get("ippa", 0)) >= 2  # one per node at least (publisher_share 0.5)
    phones = {"finesse-a": has_phones, "finesse-b": has_phones}
    active = "cti-a"
    found: dict[str, list[str]] = {}
    phase = ""

    def credit(names: Iterable[str]) -> None:
        for name in names:
            found.setdefault(name, []).append(phase)

    for i, step in enumerate(steps):
        if "phase" in step:
            phase = step["phase"]
        elif "clients" in step:
            action = step["clients"]["action"]
            # A close or crash only if its forced logout can land before the next component fault.
            if action not in QUIET or _waits_after(steps, i) >= QUIET[action]:
                credit(BY_NAME[action].exercises)
        elif "fault" in step and step["fault"]["action"] in ("kill", "hang"):
            target, action = step["fault"]["target"], step["fault"]["action"]
            hold = _waits_after(steps, i)
            if target in ("publisher", "subscriber"):
                credit(MOVES)
                node = NODE_OF[target]
                if phones[node] and hold >= IPPA_HOLD:
                    credit(IPPA)
                phones[node] = False  # SERVER_UNAVAILABLE, then the Sign In screen
            elif target in ("cti-a", "cti-b"):
                if target == active:
                    credit(RUNNING_OUT_OF_SERVICE)
                    active = "cti-b" if target == "cti-a" else "cti-a"
                    phones = dict.fromkeys(phones, False)  # both nodes out of service a while
            elif target in ("xmpp-a", "finesse-a"):
                credit(BY_NAME["kill-xmpp-a" if target == "xmpp-a" else "hang-finesse-a"].exercises)
                phones["finesse-a"] = False
            elif target.startswith("awdb-"):
                credit({CACHE})
    return found


def _past(quiet: float) -> float:
    """A wait in tenths of a second that ends after ``quiet``: the next tenth up, plus one. Waits
    are sums of tenths in floating point, so 110.3 + 109.7 may fall short of 220; a tenth to spare
    keeps every sum past the quiet stretch it must cover."""
    return math.ceil(round(quiet * 10, 6)) / 10 + 0.1


def _waits_after(steps: list[dict[str, Any]], i: int) -> float:
    """Emulated seconds of waits after step ``i`` before the next fault step (a fault's undo, or the
    next component fault) or the run's end: how long a fault held, how long the quiet lasted."""
    waited = 0.0
    for step in steps[i + 1 :]:
        if "fault" in step:
            break
        waited += float(step.get("wait", 0.0))
    return waited


async def api_client(run_dir: Path, time_scale: float, stop: asyncio.Event) -> int:
    """A third-party client of the REST API (a wallboard, a CRM connector): GET User of the first
    sample agent on both nodes every ``API_POLL`` emulated seconds, from the moment the deployment in
    ``run_dir`` is up until ``stop``. A node out of service must answer it 503: the nodes log each
    answer (event_log), which is what ``no-rest-success-while-out-of-service`` judges. Returns the
    requests sent."""
    state_path = run_dir / STATE_FILE
    while not state_path.exists():  # the launcher writes it once every component is healthy
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
        if stop.is_set():
            return 0
    state = json.loads(state_path.read_text())
    agent = state["sample_agents"][0]
    urls = [
        f"http://{c['host']}:{c['ports']['rest_http']}/finesse/api/User/{agent['id']}"
        for c in state["components"]
        if c["role"] in ("publisher", "subscriber")
    ]
    headers = {"Authorization": aiohttp.encode_basic_auth(agent["id"], agent["password"])}
    interval = API_POLL * time_scale
    sent = 0
    timeout = aiohttp.ClientTimeout(total=max(1.0, 5 * interval))
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not stop.is_set():
            for url in urls:
                # A node down, hung or restarting: the next round asks again.
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.get(url, headers=headers) as resp:
                        await resp.read()
                sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    return sent


async def chaos_run(
    seed: int,
    duration: float,
    agents: int,
    time_scale: float,
    report_dir: Path,
    network: str,
    gap: tuple[float, float] = (20.0, 60.0),
    resources: bool = False,
    ippa: int | None = None,
    progress: Reporter | None = None,
) -> tuple[bool, str]:
    """Run the schedule and check the history: (every expectation met and every invariant held and
    exercised, the verdict's text as ``finesse-emu check --strict`` prints it). ``progress``: as
    for :func:`run_scenario`."""
    sc = parse(schedule(seed, duration, agents, time_scale, gap, ippa))
    stop = asyncio.Event()
    client = asyncio.create_task(api_client(report_dir / "deployment", time_scale, stop))
    try:
        expectations_ok = await run_scenario(
            sc, report_dir, network=network, quiet=True, resources=resources, progress=progress
        )
    finally:
        stop.set()
        await client
    return verdict(report_dir, expectations_ok)


def verdict(report_dir: Path, expectations_ok: bool = True) -> tuple[bool, str]:
    """chaos-run's verdict on the run in ``report_dir``: ``finesse-emu check --strict``'s (the
    same function prints it), and the scenario's expectations."""
    code, text = judge(report_dir / HISTORY_FILE, strict=True)
    if not expectations_ok:
        failed = _failed_expectations(report_dir)
        text += "FAILED expectations: " + ("; ".join(failed) or "see the report") + "\n"
    return code == EXIT_CLEAN and expectations_ok, text


def _failed_expectations(report_dir: Path) -> list[str]:
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads((report_dir / "summary.json").read_text())
        return [
            f"{e.get('name')}: {e.get('detail')}" for e in summary.get("expectations", []) if not e.get("ok")
        ]
    return []
