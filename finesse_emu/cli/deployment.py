"""``finesse-emu up``, ``status``, ``down`` and ``secrets``: the embedded deployment's life."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finesse_emu.cli import EXIT_OK, CannotRun, command, fail
from finesse_emu.cli.options import DEFAULT_RUN_DIR, add_run_dir, admin_token, csv, network

if TYPE_CHECKING:
    from finesse_emu.runs.report.text import TableSpec


def _agents(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _up_arguments(u: argparse.ArgumentParser) -> None:
    u.add_argument(
        "--config",
        help="a YAML file: agents, time_scale, network, run_dir, cti {load, ...}, "
        "finesse {reload_rate, thirdparty_dir, cors_origins, ...}, sso (true, or "
        "{access_token_lifetime, refresh_token_lifetime})",
    )
    u.add_argument(
        "--sso",
        action="store_true",
        default=None,
        help="single sign-on: start the Identity Service (https on 8553) and put both nodes in SSO mode",
    )
    u.add_argument(
        "--agents",
        type=_agents,
        default=None,
        help="generated agents, voice-only (default 50); 50+chat+email: each also in the chat and "
        "email MRDs (a voice sign-in then publishes their Media events); or an agent file",
    )
    u.add_argument("--time-scale", type=float, default=None, help="timer factor (default 1)")
    u.add_argument(
        "--capacity",
        choices=["none", "4vcpu", "8vcpu"],
        default=None,
        help="the product's capacity, live: requests queue for the nodes' vCPUs, the Agent PG and the "
        "egress link as the planner's model has them (default none: every request at once; docs/finesse.md)",
    )
    u.add_argument(
        "--pg",
        choices=["12.5", "older"],
        default=None,
        help="the Agent PG's version (default 12.5): an older PG detects a CTI failure up to 40 s later",
    )
    u.add_argument("--run-dir", default=None, help=f"logs, state and configs (default ./{DEFAULT_RUN_DIR})")
    u.add_argument("--detach", action="store_true", help="return once healthy, leave it running")
    u.add_argument(
        "--no-client-proxy",
        action="store_true",
        help="no client-path proxy in front of the nodes (no client_* faults; for benchmarks: the proxy "
        "costs a copy of every byte and a hop, docs/reliability.md)",
    )
    u.add_argument(
        "--network",
        type=network,
        default=None,
        help="loopback /24 of the components (default 127.0.10)",
    )
    token = u.add_mutually_exclusive_group()
    token.add_argument(
        "--admin-token",
        type=admin_token,
        metavar="TOKEN",
        help="the control planes' token (default $FINESSE_EMU_ADMIN_TOKEN, else a random one per "
        "deployment); written to RUN_DIR/admin-token (mode 0600), where chaos, run and swarm find it",
    )
    token.add_argument("--admin-token-file", metavar="FILE", help="the same, with the token read from FILE")
    token.add_argument(
        "--no-admin-token",
        action="store_true",
        help="open control planes: faults and controls need no token (still on loopback only)",
    )


def _up_settings(args: argparse.Namespace) -> dict[str, object]:
    """The deployment's settings: --config FILE first, then the flags given on the command line."""
    from finesse_emu.deployment import launcher

    settings: dict[str, object] = {"agents": 50, "time_scale": 1.0, "network": "127.0.10", "run_dir": "run"}
    settings["cti_options"] = []
    settings["node_options"] = {}
    if args.config:
        settings.update(launcher.load_settings(Path(args.config)))
    for key in ("agents", "time_scale", "network", "run_dir"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    node_options: dict[str, object] = settings["node_options"]  # type: ignore[assignment]
    if args.capacity is not None:
        node_options["capacity"] = args.capacity
    if args.pg is not None:
        node_options["old_pg"] = args.pg == "older"
    if args.sso:  # on, with the config file's lifetimes if it gives any
        settings["sso"] = settings.get("sso") or {}
    settings["admin_token"] = _up_admin_token(args, settings)
    return settings


def _up_admin_token(args: argparse.Namespace, settings: dict[str, object]) -> str | None:
    """The control planes' token (None: open control planes): --no-admin-token, --admin-token,
    --admin-token-file, the config file's admin_token, $FINESSE_EMU_ADMIN_TOKEN, in that order;
    a random token when none of them says anything. ValueError for an unusable token."""
    import os

    from emu_base.admin import TOKEN_ENV, check_token, read_token_file
    from finesse_emu.deployment import launcher

    if args.no_admin_token:
        return None
    if args.admin_token is not None:
        return check_token(args.admin_token, "--admin-token")
    if args.admin_token_file:
        return read_token_file(args.admin_token_file)
    if "admin_token" in settings:
        configured = settings["admin_token"]
        return None if configured is None else str(configured)
    env = os.environ.get(TOKEN_ENV, "").strip()
    return check_token(env, TOKEN_ENV) if env else launcher.new_admin_token()


@command("up", "start the whole deployment as local processes (Ctrl-C stops it)", _up_arguments)
def up(args: argparse.Namespace) -> int:
    from emu_base.logs import configure_logging
    from emu_base.procs import pid_alive
    from finesse_emu.deployment import launcher

    try:
        settings = _up_settings(args)
    except ValueError as exc:
        raise CannotRun(str(exc)) from exc
    run_dir = Path(str(settings["run_dir"]))
    if (run_dir / launcher.STATE_FILE).exists() and pid_alive(
        json.loads((run_dir / launcher.STATE_FILE).read_text()).get("pid")
    ):
        raise CannotRun(f"a deployment is already running from {run_dir} (finesse-emu down stops it)")
    token = settings["admin_token"]
    if args.detach:
        return _up_detached(args, run_dir, None if token is None else str(token))
    configure_logging("launcher", "WARNING")
    agents = settings["agents"]
    assert isinstance(agents, int | str)
    try:
        return asyncio.run(
            launcher.up(
                run_dir,
                agents,
                float(str(settings["time_scale"])),
                network=str(settings["network"]),
                cti_options=[str(o) for o in settings["cti_options"]],  # type: ignore[attr-defined]
                node_options=dict(settings["node_options"]),  # type: ignore[call-overload]
                admin_token=None if token is None else str(token),
                no_admin_token=token is None,
                sso=settings.get("sso"),  # type: ignore[arg-type]
                client_proxy=not args.no_client_proxy,
            )
        )
    except (OSError, RuntimeError, TimeoutError) as exc:
        # The message itself (a component's last log lines, its reason for exiting), not its repr.
        raise CannotRun(f"failed: {str(exc) or repr(exc)} (component logs in {run_dir})") from exc


def _up_detached(args: argparse.Namespace, run_dir: Path, token: str | None) -> int:
    import subprocess
    import time

    from finesse_emu.deployment import launcher

    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "finesse_emu.cli", "up", "--run-dir", str(run_dir)]
    if args.config:
        argv += ["--config", str(Path(args.config).resolve())]
    for flag, key in (
        ("--agents", "agents"),
        ("--time-scale", "time_scale"),
        ("--network", "network"),
        ("--capacity", "capacity"),
        ("--pg", "pg"),
    ):
        if getattr(args, key) is not None:
            argv += [flag, str(getattr(args, key))]
    if args.sso:
        argv.append("--sso")
    if args.no_client_proxy:
        argv.append("--no-client-proxy")
    # The token decided here goes to the launcher in its 0600 file, not on its command line.
    token_file = run_dir / launcher.TOKEN_FILE
    if token is None:
        argv.append("--no-admin-token")
    else:
        launcher.write_token_file(token_file, token)
        argv += ["--admin-token-file", str(token_file.absolute())]
    with (run_dir / "launcher.log").open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if token is not None:
                token_file.unlink(missing_ok=True)
            raise CannotRun(f"the launcher exited ({proc.returncode}); see {run_dir / 'launcher.log'}")
        if (run_dir / launcher.STATE_FILE).exists():
            print(launcher.render_table(asyncio.run(launcher.status(run_dir))))
            print(f"\nrunning in the background (launcher pid {proc.pid}); finesse-emu down stops it")
            return EXIT_OK
        time.sleep(0.2)
    raise CannotRun("the deployment did not become healthy in 120 s")


