"""The step kinds of a scenario: one class each, parsing its entry of the file and running it,
added to :data:`STEPS` (docs/scenarios.md, "Steps"; docs/design.md, "Where to add").

A step is a mapping with one kind key (``- wait: 10``); :meth:`StepKind.parse` turns its value
(and the step's other keys, ``timeout`` for ``until``) into the :class:`~.base.Step`'s arguments
before anything starts, :meth:`StepKind.run` applies it to a running :class:`~.context.Run`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, create_model

from emu_base import faults
from emu_base import history_events as ev
from emu_base.admin import auth_headers
from finesse_emu.deployment import chaos
from finesse_emu.deployment.launcher import read_admin_token
from finesse_emu.desktop.calls import KINDS
from finesse_emu.runs.scenario.base import Named, Registry, ScenarioError, Step, number, require
from finesse_emu.runs.scenario.call_control import RingError, ringer
from finesse_emu.runs.scenario.checks import CHECKS, CONDITIONS, active_cti
from finesse_emu.runs.scenario.context import Run

COMPONENTS = (
    *("cti-a", "cti-b", "awdb-a", "awdb-b", "xmpp-a", "xmpp-b", "finesse-a", "finesse-b"),
    *("imp-a", "imp-b"),  # Cisco IM&P, the desktop chat's server cluster
)
# "publisher" / "subscriber": the whole server of that node, its web app and its Notification Service.
ALIASES = {"publisher": ("xmpp-a", "finesse-a"), "subscriber": ("xmpp-b", "finesse-b")}
INJECT = "inject"
CLIENT_ACTIONS = ("close", "crash", "back", "refresh", "glitch", "open", "ready", "not_ready", "chat", "away")
NODES = ("finesse-a", "finesse-b")
# Waiting for a condition is not a measurement: give slow machines at least this much real time.
MIN_UNTIL_SECONDS = 20.0


def closed(name: str, doc: str, fields: dict[str, Any], **schema: Any) -> type[BaseModel]:
    """A mapping of these keys only (a step's value in the scenario file's model, model.py)."""
    config = ConfigDict(extra="forbid", json_schema_extra=schema or None)
    return create_model(name, __config__=config, __doc__=doc, **fields)


def one_of(values: tuple[str, ...]) -> Any:
    return Literal[values]


class StepKind(Named):
    """One kind of step: ``name`` is its key in the scenario file; :meth:`value_type` the type of its
    value in the file's model (model.py: its JSON Schema), ``extra_keys`` its other keys."""

    extra_keys: dict[str, Any] = {}

    def value_type(self) -> Any:
        return Any

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        """The step's arguments from its value (``raw``: the whole step mapping); ScenarioError."""
        raise NotImplementedError

    async def run(self, run: Run, step: Step) -> None:
        raise NotImplementedError


STEPS: Registry[StepKind] = Registry("step")


def fault_actions() -> tuple[str, ...]:
    """The ``fault`` step's actions: ``finesse-emu chaos``'s verbs (from the fault kinds) and inject."""
    return (*chaos.actions(), INJECT)


def targets(value: Any, where: str) -> tuple[str, ...]:
    names = value if isinstance(value, list) else [value]
    out: list[str] = []
    for name in names:
        require(isinstance(name, str), where, f"target must be a component name, got {name!r}")
        if name in ALIASES:
            out.extend(ALIASES[name])
        else:
            require(
                name in COMPONENTS, where, f"unknown target {name!r}; one of {COMPONENTS + tuple(ALIASES)}"
            )
            out.append(name)
    return tuple(out)


class Phase(StepKind):
    """``phase: NAME``: later checks look at the events from here on."""

    name = "phase"

    def value_type(self) -> Any:
        return Annotated[str, Field(min_length=1)]

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        require(isinstance(value, str) and value, where, "phase needs a name")
        return {"name": value}

    async def run(self, run: Run, step: Step) -> None:
        run.phase_index = len(run.history.events)
        run.phase_fault_t = None
        run.history.record("scenario", ev.Phase(name=step.args["name"]))


class Wait(StepKind):
    """``wait: SECONDS`` (emulated seconds)."""

    name = "wait"

    def value_type(self) -> Any:
        return Annotated[float, Field(ge=0, description="emulated seconds")]

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        return {"seconds": number(value, where, "wait")}

    async def run(self, run: Run, step: Step) -> None:
        await asyncio.sleep(step.args["seconds"] * run.scale)


