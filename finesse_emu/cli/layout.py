"""``finesse-emu layout show|update-cuic-gadget-url``: the desktop layout of running Finesse nodes.

``update-cuic-gadget-url`` is the emulator's ``utils finesse layout updateCuicGadgetUrl``: "Cisco
Finesse 12.5 (1) provides CLI utils finesse layout updateCuicGadgetUrl, which automatically changes
the JSP references to XML with no functional changes." It rewrites the CUIC gadgets' JSP URLs of
every layout (default and team layouts) of each node into their XML ones, live, through the node's
control plane (``POST /emu/layout/update-cuic-gadget-url``); desktops that load afterwards load XML.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from finesse_emu.cli import EXIT_OK, CannotRun, command
from finesse_emu.cli.options import add_run_dir, admin_token

ACTIONS = ("show", "update-cuic-gadget-url")
FINESSE_ROLES = ("publisher", "subscriber")


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=ACTIONS, help="show the layouts, or rewrite CUIC JSP gadget URLs as XML")
    p.add_argument("--node", action="append", help="finesse-a or finesse-b (repeat; default both)")
    p.add_argument(
        "--admin-url",
        action="append",
        help="a node's control plane, e.g. http://127.0.10.7:8089, instead of the running deployment's",
    )
    p.add_argument(
        "--admin-token",
        type=admin_token,
        help="the control planes' token with --admin-url (default $FINESSE_EMU_ADMIN_TOKEN)",
    )
    p.add_argument("--json", action="store_true", help="print the nodes' answers as JSON")
    add_run_dir(p)


def _targets(args: argparse.Namespace) -> tuple[dict[str, str], str | None]:
    """{node name: control-plane URL} and the token to send."""
    from finesse_emu.deployment.launcher import STATE_FILE, read_admin_token

    if args.admin_url:
        urls = {url: url.rstrip("/") for url in args.admin_url}
        return urls, args.admin_token or read_admin_token(None)
    run_dir = Path(args.run_dir)
    try:
        state = json.loads((run_dir / STATE_FILE).read_text())
        token = read_admin_token(run_dir)
    except (OSError, ValueError) as exc:
        raise CannotRun(
            f"no deployment running from {run_dir} (finesse-emu up), or --admin-url: {exc}"
        ) from exc
    nodes = {
        c["name"]: f"http://{c['host']}:{c['ports']['admin']}"
        for c in state.get("components", [])
        if c.get("role") in FINESSE_ROLES and c.get("ports", {}).get("admin")
    }
    wanted = args.node or sorted(nodes)
    unknown = [n for n in wanted if n not in nodes]
    if unknown:
        raise CannotRun(f"unknown Finesse node(s) {unknown}; the deployment's: {sorted(nodes)}")
    return {n: nodes[n] for n in wanted}, token


async def _call(targets: dict[str, str], token: str | None, action: str) -> dict[str, dict[str, Any]]:
    import aiohttp

    from emu_base.admin import auth_headers

    out: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for name, base in targets.items():
            if action == "show":
                request = http.get(f"{base}/emu/layout", headers=auth_headers(token))
            else:
                request = http.post(f"{base}/emu/layout/update-cuic-gadget-url", headers=auth_headers(token))
            try:
                async with request as resp:
                    text = await resp.text()
                    if resp.status != 200:
                        raise CannotRun(f"{name} refused {action}: {resp.status} {text}")
                    out[name] = json.loads(text)
            except aiohttp.ClientError as exc:
                raise CannotRun(f"{name} ({base}) unreachable: {exc}") from exc
    return out


def _describe(name: str, answer: dict[str, Any], action: str) -> list[str]:
    lines = [f"{name}:"]
    if action != "show":
        lines.append(f"  CUIC gadget URLs changed from JSP to XML: {answer['changed']}")
    lines.append(f"  default layout: {', '.join(answer['default']) or '(no gadgets)'}")
    for team, urls in answer["teams"].items():
        lines.append(f"  team {team}: {', '.join(urls) or '(no gadgets)'}")
    xml, jsp = answer["xml_gadgets_per_user"], answer["jsp_gadgets_per_user"]
    lines.append(
        f"  per user on average: {xml:g} XML, {jsp:g} JSP gadgets "
        f"({answer['users']} users, {answer['vcpus']} vCPUs)"
    )
    if answer.get("capacity_warning"):
        lines.append(f"  WARNING: {answer['capacity_warning']}")
    return lines


@command("layout", "show the nodes' desktop layouts, or rewrite CUIC JSP gadget URLs as XML", _arguments)
def layout(args: argparse.Namespace) -> int:
    import asyncio

    targets, token = _targets(args)
    answers = asyncio.run(_call(targets, token, args.action))
    if args.json:
        print(json.dumps(answers, indent=2))
    else:
        for name, answer in answers.items():
            print("\n".join(_describe(name, answer, args.action)))
    return EXIT_OK
