"""finesse-emu up --config FILE: what the file may say, and the errors for what it may not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from finesse_emu.deployment.launcher import Deployment, load_settings
from finesse_emu.deployment.topology import AWDB_A, FINESSE_A


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


def test_the_awdb_is_given_the_same_desk_settings_as_the_cti_stub(tmp_path: Path) -> None:
    """One value for the deployment: the cti: wrap-up keys reach both the CTI stub (which applies
    them) and the AWDB (where the Finesse nodes read the User's settings)."""
    path = write(tmp_path, "cti: {load: 1, wrap_up_on_incoming: REQUIRED, wrap_up_time: 30}\n")
    options = load_settings(path)["cti_options"]
    argv = Deployment(tmp_path, 4, 0.01, "127.0.70", cti_options=options)._argv_awdb(AWDB_A)
    assert argv[argv.index("--wrap-up-on-incoming") + 1] == "REQUIRED"
    assert argv[argv.index("--wrap-up-time") + 1] == "30" and "--load" not in argv
    assert "--wrap-up-on-incoming" not in Deployment(tmp_path)._argv_awdb(AWDB_A)


def test_single_sign_on_settings_and_what_the_components_are_given(tmp_path: Path) -> None:
    assert "sso" not in load_settings(write(tmp_path, "sso: false\n"))
    assert load_settings(write(tmp_path, "sso: true\n"))["sso"] == {}
    sso = load_settings(write(tmp_path, "sso: {refresh_token_lifetime: 700, access_token_lifetime: 300}\n"))
    assert sso["sso"] == {"refresh_token_lifetime": 700.0, "access_token_lifetime": 300.0}
    for bad in ("sso: {refresh: 1}\n", "sso: {access_token_lifetime: 0}\n", "sso: yes please\n"):
        with pytest.raises(ValueError, match="sso"):
            load_settings(write(tmp_path, bad))
    dep = Deployment(tmp_path, 10, 0.01, "127.0.70", sso=sso["sso"])
    # The Identity Service: HTTPS on 8553 with a certificate of the deployment's CA, the signing key's
    # file, the directory and the lifetimes in emulated seconds (the component scales them).
    argv = dep._argv_ids()
    assert argv[:2] == ["-m", "finesse_emu.ids"] and "127.0.70.13" in argv and "8553" in argv
    assert argv[argv.index("--signing-key-file") + 1] == str(tmp_path / "sso-signing-key")
    assert argv[argv.index("--cert-file") + 1] == str(tmp_path / "ids.crt")
    assert argv[argv.index("--refresh-token-lifetime") + 1] == "700.0"
    assert "ids" in dep.node_hosts() and "ids" not in Deployment(tmp_path).node_hosts()
    # Both nodes in SSO mode with the same key.
    config = yaml.safe_load(dep._node_config(dep.ep(FINESSE_A), "publisher").read_text())
    assert (config["auth_mode"], config["sso_signing_key_file"]) == ("SSO", str(tmp_path / "sso-signing-key"))
    assert "auth_mode" not in yaml.safe_load(
        Deployment(tmp_path)._node_config(dep.ep(FINESSE_A), "p").read_text()
    )


def test_the_status_table_says_how_agents_sign_in_with_single_sign_on() -> None:
    from finesse_emu.deployment.launcher import render_table

    ids = {"name": "ids", "role": "ids", "host": "127.0.70.13", "state": "running", "ports": {"ids": 8553}}
    agent = {"id": "1000", "password": "pass1000", "login": "agent0001", "extension": "2000"}
    report = {"components": [ids], "sample_agents": [agent], "admin_token_file": None}
    table = render_table(report)
    assert "single sign-on at the Identity Service id:password" in table
    assert "https://127.0.70.13:8553/ids/v1/oauth/authorize" in table
    assert "Basic auth id:password" in render_table({**report, "components": []})
