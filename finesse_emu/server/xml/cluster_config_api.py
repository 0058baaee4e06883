"""ClusterConfig: the secondary Finesse node of the cluster, ``GET|PUT /finesse/api/ClusterConfig``.

Cisco's configuration API: ``<ClusterConfig><uri/><secondaryNode><host/></secondaryNode>
</ClusterConfig>`` ("This container supports the addition of a single, secondary Finesse node").
The emulator answers the publisher as well (``<primaryNode><host/></primaryNode>`` first), which the
product leaves to SystemInfo.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from finesse_emu.server.xml.common import API, document, sub
from finesse_emu.server.xml.errors import XmlInputError, parameter_missing
from finesse_emu.server.xml.parse import children, leaf, safe_parse
from finesse_emu.server.xml.system_config_api import host_field

URI = f"{API}/ClusterConfig"


@dataclass(frozen=True)
class ClusterConfigView:
    primary_host: str
    secondary_host: str


def cluster_config(view: ClusterConfigView) -> bytes:
    root = ET.Element("ClusterConfig")
    sub(root, "uri", URI)
    sub(ET.SubElement(root, "primaryNode"), "host", view.primary_host)
    sub(ET.SubElement(root, "secondaryNode"), "host", view.secondary_host)
    return document(root)


def parse_cluster_config(body: bytes) -> str:
    """The secondary node's host of ``PUT /finesse/api/ClusterConfig`` ("" removes it; 400 on
    anything wrong)."""
    secondary = children(safe_parse(body, "ClusterConfig"), ("secondaryNode",)).get("secondaryNode")
    if secondary is None:
        raise XmlInputError(parameter_missing("secondaryNode"))
    fields = children(secondary, ("host",))
    if "host" not in fields:
        raise XmlInputError(parameter_missing("host"))
    return host_field("host", leaf(fields, "host")) or ""
