"""Access control, denial by denial: every REST route needs credentials; an agent reads and
changes only itself; supervisors see only their teams; the emulator's control plane takes a token.

(Issues 9 and 14. The node's REST surface over real sockets; 30 generated agents: 1000 and 1025
supervise teams 1 (1000-1024) and 2 (1025-1029), the others are agents. Routes are taken from the
router, so a new route is tried without anyone remembering to add it.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from finesse_emu.server import admin_api
from finesse_emu.server.openapi import OPENAPI_PATH
from finesse_emu.server.rest import API, OPEN_PATHS
from tests.integration.test_finesse_node import HOST, Deployment, deployment, text


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(admin_token="s3cret") as d:
        yield d


def concrete(path: str, **given: str) -> str:
    """A route's path with its variables filled in (another agent's resources where it matters)."""
    values = {
        "user": "1002",
        "dialog": "1",
        "mrd": "5000",
        "id": "1",
        "team": "2",
        "kind": "xml",
        "name": "g",
        **given,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


# Path variables that name whose resource a route acts on; a route with none of them is untargeted.
TARGETS = {"user", "dialog", "team"}
# Guarded routes that name no target: anyone signed in may use them (a reason code is global).
UNTARGETED = {("GET", f"{API}/ReasonCode/{{id}}")}
# Guarded routes whose target is in the query: Devices names an agent by its extension
# (tests/integration/test_same_origin_cors.py tries each caller on it).
QUERY_TARGETED = {("GET", f"{API}/Devices")}
# The administration API: administrators only, whatever they name (tests/integration/test_admin_api.py
# tries every caller on each).
ADMINISTRATION = set(admin_api.PATHS)
BODIES = {
    "User": "<User><state>READY</state></User>",
    "Media": "<Media><state>READY</state></Media>",
    "Dialog": "<Dialog><requestedAction>ANSWER</requestedAction>"
    "<targetMediaAddress>2002</targetMediaAddress></Dialog>",
}


def body_for(method: str, path: str) -> str | None:
    if method != "PUT":
        return None
    return BODIES[next(k for k in ("Media", "Dialog", "User") if f"/{k}/" in path)]


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
        # After 5 bad passwords the account is locked for 5 minutes: still a 401, the same answer
        # (the reason is the node's to log; a real Finesse's 401 does not carry it).
        assert status == 401 and not any(h.lower().startswith("x-emu") for h in headers), (method, path)


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
        ("GET", f"{other}/DesktopProperties", None),
    ]:
        status, doc, _ = await dep.call(method, path, user="1001", body=body)
        assert status == 401, (method, path)
        assert (
            doc is not None and doc.findtext("ApiError/ErrorType") == "Invalid Authorization User Specified"
        )
    status, _, _ = await dep.call("GET", "/User/1001", user="1001")
    assert status == 200
    status, _, _ = await dep.call("GET", "/Dialog/999", user="1001")  # no such dialog
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
    # "Only an administrator can get another user's" reason codes and wrap-up reasons.
    assert (await dep.call("GET", "/User/1001/ReasonCodes?category=NOT_READY", user="1000"))[0] == 401
    assert (await dep.call("GET", "/User/1001/WrapUpReasons", user="1000"))[0] == 401
    assert (await dep.call("GET", "/User/1000/WrapUpReasons", user="1000"))[0] == 200
    # A desktop's properties are its own user's: not even its supervisor reads them.
    assert (await dep.call("GET", "/User/1001/DesktopProperties", user="1000"))[0] == 401
    assert (await dep.call("GET", "/User/1001/DesktopProperties", user="1001"))[0] == 200


async def ringing_dialog(dep: Deployment, agent: str) -> str:
    """A call ringing at ``agent`` (signed in and READY first): its dialog id."""
    sign_in = f"<User><state>LOGIN</state><extension>{2000 + int(agent) - 1000}</extension></User>"
    assert (await dep.call("PUT", f"/User/{agent}", user=agent, body=sign_in))[0] == 202
    assert (await dep.call("PUT", f"/User/{agent}", user=agent, body=BODIES["User"]))[0] == 202
    await dep.wait_user_state(agent, "READY")
    call = {"agent_id": agent, "ani": "5550001", "dnis": "8001"}
    async with dep.http.post(f"http://{HOST}:{dep.a.admin_port}/emu/calls", json=call) as resp:
        call_id = str((await resp.json())["call_id"])
    await dep.wait_dialog(call_id)
    return call_id


async def test_a_supervisor_of_another_team_is_refused_on_every_targeted_route(dep: Deployment) -> None:
    """Issue 14: a team-2 supervisor read a team-1 agent's dialog with 200. Every route that names a
    user, a dialog or a team refuses it (401), and nothing changes; its own team's supervisor may."""
    dialog = await ringing_dialog(dep, "1002")  # 1002 is in team 1
    state = dep.node.model.user("1002").state  # RESERVED: its phone rings
    routes = guarded_routes(dep)
    targeted = [(m, p) for m, p in routes if TARGETS & set(re.findall(r"\{(\w+)\}", p))]
    # A new route is placed on one side.
    assert set(routes) - set(targeted) == UNTARGETED | QUERY_TARGETED | ADMINISTRATION
    assert len(targeted) >= 11
    for method, path in targeted:
        url = concrete(path, dialog=dialog, team="1")[len(API) :]
        if url.endswith("/ReasonCodes"):
            url += "?category=NOT_READY"
        status, doc, _ = await dep.call(method, url, user="1025", body=body_for(method, path))
        assert status == 401, (method, path, status)
        assert text(doc, "ApiError/ErrorType") == "Invalid Authorization User Specified", (method, path)
    # Nothing the refused requests asked for happened (a 401 is answered before any CTI request).
    assert dep.node.model.user("1002").state == state
    assert dep.node.model.dialogs[dialog].state == "ALERTING"
    # The supervisor of team 1 reads the dialog; an agent of the same team does not; call control
    # stays with the dialog's participant, whoever supervises.
    assert (await dep.call("GET", f"/Dialog/{dialog}", user="1000"))[0] == 200
    assert (await dep.call("GET", f"/Dialog/{dialog}", user="1003"))[0] == 401
    status, _, _ = await dep.call("PUT", f"/Dialog/{dialog}", user="1000", body=BODIES["Dialog"])
    assert status == 401 and dep.node.model.dialogs[dialog].state == "ALERTING"
    assert (await dep.call("GET", f"/Dialog/{dialog}", user="1002"))[0] == 200


