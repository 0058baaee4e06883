"""What goes into the database: agents, teams, skill groups, MRDs, reason codes, wrap-up reasons.

Agents come from the shared sample directory (:func:`emu_base.directory.generate`) or from a
seed file; everything else has a default set that a seed file can replace, list by list. A seed
file is YAML or JSON::

    agents: [...]            # same fields as a directory file; optional teams_supervised: [int]
    teams: [{id, name, supervisors: [agent id]}]
    skill_groups: [{id, name, mrd_id}]
    mrds: [{id, name, voice}]
    reason_codes: [{id, code, label, category: NOT_READY|LOGOUT, system}]
    wrapup_reasons: [{id, label}]     # or plain strings

Every key is optional. A top-level list is read as the agents. Unknown keys are errors (typos
would otherwise pass silently).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from emu_base.directory import NON_VOICE_MRDS, VOICE_MRD, AgentRecord
from emu_base.directory import load as load_agents

NOT_READY = "NOT_READY"
LOGOUT = "LOGOUT"
CATEGORIES = (NOT_READY, LOGOUT)


@dataclass(frozen=True)
class ReasonCode:
    id: int  # the database id Finesse puts in reasonCodeId, not the code
    code: int
    label: str
    category: str
    system: bool = False


@dataclass(frozen=True)
class WrapupReason:
    id: int
    label: str


@dataclass(frozen=True)
class Mrd:
    id: int
    name: str
    voice: bool = False


@dataclass(frozen=True)
class SkillGroup:
    id: int
    name: str
    mrd_id: int = VOICE_MRD


@dataclass(frozen=True)
class TeamSpec:
    """A team's name and supervisors beyond those the agents declare (teams are created on use)."""

    id: int
    name: str
    supervisors: tuple[str, ...] = ()


DEFAULT_MRDS = (
    Mrd(VOICE_MRD, "Voice", voice=True),
    Mrd(NON_VOICE_MRDS["chat"], "Chat"),
    Mrd(NON_VOICE_MRDS["email"], "Email"),
)

# User codes a desktop offers, plus the system codes UCCE and Finesse use on their own (the
# reference's list for CCE); 255 is Finesse's forced logout, 50002 what the CTI stub applies on a
# lost CTI client (LOAD). Finesse's ReasonCode API hides system codes; ``system`` lets clients do so.
DEFAULT_REASON_CODES = (
    ReasonCode(1, 1, "Break", NOT_READY),
    ReasonCode(2, 2, "Lunch", NOT_READY),
    ReasonCode(3, 3, "Meeting", NOT_READY),
    ReasonCode(4, 4, "Training", NOT_READY),
    ReasonCode(5, 10, "Team Meeting", NOT_READY),
    ReasonCode(6, 999, "Supervisor Initiated", NOT_READY, system=True),
    ReasonCode(7, 32767, "Call Not Answered", NOT_READY, system=True),
    ReasonCode(8, 50002, "Connection Failure", NOT_READY, system=True),
    ReasonCode(9, 1, "End of shift", LOGOUT),
    ReasonCode(10, 2, "Personal", LOGOUT),
    ReasonCode(11, 255, "Connection Failure", LOGOUT, system=True),
    ReasonCode(12, 999, "Supervisor Initiated", LOGOUT, system=True),
    ReasonCode(13, 50002, "System Failure", LOGOUT, system=True),
)

DEFAULT_WRAPUP_REASONS = (
    WrapupReason(1, "Sale"),
    WrapupReason(2, "Support - resolved"),
    WrapupReason(3, "Support - escalated"),
    WrapupReason(4, "Callback requested"),
    WrapupReason(5, "Complaint"),
)


@dataclass
class SeedData:
    agents: list[AgentRecord]
    teams: list[TeamSpec] = field(default_factory=list)
    skill_groups: list[SkillGroup] = field(default_factory=list)  # others are created on use
    mrds: list[Mrd] = field(default_factory=lambda: list(DEFAULT_MRDS))
    reason_codes: list[ReasonCode] = field(default_factory=lambda: list(DEFAULT_REASON_CODES))
    wrapup_reasons: list[WrapupReason] = field(default_factory=lambda: list(DEFAULT_WRAPUP_REASONS))
    source: str = "generated"


