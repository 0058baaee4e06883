"""``finesse-emu up``, ``status``, ``down`` and ``secrets``: the embedded deployment's life."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from finesse_emu.cli import EXIT_OK, CannotRun, command, fail
from finesse_emu.cli.options import DEFAULT_RUN_DIR, add_run_dir, admin_token, csv, network


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
    for flag, key in (("--agents", "agents"), ("--time-scale", "time_scale"), ("--network", "network")):
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
    add_run_dir(p)


@command("status", "each component's state", _status_arguments)
def status(args: argparse.Namespace) -> int:
    from finesse_emu.deployment import launcher

    run_dir = Path(args.run_dir)
    if not (run_dir / launcher.STATE_FILE).exists():
        raise CannotRun(f"no deployment running from {run_dir}")
    report = asyncio.run(launcher.status(run_dir))
    print(json.dumps(report, indent=2) if args.json else launcher.render_table(report))
    return EXIT_OK


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
