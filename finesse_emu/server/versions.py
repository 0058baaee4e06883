"""The Finesse release a node emulates, and the secure notification ports it offers (pure).

Cisco's developer FAQ gives the port of the secure notification transports by release: "For Finesse
12.0(1) & 12.5(1): 7443" (https BOSH at ``/http-bind`` and WebSocket at ``/ws``, the EventTunnel's
origin) and "For Finesse 12.6(1) and above: 8445" (the WebSocket through the web server,
``wss://<node>:8445/ws/``); "Starting Cisco Finesse 12.6(1), support for notifications over BOSH
(long polling) and the usage of port 7443 are deprecated". XMPP over TLS on 5223 is "enabled by
default" in both. The emulator's 12.6 treats the deprecated port as gone: a client that still
needs 7443 finds out here, and the 12.5 setting brings it back.

SystemInfo follows the release too: 12.5's ``primaryNode``/``secondaryNode`` hold only ``<host>``;
12.6 added ``httpsPort``, ``xmppPort`` and ``xmppSecurePort``, and the node advertises only the
ports that listen (docs/finesse.md, "Ports").

The plain ports (REST 8082, XMPP 5222, BOSH/WebSocket 7071) are the emulator's in every release
(a real node has 5222 and 7071 off unless ``enableInsecureOpenfirePort``).
"""

from __future__ import annotations

from dataclasses import dataclass

RELEASES = ("12.5", "12.6")
DEFAULT_VERSION = "12.6"  # what SystemInfo's documented structure (the 12.6+ one) describes


@dataclass(frozen=True)
class SecurePorts:
    """What a release offers besides the plain ports."""

    notification_https: bool  # 7443: https BOSH, wss /ws and the EventTunnel page /tunnel/
    xmpp_direct_tls: bool  # 5223: XMPP with direct TLS
    web_port_websocket: bool  # wss://<node>:8445/ws/, through the node's web server
    system_info_ports: bool  # httpsPort, xmppPort, xmppSecurePort in SystemInfo's node elements


OFFERS: dict[str, SecurePorts] = {
    "12.5": SecurePorts(
        notification_https=True, xmpp_direct_tls=True, web_port_websocket=False, system_info_ports=False
    ),
    "12.6": SecurePorts(
        notification_https=False, xmpp_direct_tls=True, web_port_websocket=True, system_info_ports=True
    ),
}


def check_version(version: object) -> str:
    """The release as written in a config (``"12.5"``, ``"12.6"``; a YAML number 12.5 too), or
    ValueError naming the ones known."""
    text = str(version) if isinstance(version, str | float) and not isinstance(version, bool) else None
    if text not in RELEASES:
        raise ValueError(f"finesse version {version!r}: one of {', '.join(RELEASES)}")
    return text


def offers(version: str) -> SecurePorts:
    return OFFERS[check_version(version)]
