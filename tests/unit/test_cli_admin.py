"""``finesse-emu admin`` (issue 17): what it sends for each command line, and where the
administrator's credentials come from (a file or the environment, never the command line, never
printed). Against real processes: tests/e2e/test_admin_processes.py."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from finesse_emu import cli
from finesse_emu.cli import admin as A


def args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["admin", *argv])


def test_set_sends_only_the_named_fields_under_their_element() -> None:
    method, path, body = A.request(
        args("set", "system-config", "backupHost=cti-b.example", "backupPort=43027")
    )
    assert (method, path) == ("PUT", "/SystemConfig")
    assert body is not None
    root = ET.fromstring(body)
    cti = root.find("cti")
    assert root.tag == "SystemConfig" and cti is not None
    assert [c.tag for c in cti] == ["backupHost", "backupPort"]
    method, path, body = A.request(args("set", "cluster-config", "host=b.example"))
    assert body is not None and ET.fromstring(body).findtext("secondaryNode/host") == "b.example"
    method, path, body = A.request(
        args("set", "cors-config", "origin=https://a.example", "origin=https://b.example")
    )
    assert body is not None and [e.text for e in ET.fromstring(body).iter("origin")] == [
        "https://a.example",
        "https://b.example",
    ]
    # Values are escaped, whatever they hold.
    _, _, body = A.request(args("create", "reason-codes", "category=NOT_READY", "code=9", "label=<&>"))
    assert body is not None and ET.fromstring(body).findtext("label") == "<&>"


def test_entries_by_id() -> None:
    assert A.request(args("get", "reason-codes")) == ("GET", "/ReasonCodes", None)
    assert A.request(args("get", "default-layout")) == ("GET", "/LayoutConfig/default", None)
    assert A.request(args("get", "wrapup-reasons", "id=3")) == ("GET", "/WrapUpReason/3", None)
    assert A.request(args("delete", "reason-codes", "id=100000")) == ("DELETE", "/ReasonCode/100000", None)
    method, path, _ = A.request(args("set", "wrapup-reasons", "id=4", "label=x"))
    assert (method, path) == ("PUT", "/WrapUpReason/4")
    for wrong in (
        ("delete", "system-config"),
        ("set", "reason-codes", "label=x"),
        ("set", "system-config"),
        ("set", "default-layout", "layoutxml=x"),
    ):
        with pytest.raises(cli.CannotRun):
            A.request(args(*wrong))
    with pytest.raises(cli.CannotRun):
        A.request(args("set", "system-config", "no-equals-sign"))


def test_credentials_from_a_file_or_the_environment_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(A.USER_ENV, raising=False)
    monkeypatch.delenv(A.PASSWORD_ENV, raising=False)
    no_node = ["--url", "http://127.0.0.1:1"]  # nothing listens: the request cannot go out
    assert cli.main(["admin", "get", "system-config", *no_node]) == cli.EXIT_USAGE
    assert "no administrator credentials" in capsys.readouterr().err
    secret = tmp_path / "creds"
    secret.write_text("admin:Sup3r-secret\n")
    assert A.credentials(secret) == ("admin", "Sup3r-secret")
    assert (
        cli.main(["admin", "get", "system-config", "--credentials", str(secret), *no_node]) == cli.EXIT_USAGE
    )
    out = capsys.readouterr()
    assert "Sup3r-secret" not in out.out + out.err and "127.0.0.1:1" in out.err
    monkeypatch.setenv(A.USER_ENV, "admin")
    monkeypatch.setenv(A.PASSWORD_ENV, "from-env")
    assert A.credentials(None) == ("admin", "from-env")
    (tmp_path / "bad").write_text("no colon here\n")
    with pytest.raises(cli.CannotRun):
        A.credentials(tmp_path / "bad")
    # Without --url, the running deployment's publisher; none running: exit 2.
    assert cli.main(["admin", "get", "system-config", "--run-dir", str(tmp_path)]) == cli.EXIT_USAGE
    assert "no deployment running" in capsys.readouterr().err
