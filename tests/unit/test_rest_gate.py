"""The REST API's 503 gate (server/rest.py ``service_gate``): "Any request made during this time
receives a 503 Service Unavailable error message", except SystemInfo and the administration routes a
node out of service is configured through. In service it lets everything through without matching
the administration routes: that match ran on every desktop request and cost as much as a tenth of
serving one."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from finesse_emu.server import admin_api, rest
from finesse_emu.server.admin_api import PATHS, configuration_route
from finesse_emu.server.paths import API


def request(method: str, path: str, in_service: bool) -> tuple[web.Request, Counter[str]]:
    stats: Counter[str] = Counter()
    node = SimpleNamespace(core=SimpleNamespace(status=SimpleNamespace(in_service=in_service)), stats=stats)
    app = web.Application()
    app[rest.NODE_KEY] = node  # what the gate reads of the node (a stand-in)
    return make_mocked_request(method, path, app=app), stats


async def served(_: web.Request) -> web.StreamResponse:
    return web.Response(status=200)


@pytest.fixture
def matches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every administration-route match the gate asks for."""
    asked: list[tuple[str, str]] = []

    def counting(method: str, path: str) -> bool:
        asked.append((method, path))
        return configuration_route(method, path)

    monkeypatch.setattr(admin_api, "configuration_route", counting)
    return asked


async def test_in_service_no_administration_match_per_request(matches: list[tuple[str, str]]) -> None:
    for method, path in [
        ("GET", f"{API}/User/1001"),
        ("PUT", f"{API}/User/1001"),
        ("GET", f"{API}/User/1001/Dialogs"),
        ("GET", f"{API}/SystemConfig"),
        ("GET", "/desktop/gadgets/xml/gadget0"),
    ]:
        req, stats = request(method, path, in_service=True)
        assert (await rest.service_gate(req, served)).status == 200
        assert stats["http_503"] == 0
    assert matches == []


async def test_out_of_service_only_systeminfo_and_administration_routes_pass(
    matches: list[tuple[str, str]],
) -> None:
    req, stats = request("GET", f"{API}/User/1001", in_service=False)
    assert (await rest.service_gate(req, served)).status == 503
    assert stats["http_503"] == 1
    req, _ = request("GET", f"{API}/SystemInfo", in_service=False)
    assert (await rest.service_gate(req, served)).status == 200
    for method, path in sorted(PATHS):
        req, stats = request(method, path.replace("{id}", "7"), in_service=False)
        assert (await rest.service_gate(req, served)).status == 200, (method, path)
        assert stats["http_503"] == 0
    assert len(matches) == 1 + len(PATHS)


def test_administration_routes_match_exactly() -> None:
    for method, path in PATHS:
        assert configuration_route(method, path.replace("{id}", "12"))
        assert not configuration_route(method, path.replace("{id}", "12") + "/more")
        assert not configuration_route("PATCH", path.replace("{id}", "12"))
    assert not configuration_route("GET", f"{API}/User/1001")
    assert not configuration_route("GET", f"{API}/Team/1/Users")
    assert not configuration_route("PUT", f"{API}/SystemConfig/x")
