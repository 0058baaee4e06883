"""The GED-188 wire format, sans-IO: messages in, bytes out, and back.

Every message is an 8-byte header (MessageLength excluding the header, MessageType; big-endian)
and a body: a fixed part whose layout depends on the message type and, for a few messages, on the
protocol version, followed by floating fields ``Tag | FieldLength | Data``. Tags and lengths are one
byte up to protocol version 19 and two bytes from version 20. Layouts are data (``FIXED``), so one
encoder and one decoder serve every message and round-trip property tests cover all of them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from ged188.constants import (
    FIRST_TWO_BYTE_TAG_VERSION,
    HEADER_SIZE,
    MAX_BODY_SIZE,
    MAX_SUPPORTED_VERSION,
    MessageType,
    Status,
    Tag,
)

M = MessageType
_HEADER = struct.Struct(">II")

# Fixed-part field kinds, as struct codes. BOOL is 2 bytes and TIME is a 32-bit epoch.
U8, U16, U32, I32, BOOL, TIME = "B", "H", "I", "i", "H", "I"


@dataclass(frozen=True, slots=True)
class FixedField:
    name: str
    code: str
    since: int = 0  # first protocol version that carries the field


def _f(spec: str) -> tuple[FixedField, ...]:
    """Layout from a compact spec: ``"InvokeID:I Status:I DepartmentID:i@19"``."""
    out = []
    for item in spec.split():
        name, rest = item.split(":")
        code, _, since = rest.partition("@")
        out.append(FixedField(name, code, int(since) if since else 0))
    return tuple(out)


_CALL_HEAD = "MonitorID:I PeripheralID:I PeripheralType:H ConnectionDeviceIDType:H ConnectionCallID:I"
_DELIVERED_TAIL = (
    "LineHandle:H LineType:H ServiceNumber:I ServiceID:I SkillGroupNumber:I SkillGroupID:I "
    "SkillGroupPriority:H"
)
_DEVICE_TYPES = (
    "CallingDeviceType:H CalledDeviceType:H LastRedirectDeviceType:H LocalConnectionState:H EventCause:H"
)

FIXED: dict[int, tuple[FixedField, ...]] = {
    M.FAILURE_CONF: _f("InvokeID:I Status:I"),
    M.FAILURE_EVENT: _f("Status:I"),
    M.OPEN_REQ: _f(
        "InvokeID:I VersionNumber:I IdleTimeout:I PeripheralID:I ServicesRequested:I CallMsgMask:I "
        "AgentStateMask:I ConfigMsgMask:I Reserved1:I Reserved2:I Reserved3:I"
    ),
    M.OPEN_CONF: _f(
        "InvokeID:I ServicesGranted:I MonitorID:I PGStatus:I ICMCentralControllerTime:I "
        "PeripheralOnline:H PeripheralType:H AgentState:H DepartmentID:i@19 SessionType:H@24"
    ),
    M.HEARTBEAT_REQ: _f("InvokeID:I"),
    M.HEARTBEAT_CONF: _f("InvokeID:I"),
    M.CLOSE_REQ: _f("InvokeID:I Status:I"),
    M.CLOSE_CONF: _f("InvokeID:I"),
    M.CALL_DELIVERED_EVENT: _f(
        f"{_CALL_HEAD} {_DELIVERED_TAIL} AlertingDeviceType:H {_DEVICE_TYPES} "
        "NumNamedVariables:H NumNamedArrays:H"
    ),
    M.CALL_ESTABLISHED_EVENT: _f(f"{_CALL_HEAD} {_DELIVERED_TAIL} AnsweringDeviceType:H {_DEVICE_TYPES}"),
    M.CALL_HELD_EVENT: _f(f"{_CALL_HEAD} HoldingDeviceType:H LocalConnectionState:H EventCause:H"),
    M.CALL_RETRIEVED_EVENT: _f(f"{_CALL_HEAD} RetrievingDeviceType:H LocalConnectionState:H EventCause:H"),
    M.CALL_CLEARED_EVENT: _f(f"{_CALL_HEAD} LocalConnectionState:H EventCause:H"),
    # CALL_ORIGINATED_EVENT (15) and CALL_SERVICE_INITIATED_EVENT (20): the field order of
    # nshimaza/ucce-ctidriver src/Network/CceCti/MessageRec.hs (CallOriginatedEventR,
    # CallServiceInitiatedEventR). Floating: ConnectionDeviceID, CallingDeviceID, CalledDeviceID
    # (originated); ConnectionDeviceID, CallingDeviceID (service initiated).
    M.CALL_ORIGINATED_EVENT: _f(
        f"{_CALL_HEAD} {_DELIVERED_TAIL} CallingDeviceType:H CalledDeviceType:H LocalConnectionState:H "
        "EventCause:H"
    ),
    M.CALL_SERVICE_INITIATED_EVENT: _f(
        f"{_CALL_HEAD} {_DELIVERED_TAIL} CallingDeviceType:H LocalConnectionState:H EventCause:H"
    ),
    M.CALL_CONNECTION_CLEARED_EVENT: _f(
        f"{_CALL_HEAD} ReleasingDeviceType:H LocalConnectionState:H EventCause:H"
    ),
    # CALL_FAILED_EVENT (16), CALL_QUEUED_EVENT (21): nshimaza/ucce-ctidriver MessageRec.hs
    # (CallFailedEventR, CallQueuedEventR) and its sample frames. Floating: ConnectionDeviceID,
    # FailingDeviceID (34), CalledDeviceID (failed); ConnectionDeviceID, QueueDeviceID (45),
    # CallingDeviceID, CalledDeviceID, LastRedirectDeviceID, then SkillGroupNumber/ID/Priority per
    # skill group (queued).
    M.CALL_FAILED_EVENT: _f(
        f"{_CALL_HEAD} FailingDeviceType:H CalledDeviceType:H LocalConnectionState:H EventCause:H"
    ),
    M.CALL_QUEUED_EVENT: _f(
        f"{_CALL_HEAD} ServiceNumber:I ServiceID:I QueueDeviceType:H CallingDeviceType:H "
        "CalledDeviceType:H LastRedirectDeviceType:H NumQueued:H NumSkillGroups:H LocalConnectionState:H "
        "EventCause:H"
    ),
    # CALL_DEQUEUED_EVENT (86): flobirn/actidriver DecoderSpec.scala ("decoding CALL_DEQUEUED_EVENT");
    # QueueDeviceType comes before ServiceNumber here, unlike CALL_QUEUED_EVENT. Floating:
    # ConnectionDeviceID, then SkillGroupNumber/ID/Priority per skill group. (Cisco's change log adds
    # DeQueueType in a later protocol version; its place is unsourced, so it is not sent.)
    M.CALL_DEQUEUED_EVENT: _f(
        f"{_CALL_HEAD} QueueDeviceType:H ServiceNumber:I ServiceID:I NumQueued:H NumSkillGroups:H "
        "LocalConnectionState:H EventCause:H"
    ),
    M.BEGIN_CALL_EVENT: _f(
        "MonitorID:I PeripheralID:I PeripheralType:H NumCTIClients:H NumNamedVariables:H NumNamedArrays:H "
        "CallType:H ConnectionDeviceIDType:H ConnectionCallID:I CalledPartyDisposition:H"
    ),
    M.END_CALL_EVENT: _f(_CALL_HEAD),
    M.CALL_DATA_UPDATE_EVENT: _f(
        "MonitorID:I PeripheralID:I PeripheralType:H NumCTIClients:H NumNamedVariables:H NumNamedArrays:H "
        "CallType:H ConnectionDeviceIDType:H ConnectionCallID:I NewConnectionDeviceIDType:H "
        "NewConnectionCallID:I CalledPartyDisposition:H CampaignID:I QueryRuleID:I"
    ),
    M.AGENT_STATE_EVENT: _f(
        "MonitorID:I PeripheralID:I SessionID:I PeripheralType:H SkillGroupState:H StateDuration:I "
        "SkillGroupNumber:I SkillGroupID:I SkillGroupPriority:H AgentState:H EventReasonCode:H MRDID:i "
        "NumTasks:I AgentMode:H MaxTaskLimit:I ICMAgentID:i AgentAvailabilityStatus:I NumFltSkillGroups:H "
        "DepartmentID:i@19"
    ),
    M.SYSTEM_EVENT: _f(
        "PGStatus:I ICMCentralControllerTime:I SystemEventID:I SystemEventArg1:I SystemEventArg2:I "
        "SystemEventArg3:I EventDeviceType:H"
    ),
    M.CLIENT_EVENT_REPORT_REQ: _f("InvokeID:I State:H"),
    M.CLIENT_EVENT_REPORT_CONF: _f("InvokeID:I"),
    M.CONTROL_FAILURE_CONF: _f("InvokeID:I FailureCode:H PeripheralErrorCode:I"),
    M.QUERY_AGENT_STATE_REQ: _f("InvokeID:I PeripheralID:I MRDID:i ICMAgentID:i"),
    M.QUERY_AGENT_STATE_CONF: _f(
        "InvokeID:I AgentState:H NumSkillGroups:H MRDID:i NumTasks:I AgentMode:H MaxTaskLimit:I "
        "ICMAgentID:i AgentAvailabilityStatus:I DepartmentID:i@19"
    ),
    M.SET_AGENT_STATE_REQ: _f(
        "InvokeID:I PeripheralID:I AgentState:H AgentWorkMode:H NumSkillGroups:H EventReasonCode:H "
        "ForcedFlag:B AgentServiceReq:I"
    ),
    M.SET_AGENT_STATE_CONF: _f("InvokeID:I"),
    # Call control: the layout of one open-source implementation (KryvkoSergii/cti-messages); the
    # reference lists these messages by number only. Floating: ConnectionDeviceID, AgentInstrument.
    M.ANSWER_CALL_REQ: _f("InvokeID:I PeripheralID:I ConnectionCallID:I ConnectionDeviceIDType:H"),
    M.ANSWER_CALL_CONF: _f("InvokeID:I"),
    M.CLEAR_CALL_REQ: _f("InvokeID:I PeripheralID:I ConnectionCallID:I ConnectionDeviceIDType:H"),
    M.CLEAR_CALL_CONF: _f("InvokeID:I"),
    M.CLEAR_CONNECTION_REQ: _f("InvokeID:I PeripheralID:I ConnectionCallID:I ConnectionDeviceIDType:H"),
    M.CLEAR_CONNECTION_CONF: _f("InvokeID:I"),
    # HOLD_CALL_REQ / RETRIEVE_CALL_REQ (54, 62): Cisco's CTI protocol pages for Unified CCX
    # (developer.cisco.com/docs/contact-center-express hold_call_req, retrieve_call_req), whose
    # "reserved, set to 1" UINT is UCCE's PeripheralID. HOLD's trailing BOOL is reserved there.
    # Floating: ConnectionDeviceID (the held connection), AgentInstrument.
    M.HOLD_CALL_REQ: _f("InvokeID:I PeripheralID:I ConnectionCallID:I ConnectionDeviceIDType:H Reserved:H"),
    M.HOLD_CALL_CONF: _f("InvokeID:I"),
    M.RETRIEVE_CALL_REQ: _f("InvokeID:I PeripheralID:I ConnectionCallID:I ConnectionDeviceIDType:H"),
    M.RETRIEVE_CALL_CONF: _f("InvokeID:I"),
    # MAKE_CALL_REQ (56): CTI Server Message Reference Guide (Protocol Version 15/17), Table 5-110
    # "MAKE_CALL_REQ Message Format"; the UINT after NumNamedArrays exists from version 14 (CCX
    # make_call_req: "reserved (Version 14 and later) ... NULL_CSQ"). Floating: AgentInstrument,
    # DialedNumber, CallVariable1..10, CallWrapupData, NamedVariable/NamedArray.
    M.MAKE_CALL_REQ: _f(
        "InvokeID:I PeripheralID:I CallPlacementType:H CallMannerType:H AlertRings:H CallOption:H "
        "FacilityType:H AnsweringMachine:H Priority:H PostRoute:H NumNamedVariables:H "
        "NumNamedArrays:H Reserved:I@14"
    ),
    # MAKE_CALL_CONF (57): CCX make_call_conf, whose reserved 0xffff and 3 are UCCE's LineHandle
    # and LineType. Floating: NewConnectionDeviceID (the originating connection).
    M.MAKE_CALL_CONF: _f(
        "InvokeID:I NewConnectionCallID:I NewConnectionDeviceIDType:H LineHandle:H LineType:H"
    ),
    # Call data: the layout of nshimaza/ucce-ctidriver (MessageRec.hs, SetCallDataReqR). Floating:
    # ConnectionDeviceID, CallVariable1..10, CallWrapupData, NamedVariable (ECC), ...
    M.SET_CALL_DATA_REQ: _f(
        "InvokeID:I PeripheralID:I ConnectionDeviceIDType:H ConnectionCallID:I NumNamedVariables:H "
        "NumNamedArrays:H CallType:H CalledPartyDisposition:H CampaignID:I QueryRuleID:I"
    ),
    M.SET_CALL_DATA_CONF: _f("InvokeID:I"),
    # DTMF: Cisco's CTI protocol reference for Unified CCX (developer.cisco.com/docs/contact-center-
    # express, SEND_DTMF_SIGNAL_REQ): InvokeID, a reserved UINT (PeripheralID here), the call id,
    # ConnectionDeviceType, ToneDuration (USHORT), PauseDuration (UINT). Floating: ConnectionDeviceID,
    # DTMFString (67, STRING 32), AgentInstrument.
    M.SEND_DTMF_SIGNAL_REQ: _f(
        "InvokeID:I PeripheralID:I ConnectionCallID:I ConnectionDeviceIDType:H ToneDuration:H PauseDuration:I"
    ),
    M.SEND_DTMF_SIGNAL_CONF: _f("InvokeID:I"),
    # -- supervisor actions ------------------------------------------------------------------------
    # SUPERVISE_CALL_REQ (124): nshimaza's Scala ctidriver, MessageType.scala fixed-part table
    # ("124: SUPERVISE_CALL_REQ List(InvokeID, PeripheralID, AgentConnectionCallID,
    # SupervisorConnectionCallID, AgentConnectionDeviceIDType, SupervisorConnectionDeviceIDType,
    # SupervisoryActionTag)"); the same order in Cisco's Unified CCX page supervise_call_req, whose
    # "reserved, set to 1" UINT is UCCE's PeripheralID and whose SupervisorCallID "must be set to
    # 0xffffffff" when the supervisor has no call. Floating: AgentConnectionDeviceID (90),
    # SupervisorConnectionDeviceID (91), AgentInstrument (6), SupervisorInstrument (85).
    M.SUPERVISE_CALL_REQ: _f(
        "InvokeID:I PeripheralID:I AgentConnectionCallID:I SupervisorConnectionCallID:I "
        "AgentConnectionDeviceIDType:H SupervisorConnectionDeviceIDType:H SupervisoryAction:H"
    ),
    # SUPERVISE_CALL_CONF (125): both sources: InvokeID, the call id, ConnectionDeviceIDType;
    # floating ConnectionDeviceID ("the connection between the call and the agent device that is
    # being supervised").
    M.SUPERVISE_CALL_CONF: _f("InvokeID:I ConnectionCallID:I ConnectionDeviceIDType:H"),
    # -- Consult, transfer, conference ---------------------------------------------------------------
    # Requests and confirmations: Cisco's CTI protocol pages for Unified CCX (developer.cisco.com/
    # docs/contact-center-express consult_call_req, transfer_call_req, conference_call_req and their
    # _conf), whose "reserved, set to 1" UINT is UCCE's PeripheralID and whose reserved 0xffff / 3
    # are LineHandle / LineType, as for MAKE_CALL. The reserved USHORTs and BOOLs carry UCCE's
    # MAKE_CALL_REQ names (CallPlacementType ... PostRoute) where the counts agree; the one CCX lists
    # beyond them is ``Reserved``. The pages name no version-dependent field in these requests.
    # Floating: ActiveConnectionDeviceID (50), DialedNumber, CallVariable1..10, AgentInstrument
    # (consult); ActiveConnectionDeviceID (50), HeldConnectionDeviceID (53), AgentInstrument
    # (transfer, conference), with DialedNumber for a single-step transfer (no active call:
    # ActiveConnectionCallID NULL_CALLID).
    M.CONSULTATION_CALL_REQ: _f(
        "InvokeID:I PeripheralID:I ActiveConnectionCallID:I ActiveConnectionDeviceIDType:H "
        "CallPlacementType:H CallMannerType:H ConsultType:H AlertRings:H CallOption:H FacilityType:H "
        "AnsweringMachine:H Reserved:H Priority:H PostRoute:H NumNamedVariables:H NumNamedArrays:H"
    ),
    M.CONSULTATION_CALL_CONF: _f(
        "InvokeID:I NewConnectionCallID:I NewConnectionDeviceIDType:H LineHandle:H LineType:H"
    ),
    M.TRANSFER_CALL_REQ: _f(
        "InvokeID:I PeripheralID:I ActiveConnectionCallID:I HeldConnectionCallID:I "
        "ActiveConnectionDeviceIDType:H HeldConnectionDeviceIDType:H CallPlacementType:H CallMannerType:H "
        "AlertRings:H CallOption:H FacilityType:H AnsweringMachine:H Reserved:H Priority:H PostRoute:H "
        "NumNamedVariables:H NumNamedArrays:H"
    ),
    M.TRANSFER_CALL_CONF: _f(
        "InvokeID:I NewConnectionCallID:I NewConnectionDeviceIDType:H NumParties:H LineHandle:H LineType:H"
    ),
    M.CONFERENCE_CALL_REQ: _f(
        "InvokeID:I PeripheralID:I HeldConnectionCallID:I ActiveConnectionCallID:I "
        "HeldConnectionDeviceIDType:H ActiveConnectionDeviceIDType:H CallPlacementType:H CallMannerType:H "
        "AlertRings:H CallOption:H FacilityType:H AnsweringMachine:H Reserved:H Priority:H PostRoute:H "
        "NumNamedVariables:H NumNamedArrays:H"
    ),
    M.CONFERENCE_CALL_CONF: _f(
        "InvokeID:I NewConnectionCallID:I NewConnectionDeviceIDType:H NumParties:H LineHandle:H LineType:H"
    ),
    # CALL_CONFERENCED_EVENT (17) and CALL_TRANSFERRED_EVENT (18): the field order of
    # nshimaza/ucce-ctidriver MessageRec.hs (CallConferencedEventR, CallTransferredEventR); CCX's
    # call_transferred_event page marks lineType "(Version 14 and later)". Floating: PrimaryDeviceID,
    # SecondaryDeviceID, ControllerDeviceID / TransferringDeviceID, AddedPartyDeviceID /
    # TransferredDeviceID, then NumParties triples ConnectedPartyCallID (39), ConnectedPartyDeviceType
    # (40), ConnectedPartyDeviceID (41).
    M.CALL_CONFERENCED_EVENT: _f(
        "MonitorID:I PeripheralID:I PeripheralType:H PrimaryDeviceIDType:H PrimaryCallID:I LineHandle:H "
        "LineType:H@14 SkillGroupNumber:I SkillGroupID:I SkillGroupPriority:H NumParties:H "
        "SecondaryDeviceIDType:H SecondaryCallID:I ControllerDeviceType:H AddedPartyDeviceType:H "
        "LocalConnectionState:H EventCause:H"
    ),
    M.CALL_TRANSFERRED_EVENT: _f(
        "MonitorID:I PeripheralID:I PeripheralType:H PrimaryDeviceIDType:H PrimaryCallID:I LineHandle:H "
        "LineType:H@14 SkillGroupNumber:I SkillGroupID:I SkillGroupPriority:H NumParties:H "
        "SecondaryDeviceIDType:H SecondaryCallID:I TransferringDeviceType:H TransferredDeviceType:H "
        "LocalConnectionState:H EventCause:H"
    ),
    # Emulator-private (constants.py): Finesse's non-voice MRD requests. Floating: AgentID.
    M.EMU_SET_MEDIA_STATE_REQ: _f(
        "InvokeID:I PeripheralID:I MRDID:i Action:H AgentState:H EventReasonCode:H AgentMode:H MaxTaskLimit:I"
    ),
    M.EMU_SET_MEDIA_STATE_CONF: _f("InvokeID:I"),
    M.STANDBY_ACTIVE_EVENT_MSG: (),
    M.ACTIVE_MAINTENANCE_REQ_MSG: _f("InvokeID:I"),
    M.ACTIVE_MAINTENANCE_RESP_MSG: _f("InvokeID:I MaintenanceModeAccepted:H"),
    M.ACTIVE_MAINTENANCE_EVENT_MSG: _f("MaintenanceModeStatus:H"),
    M.STOPPING_REQUESTS_TO_THIS_SIDE_IND: (),
}

# Floating-field data types by tag, with the documented maximum data length (NUL included).
FloatKind = Literal["str", "bytes", "u16", "u32", "i32"]
_INT_SIZE = {"u16": 2, "u32": 4, "i32": 4}
_INT_CODE = {"u16": ">H", "u32": ">I", "i32": ">i"}

FLOAT_TYPES: dict[int, tuple[FloatKind, int]] = {
    Tag.CLIENT_ID: ("str", 64),
    Tag.CLIENT_PASSWORD: ("bytes", 64),
    Tag.CLIENT_SIGNATURE: ("str", 64),
    Tag.AGENT_EXTENSION: ("str", 16),
    Tag.AGENT_ID: ("str", 12),
    Tag.AGENT_INSTRUMENT: ("str", 64),
    Tag.TEXT: ("str", 255),
    Tag.ANI: ("str", 40),
    Tag.UUI: ("bytes", 131),
    Tag.DNIS: ("str", 32),
    Tag.DIALED_NUMBER: ("str", 40),
    Tag.CED: ("str", 40),
    **{Tag.CALL_VAR_1 + i: ("str", 41) for i in range(10)},
    Tag.CTI_CLIENT_SIGNATURE: ("str", 64),
    Tag.CTI_CLIENT_TIMESTAMP: ("u32", 4),
    **{t: ("str", 64) for t in range(Tag.CONNECTION_DEVID, Tag.ADDED_PARTY_DEVID + 1)},
    Tag.PARTY_CALLID: ("u32", 4),
    Tag.PARTY_DEVID_TYPE: ("u16", 2),
    Tag.PARTY_DEVID: ("str", 64),
    Tag.TRANSFERRING_DEVID: ("str", 64),
    Tag.TRANSFERRED_DEVID: ("str", 64),
    Tag.ACTIVE_CONN_DEVID: ("str", 64),
    Tag.HELD_CONN_DEVID: ("str", 64),
    Tag.QUEUE_DEVID: ("str", 64),
    Tag.CALL_WRAPUP_DATA: ("str", 40),
    Tag.NEW_CONNECTION_DEVID: ("str", 64),
    Tag.AGENT_PASSWORD: ("bytes", 64),
    Tag.SKILL_GROUP_NUMBER: ("i32", 4),
    Tag.SKILL_GROUP_ID: ("u32", 4),
    Tag.SKILL_GROUP_PRIORITY: ("u16", 2),
    Tag.SKILL_GROUP_STATE: ("u16", 2),
    Tag.OBJECT_NAME: ("str", 128),
    Tag.DTMF_STRING: ("str", 32),
    Tag.POSITION_ID: ("str", 12),
    Tag.SUPERVISOR_ID: ("str", 12),
    Tag.ROUTER_CALL_KEY_DAY: ("u32", 4),
    Tag.ROUTER_CALL_KEY_CALLID: ("u32", 4),
    Tag.NAMED_VARIABLE: ("bytes", 251),
    Tag.SUPERVISOR_INSTRUMENT: ("str", 64),
    Tag.AGENT_CONNECTION_DEVID: ("str", 64),
    Tag.SUPERVISOR_CONNECTION_DEVID: ("str", 64),
    Tag.NAMED_ARRAY: ("bytes", 252),
    Tag.CUSTOMER_PHONE_NUMBER: ("str", 20),
    Tag.CUSTOMER_ACCOUNT_NUMBER: ("str", 32),
    Tag.APP_PATH_ID: ("i32", 4),
    Tag.ROUTER_CALL_KEY_SEQUENCE_NUM: ("u32", 4),
    Tag.TRUNK_NUMBER: ("u32", 4),
    Tag.TRUNK_GROUP_NUMBER: ("u32", 4),
    Tag.EXT_AGENT_STATE: ("u16", 2),
    Tag.DURATION: ("u32", 4),
    Tag.AGENT_ID_LONG: ("str", 64),
    Tag.SECONDARY_CONNECTION_CALL_ID: ("u32", 4),
    Tag.EVENT_DEVICE_ID: ("str", 64),
    Tag.FLT_PERIPHERAL_ID: ("u32", 4),
    Tag.ANI_II: ("str", 3),
    Tag.CALL_REFERENCE_ID: ("bytes", 32),
    Tag.MULTI_LINE_AGENT_CONTROL: ("u16", 2),
    Tag.NUM_PERIPHERALS: ("u16", 2),
    Tag.AGENT_TEAM_NAME: ("str", 64),
    Tag.DIRECTION: ("u32", 4),
    Tag.INTERNAL_AGENT_STATE: ("u16", 2),
    Tag.SSO_ENABLED: ("u16", 2),
    Tag.MAX_BEYOND_TASK_LIMIT: ("u32", 4),
    Tag.FLT_TERM_DEVICE_NAME: ("str", 64),
}

FloatValue = str | bytes | int


class DecodeError(Exception):
    """A body that does not decode. ``status`` is the FAILURE_CONF code a real server answers with."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


