"""The conditions an ``until`` step waits for and the checks an ``expect`` step makes: one class per
kind, added to :data:`CONDITIONS` or :data:`CHECKS` (docs/scenarios.md lists them).

A kind says whether it holds now, with a detail for the report: ``(ok, detail)``. Times in its
argument are emulated seconds; measured times are divided by the run's time_scale.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import aiohttp
from pydantic import Field

from emu_base.admin import auth_headers
from emu_base.history_events import FailoverDetected, FailoverDone, HttpError, Load, Moved, SignInFailed
from finesse_emu.deployment.launcher import read_admin_token
from finesse_emu.runs.check import CALL_INVARIANTS, Options, check_history
from finesse_emu.runs.scenario.base import Named, Registry, ScenarioError
from finesse_emu.runs.scenario.context import Run


class Probe(Named):
    """A condition or a check. The same class may serve both (``desktops_on``), under two names.
    ``arg_type``: the type of its argument in the scenario file's model (model.py)."""

    arg_type: Any = Any

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name

    def parse(self, arg: Any, where: str) -> Any:
        """The argument as the scenario file gives it, checked before anything starts."""
        return arg

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        raise NotImplementedError


CONDITIONS: Registry[Probe] = Registry("condition")
CHECKS: Registry[Probe] = Registry("check")


def active_cti(run: Run) -> dict[str, Any] | None:
    """The deployment's entry of the CTI side the observer last saw active."""
    state = json.loads((run.run_dir / "deployment.json").read_text())
    latest = run.observer.latest
    active = [c for c in state["components"] if c["role"] == "cti" and latest.get(c["name"]) == "active"]
    return active[0] if active else None


async def active_cti_get(run: Run, path: str) -> tuple[dict[str, Any] | None, Any]:
    """GET ``path`` on the active CTI side's control plane, with the deployment's token: the side
    and its JSON answer, or (None or the side, why it could not be read)."""
    c = active_cti(run)
    if c is None:
        return None, "no active CTI side"
    url = f"http://{c['host']}:{c['ports']['admin']}{path}"
    try:
        headers = auth_headers(read_admin_token(run.run_dir))
        async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
            return c, await resp.json()
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return c, f"{c['name']}: {exc}"


def bounds(values: list[float], spec: dict[str, Any], unit: str) -> tuple[bool, str]:
    problems = []
    if "count" in spec and len(values) < int(spec["count"]):
        problems.append(f"{len(values)} values, want at least {spec['count']}")
    if values and "max" in spec and max(values) > float(spec["max"]):
        problems.append(f"max {max(values):.2f}{unit} > {spec['max']}{unit}")
    if values and "min" in spec and min(values) < float(spec["min"]):
        problems.append(f"min {min(values):.2f}{unit} < {spec['min']}{unit}")
    if not values and spec.get("count", 1):
        problems.append("no values")
    shown = f"n={len(values)}" + (f", max {max(values):.2f}{unit}" if values else "")
    return not problems, "; ".join(problems) or shown


def count(n: int, spec: dict[str, Any], what: str) -> tuple[bool, str]:
    lo, hi = int(spec.get("min", 0)), spec.get("max")
    ok = n >= lo and (hi is None or n <= int(hi))
    return ok, f"{n} {what} (want {lo}..{'' if hi is None else hi})"


# -- conditions and checks, in the order the error messages list them -------------------------------
class AllSignedIn(Probe):
    """Every desktop the run counts (held ones until opened, closed ones never) is signed in."""

    name = "all_signed_in"
    arg_type = bool

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        held = {id(c) for c in run.swarm.held} if not run.opened_held else set()
        clients = [c for c in run.swarm.clients if id(c) not in held and c.agent.id not in run.removed]
        n, total = sum(1 for c in clients if c.state == "SIGNED_IN"), len(clients)
        if run.remote is not None:
            n, total = n + run.remote.signed_in(), total + run.remote.remote_desktops
        return n == total, f"{n}/{total} signed in"


class DesktopsOn(Probe):
    """``{finesse-a: all|N, ...}``: desktops signed in on each node."""

    name = "desktops_on"
    arg_type = dict[str, int | Literal["all"]]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        return run.desktops_on(arg)


class NodeStatus(Probe):
    """``{finesse-a: IN_SERVICE, ...}``: each node's SystemInfo status, as the observer last saw it."""

    name = "node_status"
    arg_type = dict[str, str]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        return run.node_status(arg)


class IppaState(Probe):
    """``{node, state, count}``: IP Phone Agents in a state."""

    name = "ippa_state"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        return run.ippa_in(arg)


class CtiActive(Probe):
    """``cti-a|cti-b``: that CTI side is the active one."""

    name = "cti_active"
    arg_type = str

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        return run.observer.latest.get(str(arg)) == "active", f"roles {run.observer.latest}"


