"""CTI-specific admin routes, beside the common /emu/health and /emu/faults.

``GET /emu/sessions``; ``GET /emu/agents[?state=S]``, ``GET /emu/agents/{id}``,
``POST /emu/agents/{id}/state`` ``{"state": "AVAILABLE", "reason_code": 0, "extension": "2000"}``,
``POST /emu/agents/{id}/media/{mrd}/work-to-active``; ``GET /emu/calls``,
``POST /emu/calls`` ``{"agent_id", "ani", "dnis", "variables", "answer_after", "talk_time"}`` (no
``agent_id``: the caller dials the queue and reaches the agent Ready the longest; with nobody Ready
it waits in the queue, in arrival order, until an agent becomes Ready: ``answer_after`` and
``talk_time`` count from then), ``POST /emu/calls/{id}/answer|end|data|hangup`` (``hangup``: the
caller, the party that is no agent, hangs up by itself; a queued caller leaves the queue). Times are
in emulated seconds (scaled like every timer).
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from cti_stub.core import CtiServerCore, Role
from cti_stub.model import ControlError, PeripheralModel
from emu_base.admin import json_error, read_json_object
from emu_base.clock import Clock
from emu_base.control_openapi import BODY, ControlOperation, describe, json_object
from emu_base.timers import Timers
from ged188 import AgentState


class CtiShell(Protocol):
    """What the routes need of the asyncio shell (:class:`cti_stub.server.CtiServer` has it); the
    shell imports this module, so naming the class here would close an import cycle."""

    side: str
    core: CtiServerCore
    model: PeripheralModel
    timers: Timers
    clock: Clock

    def pump(self) -> None:
        """Hand what the core produced to the sockets (after every admin input)."""


_STATE: dict[str, Any] = {"type": "string", "description": "an AgentState name (READY, NOT_READY, ...)"}
_SECONDS: dict[str, Any] = {"type": "number", "minimum": 0, "description": "emulated seconds (x time_scale)"}
# The CTI stub's own routes (docs/cti.md): 409 on the idle side, or for a change the state refuses.
CTI_OPERATIONS = {
    ("GET", "/emu/sessions"): ControlOperation("The CTI sessions open on this side", (200,)),
    ("GET", "/emu/agents"): ControlOperation(
        "The agents, optionally those in one state",
        (200,),
        query=({"name": "state", "in": "query", "required": False, "schema": _STATE},),
    ),
    ("GET", "/emu/agents/{agent_id}"): ControlOperation("One agent", (200, 404)),
    ("POST", "/emu/agents/{agent_id}/state"): ControlOperation(
        "Change an agent's voice state as the PG would (active side)",
        (200, 404, 409, *BODY),
        json_object(
            {
                "state": _STATE,
                "reason_code": {"type": "integer", "minimum": 0, "maximum": 65535},
                "extension": {"type": "string"},
            },
            ("state",),
        ),
    ),
    ("POST", "/emu/agents/{agent_id}/media/{mrd}/work-to-active"): ControlOperation(
        "A non-voice MRD from WORK to active (active side)", (200, 400, 404, 409)
    ),
    ("GET", "/emu/calls"): ControlOperation(
        "The calls in progress, queued ones included (phase queued)", (200,)
    ),
    ("POST", "/emu/calls"): ControlOperation(
        "Ring a call at an agent's extension, or (no agent_id) at the agent Ready the longest, or queue it "
        "until one is Ready (active side)",
        (201, 404, 409, *BODY),
        json_object(
            {
                "agent_id": {"type": "string"},
                "ani": {"type": "string"},
                "dnis": {"type": "string"},
                "variables": {"type": "object", "additionalProperties": {"type": "string"}},
                "answer_after": _SECONDS,
                "talk_time": _SECONDS,
            },
            (),
        ),
    ),
    ("POST", "/emu/calls/{call_id}/{action}"): ControlOperation(
        "Answer, end or update a call, or its caller hangs up (answer, end, data: {variables}, hangup)",
        (200, 404, 409, *BODY),
        json_object({"variables": {"type": "object", "additionalProperties": {"type": "string"}}}),
    ),
}


def add_cti_routes(app: web.Application, server: CtiShell) -> None:
    core, model = server.core, server.model
    scale = server.timers.time_scale

    def need_active() -> web.Response | None:
        if core.role is not Role.ACTIVE:
            return json_error(409, f"CTI side {server.side} is {core.role.value}, not active")
        return None

    def control_error(exc: ControlError) -> web.Response:
        code = exc.failure.name if exc.failure else exc.status.name if exc.status else "ERROR"
        status = 404 if code == "CF_INVALID_AGENT_ID_SPECIFIED" else 409
        return web.json_response({"error": str(exc), "code": code}, status=status)

    def agent_json(agent_id: str) -> dict[str, Any]:
        agent = model.agents[agent_id]
        return {**agent.to_json(), "login": agent.record.login, "team_id": agent.record.team_id}

    async def sessions(_: web.Request) -> web.Response:
        return web.json_response({"sessions": [s.to_json() for s in core.sessions.values()]})

    async def agents(request: web.Request) -> web.Response:
        state = request.query.get("state")
        rows = [
            agent_json(a.id) for a in model.agents.values() if state is None or a.state.name == state.upper()
        ]
        return web.json_response({"agents": rows})

    async def agent(request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        if agent_id not in model.agents:
            return json_error(404, f"unknown agent {agent_id!r}")
        return web.json_response(agent_json(agent_id))

    async def set_state(request: web.Request) -> web.Response:
        if (resp := need_active()) is not None:
            return resp
        body = await read_json_object(request)
        try:
            state = AgentState[str(body.get("state", "")).upper()]
        except KeyError:
            return json_error(400, f"state must be one of {[s.name for s in AgentState]}")
        reason = body.get("reason_code", 0)
        if not isinstance(reason, int) or isinstance(reason, bool) or not 0 <= reason <= 0xFFFF:
            return json_error(400, "reason_code must be an integer from 0 to 65535 (a USHORT on the wire)")
        extension = body.get("extension")
        if extension is not None and not (
            isinstance(extension, str)
            and extension.isascii()
            and extension.isprintable()
            and 0 < len(extension) < 64
        ):
            # AgentInstrument is an ASCII STRING of at most 64 bytes, NUL included.
            return json_error(400, "extension must be 1 to 63 printable ASCII characters")
        try:
            core.admin_set_state(
                server.clock.wall(), request.match_info["agent_id"], state, reason, extension=extension
            )
        except ControlError as exc:
            return control_error(exc)
        server.pump()
        return web.json_response(agent_json(request.match_info["agent_id"]))

    async def work_to_active(request: web.Request) -> web.Response:
        if (resp := need_active()) is not None:
            return resp
        mrd = request.match_info["mrd"]
        if not (mrd.isascii() and mrd.isdigit() and len(mrd) <= 10):
            return json_error(400, "the MRD id is a number")
        try:
            core.work_to_active(server.clock.wall(), request.match_info["agent_id"], int(mrd))
        except ControlError as exc:
            return control_error(exc)
        server.pump()
        return web.json_response(agent_json(request.match_info["agent_id"]))

    async def calls(_: web.Request) -> web.Response:
        return web.json_response({"calls": [c.to_json() for c in model.calls.values()]})

    async def inject(request: web.Request) -> web.Response:
        if (resp := need_active()) is not None:
            return resp
        body = await read_json_object(request)
        agent_id = body.get("agent_id")
        # No agent named: a caller dialling the queue (the agent Ready the longest, else it waits).
        if agent_id is not None and not isinstance(agent_id, str):
            return json_error(400, "agent_id must be a string (or absent: routed to a Ready agent)")
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return json_error(400, "variables must be an object")

        def seconds(name: str) -> float | None:
            value = body.get(name)
            if value is None:
                return None
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0")
            return float(value) * scale

        try:
            answer_after, talk_time = seconds("answer_after"), seconds("talk_time")
        except ValueError as exc:
            return json_error(400, str(exc))
        try:
            call_id = core.inject_call(
                server.clock.wall(),
                agent_id,
                ani=str(body.get("ani", "")),
                dnis=str(body.get("dnis", "")),
                variables={str(k): str(v) for k, v in variables.items()},
                answer_after=answer_after,
                talk_time=talk_time,
            )
        except ControlError as exc:
            return control_error(exc)
        server.pump()
        return web.json_response(model.calls[call_id].to_json(), status=201)

    async def call_action(request: web.Request) -> web.Response:
        if (resp := need_active()) is not None:
            return resp
        try:
            call_id = int(request.match_info["call_id"], 0)
        except ValueError:
            return json_error(400, "call id must be an integer")
        action = request.match_info["action"]
        now = server.clock.wall()
        try:
            if action == "answer":
                core.answer_call(now, call_id)
            elif action == "end":
                core.end_call(now, call_id)
            elif action == "hangup":
                core.caller_hangup(now, call_id)
            elif action == "data":
                body = await read_json_object(request)
                variables = body.get("variables", {})
                if not isinstance(variables, dict):
                    return json_error(400, "variables must be an object")
                core.update_call_data(now, call_id, {str(k): str(v) for k, v in variables.items()})
            else:
                return json_error(404, f"unknown call action {action!r}")
        except ControlError as exc:
            return control_error(exc)
        server.pump()
        return web.json_response({"call_id": call_id, "action": action})

    app.router.add_get("/emu/sessions", sessions)
    app.router.add_get("/emu/agents", agents)
    app.router.add_get("/emu/agents/{agent_id}", agent)
    app.router.add_post("/emu/agents/{agent_id}/state", set_state)
    app.router.add_post("/emu/agents/{agent_id}/media/{mrd}/work-to-active", work_to_active)
    app.router.add_get("/emu/calls", calls)
    app.router.add_post("/emu/calls", inject)
    app.router.add_post("/emu/calls/{call_id}/{action}", call_action)
    describe(app, CTI_OPERATIONS)