class FramingError(DecodeError):
    """The byte stream cannot be framed any further (the session must be closed)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One GED-188 message: type, fixed-part fields by name, floating fields in wire order.

    Types without a known layout keep their body in ``raw`` (``fields`` is then empty).
    """

    type: int
    fields: Mapping[str, int] = field(default_factory=dict)
    floating: tuple[tuple[int, FloatValue], ...] = ()
    raw: bytes = b""

    @property
    def name(self) -> str:
        return MessageType.name_of(self.type)

    def __getitem__(self, name: str) -> int:
        return self.fields[name]

    def get(self, tag: int) -> FloatValue | None:
        return next((v for t, v in self.floating if t == tag), None)

    def get_all(self, tag: int) -> list[FloatValue]:
        return [v for t, v in self.floating if t == tag]

    def get_str(self, tag: int) -> str | None:
        value = self.get(tag)
        return value if isinstance(value, str) else None

    def get_int(self, tag: int) -> int | None:
        value = self.get(tag)
        return value if isinstance(value, int) else None

    @property
    def invoke_id(self) -> int | None:
        """InvokeID of a request or confirmation; for unknown types the first four body bytes."""
        if "InvokeID" in self.fields:
            return self.fields["InvokeID"]
        if self.type not in FIXED and len(self.raw) >= 4:
            return int.from_bytes(self.raw[:4], "big")
        return None

    def for_version(self, version: int) -> Message:
        """This message as it reads after a trip through ``version`` (later fields dropped)."""
        layout = fixed_layout(self.type, version)
        return Message(
            self.type, {f.name: self.fields.get(f.name, 0) for f in layout}, self.floating, self.raw
        )


