"""Authentication of one Finesse node: cache first, then the AWDB, one lookup per user at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from finesse_emu.auth.awdb_client import AwdbTimeout, AwdbUnavailable, BadCredentials
from finesse_emu.auth.cache import CredentialCache
from finesse_emu.auth.errors import AuthError, AuthReason
from finesse_emu.auth.user import AuthUser
from finesse_emu.clock import Clock, LoopClock
from finesse_emu.logs import get_logger
from finesse_emu.timers import Timers

log = get_logger()


class AwdbBackend(Protocol):
    async def authenticate(self, user: str, password: str) -> AuthUser: ...


class Authenticator:
    def __init__(self, backend: AwdbBackend, timers: Timers, clock: Clock | None = None) -> None:
        self.backend = backend
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

    async def authenticate(self, username: str, password: str) -> AuthUser:
        """The user, or :class:`AuthError` (every reason is an HTTP 401 for the REST API)."""
        now = self.clock.now()
        key = username.lower()
        if self._locked_until.get(key, 0.0) > now:
            self._report(username, False, "", AuthReason.LOCKED_OUT.value)
            raise AuthError(AuthReason.LOCKED_OUT, username)
        if now >= self._next_purge:
            self.cache.purge(now)
            self._next_purge = now + self.timers.awdb_credential_cache / 10
        user = self.cache.get(username, password, now)
        if user is not None:
            self._report(username, True, "cache")
            return user
        # Concurrent requests for the same credentials share one AWDB query (no stampede on failover).
        flight = (key, self.cache.digest(password))
        task = self._inflight.get(flight)
        if task is None:
            task = asyncio.ensure_future(self._lookup(username, password, now))
            self._inflight[flight] = task
            task.add_done_callback(lambda _t: self._inflight.pop(flight, None))
        try:
            user = await asyncio.shield(task)
        except AuthError as exc:
            self._report(username, False, "", exc.reason.value)
            raise
        self._report(username, True, str(getattr(self.backend, "current", "") or "awdb"))
        return user

    async def _lookup(self, username: str, password: str, now: float) -> AuthUser:
        key = username.lower()
        self.awdb_lookups += 1
        try:
            user = await self.backend.authenticate(username, password)
        except BadCredentials:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            if failures >= self.timers.auth_lockout_attempts:
                self._locked_until[key] = self.clock.now() + self.timers.auth_lockout
                self._failures[key] = 0
                log.warning(
                    "auth_locked_out", user=username, minutes=self.timers.unscaled("auth_lockout") / 60
                )
            raise AuthError(AuthReason.BAD_CREDENTIALS, username) from None
        except AwdbTimeout as exc:
            raise AuthError(AuthReason.AWDB_TIMEOUT, username, str(exc)) from None
        except AwdbUnavailable as exc:
            raise AuthError(AuthReason.AWDB_UNAVAILABLE, username, str(exc)) from None
        self._failures.pop(key, None)
        # "cached ... for 30 minutes from the time of the request"
        self.cache.put(username, password, user, now)
        return user
