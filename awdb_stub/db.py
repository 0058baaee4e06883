"""The AWDB stub's database: open or create the SQLite file, seed it, answer the API's queries.

Every query is parameterised (user input never becomes SQL text) and is an index search, so one
takes tens of microseconds: the server runs them synchronously in its event loop (docs/awdb.md has
the measured figures). Results are JSON-ready dicts that never carry a password or hash; only
:meth:`AwdbDatabase.authenticate` reads the hash, and it returns the agent without it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from awdb_stub.passwords import DUMMY_HASH, hash_password, verify_password
from awdb_stub.schema import DATA_TABLES, DDL, SCHEMA_VERSION
from awdb_stub.seed import CATEGORIES, SeedData, SkillGroup, desk_settings, seed_digest
from emu_base.directory import VOICE_MRD, AgentRecord

MEMORY = ":memory:"
FILE_MODE = 0o600  # the file holds password hashes: its owner's only, as are its WAL and SHM files
SIDE_FILES = ("-wal", "-shm", "-journal")


class Agent(TypedDict):
    id: str
    login: str
    first_name: str
    last_name: str
    extension: str
    team_id: int
    supervisor: bool
    admin: bool
    skill_groups: list[int]
    non_voice_mrds: list[int]
    icm_agent_id: int
    teams_supervised: list[int]
    # Agent Desk Settings: work mode on incoming / outgoing calls (a wrap-up mode), wrap-up time (s).
    wrap_up_on_incoming: str
    wrap_up_on_outgoing: str
    wrap_up_time: int


class Team(TypedDict):
    id: int
    name: str
    supervisors: list[str]
    size: int


class TeamDetail(Team):
    agents: list[Agent]


class ReasonCodeRow(TypedDict):
    id: int
    code: int
    label: str
    category: str
    system: bool


class WrapupReasonRow(TypedDict):
    id: int
    label: str


class MrdRow(TypedDict):
    id: int
    name: str
    voice: bool


class SkillGroupRow(TypedDict):
    id: int
    name: str
    mrd_id: int
    size: int


# The password hash is deliberately absent from every SELECT but CREDENTIALS_BY_*.
AGENT_SELECT = """
SELECT a.skill_target_id, a.peripheral_number, p.login_name, p.first_name, p.last_name, a.extension,
       a.team_id, a.supervisor, a.admin,
       (SELECT group_concat(m.skill_group_id) FROM skill_group_member m
         WHERE m.skill_target_id = a.skill_target_id),
       (SELECT group_concat(d.mrd_id) FROM agent_mrd d WHERE d.skill_target_id = a.skill_target_id),
       (SELECT group_concat(s.team_id) FROM agent_team_supervisor s
         WHERE s.skill_target_id = a.skill_target_id),
       a.work_mode_on_incoming, a.work_mode_on_outgoing, a.wrapup_time
  FROM agent a JOIN person p ON p.person_id = a.person_id
"""
AGENT_BY_ID = AGENT_SELECT + " WHERE a.peripheral_number = ?"
AGENT_BY_LOGIN = AGENT_SELECT + " WHERE p.login_name = ?"  # the column's NOCASE collation applies
AGENT_BY_SKILL_TARGET = AGENT_SELECT + " WHERE a.skill_target_id = ?"
AGENTS_BY_TEAM = AGENT_SELECT + " WHERE a.team_id = ? ORDER BY a.skill_target_id"
ALL_AGENTS = AGENT_SELECT + " ORDER BY a.skill_target_id"
_CREDENTIALS = """
SELECT a.skill_target_id, p.password_hash FROM agent a JOIN person p ON p.person_id = a.person_id
"""
CREDENTIALS_BY_ID = _CREDENTIALS + " WHERE a.peripheral_number = ?"
CREDENTIALS_BY_LOGIN = _CREDENTIALS + " WHERE p.login_name = ?"
TEAMS = """
SELECT t.team_id, t.name, (SELECT count(*) FROM agent a WHERE a.team_id = t.team_id)
  FROM agent_team t
"""
TEAM_SUPERVISORS = """
SELECT s.team_id, a.peripheral_number FROM agent_team_supervisor s
  JOIN agent a ON a.skill_target_id = s.skill_target_id
