"""Golden byte vectors and fixed-part layouts of the GED-188 codec.

Expected bytes come from Cisco's CTI Server Message Reference Guide (message header, OPEN_REQ/CONF,
heartbeats, agent state messages and floating fields), not from the codec itself.
"""

from __future__ import annotations

import pytest

from ged188 import (
    FIXED,
    HEADER_SIZE,
    MAX_SUPPORTED_VERSION,
    MIN_SUPPORTED_VERSION,
    NULL_ID,
    DecodeError,
    FloatValue,
    Message,
    MessageType,
    Status,
    Tag,
    decode,
    decode_body,
    encode,
    encode_body,
    fixed_layout,
    make,
    tag_width,
)

M = MessageType
ALL_VERSIONS = range(MIN_SUPPORTED_VERSION, MAX_SUPPORTED_VERSION + 1)


def hx(text: str) -> bytes:
    """Bytes from the reference's hex dumps (spaces, newlines and ``|`` separators ignored)."""
    return bytes.fromhex(text.replace("|", " "))


# --- Section 1.5 worked examples (v24, 2-byte tags) and section 1.1 ---------------------------------

OPEN_REQ_MSG = make(
    M.OPEN_REQ,
    [(Tag.CLIENT_ID, "Finesse"), (Tag.CLIENT_PASSWORD, b"")],
    InvokeID=1,
    VersionNumber=24,
    IdleTimeout=20,
    PeripheralID=NULL_ID,
    ServicesRequested=0x02000014,
    CallMsgMask=0xFFFFFFFF,
    AgentStateMask=0x3FFF,
)
OPEN_REQ_BYTES = hx(
    """
    00 00 00 3c 00 00 00 03 | 00 00 00 01 00 00 00 18 00 00 00 14 ff ff ff ff 02 00 00 14
    ff ff ff ff 00 00 3f ff 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 |
    00 01 00 08 46 69 6e 65 73 73 65 00 | 00 02 00 00
    """
)

OPEN_CONF_MSG = make(
    M.OPEN_CONF,
    [(Tag.NUM_PERIPHERALS, 1), (Tag.FLT_PERIPHERAL_ID, 5000), (Tag.MULTI_LINE_AGENT_CONTROL, 0)],
    InvokeID=1,
    ServicesGranted=0x02000014,
    MonitorID=0,
    PGStatus=0,
    ICMCentralControllerTime=0x65000000,
    PeripheralOnline=1,
    PeripheralType=17,
    AgentState=1,
    DepartmentID=0,
    SessionType=1,
)
OPEN_CONF_BYTES = hx(
    """
    00 00 00 34 00 00 00 04 | 00 00 00 01 02 00 00 14 00 00 00 00 00 00 00 00 65 00 00 00
    00 01 00 11 00 01 00 00 00 00 00 01 | 00 e4 00 02 00 01 00 d0 00 04 00 00 13 88 00 e0 00 02 00 00
    """
)

SYSTEM_EVENT_MSG = make(
    M.SYSTEM_EVENT,
    PGStatus=0,
    ICMCentralControllerTime=0x65000000,
    SystemEventID=3,
    SystemEventArg1=5000,
    EventDeviceType=0xFFFF,
)
SYSTEM_EVENT_BYTES = hx(
    "00 00 00 1a 00 00 00 1f | 00 00 00 00 65 00 00 00 00 00 00 03 00 00 13 88 00 00 00 00 00 00 00 00 ff ff"
)

FAILURE_CONF_MSG = make(M.FAILURE_CONF, InvokeID=1, Status=Status.E_CTI_CTI_SERVER_OFFLINE)
FAILURE_CONF_BYTES = hx("00 00 00 08 00 00 00 01 | 00 00 00 01 00 00 00 0f")

HEARTBEAT_REQ_MSG = make(M.HEARTBEAT_REQ, InvokeID=7)
HEARTBEAT_REQ_BYTES = hx("00 00 00 04 | 00 00 00 05 | 00 00 00 07")

