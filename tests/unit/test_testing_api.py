"""The pure parts of finesse_emu.testing: the free /24 choice, the plugin's options, the healing
bookkeeping, the addresses read from a deployment.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finesse_emu.deployment.launcher import STATE_FILE
from finesse_emu.testing.deployment import Deployment, DeploymentError, addresses_from_state
from finesse_emu.testing.healing import ClearFault, Healing, Restart, Resume
from finesse_emu.testing.network import FIRST, LAST, NetworkClaim, candidates, claim_network, pick, try_lock
from finesse_emu.testing.plugin import Settings, pytest_configure, settings_from


# -- the free /24 ------------------------------------------------------------------------------------
def test_candidates_are_the_tests_range_and_never_ups_default() -> None:
    nets = candidates()
    assert nets[0] == f"127.0.{FIRST}" and nets[-1] == f"127.0.{LAST}" and len(nets) == LAST - FIRST + 1
    assert "127.0.10" not in nets


def test_pick_skips_locked_and_busy_networks_and_releases_the_busy_ones_lock() -> None:
    released: list[str] = []

    class Claim(NetworkClaim):
        def release(self) -> None:
            released.append(self.network)

    def lock(net: str) -> NetworkClaim | None:
        return None if net == "127.0.150" else Claim(net)

    def busy(net: str) -> str | None:
        return "127.0.151.7:8082" if net == "127.0.151" else None

    claim = pick(["127.0.150", "127.0.151", "127.0.152", "127.0.153"], lock, busy)
    assert claim.network == "127.0.152"
    assert released == ["127.0.151"]  # the busy one's lock given back; the chosen one kept


def test_pick_says_what_it_saw_when_no_network_is_left() -> None:
    with pytest.raises(RuntimeError, match=r"127\.0\.151 in use \(x\)") as info:
        pick(
            ["127.0.150", "127.0.151"],
            lambda n: None if n.endswith("150") else NetworkClaim(n),
            lambda n: "x",
        )
    assert "127.0.150 locked by another session" in str(info.value)


def test_a_network_locked_once_is_refused_to_a_second_claim_until_released(tmp_path: Path) -> None:
    first = try_lock("127.0.160", tmp_path)
    assert first is not None
    assert try_lock("127.0.160", tmp_path) is None  # flock: another open file, even in this process
    other = try_lock("127.0.161", tmp_path)
    assert other is not None
    first.release()
    again = try_lock("127.0.160", tmp_path)
    assert again is not None
    again.release()
    other.release()


def test_a_network_given_is_locked_and_a_bad_one_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINESSE_EMU_NETWORK_LOCKS", str(tmp_path))
    claim = claim_network("127.0.170")
    try:
        assert claim.network == "127.0.170"
        with pytest.raises(RuntimeError, match="held by another test session"):
            claim_network("127.0.170")
    finally:
        claim.release()
    with pytest.raises(ValueError, match=r"127\.0\.N"):
        claim_network("10.0.0")


# -- the plugin's options ----------------------------------------------------------------------------
def options(**given: Any) -> Any:
    values = {
        "finesse_emu_attach": None,
        "finesse_emu_network": None,
        "finesse_emu_time_scale": "1.0",
        "finesse_emu_agents": "10",
        **given,
    }
    return values.__getitem__


def test_settings_default_to_a_started_deployment_of_ten_agents_in_real_time() -> None:
    assert settings_from(options()) == Settings(None, None, 1.0, 10)


def test_settings_take_each_option() -> None:
    got = settings_from(options(finesse_emu_network="127.0.180", finesse_emu_time_scale="0.2",
                                finesse_emu_agents="50+chat"))  # fmt: skip
    assert got == Settings(None, "127.0.180", 0.2, "50+chat")
    assert settings_from(options(finesse_emu_attach="run")).attach == Path("run")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"finesse_emu_time_scale": "fast"}, "--finesse-emu-time-scale must be a number"),
        ({"finesse_emu_time_scale": "0"}, "--finesse-emu-time-scale must be above 0"),
        ({"finesse_emu_time_scale": "-1"}, "above 0"),
        ({"finesse_emu_network": "192.168.1"}, "--finesse-emu-network: network must be a loopback"),
        ({"finesse_emu_attach": "run", "finesse_emu_network": "127.0.180"}, "exclude each other"),
    ],
)
def test_bad_options_are_refused_naming_the_option(given: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from(options(**given))


def test_a_bad_option_stops_pytest_with_a_usage_error() -> None:
    class Config:
        getoption = staticmethod(options(finesse_emu_time_scale="0"))

    with pytest.raises(pytest.UsageError, match="finesse-emu: --finesse-emu-time-scale must be above 0"):
        pytest_configure(Config())  # type: ignore[arg-type]
    pytest_configure(type("Fine", (), {"getoption": staticmethod(options())})())


# -- healing -----------------------------------------------------------------------------------------
def test_heal_resumes_then_restarts_then_clears_the_faults_of_components_still_up() -> None:
    h = Healing()
    h.injected("cti-a", "ignore_heartbeats-1")
    h.injected("finesse-a", "conference_glitch-1")
    h.froze("xmpp-b")
    h.stopped("finesse-a")  # its fault went with its process
    assert h.plan() == [
        Resume("xmpp-b"),
        Restart("finesse-a"),
        ClearFault("cti-a", "ignore_heartbeats-1"),
    ]


def test_heal_restarts_components_found_down_once_each() -> None:
    h = Healing()
    h.stopped("cti-a")
    assert h.plan(["cti-a", "awdb-b"]) == [Restart("cti-a"), Restart("awdb-b")]


def test_a_killed_frozen_component_is_restarted_not_resumed() -> None:
    h = Healing()
    h.froze("xmpp-a")
    h.stopped("xmpp-a")
    assert h.plan() == [Restart("xmpp-a")]


def test_what_the_test_undid_itself_is_not_undone_again() -> None:
    h = Healing()
    h.injected("cti-a", "f-1")
    h.cleared("cti-a", "f-1")
    h.froze("xmpp-a")
    h.resumed("xmpp-a")
    h.stopped("cti-b")
    h.injected("cti-b", "f-2")
    h.started("cti-b")  # restarted: no fault of its old process is left
    assert h.plan() == [] and h.clean


def test_forget_empties_the_books() -> None:
    h = Healing()
    h.injected("cti-a", "f-1")
    h.stopped("cti-b")
    assert not h.clean
    h.forget()
    assert h.clean and h.plan() == []


# -- addresses -----------------------------------------------------------------------------------------
def test_addresses_are_read_from_the_deployment_state() -> None:
    state = {
        "ca_file": "/run/ca.crt",
        "components": [
            {"name": "cti-a", "role": "cti", "host": "127.0.150.1", "ports": {"cti": 42027, "admin": 42029}},
            {"name": "awdb-b", "role": "awdb", "host": "127.0.150.4", "ports": {"awdb": 1433, "admin": 1434}},
            {"name": "xmpp-a", "role": "xmpp", "host": "127.0.150.7",
             "ports": {"xmpp": 5222, "http": 7071, "xmpp_tls": 5223}},
            {"name": "finesse-a", "role": "publisher", "host": "127.0.150.7",
             "ports": {"rest_http": 8082, "rest_https": 8445, "admin": 8089}},
            {"name": "finesse-b", "role": "subscriber", "host": "127.0.150.8",
             "ports": {"rest_http": 8082, "rest_https": 8445, "admin": 8089}},
        ],
    }  # fmt: skip
    a = addresses_from_state(state)
    assert a.network == "127.0.150" and a.ca_file == "/run/ca.crt"
    pub = a.publisher
    assert (pub.name, pub.rest_http, pub.rest_https) == (
        "finesse-a",
        "http://127.0.150.7:8082",
        "https://127.0.150.7:8445",
    )
    assert (pub.xmpp_host, pub.xmpp_port, pub.xmpp_tls_port, pub.xmpp_domain) == (
        "127.0.150.7",
        5222,
        5223,
        "127.0.150.7",
    )
    assert pub.bosh == "http://127.0.150.7:7071/http-bind" and pub.websocket == "ws://127.0.150.7:7071/ws"
    assert pub.control == "http://127.0.150.7:8089"
    assert a.subscriber.name == "finesse-b" and a.subscriber.xmpp_tls_port is None  # no xmpp-b listed
    assert (a.cti["cti-a"].host, a.cti["cti-a"].port, a.cti["cti-a"].control) == (
        "127.0.150.1",
        42027,
        "http://127.0.150.1:42029",
    )
    assert a.awdb["awdb-b"].url == "http://127.0.150.4:1433"


# -- where a fault goes ----------------------------------------------------------------------------
def _deployment(tmp_path: Path, *, proxy: bool = True) -> Deployment:
    node = {"ports": {"rest_http": 8082, "rest_https": 8445, "admin": 8089}}
    components: list[dict[str, Any]] = [
        {"name": "cti-a", "role": "cti", "host": "127.0.150.1", "ports": {"cti": 42027, "admin": 42029}},
        {"name": "finesse-a", "role": "publisher", "host": "127.0.150.7", **node},
        {"name": "finesse-b", "role": "subscriber", "host": "127.0.150.8", **node},
    ]
    if proxy:
        components += [
            {"name": "edge-a", "role": "edge", "host": "127.0.150.7", "ports": {"rest": 8082, "admin": 8090}},
            {"name": "edge-b", "role": "edge", "host": "127.0.150.8", "ports": {"rest": 8082, "admin": 8090}},
        ]
    (tmp_path / STATE_FILE).write_text(json.dumps({"components": components}))
    return Deployment(tmp_path, [])


def test_client_path_kinds_on_a_node_go_to_its_proxy_and_the_rest_stay(tmp_path: Path) -> None:
    d = _deployment(tmp_path)
    for kind in ("client_latency", "client_bandwidth", "client_slicer", "client_timeout", "client_reset"):
        assert d._fault_target("finesse-a", kind) == "edge-a"
        assert d._fault_target("finesse-b", kind) == "edge-b"
    assert d._fault_target("finesse-a", "rest_rule") == "finesse-a"
    assert d._fault_target("cti-a", "client_latency") == "cti-a"  # its control plane refuses it, as it says
    assert d._fault_target("finesse-a", "no_such_kind") == "finesse-a"  # likewise
    assert d.client_proxy("finesse-b") == "edge-b"


def test_without_the_proxy_a_client_path_fault_is_refused_with_the_reason(tmp_path: Path) -> None:
    d = _deployment(tmp_path, proxy=False)
    with pytest.raises(DeploymentError, match=r"finesse-a has no client-path proxy.*--no-client-proxy"):
        d._fault_target("finesse-a", "client_reset")
    assert d._fault_target("finesse-a", "rest_rule") == "finesse-a"


async def test_client_fault_takes_the_kind_with_or_without_its_prefix_and_only_on_a_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = _deployment(tmp_path)
    posted: list[tuple[str, str, dict[str, Any]]] = []

    async def inject(component: str, kind: str, **params: Any) -> str:
        posted.append((component, kind, params))
        return "f1"

    monkeypatch.setattr(d, "inject", inject)
    assert await d.client_fault("finesse-a", "latency", ms=5, port="rest") == "f1"
    await d.client_fault("finesse-b", "client_reset")
    await d.rest_rule("finesse-a", "/finesse/api/User/*", status=503)
    assert posted == [
        ("finesse-a", "client_latency", {"ms": 5, "port": "rest"}),
        ("finesse-b", "client_reset", {}),
        ("finesse-a", "rest_rule", {"path": "/finesse/api/User/*", "status": 503}),
    ]
    with pytest.raises(DeploymentError, match="no client-path fault 'jitter'; kinds: client_latency"):
        await d.client_fault("finesse-a", "jitter")
    with pytest.raises(DeploymentError, match="cti-a is not a Finesse node"):
        await d.client_fault("cti-a", "latency", ms=5)


def test_the_journal_reads_the_nodes_of_the_run_and_says_when_there_is_none(tmp_path: Path) -> None:
    d = _deployment(tmp_path)
    assert d.journal.nodes == {"finesse-a": "http://127.0.150.7:8089", "finesse-b": "http://127.0.150.8:8089"}
    assert d.journal is d.journal  # one reader (one HTTP session) for the deployment's life
    with pytest.raises(DeploymentError, match="no deployment readable"):
        _ = Deployment(tmp_path / "nowhere", []).journal
