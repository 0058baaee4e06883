"""``finesse-emu chaos ACTION COMPONENT``: faults on the embedded deployment started by ``up``.

| action | effect |
|---|---|
| kill | SIGKILL: the component dies at once and stays dead (like ``docker compose kill``) |
| stop | SIGTERM: an orderly stop (like ``docker compose stop``) |
| start | restart a stopped or killed component with its own command line |
| hang | stop answering: CTI ignores heartbeats, AWDB never answers, Finesse web app down, |
| | Prosody frozen (SIGSTOP) |
| heal | clear every fault of the component (and resume a frozen Prosody) |
| latency --ms N | delay answers: CTI messages, AWDB queries; on a node: its clients' bytes |
| bandwidth --rate-kb-s N, slicer --size-bytes N, timeout, reset | a node's clients' bytes |

On a node (finesse-a, finesse-b), the client-path faults (``client_latency`` ...: ``--port``,
``--direction``) go to the node's client-path proxy (edge-a, edge-b), and ``heal`` heals both.

The fault verbs (hang, latency, and any other) come from the fault kinds (``emu_base/faults.py``:
each kind names the verb that posts it and the components that accept it); only the process
verbs, ``heal`` and Prosody's SIGSTOP/SIGCONT are chaos' own.

Requests to the control planes carry the deployment's token (``launcher.read_admin_token``: the
file named by deployment.json, else $FINESSE_EMU_ADMIN_TOKEN), so chaos needs no option for it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from emu_base import faults
from emu_base.admin import TOKEN_ENV, auth_headers
from emu_base.procs import adopt, pid_alive
from finesse_emu.deployment.launcher import STATE_FILE, read_admin_token

PROCESS_ACTIONS = ("kill", "stop", "start")
HEAL = "heal"
# Prosody processes, without a control plane: the Notification Services and Cisco IM&P's nodes.
PROSODY_ROLES = ("xmpp", "imp")
# The launcher's roles -> the component kinds of emu_base.faults (Prosody, "xmpp", has no control plane).
ROLE_KINDS = {
    "cti": faults.CTI,
    "awdb": faults.AWDB,
    "publisher": faults.FINESSE,
    "subscriber": faults.FINESSE,
    "edge": faults.EDGE,
}
NODE_ROLES = ("publisher", "subscriber")


def actions() -> tuple[str, ...]:
    """Every verb of ``finesse-emu chaos`` on a component: the process verbs, the fault kinds' verbs
    (emu_base/faults.py), heal."""
    return (*PROCESS_ACTIONS, *faults.KINDS.chaos_verbs(), HEAL)


def fault_for(
    action: str, role: str, value: float | None, params: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str] | None:
    """The fault that ``chaos ACTION`` posts to a component of this role and how to say it (None:
    not available there); ChaosError when the verb needs a number it was not given. ``params``:
    other parameters given (``port``, ``direction``...), those the kind takes."""
    kind = faults.KINDS.for_verb(action, ROLE_KINDS.get(role, ""))
    if kind is None:
        return None
    given = {k: v for k, v in (params or {}).items() if v is not None and k in kind.params}
    if kind.chaos_value is not None and value is not None:
        given[kind.chaos_value] = value
    if kind.chaos_value is None:
        return {"kind": kind.name, **given}, kind.name
    if kind.chaos_value not in given:
        raise ChaosError(f"{action} needs --{kind.chaos_value.replace('_', '-')} N")
    shown = f"+{given[kind.chaos_value]:g} {kind.chaos_value}"
    return {"kind": kind.name, **given}, shown


class ChaosError(Exception):
    pass


def _state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / STATE_FILE
    if not path.exists():
        raise ChaosError(f"no deployment running from {run_dir} (finesse-emu up)")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def _component(state: dict[str, Any], name: str) -> dict[str, Any]:
    for c in state["components"]:
        if c["name"] == name:
            return dict(c)
    names = ", ".join(c["name"] for c in state["components"])
    raise ChaosError(f"unknown component {name!r}; components: {names}")


def _headers(run_dir: Path) -> dict[str, str]:
    """The control planes' Authorization header for the deployment running from run_dir."""
    try:
        return auth_headers(read_admin_token(run_dir))
    except ValueError as exc:
        raise ChaosError(f"cannot read the deployment's admin token: {exc}") from exc


def _refused(name: str, what: str, status: int, text: str) -> ChaosError:
    hint = ""
    if status == 401:
        hint = f" (wrong or no admin token: chaos sends the file {STATE_FILE} names, else ${TOKEN_ENV})"
    return ChaosError(f"{name} refused {what}: {status} {text}{hint}")


async def _clear(c: dict[str, Any], headers: dict[str, str]) -> int:
    url = f"http://{c['host']}:{c['ports']['admin']}/emu/faults"
    async with aiohttp.ClientSession() as http, http.delete(url, headers=headers) as resp:
        if resp.status != 200:
            raise _refused(c["name"], "heal", resp.status, await resp.text())
        cleared: int = (await resp.json()).get("cleared", 0)
        return cleared


async def _post_fault(c: dict[str, Any], fault: dict[str, Any], headers: dict[str, str]) -> None:
    url = f"http://{c['host']}:{c['ports']['admin']}/emu/faults"
    async with aiohttp.ClientSession() as http, http.post(url, json=fault, headers=headers) as resp:
        if resp.status != 201:
            raise _refused(c["name"], str(fault), resp.status, await resp.text())


def _edge_of(state: dict[str, Any], c: dict[str, Any]) -> dict[str, Any] | None:
    """A node's client-path proxy (None: the deployment runs without)."""
    if c["role"] not in NODE_ROLES:
        return None
    name = "edge-" + c["name"].rsplit("-", 1)[1]
    return next((dict(e) for e in state["components"] if e["name"] == name and e["role"] == "edge"), None)


