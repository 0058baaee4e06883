"""The pure parts of finesse_emu.testing: the free /24 choice, the plugin's options, the healing
bookkeeping, the addresses read from a deployment.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from finesse_emu.testing.deployment import addresses_from_state
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
