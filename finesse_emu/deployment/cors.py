"""``finesse-emu cors``: the allowed origins of a running deployment's Finesse nodes, through each
node's control plane (``/emu/cors``, with the deployment's admin token).

Finesse's administrators allow origins with CLI commands on each node (Cisco's CORS documentation:
"The CORS support can be enabled by the Administrator for specific origins listed in the allowed
origin list using CLIs"); here one command changes both nodes unless ``--node`` names one. The REST
API follows at once; the Notification Service (Prosody) takes the list the deployment file gives
at its start (docs/finesse.md, CORS).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from emu_base.admin import auth_headers
from finesse_emu.deployment.launcher import STATE_FILE, read_admin_token

NODE_ROLES = ("publisher", "subscriber")


class CorsCommandError(Exception):
    pass


def _nodes(run_dir: Path, name: str | None) -> list[dict[str, Any]]:
    path = run_dir / STATE_FILE
    if not path.exists():
        raise CorsCommandError(f"no deployment running from {run_dir} (finesse-emu up)")
    nodes = [c for c in json.loads(path.read_text())["components"] if c["role"] in NODE_ROLES]
    if name is None:
        return nodes
    chosen = [c for c in nodes if c["name"] == name]
    if not chosen:
        raise CorsCommandError(f"unknown node {name!r}; nodes: {', '.join(c['name'] for c in nodes)}")
    return chosen


async def cors(
    run_dir: Path, action: str, origins: list[str], node: str | None = None
) -> dict[str, list[str]]:
    """``list``, ``add``, ``remove`` or ``set`` the allowed origins of the deployment's nodes (or of
    ``node``): each node's list after the change, by node name. CorsCommandError on a refusal."""
    try:
        headers = auth_headers(read_admin_token(run_dir))
    except ValueError as exc:
        raise CorsCommandError(f"cannot read the deployment's admin token: {exc}") from exc
    out: dict[str, list[str]] = {}
    async with aiohttp.ClientSession(headers=headers) as http:
        for c in _nodes(run_dir, node):
            url = f"http://{c['host']}:{c['ports']['admin']}/emu/cors"
            if action == "list":
                out[c["name"]] = await _call(http, "GET", url, c["name"])
            elif action == "set":
                out[c["name"]] = await _call(http, "PUT", url, c["name"], json={"origins": origins})
            elif action == "add":
                for origin in origins:
                    out[c["name"]] = await _call(http, "POST", url, c["name"], json={"origin": origin})
            elif action == "remove":
                for origin in origins:
                    out[c["name"]] = await _call(http, "DELETE", url, c["name"], params={"origin": origin})
            else:
                raise CorsCommandError(f"unknown action {action!r}: list, add, remove or set")
    return out


async def _call(http: aiohttp.ClientSession, method: str, url: str, name: str, **kwargs: Any) -> list[str]:
    try:
        async with http.request(method, url, **kwargs) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise CorsCommandError(f"{name} refused {method}: {resp.status} {body.get('error', body)}")
            return [str(o) for o in body["origins"]]
    except aiohttp.ClientError as exc:
        raise CorsCommandError(f"{name}: {exc}") from exc
