"""SystemConfig: the CTI servers a Finesse node connects to, ``GET|PUT /finesse/api/SystemConfig``.

Cisco's configuration API: ``<SystemConfig><uri/><cti><host/><port/><backupHost/><backupPort/>
<peripheralId/><secure/></cti></SystemConfig>``; ``host``/``port`` are the A side, ``backupHost``/
``backupPort`` the B side ("The B Side CTI host and port must be configured through the Finesse
administration console", the Finesse Failover Mechanisms chapter). Host names: letters, digits,
``.`` and ``-`` only ("No special characters allowed except "." and "-""); ports 1-65535;
peripheralId 1-32767; the B side must not be the A side. ``secure`` (CTI over TLS) is not emulated:
only ``false`` is taken.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from finesse_emu.server.xml.common import API, document, sub
from finesse_emu.server.xml.errors import XmlInputError, invalid_input, parameter_missing
from finesse_emu.server.xml.parse import bool_field, children, int_field, leaf, safe_parse

URI = f"{API}/SystemConfig"
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}")


def host_field(name: str, value: str | None) -> str | None:
    """A host name or IPv4 address as the configuration APIs take it (None when absent)."""
    if value is None:
        return None
    if not _HOST.fullmatch(value):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return value


def port_field(name: str, value: str | None) -> int | None:
    return int_field(name, value, 1, 65535)


@dataclass(frozen=True)
class SystemConfigView:
    host: str
    port: int
    backup_host: str
    backup_port: int | None
    peripheral_id: int
    secure: bool = False


@dataclass(frozen=True)
class SystemConfigUpdate:
    """What a PUT gives; None: keep the current value."""

    host: str | None = None
    port: int | None = None
    backup_host: str | None = None
    backup_port: int | None = None
    peripheral_id: int | None = None


def system_config(view: SystemConfigView) -> bytes:
    root = ET.Element("SystemConfig")
    sub(root, "uri", URI)
    cti = ET.SubElement(root, "cti")
    sub(cti, "host", view.host)
    sub(cti, "port", view.port)
    sub(cti, "backupHost", view.backup_host)
    sub(cti, "backupPort", "" if view.backup_port is None else view.backup_port)
    sub(cti, "peripheralId", view.peripheral_id)
    sub(cti, "secure", view.secure)
    return document(root)


_CTI_FIELDS = ("host", "port", "backupHost", "backupPort", "peripheralId", "secure")


def parse_system_config(body: bytes) -> SystemConfigUpdate:
    """The body of ``PUT /finesse/api/SystemConfig`` (:class:`XmlInputError`: 400 on anything wrong)."""
    root = safe_parse(body, "SystemConfig")
    cti_el = children(root, ("cti",)).get("cti")
    if cti_el is None:
        raise XmlInputError(parameter_missing("cti"))
    f = children(cti_el, _CTI_FIELDS)
    if bool_field("secure", leaf(f, "secure")):
        raise XmlInputError(invalid_input("secure", "Secure CTI connections are not emulated"))
    update = SystemConfigUpdate(
        host=host_field("host", leaf(f, "host")),
        port=port_field("port", leaf(f, "port")),
        backup_host=host_field("backupHost", leaf(f, "backupHost")),
        backup_port=port_field("backupPort", leaf(f, "backupPort")),
        peripheral_id=int_field("peripheralId", leaf(f, "peripheralId"), 1, 32767),
    )
    if update == SystemConfigUpdate():
        raise XmlInputError(parameter_missing("cti", "No CTI setting specified"))
    return update
