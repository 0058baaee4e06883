"""Read the Finesse nodes' journals from a test: what the desktops asked and what was published.

``GET /emu/journal`` of a node (finesse_emu/server/journal.py) lists its REST requests and answers
and the notifications it published. :class:`Journal` reads it for one or both nodes of a
deployment, with WireMock's verification helpers::

    async with Journal.of_run(run_dir) as journal:          # both nodes of `finesse-emu up`
        await journal.verify("PUT", "/finesse/api/User/1001", count=1, status=202)
        await journal.wait_for("notification", path="/finesse/api/User/1001", agent="1001")

:meth:`Journal.verify` raises AssertionError listing the requests nearest to the one expected
("near misses": same method or a similar path), so a failing test says what the node did see.
The deployment's run directory gives the nodes' control planes and the token (as ``finesse-emu
chaos`` reads them); :meth:`Journal.at` takes addresses directly.
"""

from __future__ import annotations

import asyncio
import difflib
import fnmatch
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from emu_base.admin import auth_headers
from finesse_emu.deployment.launcher import STATE_FILE, read_admin_token

__all__ = ["Journal", "JournalError"]

NODE_ROLES = ("publisher", "subscriber")
NEAR_MISSES = 5  # requests listed by a failed verify
Entry = dict[str, Any]


class JournalError(Exception):
    """A journal that cannot be read (no deployment, a node refusing, a bad filter)."""


