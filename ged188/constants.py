"""GED-188 numbers: message types, status codes, agent states, masks and floating-field tags.

Source: Cisco's CTI Server Message Reference Guide (Protocol Version 24/25) for Unified Contact
Center Enterprise.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

HEADER_SIZE = 8
# "Largest possible message, header included: 12500 bytes" (v24).
MAX_MESSAGE_SIZE = 12500
MAX_BODY_SIZE = MAX_MESSAGE_SIZE - HEADER_SIZE

# Floating tags and lengths are 1 byte up to v19 and 2 bytes from v20.
FIRST_TWO_BYTE_TAG_VERSION = 20
MIN_SUPPORTED_VERSION = 9
MAX_SUPPORTED_VERSION = 25

NULL_ID = 0xFFFFFFFF  # NULL_CALL_ID, NULL_PERIPHERAL_ID, NULL_SKILL_GROUP, ...
NONE_16 = 0xFFFF  # PT_NONE, DEVID_NONE, CEC_NONE, NULL_CALLTYPE, ...
IDLE_TIMEOUT_DISABLED = 0xFFFFFFFF
MIN_IDLE_TIMEOUT = 20


class MessageType(IntEnum):
    FAILURE_CONF = 1
    FAILURE_EVENT = 2
    OPEN_REQ = 3
    OPEN_CONF = 4
    HEARTBEAT_REQ = 5
    HEARTBEAT_CONF = 6
    CLOSE_REQ = 7
    CLOSE_CONF = 8
    CALL_DELIVERED_EVENT = 9
    CALL_ESTABLISHED_EVENT = 10
    CALL_HELD_EVENT = 11
    CALL_RETRIEVED_EVENT = 12
    CALL_CLEARED_EVENT = 13
    CALL_CONNECTION_CLEARED_EVENT = 14
    CALL_ORIGINATED_EVENT = 15
    CALL_FAILED_EVENT = 16
    CALL_CONFERENCED_EVENT = 17
    CALL_TRANSFERRED_EVENT = 18
    CALL_DIVERTED_EVENT = 19
    CALL_SERVICE_INITIATED_EVENT = 20
    CALL_QUEUED_EVENT = 21
    CALL_TRANSLATION_ROUTE_EVENT = 22
    BEGIN_CALL_EVENT = 23
    END_CALL_EVENT = 24
    CALL_DATA_UPDATE_EVENT = 25
    SET_CALL_DATA_REQ = 26
    SET_CALL_DATA_CONF = 27
    RELEASE_CALL_REQ = 28
    RELEASE_CALL_CONF = 29
    AGENT_STATE_EVENT = 30
    SYSTEM_EVENT = 31
    CLIENT_EVENT_REPORT_REQ = 32
    CLIENT_EVENT_REPORT_CONF = 33
    CALL_REACHED_NETWORK_EVENT = 34
    CONTROL_FAILURE_CONF = 35
    QUERY_AGENT_STATE_REQ = 36
    QUERY_AGENT_STATE_CONF = 37
    SET_AGENT_STATE_REQ = 38
    SET_AGENT_STATE_CONF = 39
    ALTERNATE_CALL_REQ = 40
    ANSWER_CALL_REQ = 42
    ANSWER_CALL_CONF = 43
    CLEAR_CALL_REQ = 44
    CLEAR_CALL_CONF = 45
    CLEAR_CONNECTION_REQ = 46
    CLEAR_CONNECTION_CONF = 47
    CONFERENCE_CALL_REQ = 48
    CONFERENCE_CALL_CONF = 49
    CONSULTATION_CALL_REQ = 50
    CONSULTATION_CALL_CONF = 51
    DEFLECT_CALL_REQ = 52
    HOLD_CALL_REQ = 54
    HOLD_CALL_CONF = 55
    MAKE_CALL_REQ = 56
    MAKE_CALL_CONF = 57
    MAKE_PREDICTIVE_CALL_REQ = 58
    RECONNECT_CALL_REQ = 60
    RETRIEVE_CALL_REQ = 62
    RETRIEVE_CALL_CONF = 63
    TRANSFER_CALL_REQ = 64
    TRANSFER_CALL_CONF = 65
    QUERY_DEVICE_INFO_REQ = 78
    SNAPSHOT_CALL_REQ = 82
    SNAPSHOT_DEVICE_REQ = 84
    CALL_DEQUEUED_EVENT = 86
    SEND_DTMF_SIGNAL_REQ = 91
    SEND_DTMF_SIGNAL_CONF = 92
    MONITOR_START_REQ = 93
    MONITOR_STOP_REQ = 95
    CHANGE_MONITOR_MASK_REQ = 97
    # Supervisor actions (numbers: nshimaza's Scala ctidriver MessageType.scala, and the Unified CCX
    # CTI protocol pages supervise_call_req / supervise_call_conf).
    SUPERVISE_CALL_REQ = 124
    SUPERVISE_CALL_CONF = 125
    STANDBY_ACTIVE_EVENT_MSG = 277
    ACTIVE_MAINTENANCE_REQ_MSG = 278
    ACTIVE_MAINTENANCE_RESP_MSG = 279
    ACTIVE_MAINTENANCE_EVENT_MSG = 280
    STOPPING_REQUESTS_TO_THIS_SIDE_IND = 281
    # Emulator-private: Finesse's non-voice MRD requests. On a real PG these travel as ARM / task
    # messages (v15 guide numbers 150-190) whose layouts are not public, so the emulator does not
    # pretend to speak them; a number far from any GED-188 message keeps a real client from
    # mistaking these for one (docs/cti.md, "Non-voice MRDs").
    EMU_SET_MEDIA_STATE_REQ = 0x7E01
    EMU_SET_MEDIA_STATE_CONF = 0x7E02

    @classmethod
    def name_of(cls, value: int) -> str:
        try:
            return cls(value).name
        except ValueError:
            return f"UNKNOWN_{value}"


class Status(IntEnum):
    """FAILURE_CONF / FAILURE_EVENT / CLOSE_REQ status codes."""

    E_CTI_NO_ERROR = 0
    E_CTI_INVALID_VERSION = 1
    E_CTI_INVALID_MESSAGE_LENGTH = 2
    E_CTI_INVALID_FIELD_TAG = 3
    E_CTI_SESSION_NOT_OPEN = 4
    E_CTI_SESSION_ALREADY_OPEN = 5
    E_CTI_REQUIRED_DATA_MISSING = 6
    E_CTI_INVALID_PERIPHERAL_ID = 7
    E_CTI_INVALID_AGENT_DATA = 8
    E_CTI_AGENT_NOT_LOGGED_ON = 9
    E_CTI_DEVICE_IN_USE = 10
    E_CTI_NEW_SESSION_OPENED = 11
    E_CTI_FUNCTION_NOT_AVAILABLE = 12
    E_CTI_INVALID_CALLID = 13
    E_CTI_PROTECTED_VARIABLE = 14
    E_CTI_CTI_SERVER_OFFLINE = 15
    E_CTI_TIMEOUT = 16
    E_CTI_UNSPECIFIED_FAILURE = 17
    E_CTI_INVALID_TIMEOUT = 18
    E_CTI_INVALID_SERVICE_MASK = 19
    E_CTI_INVALID_CALL_MSG_MASK = 20
    E_CTI_INVALID_AGENT_STATE_MASK = 21
    E_CTI_INVALID_RESERVED_FIELD = 22
    E_CTI_INVALID_FIELD_LENGTH = 23
    E_CTI_INVALID_DIGITS = 24
    E_CTI_BAD_MESSAGE_FORMAT = 25
    E_CTI_INVALID_TAG_FOR_MSG_TYPE = 26
    E_CTI_INCONSISTENT_AGENT_DATA = 32
    E_CTI_INVALID_PASSWORD = 36
    E_CTI_CLIENT_DISCONNECTED = 37
    E_CTI_INVALID_MSG_TYPE_FOR_VERSION = 48
    E_CTI_INVALID_TAG_FOR_VERSION = 49
    E_CTI_SERVER_NOT_MASTER = 92
    E_CTI_INVALID_CLIENT_FOR_STANDBY = 107
    E_CTI_INVALID_UNIQUE_INSTANCE_ID = 108
    E_CTI_DUPLICATE_UNIQUE_INSTANCE_ID = 109
    E_CTI_SERVER_IN_MAINTENANCE_MODE = 110


class ControlFailure(IntEnum):
    """CONTROL_FAILURE_CONF FailureCode values used by the stub."""

    CF_GENERIC_UNSPECIFIED_REJECTION = 70
    CF_INVALID_AGENT_ID_SPECIFIED = 256
    CF_INVALID_PASSWORD_SPECIFIED = 257
    CF_INVALID_AGENT_STATE = 260
    CF_INVALID_AGENT_REASON_CODE = 266
    CF_REASON_CODE_REQUIRED = 281


class MediaAction(IntEnum):
    """What an EMU_SET_MEDIA_STATE_REQ asks for in one MRD (the Media PUT bodies of Finesse)."""

    SET_STATE = 0  # AgentState LOGIN, LOGOUT, NOT_READY (with EventReasonCode) or AVAILABLE
    SET_ROUTABLE = 1  # AgentMode in Routable
    WORK_TO_ACTIVE = 2  # "Change Agent from Work State to Active": READY or NOT_READY computed by the PG


class ArmError(IntEnum):
    """PeripheralErrorCode of a refused media request; Finesse reports the name in ``errorMessage``.

    Names from the Finesse Media API errors (reference section 6); the numbers are the emulator's.
    """

    E_ARM_STAT_AGENT_ALREADY_LOGGED_IN = 1001
    E_ARM_STAT_AGENT_NOT_LOGGED_IN = 1006
    E_ARM_STAT_ALREADY_IN_REQUESTED_AGENT_MODE = 1011
    E_ARM_STAT_INVALID_AGENT_STATE = 1020


# errorType and errorData Finesse shows for each ArmError (reference section 6; the last is inferred).
ARM_ERROR_TEXT: dict[ArmError, tuple[str, str]] = {
    ArmError.E_ARM_STAT_AGENT_ALREADY_LOGGED_IN: ("Agent already logged into MRD", "1"),
    ArmError.E_ARM_STAT_AGENT_NOT_LOGGED_IN: ("Agent not logged into MRD", "6"),
    ArmError.E_ARM_STAT_ALREADY_IN_REQUESTED_AGENT_MODE: ("Agent already in requested mode", "1"),
    ArmError.E_ARM_STAT_INVALID_AGENT_STATE: ("Invalid State", "0"),
}


class AgentState(IntEnum):
    LOGIN = 0
    LOGOUT = 1
    NOT_READY = 2
    AVAILABLE = 3
    TALKING = 4
    WORK_NOT_READY = 5
    WORK_READY = 6
    BUSY_OTHER = 7
    RESERVED = 8
    UNKNOWN = 9
    HOLD = 10
    ACTIVE = 11
    PAUSED = 12
    INTERRUPTED = 13
    NOT_ACTIVE = 14


# AgentStateMask bit per state: states 0..8 use bit n, UNKNOWN (9) has none, 10..14 use bit n-1.
AGENT_STATE_MASK_BIT: dict[AgentState, int] = {
    s: (1 << s.value if s.value <= 8 else 1 << (s.value - 1))
    for s in AgentState
    if s is not AgentState.UNKNOWN
}
ALL_AGENT_STATES_MASK = 0x3FFF


class Service(IntFlag):
    CLIENT_EVENTS = 0x00000001
    CALL_DATA_UPDATE = 0x00000002
    CLIENT_CONTROL = 0x00000004
    CONNECTION_MONITOR = 0x00000008
    ALL_EVENTS = 0x00000010
    PERIPHERAL_MONITOR = 0x00000020
    CLIENT_MONITOR = 0x00000040
    SUPERVISOR = 0x00000080
    SERVER = 0x00000100
    UNDOCUMENTED_0x200 = 0x00000200  # requested by the real CTI OS Server
    AGENT_REPORTING = 0x00000400
    ALL_TASK_EVENTS = 0x00000800
    TASK_MONITOR = 0x00001000
    AGENT_STATE_CONTROL_ONLY = 0x00002000
    DEVICE_STATE_CONTROL = 0x00008000
    CONFIG_EVENTS = 0x00040000
    UPDATE_EVENTS = 0x00080000
    IGNORE_DUPLICATE_AGENT_EVENTS = 0x00100000
    IGNORE_CONF = 0x00200000
    ACD_LINE_ONLY = 0x00400000
    ACTIVE_STANDBY = 0x02000000
    DEBUG = 0x80000000


KNOWN_SERVICES = int(sum(Service))


class CallMsg(IntFlag):
    CALL_DELIVERED = 0x1
    CALL_QUEUED = 0x2
    CALL_ESTABLISHED = 0x4
    CALL_HELD = 0x8
    CALL_RETRIEVED = 0x10
    CALL_CLEARED = 0x20
    CALL_CONNECTION_CLEARED = 0x40
    CALL_ORIGINATED = 0x80
    CALL_CONFERENCED = 0x100
    CALL_TRANSFERRED = 0x200
    CALL_SERVICE_INITIATED = 0x800
    BEGIN_CALL = 0x2000
    END_CALL = 0x4000
    CALL_DATA_UPDATE = 0x8000
    CALL_FAILED = 0x10000
    CALL_DEQUEUED = 0x40000


CALL_MSG_BIT: dict[MessageType, CallMsg] = {
    MessageType.CALL_DELIVERED_EVENT: CallMsg.CALL_DELIVERED,
    MessageType.CALL_ESTABLISHED_EVENT: CallMsg.CALL_ESTABLISHED,
    MessageType.CALL_HELD_EVENT: CallMsg.CALL_HELD,
    MessageType.CALL_RETRIEVED_EVENT: CallMsg.CALL_RETRIEVED,
    MessageType.CALL_CLEARED_EVENT: CallMsg.CALL_CLEARED,
    MessageType.CALL_CONNECTION_CLEARED_EVENT: CallMsg.CALL_CONNECTION_CLEARED,
    MessageType.CALL_ORIGINATED_EVENT: CallMsg.CALL_ORIGINATED,
    MessageType.CALL_SERVICE_INITIATED_EVENT: CallMsg.CALL_SERVICE_INITIATED,
    MessageType.CALL_CONFERENCED_EVENT: CallMsg.CALL_CONFERENCED,
    MessageType.CALL_TRANSFERRED_EVENT: CallMsg.CALL_TRANSFERRED,
    MessageType.BEGIN_CALL_EVENT: CallMsg.BEGIN_CALL,
    MessageType.END_CALL_EVENT: CallMsg.END_CALL,
    MessageType.CALL_DATA_UPDATE_EVENT: CallMsg.CALL_DATA_UPDATE,
    MessageType.CALL_QUEUED_EVENT: CallMsg.CALL_QUEUED,
    MessageType.CALL_DEQUEUED_EVENT: CallMsg.CALL_DEQUEUED,
    MessageType.CALL_FAILED_EVENT: CallMsg.CALL_FAILED,
}


class PGStatus(IntFlag):
    NORMAL = 0
    OPC_DOWN = 0x01
    CC_DOWN = 0x02
    PERIPHERAL_OFFLINE = 0x04
    CTI_SERVER_OFFLINE = 0x08
    LIMITED_FUNCTION = 0x10


class SystemEventID(IntEnum):
    CENTRAL_CONTROLLER_ONLINE = 1
    CENTRAL_CONTROLLER_OFFLINE = 2
    PERIPHERAL_ONLINE = 3
    PERIPHERAL_OFFLINE = 4
    TEXT_FYI = 5
    PERIPHERAL_GATEWAY_OFFLINE = 6
    CTI_SERVER_OFFLINE = 7
    CTI_SERVER_ONLINE = 8
    HALF_HOUR_CHANGE = 9


class SessionType(IntEnum):
    UNKNOWN = 0
    ACTIVE = 1
    STANDBY = 2


PT_ENTERPRISE_AGENT = 17


class LineType(IntEnum):
    INBOUND_ACD = 0
    OUTBOUND_ACD = 1
    INSIDE = 2
    UNKNOWN = 3


class LocalConnectionState(IntEnum):
    NULL = 0
    INITIATE = 1
    ALERTING = 2
    CONNECT = 3
    HOLD = 4
    QUEUED = 5
    FAIL = 6


class EventCause(IntEnum):
    """EventCause (Cisco's CTI Server Message Reference, "EventCause Values" and "Extended Call
    Cleared Event Causes")."""

    BUSY = 3
    DEST_NOT_OBTAINABLE = 13
    NEW_CALL = 22
    TRANSFER = 32
    CALL_PARTY_UPDATE_IND = 50
    # Extended call-cleared causes: the caller hung up in the queue / while the agent's phone rang.
    ABAND_LOCAL_QUEUE = 1002
    ABAND_RING = 1003
    CONSULT = 51
    NONE = 0xFFFF


class CallType(IntEnum):
    ACD_IN = 1
    TRANSFER_IN = 4
    AGENT_OUT = 8
    OUT = 9
    AGENT_INSIDE = 10
    # The supervisor's silent-monitor call (Finesse's callType SUPERVISOR_MONITOR). The number is from
    # memory of the CTI Server Message Reference's CallType table (... 19 ASSIST, 20 EMERGENCY,
    # 21 SUPERVISOR_MONITOR, 22 SUPERVISOR_WHISPER, 23 SUPERVISOR_BARGEIN, 24 SUPERVISOR_INTERCEPT)
    # [UNCERTAIN: no public source found for these numbers].
    SUPERVISOR_MONITOR = 21
    CONSULT = 12
    CONFERENCE = 15
    NULL = 0xFFFF


class SupervisoryAction(IntEnum):
    """SUPERVISE_CALL_REQ's SupervisoryAction (USHORT): nshimaza's Scala ctidriver (SupervisoryAction:
    CLEAR 0, MONITOR 1, WHISPER 2, BARGE_IN 3, INTERCEPT 4); Cisco's Unified CCX page names them
    SUPERVISOR_CLEAR ... ("send a SUPERVISE_CALL_REQ message with SUPERVISOR_CLEAR as the
    SupervisorAction value to disconnect the supervisor's device from the call")."""

    CLEAR = 0
    MONITOR = 1
    WHISPER = 2
    BARGE_IN = 3
    INTERCEPT = 4


class DeviceType(IntEnum):
    DEVICE_IDENTIFIER = 0
    TRUNK = 70
    EXTERNAL = 75
    AGENT_DEVICE = 76
    QUEUE = 77
    NONE = 0xFFFF


class ReasonCode(IntEnum):
    """System reason codes (EventReasonCode) the stub itself produces."""

    NONE = 0
    # "Not Ready - Connection Failure" / "Logout - System Failure": a CTI client component failed.
    CONNECTION_FAILURE = 50002
    # Finesse's forced logout after presence Unavailable.
    FINESSE_FORCED_LOGOUT = 255


class Tag(IntEnum):
    CLIENT_ID = 1
    CLIENT_PASSWORD = 2
    CLIENT_SIGNATURE = 3
    AGENT_EXTENSION = 4
    AGENT_ID = 5
    AGENT_INSTRUMENT = 6
    TEXT = 7
    ANI = 8
    UUI = 9
    DNIS = 10
    DIALED_NUMBER = 11
    CED = 12
    CALL_VAR_1 = 13
    CALL_VAR_2 = 14
    CALL_VAR_3 = 15
    CALL_VAR_4 = 16
    CALL_VAR_5 = 17
    CALL_VAR_6 = 18
    CALL_VAR_7 = 19
    CALL_VAR_8 = 20
    CALL_VAR_9 = 21
    CALL_VAR_10 = 22
    CTI_CLIENT_SIGNATURE = 23
    CTI_CLIENT_TIMESTAMP = 24
    CONNECTION_DEVID = 25
    ALERTING_DEVID = 26
    CALLING_DEVID = 27
    CALLED_DEVID = 28
    LAST_REDIRECT_DEVID = 29
    ANSWERING_DEVID = 30
    HOLDING_DEVID = 31
    RETRIEVING_DEVID = 32
    RELEASING_DEVID = 33
    # Consult, transfer and conference (GED-188 tag table; CCX's CTI pages name the same numbers:
    # ConnectedPartyCallID[39], NewConnectionDeviceID[47], ActiveConnectionDeviceID[50], ...).
    FAILING_DEVID = 34
    PRIMARY_DEVID = 35
    SECONDARY_DEVID = 36
    CONTROLLER_DEVID = 37
    ADDED_PARTY_DEVID = 38
    PARTY_CALLID = 39
    PARTY_DEVID_TYPE = 40
    PARTY_DEVID = 41
    TRANSFERRING_DEVID = 42
    TRANSFERRED_DEVID = 43
    QUEUE_DEVID = 45
    CALL_WRAPUP_DATA = 46
    NEW_CONNECTION_DEVID = 47
    AGENT_PASSWORD = 49
    ACTIVE_CONN_DEVID = 50
    HELD_CONN_DEVID = 53
    SKILL_GROUP_NUMBER = 62
    SKILL_GROUP_ID = 63
    SKILL_GROUP_PRIORITY = 64
    SKILL_GROUP_STATE = 65
    OBJECT_NAME = 66
    DTMF_STRING = 67
    POSITION_ID = 68
    SUPERVISOR_ID = 69
    ROUTER_CALL_KEY_DAY = 72
    ROUTER_CALL_KEY_CALLID = 73
    NAMED_VARIABLE = 82
    NAMED_ARRAY = 83
    # SUPERVISE_CALL_REQ's floating part (nshimaza/ucce-ctidriver FloatElem.txt: 85
    # SupervisorInstrument, 90 AgentConnDevID, 91 SupervisorConnDevID, each STRING 64).
    SUPERVISOR_INSTRUMENT = 85
    AGENT_CONNECTION_DEVID = 90
    SUPERVISOR_CONNECTION_DEVID = 91
    CUSTOMER_PHONE_NUMBER = 95
    CUSTOMER_ACCOUNT_NUMBER = 96
    APP_PATH_ID = 97
    ROUTER_CALL_KEY_SEQUENCE_NUM = 110
    TRUNK_NUMBER = 121
    TRUNK_GROUP_NUMBER = 122
    EXT_AGENT_STATE = 123
    DURATION = 150
    AGENT_ID_LONG = 194
    SECONDARY_CONNECTION_CALL_ID = 202
    EVENT_DEVICE_ID = 206
    FLT_PERIPHERAL_ID = 208
    ANI_II = 215
    CALL_REFERENCE_ID = 223
    MULTI_LINE_AGENT_CONTROL = 224
    NUM_PERIPHERALS = 228
    AGENT_TEAM_NAME = 243
    DIRECTION = 244
    INTERNAL_AGENT_STATE = 255
    SSO_ENABLED = 257
    MAX_BEYOND_TASK_LIMIT = 266
    FLT_TERM_DEVICE_NAME = 303
