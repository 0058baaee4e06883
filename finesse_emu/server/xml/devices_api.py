"""The Devices API document: the devices associated with an extension (``GET /finesse/api/Devices``).

Cisco's Devices object "represents the list of devices associated with the given extension and
includes information about the deviceId, deviceType, and deviceTypeName"::

    <Devices><Device><deviceId>SEP0019305D8EC1</deviceId><deviceType>30018</deviceType>
    <deviceTypeName>Cisco 7961</deviceTypeName></Device>...</Devices>

``deviceType`` and ``deviceTypeName`` are JTAPI's ``CiscoTerminal.getType()`` and ``getTypeName()``.
The emulator has no Unified CM: each agent extension has one phone, a Cisco 7961 (the type Cisco's
example shows) whose device name is ``SEP`` and a MAC address made from the extension, so a client
sees a stable, well-formed id per extension.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from finesse_emu.server.xml.common import document, sub

PHONE_TYPE = 30018  # JTAPI CiscoTerminal type of a Cisco 7961, as in Cisco's example
PHONE_TYPE_NAME = "Cisco 7961"


@dataclass(frozen=True)
class DeviceView:
    device_id: str
    device_type: int
    device_type_name: str


def phone_of(extension: str) -> DeviceView:
    """The emulated phone of an extension: ``SEP`` + 12 hex digits (a MAC address) from its digits."""
    mac = int(extension) if extension.isascii() and extension.isdigit() else 0
    return DeviceView(f"SEP{mac % (1 << 48):012X}", PHONE_TYPE, PHONE_TYPE_NAME)


def devices(views: Iterable[DeviceView]) -> bytes:
    root = ET.Element("Devices")
    for v in views:
        el = sub(root, "Device")
        sub(el, "deviceId", v.device_id)
        sub(el, "deviceType", v.device_type)
        sub(el, "deviceTypeName", v.device_type_name)
    return document(root)