class Until(StepKind):
    """``until: {CONDITION: ARG}`` with ``timeout`` (emulated seconds, default 300): a failed
    expectation when the condition never holds."""

    name = "until"

    extra_keys = {"timeout": Annotated[float, Field(gt=0, description="emulated seconds (default 300)")]}

    def value_type(self) -> Any:
        fields = {c.name: (c.arg_type, None) for c in CONDITIONS}
        return closed("Condition", "One condition.", fields, minProperties=1, maxProperties=1)

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        require(isinstance(value, dict) and len(value) == 1, where, "until needs one condition")
        ((cond, arg),) = value.items()
        kind = CONDITIONS.get(cond)
        require(kind is not None, where, f"unknown condition {cond!r}; one of {CONDITIONS.names()}")
        assert kind is not None
        timeout = number(raw.get("timeout", 300), where, "timeout", 0.001)
        return {"condition": cond, "arg": kind.parse(arg, where), "timeout": timeout}

    async def run(self, run: Run, step: Step) -> None:
        cond, arg = step.args["condition"], step.args["arg"]
        condition = CONDITIONS[cond]
        deadline = time.monotonic() + max(step.args["timeout"] * run.scale, MIN_UNTIL_SECONDS)
        detail = ""
        while time.monotonic() < deadline:
            ok, detail = await condition.evaluate(run, arg)
            if ok:
                run.history.append("scenario", "until", condition=cond, ok=True)
                return
            await asyncio.sleep(max(0.02, 0.2 * run.scale))
        run.history.append("scenario", "until", condition=cond, ok=False, detail=detail)
        within = f"{cond}: {_shown(arg)} within {step.args['timeout']:g} s"
        run.expectation(f"until {cond}", False, f"timed out: {detail}", within, step.index + 1)


def verb_params() -> tuple[str, ...]:
    """The parameters a ``fault`` step may give its verb: every parameter of a fault kind that a
    ``finesse-emu chaos`` verb posts (emu_base/faults.py), as the chaos command takes them."""
    names = (name for kind in faults.KINDS if kind.chaos is not None for name in kind.params)
    return tuple(dict.fromkeys(names))


def verb_kind(action: str, target: str) -> faults.FaultKind | None:
    """The fault kind ``finesse-emu chaos ACTION TARGET`` posts (None: a process verb, or nothing
    there): on a node, a verb its web app lacks is its client-path proxy's (deployment/chaos.py)."""
    component = target.split("-", maxsplit=1)[0]
    kind = faults.KINDS.for_verb(action, component)
    if kind is None and component == faults.FINESSE:
        kind = faults.KINDS.for_verb(action, faults.EDGE)
    return kind


