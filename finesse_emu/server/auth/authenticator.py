"""Authentication of one Finesse node: cache first, then the AWDB, one lookup per user at a time.

Lockout (developer guide: "If five consecutive sign-ins fail due to an incorrect password, Finesse
blocks access to the user account for a period of 5 minutes") is kept per *account*: a user name
typed as the agent id, the login name or either in any case resolves to the one agent (the node's
directory through ``resolve``, else an alias the cache learnt from a success), so switching alias
neither resets nor dodges the count. A name that resolves to no agent is counted under itself,
lower-cased, so probing unknown names is bounded the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from emu_base.clock import Clock, LoopClock
from emu_base.logs import get_logger
from emu_base.timers import Timers
from finesse_emu.server.auth.awdb_client import AwdbTimeout, AwdbUnavailable, BadCredentials
from finesse_emu.server.auth.cache import CredentialCache
from finesse_emu.server.auth.errors import AuthError, AuthReason
from finesse_emu.server.auth.user import AuthUser

log = get_logger()
# Accounts (and unknown names) with bad passwords not yet followed by a success, at most.
MAX_COUNTED = 100_000


class AwdbBackend(Protocol):
    async def authenticate(self, user: str, password: str) -> AuthUser: ...


class Authenticator:
    def __init__(
        self,
        backend: AwdbBackend,
        timers: Timers,
        clock: Clock | None = None,
        resolve: Callable[[str], str | None] | None = None,
    ) -> None:
        self.backend = backend
        # A typed user name (id or login, any case) -> the agent id, or None if unknown.
        self.resolve = resolve
        self.timers = timers
        self.clock: Clock = clock or LoopClock()
        self.cache = CredentialCache(timers.awdb_credential_cache)
        self._inflight: dict[tuple[str, bytes], asyncio.Task[AuthUser]] = {}
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}
        self._next_purge = 0.0
        self.awdb_lookups = 0
        # Called with (username, ok, via, reason) for every authentication: via is "cache" or the
        # AWDB that answered (a run's history records them: the 30-minute cache is checkable).
        self.on_result: Callable[[str, bool, str, str], None] | None = None

    def _report(self, username: str, ok: bool, via: str, reason: str = "") -> None:
        if self.on_result is not None:
            try:
                self.on_result(username, ok, via, reason)
            except Exception:  # a hook's failure must not fail the authentication
                log.exception("auth_on_result_failed", user=username)

    def account_key(self, username: str) -> str:
        """The key failures and lockouts are counted under: the agent whatever alias is typed."""
        agent_id = self.resolve(username) if self.resolve is not None else None
        if agent_id is None:
            agent_id = self.cache.agent_id(username)
        return f"agent:{agent_id}" if agent_id is not None else f"name:{username.lower()}"

    async def authenticate(self, username: str, password: str) -> AuthUser:
        """The user, or :class:`AuthError` (every reason is an HTTP 401 for the REST API)."""
        now = self.clock.now()
        key = self.account_key(username)
        if self._locked_until.get(key, 0.0) > now:
            self._report(username, False, "", AuthReason.LOCKED_OUT.value)
            raise AuthError(AuthReason.LOCKED_OUT, username)
        if now >= self._next_purge:
            self.cache.purge(now)
            self._locked_until = {k: t for k, t in self._locked_until.items() if t > now}
            self._next_purge = now + self.timers.awdb_credential_cache / 10
        user = self.cache.get(username, password, now)
        if user is not None:
            self._report(username, True, "cache")
            return user
        # Concurrent requests for the same credentials share one AWDB query (no stampede on failover).
        flight = (key, self.cache.digest(password))
        task = self._inflight.get(flight)
        leader = task is None
        if task is None:
            task = asyncio.ensure_future(self._lookup(username, password, key, now))
            self._inflight[flight] = task
            task.add_done_callback(lambda _t: self._inflight.pop(flight, None))
        try:
            user = await asyncio.shield(task)
        except AuthError as exc:
            self._report(username, False, "", exc.reason.value)
            raise
        if not leader:  # the leader's success was reported by _lookup, when it filled the cache
            self._report(username, True, self._via())
        return user

    def _via(self) -> str:
        return str(getattr(self.backend, "current", "") or "awdb")

    async def _lookup(self, username: str, password: str, key: str, now: float) -> AuthUser:
        self.awdb_lookups += 1
        try:
            user = await self.backend.authenticate(username, password)
        except BadCredentials:
            failures = self._failures.pop(key, 0) + 1
            self._failures[key] = failures  # re-inserted: the dict's order is oldest first
            if len(self._failures) > MAX_COUNTED:  # random unknown names must not grow it forever
                del self._failures[next(iter(self._failures))]
            if failures >= self.timers.auth_lockout_attempts:
                self._locked_until[key] = self.clock.now() + self.timers.auth_lockout
                self._failures[key] = 0
                log.warning(
                    "auth_locked_out",
                    user=username,
                    account=key,
                    minutes=self.timers.unscaled("auth_lockout") / 60,
                )
            raise AuthError(AuthReason.BAD_CREDENTIALS, username) from None
        except AwdbTimeout as exc:
            raise AuthError(AuthReason.AWDB_TIMEOUT, username, str(exc)) from None
        except AwdbUnavailable as exc:
            raise AuthError(AuthReason.AWDB_UNAVAILABLE, username, str(exc)) from None
        self._failures.pop(key, None)  # "consecutive": a success starts the count again
        self._failures.pop(f"agent:{user.id}", None)
        # "cached ... for 30 minutes from the time of the request"
        self.cache.put(username, password, user, now)
        # Reported in the same step as the fill: a concurrent request's hit on the fresh entry can
        # never be reported before the success that filled it (the history's cache rule relies on it).
        self._report(username, True, self._via())
        return user