GOLDEN_V24 = [
    pytest.param(OPEN_REQ_MSG, OPEN_REQ_BYTES, id="OPEN_REQ"),
    pytest.param(OPEN_CONF_MSG, OPEN_CONF_BYTES, id="OPEN_CONF"),
    pytest.param(SYSTEM_EVENT_MSG, SYSTEM_EVENT_BYTES, id="SYSTEM_EVENT"),
    pytest.param(FAILURE_CONF_MSG, FAILURE_CONF_BYTES, id="FAILURE_CONF"),
    pytest.param(HEARTBEAT_REQ_MSG, HEARTBEAT_REQ_BYTES, id="HEARTBEAT_REQ"),
]


@pytest.mark.parametrize(("msg", "wire"), GOLDEN_V24)
def test_golden_encode(msg: Message, wire: bytes) -> None:
    assert encode(msg, 24) == wire


@pytest.mark.parametrize(("msg", "wire"), GOLDEN_V24)
def test_golden_decode(msg: Message, wire: bytes) -> None:
    decoded = decode(wire, 24)
    assert decoded == msg
    assert decoded.type == msg.type
    assert dict(decoded.fields) == dict(msg.fields)
    assert decoded.floating == msg.floating


@pytest.mark.parametrize(("msg", "wire"), GOLDEN_V24)
def test_golden_body_functions_match_frame(msg: Message, wire: bytes) -> None:
    assert encode_body(msg, 24) == wire[HEADER_SIZE:]
    assert decode_body(msg.type, wire[HEADER_SIZE:], 24) == msg
    assert int.from_bytes(wire[:4], "big") == len(wire) - HEADER_SIZE


def test_golden_open_req_fields() -> None:
    msg = decode(OPEN_REQ_BYTES, 24)
    assert msg.name == "OPEN_REQ"
    assert msg.invoke_id == 1
    assert msg["VersionNumber"] == 24
    assert msg["PeripheralID"] == 0xFFFFFFFF
    assert msg["ServicesRequested"] == 0x02000014
    assert msg.get_str(Tag.CLIENT_ID) == "Finesse"
    assert msg.get(Tag.CLIENT_PASSWORD) == b""
    assert msg.get(Tag.AGENT_ID) is None


def test_golden_open_conf_fields() -> None:
    msg = decode(OPEN_CONF_BYTES, 24)
    assert msg["SessionType"] == 1
    assert msg["DepartmentID"] == 0
    assert msg["PeripheralType"] == 17
    assert msg.get_int(Tag.NUM_PERIPHERALS) == 1
    assert msg.get_int(Tag.FLT_PERIPHERAL_ID) == 5000
    assert msg.get_int(Tag.MULTI_LINE_AGENT_CONTROL) == 0
    assert msg.get_str(Tag.FLT_PERIPHERAL_ID) is None


def test_golden_failure_conf_status() -> None:
    msg = decode(FAILURE_CONF_BYTES, 24)
    assert msg["Status"] == Status.E_CTI_CTI_SERVER_OFFLINE
    assert msg["Status"] == 15
    assert msg.invoke_id == 1


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_heartbeat_req_is_version_independent(version: int) -> None:
    assert encode(HEARTBEAT_REQ_MSG, version) == HEARTBEAT_REQ_BYTES
    assert decode(HEARTBEAT_REQ_BYTES, version) == HEARTBEAT_REQ_MSG


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_system_event_and_failure_conf_are_version_independent(version: int) -> None:
    assert encode(SYSTEM_EVENT_MSG, version) == SYSTEM_EVENT_BYTES
    assert encode(FAILURE_CONF_MSG, version) == FAILURE_CONF_BYTES


# --- Fixed-part sizes -----------------------------------------------------------------------------


