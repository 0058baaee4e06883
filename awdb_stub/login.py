"""The stub's side of the AWDB login (:mod:`emu_base.awdb_login`): the check every query
route makes, and which refusals get a log line. Pure.
"""

from __future__ import annotations

import hmac

from emu_base.awdb_login import check_user
from emu_base.basic_auth import parse_basic

REALM = "awdb"
MAX_PEERS_LOGGED = 4096  # refusals are logged once per peer address, up to this many addresses


class Login:
    """The one user name and password the query API accepts."""

    def __init__(self, user: str, password: str) -> None:
        self.user = check_user(user)
        self._user = user.encode("utf-8")
        self._password = password.encode("utf-8")

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries this login (constant time in its content)."""
        given = parse_basic(authorization)  # None: absent, not Basic, bad base64, no ':', not UTF-8
        if given is None:
            return False
        # Both compared, always: which part was wrong must not show in the time taken.
        user_ok = hmac.compare_digest(given[0].encode("utf-8"), self._user)
        password_ok = hmac.compare_digest(given[1].encode("utf-8"), self._password)
        return user_ok and password_ok


class PeerLog:
    """Which peers' refusals were logged already: one line per peer, not one per request.

    The set is bounded (a peer may come from any of 16 million loopback addresses): past ``limit``
    peers, :meth:`note` says so once and then nothing more.
    """

    def __init__(self, limit: int = MAX_PEERS_LOGGED) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._full = False

    def note(self, peer: str) -> str | None:
        """``"first"`` the first time ``peer`` is seen, ``"limit"`` once when the set is full, else None."""
        if peer in self._seen or self._full:
            return None
        if len(self._seen) >= self.limit:
            self._full = True
            return "limit"
        self._seen.add(peer)
        return "first"
