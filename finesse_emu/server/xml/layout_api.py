"""LayoutConfig: the desktop layout a user's desktop loads, ``GET /finesse/api/User/{id}/LayoutConfig``.

Shaped as the administration API's team LayoutConfig (``<LayoutConfig>`` with ``<layoutxml>``, the
``finesseLayout`` document as text, and ``<useDefault>``: whether the team uses the default layout);
a real desktop receives its layout with the desktop page. The ``finesseLayout`` here holds one home
tab with the layout's gadgets, in order.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from finesse_emu.server.xml.common import API, document, serialize, sub

FINESSE_NS = "http://www.cisco.com/vtg/finesse"


def finesse_layout(gadgets: tuple[str, ...]) -> str:
    """The ``finesseLayout`` document: role Agent, one tab ``home`` with the gadgets."""
    root = ET.Element("finesseLayout", {"xmlns": FINESSE_NS})
    layout = ET.SubElement(root, "layout")
    sub(layout, "role", "Agent")
    tab = ET.SubElement(ET.SubElement(layout, "tabs"), "tab")
    sub(tab, "id", "home")
    sub(tab, "label", "finesse.container.tabs.agent.homeLabel")
    listed = ET.SubElement(tab, "gadgets")
    for url in gadgets:
        sub(listed, "gadget", url)
    return serialize(root)


def layout_config(user_id: str, gadgets: tuple[str, ...], use_default: bool) -> bytes:
    """``GET /finesse/api/User/{id}/LayoutConfig``."""
    root = ET.Element("LayoutConfig")
    sub(root, "uri", f"{API}/User/{user_id}/LayoutConfig")
    sub(root, "layoutxml", finesse_layout(gadgets))
    sub(root, "useDefault", use_default)
    return document(root)