"""


def _ints(csv: str | None) -> list[int]:
    return sorted(int(x) for x in csv.split(",")) if csv else []


def _agent(row: Sequence[Any]) -> Agent:
    return Agent(
        id=row[1],
        login=row[2],
        first_name=row[3],
        last_name=row[4],
        extension=row[5],
        team_id=row[6],
        supervisor=bool(row[7]),
        admin=bool(row[8]),
        skill_groups=_ints(row[9]),
        non_voice_mrds=_ints(row[10]),
        icm_agent_id=row[0],
        teams_supervised=_ints(row[11]),
        wrap_up_on_incoming=row[12],
        wrap_up_on_outgoing=row[13],
        wrap_up_time=row[14],
    )


def _private_file(path: str) -> None:
    """Create ``path`` (if missing) and any side file SQLite left next to it with mode 0600.

    SQLite creates its WAL and SHM files with the database file's mode, so a 0600 database keeps
    them 0600; those left by an earlier run under another mode are corrected here.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        raise ValueError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError as exc:
        raise ValueError(f"{path}: cannot make it private (mode 0600): {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    for suffix in SIDE_FILES:
        try:
            os.chmod(path + suffix, FILE_MODE)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ValueError(f"{path + suffix}: cannot make it private (mode 0600): {exc}") from exc


def _int_list(value: Any, where: str) -> list[int]:
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | str) or not str(item).strip().isdigit():
            raise ValueError(f"{where}: expected integers, got {value!r}")
        out.append(int(item))
    return out


