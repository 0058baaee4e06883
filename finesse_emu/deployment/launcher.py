"""``finesse-emu up``: the whole deployment (docs/design.md) as separate local processes.

cti-a, cti-b, awdb-a, awdb-b, xmpp-a, xmpp-b (Prosody), imp-a, imp-b (Cisco IM&P, the desktop
chat's server: Prosody too) and finesse-a (publisher), finesse-b (subscriber), each on its loopback
address with the real ports (topology.py). The launcher waits for every component's health,
writes ``<run_dir>/deployment.json`` (what ``status`` and ``down`` read), supervises (a component
that dies stays dead, like a killed container, and is reaped at once: no <defunct> child of the
launcher) and stops everything on SIGINT/SIGTERM, leaving no process behind, also the components
``chaos start`` restarted (their pids are in deployment.json).

Control planes: every component's admin port is on its loopback address and, unless the deployment
is started without one, needs the deployment's token (random per deployment, or the user's). The
token is in ``<run_dir>/admin-token`` (mode 0600), named by deployment.json's ``admin_token_file``;
components read it from that file (``--admin-token-file``: never on a command line), and ``chaos``,
the scenario runner and the swarm find it there (:func:`read_admin_token`).

Per-deployment secrets (:func:`write_secrets`, also ``finesse-emu secrets DIR`` for compose and
Kubernetes) live next to it: ``xmpp-password`` and ``awdb-password`` (0600, new with each ``up``),
the deployment's certificate authority ``ca.crt`` (0644) and ``ca.key`` (0600), and each node's
``<node>.crt`` / ``<node>.key``, the certificate its HTTPS port presents, issued by that CA for the
node's address and name (emu_base/tls.py); the CA and certificates are kept from one ``up`` to
the next. With single sign-on, also ``sso-signing-key`` (0600, new with each ``up``), which the
Identity Service signs tokens with and both nodes check them with, and ``ids.crt`` / ``ids.key``.
``up`` and ``status`` print where ``ca.crt`` is: clients trust it instead of turning certificate
checks off.

XMPP: each node's Prosody also listens with TLS, presenting the node's certificate ("Finesse
Notification Service shares the same certificate with Cisco Finesse Tomcat"): XMPP on 5223 and, for
``finesse: {version: "12.5"}``, https BOSH, wss and the EventTunnel page on 7443; a 12.6 node (the
default) relays ``wss://<node>:8445/ws/`` to it instead (server/versions.py, server/ws_proxy.py).

Each Prosody holds an account per agent of the directory (the agent's Finesse password) and
the ``finesse`` account the nodes publish with, whose password is in ``xmpp-password``
(deployment.json's ``xmpp_password_file``), read by both Prosody processes and both nodes from that
file, and never printed.

IM&P: imp-a and imp-b hold the same agent accounts (chat signs in with the agent's own password,
checked there) on one presence domain (topology.IMP_DOMAIN); their ``finesse`` account is not the
nodes' (its password stays in each one's run directory): nothing of Finesse publishes there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from emu_base import tls
from emu_base.admin import TOKEN_ENV, check_token, read_token_file
from emu_base.directory import parse_spec, resolve
from emu_base.logs import get_logger
from emu_base.procs import (
    Proc,
    adopted,
    cti_stub_argv,
    pid_alive,
    port_in_use,
    reap_adopted,
    runs,
    stop_on_signals,
    wait_health,
)
from emu_base.secret_files import write_private_file
from emu_base.timers import Timers
from finesse_emu.capacity.profile import profile as capacity_profile
from finesse_emu.deployment.topology import (
    AWDB_A,
    AWDB_B,
    CTI_A,
    CTI_B,
    CTI_LINK_PORT,
    DEFAULT_NETWORK,
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
    XMPP_HTTPS_PORT,
    Endpoint,
    check_network,
    edge_name,
    internal,
    on_network,
)
from finesse_emu.server.config import desktop_properties
from finesse_emu.server.cors import normalize_origin
from finesse_emu.server.versions import DEFAULT_VERSION, check_version, offers
from finesse_emu.xmpp.prosody import ProsodyProcess, agent_accounts, prosody_binary

log = get_logger()
STATE_FILE = "deployment.json"
REAP_INTERVAL = 0.1  # seconds between two polls of the components' processes (a dead one is reaped)
TOKEN_FILE = "admin-token"  # the deployment's control-plane token, mode 0600
XMPP_PASSWORD_FILE = "xmpp-password"  # the password of the nodes' `finesse` XMPP account, 0600
AWDB_PASSWORD_FILE = "awdb-password"  # the AWDB query API's login password, 0600
SSO_KEY_FILE = "sso-signing-key"  # single sign-on: the key the IdS signs tokens with, 0600
# The settings of single sign-on (emulated seconds, scaled by time_scale like every timer).
SSO_KEYS = {
    "access_token_lifetime": "--access-token-lifetime",
    "refresh_token_lifetime": "--refresh-token-lifetime",
}
NODE_NAMES = (FINESSE_A.name, FINESSE_B.name)
AWDB_USER = "finesse"  # the AWDB login the nodes send (its password: AWDB_PASSWORD_FILE)
SAMPLE_AGENTS = 5


def new_admin_token() -> str:
    """A fresh control-plane token (one per deployment)."""
    return secrets.token_urlsafe(32)


def write_token_file(path: Path, token: str) -> None:
    """The token in ``path``, readable by its owner only (0600, also when the file existed)."""
    write_private_file(path, f"{token}\n")


@dataclass(frozen=True)
class SecretFiles:
    """Where :func:`write_secrets` left a deployment's secrets (paths only: never the values)."""

    directory: Path
    xmpp_password_file: Path
    awdb_password_file: Path
    certs: tls.TlsFiles  # the CA and the certificates (the nodes', and the IdS's with single sign-on)
    made: tuple[Path, ...]  # the files written this time (the others were kept)
    sso_key_file: Path | None = None  # single sign-on: the IdS's token signing key (None: no SSO)

    @property
    def ca_file(self) -> Path:
        return self.certs.ca_file

    def listing(self) -> list[tuple[Path, str]]:
        """(file, "made" or "kept") of every file, in a fixed order."""
        files = [self.xmpp_password_file, self.awdb_password_file]
        files += [self.sso_key_file] if self.sso_key_file is not None else []
        files += [self.certs.ca_file, self.certs.ca_key]
        files += [p for pair in self.certs.nodes.values() for p in pair]
        return [(p, "made" if p in self.made else "kept") for p in files]