def make(mtype: int, floating: Iterable[tuple[int, FloatValue]] = (), **fields: int) -> Message:
    """A message with every fixed field of the newest layout; missing fields are 0."""
    layout = FIXED.get(mtype)
    if layout is None:
        raise ValueError(f"no layout for message type {mtype}")
    names = {f.name for f in layout}
    unknown = set(fields) - names
    if unknown:
        raise TypeError(f"{MessageType.name_of(mtype)} has no field(s) {sorted(unknown)}")
    return Message(int(mtype), {f.name: int(fields.get(f.name, 0)) for f in layout}, tuple(floating))


@lru_cache(maxsize=512)
def fixed_layout(mtype: int, version: int) -> tuple[FixedField, ...]:
    return tuple(f for f in FIXED.get(mtype, ()) if f.since <= version)


@lru_cache(maxsize=512)
def _fixed_struct(mtype: int, version: int) -> struct.Struct:
    return struct.Struct(">" + "".join(f.code for f in fixed_layout(mtype, version)))


def tag_width(version: int) -> int:
    return 2 if version >= FIRST_TWO_BYTE_TAG_VERSION else 1


def _encode_float_data(tag: int, value: FloatValue) -> bytes:
    kind, max_len = FLOAT_TYPES.get(tag, ("bytes", 0))
    if isinstance(value, bool):
        raise ValueError(f"tag {tag}: bool is not a wire type")
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"tag {tag} takes a string")
        # Strings are NUL-terminated and the NUL counts in the length (clients crash without it).
        data = value.encode("latin-1") + b"\0"
    elif kind == "bytes":
        if not isinstance(value, bytes):
            raise ValueError(f"tag {tag} takes bytes")
        data = value
    else:
        if not isinstance(value, int):
            raise ValueError(f"tag {tag} takes an integer")
        try:
            data = struct.pack(_INT_CODE[kind], value)
        except struct.error as exc:
            raise ValueError(f"tag {tag}: {exc}") from exc
    if max_len and len(data) > max_len:
        raise ValueError(f"tag {tag}: {len(data)} bytes exceeds the maximum {max_len}")
    return data


