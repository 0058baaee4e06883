"""What every Finesse XML document shares: the API root, the declaration, times, escaping, builders.

Times are epoch seconds (floats) and render as ``YYYY-MM-DDThh:mm:ss.SSSZ`` in UTC. REST bodies
start with the declaration Finesse sends; event data (the ``data`` child of an XMPP ``Update``) has
none.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

API = "/finesse/api"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Characters XML 1.0 cannot carry (C0 controls but tab/LF/CR, surrogates, U+FFFE, U+FFFF).
NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def format_time(epoch: float | None) -> str:
    """Finesse's ``YYYY-MM-DDThh:mm:ss.SSSZ`` (UTC, rounded to the millisecond); ``""`` for None."""
    if epoch is None:
        return ""
    ms = round(epoch * 1000)
    t = _EPOCH + timedelta(milliseconds=ms)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{ms % 1000:03d}Z"
    )


def epoch_ms(epoch: float) -> int:
    """Epoch seconds to the integer epoch milliseconds SystemInfo uses."""
    return round(epoch * 1000)


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD.

    Everything else (``<&>"'``, any non-ASCII, tab, LF, CR) survives a render and parse unchanged.
    """
    return NOT_XML_CHAR.sub("\ufffd", text)


def _text(value: str | int | bool | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return xml_safe(value)


def sub(parent: ET.Element, tag: str, value: str | int | bool | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = _text(value)
    return el


def serialize(root: ET.Element) -> str:
    # short_empty_elements=False: Finesse writes <pendingState></pendingState>, never <pendingState/>.
    # ElementTree escapes & < > in text but leaves CR raw, which a parser turns into LF; text is the
    # only place a raw CR can come from here (attribute values get &#13;), so escape it after the fact.
    return ET.tostring(root, encoding="unicode", short_empty_elements=False).replace("\r", "&#13;")


def document(root: ET.Element) -> bytes:
    """A top-level REST body: the declaration Finesse sends, then the document, in UTF-8."""
    return (XML_DECLARATION + serialize(root)).encode("utf-8")