async def test_ids_in_paths_are_ascii_digits(dep: Deployment) -> None:
    """Issue 14 (finding 9): int() took ARABIC-INDIC DIGIT THREE, so ReasonCode/%D9%A3 was ReasonCode 3."""
    assert (await dep.call("GET", "/ReasonCode/3", user="1001"))[0] == 200
    for raw in ("%D9%A3", "%EF%BC%93", "+3", "%203", "3.0"):  # Arabic-Indic 3, fullwidth 3, sign, space
        status, doc, _ = await dep.call("GET", f"/ReasonCode/{raw}", user="1001")
        assert status == 404 and text(doc, "ApiError/ErrorType") == "Not Found", raw
    assert (await dep.call("GET", "/User/1001/Media/%D9%A5%D9%A0%D9%A0%D9%A0", user="1001"))[0] == 404
    assert (await dep.call("GET", "/Team/%D9%A1", user="1000"))[0] == 404
    assert (await dep.call("GET", "/Team/1", user="1000"))[0] == 200


async def test_the_control_plane_takes_a_token(dep: Deployment) -> None:
    base = f"http://{HOST}:{dep.node.admin_port}/emu"
    async with dep.http.post(f"{base}/faults", json={"kind": "webapp_down"}) as resp:
        assert resp.status == 401
    async with dep.http.get(f"{base}/faults") as resp:
        assert resp.status == 401
    headers = {"Authorization": "Bearer s3cret"}
    async with dep.http.get(f"{base}/faults", headers=headers) as resp:
        assert resp.status == 200
    # RFC 9110: the scheme is case-insensitive (issue 14: lowercase "bearer" was refused).
    for value, status in [
        ("bearer s3cret", 200),
        ("BEARER  s3cret", 200),
        ("Basic s3cret", 401),
        ("bearer S3CRET", 401),
        ("bearers3cret", 401),
        ("bearer", 401),
    ]:
        async with dep.http.get(f"{base}/faults", headers={"Authorization": value}) as resp:
            assert resp.status == status, value
    assert dep.node.status.status.value == "IN_SERVICE"  # the refused fault changed nothing
