"""The SQLite schema, shaped after the Unified CCE AWDB tables it stands for.

- ``person`` (``t_Person``): login name (unique, case-insensitive), first/last name, password hash;
- ``agent`` (``t_Agent``): ``skill_target_id`` (the ICM agent id), ``peripheral_number`` (the agent
  id Finesse shows), extension, team, supervisor and admin roles, and the agent's desk settings
  (``t_Agent_Desk_Settings``, flattened into the agent's row: ``work_mode_on_incoming``,
  ``work_mode_on_outgoing``, ``wrapup_time``), which Finesse shows as the User's ``settings``;
- ``agent_team`` (``t_Agent_Team``) and ``agent_team_supervisor`` (``t_Agent_Team_Supervisor``: a
  supervisor may supervise several teams);
- ``media_routing_domain``, ``skill_group``, ``skill_group_member`` (the ``t_`` tables of those names);
- ``agent_mrd``: the non-voice MRDs an agent handles (UCCE derives them from skill groups);
- ``reason_code`` (``t_Reason_Code``): category NOT_READY or LOGOUT, (category, code) unique;
- ``wrapup_reason`` (Finesse configuration in the product).

An agent belongs to one team (as in UCCE). Every lookup the API makes is an index search.
"""

from __future__ import annotations

SCHEMA_VERSION = 2  # 2: the agents' desk settings

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS person (
    person_id INTEGER PRIMARY KEY,
    login_name TEXT NOT NULL COLLATE NOCASE UNIQUE,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS agent_team (
    team_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS agent (
    skill_target_id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL UNIQUE REFERENCES person (person_id),
    peripheral_number TEXT NOT NULL UNIQUE,
    extension TEXT NOT NULL DEFAULT '',
    team_id INTEGER NOT NULL REFERENCES agent_team (team_id),
    supervisor INTEGER NOT NULL DEFAULT 0 CHECK (supervisor IN (0, 1)),
    admin INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
    work_mode_on_incoming TEXT NOT NULL DEFAULT 'NOT_ALLOWED',
    work_mode_on_outgoing TEXT NOT NULL DEFAULT 'NOT_ALLOWED',
    wrapup_time INTEGER NOT NULL DEFAULT 7200
);
CREATE INDEX IF NOT EXISTS agent_by_team ON agent (team_id);

CREATE TABLE IF NOT EXISTS agent_team_supervisor (
    team_id INTEGER NOT NULL REFERENCES agent_team (team_id),
    skill_target_id INTEGER NOT NULL REFERENCES agent (skill_target_id),
    PRIMARY KEY (team_id, skill_target_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS supervisor_by_agent ON agent_team_supervisor (skill_target_id);

CREATE TABLE IF NOT EXISTS media_routing_domain (
    mrd_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    voice INTEGER NOT NULL CHECK (voice IN (0, 1))
);

CREATE TABLE IF NOT EXISTS skill_group (
    skill_group_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    mrd_id INTEGER NOT NULL REFERENCES media_routing_domain (mrd_id)
);

CREATE TABLE IF NOT EXISTS skill_group_member (
    skill_target_id INTEGER NOT NULL REFERENCES agent (skill_target_id),
    skill_group_id INTEGER NOT NULL REFERENCES skill_group (skill_group_id),
    PRIMARY KEY (skill_target_id, skill_group_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS member_by_skill_group ON skill_group_member (skill_group_id);

CREATE TABLE IF NOT EXISTS agent_mrd (
    skill_target_id INTEGER NOT NULL REFERENCES agent (skill_target_id),
    mrd_id INTEGER NOT NULL REFERENCES media_routing_domain (mrd_id),
    PRIMARY KEY (skill_target_id, mrd_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS reason_code (
    reason_code_id INTEGER PRIMARY KEY,
    code INTEGER NOT NULL,
    label TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('NOT_READY', 'LOGOUT')),
    system INTEGER NOT NULL DEFAULT 0 CHECK (system IN (0, 1)),
    UNIQUE (category, code)
);

CREATE TABLE IF NOT EXISTS wrapup_reason (
    wrapup_reason_id INTEGER PRIMARY KEY,
    label TEXT NOT NULL
);
"""

# Data tables in an order that respects the foreign keys when deleting (children first).
DATA_TABLES = (
    "agent_mrd",
    "skill_group_member",
    "agent_team_supervisor",
    "agent",
    "person",
    "skill_group",
    "media_routing_domain",
    "agent_team",
    "reason_code",
    "wrapup_reason",
)
