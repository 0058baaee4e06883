"""Calls from outside for the desktops of a running deployment: an outside caller rings an agent
through the CTI server's control plane (``POST /emu/calls`` on the active side; cti_stub/admin.py).

Used by the ``calls`` step (steps.py) and by tests that put a swarm's desktops on calls
(``Swarm.place_calls``'s ``ring``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from emu_base.admin import auth_headers
from finesse_emu.deployment.launcher import read_admin_token
from finesse_emu.desktop.client import DesktopClient

# What the outside caller's number shows (ANI): not an agent's extension in the generated directory.
CALLER = "5550123"


class RingError(Exception):
    """No CTI side took the call."""


def ringer(run_dir: Path, http: aiohttp.ClientSession) -> Callable[[DesktopClient], Awaitable[None]]:
    """A ``ring`` for ``Swarm.place_calls``: the call goes to whichever CTI side is active (the idle
    one answers 409, so each is tried, the side that took the last call first)."""
    state = json.loads((run_dir / "deployment.json").read_text())
    sides = [c for c in state["components"] if c.get("role") == "cti"]
    headers = auth_headers(read_admin_token(run_dir))

    async def ring(desktop: DesktopClient) -> None:
        refused: list[str] = []
        for side in list(sides):
            url = f"http://{side['host']}:{side['ports']['admin']}/emu/calls"
            body = {"agent_id": desktop.agent.id, "ani": CALLER}
            try:
                async with http.post(url, json=body, headers=headers) as resp:
                    if resp.status == 201:
                        sides.remove(side)
                        sides.insert(0, side)
                        return
                    refused.append(f"{side['name']}: {resp.status} {await resp.text()}")
            except aiohttp.ClientError as exc:  # a side that is down
                refused.append(f"{side['name']}: {exc}")
        raise RingError(f"no CTI side rang agent {desktop.agent.id}: {'; '.join(refused)}")

    return ring