def _status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument(
        "--watch",
        action="store_true",
        help="follow the states and faults: redrawn in place on a terminal, a line per change "
        "otherwise; Ctrl-C ends it (status 0)",
    )
    p.add_argument(
        "--interval", type=float, default=1.0, metavar="SECONDS", help="--watch: seconds between polls"
    )
    add_run_dir(p)


@command(
    "status",
    "each component's state and active faults (--watch follows them)",
    _status_arguments,
    description="Each component's state (its /emu/health) and its active faults (GET /emu/faults on its "
    "control plane, with the deployment's admin token); a frozen Notification Service (chaos hang) "
    "shows as frozen. With --watch it follows them until Ctrl-C.",
)
def status(args: argparse.Namespace) -> int:
    from finesse_emu.deployment import launcher

    run_dir = Path(args.run_dir)
    if not (run_dir / launcher.STATE_FILE).exists():
        raise CannotRun(f"no deployment running from {run_dir}")
    if args.interval <= 0:
        raise CannotRun("--interval must be more than 0")
    if args.watch:
        # Ctrl-C is how a watch ends, even when started with SIGINT ignored (a background job of a
        # shell without job control inherits SIG_IGN, and Python then installs no handler).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_watch(run_dir, args.interval, args.json))
        return EXIT_OK
    report = asyncio.run(_status(run_dir))
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    from finesse_emu.cli.progress import console, print_table

    print_table(console(), _status_table(report))
    # The rest of the launcher's text: sample agents, the control planes' token, the CA.
    print("\n" + launcher.render_table(report).partition("\n\n")[2])
    return EXIT_OK


