"""The schemas of the documents the REST routes answer with, in the shapes of
:mod:`finesse_emu.server.xml` (one entry per resource, ApiErrors for every error)."""

from __future__ import annotations

from finesse_emu.server.openapi.schema import Schema, array, boolean, integer, obj, ref, text

_USER_STATES = [
    "LOGOUT", "NOT_READY", "READY", "RESERVED", "RESERVED_OUTBOUND", "RESERVED_OUTBOUND_PREVIEW",
    "TALKING", "HOLD", "WORK", "WORK_READY", "UNKNOWN",
]  # fmt: skip


def document_schemas() -> dict[str, Schema]:
    """The documents the routes answer with (and ApiErrors), by component name."""
    reason_code = obj(
        "ReasonCode",
        {
            "uri": text(),
            "category": text(enum=["NOT_READY", "LOGOUT"]),
            "code": integer(),
            "label": text(),
            "forAll": boolean(),
            "systemCode": boolean(),
            "id": integer("database id (the one in URIs and in PUT bodies); embedded forms only"),
        },
    )
    node = obj(
        None, {"host": text(), "httpsPort": integer(), "xmppPort": integer(), "xmppSecurePort": integer()}
    )
    cti_server = obj(None, {"host": text(), "connectedDuration": integer(), "active": boolean()})
    mobile_agent_out = obj(None, {"mode": text(), "dialNumber": text()})
    team_ref = obj(None, {"uri": text(), "id": text(), "name": text()})
    call_variable = obj(None, {"name": text(), "value": text()})
    participant = obj(
        None,
        {
            "actions": array(text(), "action", "actions"),
            "mediaAddress": text(),
            "mediaAddressType": text(),
            "startTime": text(),
            "state": text(),
            "stateCause": text(),
            "stateChangeTime": text(),
        },
    )
    media_properties = obj(
        None,
        {
            "mediaId": text(),
            "DNIS": text(),
            "callType": text(),
            "dialedNumber": text(),
            "outboundClassification": text(),
            "callvariables": array(call_variable, "CallVariable", "callvariables"),
        },
    )
    dialog = obj(
        "Dialog",
        {
            "associatedDialogUri": text(),
            "id": text(),
            "secondaryId": text(),
            "mediaType": text(),
            "fromAddress": text(),
            "toAddress": text(),
            "mediaProperties": media_properties,
            "participants": array(participant, "Participant", "participants"),
            "state": text(),
            "uri": text(),
        },
        ("id", "state", "uri"),
    )
    media = obj(
        "Media",
        {
            "uri": text(),
            "description": text(),
            "dialogLogoutAction": text(),
            "id": integer("MRD id"),
            "interruptible": boolean(),
            "maxDialogLimit": integer(),
            "mediaConnected": boolean(),
            "name": text(),
            "ReasonCode": ref("ReasonCode"),
            "reasonCodeId": integer("-1 when there is no reason code"),
            "routable": boolean(),
            "state": text(),
            "stateChangeTime": text(),
            "interruptAction": text(),
        },
        ("uri", "id", "state"),
    )
    team_user = obj(
        None,
        {
            "uri": text(),
            "loginId": text(),
            "firstName": text(),
            "lastName": text(),
            "dialogs": text(),
            "extension": text(),
            "pendingState": text(),
            "state": text(enum=_USER_STATES),
            "stateChangeTime": text(),
            "ReasonCode": ref("ReasonCode"),
        },
    )
    api_error = obj(
        "ApiError",
        {
            "ErrorType": text(),
            "ErrorData": text(),
            "ErrorMedia": text("Media APIs only: the MRD id"),
            "ErrorMessage": text(),
            "RequestId": text("Media APIs only, when a requestId was sent"),
        },
        ("ErrorType", "ErrorData", "ErrorMessage"),
    )
    return {
        "ApiErrors": obj("ApiErrors", {"ApiError": array(ref("ApiError"), "ApiError")}, ("ApiError",)),
        "ApiError": api_error,
        "SystemInfo": obj(
            "SystemInfo",
            {
                "currentTimestamp": text("YYYY-MM-DDThh:mm:ss.SSSZ (UTC)"),
                "deploymentType": text(),
                "lastCTIHeartbeatStatus": text(enum=["success", "failure"]),
                "lastSuccessCTIHeartbeatTime": integer("epoch milliseconds, 0 before the first heartbeat"),
                "ctiVersion": integer(),
                "ctiHeartbeatInterval": integer("seconds"),
                "ctiMMode": text(),
                "ctiTimeInMMode": integer(),
                "finesseMMode": text(),
                "finesseTimeInMMode": integer(),
                "license": text(),
                "peripheralId": integer(),
                "primaryNode": node,
                "secondaryNode": node,
                "status": text(enum=["IN_SERVICE", "OUT_OF_SERVICE", "PARTIAL_SERVICE"]),
                "statusReason": text(),
                "systemAuthMode": text(enum=["SSO", "NON_SSO", "HYBRID"]),
                "timezoneOffset": integer("minutes east of UTC"),
                "uri": text(),
                "xmppDomain": text(),
                "xmppPubSubDomain": text(),
                "ctiServers": array(cti_server, "ctiServer", "ctiServers"),
            },
            ("status", "xmppDomain", "primaryNode"),
        ),
        "User": obj(
            "User",
            {
                "uri": text(),
                "roles": array(text(enum=["Agent", "Supervisor", "Administrator"]), "role", "roles"),
                "loginId": text(),
                "loginName": text(),
                "state": text(enum=_USER_STATES),
                "stateChangeTime": text(),
                "mediaType": integer(),
                "pendingState": text(),
                "reasonCodeId": integer("-1 when there is no reason code"),
                "ReasonCode": ref("ReasonCode"),
                "settings": obj(
                    None,
                    {"wrapUpOnIncoming": text(), "wrapUpOnOutgoing": text(), "deviceSelection": text()},
                ),
                "extension": text(),
                "activeDeviceId": text(
                    "while signed in: the deviceId that Devices?extension= lists for the extension"
                ),
                "mobileAgent": mobile_agent_out,
                "firstName": text(),
                "lastName": text(),
                "teamId": text(),
                "teamName": text(),
                "skillTargetId": integer(),
                "dialogs": text(),
                "teams": array(team_ref, "Team", "teams"),
                "services": array(text(), "service", "services"),
                "wrapUpTimer": integer(),
            },
            ("uri", "loginId", "state"),
        ),
        "Dialog": dialog,
        "Dialogs": obj("Dialogs", {"Dialog": array(ref("Dialog"), "Dialog")}),
        "Media": media,
        "MediaList": obj("MediaList", {"Media": array(ref("Media"), "Media")}),
        "ReasonCode": reason_code,
        "ReasonCodes": obj(
            "ReasonCodes",
            {
                "category": {**text(enum=["NOT_READY", "LOGOUT", "ALL"]), "xml": {"attribute": True}},
                "ReasonCode": array(ref("ReasonCode"), "ReasonCode"),
            },
        ),
        "WrapUpReasons": obj(
            "WrapUpReasons",
            {
                "WrapUpReason": array(
                    obj(None, {"uri": text(), "label": text(), "forAll": boolean()}), "WrapUpReason"
                )
            },
        ),
        "DesktopProperties": obj("DesktopProperties", {"preLoadSecondaryResources": boolean()}),
        **admin_document_schemas(),
        "Devices": obj(
            "Devices",
            {
                "Device": array(
                    obj(None, {"deviceId": text(), "deviceType": integer(), "deviceTypeName": text()}),
                    "Device",
                )
            },
        ),
        "Team": obj(
            "Team",
            {"uri": text(), "id": text(), "name": text(), "users": array(team_user, "User", "users")},
            ("uri", "id", "name"),
        ),
        "LayoutConfig": obj(
            "LayoutConfig",
            {
                "uri": text(),
                "layoutxml": text("the finesseLayout document (its gadget URLs, in order), as text"),
                "useDefault": boolean(),
            },
            ("uri", "layoutxml", "useDefault"),
        ),
    }