SEED_LISTS = tuple(f.name for f in fields(SeedData) if f.name != "source")


def seed_digest(seed: SeedData) -> str:
    """A digest of what a seed puts in the database, whatever it came from (``source`` is left
    out): the same agent count, or the same file content at another path, gives the same digest."""
    # vars(), not asdict(): no deep copy (asdict of 2000 agents costs ~10 times the digest).
    data = {key: [vars(item) for item in getattr(seed, key)] for key in sorted(SEED_LISTS)}
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# Agent Desk Settings' work modes (Finesse's wrapUpOnIncoming / wrapUpOnOutgoing values) and their
# keys in an agent file; the CTI stub reads the same keys (cti_stub.model.DeskSettings).
WRAP_UP_MODES = ("REQUIRED", "REQUIRED_WITH_WRAP_UP_DATA", "OPTIONAL", "NOT_ALLOWED")
DESK_KEYS = ("wrap_up_on_incoming", "wrap_up_on_outgoing", "wrap_up_time")
DESK_DEFAULTS: dict[str, Any] = {"wrap_up_on_incoming": "NOT_ALLOWED", "wrap_up_on_outgoing": "NOT_ALLOWED",
                                 "wrap_up_time": 7200}  # fmt: skip


def desk_settings(rec: AgentRecord, where: str) -> tuple[str, str, int]:
    """An agent's desk settings from its record (its file's keys, else :data:`DESK_DEFAULTS`)."""
    values = {k: rec.extra.get(k, DESK_DEFAULTS[k]) for k in DESK_KEYS}
    modes = [str(values[k]).upper() for k in DESK_KEYS[:2]]
    for key, mode in zip(DESK_KEYS, modes, strict=False):
        if mode not in WRAP_UP_MODES:
            raise ValueError(f"{where}: {key} must be one of {', '.join(WRAP_UP_MODES)}, got {mode!r}")
    seconds = values["wrap_up_time"]
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | str):
        raise ValueError(f"{where}: wrap_up_time must be a number of seconds, got {seconds!r}")
    try:
        time = max(1, round(float(seconds)))  # whole seconds, as the AWDB holds them
    except ValueError:
        raise ValueError(f"{where}: wrap_up_time must be a number of seconds, got {seconds!r}") from None
    if float(seconds) <= 0:
        raise ValueError(f"{where}: wrap_up_time must be > 0, got {seconds!r}")
    return modes[0], modes[1], time


def with_desk_defaults(agents: list[AgentRecord], defaults: dict[str, Any]) -> list[AgentRecord]:
    """The agents, each given the deployment's desk settings (``defaults``, the stub's
    ``--wrap-up-on-incoming`` ...) where its own file says none."""
    wanted = {k: v for k, v in defaults.items() if v is not None}
    if not wanted:
        return agents
    return [replace(a, extra={**wanted, **a.extra}) for a in agents]


SEED_KEYS = {"agents", "teams", "skill_groups", "mrds", "reason_codes", "wrapup_reasons"}
_MISSING: Any = object()


