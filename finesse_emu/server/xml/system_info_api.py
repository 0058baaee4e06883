"""SystemInfo: ``GET /finesse/api/SystemInfo`` (the 12.6+ structure) and the SystemInfo ``Update``.

A node element names the ports it has: 12.5's hold only ``<host>`` (``NodeView.ports`` False), and
a port that does not listen is left out rather than advertised (``None``; server/versions.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from finesse_emu.server.xml.common import API, document, epoch_ms, format_time, serialize, sub


@dataclass(frozen=True)
class NodeView:
    host: str
    https_port: int | None = 8445
    xmpp_port: int | None = 5222
    xmpp_secure_port: int | None = 5223
    ports: bool = True  # False: the 12.5 element, <host> only


@dataclass(frozen=True)
class CtiServerView:
    host: str
    connected_duration: int  # seconds
    active: bool


@dataclass(frozen=True)
class SystemInfoView:
    current_timestamp: float
    status: str  # IN_SERVICE | OUT_OF_SERVICE | PARTIAL_SERVICE
    xmpp_domain: str  # must equal primary_node.host or secondary_node.host exactly
    primary_node: NodeView
    secondary_node: NodeView | None = None
    deployment_type: str = "UCCE"
    last_cti_heartbeat_ok: bool = True  # renders lower-case success | failure
    last_success_cti_heartbeat_time: float | None = None  # epoch seconds; rendered in ms, 0 if never
    cti_version: int = 24
    cti_heartbeat_interval: int = 5  # seconds
    cti_mmode: str = ""
    cti_time_in_mmode: int = -1
    finesse_mmode: str = ""
    finesse_time_in_mmode: int = -1
    license: str = ""
    peripheral_id: int = 5000
    status_reason: str = ""
    system_auth_mode: str = "NON_SSO"
    timezone_offset: int = 0  # minutes east of UTC
    xmpp_pubsub_domain: str | None = None  # default "pubsub." + xmpp_domain
    cti_servers: tuple[CtiServerView, ...] = ()


def _node(parent: ET.Element, tag: str, node: NodeView) -> None:
    el = ET.SubElement(parent, tag)
    sub(el, "host", node.host)
    if not node.ports:
        return
    for name, port in (
        ("httpsPort", node.https_port),
        ("xmppPort", node.xmpp_port),
        ("xmppSecurePort", node.xmpp_secure_port),
    ):
        if port is not None:
            sub(el, name, port)


def _system_info_element(v: SystemInfoView, root: str) -> ET.Element:
    el = ET.Element(root)
    sub(el, "currentTimestamp", format_time(v.current_timestamp))
    sub(el, "deploymentType", v.deployment_type)
    sub(el, "lastCTIHeartbeatStatus", "success" if v.last_cti_heartbeat_ok else "failure")
    last = v.last_success_cti_heartbeat_time
    sub(el, "lastSuccessCTIHeartbeatTime", 0 if last is None else epoch_ms(last))
    sub(el, "ctiVersion", v.cti_version)
    sub(el, "ctiHeartbeatInterval", v.cti_heartbeat_interval)
    sub(el, "ctiMMode", v.cti_mmode)
    sub(el, "ctiTimeInMMode", v.cti_time_in_mmode)
    sub(el, "finesseMMode", v.finesse_mmode)
    sub(el, "finesseTimeInMMode", v.finesse_time_in_mmode)
    sub(el, "license", v.license)
    sub(el, "peripheralId", v.peripheral_id)
    _node(el, "primaryNode", v.primary_node)
    if v.secondary_node is not None:
        _node(el, "secondaryNode", v.secondary_node)
    sub(el, "status", v.status)
    sub(el, "statusReason", v.status_reason)
    sub(el, "systemAuthMode", v.system_auth_mode)
    sub(el, "timezoneOffset", v.timezone_offset)
    sub(el, "uri", f"{API}/SystemInfo")
    sub(el, "xmppDomain", v.xmpp_domain)
    pubsub = v.xmpp_pubsub_domain if v.xmpp_pubsub_domain is not None else f"pubsub.{v.xmpp_domain}"
    sub(el, "xmppPubSubDomain", pubsub)
    servers = ET.SubElement(el, "ctiServers")
    for s in v.cti_servers:
        srv = ET.SubElement(servers, "ctiServer")
        sub(srv, "host", s.host)
        sub(srv, "connectedDuration", s.connected_duration)
        sub(srv, "active", s.active)
    return el


def system_info(view: SystemInfoView) -> bytes:
    """``GET /finesse/api/SystemInfo`` (the 12.6+ structure, in the documented order)."""
    return document(_system_info_element(view, "SystemInfo"))


def system_info_event(view: SystemInfoView, root: str = "systemInfo") -> str:
    """Data of a SystemInfo ``Update``; no public sample, lower-case root by default [UNCERTAIN]."""
    return serialize(_system_info_element(view, root))
