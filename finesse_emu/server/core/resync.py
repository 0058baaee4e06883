"""The resync after the CTI link (re)opens, pure: which agents to query, and when it is done.

Cisco, "CTI Failover": after reconnecting, Finesse learns the agents' state before it serves again
("After the failover is complete, the last state [...] are published as events to all clients").
Each LinkUp starts a session: every agent of the directory is queried (QUERY_AGENT_STATE_REQ), at
most :data:`WINDOW` at once; when every query is answered (or refused) the node may go IN_SERVICE.
Then, with enableAutoWorkModeStateChange, every non-voice MRD left in WORK is brought back, one
request after the other. A LinkDown ends the session: its late answers are ignored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

# QUERY_AGENT_STATE_REQs in flight at once during a resync (a few hundred agents, one link).
WINDOW = 50


class Resync:
    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self.session = 0  # bumped by every LinkUp and LinkDown
        self._todo: deque[str] = deque()
        self._waiting = 0
        self.work: deque[tuple[str, int]] = deque()  # (agent, MRD) to bring back from WORK

    @property
    def done(self) -> bool:
        return not self._todo and not self._waiting

    def start(self, agents: Iterable[str]) -> list[str]:
        """A new session: the agents to query now."""
        self.session += 1
        self._todo, self._waiting = deque(agents), 0
        self.work.clear()
        return self._next()

    def end(self) -> None:
        self.session += 1
        self._todo.clear()
        self._waiting = 0
        self.work.clear()

    def answered(self) -> list[str]:
        """A query of the current session got its answer (or none): the agents to query next."""
        self._waiting -= 1
        return self._next()

    def _next(self) -> list[str]:
        ask: list[str] = []
        while self._todo and self._waiting < self.window:
            ask.append(self._todo.popleft())
            self._waiting += 1
        return ask