def fixed_size(mtype: int, version: int) -> int:
    """Size of the fixed part: the body of a message without floating fields."""
    return len(encode_body(make(mtype), version))


def _open_conf_size(version: int) -> int:
    if version >= 24:
        return 32
    return 30 if version >= 19 else 26


FIXED_SIZES = [
    *[(M.OPEN_CONF, v, _open_conf_size(v)) for v in ALL_VERSIONS],
    *[(M.AGENT_STATE_EVENT, v, 62 if v >= 19 else 58) for v in ALL_VERSIONS],
    *[(M.QUERY_AGENT_STATE_CONF, v, 34 if v >= 19 else 30) for v in ALL_VERSIONS],
    # Table 5-110: 28 bytes of fixed part, 32 with the version-14 UINT.
    *[(M.MAKE_CALL_REQ, v, 32 if v >= 14 else 28) for v in ALL_VERSIONS],
    *[
        (mtype, v, size)
        for v in ALL_VERSIONS
        for mtype, size in [
            (M.SET_AGENT_STATE_REQ, 21),
            (M.BEGIN_CALL_EVENT, 26),
            (M.END_CALL_EVENT, 16),
            (M.CALL_DATA_UPDATE_EVENT, 40),
            (M.CALL_DELIVERED_EVENT, 54),
            (M.CALL_ESTABLISHED_EVENT, 50),
            (M.CALL_HELD_EVENT, 22),
            (M.CALL_RETRIEVED_EVENT, 22),
            (M.CALL_CLEARED_EVENT, 20),
            (M.CALL_CONNECTION_CLEARED_EVENT, 22),
            (M.CALL_ORIGINATED_EVENT, 46),
            (M.CALL_SERVICE_INITIATED_EVENT, 44),
            (M.HOLD_CALL_REQ, 16),
            (M.HOLD_CALL_CONF, 4),
            (M.RETRIEVE_CALL_REQ, 14),
            (M.RETRIEVE_CALL_CONF, 4),
            (M.MAKE_CALL_CONF, 14),
            (M.SYSTEM_EVENT, 26),
            (M.OPEN_REQ, 44),
            (M.FAILURE_CONF, 8),
            (M.FAILURE_EVENT, 4),
            (M.HEARTBEAT_REQ, 4),
            (M.HEARTBEAT_CONF, 4),
            (M.CLOSE_REQ, 8),
            (M.CLOSE_CONF, 4),
            (M.CONTROL_FAILURE_CONF, 10),
            (M.QUERY_AGENT_STATE_REQ, 16),
            (M.SET_AGENT_STATE_CONF, 4),
            (M.STANDBY_ACTIVE_EVENT_MSG, 0),
            (M.ACTIVE_MAINTENANCE_REQ_MSG, 4),
            (M.ACTIVE_MAINTENANCE_RESP_MSG, 6),
            (M.ACTIVE_MAINTENANCE_EVENT_MSG, 2),
            (M.STOPPING_REQUESTS_TO_THIS_SIDE_IND, 0),
        ]
    ],
]


@pytest.mark.parametrize(
    ("mtype", "version", "size"),
    [pytest.param(t, v, s, id=f"{M.name_of(t)}-v{v}") for t, v, s in FIXED_SIZES],
)
def test_fixed_part_size(mtype: int, version: int, size: int) -> None:
    assert fixed_size(mtype, version) == size
    # The decoder needs exactly that many bytes: a zero body of that size decodes to all-zero fields.
    msg = decode_body(mtype, bytes(size), version)
    assert dict(msg.fields) == dict.fromkeys((f.name for f in fixed_layout(mtype, version)), 0)
    assert msg.floating == ()
    if size:
        with pytest.raises(DecodeError) as info:
            decode_body(mtype, bytes(size - 1), version)
        assert info.value.status is Status.E_CTI_INVALID_MESSAGE_LENGTH


