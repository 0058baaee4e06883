"""The desktop's properties: ``GET /finesse/api/User/{id}/DesktopProperties`` (emulator only), and
the administrator's ``GET|PUT /finesse/api/DesktopProperties`` (emulator path).

A real desktop receives its desktop properties (``preLoadSecondaryResources`` among them, "By
default, the preLoadSecondaryResources property is enabled") with its container page; the emulated
desktop loads no page, so the node answers them here, one element per property. An administrator
sets them with the node's CLI on a real Finesse; here a PUT of the same document changes them live,
``enableAutoWorkModeStateChange`` (a node setting, not one the desktop reads) included."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping

from finesse_emu.server.xml.common import document, sub
from finesse_emu.server.xml.errors import XmlInputError, parameter_missing
from finesse_emu.server.xml.parse import bool_field, children, leaf, safe_parse


def desktop_properties(properties: Mapping[str, str | int | bool]) -> bytes:
    """``<DesktopProperties><preLoadSecondaryResources>true</preLoadSecondaryResources>...``."""
    root = ET.Element("DesktopProperties")
    for name, value in sorted(properties.items()):
        sub(root, name, value)
    return document(root)


def parse_desktop_properties(body: bytes, known: Iterable[str]) -> dict[str, bool]:
    """The properties a PUT sets (names among ``known``, values true/false; others ignored, as the
    parsers of every resource ignore unknown children). 400 when none is given."""
    fields = children(safe_parse(body, "DesktopProperties"), known)
    given = {name: bool_field(name, leaf(fields, name)) for name in fields}
    out = {name: value for name, value in given.items() if value is not None}
    if not out:
        raise XmlInputError(parameter_missing("DesktopProperties", "No desktop property specified"))
    return out
