"""finesse-emu up --config FILE: what the file may say, and the errors for what it may not."""

from __future__ import annotations

from pathlib import Path

import pytest

from finesse_emu.deployment.launcher import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(text)
    return path


def test_settings_with_cti_options_and_an_agent_file(tmp_path: Path) -> None:
    (tmp_path / "agents.yaml").write_text("- {id: '5000', password: secret, extension: '7000'}\n")
    path = write(
        tmp_path,
        "agents: agents.yaml\ntime_scale: 0.1\nnetwork: 127.0.33\n"
        "cti: {load: 1, idle_mode: standby, mrd_auto_restore: true}\n",
    )
    settings = load_settings(path)
    assert settings["agents"] == str(tmp_path / "agents.yaml")
    assert (settings["time_scale"], settings["network"]) == (0.1, "127.0.33")
    assert settings["cti_options"] == ["--load", "1", "--idle-mode", "standby", "--mrd-auto-restore"]


def test_wrap_up_settings_become_cti_stub_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path, "cti: {wrap_up_on_incoming: REQUIRED, wrap_up_on_outgoing: OPTIONAL, wrap_up_time: 30}\n"
    )
    assert load_settings(path)["cti_options"] == [
        "--wrap-up-on-incoming",
        "REQUIRED",
        "--wrap-up-on-outgoing",
        "OPTIONAL",
        "--wrap-up-time",
        "30",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agent: 5\n", "unknown keys"),
        ("agents: missing.yaml\n", "not found"),
        ("time_scale: 0\n", "time_scale"),
        ("network: 10.0.0\n", "loopback"),
        ("cti: {load: 2}\n", "cti.load"),
        ("cti: {idle_mode: asleep}\n", "idle_mode"),
        ("cti: {colour: red}\n", "cti takes"),
        ("cti: {wrap_up_on_incoming: SOMETIMES}\n", "cti.wrap_up_on_incoming"),
        ("cti: {wrap_up_time: 0}\n", "cti.wrap_up_time"),
        ("- a list\n", "mapping"),
        ("agents: [1, 2\n", "deployment.yaml"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(write(tmp_path, text))


def test_node_settings_for_same_origin_hosting_and_cors(tmp_path: Path) -> None:
    (tmp_path / "gadgets").mkdir()
    path = write(
        tmp_path,
        "agents: 12+chat+email\n"
        "finesse: {thirdparty_dir: gadgets, cors_origins: ['HTTPS://Page.example:443/', 'http://127.0.0.1:8000']}\n",
    )
    settings = load_settings(path)
    assert settings["agents"] == "12+chat+email"  # a generated directory's spec, not an agent file
    # The folder is relative to the file that names it; origins are kept as browsers send them.
    assert settings["node_options"]["thirdparty_dir"] == str(tmp_path / "gadgets")
    assert settings["node_options"]["cors_origins"] == ["https://page.example", "http://127.0.0.1:8000"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("voice_only: true\n", "unknown keys"),  # voice-only is the default now
        ("agents: 12+fax\n", "unknown MRD"),
        ("finesse: {thirdparty_dir: nowhere}\n", "not a directory"),
        ("finesse: {cors_origins: '*'}\n", "wrong type"),
        ("finesse: {cors_origins: ['*']}\n", "not an origin"),
        ("finesse: {cors_origins: [42]}\n", "list of origins"),
    ],
)
def test_bad_node_settings_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(write(tmp_path, text))