class Fault(StepKind):
    """``fault: {action, target, fault, <the verb's parameters>}``: a ``finesse-emu chaos`` verb on
    components, with the parameters the chaos command takes (``ms``, ``port``, ``direction``,
    ``rate_kb_s`` ...: :func:`verb_params`), checked against the fault registry at load time; or
    ``inject`` of any fault kind their control planes accept (emu_base/faults.py)."""

    name = "fault"

    def value_type(self) -> Any:
        target = one_of(COMPONENTS + tuple(ALIASES))
        fields: dict[str, Any] = {
            "action": (one_of(fault_actions()), ...),
            "target": (target | list[target], ...),  # type: ignore[valid-type]
            "fault": (dict[str, Any] | None, Field(None, description="inject: {kind: ..., ...}")),
        }
        # The number a verb's fault takes (latency: ms), as the fault kinds name it.
        fields |= {k.chaos_value: (float | None, None) for k in faults.KINDS if k.chaos_value}
        # The verbs' other parameters (port, direction, rate_kb_s ...), typed as their fault kind has them.
        for kind in faults.KINDS:
            if kind.chaos is not None:
                for name, param in kind.params.items():
                    fields.setdefault(name, (param.type | None, None))
        return closed("FaultValue", self.__doc__ or "", fields)

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        require(isinstance(value, dict), where, "fault needs action and target")
        action = value.get("action")
        actions = fault_actions()
        require(action in actions, where, f"fault action must be one of {actions}")
        names = targets(value.get("target"), where)
        params = {k: v for k, v in value.items() if k not in ("action", "target", "fault")}
        known = verb_params()
        unknown = sorted(k for k in params if k not in known)
        require(
            not unknown,
            where,
            f"fault takes action, target, fault and a verb's parameters {known}; unknown: {unknown}",
        )
        body = value.get("fault")
        if action == INJECT:
            require(
                not params,
                where,
                f"inject takes its parameters in fault: {{kind: ...}}, not {sorted(params)}",
            )
            require(isinstance(body, dict) and "kind" in body, where, "inject needs fault: {kind: ...}")
            for target in names:
                component = target.split("-")[0]
                require(component in faults.COMPONENT_KINDS, where, f"{target} has no fault API")
                # A node's client-path faults (client_latency ...) go to its proxy (deployment/chaos.py).
                edge_kind = faults.KINDS.get(str(body.get("kind")))
                if (
                    component == faults.FINESSE
                    and edge_kind is not None
                    and faults.EDGE in edge_kind.components
                ):
                    component = faults.EDGE
                try:
                    faults.KINDS.validate(body, component)
                except faults.FaultError as exc:
                    raise ScenarioError(f"{where}: {target}: {exc}") from exc
            return {"action": action, "targets": names, "params": {}, "fault": body}
        require(body is None, where, "fault: {kind: ...} goes with action: inject")
        # Each target's kind for the verb checks the parameters as its control plane would.
        for target in names:
            kind = verb_kind(action, target)
            if kind is None:
                require(not params, where, f"{action} on {target} takes no parameters, got {sorted(params)}")
                continue
            extra = sorted(k for k in params if k not in kind.params)
            require(
                not extra,
                where,
                f"{action} on {target} ({kind.name}) takes {sorted(kind.params)}, not {extra}",
            )
            try:
                kind.validate(params)
            except faults.FaultError as exc:
                raise ScenarioError(f"{where}: {action} on {target} ({kind.name}): {exc}") from exc
        return {"action": action, "targets": names, "params": params, "fault": None}

    async def run(self, run: Run, step: Step) -> None:
        a = step.args
        for target in a["targets"]:
            try:
                if a["action"] == INJECT:
                    message = await chaos.inject(run.run_dir, target, a["fault"])
                else:
                    message = await chaos.chaos(run.run_dir, a["action"], target, None, a["params"])
            except chaos.ChaosError as exc:
                raise ScenarioError(f"{step.where()}: {exc}") from exc
            heals = a["action"] in ("start", chaos.HEAL)
            if heals:
                run.injected.pop(target, None)
            else:
                run.injected[target] = "start" if a["action"] in ("kill", "stop") else chaos.HEAL
            record = run.history.record(
                "scenario",
                (ev.Heal if heals else ev.Fault)(target=target, action=a["action"], detail=message),
            )
            if not heals and run.phase_fault_t is None:
                run.phase_fault_t = record["t"]


class Clients(StepKind):
    """``clients: {action, count, node, seconds, optional}``: a browser or agent action on desktops."""

    name = "clients"

    def value_type(self) -> Any:
        fields = {
            "action": (one_of(CLIENT_ACTIONS), ...),
            "count": (Annotated[int, Field(ge=1)], 1),
            "node": (one_of(NODES) | None, None),
            "seconds": (Annotated[float, Field(ge=0)], 0.0),
            "optional": (bool, False),
        }
        return closed("ClientsValue", self.__doc__ or "", fields)

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        require(isinstance(value, dict), where, "clients needs action, count and node")
        action = value.get("action")
        require(action in CLIENT_ACTIONS, where, f"client action must be one of {CLIENT_ACTIONS}")
        count = int(number(value.get("count", 1), where, "count", 1))
        node = value.get("node")
        require(node is None or node in NODES, where, f"node must be one of {NODES}")
        seconds = number(value.get("seconds", 0), where, "seconds") if action == "glitch" else 0.0
        args = {"action": action, "count": count, "node": node, "seconds": seconds}
        # optional: fewer signed-in desktops than count (all failing over, say) skips the step
        return args | {"optional": bool(value.get("optional", False))}

    async def run(self, run: Run, step: Step) -> None:
        a = step.args
        seconds = a["seconds"] * run.scale
        try:
            agents = run.swarm.act(a["action"], a["count"], a["node"], seconds=seconds, source="scenario")
        except ValueError as exc:
            if a.get("optional"):
                run.history.append("scenario", "client_action_skipped", action=a["action"], reason=str(exc))
                return
            raise ScenarioError(f"{step.where()}: {exc}") from exc
        if a["action"] == "open":
            run.opened_held = True
            run.removed.difference_update(agents)  # a closed browser launched again
        elif a["action"] in ("close", "back", "crash"):
            run.removed.update(agents)


