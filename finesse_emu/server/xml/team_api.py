"""Team: ``GET /finesse/api/Team/{id}`` and the summary ``<user>`` of a Team notification."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from finesse_emu.server.xml.common import API, document, format_time, serialize, sub
from finesse_emu.server.xml.reasons_api import RC_IN_TEAM, ReasonCodeView, reason_code_element


@dataclass(frozen=True)
class TeamUserView:
    """The summary User of the Team API and of Team notifications."""

    login_id: str
    state: str
    first_name: str = ""
    last_name: str = ""
    extension: str = ""
    pending_state: str = ""
    state_change_time: float | None = None
    reason_code: ReasonCodeView | None = None  # rendered when set (NOT_READY / LOGOUT with a reason)


@dataclass(frozen=True)
class TeamView:
    id: int | str
    name: str
    users: tuple[TeamUserView, ...] = ()

    @property
    def uri(self) -> str:
        return f"{API}/Team/{self.id!s}"


def _team_user_element(u: TeamUserView, root: str) -> ET.Element:
    el = ET.Element(root)
    sub(el, "uri", f"{API}/User/{u.login_id}")
    sub(el, "loginId", u.login_id)
    sub(el, "firstName", u.first_name)
    sub(el, "lastName", u.last_name)
    sub(el, "dialogs", f"{API}/User/{u.login_id}/Dialogs")
    sub(el, "extension", u.extension)
    sub(el, "pendingState", u.pending_state)
    sub(el, "state", u.state)
    sub(el, "stateChangeTime", format_time(u.state_change_time))
    if u.reason_code is not None:
        el.append(reason_code_element(u.reason_code, RC_IN_TEAM))
    return el


def team(view: TeamView) -> bytes:
    """``GET /finesse/api/Team/{id}``."""
    root = ET.Element("Team")
    sub(root, "uri", view.uri)
    sub(root, "id", str(view.id))
    sub(root, "name", view.name)
    members = ET.SubElement(root, "users")
    for u in view.users:
        members.append(_team_user_element(u, "User"))
    return document(root)


def team_user_event(view: TeamUserView) -> str:
    """Data of a Team notification (node /finesse/api/Team/{id}/Users): the summary ``<user>``."""
    return serialize(_team_user_element(view, "user"))