def encode_body(msg: Message, version: int = MAX_SUPPORTED_VERSION) -> bytes:
    if msg.type not in FIXED:
        return msg.raw
    layout = fixed_layout(msg.type, version)
    try:
        body = bytearray(_fixed_struct(msg.type, version).pack(*(msg.fields.get(f.name, 0) for f in layout)))
    except struct.error as exc:
        raise ValueError(f"{msg.name}: {exc}") from exc
    # Mirror decode_body: OPEN_REQ's floating part follows the VersionNumber it carries.
    float_version = (msg.fields.get("VersionNumber", 0) if msg.type == MessageType.OPEN_REQ else 0) or version
    wide = tag_width(float_version) == 2
    for tag, value in msg.floating:
        data = _encode_float_data(tag, value)
        if wide:
            if tag > 0xFFFF or len(data) > 0xFFFF:
                raise ValueError(f"tag {tag} does not fit")
            body += struct.pack(">HH", tag, len(data))
        else:
            if tag > 0xFF or len(data) > 0xFF:
                raise ValueError(
                    f"tag {tag} ({len(data)} bytes) does not fit a 1-byte tag (version {version})"
                )
            body += struct.pack(">BB", tag, len(data))
        body += data
    return bytes(body)


def encode(msg: Message, version: int = MAX_SUPPORTED_VERSION) -> bytes:
    """The whole frame, header included. Raises ValueError for a message that cannot be sent."""
    body = encode_body(msg, version)
    if len(body) > MAX_BODY_SIZE:
        raise ValueError(f"{msg.name}: body of {len(body)} bytes exceeds {MAX_BODY_SIZE}")
    return _HEADER.pack(len(body), msg.type) + body


