"""Where each component of an embedded deployment lives: its own loopback address, real ports.

Admin (control plane) ports are the emulator's own convention; everything else is the product's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    name: str
    host: str
    port: int
    admin_port: int


CTI_A = Endpoint("cti-a", "127.0.10.1", 42027, 42029)
CTI_B = Endpoint("cti-b", "127.0.10.2", 43027, 43029)
# The private link between the PG sides (side B dials side A).
CTI_LINK_PORT = {"A": 42028, "B": 43028}
# Administration & Data Servers: the query API on 1433 (SQL Server's port, where Finesse finds the
# AWDB), the control plane on 1434.
AWDB_A = Endpoint("awdb-a", "127.0.10.3", 1433, 1434)
AWDB_B = Endpoint("awdb-b", "127.0.10.4", 1433, 1434)
# Each Finesse node and its Notification Service share the node's address: clients connect to the
# xmppDomain of SystemInfo, which is the node host (as on a real Finesse server).
FINESSE_A = Endpoint("finesse-a", "127.0.10.7", 8082, 8089)
FINESSE_B = Endpoint("finesse-b", "127.0.10.8", 8082, 8089)
FINESSE_HTTPS_PORT = 8445
XMPP_C2S_PORT = 5222
XMPP_HTTP_PORT = 7071  # BOSH /http-bind and WebSocket /ws
# The secure ports, with the node's certificate (server/versions.py says which a release offers):
# XMPP with direct TLS, and HTTPS BOSH, WebSocket and the EventTunnel page (12.0/12.5).
XMPP_C2S_TLS_PORT = 5223
XMPP_HTTPS_PORT = 7443
# Cisco Unified CM IM and Presence (IM&P), the desktop chat's server: a cluster of its own (publisher
# imp-a, subscriber imp-b), separate from the Finesse nodes and their Notification Service. It has no
# control plane of the emulator's (admin_port 0): its faults are the process verbs (kill, hang...).
# Both nodes serve one presence domain, so an agent's chat JID is the same on either.
IMP_A = Endpoint("imp-a", "127.0.10.11", 5222, 0)
IMP_B = Endpoint("imp-b", "127.0.10.12", 5222, 0)
IMP_HTTP_PORT = 7071
IMP_DOMAIN = "imp.finesse-emu"
# Cisco Identity Service (single sign-on, off unless the deployment asks for it): HTTPS on 8553,
# Cisco's IdS port; the control plane on 8554.
IDS = Endpoint("ids", "127.0.10.13", 8553, 8554)

# The client-path proxy (finesse_emu/edge/) of each node owns the node's client-facing ports on the
# node's address and carries the bytes to the node and its Prosody, which then listen on the node's
# internal address (the same /24, last number + 100: 127.0.10.107 for finesse-a); faults on the
# client's path go to its control plane. `finesse-emu up --no-client-proxy` leaves it out.
EDGE_ADMIN_PORT = 8090
INTERNAL_OFFSET = 100

DEFAULT_NETWORK = "127.0.10"


def edge_name(node: Endpoint) -> str:
    """The client-path proxy of a node: edge-a for finesse-a."""
    return "edge-" + node.name.rsplit("-", 1)[1]


def internal(ep: Endpoint) -> Endpoint:
    """Where a node (and its Prosody) listens behind its client-path proxy."""
    prefix, last = ep.host.rsplit(".", 1)
    return Endpoint(ep.name, f"{prefix}.{int(last) + INTERNAL_OFFSET}", ep.port, ep.admin_port)


def on_network(ep: Endpoint, network: str) -> Endpoint:
    """The same endpoint on another loopback /24 (``127.0.N``), so deployments can run side by side."""
    return Endpoint(ep.name, f"{network}.{ep.host.rsplit('.', 1)[1]}", ep.port, ep.admin_port)


def check_network(network: str) -> str:
    """``127.0.N`` (loopback only), or ValueError."""
    parts = network.split(".")
    if (
        len(parts) != 3
        or parts[:2] != ["127", "0"]
        or not parts[2].isdigit()
        or not 0 <= int(parts[2]) <= 255
    ):
        raise ValueError(f"network must be a loopback /24 written 127.0.N, got {network!r}")
    return network
