"""Property-based round trips of the GED-188 codec: every layout, every version, any TCP chunking."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ged188 import (
    FIRST_TWO_BYTE_TAG_VERSION,
    FIXED,
    FLOAT_TYPES,
    HEADER_SIZE,
    MAX_SUPPORTED_VERSION,
    MIN_SUPPORTED_VERSION,
    FloatValue,
    FrameDecoder,
    Message,
    MessageType,
    decode,
    decode_body,
    encode,
    encode_body,
    fixed_layout,
    make,
)

VERSIONS = range(MIN_SUPPORTED_VERSION, MAX_SUPPORTED_VERSION + 1)
TYPES = sorted(FIXED)
CODE_RANGE: dict[str, tuple[int, int]] = {
    "B": (0, 0xFF),
    "H": (0, 0xFFFF),
    "I": (0, 0xFFFFFFFF),
    "i": (-(2**31), 2**31 - 1),
}
INT_RANGE: dict[str, tuple[int, int]] = {
    "u16": (0, 0xFFFF),
    "u32": (0, 0xFFFFFFFF),
    "i32": (-(2**31), 2**31 - 1),
}
LATIN1_NO_NUL = st.characters(min_codepoint=1, max_codepoint=255)


def float_values(tag: int) -> st.SearchStrategy[FloatValue]:
    """Values of the documented kind that fit the tag's maximum data length."""
    kind, max_len = FLOAT_TYPES[tag]
    if kind == "str":
        return st.text(LATIN1_NO_NUL, max_size=max_len - 1)  # the NUL counts in max_len
    if kind == "bytes":
        return st.binary(max_size=max_len)
    low, high = INT_RANGE[kind]
    return st.integers(low, high)


def _floating_lists(wide: bool) -> st.SearchStrategy[list[tuple[int, FloatValue]]]:
    tags = sorted(t for t in FLOAT_TYPES if wide or t <= 0xFF)
    return st.lists(st.one_of([st.tuples(st.just(t), float_values(t)) for t in tags]), max_size=6)


_FLOATING = {False: _floating_lists(wide=False), True: _floating_lists(wide=True)}
_FIXED_VALUES = {code: st.integers(low, high) for code, (low, high) in CODE_RANGE.items()}
_VERSION_NUMBERS = st.one_of(st.integers(0, 30), _FIXED_VALUES["I"])


def floating_fields(version: int) -> st.SearchStrategy[list[tuple[int, FloatValue]]]:
    """Floating fields of any known tag; tags above 255 only where tags are two bytes wide."""
    return _FLOATING[version >= FIRST_TWO_BYTE_TAG_VERSION]


@st.composite
def messages(draw: st.DrawFn, mtype: int, version: int) -> Message:
    """A message of ``mtype`` with every fixed field of the newest layout and floating fields that fit."""
    fields: dict[str, int] = {}
    for f in FIXED[mtype]:
        if f.name == "VersionNumber":
            # Mostly realistic versions (both tag widths), sometimes anything (0 = use the session's).
            fields[f.name] = draw(_VERSION_NUMBERS)
        else:
            fields[f.name] = draw(_FIXED_VALUES[f.code])
    float_version = version
    if mtype == MessageType.OPEN_REQ:
        # OPEN_REQ's floating part is written with the VersionNumber it carries.
        float_version = fields["VersionNumber"] or version
    return make(mtype, draw(floating_fields(float_version)), **fields)


def any_message(version: int) -> st.SearchStrategy[Message]:
    return st.sampled_from(TYPES).flatmap(lambda t: messages(t, version))


@st.composite
def unknown_messages(draw: st.DrawFn) -> Message:
    mtype = draw(st.integers(0, 0xFFFFFFFF).filter(lambda t: t not in FIXED))
    return Message(mtype, raw=draw(st.binary(max_size=64)))


