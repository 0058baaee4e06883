"""What the node knows of its deployment from the AWDB: agents, teams, MRDs, reason codes.

Loaded once (the node shell reads the AWDB's JSON and hands the rows to :meth:`Directory.from_awdb`),
then read by the core, the views and the REST API. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from finesse_emu.server import xml as X
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.pubsub_access import PubsubAccess

# System reason codes that exist whatever the AWDB holds (clients must be able to render them).
SYSTEM_REASON_CODES = {
    50002: "Connection Failure",
    50001: "System Disconnect",
    50003: "Device Out of Service",
    50004: "Inactivity Timeout",
    255: "Forced Logout",
    32767: "Call Not Answered",
}

Rows = Sequence[dict[str, Any]]


class Directory:
    def __init__(
        self,
        domain: str,
        agents: Sequence[AuthUser] = (),
        teams: Mapping[int, str] | None = None,
        mrds: Mapping[int, str] | None = None,
        reason_codes: Sequence[X.ReasonCodeView] = (),
        wrapup_reasons: Sequence[X.WrapUpReasonView] = (),
    ) -> None:
        self.domain = domain
        self.agents: dict[str, AuthUser] = {a.id: a for a in agents}
        self._by_login = {u.login.lower(): u.id for u in self.agents.values()}
        # Who may read which pubsub node (the REST policy), from the same agents.
        self.pubsub_access = PubsubAccess(domain, self.agents.values())
        self.teams: dict[int, str] = dict(teams or {})
        self.mrd_names: dict[int, str] = dict(mrds or {})
        self.reason_codes: list[X.ReasonCodeView] = list(reason_codes)
        self.wrapup_reasons: list[X.WrapUpReasonView] = list(wrapup_reasons)
        # The teams a non-global reason code or wrap-up reason (forAll false) is assigned to, by its
        # id (the administration API's Team/{id}/ReasonCodes and WrapUpReasons).
        self.reason_code_teams: dict[int, set[int]] = {}
        self.wrapup_reason_teams: dict[int, set[int]] = {}

    @classmethod
    def from_awdb(
        cls, domain: str, agents: Rows, teams: Rows, mrds: Rows, reason_codes: Rows, wrapup_reasons: Rows
    ) -> Directory:
        """The AWDB's rows (``/awdb/v1/agents``, ``teams``, ``mrds``, ``reason-codes``,
        ``wrapup-reasons``), plus the system reason codes the AWDB does not hold."""
        codes = [
            X.ReasonCodeView(
                id=int(r["id"]),
                category=str(r["category"]),
                code=int(r["code"]),
                label=str(r["label"]),
                system_code=bool(r.get("system", False)),
            )
            for r in reason_codes
        ]
        known = {(rc.category, rc.code) for rc in codes}
        next_id = max((rc.id for rc in codes), default=0) + 1000
        for code, label in SYSTEM_REASON_CODES.items():
            for category in ("NOT_READY", "LOGOUT"):
                if (category, code) not in known:
                    codes.append(X.ReasonCodeView(next_id, category, code, label, system_code=True))
                    next_id += 1
        return cls(
            domain,
            [AuthUser.from_json(x) for x in agents],
            {int(t["id"]): str(t["name"]) for t in teams},
            {int(m["id"]): str(m["name"]) for m in mrds},
            codes,
            [X.WrapUpReasonView(int(w["id"]), str(w["label"])) for w in wrapup_reasons],
        )

    # -- agents ------------------------------------------------------------------------------------
    def user(self, key: str) -> AuthUser | None:
        """The agent named by its id or its login name (any case)."""
        user = self.agents.get(key)
        if user is None:
            agent_id = self._by_login.get(key.lower())
            user = self.agents.get(agent_id) if agent_id else None
        return user

    def user_of_jid(self, full_jid: str) -> tuple[AuthUser, str] | None:
        """The agent and resource of an XMPP JID of this node's domain (JIDs carry the agent id
        lower-cased), or None."""
        bare, _, resource = full_jid.partition("/")
        local, _, domain = bare.rpartition("@")
        if domain != self.domain or not local:
            return None
        user = self.user(local) or next(
            (u for u in self.agents.values() if u.id.lower() == local.lower()), None
        )
        return None if user is None else (user, resource)

    def mrds_of(self, user: AuthUser) -> list[int]:
        return [1, *user.non_voice_mrds]

    # -- reason codes ------------------------------------------------------------------------------
    def reason(self, category: str, code: int) -> X.ReasonCodeView | None:
        if not code:
            return None
        return next((r for r in self.reason_codes if r.category == category and r.code == code), None)

    def reason_codes_for(self, category: str, team_id: int | None = None) -> list[X.ReasonCodeView]:
        """The configured codes of ``category``; for a user of ``team_id``, the global ones and those
        assigned to the team ("Whether a reason code is global (true) or non-global (false)")."""
        return [
            r
            for r in self.reason_codes
            if r.category == category
            and not r.system_code
            and (team_id is None or r.for_all or team_id in self.reason_code_teams.get(r.id, ()))
        ]

    def wrapup_reasons_for(self, team_id: int) -> list[X.WrapUpReasonView]:
        """A user's wrap-up reasons: the global ones and those assigned to the user's team."""
        return [
            w for w in self.wrapup_reasons if w.for_all or team_id in self.wrapup_reason_teams.get(w.id, ())
        ]

    def reason_code_by_id(self, rc_id: int) -> X.ReasonCodeView | None:
        return next((r for r in self.reason_codes if r.id == rc_id), None)