def _decode_float_data(tag: int, data: bytes) -> FloatValue:
    kind, max_len = FLOAT_TYPES.get(tag, ("bytes", 0))
    if max_len and len(data) > max_len:
        raise DecodeError(Status.E_CTI_INVALID_FIELD_LENGTH, f"tag {tag}: {len(data)} > {max_len} bytes")
    if kind == "str":
        # Lenient like real servers: a string without its NUL is taken whole.
        return data.split(b"\0", 1)[0].decode("latin-1")
    if kind == "bytes":
        return data
    if len(data) != _INT_SIZE[kind]:
        raise DecodeError(Status.E_CTI_INVALID_FIELD_LENGTH, f"tag {tag}: {len(data)} bytes for {kind}")
    value: int = struct.unpack(_INT_CODE[kind], data)[0]
    return value


def decode_floating(data: bytes, version: int) -> tuple[tuple[int, FloatValue], ...]:
    out: list[tuple[int, FloatValue]] = []
    width = tag_width(version)
    head = struct.Struct(">HH" if width == 2 else ">BB")
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < head.size:
            raise DecodeError(Status.E_CTI_BAD_MESSAGE_FORMAT, "truncated floating field header")
        tag, length = head.unpack_from(data, pos)
        pos += head.size
        if length > end - pos:
            raise DecodeError(Status.E_CTI_BAD_MESSAGE_FORMAT, f"floating field {tag} overruns the message")
        out.append((tag, _decode_float_data(tag, data[pos : pos + length])))
        pos += length
    return tuple(out)


