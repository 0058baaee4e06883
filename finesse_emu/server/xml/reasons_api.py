"""ReasonCode(s) and WrapUpReason(s); the ReasonCode child order of every place one is embedded; the
administrator's request bodies that create and change them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from finesse_emu.server.xml.common import API, NOT_XML_CHAR, document, sub, xml_safe
from finesse_emu.server.xml.errors import XmlInputError, invalid_input
from finesse_emu.server.xml.parse import bool_field, children, choice, int_field, leaf, safe_parse


@dataclass(frozen=True)
class ReasonCodeView:
    id: int  # database id: the one in URIs and in PUT bodies
    category: str  # NOT_READY | LOGOUT
    code: int
    label: str
    for_all: bool = True
    system_code: bool = False

    @property
    def uri(self) -> str:
        return f"{API}/ReasonCode/{self.id}"


# Child order of ReasonCode in each place it appears.
_RC_STANDALONE = ("uri", "category", "code", "label", "forAll", "systemCode")
RC_IN_USER = ("category", "uri", "code", "label", "forAll", "systemCode", "id")  # GET User
RC_ALPHABETICAL = ("category", "code", "forAll", "id", "label", "systemCode", "uri")  # User Update
RC_IN_MEDIA = ("category", "code", "forAll", "id", "label", "uri")
RC_IN_TEAM = ("uri", "code", "label", "category", "id")


def reason_code_element(rc: ReasonCodeView, order: Sequence[str]) -> ET.Element:
    el = ET.Element("ReasonCode")
    values: dict[str, str | int | bool] = {
        "uri": rc.uri,
        "category": rc.category,
        "code": rc.code,
        "label": rc.label,
        "forAll": rc.for_all,
        "systemCode": rc.system_code,
        "id": rc.id,
    }
    for name in order:
        sub(el, name, values[name])
    return el


def reason_code(view: ReasonCodeView) -> bytes:
    """``GET /finesse/api/ReasonCode/{id}`` and ``/User/{id}/ReasonCode/{id}``."""
    return document(reason_code_element(view, _RC_STANDALONE))


def reason_codes(views: Iterable[ReasonCodeView], category: str) -> bytes:
    """``GET /finesse/api/User/{id}/ReasonCodes?category=...``: ``<ReasonCodes category="...">``."""
    root = ET.Element("ReasonCodes", {"category": xml_safe(category)})
    for rc in views:
        root.append(reason_code_element(rc, _RC_STANDALONE))
    return document(root)


@dataclass(frozen=True)
class WrapUpReasonView:
    id: int
    label: str
    for_all: bool = True

    @property
    def uri(self) -> str:
        return f"{API}/WrapUpReason/{self.id}"


def _wrapup_element(w: WrapUpReasonView) -> ET.Element:
    el = ET.Element("WrapUpReason")
    sub(el, "uri", w.uri)
    sub(el, "label", w.label)
    sub(el, "forAll", w.for_all)
    return el


def wrapup_reason(view: WrapUpReasonView) -> bytes:
    return document(_wrapup_element(view))


def wrapup_reasons(views: Iterable[WrapUpReasonView]) -> bytes:
    """``GET /finesse/api/User/{id}/WrapUpReasons``."""
    root = ET.Element("WrapUpReasons")
    for w in views:
        root.append(_wrapup_element(w))
    return document(root)


# -- the administrator's request bodies (POST /ReasonCodes, PUT /ReasonCode/{id}, and the same for
# WrapUpReasons). "The combination of code and category must be unique", label "Maximum of 40
# characters" (a wrap-up reason's 39 bytes); code 1-65535 on Unified CCE.
MAX_REASON_LABEL = 40
MAX_WRAPUP_LABEL_BYTES = 39


@dataclass(frozen=True)
class ReasonCodeInput:
    """A reason code as a body gives it; None: absent (a PUT keeps the current value)."""

    category: str | None = None
    code: int | None = None
    label: str | None = None
    for_all: bool | None = None


@dataclass(frozen=True)
class WrapUpReasonInput:
    label: str | None = None
    for_all: bool | None = None


def _label(value: str | None, name: str = "label") -> str | None:
    if value is None:
        return None
    if len(value) > MAX_REASON_LABEL or NOT_XML_CHAR.search(value) or any(ord(c) < 32 for c in value):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return value


def parse_reason_code(body: bytes) -> ReasonCodeInput:
    """The body of ``POST /ReasonCodes`` or ``PUT /ReasonCode/{id}`` (400 on anything wrong)."""
    f = children(safe_parse(body, "ReasonCode"), ("category", "code", "label", "forAll"))
    return ReasonCodeInput(
        category=choice("category", leaf(f, "category"), ("NOT_READY", "LOGOUT")),
        code=int_field("code", leaf(f, "code"), 1, 65535),
        label=_label(leaf(f, "label")),
        for_all=bool_field("forAll", leaf(f, "forAll")),
    )


def parse_wrapup_reason(body: bytes) -> WrapUpReasonInput:
    """The body of ``POST /WrapUpReasons`` or ``PUT /WrapUpReason/{id}`` (400 on anything wrong)."""
    f = children(safe_parse(body, "WrapUpReason"), ("label", "forAll"))
    label = _label(leaf(f, "label"))
    if label is not None and len(label.encode("utf-8")) > MAX_WRAPUP_LABEL_BYTES:
        raise XmlInputError(invalid_input("label", "Invalid label specified"))
    return WrapUpReasonInput(label=label, for_all=bool_field("forAll", leaf(f, "forAll")))


def wrapup_reasons_admin(views: Iterable[WrapUpReasonView]) -> bytes:
    """``GET /finesse/api/WrapUpReasons`` (the administrator's list; the same document)."""
    return wrapup_reasons(views)


def reason_codes_admin(views: Iterable[ReasonCodeView], category: str) -> bytes:
    """``GET /finesse/api/ReasonCodes?category=NOT_READY|LOGOUT|ALL``: each ReasonCode with its
    ``id`` as well (the administrator edits by id)."""
    root = ET.Element("ReasonCodes", {"category": xml_safe(category)})
    for rc in views:
        root.append(reason_code_element(rc, (*_RC_STANDALONE, "id")))
    return document(root)


def parse_team_assignment(body: bytes, root: str, item: str) -> list[int]:
    """The ids of ``PUT /finesse/api/Team/{id}/ReasonCodes`` (``<ReasonCodes><ReasonCode><uri>
    /finesse/api/ReasonCode/{id}</uri></ReasonCode>...``) or ``.../WrapUpReasons``: each item named
    by its URI; 400 for anything else. An empty list unassigns them all."""
    holder = safe_parse(body, root)
    prefix = f"{API}/{item}/"
    ids: list[int] = []
    for el in holder:
        if el.tag != item:
            continue
        uri = leaf(children(el, ("uri",)), "uri") or ""
        raw = uri[len(prefix) :] if uri.startswith(prefix) else ""
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
            raise XmlInputError(invalid_input("uri", f"Invalid {item} uri specified"))
        ids.append(int(raw))
    if len(ids) > 1000:
        raise XmlInputError(invalid_input(root, f"Too many {item} items"))
    return ids


def team_reason_codes(views: Iterable[ReasonCodeView]) -> bytes:
    """``GET /finesse/api/Team/{id}/ReasonCodes``: the non-global codes assigned to the team."""
    root = ET.Element("ReasonCodes")
    for rc in views:
        root.append(reason_code_element(rc, _RC_STANDALONE))
    return document(root)
