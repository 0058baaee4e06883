"""User: ``GET /finesse/api/User/{id}`` and ``/Users``, the User ``Update``, and the PUT User body.

``activeDeviceId`` is the device the agent signed in on, the ``deviceId`` that ``GET
/finesse/api/Devices?extension=N`` lists for the agent's extension (``devices_api.py``): public
clients ask Devices for the extension, then read the User document's ``activeDeviceId``. GET User
carries it while the agent is signed in on an extension; the 12.5 User ``Update`` captured from a
real node has no such element, so the event keeps the captured set.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from finesse_emu.server.xml.common import API, document, format_time, serialize, sub
from finesse_emu.server.xml.devices_api import DeviceView
from finesse_emu.server.xml.errors import XmlInputError, invalid_input, parameter_missing
from finesse_emu.server.xml.parse import address, bool_field, children, int_field, leaf, required, safe_parse
from finesse_emu.server.xml.reasons_api import (
    RC_ALPHABETICAL,
    RC_IN_USER,
    ReasonCodeView,
    reason_code_element,
)


@dataclass(frozen=True)
class TeamRef:
    id: int | str
    name: str


@dataclass(frozen=True)
class MobileAgentView:
    mode: str  # CALL_BY_CALL | NAILED_CONNECTION
    dial_number: str


@dataclass(frozen=True)
class UserView:
    login_id: str
    login_name: str
    state: str
    first_name: str = ""
    last_name: str = ""
    state_change_time: float | None = None
    extension: str = ""  # empty when logged out
    active_device: DeviceView | None = None  # the extension's device while signed in; GET only
    roles: tuple[str, ...] = ("Agent",)
    media_type: int = 1
    pending_state: str = ""
    reason_code: ReasonCodeView | None = None  # reasonCodeId is its id, or -1 without one
    wrap_up_on_incoming: str = ""
    wrap_up_on_outgoing: str = ""
    device_selection: str | None = None  # 12.6+ settings/deviceSelection, GET only
    wrap_up_timer: int = 7200
    mobile_agent: MobileAgentView | None = None
    team_id: int | str = ""
    team_name: str = ""
    skill_target_id: int | None = None  # GET only
    teams: tuple[TeamRef, ...] = ()  # teams a supervisor supervises; element omitted when empty
    services: tuple[str, ...] = ()  # GET only; element omitted when empty

    @property
    def uri(self) -> str:
        return f"{API}/User/{self.login_id}"

    @property
    def dialogs_uri(self) -> str:
        return f"{API}/User/{self.login_id}/Dialogs"

    @property
    def reason_code_id(self) -> int:
        return -1 if self.reason_code is None else self.reason_code.id


def _roles(parent: ET.Element, roles: Iterable[str]) -> None:
    el = ET.SubElement(parent, "roles")
    for r in roles:
        sub(el, "role", r)


def _mobile_agent(parent: ET.Element, m: MobileAgentView) -> None:
    el = ET.SubElement(parent, "mobileAgent")
    sub(el, "mode", m.mode)
    sub(el, "dialNumber", m.dial_number)


def _user_get_element(v: UserView, root: str) -> ET.Element:
    """The documented (12.6+) GET order; wrapUpTimer, absent from the doc shape, goes last."""
    el = ET.Element(root)
    sub(el, "uri", v.uri)
    _roles(el, v.roles)
    sub(el, "loginId", v.login_id)
    sub(el, "loginName", v.login_name)
    sub(el, "state", v.state)
    sub(el, "stateChangeTime", format_time(v.state_change_time))
    sub(el, "mediaType", v.media_type)
    sub(el, "pendingState", v.pending_state)
    sub(el, "reasonCodeId", v.reason_code_id)
    if v.reason_code is not None:
        el.append(reason_code_element(v.reason_code, RC_IN_USER))
    settings = ET.SubElement(el, "settings")
    sub(settings, "wrapUpOnIncoming", v.wrap_up_on_incoming)
    sub(settings, "wrapUpOnOutgoing", v.wrap_up_on_outgoing)
    if v.device_selection is not None:
        sub(settings, "deviceSelection", v.device_selection)
    sub(el, "extension", v.extension)
    if v.active_device is not None:
        sub(el, "activeDeviceId", v.active_device.device_id)
    if v.mobile_agent is not None:
        _mobile_agent(el, v.mobile_agent)
    sub(el, "firstName", v.first_name)
    sub(el, "lastName", v.last_name)
    sub(el, "teamId", str(v.team_id))
    sub(el, "teamName", v.team_name)
    if v.skill_target_id is not None:
        sub(el, "skillTargetId", v.skill_target_id)
    sub(el, "dialogs", v.dialogs_uri)
    if v.teams:
        teams = ET.SubElement(el, "teams")
        for t in v.teams:
            team_el = ET.SubElement(teams, "Team")
            sub(team_el, "uri", f"{API}/Team/{t.id!s}")
            sub(team_el, "id", str(t.id))
            sub(team_el, "name", t.name)
    if v.services:
        services = ET.SubElement(el, "services")
        for s in v.services:
            sub(services, "service", s)
    sub(el, "wrapUpTimer", v.wrap_up_timer)
    return el


def _user_event_element(v: UserView, root: str) -> ET.Element:
    """The 12.5 capture: alphabetical by property name (so ReasonCode sorts before reasonCodeId)."""
    el = ET.Element(root)
    sub(el, "dialogs", v.dialogs_uri)
    sub(el, "extension", v.extension)
    sub(el, "firstName", v.first_name)
    sub(el, "lastName", v.last_name)
    sub(el, "loginId", v.login_id)
    sub(el, "loginName", v.login_name)
    sub(el, "mediaType", v.media_type)
    if v.mobile_agent is not None:
        _mobile_agent(el, v.mobile_agent)
    sub(el, "pendingState", v.pending_state)
    if v.reason_code is not None:
        el.append(reason_code_element(v.reason_code, RC_ALPHABETICAL))
    sub(el, "reasonCodeId", v.reason_code_id)
    _roles(el, v.roles)
    settings = ET.SubElement(el, "settings")
    sub(settings, "wrapUpOnIncoming", v.wrap_up_on_incoming)
    sub(settings, "wrapUpOnOutgoing", v.wrap_up_on_outgoing)
    sub(el, "state", v.state)
    sub(el, "stateChangeTime", format_time(v.state_change_time))
    sub(el, "teamId", str(v.team_id))
    sub(el, "teamName", v.team_name)
    if v.teams:
        teams = ET.SubElement(el, "teams")
        for t in v.teams:
            team_el = ET.SubElement(teams, "Team")
            sub(team_el, "id", str(t.id))
            sub(team_el, "name", t.name)
            sub(team_el, "uri", f"{API}/Team/{t.id!s}")
    sub(el, "uri", v.uri)
    sub(el, "wrapUpTimer", v.wrap_up_timer)
    return el


def user(view: UserView, root: str = "User") -> bytes:
    """``GET /finesse/api/User/{id}`` (documented element order)."""
    return document(_user_get_element(view, root))


def users(views: Iterable[UserView]) -> bytes:
    """``GET /finesse/api/Users``: ``<Users><User>...</User>...</Users>``."""
    root = ET.Element("Users")
    for v in views:
        root.append(_user_get_element(v, "User"))
    return document(root)


def user_event(view: UserView, root: str = "user") -> str:
    """Data of a User ``Update``, exactly as a 12.5 node sends it (lower-case root ``user``)."""
    return serialize(_user_event_element(view, root))


# --- PUT /finesse/api/User/{id} ---------------------------------------------------------------------


class UserState(StrEnum):
    """States a client may ask for with PUT User (LOGIN is transient: it signs in)."""

    LOGIN = "LOGIN"
    READY = "READY"
    NOT_READY = "NOT_READY"
    LOGOUT = "LOGOUT"


class MobileAgentMode(StrEnum):
    CALL_BY_CALL = "CALL_BY_CALL"
    NAILED_CONNECTION = "NAILED_CONNECTION"


@dataclass(frozen=True)
class MobileAgent:
    mode: MobileAgentMode
    dial_number: str


@dataclass(frozen=True)
class UserUpdate:
    state: UserState
    extension: str | None = None  # present (and required) with LOGIN
    reason_code_id: int | None = None  # database id of the ReasonCode
    mobile_agent: MobileAgent | None = None
    logout_all_media: bool | None = None


def parse_user_update(body: bytes) -> UserUpdate:
    """A PUT /finesse/api/User/{id} body: ``<User><state>...</state>...</User>``."""
    root = safe_parse(body, "User")
    f = children(root, ("state", "extension", "reasonCodeId", "mobileAgent", "logoutAllMedia"))
    raw_state = required(f, "state")
    if raw_state not in UserState.__members__:
        raise XmlInputError(invalid_input("state", "Invalid State specified for user"))
    state = UserState(raw_state)
    extension = address("extension", leaf(f, "extension"))
    if state is UserState.LOGIN and extension is None:
        raise XmlInputError(parameter_missing("extension"))
    mobile: MobileAgent | None = None
    mobile_el = f.get("mobileAgent")
    if mobile_el is not None:
        mf = children(mobile_el, ("mode", "dialNumber"))
        mode = required(mf, "mode")
        if mode not in MobileAgentMode.__members__:
            raise XmlInputError(invalid_input("mode", "Invalid mode specified"))
        dial = required(mf, "dialNumber")
        address("dialNumber", dial)
        mobile = MobileAgent(MobileAgentMode(mode), dial)
    return UserUpdate(
        state=state,
        extension=extension,
        reason_code_id=int_field("reasonCodeId", leaf(f, "reasonCodeId")),
        mobile_agent=mobile,
        logout_all_media=bool_field("logoutAllMedia", leaf(f, "logoutAllMedia")),
    )
