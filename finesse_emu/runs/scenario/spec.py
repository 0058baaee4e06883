"""The scenario file format, parsed and checked before anything starts (docs/scenarios.md).

Times in a scenario are seed seconds (what the seed document says: "every 20 seconds"); the runner
multiplies them by the run's time_scale, like every timer of the emulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

COMPONENTS = ("cti-a", "cti-b", "awdb-a", "awdb-b", "xmpp-a", "xmpp-b", "finesse-a", "finesse-b")
# "publisher" / "subscriber": the whole server of that node, its web app and its Notification Service.
ALIASES = {"publisher": ("xmpp-a", "finesse-a"), "subscriber": ("xmpp-b", "finesse-b")}
FAULT_ACTIONS = ("kill", "stop", "start", "hang", "heal", "latency", "inject")
CLIENT_ACTIONS = ("close", "crash", "back", "refresh", "glitch", "open", "ready", "not_ready", "chat", "away")
NODES = ("finesse-a", "finesse-b")
STEP_KINDS = ("phase", "wait", "until", "fault", "clients", "call", "expect")
CONDITIONS = ("all_signed_in", "desktops_on", "node_status", "ippa_state", "cti_active")
CHECKS = (
    "chat",
    "cti_agent",
    "peak_request_rate",
    "signed_in",
    "desktops_on",
    "none_returned_to",
    "failover_seconds",
    "detection_seconds",
    "ippa",
    "node_status",
    "http_errors",
    "sign_in_failures",
    "events",
)


class ScenarioError(ValueError):
    """A scenario file that cannot run: the message names the step and what is wrong."""


@dataclass(frozen=True)
class Step:
    kind: str  # phase | wait | until | fault | clients | expect
    args: dict[str, Any]
    index: int

    def where(self) -> str:
        return f"step {self.index + 1} ({self.kind})"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed_section: str
    agents: int
    time_scale: float
    swarm: dict[str, Any]
    steps: tuple[Step, ...]
    path: Path | None = None
    tags: tuple[str, ...] = field(default=())
    cti_options: tuple[str, ...] = ()  # cti_stub flags (deployment.cti: load, idle_mode, ...)
    node_options: dict[str, Any] = field(default_factory=dict)  # deployment.finesse


def load(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    return parse(data, path)


def _require(cond: object, where: str, message: str) -> None:
    if not cond:
        raise ScenarioError(f"{where}: {message}")


def _number(value: Any, where: str, name: str, minimum: float = 0.0) -> float:
    _require(
        isinstance(value, int | float) and not isinstance(value, bool) and value >= minimum,
        where,
        f"{name} must be a number >= {minimum:g}, got {value!r}",
    )
    return float(value)


def parse(data: Any, path: Path | None = None) -> Scenario:
    where = str(path or "scenario")
    _require(isinstance(data, dict), where, "a scenario is a mapping")
    unknown = set(data) - {"name", "description", "seed", "deployment", "swarm", "steps", "tags"}
    _require(not unknown, where, f"unknown keys {sorted(unknown)}")
    _require(isinstance(data.get("name"), str) and data["name"], where, "name is required")
    dep = data.get("deployment") or {}
    _require(isinstance(dep, dict), where, "deployment must be a mapping")
    unknown = set(dep) - {"agents", "time_scale", "cti", "finesse"}
    _require(not unknown, where, f"unknown deployment keys {sorted(unknown)}")
    agents = int(_number(dep.get("agents", 40), where, "deployment.agents", 1))
    time_scale = _number(dep.get("time_scale", 0.05), where, "deployment.time_scale", 1e-4)
    from finesse_emu.deployment.launcher import cti_options, node_options

    try:
        cti = cti_options(dep.get("cti") or {}, f"{where}: deployment")
        node = node_options(dep.get("finesse") or {}, f"{where}: deployment")
    except ValueError as exc:
        raise ScenarioError(str(exc)) from exc
    swarm = dict(data.get("swarm") or {})
    unknown = set(swarm) - {
        "desktops",
        "ippa",
        "gadgets",
        "gadget_kind",
        "hold",
        "token_lifetime",
        "publisher_share",
        "bypass_cache",
        "preload_secondary",
        "rtt_ms",
        "processes",
    }
    _require(not unknown, where, f"unknown swarm keys {sorted(unknown)}")
    desktops = int(_number(swarm.get("desktops", agents), where, "swarm.desktops", 0))
    _require(desktops <= agents, where, f"swarm.desktops ({desktops}) exceeds deployment.agents ({agents})")
    processes = _number(swarm.get("processes", 1), where, "swarm.processes", 1)
    _require(processes == int(processes), where, "swarm.processes must be a whole number")
    if processes > 1:
        # The other processes are plain `finesse-emu swarm` slices: desktops only, all at once.
        extra = sorted(k for k in ("ippa", "hold", "token_lifetime") if swarm.get(k))
        _require(not extra, where, f"swarm.processes > 1 does not go with {extra}")
    steps_raw = data.get("steps")
    _require(isinstance(steps_raw, list) and steps_raw, where, "steps must be a non-empty list")
    steps = tuple(_step(raw, i, where) for i, raw in enumerate(steps_raw))
    tags = data.get("tags") or []
    _require(isinstance(tags, list), where, "tags must be a list")
    return Scenario(
        name=data["name"],
        description=str(data.get("description", "")),
        seed_section=str(data.get("seed", "")),
        agents=agents,
        time_scale=time_scale,
        swarm=swarm,
        steps=steps,
        cti_options=tuple(cti),
        node_options=node,
        path=path,
        tags=tuple(str(t) for t in tags),
    )


def _targets(value: Any, where: str) -> tuple[str, ...]:
    names = value if isinstance(value, list) else [value]
    out: list[str] = []
    for name in names:
        _require(isinstance(name, str), where, f"target must be a component name, got {name!r}")
        if name in ALIASES:
            out.extend(ALIASES[name])
        else:
            _require(
                name in COMPONENTS, where, f"unknown target {name!r}; one of {COMPONENTS + tuple(ALIASES)}"
            )
            out.append(name)
    return tuple(out)


def _step(raw: Any, index: int, scenario: str) -> Step:
    where = f"{scenario}: step {index + 1}"
    _require(isinstance(raw, dict) and len(raw) >= 1, where, "a step is a mapping with one kind key")
    kinds = [k for k in STEP_KINDS if k in raw]
    _require(len(kinds) == 1, where, f"exactly one of {'/'.join(STEP_KINDS)}, got {sorted(raw)}")
    kind = kinds[0]
    value = raw[kind]
    if kind == "phase":
        _require(isinstance(value, str) and value, where, "phase needs a name")
        return Step(kind, {"name": value}, index)
    if kind == "wait":
        return Step(kind, {"seconds": _number(value, where, "wait")}, index)
    if kind == "until":
        _require(isinstance(value, dict) and len(value) == 1, where, "until needs one condition")
        ((cond, arg),) = value.items()
        _require(cond in CONDITIONS, where, f"unknown condition {cond!r}; one of {CONDITIONS}")
        timeout = _number(raw.get("timeout", 300), where, "timeout", 0.001)
        return Step(kind, {"condition": cond, "arg": arg, "timeout": timeout}, index)
    if kind == "fault":
        _require(isinstance(value, dict), where, "fault needs action and target")
        action = value.get("action")
        _require(action in FAULT_ACTIONS, where, f"fault action must be one of {FAULT_ACTIONS}")
        targets = _targets(value.get("target"), where)
        if action == "latency":
            _number(value.get("ms"), where, "ms")
        body = value.get("fault")
        if action == "inject":
            _require(isinstance(body, dict) and "kind" in body, where, "inject needs fault: {kind: ...}")
        return Step(kind, {"action": action, "targets": targets, "ms": value.get("ms"), "fault": body}, index)
    if kind == "clients":
        _require(isinstance(value, dict), where, "clients needs action, count and node")
        action = value.get("action")
        _require(action in CLIENT_ACTIONS, where, f"client action must be one of {CLIENT_ACTIONS}")
        count = int(_number(value.get("count", 1), where, "count", 1))
        node = value.get("node")
        _require(node is None or node in NODES, where, f"node must be one of {NODES}")
        seconds = _number(value.get("seconds", 0), where, "seconds") if action == "glitch" else 0.0
        args = {"action": action, "count": count, "node": node, "seconds": seconds}
        # optional: fewer signed-in desktops than count (all failing over, say) skips the step
        return Step(kind, args | {"optional": bool(value.get("optional", False))}, index)
    if kind == "call":
        _require(
            isinstance(value, dict) and isinstance(value.get("agent"), str), where, "call needs agent: ID"
        )
        answer = _number(value.get("answer_after", 1), where, "answer_after")
        talk = _number(value.get("talk_time", 60), where, "talk_time")
        return Step(kind, {"agent": value["agent"], "answer_after": answer, "talk_time": talk}, index)
    _require(isinstance(value, dict) and value.get("name"), where, "expect needs a name and checks")
    checks = {k: v for k, v in value.items() if k != "name"}
    _require(checks, where, "expect needs at least one check")
    bad = set(checks) - set(CHECKS)
    _require(not bad, where, f"unknown checks {sorted(bad)}; known: {CHECKS}")
    return Step(kind, {"name": value["name"], "checks": checks}, index)
