"""CorsConfig: the origins allowed to call a node cross-origin, ``GET|PUT /finesse/api/CorsConfig``
(emulator path). On a real Finesse an administrator sets them with the CLI ("administrators enable
it and add allowed origins with CLI commands", ``utils finesse cors ...``); the emulator offers the
same list over its administration API with the same credentials.
``<CorsConfig><uri/><enabled/><origins><origin>https://host:port</origin>...</origins></CorsConfig>``;
an empty list is CORS off, Finesse's default."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from finesse_emu.server.xml.common import API, document, sub
from finesse_emu.server.xml.errors import XmlInputError, parameter_missing
from finesse_emu.server.xml.parse import children, safe_parse

URI = f"{API}/CorsConfig"
MAX_ORIGINS = 100


def cors_config(origins: Iterable[str]) -> bytes:
    listed = list(origins)
    root = ET.Element("CorsConfig")
    sub(root, "uri", URI)
    sub(root, "enabled", bool(listed))
    holder = ET.SubElement(root, "origins")
    for origin in listed:
        sub(holder, "origin", origin)
    return document(root)


def parse_cors_config(body: bytes) -> list[str]:
    """The origins of a PUT (each checked by the node's CORS policy; 400 here when the list is
    missing or too long)."""
    holder = children(safe_parse(body, "CorsConfig"), ("origins",)).get("origins")
    if holder is None:
        raise XmlInputError(parameter_missing("origins"))
    origins = [(el.text or "").strip() for el in holder if el.tag == "origin"]
    if len(origins) > MAX_ORIGINS:
        raise XmlInputError(parameter_missing("origins", f"At most {MAX_ORIGINS} origins"))
    return [o for o in origins if o]