def test_open_conf_version_dependent_tail_bytes() -> None:
    msg = make(M.OPEN_CONF, InvokeID=0x01020304, AgentState=9, DepartmentID=-2, SessionType=2)
    common = hx("01 02 03 04 00000000 00000000 00000000 00000000 0000 0000 0009")
    assert encode_body(msg, 18) == common
    assert encode_body(msg, 19) == common + hx("ff ff ff fe")
    assert encode_body(msg, 23) == common + hx("ff ff ff fe")
    assert encode_body(msg, 24) == common + hx("ff ff ff fe 00 02")
    assert encode_body(msg, 25) == common + hx("ff ff ff fe 00 02")
    # Decoding at an older version drops the newer fields.
    assert decode_body(M.OPEN_CONF, common + hx("ff ff ff fe"), 19)["DepartmentID"] == -2
    assert "SessionType" not in decode_body(M.OPEN_CONF, common + hx("ff ff ff fe"), 19).fields
    assert "DepartmentID" not in decode_body(M.OPEN_CONF, common, 18).fields


def test_agent_state_event_layout_bytes() -> None:
    msg = make(
        M.AGENT_STATE_EVENT,
        MonitorID=1,
        PeripheralID=5000,
        SessionID=3,
        PeripheralType=17,
        SkillGroupState=2,
        StateDuration=4,
        SkillGroupNumber=NULL_ID,
        SkillGroupID=6,
        SkillGroupPriority=7,
        AgentState=2,
        EventReasonCode=50002,
        MRDID=1,
        NumTasks=8,
        AgentMode=1,
        MaxTaskLimit=9,
        ICMAgentID=-1,
        AgentAvailabilityStatus=2,
        NumFltSkillGroups=0,
        DepartmentID=0x11223344,
    )
    v18 = hx(
        """
        00000001 00001388 00000003 0011 0002 00000004 ffffffff 00000006 0007 0002 c352
        00000001 00000008 0001 00000009 ffffffff 00000002 0000
        """
    )
    assert encode_body(msg, 18) == v18
    assert encode_body(msg, 19) == v18 + hx("11 22 33 44")
    assert decode_body(M.AGENT_STATE_EVENT, v18 + hx("11 22 33 44"), 19) == msg
    assert decode_body(M.AGENT_STATE_EVENT, v18, 18) == msg.for_version(18)


def test_query_agent_state_conf_layout_bytes() -> None:
    msg = make(
        M.QUERY_AGENT_STATE_CONF,
        InvokeID=5,
        AgentState=3,
        NumSkillGroups=1,
        MRDID=1,
        NumTasks=0,
        AgentMode=1,
        MaxTaskLimit=1,
        ICMAgentID=5001,
        AgentAvailabilityStatus=1,
        DepartmentID=-1,
    )
    v18 = hx("00000005 0003 0001 00000001 00000000 0001 00000001 00001389 00000001")
    assert encode_body(msg, 18) == v18
    assert encode_body(msg, 19) == v18 + hx("ff ff ff ff")
    assert decode_body(M.QUERY_AGENT_STATE_CONF, v18 + hx("ff ff ff ff"), 25) == msg


def test_set_agent_state_req_is_21_bytes_with_one_byte_forced_flag() -> None:
    msg = make(
        M.SET_AGENT_STATE_REQ,
        [(Tag.AGENT_ID, "1001")],
        InvokeID=1,
        PeripheralID=5000,
        AgentState=3,
        AgentWorkMode=0,
        NumSkillGroups=0,
        EventReasonCode=0,
        ForcedFlag=1,
        AgentServiceReq=1,
    )
    fixed = hx("00000001 00001388 0003 0000 0000 0000 01 00000001")
    assert len(fixed) == 21
    assert encode_body(msg, 24) == fixed + hx("0005 0005 31 30 30 31 00")
    assert encode_body(msg, 19) == fixed + hx("05 05 31 30 30 31 00")
    assert decode_body(M.SET_AGENT_STATE_REQ, fixed + hx("05 05 31 30 30 31 00"), 19) == msg


