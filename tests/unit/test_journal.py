"""The node's journal (finesse_emu/server/journal.py): the ring buffer, its queries, the entries;
and the client's near misses (finesse_emu/deployment/journal.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finesse_emu.deployment.journal import Journal as Reader
from finesse_emu.deployment.journal import JournalError, describe, near_misses
from finesse_emu.server.journal import BODY_LIMIT, TRUNCATED, Journal, Query, agents_of_node, truncate


def filled(size: int = 10) -> Journal:
    j = Journal(size)
    j.rest(100.0, "GET", "/finesse/api/User/1001", "", 200, "1001", 1.5, None, b"<User/>")
    j.rest(
        101.0,
        "PUT",
        "/finesse/api/User/1001",
        "",
        202,
        "1001",
        2.0,
        b"<User><state>READY</state></User>",
        b"",
    )
    j.notification(102.0, "/finesse/api/User/1001", "PUT", "<Update/>")
    j.rest(103.0, "GET", "/finesse/api/User/1002", "a=1", 401, None, 0.5)
    j.notification(104.0, "/finesse/api/Team/1/Users", "PUT", "<Update/>")
    return j


def test_entries_carry_seq_t_kind_and_their_fields() -> None:
    j = filled()
    entries = j.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5] and j.last_seq == 5
    put = entries[1]
    assert put == {
        "seq": 2,
        "t": 101.0,
        "kind": "rest",
        "method": "PUT",
        "path": "/finesse/api/User/1001",
        "query": "",
        "status": 202,
        "agent": "1001",
        "duration_ms": 2.0,
        "request_body": "<User><state>READY</state></User>",
        "response_body": "",
        "fault": None,
    }
    note = entries[2]
    assert note["kind"] == "notification" and note["agents"] == ["1001"] and note["verb"] == "PUT"
    assert note["error"] is False and note["body"] == "<Update/>"


def test_ring_buffer_keeps_the_newest_and_counts_the_dropped() -> None:
    j = Journal(3)
    for i in range(5):
        j.rest(float(i), "GET", f"/p/{i}", "", 200, None, 0.0)
    assert [e["path"] for e in j.entries()] == ["/p/2", "/p/3", "/p/4"]
    assert j.dropped == 2 and j.last_seq == 5
    assert j.clear() == 3 and j.entries() == [] and j.dropped == 0
    j.rest(9.0, "GET", "/p/9", "", 200, None, 0.0)
    assert j.entries()[0]["seq"] == 6  # numbers are never reused


def test_a_journal_of_size_zero_keeps_nothing() -> None:
    j = Journal(0)
    j.rest(0.0, "GET", "/", "", 200, None, 0.0)
    assert j.entries() == [] and j.dropped == 1
    with pytest.raises(ValueError):
        Journal(-1)


@pytest.mark.parametrize(
    ("params", "seqs"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"kind": "rest"}, [1, 2, 4]),
        ({"kind": "notification"}, [3, 5]),
        ({"agent": "1001"}, [1, 2, 3]),
        ({"method": "put"}, [2]),
        ({"path": "/finesse/api/User/*"}, [1, 2, 3, 4]),
        ({"path": "/finesse/api/Team/*"}, [5]),
        ({"since": "102"}, [3, 4, 5]),
        ({"after": "3"}, [4, 5]),
        ({"limit": "2"}, [4, 5]),
        ({"limit": "0"}, []),
        ({"status": "202"}, [2]),
        ({"status": "401", "limit": "5"}, [4]),
        ({"kind": "rest", "agent": "1001", "path": "/finesse/api/User/100?", "limit": "1"}, [2]),
    ],
)
def test_queries(params: dict[str, str], seqs: list[int]) -> None:
    assert [e["seq"] for e in filled().entries(Query.parse(params))] == seqs


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"kind": "xmpp"}, "kind: one of rest, notification"),
        ({"after": "x"}, "after: an integer"),
        ({"after": "-1"}, "after: a sequence number"),
        ({"since": "nan"}, "since: a finite number"),
        ({"limit": "1000001"}, "limit: 0..100000"),
        ({"limit": "1.5"}, "limit: an integer"),
        ({"agents": "1"}, "unknown parameter(s) ['agents']"),
    ],
)
def test_bad_queries_say_why(params: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=None) as exc:
        Query.parse(params)
    assert reason in str(exc.value)


def test_bodies_are_truncated_to_the_documented_limit() -> None:
    long = "x" * (BODY_LIMIT + 10)
    assert truncate(long) == "x" * BODY_LIMIT + TRUNCATED
    assert truncate(b"\xff<a/>") == "\ufffd<a/>" and truncate(None) is None
    j = Journal()
    j.notification(0.0, "/finesse/api/User/1/Dialogs", "POST", long, error=True)
    entry = j.entries()[0]
    assert entry["body"].endswith(TRUNCATED) and entry["error"] is True and entry["agents"] == ["1"]


def test_agents_of_a_node() -> None:
    assert agents_of_node("/finesse/api/User/1001") == ["1001"]
    assert agents_of_node("/finesse/api/User/1001/Media/5") == ["1001"]
    assert agents_of_node("/finesse/api/SystemInfo") == []


def test_near_misses_rank_the_closest_requests_first() -> None:
    entries = filled().entries(Query(kind="rest"))
    near = near_misses(entries, "PUT", "/finesse/api/User/1002", 202, None, n=2)
    # PUT on 1001 (same method, close path) before the GETs.
    assert [e["seq"] for e in near] == [2, 4]
    assert describe({**near[0], "node_name": "finesse-a"}) == (
        "#2 finesse-a PUT /finesse/api/User/1001 -> 202 agent=1001"
    )


def test_the_node_config_sizes_the_journal() -> None:
    from finesse_emu.server.config import NodeConfig

    assert NodeConfig().journal_size == 10_000 and NodeConfig(journal_size=0).journal_size == 0
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="journal_size"):
            NodeConfig(journal_size=bad)  # type: ignore[arg-type]


def test_the_client_finds_the_nodes_and_token_of_a_run(tmp_path: Path) -> None:
    token = tmp_path / "admin-token"
    token.write_text("tok\n")
    components = [
        {"name": "cti-a", "role": "cti", "host": "127.0.0.1", "ports": {"admin": 1}},
        {"name": "finesse-a", "role": "publisher", "host": "127.0.104.5", "ports": {"admin": 8089}},
        {"name": "finesse-b", "role": "subscriber", "host": "127.0.104.6", "ports": {"admin": 8089}},
    ]
    state = {"components": components, "admin_token_file": str(token)}
    (tmp_path / "deployment.json").write_text(json.dumps(state))
    both = Reader.of_run(tmp_path)
    assert both.nodes == {"finesse-a": "http://127.0.104.5:8089", "finesse-b": "http://127.0.104.6:8089"}
    assert both._headers == {"Authorization": "Bearer tok"}
    assert list(Reader.of_run(tmp_path, ["finesse-b"]).nodes) == ["finesse-b"]
    with pytest.raises(JournalError, match="no Finesse node"):
        Reader.of_run(tmp_path, ["cti-a"])
    with pytest.raises(JournalError, match="no deployment"):
        Reader.of_run(tmp_path / "nowhere")


def test_only_the_head_of_a_large_body_is_kept() -> None:
    big = ("é" * BODY_LIMIT).encode() + b"x" * 1_000_000  # 2 bytes a character, then a long tail
    assert truncate(big) == "é" * BODY_LIMIT + TRUNCATED
    assert truncate(b"x" * BODY_LIMIT) == "x" * BODY_LIMIT  # exactly the limit: kept whole
    assert truncate(b"x" * (BODY_LIMIT + 1)) == "x" * BODY_LIMIT + TRUNCATED
    assert truncate(b"x" * (4 * BODY_LIMIT + 1)) == "x" * BODY_LIMIT + TRUNCATED


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<User/>",
        b"\xff<a/>",  # not UTF-8: replaced, as truncate does
        ("é" * (BODY_LIMIT // 2)).encode(),  # exactly the limit in bytes, half of it in characters
        b"x" * BODY_LIMIT,
        b"x" * (BODY_LIMIT + 1),
        ("é" * BODY_LIMIT).encode() + b"tail",
        "a str body " * 500,
    ],
)
def test_an_entry_shows_its_bodies_as_truncate_makes_them(body: bytes | str) -> None:
    """Short bodies are kept as received and made text when the journal is read: what a reader
    sees is what truncating at once gave, on every read."""
    j = Journal(10)
    j.rest(1.0, "PUT", "/finesse/api/User/1001", "", 202, "1001", 0.1, body, body)
    for _ in range(2):
        [entry] = j.entries()
        assert entry["request_body"] == entry["response_body"] == truncate(body)
        assert json.loads(json.dumps(j.to_json()))["entries"][0]["response_body"] == truncate(body)
