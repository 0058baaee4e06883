"""The user record Finesse gets from the AWDB (never a password or hash)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AuthUser:
    id: str
    login: str
    first_name: str = ""
    last_name: str = ""
    extension: str = ""
    team_id: int = 0
    supervisor: bool = False
    admin: bool = False
    teams_supervised: tuple[int, ...] = ()
    skill_groups: tuple[int, ...] = ()
    non_voice_mrds: tuple[int, ...] = ()
    icm_agent_id: int = 0
    # The agent's desk settings in the AWDB (Agent Desk Settings), shown in the User's settings:
    # work mode on incoming / outgoing calls ("" when the AWDB gives none) and the wrap-up seconds.
    wrap_up_on_incoming: str = ""
    wrap_up_on_outgoing: str = ""
    wrap_up_time: int = 7200

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuthUser:
        return cls(
            id=str(data["id"]),
            login=str(data.get("login") or data["id"]),
            first_name=str(data.get("first_name", "")),
            last_name=str(data.get("last_name", "")),
            extension=str(data.get("extension", "")),
            team_id=int(data.get("team_id", 0)),
            supervisor=bool(data.get("supervisor", False)),
            admin=bool(data.get("admin", False)),
            teams_supervised=tuple(int(t) for t in data.get("teams_supervised", ())),
            skill_groups=tuple(int(t) for t in data.get("skill_groups", ())),
            non_voice_mrds=tuple(int(t) for t in data.get("non_voice_mrds", ())),
            icm_agent_id=int(data.get("icm_agent_id", 0)),
            wrap_up_on_incoming=str(data.get("wrap_up_on_incoming", "")),
            wrap_up_on_outgoing=str(data.get("wrap_up_on_outgoing", "")),
            wrap_up_time=int(data.get("wrap_up_time", 7200)),
        )