async def _status(run_dir: Path) -> dict[str, Any]:
    """launcher.status, with each component's active faults (``faults``: None when its control
    plane did not say) and Prosody frozen by SIGSTOP shown as ``frozen``."""
    import aiohttp
    import psutil

    from finesse_emu.deployment import launcher

    report = await launcher.status(run_dir)
    try:
        token = launcher.read_admin_token(run_dir)
    except ValueError:
        token = None  # another user's deployment: GET /emu/faults answers 401, shown as unknown
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        for c in report["components"]:
            c["faults"] = []
            if c["state"] in ("down", "unreachable"):
                continue
            if c["role"] in ("xmpp", "imp"):  # no control plane: chaos hang stops the process
                try:
                    if psutil.Process(int(c["pid"])).status() == psutil.STATUS_STOPPED:
                        c["state"] = "frozen"
                except (psutil.Error, ValueError):
                    pass
                continue
            if "admin" not in c["ports"]:
                continue
            url = f"http://{c['host']}:{c['ports']['admin']}/emu/faults"
            try:
                async with http.get(url, headers=headers) as resp:
                    body = await resp.json() if resp.status == 200 else {}
                c["faults"] = body.get("faults") if resp.status == 200 else None
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                c["faults"] = None
    return report


def _fault_text(faults: list[dict[str, Any]] | None) -> str:
    """``hang``, ``latency ms=200``; ``?`` when the control plane did not say; ``-`` for none."""
    if faults is None:
        return "?"
    shown = []
    for f in faults:
        params = " ".join(f"{k}={v}" for k, v in f.items() if k not in ("id", "kind") and v not in (None, ""))
        shown.append(f"{f.get('kind')} {params}".strip())
    return ", ".join(shown) or "-"


def _status_table(report: dict[str, Any]) -> TableSpec:
    from finesse_emu.runs.report.text import TableSpec

    rows = []
    for c in report["components"]:
        ports = " ".join(f"{k}={v}" for k, v in c["ports"].items())
        agents = str(c["signed_in_agents"]) if "signed_in_agents" in c else ""
        faults = _fault_text(c.get("faults"))
        rows.append([c["name"], c["role"], c["host"], c["state"], faults, agents, ports])
    return TableSpec(["component", "role", "host", "state", "faults", "agents", "ports"], rows, {5})