def write_secrets(
    directory: Path, nodes: Mapping[str, Sequence[str]], new_passwords: bool = False, sso: bool = False
) -> SecretFiles:
    """Every per-deployment secret in ``directory`` (nodes: node name -> the host names and IP
    addresses its certificate names), each file kept when it exists and still serves, so that a
    restarted deployment keeps its CA and passwords: the XMPP and AWDB passwords (random,
    ``secrets.token_urlsafe(24)``), the CA and the nodes' certificates; with ``sso``, also the key
    the Identity Service signs tokens with and the nodes check them with (SSO_KEY_FILE, random,
    ``secrets.token_urlsafe(32)``; the IdS's certificate is one more entry of ``nodes``). Modes are
    set also on the files kept. ``finesse-emu secrets`` and :meth:`Deployment.start` both come here.
    TlsError (a ValueError) for a host a certificate cannot name, before anything is written.
    ``new_passwords``: fresh passwords and signing key even when files exist (``up``: each deployment
    has its own, so that tokens of another deployment never validate)."""
    for hosts in nodes.values():
        tls.subject_alt_names(hosts)
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
    made: list[Path] = []
    keep = ((XMPP_PASSWORD_FILE, 24), (AWDB_PASSWORD_FILE, 24), *(((SSO_KEY_FILE, 32),) if sso else ()))
    for name, size in keep:
        path = directory / name
        try:
            if new_passwords:
                raise ValueError("a new deployment: new secrets")
            value = check_token(path.read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError, ValueError):
            value = secrets.token_urlsafe(size)
            made.append(path)
        write_token_file(path, value)  # also when kept: the mode is 0600 whatever it was
    files = tls.ensure_tls(directory, nodes)
    return SecretFiles(
        directory,
        directory / XMPP_PASSWORD_FILE,
        directory / AWDB_PASSWORD_FILE,
        files,
        (*made, *files.made),
        directory / SSO_KEY_FILE if sso else None,
    )


def read_admin_token(run_dir: Path | None) -> str | None:
    """The control-plane token of the deployment running from ``run_dir`` (its deployment.json's
    ``admin_token_file``), else $FINESSE_EMU_ADMIN_TOKEN, else None (open control planes).
    ValueError when the token file cannot be read (another user's deployment: mode 0600)."""
    state: Any = {}
    if run_dir is not None:
        with contextlib.suppress(OSError, ValueError):
            state = json.loads((run_dir / STATE_FILE).read_text())
    path = state.get("admin_token_file") if isinstance(state, dict) else None
    if path:
        return read_token_file(path)
    env = os.environ.get(TOKEN_ENV, "").strip()
    return env or None


@dataclass
class Component:
    name: str
    role: str
    host: str
    ports: dict[str, int]
    health_port: int | None = None  # admin port serving /emu/health (None: Prosody)
    proc: Proc | None = None
    prosody: ProsodyProcess | None = None
    domain: str = ""  # an XMPP server's domain, when it is not its host (IM&P's presence domain)

    @property
    def pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid
        return self.prosody.pid if self.prosody is not None else None

    @property
    def running(self) -> bool:
        """Whether the process this launcher started for it still runs (polling it reaps it once
        it has exited: ``Popen.poll``)."""
        if self.proc is not None:
            return self.proc.popen.poll() is None
        return self.prosody is not None and self.prosody.running

    @property
    def command(self) -> list[str]:
        """The command line that (re)starts this component (``finesse-emu chaos start``)."""
        if self.proc is not None:
            return [sys.executable, *self.proc.argv]
        assert self.prosody is not None
        return [prosody_binary(), "-F", "--config", str(self.prosody.config.config_path)]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "host": self.host,
            "ports": self.ports,
            "pid": self.pid,
            "command": self.command,
            "log": str(self.proc.log_path) if self.proc is not None else None,
            **({"domain": self.domain} if self.domain else {}),
        }


SETTINGS_KEYS = {
    "agents",
    "time_scale",
    "network",
    "run_dir",
    "cti",
    "finesse",
    "admin_token",
    "sso",
}
# Node settings a deployment file may give both nodes (Finesse properties the emulator models).
NODE_KEYS: dict[str, type | tuple[type, ...]] = {
    "enable_auto_work_mode_state_change": bool,
    "old_pg": bool,
    "reload_distribution": bool,
    "reload_rate": (int, float),
    "desktop_properties": dict,  # e.g. {preLoadSecondaryResources: false} (server/config.py)
    "event_log": bool,
    "layout": (list, dict),  # the desktop layout (server/layout.py): gadget URLs, or counts by kind
    "team_layouts": dict,
    "vcpus": int,
    "capacity": str,  # the product's capacity, live: none, 4vcpu or 8vcpu (server/capacity.py)
    "thirdparty_dir": str,  # same-origin hosting: the folder served at /3rdpartygadget/files/
    "cors_origins": list,  # the origins allowed cross-origin (REST and Notification Service)
    "version": (str, float),  # the Finesse release, "12.5" or "12.6": its secure ports (server/versions.py)
    "credential_cache": (int, float),  # emulated seconds (default Cisco's 30 minutes; server/config.py)
}
CTI_KEYS = {
    "load": "--load",
    "idle_mode": "--idle-mode",
    "mrd_auto_restore": "--mrd-auto-restore",
    "wrap_up_on_incoming": "--wrap-up-on-incoming",
    "wrap_up_on_outgoing": "--wrap-up-on-outgoing",
    "wrap_up_time": "--wrap-up-time",
}
# The CTI stub's wrap-up modes (cti_stub.model.WRAP_UP_MODES; the runs do not import the stub).
WRAP_UP_MODES = ("REQUIRED", "REQUIRED_WITH_WRAP_UP_DATA", "OPTIONAL", "NOT_ALLOWED")


