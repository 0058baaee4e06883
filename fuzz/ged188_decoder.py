"""Coverage-guided fuzzing of the GED-188 decoder (``ged188``) with atheris.

Input: byte 0 picks the protocol version, byte 1 the TCP chunk size, the rest is the byte stream a
peer sent. The stream goes through :class:`FrameDecoder` in those chunks and each frame through
``decode_body``; the whole stream also goes through ``decode`` as one frame. Invariants:

- framing raises nothing but :class:`FramingError`, decoding nothing but :class:`DecodeError`
  (``decode_body`` never a FramingError), each with a :class:`Status`; nothing else escapes;
- the frame decoder loses no byte and keeps nothing it could frame;
- a decoded message that ``encode`` accepts (it may refuse with ValueError, e.g. a NUL-less string at
  its maximum length) decodes back to the same message.

Run: ``python fuzz/ged188_decoder.py -runs=100000 WORK_DIR fuzz/corpus/ged188_decoder`` (libFuzzer
adds new inputs to the first directory only), or every harness with ``make fuzz``.
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports(include=["ged188"]):
    from ged188 import (
        HEADER_SIZE,
        MAX_SUPPORTED_VERSION,
        MIN_SUPPORTED_VERSION,
        DecodeError,
        FrameDecoder,
        FramingError,
        Message,
        Status,
        decode,
        decode_body,
        encode,
    )

VERSIONS = MAX_SUPPORTED_VERSION - MIN_SUPPORTED_VERSION + 1


def check_round_trip(msg: Message, version: int) -> None:
    """What decoded and encodes again decodes to the same message."""
    try:
        frame = encode(msg, version)
    except ValueError:
        return  # a documented refusal: the message cannot be sent as it is
    again = decode(frame, version)
    if again != msg:
        raise AssertionError(f"round trip changed {msg!r} into {again!r}")


def check_body(mtype: int, body: bytes, version: int) -> None:
    try:
        msg = decode_body(mtype, body, version)
    except FramingError as exc:
        raise AssertionError("decode_body raised FramingError: only the frame decoder may") from exc
    except DecodeError as exc:
        if not isinstance(exc.status, Status):
            raise AssertionError(f"DecodeError without a Status: {exc.status!r}") from exc
        return
    if msg.type != mtype:
        raise AssertionError(f"type {msg.type} decoded from a frame of type {mtype}")
    check_round_trip(msg, version)


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    version = MIN_SUPPORTED_VERSION + data[0] % VERSIONS
    chunk = data[1] + 1
    stream = data[2:]

    decoder = FrameDecoder()
    framed = 0
    for start in range(0, len(stream), chunk):
        decoder.feed(stream[start : start + chunk])
        try:
            while (frame := decoder.next_frame()) is not None:
                framed += HEADER_SIZE + len(frame[1])
                check_body(*frame, version)
        except FramingError as exc:
            if exc.status is not Status.E_CTI_INVALID_MESSAGE_LENGTH:
                raise AssertionError(f"FramingError with status {exc.status!r}") from exc
            break
    else:
        if framed + decoder.buffered != len(stream):
            raise AssertionError(f"{len(stream)} bytes fed, {framed} framed, {decoder.buffered} left")
        if decoder.buffered >= HEADER_SIZE and int.from_bytes(stream[framed : framed + 4], "big") <= (
            decoder.buffered - HEADER_SIZE
        ):
            raise AssertionError("a complete frame was left in the buffer")

    try:
        msg = decode(stream, version)
    except DecodeError as exc:
        if not isinstance(exc.status, Status):
            raise AssertionError(f"DecodeError without a Status: {exc.status!r}") from exc
    else:
        check_round_trip(msg, version)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
