"""A Finesse node's settings (YAML file, command line, launcher): read by the node shell and its core."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from emu_base.secret_files import read_secret_file
from finesse_emu.capacity.profile import profile as capacity_profile
from finesse_emu.server.layout import STANDARD_VCPUS, DesktopLayout
from finesse_emu.server.versions import DEFAULT_VERSION, SecurePorts, check_version, offers

# SystemInfo systemAuthMode: "SSO", "NON_SSO" or "HYBRID" (the developer guide's SystemInfo).
AUTH_MODES = ("NON_SSO", "SSO", "HYBRID")

# Desktop properties the node gives its desktops (GET .../User/{id}/DesktopProperties), with the
# product's defaults: "By default, the preLoadSecondaryResources property is enabled."
DESKTOP_PROPERTIES: dict[str, bool] = {"preLoadSecondaryResources": True}


@dataclass
class NodeConfig:
    name: str = "finesse-a"
    role: str = "publisher"  # or "subscriber"
    host: str = "127.0.0.1"  # bind address, node host and xmppDomain
    http_port: int = 8082  # 0: any free port; -1: off
    https_port: int = 8445  # -1: off
    admin_port: int = 8089  # the emulator's control plane; -1: off
    # Its address ("" = host): behind a client-path proxy the node listens on an internal address
    # and keeps its control plane on its public one (finesse_emu/edge/).
    admin_host: str = ""
    primary_host: str = ""  # SystemInfo primaryNode/host ("" = this host if publisher)
    secondary_host: str = ""  # SystemInfo secondaryNode/host ("" = single node)
    cti_sides: list[tuple[str, str, int]] = field(default_factory=list)
    old_pg: bool = False
    awdb_urls: list[str] = field(default_factory=list)
    # The login every AWDB request carries (the AWDB's --login-user / --login-password-file); no
    # file: the AWDBs are open (a standalone stub on loopback).
    awdb_user: str = "finesse"
    awdb_password_file: str | None = None
    xmpp_host: str | None = None  # this node's Prosody (None: no notifications)
    xmpp_port: int = 5222
    # Its Prosody's XMPP direct-TLS port (5223 in a deployment), advertised as SystemInfo's
    # xmppSecurePort; -1: none listens, none advertised.
    xmpp_secure_port: int = -1
    # Its Prosody's plain HTTP port: where the web port's WebSocket (/ws/, 12.6) is relayed to.
    xmpp_http_port: int = 7071
    xmpp_domain: str = ""  # "" = host
    # The file holding the password of the `finesse` XMPP account this node publishes with (random
    # per deployment, mode 0600: <run_dir>/xmpp-password, /secrets/xmpp-password in containers).
    xmpp_password_file: str | None = None
    # HTTPS (emu_base/tls.py): the node's certificate and key, and the CA that issued it (what
    # clients trust). Without them the node makes a CA and a certificate in run_dir.
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    run_dir: str = ""  # the generated CA and certificate, when no cert_file is given
    deployment_type: str = "UCCE"
    peripheral_id: int = 5000
    admin_token: str | None = None
    # Finesse's enableAutoWorkModeStateChange: after a CTI reconnect, true (the default, the old
    # behaviour) brings agents back from WORK on their non-voice MRDs by itself; false leaves them
    # in WORK until the client calls the Media Work-to-Active API (UCCE 12.5+).
    enable_auto_work_mode_state_change: bool = True
    # Reload distribution (server/reload.py), on by default: desktop content (gadgets, resources)
    # is admitted at a rate derived from the node's agents (every desktop's content spread over
    # Timers.reload_spread, a Timers.reload_burst's worth at once). false: off, every request served
    # at once (for comparison). reload_rate > 0: an explicit rate instead, in requests per emulated
    # second (scaled with the run's time_scale), with no burst.
    reload_distribution: bool = True
    reload_rate: float = 0.0
    # Desktop properties (names as Finesse's, values true/false): the ones given replace the
    # defaults of DESKTOP_PROPERTIES; an unknown name is an error.
    desktop_properties: dict[str, bool] = field(default_factory=dict)
    # Log every pubsub publish, REST answer and authentication (finesse_publish, finesse_request,
    # finesse_auth): a scenario run's history then lets `finesse-emu check` verify the node too.
    event_log: bool = False
    # The desktop layout (server/layout.py): a list of gadget URLs, or counts of the emulator's
    # gadgets by kind ({xml: 6} when None: the default desktop); team layouts by team id override it.
    layout: Any = None
    team_layouts: dict[Any, Any] = field(default_factory=dict)
    # The node's vCPUs (the Finesse OVA's size): the 8 vCPU recommendation is checked against it.
    vcpus: int = STANDARD_VCPUS
    # The product's capacity, live (server/capacity.py; docs/finesse.md, Capacity): "none" (the
    # default: every request at once), "4vcpu" or "8vcpu" (the capacity model's profiles: requests
    # queue for the node's vCPUs, the Agent PG and the egress link as the planner has them).
    capacity: str = "none"
    # Same-origin hosting (server/thirdparty.py): the folder served at /3rdpartygadget/files/ on the
    # web ports ("" = none: 404).
    thirdparty_dir: str = ""
    # CORS (server/cors.py): the origins allowed to call the REST API and the Notification Service
    # from a page of theirs (empty: CORS off, Finesse's default); changed live on the control plane.
    cors_origins: list[str] = field(default_factory=list)
    # The Finesse release emulated, "12.5" or "12.6" (server/versions.py): which secure notification
    # ports are offered and which ports SystemInfo names.
    version: str = DEFAULT_VERSION
    # Single sign-on (SystemInfo's systemAuthMode): "NON_SSO" (HTTP Basic against the AWDB, the
    # default), "SSO" (REST takes ``Authorization: Bearer <access token>`` of the deployment's
    # Identity Service, finesse_emu/ids/; Basic is refused but for administrators) or "HYBRID" (both,
    # for every user). A node checks tokens itself with the deployment's signing key, this file.
    auth_mode: str = "NON_SSO"
    sso_signing_key_file: str | None = None
    # The credential cache's lifetime in emulated seconds (scaled like every timer). None: Cisco's "the
    # credentials are cached in Cisco Finesse for 30 minutes from the time of the request" (a real
    # Finesse offers no such setting). A shorter one lets a run reach "the cache has expired"
    # without waiting out the 30 minutes (scenario awdb-both-down-expired); the history's auth
    # events carry it, so `finesse-emu check` judges the cache by the lifetime the node had.
    credential_cache: float | None = None
    # The journal's size (server/journal.py, GET /emu/journal): the newest entries kept, REST
    # requests and notifications together; 0: no journal.
    journal_size: int = 10_000

    def __post_init__(self) -> None:
        self.version = check_version(self.version)
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together (or neither: a certificate is made)")
        self.desktop_properties = desktop_properties(self.desktop_properties)
        if self.auth_mode not in AUTH_MODES:
            raise ValueError(f"auth_mode: one of {', '.join(AUTH_MODES)}, got {self.auth_mode!r}")
        if self.auth_mode != "NON_SSO" and not self.sso_signing_key_file:
            raise ValueError(f"auth_mode {self.auth_mode} needs sso_signing_key_file (the IdS's signing key)")
        if isinstance(self.vcpus, bool) or not isinstance(self.vcpus, int) or self.vcpus < 1:
            raise ValueError("vcpus: a whole number >= 1")
        capacity_profile(self.capacity)  # an unknown profile stops the node at start
        if (
            isinstance(self.journal_size, bool)
            or not isinstance(self.journal_size, int)
            or self.journal_size < 0
        ):
            raise ValueError(f"journal_size: a whole number >= 0, got {self.journal_size!r}")
        self.desktop_layout()  # a layout that does not parse stops the node at start
        cache = self.credential_cache
        if cache is not None and (
            isinstance(cache, bool) or not isinstance(cache, int | float) or cache <= 0
        ):
            raise ValueError(f"credential_cache: seconds > 0 (None: 30 minutes), got {cache!r}")

    def desktop_layout(self) -> DesktopLayout:
        """The configured layouts (ValueError when they do not parse)."""
        if not isinstance(self.team_layouts, dict):
            raise ValueError("team_layouts: a mapping of team id to layout")
        return DesktopLayout.from_config(self.layout, self.team_layouts)

    @property
    def secure_ports(self) -> SecurePorts:
        return offers(self.version)

    @property
    def domain(self) -> str:
        return self.xmpp_domain or self.host

    def tls_hosts(self) -> list[str]:
        """What a certificate made for this node names: its name, XMPP domain and bind address (the
        loopback names and addresses as well when it binds every address)."""
        hosts = [self.name, self.domain, self.host]
        try:
            if ipaddress.ip_address(self.host).is_unspecified:
                hosts = [self.name, self.domain, "localhost", "127.0.0.1", "::1"]
        except ValueError:
            pass
        return list(dict.fromkeys(hosts))

    def sso_key(self) -> bytes | None:
        """The key single sign-on tokens are signed with (None: NON_SSO); ValueError if unreadable."""
        if self.auth_mode == "NON_SSO" or not self.sso_signing_key_file:
            return None
        return read_secret_file(self.sso_signing_key_file, "sso_signing_key_file").encode()

    def xmpp_password(self) -> str:
        """The ``finesse`` account's password, from ``xmpp_password_file``; ValueError if missing."""
        if not self.xmpp_password_file:
            raise ValueError("xmpp_host needs xmpp_password_file: the finesse XMPP account's password")
        return read_secret_file(self.xmpp_password_file, "xmpp_password_file")


def desktop_properties(given: object) -> dict[str, bool]:
    """The defaults of :data:`DESKTOP_PROPERTIES` with ``given`` over them; ValueError names an
    unknown property or a value that is not true/false."""
    if not isinstance(given, dict):
        raise ValueError(f"desktop_properties must be a mapping, got {given!r}")
    unknown = sorted(set(given) - set(DESKTOP_PROPERTIES))
    if unknown:
        raise ValueError(f"unknown desktop properties {unknown}; known: {sorted(DESKTOP_PROPERTIES)}")
    wrong = sorted(k for k, v in given.items() if not isinstance(v, bool))
    if wrong:
        raise ValueError(f"desktop properties {wrong} must be true or false")
    return {**DESKTOP_PROPERTIES, **given}