def _watch_lines(before: dict[str, str], report: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The components whose state or faults changed since ``before``: one line each."""
    now: dict[str, str] = {}
    for c in report["components"]:
        faults = _fault_text(c.get("faults"))
        now[c["name"]] = c["state"] + ("" if faults == "-" else f", faults: {faults}")
    changed = [f"{name}: {what}" for name, what in now.items() if before.get(name) != what]
    return now, changed


async def _watch(run_dir: Path, interval: float, as_json: bool) -> None:
    """Poll every ``interval`` seconds: redraw in place on a terminal, else a line per change."""
    import time

    from rich.console import Group
    from rich.live import Live

    from finesse_emu.cli.progress import console, fitted

    out = console()
    before: dict[str, str] = {}
    if out.is_terminal and not as_json:
        with Live(console=out, auto_refresh=False) as live:
            while True:
                tables = fitted(_status_table(await _status(run_dir)), out.width)
                live.update(Group(*tables), refresh=True)
                await asyncio.sleep(interval)
    while True:
        report = await _status(run_dir)
        before, changed = _watch_lines(before, report)
        stamp = time.strftime("%H:%M:%S")
        for line in changed:
            if as_json:
                print(json.dumps({"time": stamp, "change": line}), flush=True)
            else:
                print(f"{stamp} {line}", flush=True)
        await asyncio.sleep(interval)


@command("down", "stop the deployment started by up", add_run_dir)
def down(args: argparse.Namespace) -> int:
    from finesse_emu.deployment import launcher

    return launcher.down(Path(args.run_dir))


def secrets_hosts(nodes: list[str], hosts: list[str]) -> dict[str, list[str]]:
    """Each node's certificate names: the node's own name, then every --hosts entry that is for it:
    ``HOST`` (every node; ``{node}`` in it becomes the node's name) or ``NODE=HOST`` (that node)."""
    out = {node: [node] for node in nodes}
    for entry in hosts:
        node, sep, host = entry.partition("=")
        if sep and node not in out:
            raise ValueError(f"--hosts {entry}: {node} is none of --nodes {','.join(nodes)}")
        for name in [node] if sep else nodes:
            value = (host if sep else entry).replace("{node}", name)
            if value not in out[name]:
                out[name].append(value)
    return out


def _secrets_arguments(se: argparse.ArgumentParser) -> None:
    se.add_argument("dir", metavar="DIR", help="where the files go (made 0700 when it does not exist)")
    se.add_argument(
        "--nodes",
        type=csv,
        default=None,
        help="the Finesse nodes, comma separated (default finesse-a,finesse-b); a certificate each",
    )
    se.add_argument(
        "--hosts",
        type=csv,
        action="append",
        help="more names and IP addresses for the certificates, comma separated (repeatable): HOST for "
        "every node ({node} in it is the node's name, e.g. {node}.ns.svc), NODE=HOST for one node",
    )
    se.add_argument(
        "--sso",
        action="store_true",
        help="single sign-on too: the token signing key (sso-signing-key, 0600) and a certificate for "
        "the Identity Service, ids (--hosts apply to it as to a node; ids=HOST for it alone)",
    )


@command(
    "secrets",
    "write a deployment's secrets into DIR (compose, Kubernetes): passwords, CA, node certificates",
    _secrets_arguments,
    description="Writes xmpp-password, awdb-password (0600), ca.crt (0644), ca.key (0600) and, per "
    "node, NODE.crt (0644) and NODE.key (0600) into DIR: the files finesse-emu up makes in its run "
    "directory; with --sso also sso-signing-key (0600), ids.crt and ids.key, what finesse-emu up --sso "
    "makes. Files that exist and still serve are kept (run it again: same CA, same passwords, same "
    "signing key); a certificate is reissued when its names change or it nears its end. Prints paths, "
    "never secrets.",
)
def secrets(args: argparse.Namespace) -> int:
    import stat

    from finesse_emu.deployment import launcher
    from finesse_emu.deployment.topology import FINESSE_HTTPS_PORT, IDS

    nodes = args.nodes or list(launcher.NODE_NAMES)
    # The Identity Service presents a certificate of the same CA, named like the nodes'.
    named = [*nodes, *([IDS.name] if args.sso and IDS.name not in nodes else [])]
    try:
        hosts = secrets_hosts(named, [h for group in args.hosts or [] for h in group])
        made = launcher.write_secrets(Path(args.dir), hosts, sso=args.sso)
    except (ValueError, OSError) as exc:
        return fail("secrets", str(exc))
    for path, how in made.listing():
        mode = stat.S_IMODE(path.stat().st_mode)
        print(f"{how:<5} {mode:04o} {path}")
    for node, names in hosts.items():
        print(f"{node}: certificate for {', '.join(names)}")
    example = f"https://{nodes[0]}:{FINESSE_HTTPS_PORT}/finesse/api/SystemInfo"
    print(f"clients trust {made.ca_file} (e.g. curl --cacert {made.ca_file} {example})")
    return EXIT_OK
