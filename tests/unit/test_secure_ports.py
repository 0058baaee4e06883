"""The secure notification ports: which a Finesse release offers, Prosody's configuration of them,
and what SystemInfo advertises (only what listens; 12.5's node elements hold only <host>)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from defusedxml import ElementTree as DET

from emu_base.timers import Timers
from finesse_emu.deployment.launcher import Deployment, node_options
from finesse_emu.server import xml as X
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.core.views import CtiInfo, system_info_view
from finesse_emu.server.cors import CorsPolicy
from finesse_emu.server.status import ServiceState
from finesse_emu.server.versions import DEFAULT_VERSION, check_version, offers
from finesse_emu.server.ws_proxy import origin_allowed
from finesse_emu.xmpp.prosody import ProsodyConfig, render_config

CERT, KEY = Path("/run/x/finesse-a.crt"), Path("/run/x/finesse-a.key")


def lines(cfg: ProsodyConfig) -> list[str]:
    return render_config(cfg).splitlines()


# -- the releases ----------------------------------------------------------------------------------
def test_the_release_decides_the_secure_ports() -> None:
    assert DEFAULT_VERSION == "12.6"
    old, new = offers("12.5"), offers("12.6")
    assert (old.notification_https, old.xmpp_direct_tls, old.web_port_websocket) == (True, True, False)
    # "Starting Cisco Finesse 12.6(1) ... the usage of port 7443 are deprecated": 8445's /ws/ instead.
    assert (new.notification_https, new.xmpp_direct_tls, new.web_port_websocket) == (False, True, True)
    assert not old.system_info_ports and new.system_info_ports


@pytest.mark.parametrize("given", ["12.5", 12.5, "12.6", 12.6])
def test_a_release_is_read_as_text_or_a_yaml_number(given: object) -> None:
    assert check_version(given) == str(given)


@pytest.mark.parametrize("given", ["12.0", "15.0", 12, True, None, "12.5 "])
def test_an_unknown_release_is_refused(given: object) -> None:
    with pytest.raises(ValueError, match=r"12\.5, 12\.6"):
        check_version(given)
    with pytest.raises(ValueError, match=r"finesse.version"):
        node_options({"version": given}, "deployment.yaml")


def test_the_node_config_checks_its_release() -> None:
    assert NodeConfig().version == "12.6"
    assert NodeConfig(version=12.5).version == "12.5"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finesse version"):
        NodeConfig(version="11.6")


# -- Prosody's configuration ---------------------------------------------------------------------
def test_prosody_has_no_secure_port_unless_given() -> None:
    text = lines(ProsodyConfig(domain="127.0.0.1", run_dir=Path("/run/x")))
    assert "c2s_direct_tls_ports = { }" in text and "https_ports = { }" in text
    assert not [line for line in text if "_ssl = " in line or line.startswith("ssl")]


def test_prosody_listens_with_tls_on_the_given_ports_with_the_nodes_certificate() -> None:
    cfg = ProsodyConfig(
        domain="127.0.0.1",
        run_dir=Path("/run/x"),
        c2s_tls_port=5223,
        https_port=7443,
        tls_cert=CERT,
        tls_key=KEY,
    )
    text = lines(cfg)
    assert "c2s_direct_tls_ports = { 5223 }" in text
    assert 'interfaces = { "127.0.0.1" }' in text  # what c2s_direct_tls listens on
    assert "https_ports = { 7443 }" in text and 'https_interfaces = { "127.0.0.1" }' in text
    ssl = f'{{ certificate = "{CERT}"; key = "{KEY}"; }}'
    assert f"c2s_direct_tls_ssl = {ssl}" in text and f"https_ssl = {ssl}" in text
    # Per listener, never the host's or the global one: the plain 5222 must not start offering STARTTLS.
    assert not [line for line in text if line.startswith("ssl")]
    assert "c2s_ports = { 5222 }" in text and "http_ports = { 7071 }" in text
    assert cfg.ports == [5222, 7071, 5223, 7443]


def test_a_secure_port_without_a_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        ProsodyConfig(domain="127.0.0.1", run_dir=Path("/run/x"), c2s_tls_port=5223)


@pytest.mark.parametrize(
    ("version", "tls", "https"), [("12.5", 5223, 7443), ("12.6", 5223, None), (None, 5223, None)]
)
def test_the_launchers_prosody_offers_what_the_release_offers(
    tmp_path: Path, version: str | None, tls: int, https: int | None
) -> None:
    from finesse_emu.deployment.topology import FINESSE_A

    options = {} if version is None else {"version": version}
    d = Deployment(tmp_path, agents=2, node_options=options)
    cfg = d.prosody("xmpp-a", d.ep(FINESSE_A)).config
    assert (cfg.c2s_tls_port, cfg.https_port) == (tls, https)
    secrets = d.secrets_dir.resolve()
    assert (cfg.tls_cert, cfg.tls_key) == (secrets / "finesse-a.crt", secrets / "finesse-a.key")
    # IM&P is not Finesse's: no secure port, no certificate of the node's.
    imp = d.prosody("imp-a", d.ep(FINESSE_A), domain="imp.test").config
    assert imp.tls_ports == [] and imp.tls_cert is None


# -- SystemInfo ------------------------------------------------------------------------------------
def system_info(**config: object) -> ET.Element:
    cfg = NodeConfig(host="127.0.10.7", primary_host="127.0.10.7", secondary_host="127.0.10.8", **config)  # type: ignore[arg-type]
    cti = CtiInfo(active_side=None, up_at=None, heartbeat_ok=True, heartbeat_ok_wall=None)
    view = system_info_view(cfg, Timers(), ServiceState(0.0), 8445, cti, 0.0, 1.7e9)
    return DET.fromstring(X.system_info(view))


def node_fields(doc: ET.Element, tag: str) -> dict[str, str]:
    el = doc.find(tag)
    assert el is not None
    return {child.tag: child.text or "" for child in el}


def test_a_126_node_advertises_the_secure_xmpp_port_only_when_its_prosody_listens_on_it() -> None:
    listening = system_info(xmpp_host="127.0.10.7", xmpp_secure_port=5223)
    for tag in ("primaryNode", "secondaryNode"):
        assert node_fields(listening, tag) == {
            "host": "127.0.10.7" if tag == "primaryNode" else "127.0.10.8",
            "httpsPort": "8445",
            "xmppPort": "5222",
            "xmppSecurePort": "5223",
        }
    # No TLS port configured: nothing listens on 5223, so none is advertised (the old code said 5223).
    assert "xmppSecurePort" not in node_fields(system_info(xmpp_host="127.0.10.7"), "primaryNode")
    # No Notification Service at all: no XMPP port.
    assert node_fields(system_info(), "primaryNode") == {"host": "127.0.10.7", "httpsPort": "8445"}


def test_a_125_node_element_holds_only_its_host() -> None:
    doc = system_info(version="12.5", xmpp_host="127.0.10.7", xmpp_secure_port=5223)
    assert node_fields(doc, "primaryNode") == {"host": "127.0.10.7"}
    assert node_fields(doc, "secondaryNode") == {"host": "127.0.10.8"}


# -- the web port's WebSocket: whose pages may use it ---------------------------------------------
def test_the_web_port_websocket_takes_its_own_origin_and_the_allowed_ones_only() -> None:
    own = "https://127.0.10.7:8445"
    off, on = CorsPolicy(), CorsPolicy.of(["https://crm.example"])
    assert origin_allowed(None, own, off)  # not a browser
    assert origin_allowed("https://127.0.10.7:8445", own, off)
    assert origin_allowed("HTTPS://127.0.10.7:8445", own, off)
    assert not origin_allowed("https://crm.example", own, off)  # CORS off: Finesse's default
    assert origin_allowed("https://crm.example", own, on)
    assert not origin_allowed("http://127.0.10.7:8445", own, on)  # another scheme is another origin
    assert not origin_allowed("null", own, on)
