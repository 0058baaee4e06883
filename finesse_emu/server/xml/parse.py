"""Untrusted request bodies: parsed with defusedxml (no DTD, no entities, no external references),
after a size cap (:data:`MAX_BODY_BYTES`), a strict UTF-8 check and under a nesting cap
(:data:`MAX_DEPTH`); anything wrong raises :class:`~finesse_emu.server.xml.errors.XmlInputError`.
The field readers check the documented vocabularies (numbers, booleans, choices, addresses) the
same way for every resource's parser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

# types-defusedxml provides stubs; without them mypy sees Any here, which is fine for both imports.
import defusedxml.ElementTree as _defused_et  # type: ignore[import-untyped, unused-ignore]
from defusedxml.common import (  # type: ignore[import-untyped, unused-ignore]
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

from finesse_emu.server.xml.common import NOT_XML_CHAR, xml_safe
from finesse_emu.server.xml.errors import XmlInputError, bad_request, invalid_input, parameter_missing

# Every documented request body is at most a few hundred bytes; this cap is far above any of them.
MAX_BODY_BYTES = 64 * 1024
# The deepest documented body is 5 levels (Dialog/mediaProperties/callvariables/CallVariable/name).
MAX_DEPTH = 16
# ErrorData echoes part of a hostile body (an unexpected root name) at most this long.
_MAX_ECHO = 64


class _TooDeep(Exception):
    pass


class _DepthLimitedBuilder(ET.TreeBuilder):
    """A TreeBuilder that refuses to open an element deeper than ``max_depth``."""

    def __init__(self, max_depth: int) -> None:
        super().__init__()
        self._depth = 0
        self._max_depth = max_depth

    def start(self, tag: str, attrs: dict[str, str], /) -> ET.Element:
        self._depth += 1
        if self._depth > self._max_depth:
            raise _TooDeep
        return super().start(tag, attrs)

    def end(self, tag: str, /) -> ET.Element:
        self._depth -= 1
        return super().end(tag)


_ENCODING_DECL = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml\s[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def _bad(message: str, data: str = "") -> XmlInputError:
    return XmlInputError(bad_request(data, message))


def _echo(text: str) -> str:
    return xml_safe(text[:_MAX_ECHO])


def safe_parse(body: bytes, root: str | None = None, *, max_bytes: int = MAX_BODY_BYTES) -> ET.Element:
    """Parse an untrusted body into an Element, or raise :class:`XmlInputError` (400 Bad Request).

    Refuses: bodies over ``max_bytes``, empty bodies, bytes that are not UTF-8 (or an encoding
    declaration naming anything else), any DTD (so no entity expansion, internal or external),
    nesting deeper than :data:`MAX_DEPTH`, malformed XML, and a root element other than ``root``.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise _bad("Request body must be bytes")
    data = bytes(body)
    if len(data) > max_bytes:
        raise _bad(f"Request body exceeds {max_bytes} bytes")
    if not data.strip():
        raise _bad("Request body is empty")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("Request body is not UTF-8") from None
    declared = _ENCODING_DECL.match(data)
    if declared is not None and declared.group(1).decode("ascii", "replace").lower() not in _UTF8_NAMES:
        raise _bad("Request body is not UTF-8", _echo(declared.group(1).decode("ascii", "replace")))
    parser = _defused_et.DefusedXMLParser(
        target=_DepthLimitedBuilder(MAX_DEPTH), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
        element: ET.Element = parser.close()
    except DTDForbidden:
        raise _bad("DTD is not allowed") from None
    except EntitiesForbidden:
        raise _bad("Entity declarations are not allowed") from None
    except ExternalReferenceForbidden:
        raise _bad("External references are not allowed") from None
    except _TooDeep:
        raise _bad(f"XML nesting deeper than {MAX_DEPTH} levels") from None
    except (ET.ParseError, DefusedXmlException, ValueError, LookupError, UnicodeError, RecursionError):
        raise _bad("Malformed XML") from None
    if root is not None and element.tag != root:
        raise _bad(f"Root element must be {root}", _echo(str(element.tag)))
    return element


def children(el: ET.Element, known: Iterable[str]) -> dict[str, ET.Element]:
    """The known children of ``el`` by tag; a known tag given twice is refused, others are ignored."""
    wanted = frozenset(known)
    out: dict[str, ET.Element] = {}
    for child in el:
        tag = child.tag
        if tag in wanted:
            if tag in out:
                raise XmlInputError(invalid_input(tag, f"Duplicate {tag} specified"))
            out[tag] = child
    return out


def leaf(fields: dict[str, ET.Element], name: str, *, strip: bool = True) -> str | None:
    """Text of a leaf field; None when absent or (after stripping) empty."""
    el = fields.get(name)
    if el is None:
        return None
    if len(el):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    text = el.text or ""
    if strip:
        text = text.strip()
    return text or None


def required(fields: dict[str, ET.Element], name: str) -> str:
    value = leaf(fields, name)
    if value is None:
        raise XmlInputError(parameter_missing(name))
    return value


def int_field(name: str, value: str | None, low: int = -(2**31), high: int = 2**31 - 1) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(r"[+-]?[0-9]{1,10}", value) or not low <= int(value) <= high:
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return int(value)


def bool_field(name: str, value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return lowered == "true"


def choice(name: str, value: str | None, allowed: Iterable[str]) -> str | None:
    if value is None:
        return None
    if value not in frozenset(allowed):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return value


_MAX_ADDRESS = 64


def address(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > _MAX_ADDRESS or NOT_XML_CHAR.search(value) or any(c.isspace() for c in value):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return value
