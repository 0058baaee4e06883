"""A desktop's REST side: the documented Finesse REST API and the desktop's gadgets and
resources, fetched as a browser does (its cache, its request timeout, a WAN's round trip).

Each call answers what the machine needs as its input (``SystemInfo``, ``Result``); the asyncio
client (``client.py``) feeds those to the machine. Nothing here knows the failover logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
from defusedxml import ElementTree as DET

from emu_base.sansio import TimerClock
from finesse_emu.desktop.machine import Result, SystemInfo

API = "/finesse/api"


@dataclass(frozen=True)
class NodeEndpoint:
    name: str  # finesse-a, finesse-b (or any label)
    base_url: str  # http://127.0.10.7:8082
    xmpp_host: str
    xmpp_port: int = 5222
    xmpp_domain: str = ""  # "" = xmpp_host (Finesse's xmppDomain is the node's host name)

    @property
    def domain(self) -> str:
        return self.xmpp_domain or self.xmpp_host


@dataclass(frozen=True)
class AgentCredentials:
    id: str
    password: str
    extension: str


DEFAULT_GADGETS = 6  # the default desktop: six XML gadgets


@dataclass(frozen=True)
class LoadPlan:
    """What a desktop loads after signing in: the gadgets of the desktop layout the node holds for
    its user (``GET .../User/{id}/LayoutConfig``: "Configuring fewer gadgets in the desktop layout
    results in faster desktop failover and startup"), desktop resources, data.

    ``gadgets`` set: G of the emulator's gadgets of ``kind`` instead of the node's layout (an
    experiment's override); ``urls``: exactly these instead of everything."""

    gadgets: int | None = None  # None: the node's layout
    kind: str = "xml"  # xml | jsp, with ``gadgets``
    resources: int = 4
    # Paths (or absolute URLs) to load instead of the emulator's, e.g. a real Finesse's gadgets.
    urls: tuple[str, ...] = ()
    # The desktop URL's cache parameters, which the chapter asks to avoid: "The bypassServerCache
    # is to bypass Webproxy cache, and nocache is to bypass Shindig cache." bypassServerCache=true:
    # no 304, every reload fetches everything in full; nocache: the node renders the gadget specs
    # again (its CPU) though it may still answer 304.
    bypass_server_cache: bool = False
    nocache: bool = False
    # preLoadSecondaryResources is the node's desktop property (default on): after the first
    # sign-in the desktop reads it (None) and, if on, also loads the other node's resources, so
    # that a failover finds them cached. True/False: the desktop's own choice, the node not asked
    # (a real Finesse gives the property with the desktop page, which this client does not load).
    preload_secondary: bool | None = None
    # Browsers that defeat their cache (the chapter's "Firefox Configurations"): with Race Cache
    # With Network on, "the Firefox browser by-passes the cached data and fetches the static
    # requests again from the server": this fraction of the revalidations a desktop would make
    # become full fetches (0 = network.http.rcwn.enabled false, as the chapter asks).
    rcwn: float = 0.0
    # The browser's cache cleared at every launch: a freshly opened desktop holds nothing, so its
    # first load after a (re)launch fetches everything in full (no If-None-Match).
    clear_cache_on_launch: bool = False

    @property
    def from_layout(self) -> bool:
        """Whether the gadgets come from the node's layout (no override)."""
        return self.gadgets is None and not self.urls

    def paths(self, layout: Sequence[str] | None = None) -> list[str]:
        """What to load: ``layout`` (the node's gadget URLs) unless the plan overrides it; without
        either (a node that serves no layout), the default desktop's gadgets."""
        if self.urls:
            return list(self.urls)
        if self.gadgets is None and layout is not None:
            gadgets = list(layout)
        else:
            count = DEFAULT_GADGETS if self.gadgets is None else self.gadgets
            gadgets = [f"/desktop/gadgets/{self.kind}/gadget{i}" for i in range(count)]
        return gadgets + [f"/desktop/resources/bundle{i}.js" for i in range(self.resources)]


@dataclass(frozen=True)
class Answer:
    """One request's answer as the wire showed it (status 0: none; ``timed_out``: the desktop's
    request timeout ran out rather than the connection being refused or reset)."""

    status: int
    data: bytes
    timed_out: bool
    seconds: float


def result(answer: Answer, ok: int) -> Result:
    """The machine's view of an answer: everything it may derive a message from, nothing more.

    A refused sign-in (401) is tried again later like any other failure, as an agent reading the
    message types the password again: a real Finesse's 401 does not say whether the password was
    wrong or the AWDB out of reach, so the desktop cannot tell a hopeless attempt from one worth
    repeating once an AWDB is back."""
    if answer.status == ok:
        return Result(True, status=answer.status, seconds=answer.seconds)
    if answer.status:
        error = f"{answer.status} {error_message(answer.data)}"
    else:
        error = "timed out" if answer.timed_out else "unreachable"
    return Result(False, error, status=answer.status, timed_out=answer.timed_out, seconds=answer.seconds)


# (node, status, error, path) of an HTTP error answer: the client logs it.
HttpErrorHook = Callable[[str, int, str, str], None]


class DesktopRest:
    """One browser's HTTP client towards the nodes of a pair."""

    def __init__(
        self,
        agent: AgentCredentials,
        endpoints: dict[str, NodeEndpoint],
        http: aiohttp.ClientSession,
        plan: LoadPlan,
        clock: TimerClock,
        timeout: float,
        rtt: float,
        stats: Counter[str],
        on_http_error: HttpErrorHook,
    ) -> None:
        self.agent = agent
        self.endpoints = endpoints
        self.http = http
        self.plan = plan
        self.clock = clock
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)  # one per client
        # A WAN between this desktop and the nodes, in user space (no netem here): every request
        # waits one round trip first (seconds, already scaled).
        self.rtt = rtt
        self.stats = stats
        self._on_http_error = on_http_error
        self.blocked_until: dict[str, float] = {}  # network glitch: node unreachable until then
        self._etags: dict[tuple[str, str], str] = {}  # (node, path) -> ETag: the browser's cache
        # Which revalidations the network wins (rcwn), per agent: a run is repeatable.
        self._race = random.Random(zlib.crc32(agent.id.encode()))
        self._authorization = aiohttp.encode_basic_auth(agent.id, agent.password)
        # The body of User/{id}/Dialogs as the last load read it (None: not read): the dialogs the
        # desktop shows after a sign-in or a failover's refresh.
        self.last_dialogs: bytes | None = None

    def use_bearer(self, access_token: str | None) -> None:
        """Single sign-on: every request carries the Identity Service's access token (None: Basic)."""
        if access_token is None:
            self._authorization = aiohttp.encode_basic_auth(self.agent.id, self.agent.password)
        else:
            self._authorization = f"Bearer {access_token}"

    def blocked(self, node: str) -> bool:
        return self.blocked_until.get(node, 0.0) > self.clock.now()

    async def request(
        self,
        method: str,
        node: str,
        path: str,
        body: str | None = None,
        extra: dict[str, str] | None = None,
        cache_key: str | None = None,
        optional: bool = False,
    ) -> tuple[int, bytes]:
        """(status, body); status 0 when there was no HTTP answer (refused, reset, timeout, glitch)."""
        answer = await self.exchange(method, node, path, body, extra, cache_key, optional)
        return answer.status, answer.data

    async def exchange(
        self,
        method: str,
        node: str,
        path: str,
        body: str | None = None,
        extra: dict[str, str] | None = None,
        cache_key: str | None = None,
        optional: bool = False,
    ) -> Answer:
        """The request's answer as the wire showed it: status, body, whether the desktop's request
        timeout ran out, and how long it took. A GET's ETag is kept under ``cache_key`` (default:
        the path; a gadget's path without the URL's cache parameters). ``optional``: a route a real
        Finesse may not have (the emulator's), whose 404 is no error of the desktop's."""
        if self.blocked(node):
            self.stats["unreachable"] += 1
            return Answer(0, b"", False, 0.0)
        started = self.clock.now()
        if self.rtt > 0:
            await asyncio.sleep(self.rtt)
        url = path if path.startswith("http") else self.endpoints[node].base_url + path
        headers = {"Authorization": self._authorization, **(extra or {})}
        if body is not None:
            headers["Content-Type"] = "application/xml"
        self.stats["requests"] += 1
        try:
            async with self.http.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._client_timeout,
            ) as resp:
                data = await resp.read()
                if method == "GET" and resp.status == 200 and "ETag" in resp.headers:
                    self._etags[(node, cache_key or path)] = resp.headers["ETag"]
        except TimeoutError:
            self.stats["unreachable"] += 1
            self.stats["timeouts"] += 1
            return Answer(0, b"", True, self.clock.now() - started)
        except (aiohttp.ClientError, OSError):
            self.stats["unreachable"] += 1
            return Answer(0, b"", False, self.clock.now() - started)
        self.stats["bytes"] += len(data)
        if resp.status >= 400 and not (optional and resp.status == 404):
            self.stats[f"http_{resp.status}"] += 1
            self._on_http_error(node, resp.status, error_message(data), path)
        return Answer(resp.status, data, False, self.clock.now() - started)

    async def system_info(self, node: str) -> SystemInfo:
        status, data = await self.request("GET", node, f"{API}/SystemInfo")
        if status != 200:
            return SystemInfo(reachable=False)  # SystemInfo answers 200 even out of service
        try:
            root = DET.fromstring(data)
        except Exception:
            return SystemInfo(reachable=False)
        return SystemInfo(
            reachable=True,
            status=root.findtext("status") or "",
            heartbeat_ok=(root.findtext("lastCTIHeartbeatStatus") or "").lower() == "success",
        )

    async def sign_in(self, node: str) -> Result:
        body = f"<User><state>LOGIN</state><extension>{self.agent.extension}</extension></User>"
        return result(await self.exchange("PUT", node, f"{API}/User/{self.agent.id}", body), 202)

    def clear_cache(self) -> None:
        """The browser's cache emptied (a launch with the cache cleared): nothing to revalidate."""
        self._etags.clear()

    def _url(self, path: str) -> str:
        """The path with the desktop URL's cache parameters (a fresh ``nocache`` value every time)."""
        params = []
        if self.plan.bypass_server_cache:
            params.append("bypassServerCache=true")
        if self.plan.nocache:
            params.append(f"nocache={time.monotonic_ns()}")
        if not params:
            return path
        return path + ("&" if "?" in path else "?") + "&".join(params)

    async def _content(self, node: str, path: str) -> tuple[int, bytes]:
        """One gadget or resource: revalidated from the cache (If-None-Match -> 304) unless the
        desktop URL bypasses the server cache or Firefox's race of cache and network sends the
        request without it."""
        etag = self._etags.get((node, path))
        if etag and self.plan.rcwn > 0 and self._race.random() < self.plan.rcwn:
            self.stats["rcwn_fetches"] += 1  # the network won the race: a full fetch
            etag = None
        headers = {"If-None-Match": etag} if etag else None
        status, data = await self.request("GET", node, self._url(path), extra=headers, cache_key=path)
        if status == 304:
            self.stats["cache_hits"] += 1
            return 200, data
        if status == 200:
            self.stats["full_fetches"] += 1
        return status, data

    async def set_state(self, node: str, state: str, reason_code_id: int | None = None) -> Result:
        """PUT User with a new state (READY, NOT_READY, LOGOUT) and, if given, its reasonCodeId:
        accepted (202) or not; the new state itself arrives as an event."""
        reason = "" if reason_code_id is None else f"<reasonCodeId>{reason_code_id}</reasonCodeId>"
        body = f"<User><state>{state}</state>{reason}</User>"
        return result(await self.exchange("PUT", node, f"{API}/User/{self.agent.id}", body), 202)

    async def load(self, node: str, config: bool) -> tuple[Result, str]:
        """LoadDesktop: every gadget and resource, then the user's data; with the user's state
        read from the User document ("" if it was not read)."""
        user_state = ""
        data_paths = [f"{API}/User/{self.agent.id}", f"{API}/User/{self.agent.id}/Dialogs"]
        if config:  # configuration data is not reloaded during failover (Cisco, note on reloads)
            data_paths += [
                f"{API}/User/{self.agent.id}/ReasonCodes?category=NOT_READY",
                f"{API}/User/{self.agent.id}/ReasonCodes?category=LOGOUT",
                f"{API}/User/{self.agent.id}/WrapUpReasons",
            ]
        layout: list[str] | None = None
        if self.plan.from_layout:
            found = await self.layout(node)
            if isinstance(found, Result):
                return found, user_state
            layout = found
        content = self.plan.paths(layout)
        results = await asyncio.gather(
            *(self._content(node, p) for p in content), *(self.request("GET", node, p) for p in data_paths)
        )
        paths = content + data_paths
        bad = [(p, s) for p, (s, _) in zip(paths, results, strict=True) if s != 200]
        self.last_dialogs = None
        for path, (status, data) in zip(paths, results, strict=True):
            if status == 200 and path == f"{API}/User/{self.agent.id}":
                with contextlib.suppress(Exception):
                    user_state = DET.fromstring(data).findtext("state") or ""
            elif status == 200 and path == f"{API}/User/{self.agent.id}/Dialogs":
                self.last_dialogs = data
        if bad:
            return Result(False, f"{bad[0][1]} on {bad[0][0]}"), user_state
        return Result(True), user_state

    async def dialog_action(self, node: str, dialog_id: str, action: str, to: str = "") -> int:
        """PUT Dialog/{id} with ``action`` on the agent's own participant (its extension), with
        ``toAddress`` when given (CONSULT_CALL): the HTTP status (202 accepted; the change arrives
        as an Update), 0 without an answer."""
        to_address = f"<toAddress>{to}</toAddress>" if to else ""
        body = (
            f"<Dialog><requestedAction>{action}</requestedAction>{to_address}"
            f"<targetMediaAddress>{self.agent.extension}</targetMediaAddress></Dialog>"
        )
        return (await self.exchange("PUT", node, f"{API}/Dialog/{dialog_id}", body)).status

    async def make_call(self, node: str, to: str) -> int:
        """POST User/{id}/Dialogs: MAKE_CALL from the agent's extension to ``to`` (202 accepted)."""
        body = (
            "<Dialog><requestedAction>MAKE_CALL</requestedAction>"
            f"<fromAddress>{self.agent.extension}</fromAddress><toAddress>{to}</toAddress></Dialog>"
        )
        return (await self.exchange("POST", node, f"{API}/User/{self.agent.id}/Dialogs", body)).status

    async def layout(self, node: str) -> list[str] | Result | None:
        """The gadget URLs of the user's desktop layout on ``node``, in order; None when the node
        serves no layout (404: e.g. a real Finesse, whose desktop page carries it); a failed
        Result when it could not be read (the load fails as any of its requests would)."""
        path = f"{API}/User/{self.agent.id}/LayoutConfig"
        answer = await self.exchange("GET", node, path, optional=True)
        if answer.status == 404:
            return None
        if answer.status != 200:
            failed = result(answer, 200)
            return Result(
                False, f"{failed.error} on {path}", status=answer.status, timed_out=answer.timed_out
            )
        try:
            text = DET.fromstring(answer.data).findtext("layoutxml") or ""
            inner = DET.fromstring(text)
        except Exception:
            return Result(False, f"unreadable layout on {path}")
        # finesseLayout is namespaced (http://www.cisco.com/vtg/finesse): match the local name.
        return [(el.text or "").strip() for el in inner.iter() if el.tag.rpartition("}")[2] == "gadget"]

    async def desktop_properties(self, node: str) -> dict[str, str]:
        """The node's desktop properties for this agent (name -> text); {} when it does not say (a
        real Finesse gives them with the desktop page: 404 here, not an error)."""
        path = f"{API}/User/{self.agent.id}/DesktopProperties"
        status, data = await self.request("GET", node, path, optional=True)
        if status != 200:
            return {}
        try:
            root = DET.fromstring(data)
        except Exception:
            return {}
        return {child.tag: (child.text or "").strip() for child in root}

    async def preload(self, node: str) -> bool:
        """preLoadSecondaryResources: when the node's desktop property is on, the other node's
        desktop resources, loaded once in the background after the first sign-in, so that a
        failover there finds them cached ("The preloading of server resources reduces latency and
        improves performance during desktop failover"). Whether it preloaded."""
        enabled = self.plan.preload_secondary
        if enabled is None:  # as the node says; on when it does not (the product's default)
            said = (await self.desktop_properties(node)).get("preLoadSecondaryResources", "true")
            enabled = said.lower() == "true"
        if not enabled:
            self.stats["preload_off"] += 1
            return False
        for other in self.endpoints:
            if other == node:
                continue
            resources = [p for p in self.plan.paths() if "/resources/" in p]
            await asyncio.gather(*(self._content(other, p) for p in resources))
        return True


def error_message(data: bytes) -> str:
    try:
        root = DET.fromstring(data)
    except Exception:
        return ""
    return root.findtext("ApiError/ErrorMessage") or root.findtext("ApiError/ErrorType") or ""