# Section 6.1, in the documented order (ESTABLISHED: AnsweringDeviceType, no named variable counts).
_HEAD = ["MonitorID", "PeripheralID", "PeripheralType", "ConnectionDeviceIDType", "ConnectionCallID"]
_DELIVERED_MID = [
    "LineHandle",
    "LineType",
    "ServiceNumber",
    "ServiceID",
    "SkillGroupNumber",
    "SkillGroupID",
    "SkillGroupPriority",
]
_DEVICE_TAIL = [
    "CallingDeviceType",
    "CalledDeviceType",
    "LastRedirectDeviceType",
    "LocalConnectionState",
    "EventCause",
]
_BEGIN = [
    "MonitorID",
    "PeripheralID",
    "PeripheralType",
    "NumCTIClients",
    "NumNamedVariables",
    "NumNamedArrays",
    "CallType",
    "ConnectionDeviceIDType",
    "ConnectionCallID",
]
CALL_EVENT_ORDER: dict[int, list[str]] = {
    M.BEGIN_CALL_EVENT: [*_BEGIN, "CalledPartyDisposition"],
    M.END_CALL_EVENT: _HEAD,
    M.CALL_DATA_UPDATE_EVENT: [
        *_BEGIN,
        "NewConnectionDeviceIDType",
        "NewConnectionCallID",
        "CalledPartyDisposition",
        "CampaignID",
        "QueryRuleID",
    ],
    M.CALL_DELIVERED_EVENT: [
        *_HEAD,
        *_DELIVERED_MID,
        "AlertingDeviceType",
        *_DEVICE_TAIL,
        "NumNamedVariables",
        "NumNamedArrays",
    ],
    M.CALL_ESTABLISHED_EVENT: [*_HEAD, *_DELIVERED_MID, "AnsweringDeviceType", *_DEVICE_TAIL],
    M.CALL_HELD_EVENT: [*_HEAD, "HoldingDeviceType", "LocalConnectionState", "EventCause"],
    M.CALL_RETRIEVED_EVENT: [*_HEAD, "RetrievingDeviceType", "LocalConnectionState", "EventCause"],
    M.CALL_CLEARED_EVENT: [*_HEAD, "LocalConnectionState", "EventCause"],
    M.CALL_CONNECTION_CLEARED_EVENT: [*_HEAD, "ReleasingDeviceType", "LocalConnectionState", "EventCause"],
    M.CALL_ORIGINATED_EVENT: [
        *_HEAD,
        *_DELIVERED_MID,
        "CallingDeviceType",
        "CalledDeviceType",
        "LocalConnectionState",
        "EventCause",
    ],
    M.CALL_SERVICE_INITIATED_EVENT: [
        *_HEAD,
        *_DELIVERED_MID,
        "CallingDeviceType",
        "LocalConnectionState",
        "EventCause",
    ],
}
_UINT_FIELDS = {
    "MonitorID",
    "PeripheralID",
    "ConnectionCallID",
    "NewConnectionCallID",
    "ServiceNumber",
    "ServiceID",
    "SkillGroupNumber",
    "SkillGroupID",
    "CampaignID",
    "QueryRuleID",
}


@pytest.mark.parametrize("mtype", list(CALL_EVENT_ORDER), ids=M.name_of)
def test_call_event_field_order_and_widths(mtype: int) -> None:
    order = CALL_EVENT_ORDER[mtype]
    assert [f.name for f in fixed_layout(mtype, MAX_SUPPORTED_VERSION)] == order
    # Give every field a distinct value and build the expected bytes from the documented widths.
    values = {name: i + 1 for i, name in enumerate(order)}
    expected = b"".join(values[name].to_bytes(4 if name in _UINT_FIELDS else 2, "big") for name in order)
    msg = make(mtype, (), **values)
    assert encode_body(msg, 20) == expected
    assert decode_body(mtype, expected, 20) == msg