def open_req_version(body: bytes) -> int | None:
    """VersionNumber of an OPEN_REQ body: it decides the width of OPEN_REQ's own floating tags."""
    return int.from_bytes(body[4:8], "big") if len(body) >= 8 else None


def decode_body(mtype: int, body: bytes, version: int = MAX_SUPPORTED_VERSION) -> Message:
    """Decode a body. OPEN_REQ is decoded with the version it carries, whatever ``version`` says."""
    if mtype not in FIXED:
        return Message(mtype, raw=bytes(body))
    if mtype == MessageType.OPEN_REQ:
        version = open_req_version(body) or version
    fixed = _fixed_struct(mtype, version)
    if len(body) < fixed.size:
        raise DecodeError(
            Status.E_CTI_INVALID_MESSAGE_LENGTH,
            f"{MessageType.name_of(mtype)}: {len(body)} bytes, fixed part needs {fixed.size}",
        )
    values = fixed.unpack_from(body)
    names = (f.name for f in fixed_layout(mtype, version))
    return Message(mtype, dict(zip(names, values, strict=True)), decode_floating(body[fixed.size :], version))


def decode(frame: bytes, version: int = MAX_SUPPORTED_VERSION) -> Message:
    """Decode one whole frame (header included)."""
    if len(frame) < HEADER_SIZE:
        raise FramingError(Status.E_CTI_INVALID_MESSAGE_LENGTH, "shorter than a header")
    length, mtype = _HEADER.unpack_from(frame)
    if len(frame) - HEADER_SIZE != length:
        raise FramingError(Status.E_CTI_INVALID_MESSAGE_LENGTH, "MessageLength does not match the frame")
    return decode_body(mtype, frame[HEADER_SIZE:], version)


