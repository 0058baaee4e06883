"""The desktop's properties: ``GET /finesse/api/User/{id}/DesktopProperties`` (emulator only).

A real desktop receives its desktop properties (``preLoadSecondaryResources`` among them, "By
default, the preLoadSecondaryResources property is enabled") with its container page; the emulated
desktop loads no page, so the node answers them here, one element per property."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from finesse_emu.server.xml.common import document, sub


def desktop_properties(properties: Mapping[str, str | int | bool]) -> bytes:
    """``<DesktopProperties><preLoadSecondaryResources>true</preLoadSecondaryResources>...``."""
    root = ET.Element("DesktopProperties")
    for name, value in sorted(properties.items()):
        sub(root, name, value)
    return document(root)
