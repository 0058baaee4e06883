"""The Update document, Prosody's generated configuration and account files (no process started)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET

from finesse_emu.server.publisher import NotificationPublisher
from finesse_emu.xmpp.envelope import update_document
from finesse_emu.xmpp.prosody import (
    DISABLED_SASL,
    ProsodyConfig,
    ProsodyError,
    agent_accounts,
    datamanager_encode,
    is_ip_literal,
    prepare_run_dir,
    render_config,
    service_password,
    write_accounts,
)

# -- Update document ---------------------------------------------------------------------------------


def test_update_document_children_and_upper_case_event() -> None:
    doc = update_document("<user><state>READY</state></user>", "put", "", "/finesse/api/User/1000")
    root = SafeET.fromstring(doc)
    assert root.tag == "Update"
    assert [c.tag for c in root] == ["data", "event", "requestId", "source"]
    assert root.findtext("event") == "PUT"
    assert root.find("requestId") is not None and root.findtext("requestId") == ""  # always present
    assert root.findtext("source") == "/finesse/api/User/1000"
    assert root.findtext("data/user/state") == "READY"


@pytest.mark.parametrize("event", ["POST", "PUT", "DELETE", "delete"])
def test_update_document_events(event: str) -> None:
    assert f"<event>{event.upper()}</event>" in update_document("<dialog/>", event, "r", "/s")


@pytest.mark.parametrize("event", ["GET", "PATCH", "", "PUTS"])
def test_update_document_rejects_other_events(event: str) -> None:
    with pytest.raises(ValueError, match="POST, PUT, DELETE"):
        update_document("<user/>", event, "", "/s")


def test_update_document_escapes_request_id_and_source() -> None:
    root = SafeET.fromstring(update_document("<user/>", "PUT", "a<b&c", "/x?y=1&z=2"))
    assert root.findtext("requestId") == "a<b&c"
    assert root.findtext("source") == "/x?y=1&z=2"


def test_error_update_follows_the_capture() -> None:
    root = SafeET.fromstring(update_document("<apiErrors/>", "PUT", "rq", "/finesse/api/User/1", error=True))
    assert [c.tag for c in root] == ["data", "requestId", "source", "event"]
    assert root.findtext("event") == "put"


def test_item_ids_are_a_per_node_uuid_and_a_sequence() -> None:
    pub = NotificationPublisher("127.0.0.1", 5222, "emu.test", "pw")
    a1, a2 = pub.next_item_id("/a"), pub.next_item_id("/a")
    b1 = pub.next_item_id("/b")
    m1 = re.fullmatch(r"([0-9a-f-]{36})(\d+)", a1)
    m2 = re.fullmatch(r"([0-9a-f-]{36})(\d+)", a2)
    assert m1 and m2 and m1.group(1) == m2.group(1)
    assert (m1.group(2), m2.group(2)) == ("1", "2")
    assert not b1.startswith(m1.group(1))


# -- Prosody configuration -------------------------------------------------------------------------


def cfg(tmp_path: Path, **kwargs: object) -> ProsodyConfig:
    return ProsodyConfig(domain="finesse-a.emu.test", run_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def option(text: str, name: str) -> str:
    m = re.search(rf"^{name} = (.*)$", text, re.MULTILINE)
    assert m, f"{name} missing"
    return m.group(1)


def test_config_binds_loopback_only(tmp_path: Path) -> None:
    text = render_config(cfg(tmp_path, host="127.0.10.5", c2s_port=15222, http_port=17071))
    for name in ("interfaces", "local_interfaces", "c2s_interfaces", "http_interfaces", "https_interfaces"):
        assert option(text, name) == '{ "127.0.10.5" }'
    assert option(text, "c2s_ports") == "{ 15222 }"
    assert option(text, "http_ports") == "{ 17071 }"
    for name in ("https_ports", "c2s_direct_tls_ports", "legacy_ssl_ports"):
        assert option(text, name) == "{ }"
    settings = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    assert "0.0.0.0" not in settings and '"*"' not in settings and "::" not in settings


def test_config_has_no_s2s(tmp_path: Path) -> None:
    text = render_config(cfg(tmp_path))
    assert option(text, "s2s_ports") == "{ }"
    assert option(text, "s2s_direct_tls_ports") == "{ }"
    assert '"s2s";' in option(text, "modules_disabled")
    assert '"s2s"' not in option(text, "modules_enabled")


def test_config_tuned_gc_log_and_paths(tmp_path: Path) -> None:
    c = cfg(tmp_path)
    text = render_config(c)
    assert option(text, "gc") == '{ mode = "incremental", threshold = 200, speed = 200 }'
    assert option(text, "log") == (
        f'{{ {{ levels = {{ min = "warn" }}, to = "file", filename = "{tmp_path}/prosody.log" }} }}'
    )
    assert option(text, "pidfile") == f'"{tmp_path}/prosody.pid"'
    assert option(text, "data_path") == f'"{tmp_path}/data"'
    assert option(text, "plugin_paths") == f'{{ "{tmp_path}/plugins" }}'
    assert option(text, "http_paths") == '{ websocket = "/ws"; bosh = "/http-bind"; files = "/tunnel"; }'
    assert option(text, "http_default_host") == '"finesse-a.emu.test"'
    assert option(text, "admins") == '{ "finesse@finesse-a.emu.test" }'
    assert 'VirtualHost "finesse-a.emu.test"' in text
    assert 'Component "pubsub.finesse-a.emu.test" "pubsub"' in text
    assert option(text, "daemonize") == "false"
    assert option(text, "c2s_require_encryption") == "false"
    assert option(text, "allow_unencrypted_plain_auth") == "true"


def test_config_checks_passwords_by_default(tmp_path: Path) -> None:
    text = render_config(cfg(tmp_path))
    assert option(text, "authentication") == '"internal_plain"'
    assert option(text, "default_storage") == '"memory"'
    assert option(text, "storage") == '{ accounts = "internal" }'
    assert "insecure" not in text
    assert '"finesse_roster";' in option(text, "modules_enabled")
    # PLAIN only: every SCRAM variant Prosody 0.12 offers with plain-text accounts is disabled.
    disabled = option(text, "disable_sasl_mechanisms")
    assert all(
        f'"{m}";' in disabled for m in ("SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "DIGEST-MD5")
    )
    assert '"PLAIN"' not in disabled and DISABLED_SASL[0] == "DIGEST-MD5"


def test_config_insecure_is_the_benchmark_baseline_only(tmp_path: Path) -> None:
    text = render_config(cfg(tmp_path, auth="insecure"))
    assert option(text, "authentication") == '"insecure"'
    assert option(text, "storage") == '"memory"'
    with pytest.raises(ValueError, match="internal_plain"):
        cfg(tmp_path, auth="anonymous")


def test_an_agent_cannot_take_the_service_account(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="finesse"):
        cfg(tmp_path, accounts={"1000": "pw", "Finesse": "mine now"})


def test_agent_accounts_are_the_directory_ids_and_passwords() -> None:
    accounts = agent_accounts(3)
    assert accounts == {"1000": "pass1000", "1001": "pass1001", "1002": "pass1002"}
    assert len(agent_accounts(None)) == 50  # the directory's default, as the AWDB and CTI stubs


def test_run_as_root(tmp_path: Path) -> None:
    assert "run_as_root = true" in render_config(cfg(tmp_path, run_as_root=True))
    assert "run_as_root =" not in render_config(cfg(tmp_path, run_as_root=False))


def test_ip_literal_domain(tmp_path: Path) -> None:
    text = render_config(ProsodyConfig(domain="127.0.10.7", run_dir=tmp_path, host="127.0.10.7"))
    assert 'VirtualHost "127.0.10.7"' in text and 'Component "pubsub.127.0.10.7" "pubsub"' in text
    assert is_ip_literal("127.0.10.7") and not is_ip_literal("finesse-a.emu.test")


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "::"])
def test_non_loopback_hosts_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        cfg(tmp_path, host=host)


@pytest.mark.parametrize("domain", ["", 'evil"domain', "a b", "x\ny", "[::1]"])
def test_bad_domains_refused(tmp_path: Path, domain: str) -> None:
    with pytest.raises(ValueError, match="domain"):
        ProsodyConfig(domain=domain, run_dir=tmp_path)


def test_lua_strings_are_escaped(tmp_path: Path) -> None:
    text = render_config(ProsodyConfig(domain="emu.test", run_dir=tmp_path / 'we"ird\\dir'))
    assert '"' + str(tmp_path) + '/we\\034ird\\092dir/prosody.pid"' in text


# -- accounts (internal_plain) ---------------------------------------------------------------------


def test_datamanager_encoding() -> None:
    assert datamanager_encode("spike.local") == "spike%2elocal"
    assert datamanager_encode("127.0.10.7") == "127%2e0%2e10%2e7"
    assert datamanager_encode("agent_1") == "agent%5f1"


def test_write_accounts(tmp_path: Path) -> None:
    adir = tmp_path / "emu%2etest" / "accounts"
    adir.mkdir(parents=True)
    (adir / "1099.dat").write_text('return { ["password"] = "an earlier run\'s"; };\n')
    assert write_accounts(tmp_path, "emu.test", {"Agent1": 'p"w\\1', "1001": "x"}) == 2
    assert (adir / "agent1.dat").read_text() == 'return { ["password"] = "p\\034w\\0921"; };\n'
    assert (adir / "1001.dat").read_text() == 'return { ["password"] = "x"; };\n'
    # Exactly these accounts (an agent of an earlier run is gone), readable by their owner only.
    assert sorted(p.name for p in adir.iterdir()) == ["1001.dat", "agent1.dat"]
    assert {p.stat().st_mode & 0o777 for p in adir.iterdir()} == {0o600} and adir.stat().st_mode & 0o077 == 0


def test_prepare_run_dir(tmp_path: Path) -> None:
    secret = tmp_path / "xmpp-password"
    secret.write_text("fpw\n")
    c = cfg(tmp_path / "run", accounts={"1000": "pw"}, service_password_file=secret)
    prepare_run_dir(c)
    assert (c.plugin_dir / "mod_finesse_roster.lua").read_text().startswith("-- mod_finesse_roster")
    assert (c.run_dir / "certs").is_dir()
    assert c.config_path.read_text() == render_config(c)
    accounts = c.data_path / "finesse%2da%2eemu%2etest" / "accounts"
    assert sorted(p.name for p in accounts.iterdir()) == ["1000.dat", "finesse.dat"]
    assert '"fpw"' in (accounts / "finesse.dat").read_text()
    assert "fpw" not in c.config_path.read_text() and "pw" not in repr(c)
    assert c.data_path.stat().st_mode & 0o777 == 0o700


def test_service_password_file(tmp_path: Path) -> None:
    # Not given: <run_dir>/xmpp-password, random, made once (0600) and kept across restarts.
    c = cfg(tmp_path / "run")
    first = service_password(c)
    assert len(first) >= 32 and service_password(c) == first
    assert (tmp_path / "run" / "xmpp-password").stat().st_mode & 0o777 == 0o600
    assert service_password(cfg(tmp_path / "other")) != first
    # Given: it must exist and hold one line.
    with pytest.raises(ProsodyError, match="missing"):
        service_password(cfg(tmp_path, service_password_file=tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ProsodyError, match="one non-empty line"):
        service_password(cfg(tmp_path, service_password_file=tmp_path / "empty"))
