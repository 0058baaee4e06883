"""Finesse's client of the AWDB stub's query API (HTTP/JSON), with Cisco's failover.

Which AWDB to try, and when to switch, is decided by the pure :class:`AwdbFailover`. Every request
carries the AWDB login of the node's config (``awdb_user``, ``awdb_password_file``), as Finesse
signs in to the AWDB's SQL Server with the login of its Administration & Data Server settings. An
AWDB that refuses that login is of no use to any agent: the request goes to the other AWDB, and
fails as "AWDB unavailable" (never as the agent's bad credentials) when neither takes it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from emu_base.awdb_login import AwdbLogin
from emu_base.logs import get_logger
from finesse_emu.server.auth.failover import AwdbFailover, Outcome
from finesse_emu.server.auth.user import AuthUser

log = get_logger()


class AwdbUnavailable(Exception):
    """No AWDB could be reached for this request."""


class AwdbTimeout(Exception):
    """The AWDB in use did not answer in time (the next request goes to the other one)."""


class BadCredentials(Exception):
    """The AWDB answered: unknown user or wrong password."""


class NotFound(Exception):
    pass


class AwdbClient:
    """``urls`` are base URLs (``http://127.0.0.1:1433``), primary first; ``login`` the AWDB login
    every request carries (:func:`awdb_login`)."""

    def __init__(
        self,
        urls: list[str],
        timeout: float,
        names: list[str] | None = None,
        login: AwdbLogin | None = None,
    ) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.failover = AwdbFailover(names or [f"awdb-{'ab'[i]}" for i in range(len(urls))])
        self.timeout = timeout
        self.login = login
        self._session: aiohttp.ClientSession | None = None
        self._login_refused: set[str] = set()  # AWDBs whose refusal of our login was logged
        self.requests = 0
        self._retired: list[aiohttp.ClientSession] = []  # sessions of an earlier login, closed at the end

    def configure(self, urls: list[str], login: AwdbLogin | bool | None = True) -> None:
        """New AWDBs (the administration API's EnterpriseDatabaseConfig), used from the next
        request on: "The secondary AWDB host is configured through the Cisco Finesse administration
        console". ``login``: a new AWDB login, None for none, True to keep the current one. A
        request under way finishes with the AWDBs it started with."""
        if not 1 <= len(urls) <= 2:
            raise ValueError("one primary and at most one secondary AWDB")
        names = [f"awdb-{'ab'[i]}" for i in range(len(urls))]
        self.urls = [u.rstrip("/") for u in urls]
        if names != self.failover.names:
            self.failover = AwdbFailover(names)
        self.failover.current = min(self.failover.current, len(urls) - 1)
        if login is not True:
            self.login = login if isinstance(login, AwdbLogin) else None
            old, self._session = self._session, None  # the next request opens one with the login
            if old is not None:
                self._retired.append(old)
        self._login_refused.clear()

    @property
    def current(self) -> str:
        return self.failover.current_name

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Timeouts are ours (asyncio.timeout), so they follow the loop's (possibly virtual) clock.
            auth = {"Authorization": self.login.header} if self.login is not None else None
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None), headers=auth)
        return self._session

    async def close(self) -> None:
        for session in [*self._retired, self._session]:
            if session is not None:
                await session.close()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One API request, failing over as Cisco's chapter describes. Returns (status, JSON body)."""
        self.requests += 1
        errors = []
        for index in self.failover.plan():
            name, url = self.failover.names[index], self.urls[index] + path
            try:
                async with asyncio.timeout(self.timeout):
                    async with self._http().request(method, url, json=body) as resp:
                        status = resp.status
                        # The AWDB's login refused (the agent's bad password is a 401 without it).
                        login_refused = status == 401 and "WWW-Authenticate" in resp.headers
                        data = await resp.json(content_type=None) if resp.content_length != 0 else None
            except TimeoutError:
                self.failover.record(index, Outcome.TIMEOUT)
                log.warning("awdb_timeout", awdb=name, path=path, timeout=self.timeout, next=self.current)
                raise AwdbTimeout(f"{name} did not answer within {self.timeout:g} s") from None
            except (aiohttp.ClientError, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                errors.append(f"{name}: {exc!r}")
                self.failover.record(index, Outcome.REFUSED)
                log.warning("awdb_unreachable", awdb=name, path=path, error=repr(exc), next=self.current)
                continue
            if login_refused:
                errors.append(f"{name}: refused the AWDB login")
                self.failover.record(index, Outcome.REFUSED)
                if name not in self._login_refused:  # once per AWDB until it takes the login again
                    self._login_refused.add(name)
                    log.error(
                        "awdb_login_refused",
                        awdb=name,
                        user=self.login.user if self.login is not None else None,
                        hint="the node's awdb_user / awdb_password_file must match the AWDB's "
                        "--login-user / --login-password-file",
                    )
                continue
            if status >= 500:
                errors.append(f"{name}: HTTP {status}")
                self.failover.record(index, Outcome.REFUSED)
                log.warning("awdb_error", awdb=name, path=path, status=status, next=self.current)
                continue
            self.failover.record(index, Outcome.OK)
            self._login_refused.discard(name)
            return status, data
        raise AwdbUnavailable("; ".join(errors))

    async def authenticate(self, user: str, password: str) -> AuthUser:
        status, data = await self.call("POST", "/awdb/v1/authenticate", {"user": user, "password": password})
        if status == 200 and isinstance(data, dict) and isinstance(data.get("agent"), dict):
            return AuthUser.from_json(data["agent"])
        if status in (400, 401, 403, 404):  # 400: the AWDB refused the user name's form
            raise BadCredentials(user)
        raise AwdbUnavailable(f"unexpected AWDB answer {status}")

    async def get(self, path: str) -> Any:
        status, data = await self.call("GET", path)
        if status == 404:
            raise NotFound(path)
        if status != 200:
            raise AwdbUnavailable(f"GET {path}: HTTP {status}")
        return data
