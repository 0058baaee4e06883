"""The AWDB stub's database: schema, seeding, lookups, password checks, reason codes, seed files."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from awdb_stub import db as dbm
from awdb_stub.__main__ import build_parser, open_database
from awdb_stub.db import AwdbDatabase
from awdb_stub.passwords import hash_password, verify_password
from awdb_stub.seed import LOGOUT, NOT_READY, SeedData, load_seed_file
from emu_base.directory import generate
from emu_base.timers import Timers

AGENT_KEYS = {
    "id",
    "login",
    "first_name",
    "last_name",
    "extension",
    "team_id",
    "supervisor",
    "admin",
    "skill_groups",
    "non_voice_mrds",
    "icm_agent_id",
    "teams_supervised",
    # The agent's desk settings (Agent Desk Settings: Finesse's User settings).
    "wrap_up_on_incoming",
    "wrap_up_on_outgoing",
    "wrap_up_time",
}


@pytest.fixture
def db() -> Iterator[AwdbDatabase]:
    database = AwdbDatabase()
    database.seed(SeedData(generate(60)))
    yield database
    database.close()


def test_schema_has_the_awdb_tables_and_lookups_are_index_searches(db: AwdbDatabase) -> None:
    tables = {r[0] for r in db._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {
        "meta",
        "person",
        "agent",
        "agent_team",
        "agent_team_supervisor",
        "media_routing_domain",
        "skill_group",
        "skill_group_member",
        "agent_mrd",
        "reason_code",
        "wrapup_reason",
    }
    lookups: list[tuple[str, tuple[Any, ...]]] = [
        (dbm.AGENT_BY_ID, ("1000",)),
        (dbm.AGENT_BY_LOGIN, ("agent0001",)),
        (dbm.CREDENTIALS_BY_ID, ("1000",)),
        (dbm.CREDENTIALS_BY_LOGIN, ("agent0001",)),
        (dbm.AGENTS_BY_TEAM, (1,)),
    ]
    for sql, params in lookups:
        plan = db.explain(sql, params)
        assert not any(step.startswith("SCAN") for step in plan), (sql, plan)
        assert "INDEX" in plan[0] or "PRIMARY KEY" in plan[0], plan
    assert db.info()["schema_version"] == "2"


def test_seeding_2000_generated_agents_is_well_under_a_second() -> None:
    database = AwdbDatabase()
    # The process's CPU time, not the wall clock: the seeding (an in-memory database) is pure CPU in
    # this process, and on a loaded machine (the unit tests on two workers, neighbours) the wall
    # clock mostly measures the wait for a core (~0.25 s of CPU took 1.2 s of wall clock there).
    t0 = time.process_time()
    assert database.seed(SeedData(generate(2000))) == 2000
    elapsed = time.process_time() - t0
    assert elapsed < 1.0, f"seeding 2000 agents took {elapsed:.3f} s"
    assert database.agent_count() == 2000
    teams = database.teams()
    assert len(teams) == 80 and all(t["size"] == 25 for t in teams)
    # The first agent of each team supervises it (emu_base.directory.generate).
    assert teams[3]["supervisors"] == ["1075"]
    assert database.agent("1075") is not None
    database.close()


def test_lookup_by_agent_id_and_by_login(db: AwdbDatabase) -> None:
    by_id = db.agent("1000")
    assert by_id == {
        "id": "1000",
        "login": "agent0001",
        "first_name": "Agent",
        "last_name": "0001",
        "extension": "2000",
        "team_id": 1,
        "supervisor": True,
        "admin": False,
        "skill_groups": [101],
        "non_voice_mrds": [],  # the generated directory is voice-only
        "icm_agent_id": 6000,
        "teams_supervised": [1],
        "wrap_up_on_incoming": "NOT_ALLOWED",  # no desk settings asked for: no wrap-up
        "wrap_up_on_outgoing": "NOT_ALLOWED",
        "wrap_up_time": 7200,
    }
    assert db.agent("agent0001") == by_id
    assert db.agent("AGENT0001") == by_id  # login names are case-insensitive, as in UCCE
    plain = db.agent("1026")
    assert plain is not None and plain["supervisor"] is False and plain["teams_supervised"] == []
    assert plain["team_id"] == 2 and plain["skill_groups"] == [102]
    assert db.agent("9999") is None and db.agent("") is None and db.agent("agent9999") is None
    assert [a["id"] for a in db.agents(3)] == [str(1050 + i) for i in range(10)]
    assert db.agents(42) == []
    assert len(db.agents()) == 60


def test_authenticate_right_and_wrong_password(db: AwdbDatabase) -> None:
    ok = db.authenticate("1001", "pass1001")
    assert ok is not None and ok["id"] == "1001" and set(ok) == AGENT_KEYS
    assert db.authenticate("agent0002", "pass1001") == ok
    assert db.authenticate("Agent0002", "pass1001") == ok
    assert db.authenticate("1001", "pass1000") is None
    assert db.authenticate("1001", "") is None
    assert db.authenticate("1001", "PASS1001") is None  # passwords are case-sensitive
    assert db.authenticate("nobody", "pass1001") is None
    assert db.authenticate("", "") is None


def test_an_unknown_user_costs_as_much_as_a_wrong_password(db: AwdbDatabase) -> None:
    """No user enumeration by timing: both failures check a password hash."""
    best = {"agent0002": float("inf"), "agent9999": float("inf")}
    for _ in range(40):  # interleaved batches, best of each: robust to a busy machine
        for user in list(best):
            t0 = time.perf_counter()
            for _ in range(10):
                db.authenticate(user, "wrong")
            best[user] = min(best[user], time.perf_counter() - t0)
    wrong_password, unknown_user = best["agent0002"], best["agent9999"]
    # Without the dummy check an unknown user costs about a tenth (two index misses, no hash).
    assert unknown_user > 0.6 * wrong_password, (unknown_user, wrong_password)


def test_sql_injection_looking_input_is_only_data(db: AwdbDatabase) -> None:
    for user in ("' OR '1'='1", "1000' --", "1000'; DROP TABLE person; --", '" OR ""="', "%", "_"):
        assert db.authenticate(user, "x' OR '1'='1") is None
        assert db.agent(user) is None
    assert db.agent_count() == 60
    assert db.authenticate("1000", "pass1000") is not None


def test_no_password_or_hash_in_any_query_result(db: AwdbDatabase) -> None:
    results: list[Any] = [
        db.agent("1000"),
        db.agent("agent0002"),
        db.authenticate("1000", "pass1000"),
        db.agents(),
        db.agents(1),
        db.teams(),
        db.team(1),
        db.reason_codes(),
        db.wrapup_reasons(),
        db.mrds(),
        db.skill_groups(),
        db.info(),
    ]
    text = json.dumps(results)
    assert "pbkdf2" not in text and "password" not in text
    assert not any(f"pass{1000 + i}" in text for i in range(60))
    stored = [r[0] for r in db._conn.execute("SELECT password_hash FROM person")]
    assert len(stored) == 60 and not any(h in text or h.split("$")[-1] in text for h in stored)


def test_password_hashes_are_salted_per_row(tmp_path: Path) -> None:
    agents = [dataclasses.replace(a, password="same") for a in generate(3)]
    database = AwdbDatabase(tmp_path / "awdb.db")
    database.seed(SeedData(agents))
    database.close()
    with sqlite3.connect(tmp_path / "awdb.db") as raw:
        hashes = [r[0] for r in raw.execute("SELECT password_hash FROM person")]
    raw.close()
    assert len(set(hashes)) == 3 and all(h.startswith("pbkdf2_sha256$") for h in hashes)
    assert not any("same" in h for h in hashes)
    assert all(verify_password("same", h) for h in hashes)
    assert not verify_password("Same", hashes[0])
    assert not verify_password("same", "garbage") and not verify_password("same", "md5$1$00$00")
    assert verify_password("x", hash_password("x", iterations=3))


def test_default_reason_codes_wrapup_reasons_and_mrds(db: AwdbDatabase) -> None:
    not_ready = db.reason_codes(NOT_READY)
    logout = db.reason_codes(LOGOUT)
    assert {"Break", "Lunch", "Meeting", "Training"} <= {r["label"] for r in not_ready if not r["system"]}
    assert "End of shift" in {r["label"] for r in logout if not r["system"]}
    assert all(r["category"] == NOT_READY for r in not_ready)
    assert all(r["category"] == LOGOUT for r in logout)
    assert len(db.reason_codes()) == len(not_ready) + len(logout)
    forced = [r for r in logout if r["code"] == Timers.build(1.0).forced_logout_reason_code]
    assert len(forced) == 1 and forced[0]["system"] is True
    ids = [r["id"] for r in db.reason_codes()]
    assert len(set(ids)) == len(ids)
    assert db.mrds() == [
        {"id": 1, "name": "Voice", "voice": True},
        {"id": 5000, "name": "Chat", "voice": False},
        {"id": 5001, "name": "Email", "voice": False},
    ]
    assert db.wrapup_reasons()[0] == {"id": 1, "label": "Sale"}
    assert [(g["id"], g["size"]) for g in db.skill_groups()] == [(101, 25), (102, 25), (103, 10)]


SEED_YAML = """
agents:
  - {id: 7001, login: JDoe, password: s3cret, extension: 3001, first_name: Jane, last_name: Doe,
     team_id: 10, supervisor: true, teams_supervised: [10, 11], skill_groups: [201, 202]}
  - {id: 7002, login: bsmith, password: hunter2, extension: 3002, team_id: 10, admin: true,
     non_voice_mrds: [5000]}
  - {id: 7003, password: pw3, extension: 3003, team_id: 11, skill_groups: [202], non_voice_mrds: []}
