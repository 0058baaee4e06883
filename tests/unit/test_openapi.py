"""The OpenAPI description cannot drift from the routes of rest.py, and its request bodies are honest."""

from __future__ import annotations

import json
import re
from collections import Counter
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import aiohttp
import aiohttp.test_utils
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Ok

from finesse_emu.server import xml as X
from finesse_emu.server.admin_api import configuration_route
from finesse_emu.server.openapi import (
    NOT_XML,
    OPENAPI_PATH,
    OPERATIONS,
    WHITESPACE,
    build_openapi,
    stale_operations,
    undocumented_routes,
)
from finesse_emu.server.rest import API, OPEN_PATHS, RestNode, build_app

if TYPE_CHECKING:
    from aiohttp import web

Case = schemathesis.Case[Any]


def app(in_service: bool = True) -> web.Application:
    """The real app of rest.py around a stand-in node (enough for the middlewares of open paths)."""
    node = SimpleNamespace(
        core=SimpleNamespace(status=SimpleNamespace(in_service=in_service)),
        stats=Counter(),
        config=SimpleNamespace(event_log=False),
    )
    return build_app(cast("RestNode", node))


def routes(application: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route but aiohttp's implicit HEADs."""
    return {
        (r.method, r.resource.canonical)
        for r in application.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }


SPEC = json.loads(json.dumps(build_openapi(app().router, OPEN_PATHS)))  # as served: JSON all the way
SCHEMA = schemathesis.openapi.from_dict(SPEC)


def test_every_route_of_rest_py_is_described_and_nothing_else() -> None:
    application = app()
    assert undocumented_routes(application.router) == []
    # The node adds 12.6's WebSocket to rest.py's app (tests/unit/test_openapi_coverage.py).
    node_only = {("GET", "/ws"), ("GET", "/ws/")}
    assert set(stale_operations(application.router)) == node_only
    described = {(m.upper(), p) for p, ops in SPEC["paths"].items() for m in ops}
    assert described == routes(application) == set(OPERATIONS) - node_only
    for path, ops in SPEC["paths"].items():
        names = re.findall(r"\{(\w+)\}", path)
        for op in ops.values():
            assert "x-emu-undocumented" not in op
            params = [p for p in op["parameters"] if p.get("in") == "path"]
            assert [p["name"] for p in params] == names and all(p["required"] for p in params)


def test_a_new_route_without_a_description_is_caught() -> None:
    application = app()

    async def users(request: web.Request) -> web.Response:
        raise AssertionError

    application.router.add_get(f"{API}/Users", users)
    assert undocumented_routes(application.router) == [("GET", f"{API}/Users")]
    op = build_openapi(application.router, OPEN_PATHS)["paths"][f"{API}/Users"]["get"]
    assert op["x-emu-undocumented"] is True and op["operationId"] == "users"
    assert {"401", "503"} <= set(op["responses"])  # what the middlewares add, still derived


def test_middleware_rules_are_derived() -> None:
    assert SPEC["components"]["securitySchemes"]["basicAuth"] == {"type": "http", "scheme": "basic"}
    assert SPEC["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert SPEC["security"] == [{"basicAuth": []}, {"bearerAuth": []}]  # Basic, or SSO's token
    for path, ops in SPEC["paths"].items():
        guarded = path.startswith(API) and path not in OPEN_PATHS
        for method, op in ops.items():
            assert ("security" not in op) is guarded, path
            assert ("401" in op["responses"]) is guarded, path
            # The administration API is answered while the node is out of service (issue 17).
            gated = guarded and not configuration_route(method.upper(), path)
            assert ("503" in op["responses"]) is gated, (method, path)
            assert {"$ref": "#/components/parameters/requestId"} in op["parameters"]
            for status, response in op["responses"].items():
                assert "requestId" in response["headers"], (path, status)
                for media_type in response.get("content", {}):
                    assert media_type == ("application/json" if path == OPENAPI_PATH else "application/xml")


def test_status_codes_per_route() -> None:
    def codes(method: str, path: str) -> set[int]:
        return {int(s) for s in SPEC["paths"][f"{API}{path}"][method]["responses"]}

    assert codes("get", "/SystemInfo") == {200}
    assert codes("get", "/User/{user}") == {200, 401, 404, 503}
    assert codes("put", "/User/{user}") == {202, 400, 401, 404, 413, 415, 503}
    assert codes("get", "/User/{user}/ReasonCodes") == {200, 400, 401, 404, 503}
    assert "content" not in SPEC["paths"][f"{API}/User/{{user}}"]["put"]["responses"]["202"]
    params = SPEC["paths"][f"{API}/User/{{user}}/ReasonCodes"]["get"]["parameters"]
    category = next(p for p in params if p.get("name") == "category")
    assert category["in"] == "query" and category["required"]
    assert category["schema"]["enum"] == ["NOT_READY", "LOGOUT"]
    user = SPEC["components"]["schemas"]["UserUpdate"]
    assert user["xml"] == {"name": "User"} and user["properties"]["state"]["enum"] == [
        "LOGIN",
        "READY",
        "NOT_READY",
        "LOGOUT",
    ]
    assert all(isinstance(op, Ok) for op in SCHEMA.get_all_operations())  # schemathesis reads it


def test_character_classes_are_the_parsers() -> None:
    """The patterns' whitespace and not-XML classes are exactly str.isspace and the XML package's own test."""
    allowed = re.compile(f"[^{WHITESPACE}{NOT_XML}]")
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # lone surrogates cannot be sent in UTF-8
        char = chr(code)
        parser_allows = not char.isspace() and X.common.NOT_XML_CHAR.search(char) is None
        assert (allowed.fullmatch(char) is not None) == parser_allows, hex(code)


def fields(case: Case) -> dict[str, Any]:
    assert isinstance(case.body, dict)
    return case.body


def body_of(case: Case) -> bytes:
    data = case.as_transport_kwargs(base_url="http://127.0.0.1")["data"]
    assert isinstance(data, bytes)
    return data


@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(case=SCHEMA[f"{API}/User/{{user}}"]["PUT"].as_strategy())
def test_every_valid_user_body_parses(case: Case) -> None:
    """What the description calls a valid PUT User body, parse_user_update accepts, as generated."""
    body = body_of(case)
    assert body.startswith(b"<User>")
    update = X.parse_user_update(body)
    assert update.state.value == fields(case)["state"]


@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(case=SCHEMA[f"{API}/Dialog/{{dialog}}"]["PUT"].as_strategy())
def test_every_valid_dialog_body_parses(case: Case) -> None:
    """Likewise for PUT Dialog, but for SEND_DTMF's dtmfString, which OpenAPI 3.0 cannot require."""
    body = fields(case)
    params: list[dict[str, str]] = body.get("actionParams", [])
    if body["requestedAction"] == "SEND_DTMF" and not any(
        p["name"].strip() == "dtmfString" and p.get("value") for p in params
    ):
        return
    action = X.parse_dialog_action(body_of(case))
    assert action.requested_action.value == body["requestedAction"]


async def test_served_without_credentials_even_out_of_service() -> None:
    application = app(in_service=False)
    server = aiohttp.test_utils.TestServer(application, host="127.0.0.1")
    async with server, aiohttp.ClientSession() as http:
        async with http.get(server.make_url(OPENAPI_PATH)) as resp:
            assert resp.status == 200 and resp.content_type == "application/json"
            assert await resp.json() == SPEC
        async with http.get(server.make_url(f"{API}/User/1000")) as resp:
            assert resp.status == 503  # the gate is on: the description is outside it