async def chaos(
    run_dir: Path, action: str, name: str, ms: float | None = None, params: dict[str, Any] | None = None
) -> str:
    state = _state(run_dir)
    c = _component(state, name)
    edge = _edge_of(state, c)
    # A client-path verb on a node (latency: the node has none of its own) is its proxy's.
    if (
        edge is not None
        and faults.KINDS.for_verb(action, faults.FINESSE) is None
        and faults.KINDS.for_verb(action, faults.EDGE) is not None
    ):
        found = fault_for(action, "edge", ms, params)
        assert found is not None
        await _post_fault(edge, found[0], _headers(run_dir))
        return f"{name} (clients' path, {edge['name']}): {found[1]}"
    pid = int(c["pid"]) if c.get("pid") else 0
    if action == "kill":
        if not pid_alive(pid):
            raise ChaosError(f"{name} is already down")
        os.kill(pid, signal.SIGKILL)
        return f"{name} killed (pid {pid})"
    if action == "stop":
        if not pid_alive(pid):
            raise ChaosError(f"{name} is already down")
        os.kill(pid, signal.SIGTERM)
        return f"{name} stopping (pid {pid})"
    if action == "start":
        if pid_alive(pid):
            raise ChaosError(f"{name} is running (pid {pid})")
        log = Path(c["log"]) if c.get("log") else run_dir / f"{name}.restart.log"
        # Its command line names its token file (if any): never a token from this shell's environment.
        env = {**os.environ, TOKEN_ENV: ""}
        with log.open("ab") as out:
            # Popen, not asyncio's: the component must outlive this short-lived command.
            proc = subprocess.Popen(  # noqa: ASYNC220
                c["command"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
        # Inside a scenario run this process lives on and is its parent: the run's deployment reaps
        # it when it dies (procs.reap_adopted). A `finesse-emu chaos` command exits at once, and the
        # component is re-parented to init, which reaps it.
        adopt(proc)
        for item in state["components"]:
            if item["name"] == name:
                item["pid"] = proc.pid
        (run_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        return f"{name} started (pid {proc.pid})"
    if not pid_alive(pid):
        raise ChaosError(f"{name} is down: only 'start' applies")
    if c["role"] in PROSODY_ROLES:
        if action == "hang":
            os.kill(pid, signal.SIGSTOP)
            return f"{name} frozen (SIGSTOP)"
        if action == "heal":
            os.kill(pid, signal.SIGCONT)
            return f"{name} resumed"
        raise ChaosError(f"{action} is not available for {name}")
    if action == HEAL:
        url = f"http://{c['host']}:{c['ports']['admin']}/emu/faults"
        async with aiohttp.ClientSession() as http, http.delete(url, headers=_headers(run_dir)) as resp:
            if resp.status != 200:
                raise _refused(name, "heal", resp.status, await resp.text())
            cleared = (await resp.json()).get("cleared", 0)
        if edge is not None:
            cleared += await _clear(edge, _headers(run_dir))
        return f"{name}: {cleared} fault(s) cleared"
    if action not in actions():
        raise ChaosError(f"unknown action {action!r}; actions: {', '.join(actions())}")
    found = fault_for(action, c["role"], ms, params)
    if found is None:
        raise ChaosError(f"{action} is not available for {name}")
    fault, said = found
    await _post_fault(c, fault, _headers(run_dir))
    return f"{name}: {said}"


async def inject(run_dir: Path, name: str, fault: dict[str, Any]) -> str:
    """Any fault a component's ``/emu/faults`` accepts (e.g. ``{"kind": "deactivate"}`` on a CTI side)."""
    state = _state(run_dir)
    c = _component(state, name)
    if c["role"] in PROSODY_ROLES:
        raise ChaosError(f"{name} has no fault API (use kill, stop, hang, heal)")
    kind = faults.KINDS.get(str(fault.get("kind")))
    edge = _edge_of(state, c)
    if edge is not None and kind is not None and faults.EDGE in kind.components:
        c = edge  # a client-path fault on a node: its proxy's
    await _post_fault(c, fault, _headers(run_dir))
    return f"{name}: {fault}"


CLIENT_ACTIONS = ("close", "back", "crash", "refresh", "glitch")


async def chaos_clients(
    run_dir: Path, action: str, target: str, count: int = 1, node: str | None = None, seconds: float = 60.0
) -> str:
    """A browser action on desktops of the swarm running against this deployment (its swarm.json):
    ``target`` is ``desktops`` (``count`` of them, of ``node``) or ``agent:ID``."""
    path = run_dir / "swarm.json"
    if not path.exists():
        raise ChaosError(f"no swarm running against {run_dir} (finesse-emu swarm)")
    control = json.loads(path.read_text())["control"]
    body: dict[str, Any] = {"action": action, "count": count, "seconds": seconds}
    if target.startswith("agent:"):
        body["agent"] = target.split(":", 1)[1]
    elif target == "desktops":
        body["node"] = node
    else:
        raise ChaosError(f"browser actions target desktops or agent:ID, not {target!r}")
    headers = _headers(run_dir)  # the swarm takes the deployment's token (finesse-emu swarm)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://{control}/emu/clients", json=body, headers=headers) as resp,
        ):
            answer = await resp.json()
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise ChaosError(f"the swarm at {control} does not answer: {exc}") from exc
    if resp.status == 401:
        raise _refused("the swarm", action, resp.status, str(answer.get("error", answer)))
    if resp.status != 200:
        raise ChaosError(str(answer.get("error", answer)))
    return f"{action}: {', '.join(answer['agents'])}"