teams:
  - {id: 10, name: Sales, supervisors: ["7002"]}
  - {id: 11, name: Support}
skill_groups:
  - {id: 202, name: Billing}
reason_codes:
  - {code: 7, label: Coffee, category: not_ready}
  - {code: 8, label: Gone home, category: LOGOUT}
  - {id: 99, code: 255, label: Forced, category: LOGOUT, system: true}
wrapup_reasons: [Resolved, {id: 9, label: Escalated}]
"""


def test_seed_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED_YAML)
    database = AwdbDatabase()
    database.seed(load_seed_file(path, default_agents=generate(5)))
    assert database.agent_count() == 3
    jane = database.authenticate("jdoe", "s3cret")
    assert jane is not None and jane["id"] == "7001" and jane["login"] == "JDoe"
    assert jane["teams_supervised"] == [10, 11] and jane["supervisor"] is True
    assert jane["skill_groups"] == [201, 202] and jane["extension"] == "3001"
    bob = database.agent("bsmith")
    # Listed as a team's supervisor in `teams`: a supervisor, though the agent row did not say so.
    assert bob is not None and bob["supervisor"] is True and bob["admin"] is True
    assert bob["teams_supervised"] == [10] and bob["non_voice_mrds"] == [5000]
    third = database.authenticate("7003", "pw3")
    assert third is not None and third["login"] == "7003" and third["non_voice_mrds"] == []
    assert database.authenticate("1000", "pass1000") is None  # default agents not used
    teams = {t["id"]: t for t in database.teams()}
    assert teams[10] == {"id": 10, "name": "Sales", "supervisors": ["7001", "7002"], "size": 2}
    assert teams[11] == {"id": 11, "name": "Support", "supervisors": ["7001"], "size": 1}
    names = {g["id"]: g["name"] for g in database.skill_groups()}
    assert names == {100: "SkillGroup100", 201: "SkillGroup201", 202: "Billing"}  # 100: the record default
    codes = database.reason_codes()
    assert [(r["id"], r["code"], r["category"], r["system"]) for r in codes] == [
        (1, 7, NOT_READY, False),
        (2, 8, LOGOUT, False),
        (99, 255, LOGOUT, True),
    ]
    assert database.wrapup_reasons() == [{"id": 1, "label": "Resolved"}, {"id": 9, "label": "Escalated"}]
    assert database.info()["source"] == str(path)


def test_seed_file_without_agents_and_as_a_plain_list(tmp_path: Path) -> None:
    only_codes = tmp_path / "codes.json"
    only_codes.write_text(
        json.dumps({"reason_codes": [{"code": 1, "label": "Nap", "category": "NOT_READY"}]})
    )
    seed = load_seed_file(only_codes, default_agents=generate(4))
    assert [a.id for a in seed.agents] == ["1000", "1001", "1002", "1003"]
    assert [r.label for r in seed.reason_codes] == ["Nap"]
    assert len(seed.wrapup_reasons) > 0 and len(seed.mrds) == 3  # the defaults stay
    plain = tmp_path / "agents.yaml"
    plain.write_text("- {id: 1, password: p, extension: 10}\n")
    seed = load_seed_file(plain)
    assert [a.id for a in seed.agents] == ["1"] and seed.reason_codes[0].label == "Break"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agentz: []", "unknown key"),
        ("reason_codes: [{code: 1, label: X, category: BREAK}]", "category"),
        (
            "reason_codes: [{code: 1, label: X, category: LOGOUT}, {code: 1, label: Y, category: LOGOUT}]",
            "unique",
        ),
        ("reason_codes: [{code: one, label: X, category: LOGOUT}]", "integer"),
        ("reason_codes: [{code: 1, category: LOGOUT}]", "label is required"),
        ("reason_codes: [{code: 1, label: X, category: LOGOUT, colour: red}]", "unknown field"),
        ("teams: {id: 1}", "expected a list"),
        ("mrds: [{id: 1, name: Voice, voice: yes please}]", "true or false"),
        ("agents: [{id: 1, extension: 2}]", "missing ['password']"),
        ("{not yaml", "not valid YAML"),
        ("42", "expected a mapping"),
    ],
)
def test_bad_seed_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"seed\.yaml") as info:
        load_seed_file(path, default_agents=generate(2))
    assert message in str(info.value)


A1 = "{id: 1, password: p, extension: 1"
A2 = "{id: 2, password: p, extension: 2"


@pytest.mark.parametrize(
    ("agents", "extra", "message"),
    [
        ([A1 + ", login: Ann}", A2 + ", login: ann}"], "", "login"),
        ([A1 + ", non_voice_mrds: [6000]}"], "", "unknown MRD 6000"),
        ([A1 + ", non_voice_mrds: [1]}"], "", "voice MRD"),
        ([A1 + "}"], "teams: [{id: 1, supervisors: ['77']}]", "not an agent"),
        ([A1 + ", skill_groups: [5]}"], "skill_groups: [{id: 5, name: S, mrd_id: 9}]", "unknown MRD 9"),
        ([A1 + ", icm_agent_id: 5}", A2 + ", icm_agent_id: 5}"], "", "icm_agent_id 5"),
        ([A1 + ", teams_supervised: [x]}"], "", "expected integers"),
    ],
)
def test_inconsistent_seeds_are_rejected_and_leave_the_database_empty(
    tmp_path: Path, agents: list[str], extra: str, message: str
) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text("agents:\n" + "".join(f"  - {a}\n" for a in agents) + extra + "\n")
    database = AwdbDatabase()
    with pytest.raises(ValueError, match=message):
        database.seed(load_seed_file(path))
    assert not database.is_seeded() and database.agent_count() == 0


def test_a_db_file_is_reused_and_reseeded_only_on_request(tmp_path: Path) -> None:
    path = tmp_path / "awdb.db"
    first = AwdbDatabase(path)
    assert not first.is_seeded()
    first.seed(SeedData(generate(30)))
    first.close()
    again = AwdbDatabase(path)
    assert again.is_seeded() and again.agent_count() == 30
    assert again.authenticate("agent0030", "pass1029") is not None
    with pytest.raises(ValueError, match="already holds data"):
        again.seed(SeedData(generate(3)))
    assert again.seed(SeedData(generate(3)), replace=True) == 3
    assert again.authenticate("agent0030", "pass1029") is None
    again.close()


def test_open_database_follows_the_cli_rules(tmp_path: Path) -> None:
    path = str(tmp_path / "awdb.db")
    parse = build_parser().parse_args
    first = open_database(parse(["--db", path, "--agents", "12"]))
    assert first.agent_count() == 12
    seeded_at = first.info()["seeded_at"]
    first.close()
    for argv in (["--agents", "12"], []):  # the same agents asked for, or none: reused as it is
        reused = open_database(parse(["--db", path, *argv]))
        assert reused.agent_count() == 12 and reused.info()["seeded_at"] == seeded_at
        reused.close()
    reseeded = open_database(parse(["--db", path, "--agents", "3", "--reseed"]))
    assert reseeded.agent_count() == 3
    reseeded.close()
    seed = tmp_path / "seed.yaml"
    seed.write_text("wrapup_reasons: [Only]\n")
    memory = open_database(parse(["--seed", str(seed), "--agents", "4"]))
    assert memory.path == ":memory:" and memory.agent_count() == 4
    assert memory.wrapup_reasons() == [{"id": 1, "label": "Only"}]
    memory.close()
    assert open_database(parse([])).agent_count() == 50


def test_a_file_seeded_for_other_agents_is_seeded_again(tmp_path: Path) -> None:
    """Issue 14: `up --agents 60` in a run dir left by `up --agents 20` kept 20 agents in the AWDB
    while the CTI sides had 60. A file nobody edited holds generated data: it is seeded again."""
    path = str(tmp_path / "awdb.db")
    parse = build_parser().parse_args
    open_database(parse(["--db", path, "--agents", "20"])).close()
    with capture_logs() as logs:
        again = open_database(parse(["--db", path, "--agents", "60"]))
    assert again.agent_count() == 60 and again.authenticate("1059", "pass1059") is not None
    again.close()
    warned = [e for e in logs if e["event"] == "awdb_db_regenerated"]
    assert len(warned) == 1 and warned[0]["had"] == "20 agents from '20'" and warned[0]["asked"] == "60"
    # An agent file is compared by content: the same path with other agents in it is seeded again.
    agents = tmp_path / "agents.yaml"
    agents.write_text("- {id: 7001, login: jdoe, password: s3cret, extension: 3001}\n")
    open_database(parse(["--db", path, "--agents", str(agents)])).close()
    agents.write_text("- {id: 7002, login: bsmith, password: hunter2, extension: 3002}\n")
    changed = open_database(parse(["--db", path, "--agents", str(agents)]))
    assert [a["id"] for a in changed.agents()] == ["7002"]
    changed.close()


def test_a_hand_edited_file_is_kept_for_its_own_agents_and_never_silently_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "awdb.db")
    parse = build_parser().parse_args
    open_database(parse(["--db", path, "--agents", "20"])).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE person SET first_name = 'Edited' WHERE login_name = 'agent0001'")
    conn.close()
    kept = open_database(parse(["--db", path, "--agents", "20"]))  # what it was seeded from: kept
    assert kept.agent("1000")["first_name"] == "Edited"  # type: ignore[index]
    kept.close()
    with pytest.raises(ValueError) as refused:
        open_database(parse(["--db", path, "--agents", "60"]))
    message = str(refused.value)
    assert "20 agents from '20'" in message and "changed since it was seeded" in message
    assert "'60' (60 agents)" in message and "seeded from ('20')" in message
    assert "move it away" in message and "--reseed" in message
    after = AwdbDatabase(path)  # refused, and untouched
    assert after.agent_count() == 20 and after.agent("1000")["first_name"] == "Edited"  # type: ignore[index]
    after.close()
    replaced = open_database(parse(["--db", path, "--agents", "60", "--reseed"]))
    assert replaced.agent_count() == 60
    replaced.close()


def test_a_file_from_an_older_stub_is_reused_for_its_source_and_refused_for_another(tmp_path: Path) -> None:
    """Files seeded before the stub recorded what it wrote: whether they were edited is unknown."""
    path = str(tmp_path / "awdb.db")
    parse = build_parser().parse_args
    open_database(parse(["--db", path, "--agents", "20"])).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM meta WHERE key IN ('seed_sha256', 'content_sha256')")
    conn.close()
    reused = open_database(parse(["--db", path, "--agents", "20"]))
    assert reused.agent_count() == 20
    reused.close()
    with pytest.raises(ValueError, match="seeded by an older awdb_stub"):
        open_database(parse(["--db", path, "--agents", "60"]))


def test_database_files_are_private_also_when_they_existed(tmp_path: Path) -> None:
    """Issue 14: the SQLite files (password hashes) were 0644."""
    path = tmp_path / "awdb.db"
    db = AwdbDatabase(path)
    db.seed(SeedData(generate(5)))
    db.agents()
    sides = [tmp_path / "awdb.db-wal", tmp_path / "awdb.db-shm"]
    assert all(p.exists() for p in sides)  # WAL mode, while open
    for p in (path, *sides):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    db.close()
    for p in (path, *sides):
        if p.exists():
            p.chmod(0o644)
    (tmp_path / "awdb.db-journal").write_bytes(b"")
    (tmp_path / "awdb.db-journal").chmod(0o644)
    reopened = AwdbDatabase(path)
    for p in (path, *sides, tmp_path / "awdb.db-journal"):
        if p.exists():
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert reopened.agent_count() == 5
    reopened.close()


def test_files_that_are_not_awdb_databases_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an sqlite file at all" * 100)
    with pytest.raises(ValueError, match=r"garbage\.db"):
        AwdbDatabase(garbage)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    with pytest.raises(ValueError, match="not an awdb_stub database"):
        AwdbDatabase(other)
    newer = tmp_path / "newer.db"
    AwdbDatabase(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(ValueError, match="schema version 99"):
        AwdbDatabase(newer)


def test_an_agents_desk_settings_come_from_its_file_else_the_deployments() -> None:
    """Agent Desk Settings (work mode on incoming / outgoing calls, wrap-up time): an agent file's
    keys (the ones the CTI stub reads), else the stub's --wrap-up-on-incoming ... defaults."""
    from dataclasses import replace

    from awdb_stub.__main__ import build_parser, requested_seed

    agents = generate(3)
    agents[1] = replace(agents[1], extra={"wrap_up_on_outgoing": "required", "wrap_up_time": 30})
    database = AwdbDatabase()
    database.seed(SeedData(agents))
    assert [
        (a["wrap_up_on_incoming"], a["wrap_up_on_outgoing"], a["wrap_up_time"]) for a in database.agents()
    ] == [
        ("NOT_ALLOWED", "NOT_ALLOWED", 7200),
        ("NOT_ALLOWED", "REQUIRED", 30),
        ("NOT_ALLOWED", "NOT_ALLOWED", 7200),
    ]
    database.close()
    args = build_parser().parse_args(
        ["--agents", "2", "--wrap-up-on-incoming", "OPTIONAL", "--wrap-up-time", "60"]
    )
    seed = requested_seed(args)
    assert [a.extra for a in seed.agents] == [{"wrap_up_on_incoming": "OPTIONAL", "wrap_up_time": 60.0}] * 2
    with pytest.raises(ValueError, match="wrap_up_on_incoming must be one of"):
        AwdbDatabase().seed(SeedData([replace(agents[0], extra={"wrap_up_on_incoming": "SOMETIMES"})]))