class Chat(Probe):
    """``{agent, sessions, status, server}``: a desktop's chat status, active chat sessions and the
    Cisco IM&P node its chat is signed in to (``server``; "" while it is signed in nowhere), now.
    The status is the one its IM&P session carries (its presence), "" while there is none."""

    name = "chat"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        client = next((c for c in run.swarm.clients if c.agent.id == str(arg["agent"])), None)
        if client is None:
            return False, f"no desktop for agent {arg['agent']}"
        chat = client.chat
        sessions, status, server = len(chat.sessions), chat.session_status, chat.server
        ok = (
            sessions == int(arg.get("sessions", sessions))
            and status == str(arg.get("status", status))
            and server == str(arg.get("server", server))
        )
        where = server or "no IM&P"
        return ok, f"agent {arg['agent']}: {sessions} chat sessions, status {status!r}, on {where}"


class CtiAgent(Probe):
    """``{agent, state, reason, mrd}``: an agent's state on the active CTI side (its admin API)."""

    name = "cti_agent"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        spec = arg
        c, agent = await active_cti_get(run, f"/emu/agents/{spec['agent']}")
        if c is None or isinstance(agent, str):
            return False, str(agent)
        if "mrd" in spec:  # a non-voice MRD's state instead of the voice state
            mrd_state = agent.get("mrd_states", {}).get(str(spec["mrd"]))
            ok = mrd_state == spec.get("state")
            detail = f"agent {spec['agent']} MRD {spec['mrd']} on {c['name']}: {mrd_state}"
            return ok, detail if ok else f"{detail}, want {spec.get('state')}"
        problems = []
        if "state" in spec and agent.get("state") != spec["state"]:
            problems.append(f"state {agent.get('state')}, want {spec['state']}")
        if "reason" in spec and agent.get("reason_code") != spec["reason"]:
            problems.append(f"reason {agent.get('reason_code')}, want {spec['reason']}")
        shown = (
            f"agent {spec['agent']} on {c['name']}: {agent.get('state')} reason {agent.get('reason_code')}"
        )
        return not problems, f"{shown}; " + "; ".join(problems) if problems else shown


class CtiCalls(Probe):
    """``{queued, calls}``: how many calls wait in queue, and how many are in progress (queued ones
    included), on the active CTI side (its ``GET /emu/calls``); a condition and a check."""

    name = "cti_calls"
    arg_type = dict[Literal["queued", "calls"], Annotated[int, Field(ge=0)]]

    def parse(self, arg: Any, where: str) -> Any:
        ok = isinstance(arg, dict) and arg and set(arg) <= {"queued", "calls"}
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in arg.values()):
            raise ScenarioError(f"{where}: cti_calls needs {{queued: N, calls: N}} (counts)")
        return arg

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        c, answer = await active_cti_get(run, "/emu/calls")
        if c is None or isinstance(answer, str):
            return False, str(answer)
        calls = answer.get("calls") if isinstance(answer, dict) else None
        if not isinstance(calls, list):
            return False, f"{c['name']}: no calls in {answer}"
        live = [k for k in calls if k.get("phase") != "ended"]
        seen = {"queued": sum(k.get("phase") == "queued" for k in live), "calls": len(live)}
        detail = f"{c['name']}: {seen['calls']} calls, {seen['queued']} queued"
        wrong = [f"want {k} {v}" for k, v in arg.items() if seen[k] != v]
        return not wrong, "; ".join([detail, *wrong])


class PeakRequestRate(Probe):
    """``{node, min, max}``: the node's busiest emulated second in this phase (observer samples)."""

    name = "peak_request_rate"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        rates = [e["requests_per_second"] for e in run.phase_events(Load.NAME, arg["node"])]
        peak = max(rates, default=0.0)
        ok = peak <= float(arg.get("max", float("inf"))) and peak >= float(arg.get("min", 0))
        shown = f"{arg.get('min', 0)}..{arg.get('max', '')}"
        return ok, f"{arg['node']}: peak {peak:.0f} requests/s (want {shown})"


class NodeLoad(Probe):
    """``{node, requests: {min, max}, megabytes: {min, max}}``: what the node served in this phase,
    in all (the observer's samples summed over their intervals): the load a failover puts on it."""

    name = "node_load"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        node, requests, megabits = arg["node"], 0.0, 0.0
        previous: float | None = None
        for i, e in enumerate(run.history.events):
            if e["event"] != Load.NAME or e["source"] != node:
                continue
            if previous is not None and i >= run.phase_index:
                emulated_seconds = (e["t"] - previous) / run.scale  # a sample's rates cover this interval
                requests += e["requests_per_second"] * emulated_seconds
                megabits += (e.get("mbps") or 0.0) * emulated_seconds
            previous = e["t"]
        served = {"requests": requests, "megabytes": megabits / 8}
        problems = []
        for key, value in served.items():
            spec = arg.get(key) or {}
            if value < float(spec.get("min", 0)) or value > float(spec.get("max", float("inf"))):
                problems.append(f"{key} {value:.1f}, want {spec.get('min', 0)}..{spec.get('max', '')}")
        shown = f"{node}: {requests:.0f} requests, {megabits / 8:.2f} MB in this phase"
        return not problems, shown + ("; " + "; ".join(problems) if problems else "")


