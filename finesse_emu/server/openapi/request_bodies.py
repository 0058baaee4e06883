"""The request bodies of the PUT routes, following the parsers of :mod:`finesse_emu.server.xml`
(:func:`~finesse_emu.server.xml.user_api.parse_user_update`,
:func:`~finesse_emu.server.xml.media_api.parse_media_update`,
:func:`~finesse_emu.server.xml.dialog_api.parse_dialog_action`): every body they call valid parses (a
unit test generates them), with two documented gaps: unknown elements, which the parsers ignore, are
left out, and SEND_DTMF's required ``dtmfString`` ActionParam cannot be said in OpenAPI 3.0."""

from __future__ import annotations

from typing import Any

from finesse_emu.server.openapi.schema import Schema, array, boolean, closed, integer, obj, text
from finesse_emu.server.xml.dialog_api import NEEDS_TARGET, NEEDS_TO, SUPERVISOR_POSTS, DialogActionName
from finesse_emu.server.xml.media_api import MediaState
from finesse_emu.server.xml.user_api import MobileAgentMode, UserState

_INT32: Schema = {"minimum": -(2**31), "maximum": 2**31 - 1}
# Character classes spelt out (a generator's idea of \s is not Python's str.isspace, which the parser
# uses). Characters XML 1.0 cannot carry make a body malformed (400), so no valid value has them (lone
# surrogates cannot be in a UTF-8 body at all, and schemathesis refuses a pattern naming them).
NOT_XML = r"\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"
# Exactly the characters str.isspace() (and so str.strip()) takes for whitespace.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# What xml.parse.address accepts: 1-64 characters, none of them whitespace.
_ADDRESS: Schema = {"minLength": 1, "maxLength": 64, "pattern": rf"^[^{WHITESPACE}{NOT_XML}]{{1,64}}$"}
# A leaf the parser strips: something must be left after stripping.
_NON_BLANK: Schema = {"pattern": rf"^[^{NOT_XML}]*[^{WHITESPACE}{NOT_XML}][^{NOT_XML}]*$"}
# Free text (call variable values, wrap-up reasons): kept as sent.
_FREE_TEXT: Schema = {"pattern": rf"^[^{NOT_XML}]*$"}


def request_schemas() -> dict[str, Schema]:
    """The request bodies, by component name."""
    return {
        "DialogAction": _dialog_action(),
        # The request body of PUT /finesse/api/User/{user}: what parse_user_update accepts.
        "UserUpdate": _user_update(),
        # The request body of PUT /finesse/api/User/{user}/Media/{mrd}: parse_media_update.
        "MediaUpdate": _media_update(),
        **_admin_bodies(),
    }


