"""The one module through which all XML in and out of the emulated Finesse REST API goes.

Output: small frozen *view* dataclasses in, exact Finesse documents out. REST bodies (GET answers and
``ApiErrors``) are UTF-8 ``bytes`` that start with the declaration Finesse sends
(``<?xml version="1.0" encoding="UTF-8" standalone="yes"?>``); the ``*_event`` builders return the
``data`` child of an XMPP ``Update`` as ``str``, with the lower-case root real traffic carries and no
declaration. Times are epoch seconds (floats) and render as ``YYYY-MM-DDThh:mm:ss.SSSZ`` in UTC.
Element order: GET documents follow the shapes of Cisco's documentation; events follow the
alphabetical order of the 12.5/11.x captures. ``docs/rest_xml.md`` lists every choice made where
the reference says UNCERTAIN.

Input: request bodies are untrusted. ``parse_user_update``, ``parse_media_update`` and
``parse_dialog_action`` parse them with defusedxml (no DTD, no entities, no external references),
after a size cap (:data:`MAX_BODY_BYTES`), a strict UTF-8 check and under a nesting cap
(:data:`MAX_DEPTH`). Anything wrong raises :class:`XmlInputError`, which carries the exact
``ApiErrors`` answer (status 400); nothing else is ever raised. The parsers check syntax and the
documented vocabularies (state names, actions, booleans, numbers); whether a change is allowed in the
agent's current state is the server's business.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

# types-defusedxml provides stubs; without them mypy sees Any here, which is fine for both imports.
import defusedxml.ElementTree as _defused_et  # type: ignore[import-untyped, unused-ignore]
from defusedxml.common import (  # type: ignore[import-untyped, unused-ignore]
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

API = "/finesse/api"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
# Every documented request body is at most a few hundred bytes; this cap is far above any of them.
MAX_BODY_BYTES = 64 * 1024
# The deepest documented body is 5 levels (Dialog/mediaProperties/callvariables/CallVariable/name).
MAX_DEPTH = 16
# ErrorData echoes part of a hostile body (an unexpected root name) at most this long.
_MAX_ECHO = 64

# ---------------------------------------------------------------------------------------------------
# Text, times, escaping


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Characters XML 1.0 cannot carry (C0 controls but tab/LF/CR, surrogates, U+FFFE, U+FFFF).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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
    return _NOT_XML_CHAR.sub("\ufffd", text)


def _text(value: str | int | bool | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return xml_safe(value)


def _sub(parent: ET.Element, tag: str, value: str | int | bool | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = _text(value)
    return el


def _serialize(root: ET.Element) -> str:
    # short_empty_elements=False: Finesse writes <pendingState></pendingState>, never <pendingState/>.
    # ElementTree escapes & < > in text but leaves CR raw, which a parser turns into LF; text is the
    # only place a raw CR can come from here (attribute values get &#13;), so escape it after the fact.
    return ET.tostring(root, encoding="unicode", short_empty_elements=False).replace("\r", "&#13;")


def _document(root: ET.Element) -> bytes:
    """A top-level REST body: the declaration Finesse sends, then the document, in UTF-8."""
    return (XML_DECLARATION + _serialize(root)).encode("utf-8")


# ---------------------------------------------------------------------------------------------------
# Errors (ApiErrors)


@dataclass(frozen=True)
class ApiError:
    """One ``ApiError``; optional fields are rendered only when set."""

    error_type: str
    error_message: str
    error_data: str = ""
    error_media: str | None = None  # Media APIs: the MRD id the error applies to
    request_id: str | None = None  # Media APIs put the requestId in synchronous errors [UNCERTAIN name]
    # CCE asynchronous (CTI) errors only, in events:
    peripheral_error_code: str | None = None
    peripheral_error_text: str | None = None
    peripheral_error_msg: str | None = None


@dataclass(frozen=True)
class ErrorResponse:
    """An HTTP status with its ``ApiErrors`` body: what every error helper returns."""

    status: int
    errors: tuple[ApiError, ...]

    @property
    def body(self) -> bytes:
        return api_errors(self.errors)

    @property
    def error(self) -> ApiError:
        """The first (in practice the only) error."""
        return self.errors[0]


def api_errors(errors: Iterable[ApiError]) -> bytes:
    """The synchronous ``<ApiErrors>`` body of an HTTP error answer.

    Order inside ``ApiError``: ErrorType, ErrorData, ErrorMessage as in the 503 and Parameter Missing
    samples; a Media error (``error_media`` set) uses the Media samples' alphabetical order
    ErrorData, ErrorMedia, ErrorMessage, ErrorType.
    """
    root = ET.Element("ApiErrors")
    for e in errors:
        el = ET.SubElement(root, "ApiError")
        if e.error_media is None:
            _sub(el, "ErrorType", e.error_type)
            _sub(el, "ErrorData", e.error_data)
            _sub(el, "ErrorMessage", e.error_message)
        else:
            _sub(el, "ErrorData", e.error_data)
            _sub(el, "ErrorMedia", e.error_media)
            _sub(el, "ErrorMessage", e.error_message)
            _sub(el, "ErrorType", e.error_type)
        if e.request_id is not None:
            _sub(el, "RequestId", e.request_id)
    return _document(root)


def api_errors_event(errors: Iterable[ApiError]) -> str:
    """The ``<apiErrors>`` data of an asynchronous error ``Update`` (lower camel case).

    Order as in the 12.5 captures: [peripheralErrorCode], errorType, errorMessage,
    [peripheralErrorText], [peripheralErrorMsg], errorData; a Media error uses the documented
    alphabetical errorData, errorMedia, errorMessage, errorType. ``request_id`` is not rendered here
    (it travels in the Update's ``requestId``).
    """
    root = ET.Element("apiErrors")
    for e in errors:
        el = ET.SubElement(root, "apiError")
        if e.error_media is not None:
            _sub(el, "errorData", e.error_data)
            _sub(el, "errorMedia", e.error_media)
            _sub(el, "errorMessage", e.error_message)
            _sub(el, "errorType", e.error_type)
            continue
        if e.peripheral_error_code is not None:
            _sub(el, "peripheralErrorCode", e.peripheral_error_code)
        _sub(el, "errorType", e.error_type)
        _sub(el, "errorMessage", e.error_message)
        if e.peripheral_error_text is not None:
            _sub(el, "peripheralErrorText", e.peripheral_error_text)
        if e.peripheral_error_msg is not None:
            _sub(el, "peripheralErrorMsg", e.peripheral_error_msg)
        _sub(el, "errorData", e.error_data)
    return _serialize(root)


def error_response(
    status: int,
    error_type: str,
    message: str,
    data: str = "",
    *,
    media: str | None = None,
    request_id: str | None = None,
) -> ErrorResponse:
    return ErrorResponse(status, (ApiError(error_type, message, data, media, request_id),))


def service_unavailable() -> ErrorResponse:
    """503 while Finesse is OUT_OF_SERVICE or PARTIAL_SERVICE (every API but SystemInfo)."""
    return error_response(503, "Service Unavailable", "SERVER_OUT_OF_SERVICE", "")


def unauthorized(user: str) -> ErrorResponse:
    return error_response(401, "Authorization Failure", "UNAUTHORIZED", user)


def invalid_authorization_user(user: str) -> ErrorResponse:
    """401 when the authenticated user acts on another user (ErrorMessage not published: UNCERTAIN)."""
    return error_response(
        401, "Invalid Authorization User Specified", "Invalid Authorization User Specified", user
    )


class NotFound(StrEnum):
    """The 404 ErrorType values."""

    USER = "User Not Found"
    DIALOG = "Dialog Not Found"
    OTHER = "Not Found"


_NOT_FOUND_MESSAGE = {
    NotFound.USER: "UNKNOWN_USER",
    NotFound.DIALOG: "Invalid dialogId specified for dialog",
    NotFound.OTHER: "NOT_FOUND",
}


def not_found(kind: NotFound, data: str, message: str | None = None) -> ErrorResponse:
    return error_response(404, kind.value, message or _NOT_FOUND_MESSAGE[kind], data)


def bad_request(data: str, message: str) -> ErrorResponse:
    return error_response(400, "Bad Request", message, data)


def invalid_input(data: str, message: str) -> ErrorResponse:
    return error_response(400, "Invalid Input", message, data)


def parameter_missing(data: str, message: str | None = None) -> ErrorResponse:
    """400 Parameter Missing; the default message follows the sample ``State Parameter missing``."""
    return error_response(
        400, "Parameter Missing", message or f"{data[:1].upper()}{data[1:]} Parameter missing", data
    )


def invalid_state(data: str, message: str, status: int = 400) -> ErrorResponse:
    return error_response(status, "Invalid State", message, data)


def invalid_destination(data: str, message: str = "Invalid destination specified") -> ErrorResponse:
    """400 for MAKE_CALL to the caller's own extension, or an unusable address."""
    return error_response(400, "Invalid Destination", message, data)


def not_implemented(data: str, message: str = "NOT_IMPLEMENTED") -> ErrorResponse:
    """501 for CCX-only dialog actions on CCE."""
    return error_response(501, "Not Implemented", message, data)


def forbidden(data: str = "", message: str = "FORBIDDEN") -> ErrorResponse:
    """403 for configuration APIs run against the secondary node."""
    return error_response(403, "Forbidden", message, data)


def internal_error(message: str = "RUNTIME_EXCEPTION", data: str = "") -> ErrorResponse:
    return error_response(500, "Internal Server Error", message, data)


# ---------------------------------------------------------------------------------------------------
# SystemInfo


@dataclass(frozen=True)
class NodeView:
    host: str
    https_port: int = 8445
    xmpp_port: int = 5222
    xmpp_secure_port: int = 5223


@dataclass(frozen=True)
class CtiServerView:
    host: str
    connected_duration: int  # seconds
    active: bool


@dataclass(frozen=True)
class SystemInfoView:
    current_timestamp: float
    status: str  # IN_SERVICE | OUT_OF_SERVICE | PARTIAL_SERVICE
    xmpp_domain: str  # must equal primary_node.host or secondary_node.host exactly
    primary_node: NodeView
    secondary_node: NodeView | None = None
    deployment_type: str = "UCCE"
    last_cti_heartbeat_ok: bool = True  # renders lower-case success | failure
    last_success_cti_heartbeat_time: float | None = None  # epoch seconds; rendered in ms, 0 if never
    cti_version: int = 24
    cti_heartbeat_interval: int = 5  # seconds
    cti_mmode: str = ""
    cti_time_in_mmode: int = -1
    finesse_mmode: str = ""
    finesse_time_in_mmode: int = -1
    license: str = ""
    peripheral_id: int = 5000
    status_reason: str = ""
    system_auth_mode: str = "NON_SSO"
    timezone_offset: int = 0  # minutes east of UTC
    xmpp_pubsub_domain: str | None = None  # default "pubsub." + xmpp_domain
    cti_servers: tuple[CtiServerView, ...] = ()


def _node(parent: ET.Element, tag: str, node: NodeView) -> None:
    el = ET.SubElement(parent, tag)
    _sub(el, "host", node.host)
    _sub(el, "httpsPort", node.https_port)
    _sub(el, "xmppPort", node.xmpp_port)
    _sub(el, "xmppSecurePort", node.xmpp_secure_port)


def _system_info_element(v: SystemInfoView, root: str) -> ET.Element:
    el = ET.Element(root)
    _sub(el, "currentTimestamp", format_time(v.current_timestamp))
    _sub(el, "deploymentType", v.deployment_type)
    _sub(el, "lastCTIHeartbeatStatus", "success" if v.last_cti_heartbeat_ok else "failure")
    last = v.last_success_cti_heartbeat_time
    _sub(el, "lastSuccessCTIHeartbeatTime", 0 if last is None else epoch_ms(last))
    _sub(el, "ctiVersion", v.cti_version)
    _sub(el, "ctiHeartbeatInterval", v.cti_heartbeat_interval)
    _sub(el, "ctiMMode", v.cti_mmode)
    _sub(el, "ctiTimeInMMode", v.cti_time_in_mmode)
    _sub(el, "finesseMMode", v.finesse_mmode)
    _sub(el, "finesseTimeInMMode", v.finesse_time_in_mmode)
    _sub(el, "license", v.license)
    _sub(el, "peripheralId", v.peripheral_id)
    _node(el, "primaryNode", v.primary_node)
    if v.secondary_node is not None:
        _node(el, "secondaryNode", v.secondary_node)
    _sub(el, "status", v.status)
    _sub(el, "statusReason", v.status_reason)
    _sub(el, "systemAuthMode", v.system_auth_mode)
    _sub(el, "timezoneOffset", v.timezone_offset)
    _sub(el, "uri", f"{API}/SystemInfo")
    _sub(el, "xmppDomain", v.xmpp_domain)
    pubsub = v.xmpp_pubsub_domain if v.xmpp_pubsub_domain is not None else f"pubsub.{v.xmpp_domain}"
    _sub(el, "xmppPubSubDomain", pubsub)
    servers = ET.SubElement(el, "ctiServers")
    for s in v.cti_servers:
        srv = ET.SubElement(servers, "ctiServer")
        _sub(srv, "host", s.host)
        _sub(srv, "connectedDuration", s.connected_duration)
        _sub(srv, "active", s.active)
    return el


def system_info(view: SystemInfoView) -> bytes:
    """``GET /finesse/api/SystemInfo`` (the 12.6+ structure, in the documented order)."""
    return _document(_system_info_element(view, "SystemInfo"))


def system_info_event(view: SystemInfoView, root: str = "systemInfo") -> str:
    """Data of a SystemInfo ``Update``; no public sample, lower-case root by default [UNCERTAIN]."""
    return _serialize(_system_info_element(view, root))


# ---------------------------------------------------------------------------------------------------
# Reason codes, wrap-up reasons


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
_RC_IN_USER = ("category", "uri", "code", "label", "forAll", "systemCode", "id")
_RC_ALPHABETICAL = ("category", "code", "forAll", "id", "label", "systemCode", "uri")
_RC_IN_MEDIA = ("category", "code", "forAll", "id", "label", "uri")
_RC_IN_TEAM = ("uri", "code", "label", "category", "id")


def _reason_code_element(rc: ReasonCodeView, order: Sequence[str]) -> ET.Element:
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
        _sub(el, name, values[name])
    return el


def reason_code(view: ReasonCodeView) -> bytes:
    """``GET /finesse/api/ReasonCode/{id}`` and ``/User/{id}/ReasonCode/{id}``."""
    return _document(_reason_code_element(view, _RC_STANDALONE))


def reason_codes(views: Iterable[ReasonCodeView], category: str) -> bytes:
    """``GET /finesse/api/User/{id}/ReasonCodes?category=...``: ``<ReasonCodes category="...">``."""
    root = ET.Element("ReasonCodes", {"category": xml_safe(category)})
    for rc in views:
        root.append(_reason_code_element(rc, _RC_STANDALONE))
    return _document(root)


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
    _sub(el, "uri", w.uri)
    _sub(el, "label", w.label)
    _sub(el, "forAll", w.for_all)
    return el


def wrapup_reason(view: WrapUpReasonView) -> bytes:
    return _document(_wrapup_element(view))


def wrapup_reasons(views: Iterable[WrapUpReasonView]) -> bytes:
    """``GET /finesse/api/User/{id}/WrapUpReasons``."""
    root = ET.Element("WrapUpReasons")
    for w in views:
        root.append(_wrapup_element(w))
    return _document(root)


# ---------------------------------------------------------------------------------------------------
# User


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
        _sub(el, "role", r)


def _mobile_agent(parent: ET.Element, m: MobileAgentView) -> None:
    el = ET.SubElement(parent, "mobileAgent")
    _sub(el, "mode", m.mode)
    _sub(el, "dialNumber", m.dial_number)


def _user_get_element(v: UserView, root: str) -> ET.Element:
    """The documented (12.6+) GET order; wrapUpTimer, absent from the doc shape, goes last."""
    el = ET.Element(root)
    _sub(el, "uri", v.uri)
    _roles(el, v.roles)
    _sub(el, "loginId", v.login_id)
    _sub(el, "loginName", v.login_name)
    _sub(el, "state", v.state)
    _sub(el, "stateChangeTime", format_time(v.state_change_time))
    _sub(el, "mediaType", v.media_type)
    _sub(el, "pendingState", v.pending_state)
    _sub(el, "reasonCodeId", v.reason_code_id)
    if v.reason_code is not None:
        el.append(_reason_code_element(v.reason_code, _RC_IN_USER))
    settings = ET.SubElement(el, "settings")
    _sub(settings, "wrapUpOnIncoming", v.wrap_up_on_incoming)
    _sub(settings, "wrapUpOnOutgoing", v.wrap_up_on_outgoing)
    if v.device_selection is not None:
        _sub(settings, "deviceSelection", v.device_selection)
    _sub(el, "extension", v.extension)
    if v.mobile_agent is not None:
        _mobile_agent(el, v.mobile_agent)
    _sub(el, "firstName", v.first_name)
    _sub(el, "lastName", v.last_name)
    _sub(el, "teamId", _id(v.team_id))
    _sub(el, "teamName", v.team_name)
    if v.skill_target_id is not None:
        _sub(el, "skillTargetId", v.skill_target_id)
    _sub(el, "dialogs", v.dialogs_uri)
    if v.teams:
        teams = ET.SubElement(el, "teams")
        for t in v.teams:
            team_el = ET.SubElement(teams, "Team")
            _sub(team_el, "uri", f"{API}/Team/{_id(t.id)}")
            _sub(team_el, "id", _id(t.id))
            _sub(team_el, "name", t.name)
    if v.services:
        services = ET.SubElement(el, "services")
        for s in v.services:
            _sub(services, "service", s)
    _sub(el, "wrapUpTimer", v.wrap_up_timer)
    return el


def _user_event_element(v: UserView, root: str) -> ET.Element:
    """The 12.5 capture: alphabetical by property name (so ReasonCode sorts before reasonCodeId)."""
    el = ET.Element(root)
    _sub(el, "dialogs", v.dialogs_uri)
    _sub(el, "extension", v.extension)
    _sub(el, "firstName", v.first_name)
    _sub(el, "lastName", v.last_name)
    _sub(el, "loginId", v.login_id)
    _sub(el, "loginName", v.login_name)
    _sub(el, "mediaType", v.media_type)
    if v.mobile_agent is not None:
        _mobile_agent(el, v.mobile_agent)
    _sub(el, "pendingState", v.pending_state)
    if v.reason_code is not None:
        el.append(_reason_code_element(v.reason_code, _RC_ALPHABETICAL))
    _sub(el, "reasonCodeId", v.reason_code_id)
    _roles(el, v.roles)
    settings = ET.SubElement(el, "settings")
    _sub(settings, "wrapUpOnIncoming", v.wrap_up_on_incoming)
    _sub(settings, "wrapUpOnOutgoing", v.wrap_up_on_outgoing)
    _sub(el, "state", v.state)
    _sub(el, "stateChangeTime", format_time(v.state_change_time))
    _sub(el, "teamId", _id(v.team_id))
    _sub(el, "teamName", v.team_name)
    if v.teams:
        teams = ET.SubElement(el, "teams")
        for t in v.teams:
            team_el = ET.SubElement(teams, "Team")
            _sub(team_el, "id", _id(t.id))
            _sub(team_el, "name", t.name)
            _sub(team_el, "uri", f"{API}/Team/{_id(t.id)}")
    _sub(el, "uri", v.uri)
    _sub(el, "wrapUpTimer", v.wrap_up_timer)
    return el


def _id(value: int | str) -> str:
    return str(value)


def user(view: UserView, root: str = "User") -> bytes:
    """``GET /finesse/api/User/{id}`` (documented element order)."""
    return _document(_user_get_element(view, root))


def users(views: Iterable[UserView]) -> bytes:
    """``GET /finesse/api/Users``: ``<Users><User>...</User>...</Users>``."""
    root = ET.Element("Users")
    for v in views:
        root.append(_user_get_element(v, "User"))
    return _document(root)


def user_event(view: UserView, root: str = "user") -> str:
    """Data of a User ``Update``, exactly as a 12.5 node sends it (lower-case root ``user``)."""
    return _serialize(_user_event_element(view, root))


# ---------------------------------------------------------------------------------------------------
# Media (non-voice MRDs)


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
    _sub(el, "uri", v.uri)
    _sub(el, "description", v.description)
    if v.has_skill_group:
        _sub(el, "dialogLogoutAction", v.dialog_logout_action)
    _sub(el, "id", v.mrd_id)
    _sub(el, "interruptible", v.interruptible)
    if not v.has_skill_group:
        _sub(el, "name", v.name)
        return el
    _sub(el, "maxDialogLimit", v.max_dialog_limit)
    if v.media_connected is not None:
        _sub(el, "mediaConnected", v.media_connected)
    _sub(el, "name", v.name)
    if v.reason_code is not None:
        el.append(_reason_code_element(v.reason_code, _RC_IN_MEDIA))
    _sub(el, "reasonCodeId", -1 if v.reason_code is None else v.reason_code.id)
    _sub(el, "routable", v.routable)
    _sub(el, "state", v.state)
    _sub(el, "stateChangeTime", format_time(v.state_change_time))
    _sub(el, "interruptAction", v.interrupt_action)
    return el


def media(view: MediaView) -> bytes:
    """``GET /finesse/api/User/{id}/Media/{mrdId}``."""
    return _document(_media_element(view, "Media"))


def media_list(views: Iterable[MediaView]) -> bytes:
    """``GET /finesse/api/User/{id}/Media``: ``<MediaList><Media>...</Media>...</MediaList>``."""
    root = ET.Element("MediaList")
    for v in views:
        root.append(_media_element(v, "Media"))
    return _document(root)


def media_event(view: MediaView, root: str = "media") -> str:
    """Data of a Media ``Update`` (same children as GET; lower-case root like every event)."""
    return _serialize(_media_element(view, root))


# ---------------------------------------------------------------------------------------------------
# Dialog


@dataclass(frozen=True)
class CallVariable:
    name: str
    value: str


@dataclass(frozen=True)
class ActionParam:
    name: str
    value: str


@dataclass(frozen=True)
class MediaPropertiesView:
    dialed_number: str = ""
    call_type: str = ""
    dnis: str = ""
    call_variables: tuple[CallVariable, ...] = ()
    # Rendered only when set:
    outbound_classification: str | None = None
    queue_number: str | None = None
    queue_name: str | None = None
    call_key_call_id: str | None = None
    call_key_sequence_num: str | None = None
    call_key_prefix: str | None = None
    wrap_up_reason: str | None = None


@dataclass(frozen=True)
class ParticipantView:
    media_address: str
    state: str
    actions: tuple[str, ...] = ()
    media_address_type: str = ""
    start_time: float | None = None
    state_cause: str = ""
    state_change_time: float | None = None


@dataclass(frozen=True)
class DialogView:
    id: str
    state: str
    from_address: str
    to_address: str
    participants: tuple[ParticipantView, ...] = ()
    media_properties: MediaPropertiesView = field(default_factory=MediaPropertiesView)
    media_type: str = "Voice"
    associated_dialog_uri: str = ""
    secondary_id: str | None = None

    @property
    def uri(self) -> str:
        return f"{API}/Dialog/{self.id}"


def _media_properties(parent: ET.Element, mp: MediaPropertiesView, alphabetical: bool) -> None:
    el = ET.SubElement(parent, "mediaProperties")
    optional = {
        "outboundClassification": mp.outbound_classification,
        "queueNumber": mp.queue_number,
        "queueName": mp.queue_name,
        "callKeyCallId": mp.call_key_call_id,
        "callKeySequenceNum": mp.call_key_sequence_num,
        "callKeyPrefix": mp.call_key_prefix,
        "wrapUpReason": mp.wrap_up_reason,
    }
    values: dict[str, str] = {"dialedNumber": mp.dialed_number, "callType": mp.call_type, "DNIS": mp.dnis}
    values.update({k: v for k, v in optional.items() if v is not None})
    if alphabetical:
        # The capture sorts by name in code-point order (DNIS first) and puts callvariables last.
        names: Iterable[str] = sorted(values)
    else:
        names = [n for n in _MP_DOC_ORDER if n in values]
    for name in names:
        _sub(el, name, values[name])
    cvs = ET.SubElement(el, "callvariables")
    for cv in mp.call_variables:
        cv_el = ET.SubElement(cvs, "CallVariable")
        _sub(cv_el, "name", cv.name)
        _sub(cv_el, "value", cv.value)


_MP_DOC_ORDER = (
    "dialedNumber",
    "callType",
    "DNIS",
    "outboundClassification",
    "queueNumber",
    "queueName",
    "callKeyCallId",
    "callKeySequenceNum",
    "callKeyPrefix",
    "wrapUpReason",
)


def _participants(parent: ET.Element, participants: Iterable[ParticipantView]) -> None:
    el = ET.SubElement(parent, "participants")
    for p in participants:
        p_el = ET.SubElement(el, "Participant")
        actions = ET.SubElement(p_el, "actions")
        for a in p.actions:
            _sub(actions, "action", a)
        _sub(p_el, "mediaAddress", p.media_address)
        _sub(p_el, "mediaAddressType", p.media_address_type)
        _sub(p_el, "startTime", format_time(p.start_time))
        _sub(p_el, "state", p.state)
        _sub(p_el, "stateCause", p.state_cause)
        _sub(p_el, "stateChangeTime", format_time(p.state_change_time))


def _dialog_get_element(v: DialogView, root: str) -> ET.Element:
    """The documented order (DEV ``dialog``)."""
    el = ET.Element(root)
    _sub(el, "associatedDialogUri", v.associated_dialog_uri)
    _sub(el, "id", v.id)
    if v.secondary_id is not None:
        _sub(el, "secondaryId", v.secondary_id)
    _sub(el, "mediaType", v.media_type)
    _sub(el, "fromAddress", v.from_address)
    _sub(el, "toAddress", v.to_address)
    _media_properties(el, v.media_properties, alphabetical=False)
    _participants(el, v.participants)
    _sub(el, "state", v.state)
    _sub(el, "uri", v.uri)
    return el


def _dialog_event_element(v: DialogView, root: str) -> ET.Element:
    """The 11.x capture's alphabetical order."""
    el = ET.Element(root)
    _sub(el, "associatedDialogUri", v.associated_dialog_uri)
    _sub(el, "fromAddress", v.from_address)
    _sub(el, "id", v.id)
    _media_properties(el, v.media_properties, alphabetical=True)
    _sub(el, "mediaType", v.media_type)
    _participants(el, v.participants)
    if v.secondary_id is not None:
        _sub(el, "secondaryId", v.secondary_id)
    _sub(el, "state", v.state)
    _sub(el, "toAddress", v.to_address)
    _sub(el, "uri", v.uri)
    return el


def dialog(view: DialogView) -> bytes:
    """``GET /finesse/api/Dialog/{id}``."""
    return _document(_dialog_get_element(view, "Dialog"))


def dialogs(views: Iterable[DialogView]) -> bytes:
    """``GET /finesse/api/User/{id}/Dialogs`` (``<Dialogs></Dialogs>`` when idle)."""
    root = ET.Element("Dialogs")
    for v in views:
        root.append(_dialog_get_element(v, "Dialog"))
    return _document(root)


def dialogs_event(views: Iterable[DialogView]) -> str:
    """Data of a dialog added/removed ``Update`` (event POST/DELETE): ``<dialogs><Dialog>...``."""
    root = ET.Element("dialogs")
    for v in views:
        root.append(_dialog_event_element(v, "Dialog"))
    return _serialize(root)


def dialog_event(view: DialogView) -> str:
    """Data of a dialog modified ``Update`` (event PUT, source /finesse/api/Dialog/{id}): ``<dialog>``."""
    return _serialize(_dialog_event_element(view, "dialog"))


# ---------------------------------------------------------------------------------------------------
# Team


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
        return f"{API}/Team/{_id(self.id)}"


def _team_user_element(u: TeamUserView, root: str) -> ET.Element:
    el = ET.Element(root)
    _sub(el, "uri", f"{API}/User/{u.login_id}")
    _sub(el, "loginId", u.login_id)
    _sub(el, "firstName", u.first_name)
    _sub(el, "lastName", u.last_name)
    _sub(el, "dialogs", f"{API}/User/{u.login_id}/Dialogs")
    _sub(el, "extension", u.extension)
    _sub(el, "pendingState", u.pending_state)
    _sub(el, "state", u.state)
    _sub(el, "stateChangeTime", format_time(u.state_change_time))
    if u.reason_code is not None:
        el.append(_reason_code_element(u.reason_code, _RC_IN_TEAM))
    return el


def team(view: TeamView) -> bytes:
    """``GET /finesse/api/Team/{id}``."""
    root = ET.Element("Team")
    _sub(root, "uri", view.uri)
    _sub(root, "id", _id(view.id))
    _sub(root, "name", view.name)
    members = ET.SubElement(root, "users")
    for u in view.users:
        members.append(_team_user_element(u, "User"))
    return _document(root)


def team_user_event(view: TeamUserView) -> str:
    """Data of a Team notification (node /finesse/api/Team/{id}/Users): the summary ``<user>``."""
    return _serialize(_team_user_element(view, "user"))


# ---------------------------------------------------------------------------------------------------
# Parsing untrusted request bodies


class XmlInputError(Exception):
    """A request body Finesse would refuse; ``response`` is the exact 400 ``ApiErrors`` answer."""

    def __init__(self, response: ErrorResponse) -> None:
        e = response.error
        super().__init__(f"{response.status} {e.error_type}: {e.error_message} ({e.error_data})")
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def body(self) -> bytes:
        return self.response.body

    @property
    def error(self) -> ApiError:
        return self.response.error


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


def _children(el: ET.Element, known: Iterable[str]) -> dict[str, ET.Element]:
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


def _leaf(fields: dict[str, ET.Element], name: str, *, strip: bool = True) -> str | None:
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


def _required(fields: dict[str, ET.Element], name: str) -> str:
    value = _leaf(fields, name)
    if value is None:
        raise XmlInputError(parameter_missing(name))
    return value


def _int(name: str, value: str | None, low: int = -(2**31), high: int = 2**31 - 1) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(r"[+-]?[0-9]{1,10}", value) or not low <= int(value) <= high:
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return int(value)


def _bool(name: str, value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return lowered == "true"


def _choice(name: str, value: str | None, allowed: Iterable[str]) -> str | None:
    if value is None:
        return None
    if value not in frozenset(allowed):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return value


_MAX_ADDRESS = 64


def _address(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > _MAX_ADDRESS or _NOT_XML_CHAR.search(value) or any(c.isspace() for c in value):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return value


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
    f = _children(root, ("state", "extension", "reasonCodeId", "mobileAgent", "logoutAllMedia"))
    raw_state = _required(f, "state")
    if raw_state not in UserState.__members__:
        raise XmlInputError(invalid_input("state", "Invalid State specified for user"))
    state = UserState(raw_state)
    extension = _address("extension", _leaf(f, "extension"))
    if state is UserState.LOGIN and extension is None:
        raise XmlInputError(parameter_missing("extension"))
    mobile: MobileAgent | None = None
    mobile_el = f.get("mobileAgent")
    if mobile_el is not None:
        mf = _children(mobile_el, ("mode", "dialNumber"))
        mode = _required(mf, "mode")
        if mode not in MobileAgentMode.__members__:
            raise XmlInputError(invalid_input("mode", "Invalid mode specified"))
        dial = _required(mf, "dialNumber")
        _address("dialNumber", dial)
        mobile = MobileAgent(MobileAgentMode(mode), dial)
    return UserUpdate(
        state=state,
        extension=extension,
        reason_code_id=_int("reasonCodeId", _leaf(f, "reasonCodeId")),
        mobile_agent=mobile,
        logout_all_media=_bool("logoutAllMedia", _leaf(f, "logoutAllMedia")),
    )


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
    f = _children(
        root, ("state", "routable", "reasonCodeId", "maxDialogLimit", "interruptAction", "dialogLogoutAction")
    )
    raw_state = _leaf(f, "state")
    routable = _bool("routable", _leaf(f, "routable"))
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
        reason_code_id=_int("reasonCodeId", _leaf(f, "reasonCodeId")),
        max_dialog_limit=_int("maxDialogLimit", _leaf(f, "maxDialogLimit"), 1, 10),
        interrupt_action=_choice("interruptAction", _leaf(f, "interruptAction"), ("ACCEPT", "IGNORE")),
        dialog_logout_action=_choice(
            "dialogLogoutAction", _leaf(f, "dialogLogoutAction"), ("CLOSE", "TRANSFER")
        ),
    )


# --- PUT /finesse/api/Dialog/{id} and POST /finesse/api/User/{id}/Dialogs ---------------------------


class DialogActionName(StrEnum):
    MAKE_CALL = "MAKE_CALL"
    ANSWER = "ANSWER"
    HOLD = "HOLD"
    RETRIEVE = "RETRIEVE"
    DROP = "DROP"
    CONSULT_CALL = "CONSULT_CALL"
    TRANSFER = "TRANSFER"
    TRANSFER_SST = "TRANSFER_SST"
    CONFERENCE = "CONFERENCE"
    PARTICIPANT_DROP = "PARTICIPANT_DROP"
    SEND_DTMF = "SEND_DTMF"
    START_RECORDING = "START_RECORDING"
    UPDATE_CALL_DATA = "UPDATE_CALL_DATA"
    SILENT_MONITOR = "SILENT_MONITOR"
    BARGE_CALL = "BARGE_CALL"
    ACCEPT = "ACCEPT"
    CLOSE = "CLOSE"
    REJECT = "REJECT"
    RECLASSIFY = "RECLASSIFY"


# Actions on a participant of an existing dialog: targetMediaAddress names the participant.
_NEEDS_TARGET = frozenset(
    {
        DialogActionName.ANSWER,
        DialogActionName.HOLD,
        DialogActionName.RETRIEVE,
        DialogActionName.DROP,
        DialogActionName.CONSULT_CALL,
        DialogActionName.TRANSFER,
        DialogActionName.TRANSFER_SST,
        DialogActionName.CONFERENCE,
        DialogActionName.PARTICIPANT_DROP,
        DialogActionName.SEND_DTMF,
        DialogActionName.START_RECORDING,
    }
)
_NEEDS_TO = frozenset(
    {DialogActionName.MAKE_CALL, DialogActionName.CONSULT_CALL, DialogActionName.TRANSFER_SST}
)


@dataclass(frozen=True)
class DialogAction:
    requested_action: DialogActionName
    target_media_address: str | None = None
    from_address: str | None = None
    to_address: str | None = None
    call_variables: tuple[CallVariable, ...] | None = None  # None: no mediaProperties/callvariables
    wrap_up_reason: str | None = None
    action_params: tuple[ActionParam, ...] = ()

    def param(self, name: str) -> str | None:
        for p in self.action_params:
            if p.name == name:
                return p.value
        return None


def _pairs(container: ET.Element | None, item_tag: str, what: str) -> list[tuple[str, str]]:
    """``<X><Item><name/><value/></Item>...</X>`` as (name, value) pairs; values keep whitespace."""
    out: list[tuple[str, str]] = []
    if container is None:
        return out
    for item in container:
        if item.tag != item_tag:
            continue
        f = _children(item, ("name", "value"))
        name = _leaf(f, "name")
        if name is None:
            raise XmlInputError(parameter_missing("name", f"{what} name missing"))
        out.append((name, _leaf(f, "value", strip=False) or ""))
    return out


def parse_dialog_action(body: bytes) -> DialogAction:
    """A PUT Dialog (call control) or POST User/{id}/Dialogs (MAKE_CALL) body: ``<Dialog>...``."""
    root = safe_parse(body, "Dialog")
    f = _children(
        root,
        (
            "requestedAction",
            "targetMediaAddress",
            "fromAddress",
            "toAddress",
            "mediaProperties",
            "actionParams",
        ),
    )
    raw_action = _required(f, "requestedAction")
    if raw_action not in DialogActionName.__members__:
        raise XmlInputError(invalid_input("requestedAction", "Invalid requestedAction specified for dialog"))
    action = DialogActionName(raw_action)
    target = _address("targetMediaAddress", _leaf(f, "targetMediaAddress"))
    from_address = _address("fromAddress", _leaf(f, "fromAddress"))
    to_address = _address("toAddress", _leaf(f, "toAddress"))

    call_variables: tuple[CallVariable, ...] | None = None
    wrap_up_reason: str | None = None
    mp = f.get("mediaProperties")
    if mp is not None:
        mpf = _children(mp, ("callvariables", "wrapUpReason"))
        if "callvariables" in mpf:
            pairs = _pairs(mpf["callvariables"], "CallVariable", "CallVariable")
            call_variables = tuple(CallVariable(n, v) for n, v in pairs)
        wrap_up_reason = _leaf(mpf, "wrapUpReason", strip=False)
    params = tuple(ActionParam(n, v) for n, v in _pairs(f.get("actionParams"), "ActionParam", "ActionParam"))

    if action is DialogActionName.MAKE_CALL and from_address is None:
        raise XmlInputError(parameter_missing("fromAddress"))
    if action in _NEEDS_TO and to_address is None:
        raise XmlInputError(parameter_missing("toAddress"))
    if action in _NEEDS_TARGET and target is None:
        raise XmlInputError(parameter_missing("targetMediaAddress"))
    if action is DialogActionName.SEND_DTMF and not any(p.name == "dtmfString" and p.value for p in params):
        raise XmlInputError(parameter_missing("dtmfString"))
    if action is DialogActionName.UPDATE_CALL_DATA and mp is None:
        raise XmlInputError(parameter_missing("mediaProperties"))
    return DialogAction(
        requested_action=action,
        target_media_address=target,
        from_address=from_address,
        to_address=to_address,
        call_variables=call_variables,
        wrap_up_reason=wrap_up_reason,
        action_params=params,
    )


__all__ = [
    "API",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "XML_DECLARATION",
    "ActionParam",
    "ApiError",
    "CallVariable",
    "CtiServerView",
    "DialogAction",
    "DialogActionName",
    "DialogView",
    "ErrorResponse",
    "MediaPropertiesView",
    "MediaState",
    "MediaUpdate",
    "MediaView",
    "MobileAgent",
    "MobileAgentMode",
    "MobileAgentView",
    "NodeView",
    "NotFound",
    "ParticipantView",
    "ReasonCodeView",
    "SystemInfoView",
    "TeamRef",
    "TeamUserView",
    "TeamView",
    "UserState",
    "UserUpdate",
    "UserView",
    "WrapUpReasonView",
    "XmlInputError",
    "api_errors",
    "api_errors_event",
    "bad_request",
    "dialog",
    "dialog_event",
    "dialogs",
    "dialogs_event",
    "epoch_ms",
    "error_response",
    "forbidden",
    "format_time",
    "internal_error",
    "invalid_authorization_user",
    "invalid_destination",
    "invalid_input",
    "invalid_state",
    "media",
    "media_event",
    "media_list",
    "not_found",
    "not_implemented",
    "parameter_missing",
    "parse_dialog_action",
    "parse_media_update",
    "parse_user_update",
    "reason_code",
    "reason_codes",
    "safe_parse",
    "service_unavailable",
    "system_info",
    "system_info_event",
    "team",
    "team_user_event",
    "unauthorized",
    "user",
    "user_event",
    "users",
    "wrapup_reason",
    "wrapup_reasons",
    "xml_safe",
]