class FrameDecoder:
    """Splits a TCP byte stream into ``(message_type, body)`` frames.

    A MessageLength above the protocol maximum cannot be resynchronised: ``next_frame`` raises
    :class:`FramingError` and the session must close.
    """

    def __init__(self, max_body: int = MAX_BODY_SIZE) -> None:
        self._buf = bytearray()
        self._max_body = max_body

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_frame(self) -> tuple[int, bytes] | None:
        if len(self._buf) < HEADER_SIZE:
            return None
        length, mtype = _HEADER.unpack_from(self._buf)
        if length > self._max_body:
            raise FramingError(
                Status.E_CTI_INVALID_MESSAGE_LENGTH,
                f"MessageLength {length} exceeds the maximum body of {self._max_body} bytes",
            )
        end = HEADER_SIZE + length
        if len(self._buf) < end:
            return None
        body = bytes(self._buf[HEADER_SIZE:end])
        del self._buf[:end]
        return mtype, body


def named_variable(name: str, value: str) -> bytes:
    """A NamedVariable floating field (an ECC variable): the name and the value, each NUL-ended."""
    return name.encode("latin-1", "replace") + b"\0" + value.encode("latin-1", "replace") + b"\0"


def parse_named_variable(data: bytes) -> tuple[str, str] | None:
    """(name, value) of a NamedVariable, or None when it is not two NUL-ended strings."""
    parts = data.split(b"\0")
    if len(parts) < 3 or not parts[0]:
        return None
    return parts[0].decode("latin-1"), parts[1].decode("latin-1")
