"""The sample agent directory shared by every component (CTI stub, AWDB stub, desktops).

Generated agents are predictable, so load tests and humans can sign in without a lookup:
agent ``i`` (from 0) has id ``str(1000 + i)``, login ``agent{i+1:04d}``, password
``pass{1000 + i}`` and extension ``str(2000 + i)``; every 10th agent from the first is a supervisor of
its team; teams hold 25 agents.

The directory is voice-only by default: a generated agent belongs to the voice MRD alone, so a
voice sign-in publishes no Media event (samples written for voice-only deployments read any
Update's first ``<id>`` as a dialog's). The chat and email MRDs are an option, named in the agents
spec that every component is given (``--agents 50+chat+email``, :func:`parse_spec`); an agent
file says each agent's ``non_voice_mrds``.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

VOICE_MRD = 1
# The non-voice Media Routing Domains an agent can be given (the AWDB seed names them Chat, Email).
NON_VOICE_MRDS = {"chat": 5000, "email": 5001}
CHAT_AND_EMAIL = tuple(NON_VOICE_MRDS.values())
_SPEC = re.compile(r"(\d+)((?:\+[a-z]+)*)")
TEAM_SIZE = 25


@dataclass(frozen=True)
class AgentRecord:
    id: str
    login: str
    password: str
    extension: str
    first_name: str = ""
    last_name: str = ""
    team_id: int = 1
    supervisor: bool = False
    admin: bool = False
    skill_groups: tuple[int, ...] = (100,)
    non_voice_mrds: tuple[int, ...] = ()  # voice-only unless the directory says otherwise
    icm_agent_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The record without its password."""
        out = asdict(self)
        out.pop("password")
        return out


def generate(count: int, first_id: int = 1000, non_voice_mrds: tuple[int, ...] = ()) -> list[AgentRecord]:
    """``count`` predictable agents (module docstring), voice-only unless ``non_voice_mrds`` names
    the MRDs each also belongs to (:data:`CHAT_AND_EMAIL`)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    agents = []
    for i in range(count):
        num = first_id + i
        team = 1 + i // TEAM_SIZE
        agents.append(
            AgentRecord(
                id=str(num),
                login=f"agent{i + 1:04d}",
                password=f"pass{num}",
                extension=str(2000 + i),
                first_name="Agent",
                last_name=f"{i + 1:04d}",
                team_id=team,
                supervisor=i % TEAM_SIZE == 0,
                skill_groups=(100 + team,),
                non_voice_mrds=tuple(non_voice_mrds),
                icm_agent_id=5000 + num,
            )
        )
    return agents


_FIELDS = {f for f in AgentRecord.__dataclass_fields__}


def _record(raw: dict[str, Any], index: int) -> AgentRecord:
    missing = {"id", "password", "extension"} - set(raw)
    if missing:
        raise ValueError(f"agent #{index + 1}: missing {sorted(missing)}")
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in _FIELDS}
    values["extra"] = {k: v for k, v in raw.items() if k not in _FIELDS}
    values["id"] = str(values["id"])
    values["extension"] = str(values["extension"])
    values["password"] = str(values["password"])
    values.setdefault("login", values["id"])
    values.setdefault("icm_agent_id", 5000 + index)
    for key in ("skill_groups", "non_voice_mrds"):
        if key in values:
            items = values[key]
            if isinstance(items, str):
                items = [x for x in items.replace(";", " ").split() if x]
            values[key] = tuple(int(x) for x in items)
    for key in ("supervisor", "admin"):
        if isinstance(values.get(key), str):
            values[key] = values[key].strip().lower() in {"1", "true", "yes"}
    return AgentRecord(**values)


def load(path: str | Path) -> list[AgentRecord]:
    """Agents from a YAML, JSON or CSV file (a list of objects with at least id, password, extension)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    rows: Any
    if p.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    elif p.suffix.lower() == ".json":
        rows = json.loads(text)
    else:
        rows = yaml.safe_load(text)
    if isinstance(rows, dict) and "agents" in rows:
        rows = rows["agents"]
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a list of agents")
    agents = [_record(dict(r), i) for i, r in enumerate(rows)]
    ids = [a.id for a in agents]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate agent ids")
    return agents


def dump(agents: list[AgentRecord]) -> str:
    """An agent file (YAML) that :func:`load` reads back as ``agents``."""
    rows = []
    for a in agents:
        row = asdict(a)
        extra = row.pop("extra")
        row["skill_groups"] = list(a.skill_groups)
        row["non_voice_mrds"] = list(a.non_voice_mrds)
        rows.append({**row, **extra})
    return yaml.safe_dump(rows, sort_keys=False)


def parse_spec(spec: str) -> tuple[int, tuple[int, ...]] | None:
    """A generated directory's spec: ``"50"`` (fifty voice-only agents) or the count followed by
    the non-voice MRDs each agent also belongs to, ``"50+chat"``, ``"50+chat+email"``. Returns
    (count, MRD ids), or None when ``spec`` is no such spec (it is then an agent file's path).
    ValueError for a count with an MRD that does not exist."""
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        return None
    names = [n for n in match.group(2).split("+") if n]
    unknown = sorted(set(names) - set(NON_VOICE_MRDS))
    if unknown:
        raise ValueError(f"agents {spec!r}: unknown MRD {unknown}; known: {sorted(NON_VOICE_MRDS)}")
    mrds = tuple(NON_VOICE_MRDS[n] for n in NON_VOICE_MRDS if n in names)  # one order, no repeats
    return int(match.group(1)), mrds


def spec_count(spec: int | str) -> int:
    """How many agents a generated directory's spec makes (``"50+chat+email"``: 50);
    ValueError for an agent file's path."""
    parsed = parse_spec(str(spec))
    if parsed is None:
        raise ValueError(f"agents {spec!r}: a number, optionally +chat, +email")
    return parsed[0]


def resolve(spec: str | None, default_count: int = 50) -> list[AgentRecord]:
    """``None`` -> the generated default (voice-only); a spec (:func:`parse_spec`: ``"50"``,
    ``"50+chat+email"``) -> those agents generated; otherwise an agent file's path."""
    if spec is None:
        return generate(default_count)
    parsed = parse_spec(spec)
    if parsed is not None:
        return generate(parsed[0], non_voice_mrds=parsed[1])
    return load(spec)