# --- Floating part: tag width, strings, OPEN_REQ's own version ----------------------------------------


def test_tag_width_switches_at_version_20() -> None:
    assert [tag_width(v) for v in range(9, 20)] == [1] * 11
    assert [tag_width(v) for v in range(20, 26)] == [2] * 6


OPEN_CONF_FIXED_V19 = hx("00000001 02000014 00000000 00000000 65000000 0001 0011 0001 00000000")
OPEN_CONF_FIXED_V20 = OPEN_CONF_FIXED_V19
FLOAT_1_BYTE = hx("e4 02 00 01 | d0 04 00 00 13 88 | e0 02 00 00")
FLOAT_2_BYTE = hx("00 e4 00 02 00 01 | 00 d0 00 04 00 00 13 88 | 00 e0 00 02 00 00")


@pytest.mark.parametrize("version", range(9, 20))
def test_floating_one_byte_tags_up_to_v19(version: int) -> None:
    body = encode_body(OPEN_CONF_MSG, version)
    assert body[-len(FLOAT_1_BYTE) :] == FLOAT_1_BYTE
    assert len(body) == fixed_size(M.OPEN_CONF, version) + len(FLOAT_1_BYTE)
    assert decode_body(M.OPEN_CONF, body, version) == OPEN_CONF_MSG.for_version(version)


@pytest.mark.parametrize("version", range(20, 26))
def test_floating_two_byte_tags_from_v20(version: int) -> None:
    body = encode_body(OPEN_CONF_MSG, version)
    assert body[-len(FLOAT_2_BYTE) :] == FLOAT_2_BYTE
    assert len(body) == fixed_size(M.OPEN_CONF, version) + len(FLOAT_2_BYTE)
    assert decode_body(M.OPEN_CONF, body, version) == OPEN_CONF_MSG.for_version(version)


def test_same_message_both_tag_widths_exact_frames() -> None:
    v19 = encode(OPEN_CONF_MSG, 19)
    v20 = encode(OPEN_CONF_MSG, 20)
    assert v19 == hx("00 00 00 2c 00 00 00 04") + OPEN_CONF_FIXED_V19 + FLOAT_1_BYTE
    assert v20 == hx("00 00 00 32 00 00 00 04") + OPEN_CONF_FIXED_V20 + FLOAT_2_BYTE
    assert decode(v19, 19) == OPEN_CONF_MSG.for_version(19)
    assert decode(v20, 20) == OPEN_CONF_MSG.for_version(20)


def test_wrong_tag_width_does_not_decode_silently() -> None:
    # 1-byte-tag floating data read with 2-byte tags: tag 0xe402, length 1, then length 0x13 overruns.
    with pytest.raises(DecodeError) as info:
        decode_body(M.OPEN_CONF, OPEN_CONF_FIXED_V19 + FLOAT_1_BYTE, 20)
    assert info.value.status is Status.E_CTI_BAD_MESSAGE_FORMAT


@pytest.mark.parametrize(
    ("version", "text", "floating"),
    [
        (19, "", "07 01 00"),
        (20, "", "00 07 00 01 00"),
        (24, "hello", "00 07 00 06 68 65 6c 6c 6f 00"),
        (19, "hello", "07 06 68 65 6c 6c 6f 00"),
    ],
)
def test_strings_are_nul_terminated_and_nul_is_counted(version: int, text: str, floating: str) -> None:
    msg = make(M.SYSTEM_EVENT, [(Tag.TEXT, text)])
    assert encode_body(msg, version) == bytes(26) + hx(floating)
    assert decode_body(M.SYSTEM_EVENT, bytes(26) + hx(floating), version) == msg


def test_latin1_string_round_trip() -> None:
    msg = make(M.HEARTBEAT_REQ, [(Tag.AGENT_ID, "Jos\u00e9")])
    assert encode_body(msg, 24) == hx("00000000 0005 0005 4a 6f 73 e9 00")
    assert decode_body(M.HEARTBEAT_REQ, hx("00000000 0005 0005 4a 6f 73 e9 00"), 24) == msg


