"""Access control, denial by denial: every REST route needs credentials; an agent reads and
changes only itself; supervisors see only their teams; the emulator's control plane takes a token.

(Issue 9. The node's REST surface over real sockets; 30 generated agents: 1000 and 1025 supervise
teams 1 and 2, the others are agents.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from finesse_emu.server.openapi import OPENAPI_PATH
from finesse_emu.server.rest import API, OPEN_PATHS
from tests.integration.test_finesse_node import HOST, Deployment, deployment


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(admin_token="s3cret") as d:
        yield d


def concrete(path: str) -> str:
    """A route's path with its variables filled in (another agent's resources where it matters)."""
    values = {
        "user": "1002",
        "dialog": "1",
        "mrd": "5000",
        "id": "1",
        "team": "2",
        "kind": "xml",
        "name": "g",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def guarded_routes(dep: Deployment) -> list[tuple[str, str]]:
    out = []
    for route in dep.node._rest_runner.app.router.routes():  # type: ignore[union-attr]
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or not path.startswith(API) or path in OPEN_PATHS:
            continue
        out.append((route.method, path))
    return out


async def test_every_guarded_route_needs_valid_credentials(dep: Deployment) -> None:
    routes = guarded_routes(dep)
    assert len(routes) >= 12 and OPENAPI_PATH not in {p for _, p in routes}
    for method, path in routes:
        body = "<User><state>READY</state></User>" if method == "PUT" else None
        status, _, headers = await dep.call(method, concrete(path)[len(API) :], user=None, body=body)
        assert status == 401, (method, path)
        status, _, headers = await dep.call(
            method, concrete(path)[len(API) :], user=None, body=body, Authorization="Basic MTAwMTp3cm9uZw=="
        )  # 1001:wrong
        # After 5 bad passwords the account is locked for 5 minutes: still a 401, another reason.
        reason = headers.get("X-Emu-Auth-Reason")
        assert status == 401 and reason in ("bad_credentials", "locked_out"), (method, path)


async def test_an_agent_reads_and_changes_only_itself(dep: Deployment) -> None:
    other = "/User/1002"
    for method, path, body in [
        ("GET", other, None),
        ("PUT", other, "<User><state>READY</state></User>"),
        ("GET", f"{other}/Dialogs", None),
        ("GET", f"{other}/Media", None),
        ("GET", f"{other}/Media/5000", None),
        ("PUT", f"{other}/Media/5000", "<Media><state>READY</state></Media>"),
        ("GET", f"{other}/ReasonCodes?category=NOT_READY", None),
        ("GET", f"{other}/WrapUpReasons", None),
    ]:
        status, doc, _ = await dep.call(method, path, user="1001", body=body)
        assert status == 401, (method, path)
        assert (
            doc is not None and doc.findtext("ApiError/ErrorType") == "Invalid Authorization User Specified"
        )
    status, _, _ = await dep.call("GET", "/User/1001", user="1001")
    assert status == 200
    # Another agent's dialog is not found (not revealed).
    status, _, _ = await dep.call("GET", "/Dialog/999", user="1001")
    assert status == 404


async def test_supervisors_see_their_own_team_only(dep: Deployment) -> None:
    assert (await dep.call("GET", "/Team/1", user="1000"))[0] == 200  # 1000 supervises team 1
    assert (await dep.call("GET", "/User/1001", user="1000"))[0] == 200  # a member of team 1
    assert (await dep.call("GET", "/Team/2", user="1000"))[0] == 401  # not its team
    assert (await dep.call("GET", "/User/1026", user="1000"))[0] == 401  # a member of team 2
    assert (await dep.call("GET", "/Team/1", user="1001"))[0] == 401  # an agent sees no team
    # A supervisor may change a team member's state (Finesse's supervisor actions), not another team's.
    body = "<User><state>READY</state></User>"
    assert (await dep.call("PUT", "/User/1026", user="1000", body=body))[0] == 401


async def test_the_control_plane_takes_a_token(dep: Deployment) -> None:
    base = f"http://{HOST}:{dep.node.admin_port}/emu"
    async with dep.http.post(f"{base}/faults", json={"kind": "webapp_down"}) as resp:
        assert resp.status == 401
    async with dep.http.get(f"{base}/faults") as resp:
        assert resp.status == 401
    headers = {"Authorization": "Bearer s3cret"}
    async with dep.http.get(f"{base}/faults", headers=headers) as resp:
        assert resp.status == 200
    assert dep.node.status.status.value == "IN_SERVICE"  # the refused fault changed nothing
