"""A Finesse node's settings (YAML file, command line, launcher): read by the node shell and its core."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from emu_base.secret_files import read_secret_file


@dataclass
class NodeConfig:
    name: str = "finesse-a"
    role: str = "publisher"  # or "subscriber"
    host: str = "127.0.0.1"  # bind address, node host and xmppDomain
    http_port: int = 8082  # 0: any free port; -1: off
    https_port: int = 8445  # -1: off
    admin_port: int = 8089  # the emulator's control plane; -1: off
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
    # Reload coordination (server/gadgets.py Pacer): desktop content requests per second, in seed
    # terms (scaled with the run's time_scale); 0 = off.
    reload_rate: float = 0.0
    # Log every pubsub publish, REST answer and authentication (finesse_publish, finesse_request,
    # finesse_auth): a scenario run's history then lets `finesse-emu check` verify the node too.
    event_log: bool = False
    # Same-origin hosting (server/thirdparty.py): the folder served at /3rdpartygadget/files/ on the
    # web ports ("" = none: 404).
    thirdparty_dir: str = ""
    # CORS (server/cors.py): the origins allowed to call the REST API and the Notification Service
    # from a page of theirs (empty: CORS off, Finesse's default); changed live on the control plane.
    cors_origins: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together (or neither: a certificate is made)")

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

    def xmpp_password(self) -> str:
        """The ``finesse`` account's password, from ``xmpp_password_file``; ValueError if missing."""
        if not self.xmpp_password_file:
            raise ValueError("xmpp_host needs xmpp_password_file: the finesse XMPP account's password")
        return read_secret_file(self.xmpp_password_file, "xmpp_password_file")