def test_string_at_max_length_including_nul() -> None:
    # ClientID max is 64 bytes with the NUL: 63 characters fit exactly.
    msg = make(M.OPEN_REQ, [(Tag.CLIENT_ID, "x" * 63)], VersionNumber=24)
    body = encode_body(msg, 24)
    assert body[44:48] == hx("00 01 00 40")
    assert body[48:] == b"x" * 63 + b"\0"
    assert decode_body(M.OPEN_REQ, body, 24) == msg
    with pytest.raises(ValueError):
        encode_body(make(M.OPEN_REQ, [(Tag.CLIENT_ID, "x" * 64)], VersionNumber=24), 24)


def test_decoded_string_without_nul_is_taken_whole_and_stops_at_first_nul() -> None:
    assert decode_body(M.HEARTBEAT_REQ, hx("00000000 0005 0004 31 30 30 31"), 24).get(Tag.AGENT_ID) == "1001"
    assert decode_body(M.HEARTBEAT_REQ, hx("00000000 0005 0004 31 00 30 31"), 24).get(Tag.AGENT_ID) == "1"
    assert decode_body(M.HEARTBEAT_REQ, hx("00000000 0005 0000"), 24).get(Tag.AGENT_ID) == ""


def test_integer_floating_fields_are_big_endian_and_signed_where_documented() -> None:
    msg = make(
        M.AGENT_STATE_EVENT,
        [
            (Tag.SKILL_GROUP_NUMBER, -1),
            (Tag.SKILL_GROUP_ID, 0xFFFFFFFF),
            (Tag.SKILL_GROUP_PRIORITY, 0x0102),
            (Tag.SKILL_GROUP_STATE, 3),
        ],
    )
    floating = hx("003e0004 ffffffff | 003f0004 ffffffff | 00400002 0102 | 00410002 0003")
    assert encode_body(msg, 20)[62:] == floating
    assert decode_body(M.AGENT_STATE_EVENT, bytes(62) + floating, 20) == msg


def test_repeated_tags_keep_wire_order() -> None:
    pair: list[tuple[int, FloatValue]] = [(Tag.CTI_CLIENT_SIGNATURE, "a"), (Tag.CTI_CLIENT_TIMESTAMP, 1)]
    floating = [*pair, *pair, (Tag.CTI_CLIENT_SIGNATURE, "b")]
    msg = make(M.BEGIN_CALL_EVENT, floating, NumCTIClients=3)
    decoded = decode(encode(msg, 21), 21)
    assert decoded == msg
    assert decoded.get_all(Tag.CTI_CLIENT_SIGNATURE) == ["a", "a", "b"]
    assert decoded.get_all(Tag.CTI_CLIENT_TIMESTAMP) == [1, 1]


# OPEN_REQ with VersionNumber 19: fixed part + 1-byte tags; VersionNumber 24: 2-byte tags.
OPEN_REQ_V19_BODY = hx(
    "00000002 00000013 00000050 ffffffff 00000001 00000000 00000000 00000000 00000000 00000000 00000000"
) + hx("01 04 43 54 49 00 | 02 00 | 05 05 31 30 30 31 00")
OPEN_REQ_V19_MSG = make(
    M.OPEN_REQ,
    [(Tag.CLIENT_ID, "CTI"), (Tag.CLIENT_PASSWORD, b""), (Tag.AGENT_ID, "1001")],
    InvokeID=2,
    VersionNumber=19,
    IdleTimeout=80,
    PeripheralID=NULL_ID,
    ServicesRequested=1,
)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_open_req_floating_part_follows_its_own_version_number(version: int) -> None:
    assert decode_body(M.OPEN_REQ, OPEN_REQ_V19_BODY, version) == OPEN_REQ_V19_MSG
    assert decode_body(M.OPEN_REQ, OPEN_REQ_BYTES[HEADER_SIZE:], version) == OPEN_REQ_MSG


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_open_req_encoding_follows_its_own_version_number(version: int) -> None:
    # Symmetric to decoding: a v19 client's OPEN_REQ has 1-byte tags whatever ``version`` says.
    assert encode_body(OPEN_REQ_V19_MSG, version) == OPEN_REQ_V19_BODY
    assert encode(OPEN_REQ_MSG, version) == OPEN_REQ_BYTES


