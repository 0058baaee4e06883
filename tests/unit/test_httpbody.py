"""decode_body: the one place a request body is inflated, never past its cap (issue 14, finding 5)."""

from __future__ import annotations

import zlib

import pytest

from emu_base.httpbody import (
    BadEncoding,
    BodyTooLarge,
    UnsupportedEncoding,
    content_coding,
    decode_body,
)
from tests.gzipbomb import gzip, gzip_bomb

DOC = b"<User><state>READY</state></User>"


def test_codings() -> None:
    assert decode_body(DOC, None, 100) == DOC
    assert decode_body(DOC, "identity", 100) == DOC
    assert decode_body(gzip(DOC), "gzip", 100) == DOC
    assert decode_body(gzip(DOC), " X-GZIP ", 100) == DOC
    assert decode_body(zlib.compress(DOC), "deflate", 100) == DOC
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decode_body(raw.compress(DOC) + raw.flush(), "deflate", 100) == DOC
    assert decode_body(gzip(DOC[:10]) + gzip(DOC[10:]), "gzip", 100) == DOC  # two members
    assert content_coding("identity, gzip") == "gzip"


@pytest.mark.parametrize("header", ["br", "zstd", "compress", "gzip, gzip", "gzip, deflate", "*"])
def test_unsupported_codings_are_415(header: str) -> None:
    with pytest.raises(UnsupportedEncoding) as err:
        decode_body(gzip(DOC), header, 100)
    assert err.value.status == 415


def test_the_cap_holds_whatever_the_ratio() -> None:
    assert decode_body(gzip(bytes(100)), "gzip", 100) == bytes(100)
    with pytest.raises(BodyTooLarge) as err:
        decode_body(gzip(bytes(101)), "gzip", 100)
    assert err.value.status == 413
    bomb = b"".join(gzip_bomb(64 << 20))  # 64 MiB of zeros in 64 KB
    with pytest.raises(BodyTooLarge):
        decode_body(bomb, "gzip", 65536)
    with pytest.raises(BodyTooLarge):  # the cap counts every member together
        decode_body(gzip(bytes(60)) + gzip(bytes(60)), "gzip", 100)


def test_many_empty_members_are_refused() -> None:
    with pytest.raises(BadEncoding):
        decode_body(gzip(b"") * 65, "gzip", 100)


@pytest.mark.parametrize(
    "body",
    [gzip(DOC)[:-4], gzip(DOC) + b"x", DOC, b"\x1f\x8b", b""],
    ids=["truncated", "trailing bytes", "not gzip", "header only", "empty"],
)
def test_bodies_that_are_not_what_they_say_are_400(body: bytes) -> None:
    with pytest.raises(BadEncoding) as err:
        decode_body(body, "gzip", 100)
    assert err.value.status == 400