def admin_document_schemas() -> dict[str, Schema]:
    """The administration API's documents (server/admin_api.py)."""
    host = obj(None, {"host": text()})
    return {
        "SystemConfig": obj(
            "SystemConfig",
            {
                "uri": text(),
                "cti": obj(
                    None,
                    {
                        "host": text("side A"),
                        "port": integer(),
                        "backupHost": text("side B"),
                        "backupPort": integer(),
                        "peripheralId": integer(),
                        "secure": boolean(),
                    },
                ),
            },
            ("uri", "cti"),
        ),
        "EnterpriseDatabaseConfig": obj(
            "EnterpriseDatabaseConfig",
            {
                "uri": text(),
                "host": text(),
                "backupHost": text(),
                "port": integer(),
                "backupPort": integer("emulator: only when the secondary AWDB's port differs"),
                "databaseName": text(),
                "domain": text(),
                "username": text(),
                "password": text("never answered (empty)"),
            },
            ("uri", "host", "port"),
        ),
        "ClusterConfig": obj(
            "ClusterConfig",
            {"uri": text(), "primaryNode": host, "secondaryNode": host},
            ("uri", "secondaryNode"),
        ),
        "AdminDesktopProperties": obj(
            "DesktopProperties",
            {"preLoadSecondaryResources": boolean(), "enableAutoWorkModeStateChange": boolean()},
        ),
        "CorsConfig": obj(
            "CorsConfig",
            {"uri": text(), "enabled": boolean(), "origins": array(text(), "origin", "origins")},
            ("uri", "enabled"),
        ),
        "WrapUpReason": obj("WrapUpReason", {"uri": text(), "label": text(), "forAll": boolean()}, ("uri",)),
        "TeamReasonCodes": obj("ReasonCodes", {"ReasonCode": array(ref("ReasonCode"), "ReasonCode")}),
        "DefaultLayoutConfig": obj(
            "LayoutConfig",
            {"uri": text(), "layoutxml": text("the finesseLayout document, as text")},
            ("uri", "layoutxml"),
        ),
        "TeamLayoutConfig": obj(
            "TeamLayoutConfig",
            {"uri": text(), "useDefault": boolean(), "layoutxml": text("empty when useDefault")},
            ("uri", "useDefault"),
        ),
    }