def test_open_req_without_version_number_uses_the_version_argument() -> None:
    msg = make(M.OPEN_REQ, [(Tag.CLIENT_ID, "A")])
    assert encode_body(msg, 19)[44:] == hx("01 02 41 00")
    assert encode_body(msg, 20)[44:] == hx("0001 0002 41 00")
    assert decode_body(M.OPEN_REQ, bytes(44) + hx("01 02 41 00"), 19) == msg
    assert decode_body(M.OPEN_REQ, bytes(44) + hx("0001 0002 41 00"), 20) == msg


def test_every_layout_has_unique_field_names_and_known_codes() -> None:
    for mtype, layout in FIXED.items():
        names = [f.name for f in layout]
        assert len(names) == len(set(names)), M.name_of(mtype)
        assert {f.code for f in layout} <= {"B", "H", "I", "i"}, M.name_of(mtype)


# --- Call control requests (MAKE_CALL, HOLD, RETRIEVE) -------------------------------------------------


def test_make_call_req_layout_bytes() -> None:
    """Table 5-110: InvokeID, PeripheralID, eight USHORT/BOOL options, the named counts, and from
    version 14 one more UINT; AgentInstrument and DialedNumber float."""
    msg = make(
        M.MAKE_CALL_REQ,
        [(Tag.AGENT_INSTRUMENT, "1001"), (Tag.DIALED_NUMBER, "1002")],
        InvokeID=7,
        PeripheralID=5000,
        AlertRings=3,
        Reserved=NULL_ID,
    )
    v13 = hx("00000007 00001388 0000 0000 0003 0000 0000 0000 0000 0000 0000 0000")
    assert encode_body(msg, 13) == v13 + hx("06 05 31303031 00 0b 05 31303032 00")
    assert encode_body(msg, 24) == v13 + hx("ffffffff") + hx("0006 0005 31303031 00 000b 0005 31303032 00")
    assert decode_body(M.MAKE_CALL_REQ, encode_body(msg, 24), 24) == msg


def test_hold_and_retrieve_req_layout_bytes() -> None:
    hold = make(M.HOLD_CALL_REQ, [(Tag.CONNECTION_DEVID, "1001")], InvokeID=1, PeripheralID=5000,
                ConnectionCallID=0x1000)  # fmt: skip
    assert encode_body(hold, 24) == hx("00000001 00001388 00001000 0000 0000 0019 0005 31303031 00")
    retrieve = make(M.RETRIEVE_CALL_REQ, [(Tag.CONNECTION_DEVID, "1001")], InvokeID=2, PeripheralID=5000,
                    ConnectionCallID=0x1000)  # fmt: skip
    assert encode_body(retrieve, 24) == hx("00000002 00001388 00001000 0000 0019 0005 31303031 00")


def test_make_call_conf_carries_the_new_connection() -> None:
    conf = make(M.MAKE_CALL_CONF, [(Tag.NEW_CONNECTION_DEVID, "1001")], InvokeID=7,
                NewConnectionCallID=0x1001, LineHandle=0xFFFF, LineType=3)  # fmt: skip
    wire = hx("00000007 00001001 0000 ffff 0003 002f 0005 31303031 00")
    assert encode_body(conf, 24) == wire
    assert decode_body(M.MAKE_CALL_CONF, wire, 24) == conf
