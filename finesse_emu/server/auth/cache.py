"""The credential cache, pure: no clock reads (``now`` comes in), no I/O.

Cisco: "the credentials are cached in Cisco Finesse for 30 minutes from the time of the request.
After a user is authenticated, that user continues to be authenticated until 30 minutes pass, even
if both AWDBs are down. Cisco Finesse attempts to reauthenticate the user against the AWDB only
after the cache expires." So a hit neither refreshes nor extends an entry.

Entries hold an HMAC of the password under a per-process key, never the password: a different
secret misses (and goes to the AWDB) instead of matching a stale entry. A user may sign in with the
agent id or the login name; both find the same entry.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from finesse_emu.server.auth.user import AuthUser


@dataclass
class _Entry:
    user: AuthUser
    digest: bytes
    expires_at: float


class CredentialCache:
    def __init__(self, ttl: float, key: bytes | None = None) -> None:
        self.ttl = ttl
        self._key = key or os.urandom(32)
        # The HMAC keyed once; each digest copies it (every cached REST authentication takes one).
        self._keyed = hmac.new(self._key, digestmod=hashlib.sha256)
        self._entries: dict[str, _Entry] = {}  # by agent id
        self._aliases: dict[str, str] = {}  # lower-cased id or login -> agent id
        self.hits = 0
        self.misses = 0

    def digest(self, password: str) -> bytes:
        mac = self._keyed.copy()
        mac.update(password.encode("utf-8"))
        return mac.digest()

    def agent_id(self, username: str) -> str | None:
        """The agent a user name (id or login, any case) was last seen to belong to, if known."""
        return self._aliases.get(username.lower())

    def _entry(self, username: str) -> _Entry | None:
        agent_id = self.agent_id(username)
        return self._entries.get(agent_id) if agent_id is not None else None

    def get(self, username: str, password: str, now: float) -> AuthUser | None:
        entry = self._entry(username)
        if (
            entry is None
            or now >= entry.expires_at
            or not hmac.compare_digest(entry.digest, self.digest(password))
        ):
            self.misses += 1
            return None
        self.hits += 1
        return entry.user

    def expires_at(self, username: str) -> float | None:
        entry = self._entry(username)
        return entry.expires_at if entry is not None else None

    def put(self, username: str, password: str, user: AuthUser, now: float) -> None:
        """Remember a success for ``ttl`` from ``now`` (the time of the request)."""
        self._entries[user.id] = _Entry(user, self.digest(password), now + self.ttl)
        for alias in {username, user.id, user.login}:
            if alias:
                self._aliases[alias.lower()] = user.id

    def invalidate(self, username: str) -> None:
        agent_id = self._aliases.get(username.lower())
        if agent_id is not None:
            self._entries.pop(agent_id, None)

    def purge(self, now: float) -> int:
        """Drop expired entries (memory stays flat on long runs)."""
        dead = [k for k, e in self._entries.items() if now >= e.expires_at]
        for k in dead:
            del self._entries[k]
        if dead:
            live = set(self._entries)
            self._aliases = {a: i for a, i in self._aliases.items() if i in live}
        return len(dead)

    def __len__(self) -> int:
        return len(self._entries)
