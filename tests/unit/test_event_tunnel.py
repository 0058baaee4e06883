"""The EventTunnel's files and how Prosody is configured to serve them (no process started; the
browser tests are tests/integration/test_event_tunnel_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from finesse_emu.xmpp.event_tunnel import FILES, PAGE, SCRIPT, TUNNEL_PATH, install_tunnel, tunnel_file
from finesse_emu.xmpp.prosody import ProsodyConfig, prepare_run_dir, render_config


def option(text: str, name: str) -> str | None:
    m = re.search(rf"^{name} = (.*)$", text, re.MULTILINE)
    return m.group(1) if m else None


def test_prosody_serves_the_tunnel_folder_at_tunnel(tmp_path: Path) -> None:
    cfg = ProsodyConfig(domain="finesse-a.emu.test", run_dir=tmp_path)
    text = render_config(cfg)
    assert '"http_files";' in (option(text, "modules_enabled") or "")
    assert f'files = "{TUNNEL_PATH}";' in (option(text, "http_paths") or "")
    assert option(text, "http_files_dir") == f'"{tmp_path}/tunnel"'
    prepare_run_dir(cfg)
    for name in FILES:
        assert (tmp_path / "tunnel" / name).read_bytes() == tunnel_file(name)


def test_a_server_that_is_not_a_notification_service_serves_no_tunnel(tmp_path: Path) -> None:
    cfg = ProsodyConfig(domain="cup.emu.test", run_dir=tmp_path, event_tunnel=False)
    text = render_config(cfg)
    assert "http_files" not in text and "/tunnel" not in text
    prepare_run_dir(cfg)
    assert not (tmp_path / "tunnel").exists()


def test_the_page_loads_the_script_and_starts_the_tunnel(tmp_path: Path) -> None:
    page = tunnel_file(PAGE).decode()
    assert f'<script src="{TUNNEL_PATH}/{SCRIPT}"></script>' in page  # also right at /tunnel
    assert "new finesse.EventTunnel().init()" in page
    script = tunnel_file(SCRIPT).decode()
    # The documented message types, by value.
    for name, value in (("EVENT", 0), ("CONNECT_REQ", 10), ("FINESSE_CONTAINER_CONFIG", 16)):
        assert re.search(rf"\b{name}: {value}\b", script), name
    assert install_tunnel(tmp_path / "t") == tmp_path / "t"
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == sorted(FILES)


def test_only_the_tunnels_files_are_served() -> None:
    with pytest.raises(KeyError):
        tunnel_file("../prosody.py")