def _int(item: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> int:
    value = item.get(key, default)
    if value is _MISSING:
        raise ValueError(f"{where}: {key} is required")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be an integer, got {value!r}")
    return value


def _str(item: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> str:
    value = item.get(key, default)
    if value is _MISSING:
        raise ValueError(f"{where}: {key} is required")
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise ValueError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return str(value)


def _bool(item: Mapping[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def _objects(raw: Mapping[str, Any], key: str, allowed: set[str]) -> list[Mapping[str, Any]]:
    items = raw[key]
    if not isinstance(items, list):
        raise ValueError(f"{key}: expected a list")
    out: list[Mapping[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{key}[{i}]: expected an object, got {item!r}")
        unknown = set(item) - allowed
        if unknown:
            raise ValueError(f"{key}[{i}]: unknown field(s) {sorted(unknown)}; known: {sorted(allowed)}")
        out.append(item)
    return out


def _unique_ids(kind: str, ids: Sequence[int]) -> None:
    seen: set[int] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{kind}: duplicate id {i}")
        seen.add(i)


def build_seed(raw: Mapping[str, Any], agents: Sequence[AgentRecord], source: str = "seed") -> SeedData:
    """A :class:`SeedData` from a parsed seed document (its ``agents`` key is ignored: pass them)."""
    unknown = set(raw) - SEED_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}; known: {sorted(SEED_KEYS)}")
    seed = SeedData(agents=list(agents), source=source)
    if "teams" in raw:
        seed.teams = []
        for i, t in enumerate(_objects(raw, "teams", {"id", "name", "supervisors"})):
            where = f"teams[{i}]"
            team_id = _int(t, "id", where)
            sups = t.get("supervisors", [])
            if not isinstance(sups, list):
                raise ValueError(f"{where}: supervisors must be a list of agent ids")
            seed.teams.append(
                TeamSpec(team_id, _str(t, "name", where, f"Team {team_id}"), tuple(str(s) for s in sups))
            )
        _unique_ids("teams", [t.id for t in seed.teams])
    if "skill_groups" in raw:
        seed.skill_groups = [
            SkillGroup(
                _int(s, "id", f"skill_groups[{i}]"),
                _str(s, "name", f"skill_groups[{i}]", f"SkillGroup{s.get('id')}"),
                _int(s, "mrd_id", f"skill_groups[{i}]", VOICE_MRD),
            )
            for i, s in enumerate(_objects(raw, "skill_groups", {"id", "name", "mrd_id"}))
        ]
        _unique_ids("skill_groups", [s.id for s in seed.skill_groups])
    if "mrds" in raw:
        seed.mrds = [
            Mrd(_int(m, "id", f"mrds[{i}]"), _str(m, "name", f"mrds[{i}]"), _bool(m, "voice", f"mrds[{i}]"))
            for i, m in enumerate(_objects(raw, "mrds", {"id", "name", "voice"}))
        ]
        _unique_ids("mrds", [m.id for m in seed.mrds])
    if "reason_codes" in raw:
        seed.reason_codes = []
        allowed = {"id", "code", "label", "category", "system"}
        for i, r in enumerate(_objects(raw, "reason_codes", allowed)):
            where = f"reason_codes[{i}]"
            category = _str(r, "category", where).upper()
            if category not in CATEGORIES:
                raise ValueError(f"{where}: category must be one of {list(CATEGORIES)}")
            code = _int(r, "code", where)
            if not 0 <= code <= 65535:
                raise ValueError(f"{where}: code must be 0..65535")
            seed.reason_codes.append(
                ReasonCode(
                    _int(r, "id", where, i + 1),
                    code,
                    _str(r, "label", where),
                    category,
                    _bool(r, "system", where),
                )
            )
        _unique_ids("reason_codes", [r.id for r in seed.reason_codes])
        pairs = [(r.category, r.code) for r in seed.reason_codes]
        if len(set(pairs)) != len(pairs):
            raise ValueError("reason_codes: (category, code) must be unique")
    if "wrapup_reasons" in raw:
        items = raw["wrapup_reasons"]
        if not isinstance(items, list):
            raise ValueError("wrapup_reasons: expected a list")
        # Plain strings are allowed: a wrap-up reason is little more than its label.
        as_objects = {"wrapup_reasons": [{"label": w} if isinstance(w, str) else w for w in items]}
        seed.wrapup_reasons = [
            WrapupReason(
                _int(w, "id", f"wrapup_reasons[{i}]", i + 1), _str(w, "label", f"wrapup_reasons[{i}]")
            )
            for i, w in enumerate(_objects(as_objects, "wrapup_reasons", {"id", "label"}))
        ]
        _unique_ids("wrapup_reasons", [w.id for w in seed.wrapup_reasons])
    return seed


def load_seed_file(path: str | Path, default_agents: Sequence[AgentRecord] = ()) -> SeedData:
    """Read a YAML or JSON seed file; without an ``agents`` key, ``default_agents`` are used."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    try:
        raw: Any = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(
            f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {exc}"
        ) from exc
    if raw is None:
        raw = {}
    if isinstance(raw, list):
        raw = {"agents": raw}
    if not isinstance(raw, dict):
        raise ValueError(f"{p}: expected a mapping of {sorted(SEED_KEYS)} or a list of agents")
    try:
        # The shared directory loader parses agents the same way for every component.
        agents = load_agents(p) if "agents" in raw else list(default_agents)
        rest = {k: v for k, v in raw.items() if k != "agents"}
        return build_seed(rest, agents, source=str(p))
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"{p}: {exc}") from exc
