"""LayoutConfig: the desktop layout a user's desktop loads, ``GET /finesse/api/User/{id}/LayoutConfig``.

Shaped as the administration API's team LayoutConfig (``<LayoutConfig>`` with ``<layoutxml>``, the
``finesseLayout`` document as text, and ``<useDefault>``: whether the team uses the default layout);
a real desktop receives its layout with the desktop page. The ``finesseLayout`` here holds one home
tab with the layout's gadgets, in order.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from finesse_emu.server.xml.common import API, document, serialize, sub
from finesse_emu.server.xml.errors import XmlInputError, invalid_input, parameter_missing
from finesse_emu.server.xml.parse import bool_field, children, leaf, safe_parse

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


# -- the administration API's LayoutConfig: the default layout and a team's ------------------------
# ``GET|PUT /finesse/api/LayoutConfig/default`` (``<LayoutConfig><uri/><layoutxml/>``) and
# ``GET|PUT /finesse/api/Team/{id}/LayoutConfig`` (``<TeamLayoutConfig><uri/><useDefault/>
# <layoutxml/>``: "If useDefault is set to true and the layoutxml is provided in a request, the
# layoutxml is ignored"). layoutxml "Must be valid XML and must conform to the Finesse schema": here
# a ``finesseLayout`` document (as text, or as the element itself) whose ``gadget`` elements, in
# order, are the layout; the rest of it (tabs, roles, columns) is not kept.
DEFAULT_LAYOUT_URI = f"{API}/LayoutConfig/default"
_MAX_GADGETS = 100


def default_layout_config(gadgets: tuple[str, ...]) -> bytes:
    root = ET.Element("LayoutConfig")
    sub(root, "uri", DEFAULT_LAYOUT_URI)
    sub(root, "layoutxml", finesse_layout(gadgets))
    return document(root)


def team_layout_config(team_id: int, gadgets: tuple[str, ...], use_default: bool) -> bytes:
    root = ET.Element("TeamLayoutConfig")
    sub(root, "uri", f"{API}/Team/{team_id}/LayoutConfig")
    sub(root, "useDefault", use_default)
    sub(root, "layoutxml", "" if use_default else finesse_layout(gadgets))
    return document(root)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _gadgets(holder: ET.Element) -> tuple[str, ...]:
    """The gadget URLs of the ``finesseLayout`` in ``<layoutxml>`` (as an element or as text)."""
    layout = next(iter(holder), None)
    if layout is None:
        text = (holder.text or "").strip()
        if not text:
            raise XmlInputError(parameter_missing("layoutxml", "The layout XML file was not provided"))
        layout = safe_parse(text.encode("utf-8"))
    if _local(str(layout.tag)) != "finesseLayout":
        raise XmlInputError(invalid_input("layoutxml", "The layout XML must be a finesseLayout document"))
    urls = [(el.text or "").strip() for el in layout.iter() if _local(str(el.tag)) == "gadget"]
    if len(urls) > _MAX_GADGETS or any(not u or any(c.isspace() for c in u) for u in urls):
        raise XmlInputError(invalid_input("layoutxml", "Invalid gadget in the layout XML"))
    return tuple(urls)


def parse_default_layout_config(body: bytes) -> tuple[str, ...]:
    """The gadgets of ``PUT /finesse/api/LayoutConfig/default`` (400 on anything wrong)."""
    holder = children(safe_parse(body, "LayoutConfig"), ("layoutxml",)).get("layoutxml")
    if holder is None:
        raise XmlInputError(parameter_missing("layoutxml", "The layout XML file was not provided"))
    return _gadgets(holder)


def parse_team_layout_config(body: bytes) -> tuple[str, ...] | None:
    """``PUT /finesse/api/Team/{id}/LayoutConfig``: the team's gadgets, or None for useDefault."""
    fields = children(safe_parse(body, "TeamLayoutConfig"), ("useDefault", "layoutxml"))
    if bool_field("useDefault", leaf(fields, "useDefault")):
        return None
    if "layoutxml" not in fields:
        raise XmlInputError(parameter_missing("layoutxml", "The layout XML file was not provided"))
    return _gadgets(fields["layoutxml"])