class Journal:
    """The journals of some nodes (name -> control-plane base URL), read with the deployment's token.

    Entries of several nodes are merged in time order, each with ``node_name`` (the Finesse node's
    name) added. Filters are those of ``GET /emu/journal`` (kind, agent, method, path glob, since,
    after, status, limit), and ``node``: one node's journal only (its name, e.g. ``finesse-b``)."""

    def __init__(self, nodes: Mapping[str, str], token: str | None = None, timeout: float = 10.0) -> None:
        if not nodes:
            raise JournalError("no node to read a journal from")
        self.nodes = dict(nodes)
        self._headers = auth_headers(token)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    def at(cls, nodes: Mapping[str, str], token: str | None = None) -> Journal:
        """Nodes by name and control-plane URL (``http://127.0.0.1:8089``)."""
        return cls(nodes, token)

    @classmethod
    def of_run(cls, run_dir: str | Path, nodes: Sequence[str] | None = None) -> Journal:
        """The Finesse nodes of the deployment running from ``run_dir`` (all, or those named)."""
        run_dir = Path(run_dir)
        try:
            state = json.loads((run_dir / STATE_FILE).read_text())
            token = read_admin_token(run_dir)
        except (OSError, ValueError) as exc:
            raise JournalError(f"no deployment readable in {run_dir}: {exc}") from exc
        found = {
            c["name"]: f"http://{c['host']}:{c['ports']['admin']}"
            for c in state.get("components", [])
            if c.get("role") in NODE_ROLES and c.get("ports", {}).get("admin")
        }
        if nodes is not None:
            unknown = sorted(set(nodes) - set(found))
            if unknown:
                raise JournalError(f"no Finesse node(s) {unknown} in {run_dir}; nodes: {sorted(found)}")
            found = {n: found[n] for n in nodes}
        return cls(found, token)

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self._http

    async def _get(self, name: str, url: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            async with self._session().get(f"{url}/emu/journal", params=params) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise JournalError(f"{name} refused GET /emu/journal {params}: {resp.status} {text}")
                answer: dict[str, Any] = json.loads(text)
                return answer
        except aiohttp.ClientError as exc:
            raise JournalError(f"{name}: GET /emu/journal failed: {exc!r}") from exc

    def _select(self, node: str | None) -> dict[str, str]:
        if node is None:
            return self.nodes
        if node not in self.nodes:
            raise JournalError(f"no Finesse node {node!r}; nodes: {sorted(self.nodes)}")
        return {node: self.nodes[node]}

    async def read(self, node: str | None = None, **filters: Any) -> dict[str, dict[str, Any]]:
        """Each node's whole answer (``entries``, ``dropped``, ``last_seq``), by node name (all the
        nodes, or ``node``)."""
        params = {k: str(v) for k, v in filters.items() if v is not None}
        nodes = self._select(node)
        answers = await asyncio.gather(*(self._get(n, u, params) for n, u in nodes.items()))
        return dict(zip(nodes, answers, strict=True))

    async def entries(self, **filters: Any) -> list[Entry]:
        """The entries the filters select on every node, in time order, each with its ``node_name``."""
        out = [
            {**entry, "node_name": name}
            for name, answer in (await self.read(**filters)).items()
            for entry in answer["entries"]
        ]
        out.sort(key=lambda e: (e["t"], e["seq"]))
        limit = filters.get("limit")
        return out[len(out) - int(limit) :] if limit else ([] if limit == 0 else out)  # over the nodes

    async def count(self, method: str | None = None, path: str | None = None, **filters: Any) -> int:
        return len(await self.entries(method=method, path=path, **filters))

    async def clear(self, node: str | None = None) -> None:
        """Empty the journals (of every node, or of ``node``)."""

        async def one(name: str, url: str) -> None:
            async with self._session().delete(f"{url}/emu/journal") as resp:
                if resp.status != 200:
                    raise JournalError(f"{name} refused DELETE /emu/journal: {resp.status}")

        await asyncio.gather(*(one(n, u) for n, u in self._select(node).items()))

    async def verify(
        self,
        method: str,
        path: str,
        *,
        count: int | None = None,
        at_least: int | None = None,
        status: int | None = None,
        agent: str | None = None,
        **filters: Any,
    ) -> list[Entry]:
        """WireMock's ``verify``: the REST requests ``method path`` (a glob) with ``status`` and
        ``agent``, exactly ``count`` of them or ``at_least`` (default: at least one). Returns them;
        AssertionError otherwise, with the nearest requests the nodes did see."""
        if count is not None and at_least is not None:
            raise ValueError("count or at_least, not both")
        found = await self.entries(
            kind="rest", method=method, path=path, agent=agent, status=status, **filters
        )
        ok = len(found) == count if count is not None else len(found) >= (at_least or 1)
        if ok:
            return found
        wanted = f"{method.upper()} {path}" + (f" status={status}" if status is not None else "")
        wanted += f" agent={agent}" if agent is not None else ""
        expected = f"exactly {count}" if count is not None else f"at least {at_least or 1}"
        seen = await self.entries(
            kind="rest", **{k: v for k, v in filters.items() if k in ("since", "after", "node")}
        )
        near = near_misses(seen, method, path, status, agent)
        lines = [f"expected {expected} request(s) {wanted}, found {len(found)}"]
        if near:
            lines.append("nearest requests seen:")
            lines += [f"  {describe(e)}" for e in near]
        else:
            lines.append("no REST request in the journal")
        raise AssertionError("\n".join(lines))

    async def wait_for(
        self,
        kind: str | None = None,
        *,
        count: int | None = None,
        at_least: int = 1,
        within: float = 5.0,
        poll: float = 0.05,
        **filters: Any,
    ) -> list[Entry]:
        """Poll until the filters select ``count`` entries (or ``at_least``), within ``within``
        seconds; TimeoutError saying what was seen last."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = await self.entries(kind=kind, **filters)
            if (len(found) == count) if count is not None else len(found) >= at_least:
                return found
            if loop.time() >= deadline:
                expected = f"exactly {count}" if count is not None else f"at least {at_least}"
                raise TimeoutError(
                    f"journal: {expected} {kind or 'entries'} {filters} within {within}s; found {len(found)}"
                )
            await asyncio.sleep(poll)


def describe(entry: Entry) -> str:
    """One line for an entry in an assertion message."""
    if entry["kind"] == "rest":
        query = f"?{entry['query']}" if entry.get("query") else ""
        fault = f" (fault {entry['fault']})" if entry.get("fault") else ""
        return (
            f"#{entry['seq']} {entry.get('node_name', '')} {entry['method']} {entry['path']}{query} -> "
            f"{entry['status']} agent={entry['agent']}{fault}"
        )
    return f"#{entry['seq']} {entry.get('node_name', '')} {entry['verb']} on {entry['node']}"


def near_misses(
    seen: Sequence[Entry], method: str, path: str, status: int | None, agent: str | None, n: int = NEAR_MISSES
) -> list[Entry]:
    """The ``n`` requests nearest to the one expected: a matching method, path (glob, else the
    closest text), status and agent each count; the newest first among equals."""

    def score(e: Entry) -> float:
        path_score = (
            1.0
            if fnmatch.fnmatchcase(e["path"], path)
            else difflib.SequenceMatcher(None, e["path"], path).ratio()
        )
        same_method = 1.0 if e["method"] == method.upper() else 0.0
        same_status = 0.5 if status is None or e["status"] == status else 0.0
        same_agent = 0.5 if agent is None or e["agent"] == agent else 0.0
        return same_method + 2 * path_score + same_status + same_agent

    ranked = sorted(seen, key=lambda e: (score(e), e["t"]), reverse=True)
    return ranked[:n]
