"""Framing, decode errors (with the FAILURE_CONF status a server answers), encode refusals, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ged188 import (
    FIXED,
    FLOAT_TYPES,
    HEADER_SIZE,
    MAX_BODY_SIZE,
    MAX_MESSAGE_SIZE,
    MAX_SUPPORTED_VERSION,
    MIN_SUPPORTED_VERSION,
    DecodeError,
    FloatValue,
    FrameDecoder,
    FramingError,
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
)

M = MessageType
VERSIONS = range(MIN_SUPPORTED_VERSION, MAX_SUPPORTED_VERSION + 1)
TYPES = sorted(FIXED)


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace("|", " "))


def header(length: int, mtype: int) -> bytes:
    return length.to_bytes(4, "big") + mtype.to_bytes(4, "big")


def decode_error(mtype: int, body: bytes, version: int = MAX_SUPPORTED_VERSION) -> DecodeError:
    """The DecodeError raised by decoding ``body``; body-level errors are never framing errors."""
    with pytest.raises(DecodeError) as info:
        decode_body(mtype, body, version)
    assert not isinstance(info.value, FramingError)
    return info.value


# --- FrameDecoder -----------------------------------------------------------------------------------


def test_limits_match_the_reference() -> None:
    assert MAX_MESSAGE_SIZE == 12500
    assert MAX_BODY_SIZE == 12492
    assert HEADER_SIZE == 8


def test_frame_decoder_waits_for_a_whole_header_and_body() -> None:
    frame = hx("00 00 00 04 00 00 00 05 00 00 00 07")
    decoder = FrameDecoder()
    for i, byte in enumerate(frame[:-1]):
        decoder.feed(bytes([byte]))
        assert decoder.next_frame() is None
        assert decoder.buffered == i + 1
    decoder.feed(frame[-1:])
    assert decoder.next_frame() == (M.HEARTBEAT_REQ, hx("00 00 00 07"))
    assert decoder.buffered == 0
    assert decoder.next_frame() is None


def test_frame_decoder_several_frames_in_one_feed_and_a_partial_tail() -> None:
    decoder = FrameDecoder()
    decoder.feed(header(0, 277) + header(2, 280) + hx("00 01") + header(4, 5) + hx("00 00"))
    assert decoder.next_frame() == (277, b"")
    assert decoder.next_frame() == (280, hx("00 01"))
    assert decoder.next_frame() is None
    assert decoder.buffered == HEADER_SIZE + 2
    decoder.feed(hx("00 09"))
    assert decoder.next_frame() == (5, hx("00 00 00 09"))


def test_max_body_length_is_accepted() -> None:
    decoder = FrameDecoder()
    decoder.feed(header(MAX_BODY_SIZE, 9999))
    assert decoder.next_frame() is None  # header fine, body pending
    decoder.feed(bytes(MAX_BODY_SIZE - 1))
    assert decoder.next_frame() is None
    decoder.feed(b"\x01")
    assert decoder.next_frame() == (9999, bytes(MAX_BODY_SIZE - 1) + b"\x01")


@pytest.mark.parametrize("length", [MAX_BODY_SIZE + 1, 12500, 0x7FFFFFFF, 0xFFFFFFFF])
def test_message_length_above_max_raises_as_soon_as_header_is_complete(length: int) -> None:
    decoder = FrameDecoder()
    head = header(length, M.HEARTBEAT_REQ)
    for byte in head[:-1]:
        decoder.feed(bytes([byte]))
        assert decoder.next_frame() is None
    decoder.feed(head[-1:])
    with pytest.raises(FramingError) as info:
        decoder.next_frame()
    assert info.value.status is Status.E_CTI_INVALID_MESSAGE_LENGTH
    assert isinstance(info.value, DecodeError)
    # The stream cannot be resynchronised: it keeps failing.
    decoder.feed(bytes(64))
    with pytest.raises(FramingError):
        decoder.next_frame()


def test_message_length_limit_is_configurable() -> None:
    decoder = FrameDecoder(max_body=16)
    decoder.feed(header(16, 1) + bytes(16) + header(17, 1))
    assert decoder.next_frame() == (1, bytes(16))
    with pytest.raises(FramingError) as info:
        decoder.next_frame()
    assert info.value.status is Status.E_CTI_INVALID_MESSAGE_LENGTH


def test_decode_rejects_short_or_inconsistent_frames() -> None:
    for frame in [b"", hx("00 00 00 04 00 00 00"), hx("00 00 00 04 00 00 00 05 00 00 00")]:
        with pytest.raises(FramingError) as info:
            decode(frame)
        assert info.value.status is Status.E_CTI_INVALID_MESSAGE_LENGTH
    with pytest.raises(FramingError) as info:
        decode(hx("00 00 00 04 00 00 00 05 00 00 00 07 00"))
    assert info.value.status is Status.E_CTI_INVALID_MESSAGE_LENGTH


# --- Body decode errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [MIN_SUPPORTED_VERSION, 18, 19, 20, 23, 24, MAX_SUPPORTED_VERSION])
@pytest.mark.parametrize("mtype", [t for t in TYPES if FIXED[t]], ids=M.name_of)
def test_body_shorter_than_fixed_part(mtype: int, version: int) -> None:
    size = len(encode_body(make(mtype), version))
    for short in sorted({0, size // 2, size - 1}):
        exc = decode_error(mtype, bytes(short), version)
        assert exc.status is Status.E_CTI_INVALID_MESSAGE_LENGTH


def test_v24_open_conf_needs_32_bytes_but_v23_accepts_30() -> None:
    assert decode_error(M.OPEN_CONF, bytes(30), 24).status is Status.E_CTI_INVALID_MESSAGE_LENGTH
    assert decode_body(M.OPEN_CONF, bytes(30), 23) == make(M.OPEN_CONF).for_version(23)
    # A v18 session reads the same 30 bytes as 26 fixed bytes + floating "00 00 | 00 00": 2 empty fields.
    assert decode_body(M.OPEN_CONF, bytes(30), 18).floating == ((0, b""), (0, b""))


@pytest.mark.parametrize(
    ("version", "floating"),
    [
        (24, "00 07 00 05 41"),  # TEXT claims 5 bytes, 1 present
        (24, "00 07 00 01"),  # length present, data missing
        (24, "00 07 00 01 41 00 08 00 02 42"),  # second field overruns
        (24, "00"),  # truncated 2-byte tag
        (24, "00 07 00"),  # truncated 2-byte length
        (19, "07 05 41"),
        (19, "07"),  # 1-byte tag without its length
        (19, "07 01 41 08"),
    ],
)
def test_floating_field_overrunning_the_body(version: int, floating: str) -> None:
    exc = decode_error(M.HEARTBEAT_REQ, hx("00 00 00 01") + hx(floating), version)
    assert exc.status is Status.E_CTI_BAD_MESSAGE_FORMAT


@pytest.mark.parametrize(
    ("tag", "data"),
    [
        (Tag.NUM_PERIPHERALS, ""),
        (Tag.NUM_PERIPHERALS, "01"),
        (Tag.NUM_PERIPHERALS, "00 00 00 01"),
        (Tag.MULTI_LINE_AGENT_CONTROL, "00 00 00"),
        (Tag.FLT_PERIPHERAL_ID, "13 88"),
        (Tag.FLT_PERIPHERAL_ID, "00 00 00 00 13 88"),
        (Tag.SKILL_GROUP_NUMBER, "ff ff ff"),
        (Tag.APP_PATH_ID, ""),
        (Tag.DURATION, "00 00 00 00 00"),
    ],
)
def test_integer_floating_field_of_wrong_size(tag: int, data: str) -> None:
    raw = hx(data)
    floating = tag.to_bytes(2, "big") + len(raw).to_bytes(2, "big") + raw
    exc = decode_error(M.OPEN_CONF, bytes(32) + floating, 24)
    assert exc.status is Status.E_CTI_INVALID_FIELD_LENGTH
    # The same field at its right size decodes.
    size = FLOAT_TYPES[tag][1]
    good = tag.to_bytes(2, "big") + size.to_bytes(2, "big") + bytes(size)
    assert decode_body(M.OPEN_CONF, bytes(32) + good, 24).floating == ((tag, 0),)


@pytest.mark.parametrize(
    ("tag", "max_len"),
    [(Tag.AGENT_ID, 12), (Tag.CLIENT_ID, 64), (Tag.ANI_II, 3), (Tag.TEXT, 255), (Tag.CALL_REFERENCE_ID, 32)],
)
@pytest.mark.parametrize("version", [19, 24])
def test_floating_data_longer_than_its_max(tag: int, max_len: int, version: int) -> None:
    assert FLOAT_TYPES[tag][1] == max_len

    def field(length: int) -> bytes:
        data = b"7" * (length - 1) + b"\0"
        if version < 20:
            return bytes([tag, length]) + data
        return tag.to_bytes(2, "big") + length.to_bytes(2, "big") + data

    ok = decode_body(M.HEARTBEAT_REQ, bytes(4) + field(max_len), version)
    assert len(ok.floating) == 1
    if max_len < 255 or version >= 20:
        exc = decode_error(M.HEARTBEAT_REQ, bytes(4) + field(max_len + 1), version)
        assert exc.status is Status.E_CTI_INVALID_FIELD_LENGTH


def test_unknown_message_type_decodes_to_raw() -> None:
    frame = header(5, 9999) + hx("00 00 00 2a ff")
    msg = decode(frame)
    assert msg == Message(9999, raw=hx("00 00 00 2a ff"))
    assert msg.fields == {}
    assert msg.floating == ()
    assert msg.invoke_id == 42
    assert msg.name == "UNKNOWN_9999"
    assert encode(msg) == frame


def test_known_type_without_layout_decodes_to_raw_with_invoke_id() -> None:
    assert M.DEFLECT_CALL_REQ not in FIXED
    msg = decode_body(M.DEFLECT_CALL_REQ, hx("00 00 01 00 00 00 13 88"), 19)
    assert msg.raw == hx("00 00 01 00 00 00 13 88")
    assert msg.invoke_id == 256
    assert msg.name == "DEFLECT_CALL_REQ"


def test_unknown_type_with_short_body_has_no_invoke_id() -> None:
    assert decode_body(9999, hx("00 00 01")).invoke_id is None
    assert decode_body(9999, b"").invoke_id is None
    # Known types without an InvokeID field have none either.
    assert decode_body(M.SYSTEM_EVENT, bytes(26)).invoke_id is None


@pytest.mark.parametrize(
    ("version", "floating", "expected"),
    [
        (24, "12 34 00 03 01 02 03", ((0x1234, hx("01 02 03")),)),
        (24, "00 c8 00 00", ((200, b""),)),
        (19, "c8 02 ab cd | 07 02 41 00", ((200, hx("ab cd")), (7, "A"))),
        (24, "01 2c 00 01 00 | 00 07 00 02 41 00", ((300, b"\0"), (7, "A"))),
    ],
)
def test_unknown_floating_tags_are_kept_as_raw_bytes(
    version: int, floating: str, expected: tuple[tuple[int, FloatValue], ...]
) -> None:
    body = bytes(4) + hx(floating)
    msg = decode_body(M.HEARTBEAT_CONF, body, version)
    assert msg.floating == expected
    assert encode_body(msg, version) == body


# --- Encode refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg", "version"),
    [
        # Tags above 255 do not fit a 1-byte tag.
        (make(M.HEARTBEAT_REQ, [(300, b"x")]), 19),
        (make(M.AGENT_STATE_EVENT, [(Tag.FLT_TERM_DEVICE_NAME, "SEP0001")]), 19),
        (make(M.AGENT_STATE_EVENT, [(Tag.MAX_BEYOND_TASK_LIMIT, 1)]), 9),
        (make(M.HEARTBEAT_REQ, [(0x10000, b"x")]), 24),
        # Data longer than 255 bytes does not fit a 1-byte length.
        (make(M.HEARTBEAT_REQ, [(200, bytes(256))]), 19),
        (make(M.HEARTBEAT_REQ, [(200, bytes(0x10000))]), 24),
        # Strings and bytes longer than their maximum (the string NUL counts).
        (make(M.OPEN_REQ, [(Tag.CLIENT_ID, "c" * 70)], VersionNumber=24), 24),
        (make(M.OPEN_REQ, [(Tag.CLIENT_ID, "c" * 64)], VersionNumber=24), 24),
        (make(M.OPEN_REQ, [(Tag.CLIENT_PASSWORD, bytes(65))], VersionNumber=24), 24),
        (make(M.SET_AGENT_STATE_REQ, [(Tag.AGENT_ID, "1234567890123")]), 24),
        # Wrong Python type for the tag's kind.
        (make(M.OPEN_REQ, [(Tag.CLIENT_ID, b"Finesse")]), 24),
        (make(M.OPEN_REQ, [(Tag.CLIENT_PASSWORD, "secret")]), 24),
        (make(M.OPEN_CONF, [(Tag.NUM_PERIPHERALS, "1")]), 24),
        (make(M.OPEN_CONF, [(Tag.CLIENT_ID, 1)]), 24),
        (make(M.OPEN_CONF, [(Tag.NUM_PERIPHERALS, True)]), 24),
        (make(M.HEARTBEAT_REQ, [(200, "unknown tags take bytes")]), 24),
        # Not latin-1.
        (make(M.SYSTEM_EVENT, [(Tag.TEXT, "\u20ac")]), 24),
        # Integer floating fields that overflow their wire type.
        (make(M.OPEN_CONF, [(Tag.NUM_PERIPHERALS, 0x10000)]), 24),
        (make(M.OPEN_CONF, [(Tag.NUM_PERIPHERALS, -1)]), 24),
        (make(M.OPEN_CONF, [(Tag.FLT_PERIPHERAL_ID, 2**32)]), 19),
        (make(M.AGENT_STATE_EVENT, [(Tag.SKILL_GROUP_NUMBER, 2**31)]), 24),
        # Fixed fields that overflow their struct code.
        (make(M.HEARTBEAT_REQ, InvokeID=2**32), 24),
        (make(M.HEARTBEAT_REQ, InvokeID=-1), 24),
        (make(M.SET_AGENT_STATE_REQ, ForcedFlag=256), 24),
        (make(M.SET_AGENT_STATE_REQ, AgentState=0x10000), 24),
        (make(M.OPEN_CONF, DepartmentID=2**31), 19),
        (make(M.OPEN_CONF, DepartmentID=-(2**31) - 1), 24),
        # Body above the protocol maximum.
        (make(M.SYSTEM_EVENT, [(Tag.TEXT, "t" * 254)] * 49), 24),
        (Message(9999, raw=bytes(MAX_BODY_SIZE + 1)), 24),
    ],
)
def test_encode_refuses_what_does_not_fit(msg: Message, version: int) -> None:
    with pytest.raises(ValueError):
        encode(msg, version)


def test_encode_boundaries_that_do_fit() -> None:
    assert len(encode(Message(9999, raw=bytes(MAX_BODY_SIZE)))) == MAX_MESSAGE_SIZE
    assert encode_body(make(M.HEARTBEAT_REQ, [(200, bytes(255))]), 19)[4:6] == hx("c8 ff")
    assert encode_body(make(M.HEARTBEAT_REQ, [(300, b"x")]), 20)[4:] == hx("01 2c 00 01 78")
    assert encode_body(make(M.HEARTBEAT_REQ, [(255, 7)]), 19)[4:] == hx("ff 02 00 07")
    assert encode_body(make(M.OPEN_CONF, DepartmentID=-(2**31)), 19)[26:] == hx("80 00 00 00")
    assert encode_body(make(M.SET_AGENT_STATE_REQ, ForcedFlag=255), 19)[16:17] == hx("ff")
    assert encode_body(make(M.OPEN_CONF, [(Tag.NUM_PERIPHERALS, 0xFFFF)]), 24)[32:] == hx("00e4 0002 ffff")


def test_fields_absent_from_the_version_are_not_range_checked() -> None:
    # DepartmentID only exists from v19: an out-of-range value is simply not sent to older versions.
    assert len(encode_body(make(M.OPEN_CONF, DepartmentID=2**40), 18)) == 26


def test_make_rejects_unknown_fields_and_types() -> None:
    with pytest.raises(TypeError):
        make(M.HEARTBEAT_REQ, InvokeId=1)
    with pytest.raises(TypeError):
        make(M.OPEN_CONF, SessionTyp=1)
    with pytest.raises(ValueError):
        make(M.DEFLECT_CALL_REQ, InvokeID=1)
    with pytest.raises(ValueError):
        make(9999)


def test_make_fills_every_field_of_the_newest_layout_with_zero() -> None:
    for mtype in TYPES:
        msg = make(mtype)
        assert list(msg.fields) == [f.name for f in fixed_layout(mtype, MAX_SUPPORTED_VERSION)]
        assert set(msg.fields.values()) <= {0}


# --- Fuzzing -----------------------------------------------------------------------------------------


def _check_decode(mtype: int, body: bytes, version: int) -> None:
    """decode_body returns a Message or raises a DecodeError with a Status; nothing else."""
    try:
        msg = decode_body(mtype, body, version)
    except DecodeError as exc:
        assert not isinstance(exc, FramingError)
        assert isinstance(exc.status, Status)
        assert exc.status in {
            Status.E_CTI_INVALID_MESSAGE_LENGTH,
            Status.E_CTI_BAD_MESSAGE_FORMAT,
            Status.E_CTI_INVALID_FIELD_LENGTH,
        }
        return
    assert msg.type == mtype
    if mtype in FIXED:
        assert msg.raw == b""
        assert list(msg.fields) == [f.name for f in fixed_layout(mtype, version)]
    else:
        assert msg.raw == body


def _drain(decoder: FrameDecoder, version: int) -> bool:
    """Decode every complete frame; False once framing failed (the session would close)."""
    # Each frame consumes at least a header, so the loop must end on None within this many rounds.
    for _ in range(decoder.buffered // HEADER_SIZE + 1):
        try:
            frame = decoder.next_frame()
        except FramingError as exc:
            assert exc.status is Status.E_CTI_INVALID_MESSAGE_LENGTH
            return False
        if frame is None:
            return True
        _check_decode(*frame, version)
    pytest.fail("FrameDecoder returned more frames than the buffered bytes can hold")


@pytest.mark.timeout(30)
@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=512),
    chunk_sizes=st.lists(st.integers(1, 64), max_size=16),
    version=st.sampled_from(VERSIONS),
)
def test_fuzz_arbitrary_bytes(data: bytes, chunk_sizes: list[int], version: int) -> None:
    decoder = FrameDecoder()
    pos = 0
    for size in [*chunk_sizes, len(data)]:
        decoder.feed(data[pos : pos + size])
        pos += size
        if not _drain(decoder, version):
            return
    # The same bytes as one whole frame: a Message only if MessageLength matches exactly.
    try:
        msg = decode(data, version)
    except DecodeError as exc:
        assert isinstance(exc.status, Status)
    else:
        assert int.from_bytes(data[:4], "big") == len(data) - HEADER_SIZE
        assert msg.type == int.from_bytes(data[4:8], "big")


_frames = st.tuples(
    st.one_of(st.sampled_from(TYPES), st.integers(0, 0xFFFFFFFF)),
    st.binary(max_size=160),
)


@pytest.mark.timeout(30)
@settings(max_examples=200, deadline=None)
@given(
    frames=st.lists(_frames, max_size=6),
    tail=st.binary(max_size=HEADER_SIZE - 1),  # never a whole header
    cut=st.integers(1, 97),
    version=st.sampled_from(VERSIONS),
)
def test_fuzz_well_framed_random_bodies(
    frames: list[tuple[int, bytes]], tail: bytes, cut: int, version: int
) -> None:
    stream = b"".join(header(len(body), mtype) + body for mtype, body in frames) + tail
    decoder = FrameDecoder()
    got: list[tuple[int, bytes]] = []
    for i in range(0, len(stream), cut):
        decoder.feed(stream[i : i + cut])
        while (frame := decoder.next_frame()) is not None:
            got.append(frame)
            _check_decode(*frame, version)
    assert got == frames
    assert decoder.buffered == len(tail)


@st.composite
def mutated_bodies(draw: st.DrawFn) -> tuple[int, bytes, int]:
    """A valid body with a few bytes overwritten, cut short or extended: reaches the floating decoder."""
    version = draw(st.sampled_from(VERSIONS))
    mtype = draw(st.sampled_from(TYPES))
    tags = sorted(t for t in FLOAT_TYPES if version >= 20 or t <= 0xFF)
    floating: list[tuple[int, FloatValue]] = []
    for tag in draw(st.lists(st.sampled_from(tags), max_size=5)):
        kind, max_len = FLOAT_TYPES[tag]
        value: FloatValue
        if kind == "str":
            value = "s" * draw(st.integers(0, max_len - 1))
        elif kind == "bytes":
            value = b"b" * draw(st.integers(0, max_len))
        else:
            value = draw(st.integers(0, 0x7FFF))
        floating.append((tag, value))
    fields = {"VersionNumber": version} if mtype == M.OPEN_REQ else {}
    body = bytearray(encode_body(make(mtype, floating, **fields), version))
    for _ in range(draw(st.integers(0, 4))):
        if body:
            body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
    body = body[: draw(st.integers(0, len(body)))] if draw(st.booleans()) else body
    body += draw(st.binary(max_size=8))
    return mtype, bytes(body), version


@pytest.mark.timeout(30)
@settings(max_examples=300, deadline=None)
@given(case=mutated_bodies())
def test_fuzz_mutated_valid_bodies(case: tuple[int, bytes, int]) -> None:
    mtype, body, version = case
    _check_decode(mtype, body, version)
    # Whatever decodes re-encodes to a body the decoder reads back identically (unknown tags included).
    try:
        msg = decode_body(mtype, body, version)
    except DecodeError:
        return
    try:
        again = encode_body(msg, version)
    except ValueError:
        return  # e.g. a NUL-less string at its maximum length gains a NUL and no longer fits
    assert decode_body(mtype, again, version) == msg