def _admin_bodies() -> dict[str, Schema]:
    """The administration API's request bodies (server/admin_api.py): each field optional (what is
    left out is kept), at least one given."""
    host: Schema = text(pattern="^[A-Za-z0-9.-]{1,253}$")
    port = integer(minimum=1, maximum=65535)
    return {
        "SystemConfigUpdate": closed(
            obj(
                "SystemConfig",
                {
                    "cti": closed(
                        obj(
                            None,
                            {
                                "host": host,
                                "port": port,
                                "backupHost": host,
                                "backupPort": port,
                                "peripheralId": integer(minimum=1, maximum=32767),
                                "secure": {"type": "boolean", "enum": [False]},
                            },
                        )
                    )
                },
                ("cti",),
            )
        ),
        "EnterpriseDatabaseConfigUpdate": closed(
            obj(
                "EnterpriseDatabaseConfig",
                {
                    "host": host,
                    "backupHost": text("empty: no secondary AWDB", pattern="^[A-Za-z0-9.-]{0,253}$"),
                    "port": port,
                    "backupPort": port,
                    "databaseName": text(**_FREE_TEXT),
                    "domain": text(**_FREE_TEXT),
                    "username": text("with password", **_FREE_TEXT),
                    "password": text(**_FREE_TEXT),
                },
            )
        ),
        "ClusterConfigUpdate": closed(
            obj(
                "ClusterConfig",
                {
                    "secondaryNode": closed(
                        obj(None, {"host": text(pattern="^[A-Za-z0-9.-]{0,253}$")}, ("host",))
                    )
                },
                ("secondaryNode",),
            )
        ),
        "AdminDesktopPropertiesUpdate": closed(
            obj(
                "DesktopProperties",
                {"preLoadSecondaryResources": boolean(), "enableAutoWorkModeStateChange": boolean()},
            )
        ),
        "CorsConfigUpdate": closed(
            obj(
                "CorsConfig",
                {"origins": array(text("scheme://host[:port]"), "origin", "origins")},
                ("origins",),
            )
        ),
        "TeamReasonCodesUpdate": obj(
            "ReasonCodes",
            {
                "ReasonCode": array(
                    obj(None, {"uri": text("/finesse/api/ReasonCode/{id}")}, ("uri",)), "ReasonCode"
                )
            },
        ),
        "TeamWrapUpReasonsUpdate": obj(
            "WrapUpReasons",
            {
                "WrapUpReason": array(
                    obj(None, {"uri": text("/finesse/api/WrapUpReason/{id}")}, ("uri",)), "WrapUpReason"
                )
            },
        ),
        "DefaultLayoutConfigUpdate": closed(
            obj(
                "LayoutConfig",
                {"layoutxml": text("a finesseLayout document (its gadget elements are the layout)")},
                ("layoutxml",),
            )
        ),
        "TeamLayoutConfigUpdate": closed(
            obj(
                "TeamLayoutConfig",
                {"useDefault": boolean(), "layoutxml": text("a finesseLayout document, unless useDefault")},
            )
        ),
        "ReasonCodeInput": closed(
            obj(
                "ReasonCode",
                {
                    "category": text(enum=["NOT_READY", "LOGOUT"]),
                    "code": integer(minimum=1, maximum=65535),
                    "label": text("at most 40 characters", maxLength=40, **_FREE_TEXT),
                    "forAll": boolean(),
                },
            )
        ),
        "WrapUpReasonInput": closed(
            obj(
                "WrapUpReason",
                {"label": text("at most 39 bytes", maxLength=39, **_FREE_TEXT), "forAll": boolean()},
            )
        ),
    }


def _media_update() -> Schema:
    schema = closed(
        obj(
            "Media",
            {
                "state": text(enum=[s.value for s in MediaState]),
                "routable": boolean(),
                "reasonCodeId": integer("ReasonCode database id", **_INT32),
                "maxDialogLimit": integer("sign-in only", minimum=1, maximum=10),
                "interruptAction": text(enum=["ACCEPT", "IGNORE"]),
                "dialogLogoutAction": text(enum=["CLOSE", "TRANSFER"]),
            },
            (),
        )
    )
    schema["description"] = (
        "Sign in to a non-voice MRD (state LOGIN, with maxDialogLimit, interruptAction, "
        "dialogLogoutAction), READY, NOT_READY (optional reasonCodeId), LOGOUT, routable true/false, "
        "or Work to Active (state ACTIVE, the emulator's reading of a body no public source shows; "
        "allowed only in WORK, else 400 Invalid State). The voice MRD (1) belongs to PUT User (400). "
        "Refusals by the CTI side come after the 202 as an Update with apiErrors (E_ARM_STAT_...)."
    )
    schema["anyOf"] = [{"required": ["state"]}, {"required": ["routable"]}]
    return schema