@pytest.mark.parametrize("mtype", TYPES, ids=MessageType.name_of)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_every_type_and_version(mtype: int, data: st.DataObject) -> None:
    # Every example covers every version, so no (type, version) pair is left to chance: a message with
    # 1-byte-tag floating fields goes through every version, one with any tag through versions 20+.
    narrow = data.draw(messages(mtype, FIRST_TWO_BYTE_TAG_VERSION - 1), label="narrow")
    wide = data.draw(messages(mtype, MAX_SUPPORTED_VERSION), label="wide")
    cases = [(narrow, v) for v in VERSIONS] + [(wide, v) for v in VERSIONS if v >= FIRST_TWO_BYTE_TAG_VERSION]
    for msg, version in cases:
        frame = encode(msg, version)
        assert int.from_bytes(frame[:4], "big") == len(frame) - HEADER_SIZE
        assert int.from_bytes(frame[4:8], "big") == mtype
        decoded = decode(frame, version)
        assert decoded == msg.for_version(version)
        assert list(decoded.fields) == [f.name for f in fixed_layout(mtype, version)]
        # Re-encoding what was decoded gives the same bytes.
        assert encode(decoded, version) == frame


@settings(max_examples=150, deadline=None)
@given(version=st.sampled_from(VERSIONS), data=st.data())
def test_round_trip_random_type_and_version(version: int, data: st.DataObject) -> None:
    msg = data.draw(any_message(version), label="msg")
    assert decode_body(msg.type, encode_body(msg, version), version) == msg.for_version(version)


@settings(max_examples=50, deadline=None)
@given(msg=unknown_messages(), version=st.sampled_from(VERSIONS))
def test_unknown_types_round_trip_raw(msg: Message, version: int) -> None:
    frame = encode(msg, version)
    assert frame == len(msg.raw).to_bytes(4, "big") + msg.type.to_bytes(4, "big") + msg.raw
    decoded = decode(frame, version)
    assert decoded == msg
    assert decoded.fields == {}
    assert decoded.invoke_id == (int.from_bytes(msg.raw[:4], "big") if len(msg.raw) >= 4 else None)


@settings(max_examples=60, deadline=None)
@given(version=st.sampled_from(VERSIONS), data=st.data())
def test_for_version_is_what_the_wire_keeps(version: int, data: st.DataObject) -> None:
    msg = data.draw(any_message(version), label="msg")
    trimmed = msg.for_version(version)
    assert trimmed.floating == msg.floating
    assert list(trimmed.fields) == [f.name for f in fixed_layout(msg.type, version)]
    assert all(trimmed[name] == msg[name] for name in trimmed.fields)
    assert encode(trimmed, version) == encode(msg, version)


@st.composite
def chunked_streams(draw: st.DrawFn) -> tuple[int, list[Message], list[bytes]]:
    """A version, the messages sent, and their concatenated frames cut at arbitrary points."""
    version = draw(st.sampled_from(VERSIONS))
    msgs = draw(st.lists(st.one_of(any_message(version), unknown_messages()), max_size=8))
    stream = b"".join(encode(m, version) for m in msgs)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=24)))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[a:b] for a, b in pairwise(bounds)]
    return version, msgs, chunks


@settings(max_examples=120, deadline=None)
@given(stream=chunked_streams())
def test_frame_decoder_reassembles_any_chunking(stream: tuple[int, list[Message], list[bytes]]) -> None:
    version, msgs, chunks = stream
    assert b"".join(chunks) == b"".join(encode(m, version) for m in msgs)
    decoder = FrameDecoder()
    frames: list[tuple[int, bytes]] = []
    for chunk in chunks:
        decoder.feed(chunk)
        while (frame := decoder.next_frame()) is not None:
            frames.append(frame)
    assert frames == [(m.type, encode_body(m, version)) for m in msgs]
    assert decoder.buffered == 0
    assert decoder.next_frame() is None
    assert [decode_body(t, body, version) for t, body in frames] == [m.for_version(version) for m in msgs]


@settings(max_examples=60, deadline=None)
@given(stream=chunked_streams())
def test_frame_decoder_byte_by_byte(stream: tuple[int, list[Message], list[bytes]]) -> None:
    version, msgs, chunks = stream
    data = b"".join(chunks)
    decoder = FrameDecoder()
    frames: list[tuple[int, bytes]] = []
    for i in range(len(data)):
        decoder.feed(data[i : i + 1])
        frame = decoder.next_frame()
        if frame is not None:
            frames.append(frame)
        # Never more than one frame is complete after a single byte.
        assert decoder.next_frame() is None
        assert decoder.buffered < HEADER_SIZE + 12492
    assert frames == [(m.type, encode_body(m, version)) for m in msgs]
    assert decoder.buffered == 0