class AwdbDatabase:
    """One SQLite connection (file or in-memory), used from one thread: the event loop's."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = MEMORY if path is None or str(path) == MEMORY else str(path)
        if self.path != MEMORY:
            _private_file(self.path)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        except sqlite3.Error as exc:
            raise ValueError(f"{self.path}: cannot open: {exc}") from exc
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            if self.path != MEMORY:
                # WAL: a committed seed survives SIGKILL; NORMAL is enough for a test fixture.
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._create_or_check()
        except sqlite3.DatabaseError as exc:  # e.g. "file is not a database"
            self._conn.close()
            raise ValueError(f"{self.path}: {exc}") from exc
        except ValueError:
            self._conn.close()
            raise

    def _create_or_check(self) -> None:
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            raise ValueError(f"{self.path}: not an awdb_stub database (tables: {sorted(tables)[:5]})")
        if "meta" in tables:
            version = self._meta("schema_version")
            if version != str(SCHEMA_VERSION):
                raise ValueError(f"{self.path}: schema version {version}, this stub needs {SCHEMA_VERSION}")
            return
        self._conn.executescript(DDL)
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    def close(self) -> None:
        self._conn.close()

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def info(self) -> dict[str, str]:
        return dict(self._conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall())

    def is_seeded(self) -> bool:
        return self._meta("seeded_at") is not None

    def seeded_from(self) -> str | None:
        """The digest of the seed the data came from (:func:`seed_digest`); None before it was
        recorded (a file seeded by an older stub)."""
        return self._meta("seed_sha256")

    def changed_since_seeded(self) -> bool | None:
        """Whether the data differs from what the seed wrote (someone edited the file); None when
        the file does not say what was written (seeded by an older stub)."""
        written = self._meta("content_sha256")
        return None if written is None else written != self.content_digest()

    def content_digest(self) -> str:
        """A digest of every data table's rows (order-independent)."""
        digest = hashlib.sha256()
        for table in sorted(DATA_TABLES):  # fixed names, never input
            columns = len(self._conn.execute(f"PRAGMA table_info({table})").fetchall())
            order = ", ".join(str(i) for i in range(1, columns + 1))
            rows = self._conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            digest.update(f"{table}:{len(rows)}:".encode())
            digest.update(repr(rows).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    # -- seeding ------------------------------------------------------------------------------------
    def seed(self, data: SeedData, *, replace: bool = False) -> int:
        """Fill the database in one transaction (all or nothing); returns the number of agents."""
        if self.is_seeded() and not replace:
            raise ValueError(f"{self.path} already holds data (reseed to replace it)")
        rows = _SeedRows(data)
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in DATA_TABLES:
                conn.execute(f"DELETE FROM {table}")  # fixed table names, never input
            conn.executemany("INSERT INTO media_routing_domain VALUES (?, ?, ?)", rows.mrds)
            conn.executemany("INSERT INTO agent_team VALUES (?, ?)", rows.teams)
            conn.executemany("INSERT INTO skill_group VALUES (?, ?, ?)", rows.skill_groups)
            conn.executemany("INSERT INTO person VALUES (?, ?, ?, ?, ?)", rows.persons)
            conn.executemany("INSERT INTO agent VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.agents)
            conn.executemany("INSERT INTO agent_team_supervisor VALUES (?, ?)", rows.supervisors)
            conn.executemany("INSERT INTO skill_group_member VALUES (?, ?)", rows.members)
            conn.executemany("INSERT INTO agent_mrd VALUES (?, ?)", rows.agent_mrds)
            conn.executemany("INSERT INTO reason_code VALUES (?, ?, ?, ?, ?)", rows.reason_codes)
            conn.executemany("INSERT INTO wrapup_reason VALUES (?, ?)", rows.wrapup_reasons)
            meta = {
                "seeded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": data.source,
                "agents": str(len(rows.agents)),
                # What was asked for and what was written: a later start tells a file seeded for
                # another agent set (regenerated) from one edited by hand (kept, or refused).
                "seed_sha256": seed_digest(data),
                "content_sha256": self.content_digest(),
            }
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise ValueError(f"seed rejected by the schema: {exc}") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(rows.agents)

    # -- queries ------------------------------------------------------------------------------------
    def authenticate(self, user: str, password: str) -> Agent | None:
        """The agent if ``user`` (agent id, else login name) and ``password`` match, else None.

        Unknown user and wrong password cost the same (a hash is checked either way).
        """
        row = self._conn.execute(CREDENTIALS_BY_ID, (user,)).fetchone()
        if row is None:
            row = self._conn.execute(CREDENTIALS_BY_LOGIN, (user,)).fetchone()
        if row is None:
            verify_password(password, DUMMY_HASH)
            return None
        if not verify_password(password, row[1]):
            return None
        return self._one(AGENT_BY_SKILL_TARGET, (row[0],))

    def agent(self, key: str) -> Agent | None:
        """By agent id (peripheral number) first, then by login name (case-insensitive)."""
        return self._one(AGENT_BY_ID, (key,)) or self._one(AGENT_BY_LOGIN, (key,))

    def agents(self, team_id: int | None = None) -> list[Agent]:
        if team_id is None:
            return [_agent(r) for r in self._conn.execute(ALL_AGENTS)]
        return [_agent(r) for r in self._conn.execute(AGENTS_BY_TEAM, (team_id,))]

    def agent_count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM agent").fetchone()[0])

    def teams(self) -> list[Team]:
        return self._teams(
            TEAMS + " ORDER BY t.team_id", TEAM_SUPERVISORS + " ORDER BY s.team_id, a.skill_target_id", ()
        )

    def team(self, team_id: int) -> TeamDetail | None:
        found = self._teams(
            TEAMS + " WHERE t.team_id = ?",
            TEAM_SUPERVISORS + " WHERE s.team_id = ? ORDER BY a.skill_target_id",
            (team_id,),
        )
        if not found:
            return None
        return TeamDetail(**found[0], agents=self.agents(team_id))

    def _teams(self, teams_sql: str, supervisors_sql: str, params: tuple[int, ...]) -> list[Team]:
        sups: dict[int, list[str]] = {}
        for team_id, agent_id in self._conn.execute(supervisors_sql, params):
            sups.setdefault(team_id, []).append(agent_id)
        return [
            Team(id=tid, name=name, supervisors=sups.get(tid, []), size=size)
            for tid, name, size in self._conn.execute(teams_sql, params)
        ]

    def reason_codes(self, category: str | None = None) -> list[ReasonCodeRow]:
        sql = "SELECT reason_code_id, code, label, category, system FROM reason_code"
        params: tuple[str, ...] = ()
        if category is not None:
            sql, params = sql + " WHERE category = ?", (category,)
        return [
            ReasonCodeRow(id=r[0], code=r[1], label=r[2], category=r[3], system=bool(r[4]))
            for r in self._conn.execute(sql + " ORDER BY reason_code_id", params)
        ]

    def wrapup_reasons(self) -> list[WrapupReasonRow]:
        sql = "SELECT wrapup_reason_id, label FROM wrapup_reason ORDER BY wrapup_reason_id"
        return [WrapupReasonRow(id=r[0], label=r[1]) for r in self._conn.execute(sql)]

    def mrds(self) -> list[MrdRow]:
        sql = "SELECT mrd_id, name, voice FROM media_routing_domain ORDER BY mrd_id"
        return [MrdRow(id=r[0], name=r[1], voice=bool(r[2])) for r in self._conn.execute(sql)]

    def skill_groups(self) -> list[SkillGroupRow]:
        sql = """SELECT g.skill_group_id, g.name, g.mrd_id,
                        (SELECT count(*) FROM skill_group_member m WHERE m.skill_group_id = g.skill_group_id)
                   FROM skill_group g ORDER BY g.skill_group_id"""
        return [SkillGroupRow(id=r[0], name=r[1], mrd_id=r[2], size=r[3]) for r in self._conn.execute(sql)]

    def explain(self, sql: str, params: Sequence[Any] = ()) -> list[str]:
        """SQLite's query plan for ``sql`` (one line per step): for tests that lookups use indexes."""
        return [str(r[3]) for r in self._conn.execute("EXPLAIN QUERY PLAN " + sql, params)]

    def _one(self, sql: str, params: tuple[Any, ...]) -> Agent | None:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else _agent(row)


class _SeedRows:
    """A :class:`SeedData` checked and flattened into table rows (errors name the agent at fault)."""

    def __init__(self, data: SeedData) -> None:
        self.mrds = [(m.id, m.name, int(m.voice)) for m in data.mrds]
        voice = {m.id: m.voice for m in data.mrds}
        groups: dict[int, SkillGroup] = {g.id: g for g in data.skill_groups}
        team_names = {t.id: t.name for t in data.teams}
        self.persons: list[tuple[int, str, str, str, str]] = []
        self.agents: list[tuple[int, int, str, str, int, int, int, str, str, int]] = []
        supervised: set[tuple[int, int]] = set()
        members: set[tuple[int, int]] = set()
        agent_mrds: set[tuple[int, int]] = set()
        self.reason_codes = [(r.id, r.code, r.label, r.category, int(r.system)) for r in data.reason_codes]
        self.wrapup_reasons = [(w.id, w.label) for w in data.wrapup_reasons]
        for r in data.reason_codes:
            if r.category not in CATEGORIES:
                raise ValueError(f"reason code {r.id}: category must be one of {list(CATEGORIES)}")

        stids = self._skill_target_ids(data.agents)
        by_agent_id: dict[str, int] = {}
        logins: dict[str, str] = {}
        for person_id, (rec, stid) in enumerate(zip(data.agents, stids, strict=True), start=1):
            where = f"agent {rec.id}"
            login = rec.login or rec.id
            if login.lower() in logins:
                raise ValueError(f"{where}: login {login!r} already used by agent {logins[login.lower()]}")
            logins[login.lower()] = rec.id
            if rec.id in by_agent_id:
                raise ValueError(f"{where}: duplicate agent id")
            by_agent_id[rec.id] = stid
            teams = _int_list(rec.extra["teams_supervised"], where) if "teams_supervised" in rec.extra else []
            if rec.supervisor and not teams:
                teams = [rec.team_id]  # a supervisor supervises their own team unless told otherwise
            supervised.update((t, stid) for t in teams)
            for sg in rec.skill_groups:
                groups.setdefault(sg, SkillGroup(sg, f"SkillGroup{sg}", VOICE_MRD))
                members.add((stid, sg))
            for mrd in rec.non_voice_mrds:
                if mrd not in voice:
                    raise ValueError(f"{where}: non_voice_mrds refers to unknown MRD {mrd}")
                if voice[mrd]:
                    raise ValueError(f"{where}: MRD {mrd} is a voice MRD, not a non-voice one")
                agent_mrds.add((stid, mrd))
            self.persons.append(
                (person_id, login, rec.first_name, rec.last_name, hash_password(rec.password))
            )
            self.agents.append(
                (stid, person_id, rec.id, rec.extension, rec.team_id, int(rec.supervisor), int(rec.admin),
                 *desk_settings(rec, where))
            )  # fmt: skip
        for spec in data.teams:
            for agent_id in spec.supervisors:
                if agent_id not in by_agent_id:
                    raise ValueError(f"team {spec.id}: supervisor {agent_id!r} is not an agent")
                supervised.add((spec.id, by_agent_id[agent_id]))
        # Supervising a team makes an agent a supervisor, whichever way it was declared.
        supervisors = {stid for _, stid in supervised}
        self.agents = [
            (stid, pid, agent_id, ext, team, int(sup or stid in supervisors), admin, inc, out, wrap)
            for stid, pid, agent_id, ext, team, sup, admin, inc, out, wrap in self.agents
        ]
        for g in groups.values():
            if g.mrd_id not in voice:
                raise ValueError(f"skill group {g.id}: unknown MRD {g.mrd_id}")
        team_ids = {a[4] for a in self.agents} | {t for t, _ in supervised} | set(team_names)
        self.teams = [(t, team_names.get(t, f"Team {t}")) for t in sorted(team_ids)]
        self.skill_groups = [(g.id, g.name, g.mrd_id) for g in sorted(groups.values(), key=lambda g: g.id)]
        self.supervisors = sorted(supervised)
        self.members = sorted(members)
        self.agent_mrds = sorted(agent_mrds)

    @staticmethod
    def _skill_target_ids(agents: Iterable[AgentRecord]) -> list[int]:
        """Each agent's ICM agent id (skill target id); records without one get the next free id."""
        records = list(agents)
        given = [r.icm_agent_id for r in records if r.icm_agent_id > 0]
        seen: set[int] = set()
        for r in records:
            if r.icm_agent_id > 0:
                if r.icm_agent_id in seen:
                    raise ValueError(f"agent {r.id}: icm_agent_id {r.icm_agent_id} already used")
                seen.add(r.icm_agent_id)
        next_id = max(given, default=5000) + 1
        out = []
        for r in records:
            if r.icm_agent_id > 0:
                out.append(r.icm_agent_id)
            else:
                out.append(next_id)
                next_id += 1
        return out
