"""Where the client-path proxy puts a node (finesse_emu/deployment/launcher.py): behind it, the node
and its Prosody listen on the internal address and the node is known by its public one; without it
(`up --no-client-proxy`), everything is as before."""

from __future__ import annotations

from pathlib import Path

import yaml

from finesse_emu.deployment.launcher import Deployment
from finesse_emu.deployment.topology import EDGE_ADMIN_PORT, FINESSE_A, edge_name, internal


def node_config(d: Deployment) -> dict[str, object]:
    d.run_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = yaml.safe_load(d._node_config(d.ep(FINESSE_A), "publisher").read_text())
    return config


def test_behind_the_proxy_the_node_listens_inside_and_is_known_outside(tmp_path: Path) -> None:
    d = Deployment(tmp_path / "run", network="127.0.103")
    assert internal(d.ep(FINESSE_A)).host == "127.0.103.107" and edge_name(FINESSE_A) == "edge-a"
    c = node_config(d)
    assert (c["host"], c["xmpp_host"]) == ("127.0.103.107", "127.0.103.107")
    assert (c["admin_host"], c["xmpp_domain"], c["primary_host"]) == ("127.0.103.7",) * 3
    assert d.prosody("xmpp-a", d.ep(FINESSE_A)).host == "127.0.103.107"
    argv = d.edge_argv(d.ep(FINESSE_A))
    assert argv[argv.index("--admin-host") + 1 :][:3] == ["127.0.103.7", "--admin-port", str(EDGE_ADMIN_PORT)]
    routes = [argv[i + 1] for i, a in enumerate(argv) if a == "--route"]
    # Finesse 12.6 (the default): XMPP over direct TLS, but no HTTPS BOSH (7443) on Prosody.
    assert routes == [
        "rest=127.0.103.7:8082,127.0.103.107:8082",
        "rest_https=127.0.103.7:8445,127.0.103.107:8445",
        "xmpp=127.0.103.7:5222,127.0.103.107:5222",
        "bosh=127.0.103.7:7071,127.0.103.107:7071",
        "xmpp_tls=127.0.103.7:5223,127.0.103.107:5223",
    ]


def test_release_12_5_proxies_its_secure_xmpp_ports_too(tmp_path: Path) -> None:
    d = Deployment(tmp_path / "run", network="127.0.103", node_options={"version": "12.5"})
    assert set(d.edge_routes(d.ep(FINESSE_A))) == {
        "rest",
        "rest_https",
        "xmpp",
        "xmpp_tls",
        "bosh",
        "bosh_https",
    }


def test_without_the_proxy_the_node_is_where_it_was(tmp_path: Path) -> None:
    d = Deployment(tmp_path / "run", network="127.0.103", client_proxy=False)
    c = node_config(d)
    assert (c["host"], c["xmpp_host"]) == ("127.0.103.7", "127.0.103.7")
    assert "admin_host" not in c and "xmpp_domain" not in c
    assert d.prosody("xmpp-a", d.ep(FINESSE_A)).host == "127.0.103.7"
