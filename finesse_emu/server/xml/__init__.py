"""The one package through which all XML in and out of the emulated Finesse REST API goes.

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

One module per resource holds its views, its documents and events, and the parser of its request
body: :mod:`.user_api`, :mod:`.media_api`, :mod:`.dialog_api`, :mod:`.team_api`, :mod:`.system_info_api`,
:mod:`.reasons_api` (ReasonCode and WrapUpReason), :mod:`.desktop_api` (the desktop's properties,
emulator only), :mod:`.errors` (ApiErrors); :mod:`.common` has
the builders and text rules they share, :mod:`.parse` the defusedxml parsing and field readers.
This package re-exports every name of those, so callers write ``from finesse_emu.server import xml as
X``. The administration API's documents (:mod:`.system_config_api`, :mod:`.database_config_api`,
:mod:`.cluster_config_api`, :mod:`.cors_config_api`, and the request bodies of :mod:`.reasons_api`
and :mod:`.desktop_api`) are imported from their modules by ``server/admin_api.py``.
"""

from __future__ import annotations

from finesse_emu.server.xml.common import API, XML_DECLARATION, epoch_ms, format_time, xml_safe
from finesse_emu.server.xml.desktop_api import desktop_properties
from finesse_emu.server.xml.dialog_api import (
    SUPERVISOR_POSTS,
    ActionParam,
    CallVariable,
    DialogAction,
    DialogActionName,
    DialogView,
    MediaPropertiesView,
    ParticipantView,
    dialog,
    dialog_event,
    dialogs,
    dialogs_event,
    parse_dialog_action,
)
from finesse_emu.server.xml.errors import (
    ApiError,
    ErrorResponse,
    NotFound,
    XmlInputError,
    api_errors,
    api_errors_event,
    bad_request,
    error_response,
    forbidden,
    internal_error,
    invalid_authorization_user,
    invalid_destination,
    invalid_input,
    invalid_state,
    not_found,
    not_implemented,
    parameter_missing,
    service_unavailable,
    unauthorized,
)
from finesse_emu.server.xml.media_api import (
    MediaState,
    MediaUpdate,
    MediaView,
    media,
    media_event,
    media_list,
    parse_media_update,
)
from finesse_emu.server.xml.parse import MAX_BODY_BYTES, MAX_DEPTH, safe_parse
from finesse_emu.server.xml.reasons_api import (
    ReasonCodeView,
    WrapUpReasonView,
    reason_code,
    reason_codes,
    wrapup_reason,
    wrapup_reasons,
)
from finesse_emu.server.xml.system_info_api import (
    CtiServerView,
    NodeView,
    SystemInfoView,
    system_info,
    system_info_event,
)
from finesse_emu.server.xml.team_api import TeamUserView, TeamView, team, team_user_event
from finesse_emu.server.xml.user_api import (
    MobileAgent,
    MobileAgentMode,
    MobileAgentView,
    TeamRef,
    UserState,
    UserUpdate,
    UserView,
    parse_user_update,
    user,
    user_event,
    users,
)

__all__ = [
    "API",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "SUPERVISOR_POSTS",
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
    "desktop_properties",
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
