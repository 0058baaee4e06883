"""The AWDB login (issue 14): the credential check of the stub's query API, pure."""

from __future__ import annotations

import base64
import hmac
from pathlib import Path
from typing import Any

import pytest

from awdb_stub.__main__ import build_parser, query_login
from awdb_stub.login import Login, PeerLog
from emu_base.awdb_login import awdb_login, check_user, read_password_file

PASSWORD = "Zq3-random_awdb_password"


def basic(user: str, password: str, encoding: str = "utf-8") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode(encoding)).decode("ascii")


def test_only_the_configured_user_and_password_are_accepted() -> None:
    login = Login("finesse", PASSWORD)
    assert login.accepts(basic("finesse", PASSWORD))
    assert login.accepts("basic " + basic("finesse", PASSWORD).split(" ", 1)[1])  # scheme is case-insensitive
    refused = [
        None,
        "",
        basic("finesse", PASSWORD + "x"),
        basic("finesse", PASSWORD[:-1]),
        basic("Finesse", PASSWORD),  # a SQL Server login name is compared exactly here
        basic("sa", PASSWORD),
        basic("finesse", ""),
        basic("", PASSWORD),
        f"Bearer {PASSWORD}",
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no colon at all").decode(),
        "Basic " + base64.b64encode(b"finesse:\xff\xfe").decode(),  # not UTF-8
        "Basic " + base64.b64encode(f"finesse:{PASSWORD}".encode()).decode() + "é",  # not ASCII
    ]
    for header in refused:
        assert not login.accepts(header), header


def test_a_password_with_a_colon_and_non_ascii_is_fine() -> None:
    login = Login("finesse", "pa:ss wörd")
    assert login.accepts(basic("finesse", "pa:ss wörd"))
    assert not login.accepts(basic("finesse", "pa:ss word"))


def test_both_parts_are_compared_in_constant_time_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    login = Login("finesse", PASSWORD)
    assert not login.accepts(basic("intruder", PASSWORD))
    # The password is checked even though the user was wrong: no timing tells which part failed.
    assert calls == [(b"intruder", b"finesse"), (PASSWORD.encode(), PASSWORD.encode())]


def test_login_names_that_basic_cannot_carry_are_refused() -> None:
    assert check_user("finesse") == "finesse"
    for bad in ("", "fin:esse", "fin\nesse", "\x7f"):
        with pytest.raises(ValueError, match="AWDB login user"):
            check_user(bad)


def test_password_files(tmp_path: Path) -> None:
    good = tmp_path / "awdb-password"
    good.write_text(f"  {PASSWORD}\n")
    assert read_password_file(good) == PASSWORD
    empty = tmp_path / "empty"
    empty.write_text("\n")
    control = tmp_path / "control"
    control.write_text("abc\x00def\n")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe")
    for path, message in (
        (empty, "is empty"),
        (control, "control characters"),
        (binary, "binary"),
        (tmp_path / "missing", "missing"),
    ):
        with pytest.raises(ValueError, match=message):
            read_password_file(path)


def test_refusals_are_logged_once_per_peer_and_the_memory_of_peers_is_bounded() -> None:
    peers = PeerLog(limit=3)
    assert [peers.note(p) for p in ("a", "a", "b", "c", "a")] == ["first", None, "first", "first", None]
    assert peers.note("d") == "limit"  # said once...
    assert [peers.note(p) for p in ("e", "d", "a")] == [None, None, None]  # ...then nothing more


def test_the_standalone_stub_serves_an_open_api_only_on_loopback(tmp_path: Path) -> None:
    parse = build_parser().parse_args
    assert query_login(parse(["--host", "127.0.0.1"])) is None
    assert query_login(parse(["--host", "127.0.24.3"])) is None
    for host in ("0.0.0.0", "", "192.0.2.1"):
        with pytest.raises(ValueError, match="without a login: give --login-password-file"):
            query_login(parse(["--host", host]))
    file = tmp_path / "awdb-password"
    file.write_text(PASSWORD + "\n")
    login = query_login(parse(["--host", "0.0.0.0", "--login-password-file", str(file)]))
    assert login is not None and login.user == "finesse" and login.accepts(basic("finesse", PASSWORD))
    other = query_login(parse(["--login-user", "awdb_reader", "--login-password-file", str(file)]))
    assert other is not None and other.accepts(basic("awdb_reader", PASSWORD))
    with pytest.raises(ValueError, match="AWDB login user"):
        query_login(parse(["--login-user", "a:b", "--login-password-file", str(file)]))


def test_the_node_side_login_comes_from_its_config_keys(tmp_path: Path) -> None:
    assert awdb_login("finesse", None) is None
    file = tmp_path / "awdb-password"
    file.write_text(PASSWORD + "\n")
    auth = awdb_login("finesse", str(file))
    assert auth is not None and auth.user == "finesse" and PASSWORD not in repr(auth)
    assert auth.header == basic("finesse", PASSWORD)
    assert Login("finesse", PASSWORD).accepts(auth.header)  # what the client sends, the stub takes
    with pytest.raises(ValueError, match="missing"):
        awdb_login("finesse", str(tmp_path / "missing"))


def test_a_node_with_an_unreadable_awdb_password_file_stops_at_once_saying_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finesse_emu.server.__main__ import main as node_main

    config = tmp_path / "finesse-a.yaml"
    missing = tmp_path / "awdb-password"
    config.write_text(f"name: finesse-a\nhost: 127.0.0.1\nawdb_password_file: {missing}\n")
    assert node_main(["--config", str(config)]) == 2
    assert f"AWDB password file {missing}" in capsys.readouterr().err
    missing.write_text(PASSWORD + "\n")
    config.write_text(f"name: finesse-a\nhost: 127.0.0.1\nawdb_user: 'a:b'\nawdb_password_file: {missing}\n")
    assert node_main(["--config", str(config)]) == 2
    assert "AWDB login user 'a:b'" in capsys.readouterr().err