class NodeCounter(Probe):
    """``{node, counter, min, max}``: one of the node's counters (its /emu/health ``stats``, since it
    started), e.g. ``content_renders``: gadget specs it rendered for a request (JSP, ``nocache``)."""

    name = "node_counter"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        state = json.loads((run.run_dir / "deployment.json").read_text())
        found = [c for c in state["components"] if c["name"] == arg["node"]]
        if not found:
            return False, f"no component {arg['node']}"
        c = found[0]
        url = f"http://{c['host']}:{c['ports']['admin']}/emu/health"
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as resp:
                health = await resp.json()
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return False, f"{c['name']}: {exc}"
        value = int((health.get("stats") or {}).get(arg["counter"], 0))
        return count(value, arg, f"{arg['counter']} on {arg['node']}")


class SignedIn(Probe):
    """``all|N``: desktops signed in on either node."""

    name = "signed_in"
    arg_type = int | Literal["all"]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        have = sum(1 for c in run.desktops() if c.state == "SIGNED_IN")
        want = len(run.desktops()) if arg == "all" else int(arg)
        return have == want, f"{have} desktops signed in, want {want}"


class NoneReturnedTo(Probe):
    """``finesse-a``: no desktop moved back to that node during the run."""

    name = "none_returned_to"
    arg_type = str

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        back = [e for e in run.history.of(Moved) if e.get("to") == arg]
        return not back, f"{len(back)} desktops moved to {arg}"


class FailoverSeconds(Probe):
    """``{count, min, max}``: the desktops' failover times in this phase, in emulated seconds."""

    name = "failover_seconds"
    arg_type = dict[str, float]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        done = [e["seconds"] / run.scale for e in run.phase_events(FailoverDone.NAME, "desktop")]
        return bounds(done, arg, " s")


class DetectionSeconds(Probe):
    """``{event, source, min, max}``: emulated seconds from the phase's first fault to the first event."""

    name = "detection_seconds"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        detected = run.phase_events(arg.get("event", FailoverDetected.NAME), arg.get("source", "desktop"))
        if run.phase_fault_t is None or not detected:
            return False, "no fault or no detection in this phase"
        first = (min(e["t"] for e in detected) - run.phase_fault_t) / run.scale
        return bounds([first], arg, " s")


class HttpErrors(Probe):
    """``{status, min, max}``: HTTP errors the clients saw in this phase."""

    name = "http_errors"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        errors = [
            e for e in run.phase_events(HttpError.NAME) if "status" not in arg or e["status"] == arg["status"]
        ]
        return count(len(errors), arg, f"HTTP {arg.get('status', '')} errors")


class SignInFailures(Probe):
    """``{error, min, max}``: failed sign-ins in this phase (``error``: a part of their message)."""

    name = "sign_in_failures"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        fails = [
            e for e in run.phase_events(SignInFailed.NAME) if arg.get("error", "") in str(e.get("error", ""))
        ]
        return count(len(fails), arg, "failed sign-ins")


class Events(Probe):
    """``{event, source, where, min, max}``: history events of this phase."""

    name = "events"
    arg_type = dict[str, Any]

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        items = [
            e
            for e in run.phase_events(arg["event"], arg.get("source"))
            if all(e.get(k) == v for k, v in (arg.get("where") or {}).items())
        ]
        return count(len(items), arg, f"{arg['event']} events")


class CallsSettled(Probe):
    """``calls_settled: true``: every desktop the ``calls`` steps put on a call shows its own
    participant in the state its kind settles in (finesse_emu/desktop/calls.py, KINDS), as its
    desktop last read it (an Update, or the reload after a failover)."""

    name = "calls_settled"
    arg_type = bool

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        return run.swarm.calls_settled()


class CallInvariants(Probe):
    """``call_invariants: true``: the checker's calls invariants (finesse_emu/runs/check/calls.py)
    over what the desktops saw so far: no call lost or changed across a failover, no dialog
    published twice, no call first heard of by its end."""

    name = "call_invariants"
    arg_type = bool

    async def evaluate(self, run: Run, arg: Any) -> tuple[bool, str]:
        names = [i.name for i in CALL_INVARIANTS]
        report = check_history(run.history.events, Options(time_scale=run.scale), only=names)
        if report.violations:
            return False, "; ".join(v.message for v in report.violations[:3])
        return True, ", ".join(f"{o.name}: {o.status} ({o.counted})" for o in report.outcomes)


for _condition in (
    AllSignedIn(),
    DesktopsOn(),
    NodeStatus(),
    IppaState(),
    CtiActive(),
    Chat(),
    CtiCalls(),
    CallsSettled(),
):
    CONDITIONS.add(_condition)
for _check in (
    Chat(),
    CtiAgent(),
    CtiCalls(),
    PeakRequestRate(),
    NodeLoad(),
    NodeCounter(),
    SignedIn(),
    DesktopsOn(),
    NoneReturnedTo(),
    FailoverSeconds(),
    DetectionSeconds(),
    IppaState("ippa"),
    NodeStatus(),
    HttpErrors(),
    SignInFailures(),
    Events(),
    CallsSettled(),
    CallInvariants(),
):
    CHECKS.add(_check)
