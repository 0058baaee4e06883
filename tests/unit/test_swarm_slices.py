"""Swarm helpers: slices cover every agent exactly once; URLs and slices are validated."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finesse_emu.desktop.swarm import endpoint_from_url, parse_slice, take_slice


@given(st.integers(0, 3000), st.integers(1, 64))
def test_slices_partition_the_agents(n: int, k: int) -> None:
    items = list(range(n))
    parts = [take_slice(items, i, k) for i in range(k)]
    assert [x for part in parts for x in part] == items
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


@pytest.mark.parametrize("bad", ["", "1", "2/2", "-1/3", "a/b", "1/0", "1/2/3"])
def test_bad_slices_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_slice(bad)


def test_endpoint_from_url() -> None:
    ep = endpoint_from_url("finesse-a", "http://127.0.10.7:8082/desktop", 5222)
    assert (ep.base_url, ep.xmpp_host, ep.xmpp_port, ep.domain) == (
        "http://127.0.10.7:8082",
        "127.0.10.7",
        5222,
        "127.0.10.7",
    )
    with pytest.raises(ValueError):
        endpoint_from_url("x", "ftp://host")


def test_endpoint_with_a_separate_notification_service() -> None:
    ep = endpoint_from_url("finesse-a", "http://finesse-a:8082", 5222, "xmpp-a")
    assert (ep.xmpp_host, ep.xmpp_port, ep.domain) == ("xmpp-a", 5222, "finesse-a")
    assert endpoint_from_url("b", "http://b:8082", 5222, "x:5333").xmpp_port == 5333
    with pytest.raises(ValueError):
        endpoint_from_url("b", "http://b:8082", 5222, "x:port")
