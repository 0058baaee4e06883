"""Which AWDB to ask, pure: Cisco's per-request failover between primary and secondary.

"After Cisco Finesse loses connection to the primary Administration & Data server, it tries to
reconnect to the secondary server. Cisco Finesse repeats this process for every API request until it
can connect to one of the Administration & Data servers."
"If Cisco Finesse loses connection to one AWDB and then receives requests, these requests may time
out before Cisco Finesse can detect that the connection is down and connect to the alternate AWDB.
In this scenario, the user ... may need to retry the operation for it to succeed."

So: every request starts with the AWDB that answered last. A refused or reset connection (or a 5xx)
is noticed at once and the same request tries the other AWDB. A timeout is noticed only when it
expires: that request fails, and the next request starts with the other AWDB.
"""

from __future__ import annotations

from enum import Enum


class Outcome(Enum):
    OK = "ok"
    REFUSED = "refused"  # connection refused/reset, or a server error: try the other at once
    TIMEOUT = "timeout"  # no answer in time: this request fails, the next one switches


class AwdbFailover:
    def __init__(self, names: list[str]) -> None:
        if not 1 <= len(names) <= 2:
            raise ValueError("one primary and at most one secondary AWDB")
        self.names = names
        self.current = 0
        self.switches = 0

    @property
    def current_name(self) -> str:
        return self.names[self.current]

    def plan(self) -> list[int]:
        """The order to try for one request: the current AWDB, then the other."""
        return [self.current] + [i for i in range(len(self.names)) if i != self.current]

    def record(self, index: int, outcome: Outcome) -> bool:
        """Note how ``index`` answered; True if the request should go on to the next AWDB."""
        if outcome is Outcome.OK:
            if index != self.current:
                self.current = index
                self.switches += 1
            return False
        if outcome is Outcome.TIMEOUT:
            self._switch_from(index)
            return False
        self._switch_from(index)
        return True

    def _switch_from(self, index: int) -> None:
        if len(self.names) == 2 and index == self.current:
            self.current = 1 - index
            self.switches += 1
