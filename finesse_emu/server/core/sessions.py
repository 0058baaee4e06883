"""Who is signed in on this node, as the node sees it (the event log's sessions; docs/check.md).

An agent's session (desktop or IP phone) on a node begins or ends: logged as
``finesse_agent_signed_in`` / ``finesse_agent_signed_out``. Signed in here means signed in *through
this node* (its REST sign-in was confirmed by the CTI server while the node was IN_SERVICE), not
logged in on the CTI side, which both nodes see. It ends with a sign-out through this node
(``sign_out``), this node's forced logout (``forced_logout``, reason 255), the CTI side reporting the
agent logged out (``cti_logout``: signed out through the other node, or by the PG), or the node
leaving IN_SERVICE or stopping (``out_of_service``, ``stopped``: its clients sign in again).
Kept only when the node keeps an event log. Pure.
"""

from __future__ import annotations

from finesse_emu.server.core.outputs import SessionChanged
from finesse_emu.server.status import ServiceState


class Sessions:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._signed_in: set[str] = set()
        # Agents whose sign-out through this node is under way: the CTI side's LOGOUT may come
        # before the answer, and is then this node's ``sign_out``, not a ``cti_logout``.
        self.signing_out: set[str] = set()

    def change(
        self, status: ServiceState, agent_id: str, signed_in: bool, why: str, reason_code: int | None = None
    ) -> SessionChanged | None:
        if not self.enabled or (agent_id in self._signed_in) == signed_in:
            return None
        if signed_in and not status.in_service:
            return None  # confirmed after the node went out of service: the client will sign in again
        (self._signed_in.add if signed_in else self._signed_in.discard)(agent_id)
        return SessionChanged(agent_id, signed_in, why, status.status.value, reason_code)

    def end_all(self, status: ServiceState, why: str) -> list[SessionChanged]:
        ended = (self.change(status, agent_id, False, why) for agent_id in sorted(self._signed_in))
        return [s for s in ended if s is not None]
