"""Prosody (the Debian package) as one Finesse node's Notification Service, run as a child process.

The configuration is the one measured for the emulator (docs/xmpp.md): every listener bound
to a loopback address explicitly (the Debian defaults listen on 0.0.0.0), no s2s, the tuned GC line,
warn-level log to a file in the run directory, ``pubsub.<domain>``, BOSH on ``/http-bind`` and
WebSocket on ``/ws``.

Secure ports (off unless given, with a certificate and key): XMPP with direct TLS
(``c2s_tls_port``, Finesse's 5223) and HTTPS for BOSH, WebSocket and the EventTunnel page
(``https_port``, Finesse's 7443 of 12.0/12.5). "Finesse Notification Service shares the same
certificate with Cisco Finesse Tomcat": a deployment gives the node's certificate, issued by its CA
(emu_base/tls.py). The certificate is set per listener (``c2s_direct_tls_ssl``, ``https_ssl``), never
for the host, so the plain c2s port offers no STARTTLS and stays as it was.

Accounts are real (``internal_plain``): Prosody checks every password against account files written
here at start, one per agent of the deployment's directory (the agent's Finesse password, as on a
real Finesse, whose Notification Service takes the same credentials as its REST API) and one for
``finesse``, the account the nodes publish with, whose password is read from a file (a random one per
deployment: ``<run_dir>/xmpp-password``, mode 0600). Only SASL PLAIN is offered, as Finesse does: the
SCRAM mechanisms Prosody would add are disabled, since with plain-text storage each SCRAM login
costs the server a PBKDF2 (10000 rounds) that PLAIN does not. Rosters come from
``mod_finesse_roster``, kept in memory, like everything but the accounts.

``auth="insecure"`` (any JID, any password) survives only as the baseline of ``python -m bench
xmpp-login``, which measures what the password check costs; no deployment mode or test fixture uses it.

Dead clients: ``crash_detection`` (default ``Timers.browser_crash_detection``, Cisco's 120 s
scaled) makes ``mod_finesse_roster`` ping a silent c2s or WebSocket session and close it if it stays
silent, so a crashed browser's Unavailable presence reaches ``finesse`` within that bound.

Never run ``prosody --version``: in 0.12 it starts a server with the system config on 0.0.0.0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.resources
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from emu_base.directory import resolve
from emu_base.logs import get_logger
from emu_base.procs import port_in_use
from emu_base.secret_files import read_secret_file, write_private_file
from emu_base.timers import Timers
from finesse_emu.xmpp.event_tunnel import TUNNEL_PATH, install_tunnel

# "insecure": the benchmark's baseline only (bench/xmpp_login.py), see the module docstring.
AuthMode = Literal["internal_plain", "insecure"]

ROSTER_MODULE = "mod_finesse_roster.lua"
# On the pubsub component: disco shows a user only the nodes it may read (see the module).
PUBSUB_ACCESS_MODULE = "mod_finesse_pubsub_access.lua"
PLUGINS = (ROSTER_MODULE, PUBSUB_ACCESS_MODULE)
# Dead-client detection (mod_finesse_roster): ping a session silent for PING_IDLE_SHARE of the
# bound, close it if still silent PING_TIMEOUT_SHARE of the bound later. Worst case 95% of the bound.
PING_IDLE_SHARE = 0.5
PING_TIMEOUT_SHARE = 0.45
PASSWORD_FILE = "xmpp-password"  # the finesse account's password, next to the config unless given
# What Prosody 0.12 would offer besides PLAIN with plain-text accounts (util/sasl/scram.lua): each
# SCRAM login derives the salted password on the server (PBKDF2, 10000 rounds). Finesse offers PLAIN.
DISABLED_SASL = ["DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
INSTALL_HINT = "install it with `apt-get install prosody` (or run `make test`, which installs it)"

log = get_logger()


class ProsodyError(RuntimeError):
    """Prosody could not be started (or is not installed)."""


class ProsodyNotFound(ProsodyError):
    pass


def prosody_binary() -> str:
    """Path of the ``prosody`` executable, or :class:`ProsodyNotFound` naming the fix."""
    path = shutil.which("prosody") or next(
        (p for p in ("/usr/bin/prosody", "/usr/sbin/prosody") if os.access(p, os.X_OK)), None
    )
    if path is None:
        raise ProsodyNotFound(f"the `prosody` binary is not on PATH: {INSTALL_HINT}")
    return path


def _lua_str(value: str) -> str:
    """A Lua string literal: every byte outside printable ASCII (and quote, backslash) as \\ddd."""
    out = []
    for b in value.encode("utf-8"):
        ch = chr(b)
        out.append(f"\\{b:03d}" if b < 0x20 or b >= 0x7F or ch in '"\\' else ch)
    return '"' + "".join(out) + '"'


def _lua_list(values: list[str]) -> str:
    return "{ " + "".join(f"{v}; " for v in values) + "}"


def datamanager_encode(name: str) -> str:
    """Prosody's datamanager file-name encoding: every non-alphanumeric byte becomes %xx."""
    return "".join(
        chr(b) if chr(b).isascii() and chr(b).isalnum() else f"%{b:02x}" for b in name.encode("utf-8")
    )