def _user_update() -> Schema:
    """The body of PUT /finesse/api/User/{user}: what xml parse_user_update accepts."""
    schema = closed(
        obj(
            "User",
            {
                "state": text(enum=[s.value for s in UserState]),
                "extension": text("the agent's device; required with LOGIN", **_ADDRESS),
                "reasonCodeId": integer("ReasonCode database id", **_INT32),
                "mobileAgent": closed(
                    obj(
                        None,
                        {
                            "mode": text(enum=[m.value for m in MobileAgentMode]),
                            "dialNumber": text(**_ADDRESS),
                        },
                        ("mode", "dialNumber"),
                    )
                ),
                "logoutAllMedia": boolean(),
            },
            ("state",),
        )
    )
    schema["description"] = (
        "Sign in (LOGIN, needs extension), READY, NOT_READY (optional reasonCodeId: the ReasonCode "
        "database id) or LOGOUT. The parser ignores unknown elements (a client has no reason to send "
        "any); a known element given twice is 400 Invalid Input. Whether the change is allowed in the "
        "agent's current state is decided by the server (400 Invalid Input otherwise)."
    )
    # LOGIN needs an extension (else 400 Parameter Missing).
    schema["anyOf"] = [
        {"properties": {"state": {"enum": [s.value for s in UserState if s is not UserState.LOGIN]}}},
        {"required": ["extension"]},
    ]
    return schema


def _unless(actions: Any, required: str) -> Schema:
    """``required`` must be present when requestedAction is one of ``actions``."""
    names = sorted(a.value for a in actions)
    return {
        "anyOf": [{"properties": {"requestedAction": {"not": {"enum": names}}}}, {"required": [required]}]
    }


def _dialog_action() -> Schema:
    """The body of PUT /finesse/api/Dialog/{dialog}: what xml parse_dialog_action accepts."""
    pair = closed(obj(None, {"name": text(**_NON_BLANK), "value": text(**_FREE_TEXT)}, ("name",)))
    schema = closed(
        obj(
            "Dialog",
            {
                "requestedAction": text(enum=[a.value for a in DialogActionName]),
                "targetMediaAddress": text("the participant acted on", **_ADDRESS),
                "fromAddress": text(**_ADDRESS),
                "toAddress": text(**_ADDRESS),
                "associatedDialogUri": text(
                    "BARGE_CALL: the supervisor's silent monitor dialog", **_FREE_TEXT
                ),
                "mediaProperties": closed(
                    obj(
                        None,
                        {
                            "callvariables": array(pair, "CallVariable", "callvariables"),
                            "wrapUpReason": text(**_FREE_TEXT),
                        },
                    )
                ),
                "actionParams": array(pair, "ActionParam", "actionParams"),
            },
            ("requestedAction",),
        )
    )
    schema["description"] = (
        "A call control action. SEND_DTMF also needs the dtmfString ActionParam (400 Parameter Missing "
        "otherwise; OpenAPI 3.0 cannot say so). The parser ignores unknown elements. Which actions are "
        "emulated (PUT Dialog: ANSWER, DROP, HOLD, RETRIEVE, SEND_DTMF, UPDATE_CALL_DATA, CONSULT_CALL, "
        "TRANSFER_SST, TRANSFER, CONFERENCE, and a supervisor's PARTICIPANT_DROP; POST User/{id}/Dialogs: "
        "MAKE_CALL, a supervisor's SILENT_MONITOR and BARGE_CALL, 400 Invalid Input in a PUT Dialog; "
        "START_RECORDING, ACCEPT, CLOSE, REJECT, RECLASSIFY: 501) and whether one is allowed "
        "in the participant's state is decided by the server."
    )
    return {
        **schema,
        "allOf": [
            # The parser's own tables, so the two cannot disagree.
            _unless(NEEDS_TARGET, "targetMediaAddress"),
            _unless({DialogActionName.MAKE_CALL, *SUPERVISOR_POSTS}, "fromAddress"),
            _unless(NEEDS_TO | SUPERVISOR_POSTS, "toAddress"),
            _unless({DialogActionName.BARGE_CALL}, "associatedDialogUri"),
            _unless({DialogActionName.UPDATE_CALL_DATA}, "mediaProperties"),
        ],
    }