def load_settings(path: Path) -> dict[str, Any]:
    """``finesse-emu up --config FILE``: agents (a number of voice-only agents, the number with
    the non-voice MRDs they also belong to, ``50+chat+email``, or an agent file), time_scale,
    network, run_dir, finesse: {NODE_KEYS} (a relative
    thirdparty_dir is taken from the file's folder),
    cti: {load: 0|1, idle_mode: not-listening|offline|standby, mrd_auto_restore: bool,
    wrap_up_on_incoming / wrap_up_on_outgoing: a wrap-up mode, wrap_up_time: emulated seconds},
    and admin_token: true (a random token, the default), false (open control planes) or the token.
    Returns the settings with ``cti_options`` (cti_stub flags) and, when the file says so,
    ``admin_token`` (a token, or None for none); ValueError names what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a mapping is expected")
    unknown = set(raw) - SETTINGS_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(SETTINGS_KEYS)}")
    out: dict[str, Any] = {k: raw[k] for k in ("agents", "time_scale", "network", "run_dir") if k in raw}
    if "agents" in out and not isinstance(out["agents"], int | str):
        raise ValueError(f"{path}: agents is a number (50, 50+chat+email) or an agent file")
    if isinstance(out.get("agents"), str) and parse_spec(out["agents"]) is None:
        agent_file = (path.parent / out["agents"]).resolve()
        if not agent_file.exists():
            raise ValueError(f"{path}: agent file {agent_file} not found")
        out["agents"] = str(agent_file)
    if "time_scale" in out and not (isinstance(out["time_scale"], int | float) and out["time_scale"] > 0):
        raise ValueError(f"{path}: time_scale must be a number > 0")
    if "network" in out:
        check_network(str(out["network"]))
    if "admin_token" in raw:
        token = raw["admin_token"]
        if token is False:
            out["admin_token"] = None
        elif isinstance(token, str):
            out["admin_token"] = check_token(token, f"{path}: admin_token")
        elif token is not True:
            raise ValueError(f"{path}: admin_token is true (random), false (none) or the token")
    out["cti_options"] = cti_options(raw.get("cti") or {}, str(path))
    sso = sso_options(raw.get("sso", False), str(path))
    if sso is not None:
        out["sso"] = sso
    out["node_options"] = node_options(raw.get("finesse") or {}, str(path))
    if "thirdparty_dir" in out["node_options"]:  # relative to the file that names it
        folder = (path.parent / out["node_options"]["thirdparty_dir"]).resolve()
        if not folder.is_dir():
            raise ValueError(f"{path}: finesse.thirdparty_dir {folder} is not a directory")
        out["node_options"]["thirdparty_dir"] = str(folder)
    return out


def sso_options(raw: Any, where: str) -> dict[str, float] | None:
    """The ``sso:`` setting of a deployment or scenario file: false (off, the default), true (on,
    the Identity Service's default token lifetimes) or a mapping of SSO_KEYS in emulated seconds."""
    if raw is False or raw is None:
        return None
    if raw is True:
        return {}
    if not isinstance(raw, dict) or set(raw) - set(SSO_KEYS):
        raise ValueError(f"{where}: sso is true, false or a mapping of {sorted(SSO_KEYS)}")
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{where}: sso.{key} is a number of seconds > 0")
    return {k: float(v) for k, v in raw.items()}


def cti_options(cti: Any, where: str) -> list[str]:
    """cti_stub flags from the ``cti:`` settings of a deployment or scenario file."""
    if not isinstance(cti, dict) or set(cti) - set(CTI_KEYS):
        raise ValueError(f"{where}: cti takes {sorted(CTI_KEYS)}")
    options: list[str] = []
    if "load" in cti:
        if cti["load"] not in (0, 1):
            raise ValueError(f"{where}: cti.load is 0 or 1")
        options += ["--load", str(cti["load"])]
    if "idle_mode" in cti:
        if cti["idle_mode"] not in ("not-listening", "offline", "standby"):
            raise ValueError(f"{where}: cti.idle_mode is not-listening, offline or standby")
        options += ["--idle-mode", cti["idle_mode"]]
    if cti.get("mrd_auto_restore"):
        options.append("--mrd-auto-restore")
    for key in ("wrap_up_on_incoming", "wrap_up_on_outgoing"):  # Agent Desk Settings (docs/cti.md)
        if key in cti:
            if cti[key] not in WRAP_UP_MODES:
                raise ValueError(f"{where}: cti.{key} is one of {', '.join(WRAP_UP_MODES)}")
            options += [CTI_KEYS[key], cti[key]]
    if "wrap_up_time" in cti:
        value = cti["wrap_up_time"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{where}: cti.wrap_up_time is a number of seconds > 0")
        options += ["--wrap-up-time", str(value)]
    return options


def node_options(raw: Any, where: str) -> dict[str, Any]:
    """The ``finesse:`` settings of a deployment or scenario file, checked against NODE_KEYS."""
    if not isinstance(raw, dict) or set(raw) - set(NODE_KEYS):
        raise ValueError(f"{where}: finesse takes {sorted(NODE_KEYS)}")
    for key, value in raw.items():
        kind = NODE_KEYS[key]
        if not isinstance(value, kind) or (kind is bool) != isinstance(value, bool):
            raise ValueError(f"{where}: finesse.{key} has the wrong type ({value!r})")
    if "credential_cache" in raw and not raw["credential_cache"] > 0:
        raise ValueError(f"{where}: finesse.credential_cache is a number of seconds > 0")
    if "desktop_properties" in raw:  # checked here, not when the node starts
        try:
            desktop_properties(raw["desktop_properties"])
        except ValueError as exc:
            raise ValueError(f"{where}: finesse.desktop_properties: {exc}") from exc
    if "capacity" in raw:  # checked here, not when the nodes start
        try:
            capacity_profile(raw["capacity"])
        except ValueError as exc:
            raise ValueError(f"{where}: finesse.{exc}") from None
    out = dict(raw)
    if "version" in out:
        try:
            out["version"] = check_version(out["version"])
        except ValueError as exc:
            raise ValueError(f"{where}: finesse.version: {exc}") from None
    if "cors_origins" in out:
        if not all(isinstance(o, str) for o in out["cors_origins"]):
            raise ValueError(f"{where}: finesse.cors_origins is a list of origins (scheme://host[:port])")
        try:
            out["cors_origins"] = [normalize_origin(o) for o in out["cors_origins"]]
        except ValueError as exc:
            raise ValueError(f"{where}: finesse.cors_origins: {exc}") from None
    return out


@dataclass
class Deployment:
    run_dir: Path
    # A number of voice-only agents to generate, "50+chat+email" (also in those MRDs), or an agent
    # file (YAML, JSON or CSV); every component is given the same spec (emu_base/directory.py).
    agents: int | str = 50
    time_scale: float = 1.0
    network: str = DEFAULT_NETWORK  # the loopback /24 of every component (127.0.10: topology.py)
    cti_options: list[str] = field(default_factory=list)  # extra cti_stub flags (--load 1, ...)
    node_options: dict[str, Any] = field(default_factory=dict)  # extra node config keys (NodeConfig)
    components: list[Component] = field(default_factory=list)
    # The control planes' token (random per deployment by default); None: open control planes.
    admin_token: str | None = field(default_factory=new_admin_token)
    secret_files: SecretFiles | None = None  # written by start()
    # Single sign-on (None: off): the Identity Service runs and both nodes are in SSO mode; the
    # mapping gives token lifetimes (SSO_KEYS, emulated seconds) other than the IdS's defaults.
    sso: dict[str, float] | None = None
    # Each node's client-path proxy (finesse_emu/edge/): on by default, off for benchmarks.
    client_proxy: bool = True
    _reaper: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _exited: set[str] = field(default_factory=set, init=False, repr=False)

    @property
    def token_path(self) -> Path:
        return (self.run_dir / TOKEN_FILE).absolute()

    @property
    def awdb_password_path(self) -> Path:
        return self.secrets_dir / AWDB_PASSWORD_FILE

    @property
    def xmpp_password_path(self) -> Path:
        return self.secrets_dir / XMPP_PASSWORD_FILE

    def _admin_args(self) -> list[str]:
        """Every component's control-plane option: the token's file, never the token itself."""
        return [] if self.admin_token is None else ["--admin-token-file", str(self.token_path)]

    def ep(self, endpoint: Endpoint) -> Endpoint:
        return on_network(endpoint, self.network)

    def inner(self, node: Endpoint) -> Endpoint:
        """Where a node and its Prosody listen: behind its client-path proxy, the internal address."""
        return internal(node) if self.client_proxy else node

    def edge_routes(self, node: Endpoint) -> dict[str, tuple[int, int]]:
        """The client-path proxy's port kinds: the node's public port -> the port behind (the same)."""
        ports = {
            "rest": node.port,
            "rest_https": FINESSE_HTTPS_PORT,
            "xmpp": XMPP_C2S_PORT,
            "bosh": XMPP_HTTP_PORT,
        }
        tls = self.tls_ports
        if "xmpp_tls" in tls:
            ports["xmpp_tls"] = tls["xmpp_tls"]
        if "https" in tls:
            ports["bosh_https"] = tls["https"]
        return {kind: (port, port) for kind, port in ports.items()}

    def edge_argv(self, node: Endpoint) -> list[str]:
        """The command line of a node's client-path proxy (``python`` and what follows)."""
        behind = self.inner(node).host
        argv = ["-m", "finesse_emu.edge", "--name", edge_name(node)]
        for kind, (port, port_behind) in self.edge_routes(node).items():
            argv += ["--route", f"{kind}={node.host}:{port},{behind}:{port_behind}"]
        return [*argv, "--admin-host", node.host, "--admin-port", str(EDGE_ADMIN_PORT), *self._admin_args()]

    def _edge(self, node: Endpoint, env: dict[str, str]) -> Component:
        name = edge_name(node)
        ports = {kind: port for kind, (port, _) in self.edge_routes(node).items()}
        c = Component(name, "edge", node.host, {**ports, "admin": EDGE_ADMIN_PORT}, EDGE_ADMIN_PORT)
        c.proc = Proc(name, self.edge_argv(node), self.run_dir / f"{name}.log", env)
        return c

    def _argv_awdb(self, ep: Any) -> list[str]:
        db = self.run_dir / f"{ep.name}.sqlite"
        return [
            "-m",
            "awdb_stub",
            "--name",
            ep.name,
            "--host",
            ep.host,
            "--port",
            str(ep.port),
            "--admin-port",
            str(ep.admin_port),
            "--agents",
            str(self.agents),
            "--db",
            str(db),
            # The login the nodes send; the password by its file, never on the command line.
            "--login-user",
            AWDB_USER,
            "--login-password-file",
            str(self.awdb_password_path),
            # The agents' desk settings: the deployment's cti: wrap-up keys, the CTI stub's too (one
            # value for both: the AWDB, where Finesse reads them, and the PG that applies them).
            *self._desk_args(),
        ]

    def _desk_args(self) -> list[str]:
        options = list(self.cti_options)
        out: list[str] = []
        for flag in ("--wrap-up-on-incoming", "--wrap-up-on-outgoing", "--wrap-up-time"):
            if flag in options[:-1]:
                value = options[options.index(flag) + 1]
                out += [flag, value]
        return out

    def node_hosts(self) -> dict[str, list[str]]:
        """What each node's certificate names: its address and its name (clients may map the name to
        the address in /etc/hosts); with single sign-on, the Identity Service's too."""
        nodes = (self.ep(FINESSE_A), self.ep(FINESSE_B), *((self.ep(IDS),) if self.sso is not None else ()))
        return {ep.name: [ep.host, ep.name] for ep in nodes}

    @property
    def sso_key_path(self) -> Path:
        return self.secrets_dir / SSO_KEY_FILE

    def _argv_ids(self) -> list[str]:
        ep, secrets_dir = self.ep(IDS), self.secrets_dir
        argv = ["-m", "finesse_emu.ids", "--name", ep.name, "--host", ep.host, "--port", str(ep.port)]
        argv += ["--admin-port", str(ep.admin_port), "--agents", str(self.agents)]
        argv += ["--signing-key-file", str(self.sso_key_path)]
        # HTTPS with the certificate write_secrets issued for it, from the deployment's CA.
        argv += [
            "--cert-file",
            str(secrets_dir / f"{ep.name}.crt"),
            "--key-file",
            str(secrets_dir / f"{ep.name}.key"),
        ]
        for key, flag in SSO_KEYS.items():
            if key in (self.sso or {}):
                argv += [flag, str((self.sso or {})[key])]
        return argv

    @property
    def secrets_dir(self) -> Path:
        return self.run_dir.absolute()

    def _node_config(self, ep: Any, role: str) -> Path:
        secrets_dir = self.secrets_dir
        config = {
            "name": ep.name,
            "role": role,
            # Behind the client-path proxy the node listens on its internal address; it is known by
            # its public one (SystemInfo, xmppDomain, certificate) and keeps its control plane there.
            "host": self.inner(ep).host,
            **({"admin_host": ep.host, "xmpp_domain": ep.host} if self.client_proxy else {}),
            "http_port": ep.port,
            "https_port": FINESSE_HTTPS_PORT,
            "admin_port": ep.admin_port,
            "primary_host": self.ep(FINESSE_A).host,
            "secondary_host": self.ep(FINESSE_B).host,
            "cti_sides": [["A", self.ep(CTI_A).host, CTI_A.port], ["B", self.ep(CTI_B).host, CTI_B.port]],
            "awdb_urls": [f"http://{self.ep(a).host}:{a.port}" for a in (AWDB_A, AWDB_B)],
            "awdb_user": AWDB_USER,
            "awdb_password_file": str(self.awdb_password_path),
            "xmpp_host": self.inner(ep).host,
            "xmpp_port": XMPP_C2S_PORT,
            "xmpp_secure_port": XMPP_C2S_TLS_PORT,
            "xmpp_http_port": XMPP_HTTP_PORT,
            "xmpp_password_file": str(self.xmpp_password_path),
            "run_dir": str(self.run_dir / ep.name),
            # HTTPS: the certificate write_secrets issued for this node, and the CA clients trust.
            "cert_file": str(secrets_dir / f"{ep.name}.crt"),
            "key_file": str(secrets_dir / f"{ep.name}.key"),
            "ca_file": str(secrets_dir / tls.CA_CERT),
            **(
                {"auth_mode": "SSO", "sso_signing_key_file": str(self.sso_key_path)}
                if self.sso is not None
                else {}
            ),
            **self.node_options,
        }
        path = self.run_dir / f"{ep.name}.yaml"
        # 0600: the config names the node's secrets (and may hold its admin token one day).
        tls.write_private(path, yaml.safe_dump(config).encode())
        return path

    async def start(self) -> None:
        self.check_ports()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._reaper = asyncio.create_task(self._reap_forever())
        if self.admin_token is not None:
            write_token_file(self.token_path, self.admin_token)
        else:
            self.token_path.unlink(missing_ok=True)  # a previous deployment's: not this one's
        # Passwords are new with each deployment; the CA and certificates are kept (clients trust them).
        self.secret_files = write_secrets(
            self.secrets_dir, self.node_hosts(), new_passwords=True, sso=self.sso is not None
        )
        logs = self.run_dir
        scale = ["--time-scale", str(self.time_scale)]
        admin = self._admin_args()
        # No component takes a token from the launcher's environment: the file above, or none.
        env = {TOKEN_ENV: ""}
        for ep in (self.ep(AWDB_A), self.ep(AWDB_B)):
            c = Component(ep.name, "awdb", ep.host, {"awdb": ep.port, "admin": ep.admin_port}, ep.admin_port)
            argv = [*self._argv_awdb(ep), *scale, *admin]
            c.proc = Proc(ep.name, argv, logs / f"{ep.name}.log", env)
            self.components.append(c)
        cti_a, cti_b = self.ep(CTI_A), self.ep(CTI_B)
        ctis: list[tuple[Component, list[str]]] = []
        for side, ep, peer in (("A", cti_a, cti_b), ("B", cti_b, cti_a)):
            other = "B" if side == "A" else "A"
            argv = cti_stub_argv(
                side,
                ep.host,
                ep.port,
                ep.admin_port,
                CTI_LINK_PORT[side],
                (peer.host, CTI_LINK_PORT[other]),
                self.agents,
                self.time_scale,
                [*self.cti_options, *admin],
            )
            c = Component(
                ep.name,
                "cti",
                ep.host,
                {"cti": ep.port, "link": CTI_LINK_PORT[side], "admin": ep.admin_port},
                ep.admin_port,
            )
            ctis.append((c, argv))
        (cti_a_c, argv_a), (cti_b_c, argv_b) = ctis
        cti_a_c.proc = Proc(cti_a_c.name, argv_a, logs / f"{cti_a_c.name}.log", env)
        self.components.append(cti_a_c)
        if self.sso is not None:  # its signing key: write_secrets', new with each deployment
            ep = self.ep(IDS)
            ids = Component(ep.name, "ids", ep.host, {"ids": ep.port, "admin": ep.admin_port}, ep.admin_port)
            ids.proc = Proc(ep.name, [*self._argv_ids(), *scale, *admin], logs / f"{ep.name}.log", env)
            self.components.append(ids)
        xmpps: list[Component] = []

        async def side_b() -> None:
            # Side A is the preferred side: it must be active before B starts, or a slow start
            # on a busy machine lets B take over first (the deployment would begin on side B).
            await self._wait_healthy(cti_a_c, "active")
            cti_b_c.proc = Proc(cti_b_c.name, argv_b, logs / f"{cti_b_c.name}.log", env)

        async def xmpp_servers() -> None:
            accounts = agent_accounts(self.agents)
            for name, ep in (("xmpp-a", self.ep(FINESSE_A)), ("xmpp-b", self.ep(FINESSE_B))):
                c = Component(
                    name, "xmpp", ep.host, {"xmpp": XMPP_C2S_PORT, "http": XMPP_HTTP_PORT, **self.tls_ports}
                )
                c.prosody = self.prosody(name, ep, accounts)
                xmpps.append(c)
            for ep in (self.ep(IMP_A), self.ep(IMP_B)):
                # Cisco IM&P: the desktop chat's own server cluster, the same Prosody set-up as the
                # Notification Service's (real password checks) on its own address and domain.
                prosody = self.prosody(ep.name, ep, accounts, domain=IMP_DOMAIN, http_port=IMP_HTTP_PORT)
                c = Component(
                    ep.name, "imp", ep.host, {"xmpp": ep.port, "http": IMP_HTTP_PORT}, domain=IMP_DOMAIN
                )
                c.prosody = prosody
                xmpps.append(c)
            started = await asyncio.gather(
                *(c.prosody.start() for c in xmpps if c.prosody is not None), return_exceptions=True
            )
            _raise_first(started)

        # The four Prosody processes start while side A comes up, none waiting for another; each
        # one started is recorded (stopped by stop()) even when another part failed. Side A's
        # failure (its exit and last log lines) is the one reported when both fail.
        results = await asyncio.gather(side_b(), xmpp_servers(), return_exceptions=True)
        if cti_b_c.proc is not None:
            self.components.append(cti_b_c)
        self.components += [c for c in xmpps if c.pid is not None]
        _raise_first(results)
        if self.client_proxy:
            self.components += [self._edge(self.ep(node), env) for node in (FINESSE_A, FINESSE_B)]
        for ep, role in ((self.ep(FINESSE_A), "publisher"), (self.ep(FINESSE_B), "subscriber")):
            cfg = self._node_config(ep, role)
            c = Component(
                ep.name,
                role,
                ep.host,
                {"rest_http": ep.port, "rest_https": FINESSE_HTTPS_PORT, "admin": ep.admin_port},
                ep.admin_port,
            )
            argv = ["-m", "finesse_emu.server", "--config", str(cfg), *scale, *admin]
            c.proc = Proc(ep.name, argv, logs / f"{ep.name}.log", env)
            self.components.append(c)
        for c in self.components:
            if c.health_port is not None:
                await self._wait_healthy(c)
        self.write_state()

    def _restored(self) -> set[int]:
        """Components restored by ``chaos start``, running under pids this launcher did not spawn:
        those deployment.json names, and those this process restarted itself (a scenario run: they
        are found even if the file is gone). Only the processes of ours still running are ours: a
        reaped one's pid may since have been reused, by the very component restarted in its place;
        and a pid is taken only while it still runs the component's command."""
        mine = {c.pid for c in self.components if c.running}
        found: set[int] = set()
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            state = json.loads((self.run_dir / STATE_FILE).read_text())
            found |= {int(c["pid"]) for c in state["components"] if runs(c["pid"], c.get("command"))}
        commands = [c.command for c in self.components if c.proc is not None or c.prosody is not None]
        found |= {pid for pid, argv in adopted().items() if argv in commands and runs(pid, argv)}
        return found - mine

    def reap(self) -> None:
        """Collect every component process that has exited (killed by ``chaos kill``, crashed) and
        every adopted child (restarted by ``chaos start`` from this process): none stays a zombie.
        Each exit is logged once."""
        for c in self.components:
            if c.name not in self._exited and (c.proc is not None or c.prosody is not None) and not c.running:
                self._exited.add(c.name)
                code = c.proc.popen.returncode if c.proc is not None else None  # Prosody logs its own
                log.info("component_exited", component=c.name, pid=c.pid, returncode=code)
        for pid, code in reap_adopted().items():
            log.info("component_exited", pid=pid, returncode=code)

    async def _reap_forever(self) -> None:
        while True:
            self.reap()
            await asyncio.sleep(REAP_INTERVAL)

    @property
    def version(self) -> str:
        return str(self.node_options.get("version", DEFAULT_VERSION))

    @property
    def tls_ports(self) -> dict[str, int]:
        """The secure ports of a node's Prosody for the deployment's release, by name."""
        ports = {"xmpp_tls": XMPP_C2S_TLS_PORT} if offers(self.version).xmpp_direct_tls else {}
        if offers(self.version).notification_https:
            ports["https"] = XMPP_HTTPS_PORT
        return ports

    def prosody(
        self,
        name: str,
        ep: Endpoint,
        accounts: dict[str, str] | None = None,
        *,
        domain: str | None = None,
        http_port: int = XMPP_HTTP_PORT,
    ) -> ProsodyProcess:
        """The Notification Service of the node at ``ep``: real password checks, every agent's
        account (``accounts``, default: from the deployment's agents) and the finesse account's.
        With ``domain``: an IM&P node at ``ep`` (its own domain, c2s port and finesse password)."""
        return ProsodyProcess(
            domain or ep.host,
            host=ep.host if domain is not None else self.inner(ep).host,
            c2s_port=XMPP_C2S_PORT if domain is None else ep.port,
            http_port=http_port,
            run_dir=self.run_dir / name,
            accounts=agent_accounts(self.agents) if accounts is None else accounts,
            # IM&P's finesse account is none of the nodes' business: a password of its own.
            service_password_file=self.xmpp_password_path if domain is None else None,
            # A crashed browser is detected within 120 s, scaled like every timer of the run.
            crash_detection=Timers.build(self.time_scale).browser_crash_detection,
            event_tunnel=domain is None,  # the EventTunnel is Finesse's, not IM&P's
            cors_origins=tuple(self.node_options.get("cors_origins", ())),
            # The node's certificate (the one its 8445 presents) on the secure ports; IM&P has none.
            **({} if domain is not None else self._prosody_tls(ep)),
        )

    def _prosody_tls(self, ep: Endpoint) -> dict[str, Any]:
        ports = self.tls_ports
        return {
            "c2s_tls_port": ports.get("xmpp_tls"),
            "https_port": ports.get("https"),
            "tls_cert": self.secrets_dir / f"{ep.name}.crt",
            "tls_key": self.secrets_dir / f"{ep.name}.key",
        }

    def check_ports(self) -> None:
        """Fail before starting anything when an address of this deployment is taken: a health check
        answered by a leftover process would otherwise pass for the new one."""
        taken = []
        for ep in (AWDB_A, AWDB_B, CTI_A, CTI_B, FINESSE_A, FINESSE_B):
            host = self.ep(ep).host
            ports = [ep.port, ep.admin_port]
            if ep in (FINESSE_A, FINESSE_B):
                client = [FINESSE_HTTPS_PORT, XMPP_C2S_PORT, XMPP_HTTP_PORT, *self.tls_ports.values()]
                ports += client
                if self.client_proxy:
                    ports.append(EDGE_ADMIN_PORT)
                    behind = self.inner(self.ep(ep)).host
                    taken += [f"{behind}:{p}" for p in [ep.port, *client] if port_in_use(behind, p)]
            if ep in (CTI_A, CTI_B):
                ports.append(CTI_LINK_PORT["A" if ep is CTI_A else "B"])
            taken += [f"{host}:{port}" for port in ports if port_in_use(host, port)]
        for ep in (IMP_A, IMP_B):
            host = self.ep(ep).host
            taken += [f"{host}:{port}" for port in (ep.port, IMP_HTTP_PORT) if port_in_use(host, port)]
        if self.sso is not None:
            host = self.ep(IDS).host
            taken += [f"{host}:{p}" for p in (IDS.port, IDS.admin_port) if port_in_use(host, p)]
        if taken:
            raise RuntimeError(
                f"address(es) in use: {', '.join(taken)}; another deployment on {self.network}? "
                "(finesse-emu down, or --network 127.0.N for another loopback /24)"
            )

    async def _wait_healthy(self, c: Component, state: str | None = None) -> None:
        """Health of one component; a process that exits meanwhile fails at once with its last log lines."""
        want = state or ("IN_SERVICE" if c.role in ("publisher", "subscriber") else None)
        assert c.health_port is not None
        waiter = asyncio.ensure_future(wait_health(c.host, c.health_port, want, timeout=60))
        try:
            while not waiter.done():
                if c.proc is not None and c.proc.popen.poll() is not None:
                    tail = "\n".join(c.proc.log_lines()[-5:])
                    raise RuntimeError(f"{c.name} exited with code {c.proc.popen.returncode}:\n{tail}")
                await asyncio.sleep(0.05)
            waiter.result()
        finally:
            waiter.cancel()

    def write_state(self) -> None:
        agents = resolve(str(self.agents))[:SAMPLE_AGENTS]
        state = {
            "pid": os.getpid(),
            "run_dir": str(self.run_dir),
            "time_scale": self.time_scale,
            # Where the control planes' token is (None: they take none); the token is not here.
            "admin_token_file": None if self.admin_token is None else str(self.token_path),
            # The deployment's CA (clients trust it for the nodes' HTTPS) and the secrets' files.
            "ca_file": str(self.secrets_dir / tls.CA_CERT),
            "xmpp_password_file": str(self.secrets_dir / XMPP_PASSWORD_FILE),
            "awdb_password_file": str(self.secrets_dir / AWDB_PASSWORD_FILE),
            "components": [c.to_json() for c in self.components],
            # The directory's spec (a count, 50+chat+email or an agent file): what attaches resolve.
            "agents": str(self.agents),
            "sample_agents": [
                {"id": a.id, "login": a.login, "password": a.password, "extension": a.extension}
                for a in agents
            ],
        }
        (self.run_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    async def stop(self) -> None:
        restored = self._restored()
        for pid in restored:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + 5.0
        while any(pid_alive(p) for p in restored) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for pid in restored:  # one that does not stop in time is killed: nothing is left behind
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        # In the reverse order of the start, one tier at a time (the nodes, their XMPP servers, then
        # the CTI and AWDB stubs), the processes of a tier at once: each waits for none of its tier.
        nodes, xmpp = ("publisher", "subscriber"), ("xmpp", "imp")
        tiers = [
            [c for c in self.components if c.role in nodes],
            [c for c in self.components if c.role in xmpp],
            [c for c in self.components if c.role not in nodes + xmpp],
        ]
        for members in tiers:
            procs = [c.proc for c in members if c.proc is not None]
            for proc in procs:
                proc.terminate()
            await asyncio.gather(
                *(proc.exited() for proc in procs),
                *(c.prosody.stop() for c in members if c.prosody is not None),
            )
            for proc in procs:
                proc.stop()  # one still running after the grace period is killed; its log closed
        if self._reaper is not None:  # it reaped whatever died meanwhile; the last ones now
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        self.reap()  # restored components started from this process (a scenario run) included
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / STATE_FILE).unlink()
        if self.admin_token is not None:
            self.token_path.unlink(missing_ok=True)


def _raise_first(results: Sequence[object]) -> None:
    """Raise the first exception among ``asyncio.gather(..., return_exceptions=True)``'s results."""
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def status(run_dir: Path) -> dict[str, Any]:
    """Each component's state, from deployment.json and the components' own /emu/health (a
    read-only probe: it needs no token)."""
    state = json.loads((run_dir / STATE_FILE).read_text())
    out = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        for c in state["components"]:
            item = dict(c)
            if not pid_alive(c["pid"]):
                item["state"] = "down"
            elif c["role"] in ("xmpp", "imp"):
                item["state"] = "up"
            else:
                try:
                    async with http.get(f"http://{c['host']}:{c['ports']['admin']}/emu/health") as resp:
                        health = await resp.json()
                    item["state"] = health.get("state", "unknown")
                    if c["role"] in ("publisher", "subscriber"):
                        item["signed_in_agents"] = health.get("signed_in_agents", 0)
                        item["cti_side"] = (health.get("cti") or {}).get("side")
                except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                    item["state"] = "unreachable"
            out.append(item)
    return {
        "components": out,
        "sample_agents": state["sample_agents"],
        "launcher_pid": state["pid"],
        "admin_token_file": state.get("admin_token_file"),
        "ca_file": state.get("ca_file"),
        "awdb_password_file": state.get("awdb_password_file"),
    }


def render_table(report: dict[str, Any]) -> str:
    lines = [f"{'component':<10} {'role':<10} {'host':<11} {'state':<14} ports"]
    for c in report["components"]:
        ports = " ".join(f"{k}={v}" for k, v in c["ports"].items())
        extra = f"  agents={c['signed_in_agents']}" if "signed_in_agents" in c else ""
        lines.append(f"{c['name']:<10} {c['role']:<10} {c['host']:<11} {c['state']:<14} {ports}{extra}")
    lines.append("")
    ids = next((c for c in report["components"] if c["role"] == "ids"), None)
    # Single sign-on: the same credentials, typed at the Identity Service's sign-in, not as Basic.
    how = "Basic auth" if ids is None else "single sign-on at the Identity Service"
    lines.append(f"sample agents ({how} id:password, extension):")
    for a in report["sample_agents"]:
        lines.append(f"  {a['id']}:{a['password']}  login {a['login']}  extension {a['extension']}")
    if ids is not None:
        lines.append(
            f"single sign-on: tokens from https://{ids['host']}:{ids['ports']['ids']}/ids/v1/oauth/authorize "
            "and /token; REST takes 'Authorization: Bearer <access token>', Basic only for administrators"
        )
    lines.append("")
    token_file = report.get("admin_token_file")
    if token_file:
        lines.append(f"control planes: loopback only, token in {token_file} (mode 0600)")
        lines.append(
            f'  curl -H "Authorization: Bearer $(cat {token_file})" http://HOST:ADMIN_PORT/emu/faults'
        )
    else:
        lines.append("control planes: loopback only, no token (--no-admin-token)")
    ca_file = report.get("ca_file")
    if ca_file:
        https = next(
            (c for c in report["components"] if c["role"] == "publisher" and "rest_https" in c["ports"]), None
        )
        lines.append(f"HTTPS: the nodes' certificates are issued by the deployment's CA {ca_file}")
        if https is not None:
            lines.append(
                f"  curl --cacert {ca_file} https://{https['host']}:{https['ports']['rest_https']}"
                "/finesse/api/SystemInfo"
            )
    awdb_file = report.get("awdb_password_file")
    if awdb_file:
        lines.append(f"AWDB query API: login {AWDB_USER}, password in {awdb_file} (mode 0600)")
    return "\n".join(lines)


async def up(
    run_dir: Path,
    agents: int | str,
    time_scale: float,
    ready: asyncio.Event | None = None,
    network: str = DEFAULT_NETWORK,
    cti_options: list[str] | None = None,
    node_options: dict[str, Any] | None = None,
    admin_token: str | None = None,
    no_admin_token: bool = False,
    sso: dict[str, float] | None = None,
    client_proxy: bool = True,
) -> int:
    """Start the deployment and run it until SIGINT/SIGTERM. Its control planes take ``admin_token``,
    or a random token when None, or none at all with ``no_admin_token``; ``client_proxy``: each
    node behind its client-path proxy (finesse_emu/edge/)."""
    deployment = Deployment(
        run_dir,
        agents,
        time_scale,
        network,
        list(cti_options or []),
        dict(node_options or {}),
        admin_token=None if no_admin_token else admin_token or new_admin_token(),
        sso=sso,
        client_proxy=client_proxy,
    )
    stop = stop_on_signals()
    try:
        await deployment.start()
        print(render_table(await status(run_dir)), flush=True)
        print(f"\nrunning; logs in {run_dir}; Ctrl-C (or finesse-emu down) stops everything", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await deployment.stop()
    return 0


def down(run_dir: Path, timeout: float = 20.0) -> int:
    """Stop the deployment whose launcher wrote run_dir/deployment.json (SIGTERM to the launcher)."""
    path = run_dir / STATE_FILE
    if not path.exists():
        # Nothing to stop is what was asked for: said, and not an error (scripts run down twice).
        print(f"no deployment running from {run_dir}: nothing to stop")
        return 0
    state = json.loads(path.read_text())
    pid = int(state["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    import time

    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    for c in state["components"]:  # anything the launcher could not stop (still the component)
        if runs(c["pid"], c.get("command")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(c["pid"]), signal.SIGKILL)
    if state.get("admin_token_file"):  # the launcher removes it, unless it was killed
        Path(state["admin_token_file"]).unlink(missing_ok=True)
    return 0