async def cti_admin(run: Run, step: Step, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
    """One request to the active CTI side's control plane (with the deployment's token): its status,
    its JSON answer and the side's name; ScenarioError without an active side or a token."""
    c = active_cti(run)
    if c is None:
        raise ScenarioError(f"{step.where()}: no active CTI side")
    url = f"http://{c['host']}:{c['ports']['admin']}{path}"
    try:
        headers = auth_headers(read_admin_token(run.run_dir))  # the deployment's control-plane token
    except ValueError as exc:
        raise ScenarioError(f"{step.where()}: {exc}") from exc
    async with aiohttp.ClientSession() as http, http.request(method, url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(), str(c["name"])


class Call(StepKind):
    """``call: {agent, ani, dnis, answer_after, talk_time}``: a caller's call on the active CTI side,
    answered and ended by the PG itself: offered to ``agent`` (who must be Ready), or without
    ``agent`` dialling the queue: the agent Ready the longest, else it waits in queue until an agent
    becomes Ready (``answer_after``/``talk_time`` then count from its delivery)."""

    name = "call"

    def value_type(self) -> Any:
        fields: dict[str, Any] = {k: (str | None, None) for k in ("agent", "ani", "dnis")}
        fields |= {k: (Annotated[float, Field(ge=0)], None) for k in ("answer_after", "talk_time")}
        return closed("CallValue", self.__doc__ or "", fields)

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        require(isinstance(value, dict), where, "call needs {agent: ID} or, for the queue, {ani: NUMBER}")
        for key in ("agent", "ani", "dnis"):
            require(
                value.get(key) is None or isinstance(value[key], str), where, f"call {key} must be a string"
            )
        answer = number(value.get("answer_after", 1), where, "answer_after")
        talk = number(value.get("talk_time", 60), where, "talk_time")
        args = {"agent": value.get("agent"), "answer_after": answer, "talk_time": talk}
        return args | {k: value[k] for k in ("ani", "dnis") if value.get(k) is not None}

    async def run(self, run: Run, step: Step) -> None:
        a = step.args
        body = {"answer_after": a["answer_after"], "talk_time": a["talk_time"]}
        body |= {k: a[k] for k in ("ani", "dnis") if k in a}
        if a["agent"] is not None:
            body["agent_id"] = a["agent"]
        status, answer, cti = await cti_admin(run, step, "POST", "/emu/calls", body)
        if status not in (200, 201):
            raise ScenarioError(f"{step.where()}: {cti} refused the call: {answer}")
        # A queued call has no agent yet ("").
        agent = a["agent"] or str(answer.get("agent_id") or "")
        run.history.record(
            "scenario",
            ev.Call(agent=agent, talk_time=a["talk_time"], answer_after=a["answer_after"], cti=cti),
        )
        if answer.get("phase") == "queued":
            run.history.append(
                "scenario", "call_queued", call_id=answer.get("call_id"), ani=a.get("ani"), cti=cti
            )


class Hangup(StepKind):
    """``hangup: {ani: NUMBER}`` or ``hangup: {agent: ID}``: the caller of the call (the one with that
    ANI, or the one the agent is on) hangs up by itself, waiting in queue or not (not the agent's
    drop: docs/cti.md, "Calls")."""

    name = "hangup"

    def value_type(self) -> Any:
        fields = {k: (str | None, None) for k in ("ani", "agent")}
        return closed("HangupValue", self.__doc__ or "", fields, minProperties=1, maxProperties=1)

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        keys = [k for k in ("ani", "agent") if isinstance(value, dict) and isinstance(value.get(k), str)]
        require(len(keys) == 1 and len(value) == 1, where, "hangup needs one of {ani: NUMBER} or {agent: ID}")
        return {keys[0]: value[keys[0]]}

    async def run(self, run: Run, step: Step) -> None:
        a = step.args
        status, listed, cti = await cti_admin(run, step, "GET", "/emu/calls")
        calls = listed.get("calls", []) if status == 200 else []

        def wanted(call: dict[str, Any]) -> bool:
            if "ani" in a:
                return bool(call.get("ani") == a["ani"])
            return a["agent"] in {k.get("agent_id") for k in call.get("connections", [])}

        found = [c for c in calls if c.get("phase") != "ended" and wanted(c)]
        if not found:
            raise ScenarioError(f"{step.where()}: {cti} has no call in progress for {a}")
        call_id = found[0]["call_id"]
        status, answer, _ = await cti_admin(run, step, "POST", f"/emu/calls/{call_id}/hangup")
        if status != 200:
            raise ScenarioError(f"{step.where()}: {cti} refused the hang-up: {answer}")
        run.history.append("scenario", "caller_hangup", call_id=call_id, phase=found[0].get("phase"), cti=cti)


class Calls(StepKind):
    """``calls: {share, kinds, seed}``: ``share`` of the swarm's desktops put on calls, the kinds
    (finesse_emu/desktop/calls.py, KINDS; default all) taken in turn: each desktop follows its
    dialogs and carries out its kind's script through the REST API; a queue call rings through the
    active CTI side's control plane."""

    name = "calls"

    def value_type(self) -> Any:
        fields = {
            "share": (Annotated[float, Field(gt=0, le=1)], ...),
            "kinds": (list[one_of(tuple(KINDS))] | None, None),  # type: ignore[misc]
            "seed": (Annotated[int, Field(ge=0)], 0),
        }
        return closed("CallsValue", self.__doc__ or "", fields)

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        require(isinstance(value, dict), where, "calls needs share (and kinds, seed)")
        share = number(value.get("share"), where, "share")
        require(0 < share <= 1, where, f"share must be in (0, 1], got {share}")
        kinds = value.get("kinds", list(KINDS))
        require(
            isinstance(kinds, list) and kinds and all(k in KINDS for k in kinds),
            where,
            f"kinds must be a list of {', '.join(KINDS)}",
        )
        return {"share": share, "kinds": kinds, "seed": int(number(value.get("seed", 0), where, "seed"))}

    async def run(self, run: Run, step: Step) -> None:
        a = step.args
        try:
            async with aiohttp.ClientSession() as http:
                ring = ringer(run.run_dir, http)
                await run.swarm.place_calls(a["share"], a["kinds"], ring, a["seed"])
        except (ValueError, RingError, TimeoutError) as exc:
            raise ScenarioError(f"{step.where()}: {exc!r}") from exc


class Expect(StepKind):
    """``expect: {name, CHECK: ARG, ...}``: each check is one expectation of the run."""

    name = "expect"

    def value_type(self) -> Any:
        fields: dict[str, Any] = {"name": (Annotated[str, Field(min_length=1)], ...)}
        fields |= {c.name: (c.arg_type, None) for c in CHECKS}
        return closed("ExpectValue", self.__doc__ or "", fields, minProperties=2)

    def parse(self, value: Any, raw: dict[str, Any], where: str) -> dict[str, Any]:
        require(isinstance(value, dict) and value.get("name"), where, "expect needs a name and checks")
        checks = {k: v for k, v in value.items() if k != "name"}
        require(checks, where, "expect needs at least one check")
        bad = set(checks) - set(CHECKS.names())
        require(not bad, where, f"unknown checks {sorted(bad)}; known: {CHECKS.names()}")
        return {"name": value["name"], "checks": {k: CHECKS[k].parse(v, where) for k, v in checks.items()}}

    async def run(self, run: Run, step: Step) -> None:
        for name, arg in step.args["checks"].items():
            ok, detail = await CHECKS[name].evaluate(run, arg)
            run.expectation(f"{step.args['name']}: {name}", ok, detail, _shown(arg), step.index + 1)


def _shown(arg: Any) -> str:
    """A check's argument as the scenario file wrote it (``{finesse-a: 0, finesse-b: all}``)."""
    if isinstance(arg, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in arg.items()) + "}"
    if isinstance(arg, list | tuple):
        return "[" + ", ".join(_shown(v) for v in arg) + "]"
    if isinstance(arg, bool):
        return str(arg).lower()
    return f"{arg:g}" if isinstance(arg, float) else str(arg)


for _step in (Phase(), Wait(), Until(), Fault(), Clients(), Call(), Hangup(), Calls(), Expect()):
    STEPS.add(_step)


def parse_step(raw: Any, index: int, scenario: str) -> Step:
    """One entry of a scenario's ``steps``: a mapping with exactly one step kind's key."""
    where = f"{scenario}: step {index + 1}"
    require(isinstance(raw, dict) and len(raw) >= 1, where, "a step is a mapping with one kind key")
    kinds = [k for k in STEPS.names() if k in raw]
    names = "/".join(STEPS.names())
    require(len(kinds) == 1, where, f"exactly one of {names}, got {sorted(raw)}")
    kind = kinds[0]
    return Step(kind, STEPS[kind].parse(raw[kind], raw, where), index)
