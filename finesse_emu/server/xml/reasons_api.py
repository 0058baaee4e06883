"""ReasonCode(s) and WrapUpReason(s); the ReasonCode child order of every place one is embedded."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from finesse_emu.server.xml.common import API, document, sub, xml_safe


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
