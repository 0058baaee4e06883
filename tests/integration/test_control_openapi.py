"""The control planes' OpenAPI description over real sockets, and schemathesis against it.

``test_finesse_node``'s deployment (CTI stubs A and B, an AWDB stub and a node, in this event loop
on 127.0.0.1): each component serves ``GET /emu/control/openapi.json`` without the token (it only
reads, like ``/emu/health``), listing the routes of its own control plane; schemathesis generates a
few requests per operation of the node's and CTI side A's description (kept short: the suite's time
budget) and checks that no answer is a server error and that every status and content type is one
the description gives. The requests go out from a worker thread while the event loop serves them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import requests
import schemathesis
from hypothesis import given
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance
from schemathesis.core.result import Ok

from emu_base.control_openapi import CONTROL_OPENAPI_PATH
from tests.integration import test_finesse_node as base
from tests.integration.test_finesse_node import HOST, Deployment
from tests.integration.test_rest_schemathesis import bounded

dep = base.dep
EXAMPLES = 2  # per operation: a smoke run, not a search


def fuzz(base_url: str) -> tuple[int, list[str]]:
    """Requests sent and the failures, for every operation of the control plane at ``base_url``."""
    spec = requests.get(base_url + CONTROL_OPENAPI_PATH, timeout=10).json()
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    sent = 0
    session = requests.Session()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()

        @bounded(EXAMPLES)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal sent
            response = case.call(base_url=base_url, session=session, timeout=10)
            sent += 1
            try:
                checks = [not_a_server_error, status_code_conformance, content_type_conformance]
                case.validate_response(response, checks=checks)
            except (AssertionError, BaseExceptionGroup) as exc:
                failures.append(f"{case.operation.label}: {type(exc).__name__}: {exc}"[:400])

        run()
    session.close()
    return sent, failures


async def test_each_control_plane_serves_its_description(dep: Deployment) -> None:
    for component, port in (("finesse-a", dep.node.admin_port), ("cti-a", dep.a.admin_port)):
        async with dep.http.get(f"http://{HOST}:{port}{CONTROL_OPENAPI_PATH}") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/json")
            doc = await resp.json()
        assert doc["info"]["title"].startswith("finesse-emu control plane"), component
        assert "/emu/faults" in doc["paths"] and CONTROL_OPENAPI_PATH in doc["paths"], component
    async with dep.http.get(f"http://{HOST}:{dep.a.admin_port}{CONTROL_OPENAPI_PATH}") as resp:
        assert "/emu/calls/{call_id}/{action}" in (await resp.json())["paths"]


async def test_schemathesis_against_the_node_and_cti_control_planes(dep: Deployment) -> None:
    for port in (dep.node.admin_port, dep.a.admin_port):
        sent, failures = await asyncio.to_thread(fuzz, f"http://{HOST}:{port}")
        assert sent > 0 and not failures, failures