def is_ip_literal(domain: str) -> bool:
    try:
        ipaddress.ip_address(domain.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ProsodyConfig:
    """Everything that varies between two nodes' Prosody configurations."""

    domain: str  # the node's xmppDomain: host name or IPv4 literal (both work on 0.12.3)
    run_dir: Path
    host: str = "127.0.0.1"  # the loopback address every listener binds to
    c2s_port: int = 5222
    http_port: int = 7071
    auth: AuthMode = "internal_plain"
    # The agents' {id: Finesse password}, written as Prosody accounts at start (never printed).
    accounts: Mapping[str, str] = field(default_factory=dict, repr=False)
    service_user: str = "finesse"
    # The file holding the service user's password; None: <run_dir>/xmpp-password, made at the
    # first start with a random password.
    service_password_file: Path | None = None
    run_as_root: bool | None = None  # None: when this process runs as root
    log_level: str = "warn"
    bosh_path: str = "/http-bind"
    websocket_path: str = "/ws"
    # Cisco: a crashed browser is detected "within up to 120 seconds" (Timers.browser_crash_detection,
    # scaled by FINESSE_EMU_TIME_SCALE by default). None: no server pings (a silent socket stays).
    crash_detection: float | None = field(default_factory=lambda: Timers.build().browser_crash_detection)
    # The EventTunnel page at /tunnel/ on the HTTP port (finesse_emu/xmpp/event_tunnel.py): the
    # Finesse JavaScript library's iframe, on BOSH's and WebSocket's origin. Off for a server that
    # is not a Finesse Notification Service.
    event_tunnel: bool = True
    # CORS of BOSH and WebSocket: the node's allowed origins (empty: off, Finesse's default;
    # finesse_emu/server/cors.py). Taken at start: a change on the node's control plane reaches
    # Prosody at its next start.
    cors_origins: tuple[str, ...] = ()
    # Secure ports (module docstring): None, off. Either needs tls_cert and tls_key, PEM files
    # Prosody can read (the node's certificate and key in a deployment).
    c2s_tls_port: int | None = None
    https_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __post_init__(self) -> None:
        if self.auth not in ("internal_plain", "insecure"):
            raise ValueError(
                f"auth must be 'internal_plain' (or 'insecure', a benchmark's), got {self.auth!r}"
            )
        if self.service_user.lower() in (user.lower() for user in self.accounts):
            raise ValueError(f"an agent may not be named {self.service_user!r}: that is the nodes' account")
        if not ipaddress.ip_address(self.host).is_loopback:
            raise ValueError(f"Prosody listens on loopback addresses only, got {self.host!r}")
        if not re.fullmatch(r"[A-Za-z0-9.\-]+", self.domain):  # host names and IPv4 literals
            raise ValueError(f"unsupported XMPP domain {self.domain!r}")
        if self.crash_detection is not None and not self.crash_detection > 0:
            raise ValueError(f"crash_detection must be > 0 seconds or None, got {self.crash_detection!r}")
        if self.tls_ports and not (self.tls_cert and self.tls_key):
            raise ValueError("the TLS ports (c2s_tls_port, https_port) need tls_cert and tls_key")

    @property
    def tls_ports(self) -> list[int]:
        return [p for p in (self.c2s_tls_port, self.https_port) if p is not None]

    @property
    def ports(self) -> list[int]:
        """Every port it listens on."""
        return [self.c2s_port, self.http_port, *self.tls_ports]

    @property
    def pubsub_domain(self) -> str:
        return f"pubsub.{self.domain}"

    @property
    def config_path(self) -> Path:
        return self.run_dir / "prosody.cfg.lua"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "prosody.log"

    @property
    def data_path(self) -> Path:
        return self.run_dir / "data"

    @property
    def plugin_dir(self) -> Path:
        return self.run_dir / "plugins"

    @property
    def tunnel_dir(self) -> Path:
        return self.run_dir / "tunnel"

    @property
    def password_file(self) -> Path:
        """Where the service user's password is (see ``service_password_file``)."""
        return self.service_password_file or self.run_dir / PASSWORD_FILE

    def as_root(self) -> bool:
        return os.geteuid() == 0 if self.run_as_root is None else self.run_as_root

    @property
    def ping_interval(self) -> float | None:
        """Seconds of silence after which a client session gets an XEP-0199 ping."""
        return None if self.crash_detection is None else self.crash_detection * PING_IDLE_SHARE

    @property
    def ping_timeout(self) -> float | None:
        """Seconds a pinged session may stay silent before it is closed (and seen Unavailable)."""
        return None if self.crash_detection is None else self.crash_detection * PING_TIMEOUT_SHARE


def render_config(cfg: ProsodyConfig) -> str:
    """The Lua configuration text (pure: touches no file)."""
    q = _lua_str
    host = q(cfg.host)
    service_jid = f"{cfg.service_user}@{cfg.domain}"
    modules = ["roster", "saslauth", "disco", "ping", "bosh", "websocket", "finesse_roster"]
    http_paths = {"websocket": cfg.websocket_path, "bosh": cfg.bosh_path}
    if cfg.event_tunnel:
        modules.append("http_files")
        http_paths["files"] = TUNNEL_PATH
    lines = [
        "-- Generated by finesse-emu (finesse_emu.xmpp.prosody): one Finesse node's Notification Service.",
        "-- Loopback only: every interface option is set, the Debian defaults would listen on 0.0.0.0.",
    ]
    if cfg.as_root():
        lines.append("run_as_root = true")
    lines += [
        "daemonize = false",
        # Prosody's default threshold (105) costs ~3x the server CPU under load (measured: docs/xmpp.md).
        'gc = { mode = "incremental", threshold = 200, speed = 200 }',
        f"pidfile = {q(str(cfg.run_dir / 'prosody.pid'))}",
        f"data_path = {q(str(cfg.data_path))}",
        f"certificates = {q(str(cfg.run_dir / 'certs'))}",  # empty: silences certmanager's error
        f"plugin_paths = {{ {q(str(cfg.plugin_dir))} }}",
        f'log = {{ {{ levels = {{ min = {q(cfg.log_level)} }}, to = "file", '
        f"filename = {q(str(cfg.log_path))} }} }}",
        f"admins = {{ {q(service_jid)} }}",  # owner on the pubsub component: create, publish, subscribe-other
        f"finesse_service_user = {q(cfg.service_user)}",
    ]
    if cfg.ping_interval is not None and cfg.ping_timeout is not None:
        # Dead clients (crashed browser, silent socket) are closed within crash_detection seconds
        # of their last byte; mod_finesse_roster sends the pings (Prosody 0.12 cannot).
        lines += [
            f"finesse_ping_interval = {cfg.ping_interval:.6g}",
            f"finesse_ping_timeout = {cfg.ping_timeout:.6g}",
        ]
    c2s_tls = "{ }" if cfg.c2s_tls_port is None else f"{{ {cfg.c2s_tls_port} }}"
    https = "{ }" if cfg.https_port is None else f"{{ {cfg.https_port} }}"
    lines += [
        "",
        f"interfaces = {{ {host} }}",
        f"local_interfaces = {{ {host} }}",
        f"c2s_ports = {{ {cfg.c2s_port} }}",
        "c2s_interfaces = { " + host + " }",
        f"c2s_direct_tls_ports = {c2s_tls}",  # on `interfaces`
        "legacy_ssl_ports = { }",
        "s2s_ports = { }",
        "s2s_interfaces = { " + host + " }",
        "s2s_direct_tls_ports = { }",
        f"http_ports = {{ {cfg.http_port} }}",
        f"http_interfaces = {{ {host} }}",
        f"https_ports = {https}",
        f"https_interfaces = {{ {host} }}",
        f"http_default_host = {q(cfg.domain)}",  # Host: 127.0.0.1:<port> reaches the vhost
        "http_paths = { " + "".join(f"{k} = {q(v)}; " for k, v in http_paths.items()) + "}",
    ]
    if cfg.tls_cert and cfg.tls_key:
        # Per listener, not per host: a host certificate would make the plain c2s port offer STARTTLS.
        ssl = f"{{ certificate = {q(str(cfg.tls_cert))}; key = {q(str(cfg.tls_key))}; }}"
        lines += [f"c2s_direct_tls_ssl = {ssl}", f"https_ssl = {ssl}"]
    lines += [
        "",
        "c2s_require_encryption = false",
        "allow_unencrypted_plain_auth = true",
        "consider_bosh_secure = true",
        "consider_websocket_secure = true",
        "",
        f"modules_enabled = {_lua_list([q(m) for m in modules])}",
        'modules_disabled = { "s2s"; "offline"; }',
        # Prosody's BOSH and WebSocket answer every origin by default (Access-Control-Allow-Origin
        # echoing it); Finesse's Notification Service has CORS off unless an origin is allowed.
        f"http_cors_override = {{ bosh = {_cors(cfg.cors_origins)}; websocket = {_cors(cfg.cors_origins)} }}",
    ]
    if cfg.event_tunnel:
        lines.append(f"http_files_dir = {q(str(cfg.tunnel_dir))}")
    if cfg.auth == "insecure":  # the benchmark's baseline only: any password
        lines += [
            'authentication = "insecure"',
            'insecure_open_authentication = "Yes please, I know what I\'m doing!"',
            'storage = "memory"',
        ]
    else:
        lines += [
            'authentication = "internal_plain"',
            # SASL PLAIN only, what Finesse offers and its clients use (no server-side PBKDF2).
            f"disable_sasl_mechanisms = {_lua_list([q(m) for m in DISABLED_SASL])}",
            # Only accounts come from files; rosters stay virtual, pubsub state stays in memory.
            'default_storage = "memory"',
            'storage = { accounts = "internal" }',
        ]
    lines += [
        "",
        f"VirtualHost {q(cfg.domain)}",
        "",
        f'Component {q(cfg.pubsub_domain)} "pubsub"',
        '    modules_enabled = { "finesse_pubsub_access" }',
        "",
    ]
    return "\n".join(lines)


def _cors(origins: tuple[str, ...]) -> str:
    if not origins:
        return "{ enabled = false }"
    return f"{{ enabled = true; credentials = true; origins = {_lua_list([_lua_str(o) for o in origins])} }}"


def write_accounts(data_path: Path, domain: str, accounts: Mapping[str, str]) -> int:
    """Write ``internal`` account files (plain passwords, mode 0600) the way ``prosodyctl`` would,
    and remove every other account: the set is exactly ``accounts`` (no agent of an earlier run
    keeps a way in). Prosody reads them on each login, so no restart is needed. User names are
    lower-cased, as Prosody's nodeprep (and EventTunnel) do."""
    adir = data_path / datamanager_encode(domain) / "accounts"
    adir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(adir, 0o700)
    names = set()
    for user, password in accounts.items():
        name = f"{datamanager_encode(user.lower())}.dat"
        names.add(name)
        write_private_file(adir / name, f'return {{ ["password"] = {_lua_str(password)}; }};\n')
    for stale in adir.glob("*.dat"):
        if stale.name not in names:
            stale.unlink()
    return len(accounts)


def agent_accounts(agents: int | str | None) -> dict[str, str]:
    """Every agent's XMPP account, ``{id: Finesse password}``, from the agent directory the AWDB and
    CTI stubs are seeded from (``agents``: a count, an agent file, or None for the default 50)."""
    return {a.id: a.password for a in resolve(None if agents is None else str(agents))}


def service_password(cfg: ProsodyConfig) -> str:
    """The service user's password from ``cfg.password_file``; the default file is created with a
    random password if it does not exist yet (a file given explicitly must exist)."""
    path = cfg.password_file
    if cfg.service_password_file is None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private_file(path, secrets.token_urlsafe(24) + "\n")
    try:
        return read_secret_file(path, f"the {cfg.service_user} account's password file")
    except ValueError as exc:
        raise ProsodyError(str(exc)) from None


def prepare_run_dir(cfg: ProsodyConfig) -> None:
    """Create the run directory: config, plugin, empty certificate dir, data (and accounts)."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    cfg.data_path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(cfg.data_path, 0o700)  # the accounts hold passwords in plain text
    (cfg.run_dir / "certs").mkdir(exist_ok=True)
    cfg.plugin_dir.mkdir(exist_ok=True)
    # Copied rather than pointed at, so it also works when the package is installed zipped.
    for plugin in PLUGINS:
        source = importlib.resources.files("finesse_emu.xmpp").joinpath(plugin)
        (cfg.plugin_dir / plugin).write_bytes(source.read_bytes())
    if cfg.event_tunnel:
        install_tunnel(cfg.tunnel_dir)
    if cfg.auth == "internal_plain":
        accounts = {**cfg.accounts, cfg.service_user: service_password(cfg)}
        write_accounts(cfg.data_path, cfg.domain, accounts)
    cfg.config_path.write_text(render_config(cfg))


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL me when my parent dies (Linux prctl PR_SET_PDEATHSIG), so
    a crashed emulator leaves no Prosody holding its ports. A no-op elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


async def _accepts(host: str, port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class ProsodyProcess:
    """``prosody -F --config <run_dir>/prosody.cfg.lua`` as a child process.

    ``run_dir=None`` uses a fresh temporary directory, removed by :meth:`stop`. Restarting (start
    after stop or kill) rewrites the config and reuses the same ports, like a restarted node.
    ``accounts``: the agents' ``{id: password}``; ``service_password_file``: the ``finesse``
    account's password (default ``<run_dir>/xmpp-password``, made at the first start).
    ``die_with_parent`` (Linux): Prosody gets SIGKILL when the thread that started it dies, so a
    crashed emulator leaves no server behind; turn it off when Prosody must outlive its starter.
    ``event_tunnel``: serve the EventTunnel page at ``/tunnel/`` (a Notification Service does; IM&P
    does not).
    ``crash_detection``: seconds within which a silent client is closed (None: never); by default
    Cisco's 120 s scaled by ``FINESSE_EMU_TIME_SCALE``, so pass ``Timers.browser_crash_detection``
    when the time scale comes from elsewhere.
    """

    def __init__(
        self,
        domain: str,
        *,
        host: str = "127.0.0.1",
        c2s_port: int = 5222,
        http_port: int = 7071,
        run_dir: Path | str | None = None,
        auth: AuthMode = "internal_plain",
        accounts: Mapping[str, str] | None = None,
        service_user: str = "finesse",
        service_password_file: Path | str | None = None,
        log_level: str = "warn",
        die_with_parent: bool = True,
        crash_detection: float | Literal["default"] | None = "default",
        event_tunnel: bool = True,
        cors_origins: tuple[str, ...] = (),
        c2s_tls_port: int | None = None,
        https_port: int | None = None,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
    ) -> None:
        self.die_with_parent = die_with_parent
        self._own_dir = run_dir is None
        rd = Path(tempfile.mkdtemp(prefix="finesse-emu-prosody-") if run_dir is None else run_dir)
        self.config = ProsodyConfig(
            domain=domain,
            run_dir=rd.resolve(),
            host=host,
            c2s_port=c2s_port,
            http_port=http_port,
            auth=auth,
            accounts=dict(accounts or {}),
            service_user=service_user,
            service_password_file=None if service_password_file is None else Path(service_password_file),
            log_level=log_level,
            event_tunnel=event_tunnel,
            cors_origins=tuple(cors_origins),
            c2s_tls_port=c2s_tls_port,
            https_port=https_port,
            tls_cert=None if tls_cert is None else Path(tls_cert).resolve(),
            tls_key=None if tls_key is None else Path(tls_key).resolve(),
        )
        if crash_detection != "default":  # else the scaled default, from FINESSE_EMU_TIME_SCALE
            self.config = dataclasses.replace(self.config, crash_detection=crash_detection)
        self._popen: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    # -- what clients need -------------------------------------------------------------------
    @property
    def domain(self) -> str:
        return self.config.domain

    @property
    def pubsub_domain(self) -> str:
        return self.config.pubsub_domain

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def c2s_port(self) -> int:
        return self.config.c2s_port

    @property
    def http_port(self) -> int:
        return self.config.http_port

    @property
    def bosh_url(self) -> str:
        return f"http://{self.host}:{self.http_port}{self.config.bosh_path}"

    @property
    def websocket_url(self) -> str:
        return f"ws://{self.host}:{self.http_port}{self.config.websocket_path}"

    @property
    def c2s_tls_port(self) -> int | None:
        return self.config.c2s_tls_port

    @property
    def https_port(self) -> int | None:
        return self.config.https_port

    @property
    def https_origin(self) -> str | None:
        """``https://host:port`` of the HTTPS port (BOSH, WebSocket, the EventTunnel), if any."""
        return None if self.https_port is None else f"https://{self.host}:{self.https_port}"

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def log_path(self) -> Path:
        return self.config.log_path

    def log_text(self) -> str:
        parts = []
        for p in (self.config.log_path, self.config.run_dir / "prosody.stdout"):
            if p.exists():
                parts.append(p.read_text(errors="replace"))
        return "".join(parts)

    @property
    def service_user(self) -> str:
        return self.config.service_user

    @property
    def service_password(self) -> str:
        """The ``finesse`` account's password (what the nodes' publisher logs in with)."""
        return service_password(self.config)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, timeout: float = 10.0) -> float:
        """Start Prosody and wait until every port accepts; returns the seconds taken."""
        if self.running:
            raise ProsodyError(f"prosody already running (pid {self.pid})")
        binary = prosody_binary()
        cfg = self.config
        for port in cfg.ports:
            # Prosody only logs a failed bind and keeps running: a stale listener would pass the poll.
            if port_in_use(cfg.host, port):
                raise ProsodyError(f"{cfg.host}:{port} is already in use")
        prepare_run_dir(cfg)
        cfg.log_path.unlink(missing_ok=True)
        out = (cfg.run_dir / "prosody.stdout").open("ab")
        t0 = time.monotonic()
        try:
            # Popen, not asyncio's: the process must outlive this loop and be killable from plain
            # code (fixtures, atexit); fork+exec takes about a millisecond.
            self._popen = subprocess.Popen(  # noqa: ASYNC220
                [binary, "-F", "--config", str(cfg.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cfg.run_dir,
                start_new_session=True,  # a Ctrl-C on the emulator's terminal is the emulator's to handle
                # prctl only, no locks or allocation in Python code that could deadlock after fork
                preexec_fn=_die_with_parent if self.die_with_parent else None,  # noqa: PLW1509
            )
        finally:
            out.close()
        deadline = t0 + timeout
        pending = set(cfg.ports)
        while pending:
            if self._popen.poll() is not None:
                rc = self._popen.returncode
                raise ProsodyError(f"prosody exited with {rc} during start-up:\n{self.log_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise ProsodyError(f"prosody ports {sorted(pending)} not accepting after {timeout}s")
            if pending & set(cfg.tls_ports) and "Error binding encrypted port" in self.log_text():
                self.kill()  # a certificate it cannot load: the port would never open
                raise ProsodyError(f"prosody could not open its TLS ports:\n{self.log_text()[-2000:]}")
            for port in list(pending):
                if await _accepts(cfg.host, port):
                    pending.discard(port)
            if pending:
                await asyncio.sleep(0.01)
        if "Failed to open server port" in self.log_text():
            self.kill()
            raise ProsodyError(f"prosody could not bind its ports:\n{self.log_text()[-2000:]}")
        self.startup_seconds = time.monotonic() - t0
        log.info(
            "prosody_started", pid=self.pid, domain=self.domain, host=self.host,
            c2s_port=self.c2s_port, http_port=self.http_port, tls_ports=cfg.tls_ports,
            seconds=round(self.startup_seconds, 3),
        )  # fmt: skip
        return self.startup_seconds

    async def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        rc = await self._terminate(signal.SIGTERM, timeout)
        if self._own_dir:
            shutil.rmtree(self.config.run_dir, ignore_errors=True)
        return rc

    def kill(self) -> None:
        """SIGKILL now (a crash, for fault tests). The process is reaped by :meth:`wait` or ``stop``."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(signal.SIGKILL)
            log.info("prosody_killed", pid=self.pid)

    async def wait(self, timeout: float = 5.0) -> int | None:
        """Wait (without blocking the loop) until the process has exited; returns its status."""
        if self._popen is None:
            return None
        deadline = time.monotonic() + timeout
        while self._popen.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"prosody pid {self.pid} still running after {timeout}s")
            await asyncio.sleep(0.01)
        return self._popen.returncode

    async def _terminate(self, sig: int, timeout: float) -> int | None:
        if self._popen is None:
            return None
        if self._popen.poll() is None:
            self._popen.send_signal(sig)
            try:
                await self.wait(timeout)
            except TimeoutError:
                self._popen.kill()
                await self.wait(timeout)
        rc = self._popen.returncode
        log.info("prosody_stopped", pid=self.pid, returncode=rc)
        return rc
