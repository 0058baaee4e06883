"""Media (non-voice MRDs): ``GET /finesse/api/User/{id}/Media[/{mrdId}]``, the Media ``Update``, and the
PUT Media body."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from finesse_emu.server.xml.common import API, document, format_time, serialize, sub
from finesse_emu.server.xml.errors import XmlInputError, invalid_input, parameter_missing
from finesse_emu.server.xml.parse import bool_field, children, choice, int_field, leaf, safe_parse
from finesse_emu.server.xml.reasons_api import RC_IN_MEDIA, ReasonCodeView, reason_code_element


@dataclass(frozen=True)
class MediaView:
    user_id: str
    mrd_id: int
    name: str
    description: str = ""
    interruptible: bool = True
    # False when the agent has no skill group in the MRD: only uri, description, id, interruptible
    # and name are returned.
    has_skill_group: bool = True
    state: str = "LOGOUT"
    state_change_time: float | None = None
    routable: bool = False
    reason_code: ReasonCodeView | None = None
    max_dialog_limit: int = 1
    dialog_logout_action: str = "CLOSE"  # CLOSE | TRANSFER
    interrupt_action: str = "IGNORE"  # ACCEPT | IGNORE
    media_connected: bool | None = None  # CCE only; rendered when set

    @property
    def uri(self) -> str:
        return f"{API}/User/{self.user_id}/Media/{self.mrd_id}"


def _media_element(v: MediaView, root: str) -> ET.Element:
    el = ET.Element(root)
    sub(el, "uri", v.uri)
    sub(el, "description", v.description)
    if v.has_skill_group:
        sub(el, "dialogLogoutAction", v.dialog_logout_action)
    sub(el, "id", v.mrd_id)
    sub(el, "interruptible", v.interruptible)
    if not v.has_skill_group:
        sub(el, "name", v.name)
        return el
    sub(el, "maxDialogLimit", v.max_dialog_limit)
    if v.media_connected is not None:
        sub(el, "mediaConnected", v.media_connected)
    sub(el, "name", v.name)
    if v.reason_code is not None:
        el.append(reason_code_element(v.reason_code, RC_IN_MEDIA))
    sub(el, "reasonCodeId", -1 if v.reason_code is None else v.reason_code.id)
    sub(el, "routable", v.routable)
    sub(el, "state", v.state)
    sub(el, "stateChangeTime", format_time(v.state_change_time))
    sub(el, "interruptAction", v.interrupt_action)
    return el


def media(view: MediaView) -> bytes:
    """``GET /finesse/api/User/{id}/Media/{mrdId}``."""
    return document(_media_element(view, "Media"))


def media_list(views: Iterable[MediaView]) -> bytes:
    """``GET /finesse/api/User/{id}/Media``: ``<MediaList><Media>...</Media>...</MediaList>``."""
    root = ET.Element("MediaList")
    for v in views:
        root.append(_media_element(v, "Media"))
    return document(root)


def media_event(view: MediaView, root: str = "media") -> str:
    """Data of a Media ``Update`` (same children as GET; lower-case root like every event)."""
    return serialize(_media_element(view, root))


# --- PUT /finesse/api/User/{id}/Media/{mrdId} -----------------------------------------------------


class MediaState(StrEnum):
    """States a client may ask for in one MRD.

    ``ACTIVE`` is this emulator's reading of "Change Agent from Work State to Active" (12.5+), whose
    body is in no public source [UNCERTAIN]: ``<Media><state>ACTIVE</state></Media>``.
    """

    LOGIN = "LOGIN"
    READY = "READY"
    NOT_READY = "NOT_READY"
    LOGOUT = "LOGOUT"
    ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class MediaUpdate:
    state: MediaState | None = None
    routable: bool | None = None
    reason_code_id: int | None = None
    max_dialog_limit: int | None = None  # sign-in only, 1..10
    interrupt_action: str | None = None  # sign-in only, ACCEPT | IGNORE
    dialog_logout_action: str | None = None  # sign-in only, CLOSE | TRANSFER

    @property
    def work_to_active(self) -> bool:
        return self.state is MediaState.ACTIVE


def parse_media_update(body: bytes) -> MediaUpdate:
    """A PUT Media body: sign in, state (with reason), routable, or work to active."""
    root = safe_parse(body, "Media")
    f = children(
        root, ("state", "routable", "reasonCodeId", "maxDialogLimit", "interruptAction", "dialogLogoutAction")
    )
    raw_state = leaf(f, "state")
    routable = bool_field("routable", leaf(f, "routable"))
    if raw_state is None and routable is None:
        raise XmlInputError(parameter_missing("state"))
    state: MediaState | None = None
    if raw_state is not None:
        if raw_state not in MediaState.__members__:
            raise XmlInputError(invalid_input("state", "Invalid State specified for media"))
        state = MediaState(raw_state)
    return MediaUpdate(
        state=state,
        routable=routable,
        reason_code_id=int_field("reasonCodeId", leaf(f, "reasonCodeId")),
        max_dialog_limit=int_field("maxDialogLimit", leaf(f, "maxDialogLimit"), 1, 10),
        interrupt_action=choice("interruptAction", leaf(f, "interruptAction"), ("ACCEPT", "IGNORE")),
        dialog_logout_action=choice(
            "dialogLogoutAction", leaf(f, "dialogLogoutAction"), ("CLOSE", "TRANSFER")
        ),
    )
