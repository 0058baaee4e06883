"""Schemathesis against a live node: the REST API conforms to the OpenAPI description it serves.

The node of ``test_finesse_node``'s ``dep`` fixture (CTI stubs and an AWDB stub in process, real sockets
on 127.0.0.1) serves ``/emu/openapi.json``; schemathesis loads it from there and generates requests for
every operation, as several identities: agent 1000 (a supervisor of team 1), agent 1001 (an agent of
team 1, with a call ringing), no credentials, a wrong password, and the Authorization values
schemathesis generates itself. The requests go out from a worker thread (schemathesis uses
``requests``) while the event loop keeps serving them.

Every response is checked with schemathesis' ``not_a_server_error``, ``status_code_conformance``,
``content_type_conformance``, ``response_headers_conformance`` and ``ignored_auth`` (which also probes
each authenticated success without and with wrong credentials), and with :func:`conformance`, for
what schemathesis cannot see in XML: the documented root element and its required children, an XML
Content-Type on every /finesse/api answer that has a body (202 has none), the requestId echo, 401
for anonymous or wrong-password requests, and 503 on every guarded path (only) while the node is
OUT_OF_SERVICE. The one other 5xx allowed is PUT Dialog's documented 501 Not Implemented (actions the
emulator does not carry out, as Finesse answers CCX-only actions on CCE). Requests that ``requests``
cannot send (non-UTF-8 header bytes, broken Content-Encoding, oversized bodies) go out as raw bytes
at the end of this module.

Bounded and deterministic: a fixed number of examples per operation and identity, derandomized
hypothesis, no example database, no shrinking (failures are collected, not raised). What the server
answers can still depend on timing (a call answered by one request before another asks for it).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import pytest
import requests
import schemathesis
from defusedxml import ElementTree as DET
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_headers_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from emu_base.timers import Timers
from finesse_emu.server import xml as X
from finesse_emu.server.admin_api import configuration_route
from finesse_emu.server.openapi import OPENAPI_PATH
from tests.integration import test_finesse_node as base
from tests.integration.test_finesse_node import HOST, Deployment, basic

Case = schemathesis.Case[Any]
dep = base.dep  # the deployment fixture: CTI stubs A/B, AWDB stub, one node, all IN_SERVICE


@pytest.fixture
async def steady_dep() -> AsyncIterator[Deployment]:
    """The same deployment on slower timers (time_scale 0.2: heartbeats 1 s apart). The in-service
    run must stay IN_SERVICE for the whole Hypothesis run, whose generation shares this process's
    GIL with the event loop; at ``base.SCALE`` a stall of a few tenths of a second on a loaded
    machine is a real CTI heartbeat loss and turns the node OUT_OF_SERVICE mid-run."""
    async with base.deployment(Timers.build(0.2), secondary_host="127.0.0.2") as d:
        yield d


API = "/finesse/api"
XML = "application/xml"
OPEN = {f"{API}/SystemInfo", OPENAPI_PATH}
BAD_PASSWORD_USER = "1029"  # locked out after 5 tries (still 401): no other identity here uses it

Identity = tuple[str, dict[str, str] | None]  # None: keep the Authorization schemathesis generated
SUPERVISOR: Identity = ("supervisor 1000", basic("1000"))
AGENT: Identity = ("agent 1001", basic("1001"))
ANONYMOUS: Identity = ("no credentials", {})
WRONG_PASSWORD: Identity = ("wrong password", basic(BAD_PASSWORD_USER, "not-the-password"))
GENERATED: Identity = ("generated credentials", None)
UNAUTHENTICATED = {ANONYMOUS[0], WRONG_PASSWORD[0], GENERATED[0]}
Plan = list[tuple[Identity, GenerationMode, int]]  # who, what kind of data, examples per operation

IN_SERVICE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    ignored_auth,
]
# While OUT_OF_SERVICE 503 is the intended answer: `conformance` allows it there, and only there.
OUT_OF_SERVICE_CHECKS = [status_code_conformance, content_type_conformance, response_headers_conformance]


@dataclass
class Report:
    """What a run sent and what it found."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, identity: Identity, case: Case, problem: str) -> None:
        label, auth = identity
        if len(self.failures) < 100:
            curl = case.as_curl_command(headers=auth)
            self.failures.append(f"[{label}] {case.operation.label}: {problem}\n    {curl}")

    def summary(self) -> str:
        shown = "\n".join(self.failures[:20])
        statuses = dict(sorted(self.statuses.items()))
        return (
            f"{self.requests} requests in {self.seconds:.1f} s, statuses {statuses}, "
            f"{len(self.failures)} failures\n{shown}"
        )


@dataclass(frozen=True)
class Hints:
    """Known-good values (ids, extensions), mixed into positive generation so that 200/202 are reached."""

    path: dict[str, list[Any]]
    body: dict[str, list[Any]]

    def apply(self, case: Case, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            known = self.path.get(name)
            if known and data.draw(st.booleans(), label=f"use a known {name}"):
                assert case.path_parameters is not None
                case.path_parameters[name] = data.draw(st.sampled_from(known), label=name)
        if isinstance(case.body, dict):
            for name, known in self.body.items():
                if name in case.body and data.draw(st.booleans(), label=f"use a known {name}"):
                    case.body[name] = data.draw(st.sampled_from(known), label=name)


ExtraCheck = Callable[[Case, schemathesis.Response], list[str]]


def header(response: schemathesis.Response, name: str) -> str | None:
    """A response header (schemathesis keeps them lower-cased, as lists)."""
    values = response.headers.get(name.lower())
    return values[0] if values else None


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _xml_problems(schema: dict[str, Any], body: bytes) -> list[str]:
    try:
        root: Element = DET.fromstring(body)
    except Exception as exc:
        return [f"body is not XML ({exc!r}): {body[:200]!r}"]
    expected = schema.get("xml", {}).get("name")
    if expected and root.tag != expected:
        return [f"root <{root.tag}>, documented <{expected}>"]
    children = {child.tag for child in root}
    missing = [name for name in schema.get("required", []) if name not in children]
    return [f"<{root.tag}> lacks required {missing}"] if missing else []


def conformance(spec: dict[str, Any], identity: str, in_service: bool) -> ExtraCheck:
    """What schemathesis cannot check on XML answers, and the 401 / 503 rules of the middlewares."""

    def check(case: Case, response: schemathesis.Response) -> list[str]:
        problems: list[str] = []
        path = case.operation.path
        status = response.status_code
        guarded = path.startswith(API) and path not in OPEN
        # The administration API is answered out of service too (issue 17): only credentials guard it.
        gated = guarded and not configuration_route(case.method.upper(), path)
        intended = (status == 503 and gated and not in_service) or intended_501(case, response)
        if status >= 500 and not intended:
            problems.append(f"server error {status}: {response.content[:300]!r}")
        if not in_service and gated and status != 503:
            problems.append(f"{status} while OUT_OF_SERVICE (expected 503)")
        if not in_service and not gated and status == 503:
            problems.append("503 on an open path or a configuration route while OUT_OF_SERVICE (not gated)")
        if in_service and guarded and identity in UNAUTHENTICATED and status != 401:
            problems.append(f"{status} without valid credentials (expected 401)")
        sent_id = case.headers.get("requestId") if case.headers else None
        if sent_id is not None and header(response, "requestId") != sent_id:
            problems.append(f"requestId {sent_id!r} echoed as {header(response, 'requestId')!r}")
        content_type = header(response, "Content-Type") or ""
        if path.startswith(API) and response.content and not content_type.startswith(XML):
            problems.append(f"Content-Type {content_type!r}")
        documented = case.operation.definition.raw["responses"].get(str(status), {})
        schema = documented.get("content", {}).get(XML, {}).get("schema")
        if schema is not None:
            problems += _xml_problems(_resolve(spec, schema), response.content)
        elif path.startswith(API) and response.content:
            problems.append(f"{status} has a body but documents none: {response.content[:100]!r}")
        if status in (401, 503) and guarded:
            expected = "Authorization" if status == 401 else "SERVER_OUT_OF_SERVICE"
            if expected.encode() not in response.content:
                problems.append(f"{status} without {expected}: {response.content[:200]!r}")
        return problems

    return check


def intended_501(case: Case, response: schemathesis.Response) -> bool:
    """PUT Dialog answers 501 Not Implemented for the actions the emulator does not carry out, as
    Finesse does for CCX-only actions on CCE: documented, so not a server error."""
    documented = str(response.status_code) in case.operation.definition.raw["responses"]
    return response.status_code == 501 and documented and b"<ErrorType>Not Implemented<" in response.content


def checks_for(case: Case, response: schemathesis.Response, checks: list[Any]) -> list[Any]:
    if intended_501(case, response):
        return [c for c in checks if c is not not_a_server_error]
    return checks


def fuzz(
    schema: schemathesis.schemas.BaseSchema,
    base_url: str,
    identity: Identity,
    mode: GenerationMode,
    max_examples: int,
    report: Report,
    checks: list[Any],
    extra: ExtraCheck,
    hints: Hints | None = None,
    only: Iterable[str] | None = None,
) -> None:
    """One bounded, derandomized hypothesis run per operation (or per ``only`` label)."""
    auth = identity[1]
    wanted = None if only is None else set(only)
    session = requests.Session()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if wanted is not None and operation.label not in wanted:
            continue
        # The administration API (its routes document 403, the subscriber's refusal) answers none of
        # these identities past authentication, so a few examples prove its 401; its bodies are
        # and access rules are tested with an administrator in test_admin_api.py.
        examples = min(max_examples, 3) if "403" in operation.definition.raw["responses"] else max_examples

        @bounded(examples)
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def run(case: Case, data: st.DataObject) -> None:
            if hints is not None:
                hints.apply(case, data)
            # The identity's credentials replace whatever Authorization was generated (none: removed);
            # given as explicit headers, so ignored_auth knows them for valid and probes without them.
            if auth is not None and case.headers:
                case.headers.pop("Authorization", None)  # case-insensitive
            try:
                response = case.call(base_url=base_url, session=session, headers=auth, timeout=10)
            except requests.RequestException as exc:
                report.fail(identity, case, f"no answer: {exc!r}")
                return
            report.requests += 1
            report.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=checks_for(case, response, checks), headers=auth)
            except (AssertionError, BaseExceptionGroup) as exc:
                report.fail(identity, case, f"{type(exc).__name__}: {exc}".strip()[:600])
            for problem in extra(case, response):
                report.fail(identity, case, problem)

        try:
            run()
        except Unsatisfiable:
            # Negative mode on an operation with nothing to make invalid (SystemInfo, the description).
            assert mode is GenerationMode.NEGATIVE, operation.label
    session.close()


def bounded(examples: int) -> settings:
    """A bounded, deterministic hypothesis run: ``examples`` per operation, derandomized, no example
    database, no shrinking, no deadline (the server shares the machine)."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def load_schema(base_url: str) -> tuple[schemathesis.schemas.BaseSchema, dict[str, Any]]:
    """The description as the node serves it (no credentials), and the schemathesis schema made from it."""
    response = requests.get(f"{base_url}{OPENAPI_PATH}", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    spec: dict[str, Any] = response.json()
    return schemathesis.openapi.from_dict(spec), spec


def run_plan(
    base_url: str,
    plan: Plan,
    in_service: bool,
    hints: Hints | None = None,
    only: Iterable[str] | None = None,
) -> Report:
    schema, spec = load_schema(base_url)
    checks = IN_SERVICE_CHECKS if in_service else OUT_OF_SERVICE_CHECKS
    report = Report()
    started = time.monotonic()
    for identity, mode, examples in plan:
        extra = conformance(spec, identity[0], in_service)
        use_hints = hints if mode is GenerationMode.POSITIVE else None
        fuzz(schema, base_url, identity, mode, examples, report, checks, extra, use_hints, only)
    report.seconds = time.monotonic() - started
    return report


async def start_a_call(dep: Deployment, agent: str, extension: str) -> str:
    """Sign ``agent`` in, make it READY and have the CTI stub offer it a call: the dialog id."""
    body = f"<User><state>LOGIN</state><extension>{extension}</extension></User>"
    assert (await dep.call("PUT", f"/User/{agent}", user=agent, body=body))[0] == 202
    await dep.wait_user_state(agent, "NOT_READY")
    ready = "<User><state>READY</state></User>"
    assert (await dep.call("PUT", f"/User/{agent}", user=agent, body=ready))[0] == 202
    await dep.wait_user_state(agent, "READY")
    url = f"http://{HOST}:{dep.a.admin_port}/emu/calls"
    call = {"agent_id": agent, "ani": "5550101", "dnis": "8000", "variables": {"callVariable1": "x"}}
    async with dep.http.post(url, json=call) as resp:
        assert resp.status == 201
        call_id = str((await resp.json())["call_id"])
    await dep.wait_dialog(call_id)
    return call_id


def hints_for(dep: Deployment, dialog_id: str) -> Hints:
    reason_code_ids = [rc.id for rc in dep.node.core.directory.reason_codes[:4]]
    return Hints(
        path={
            "user": ["1000", "1001", "1002", "1026", "agent0001", "AGENT0002", "99999"],
            "dialog": [dialog_id, "0"],
            "team": [1, 2, 3],
            "mrd": [1, 2],
            "id": reason_code_ids,
        },
        body={
            "extension": ["2000", "2001", "2002"],
            "targetMediaAddress": ["2001"],
            "reasonCodeId": reason_code_ids,
        },
    )


# No credentials and a wrong password are answered by the middlewares before any handler reads the
# request (basic_auth's 401; out of service, service_gate's 503 first): what was generated changes
# nothing in the answer, so three examples per operation show it (ten took a fifth of the run). The
# generated Authorization values are what the auth parser reads: those keep ten.
UNAUTHENTICATED_EXAMPLES = 3
IN_SERVICE_PLAN: Plan = [
    (SUPERVISOR, GenerationMode.POSITIVE, 30),
    (SUPERVISOR, GenerationMode.NEGATIVE, 15),
    (AGENT, GenerationMode.POSITIVE, 15),
    (ANONYMOUS, GenerationMode.POSITIVE, UNAUTHENTICATED_EXAMPLES),
    (WRONG_PASSWORD, GenerationMode.POSITIVE, UNAUTHENTICATED_EXAMPLES),
    (GENERATED, GenerationMode.NEGATIVE, 10),
]
OUT_OF_SERVICE_PLAN: Plan = [
    (SUPERVISOR, GenerationMode.POSITIVE, 15),
    (SUPERVISOR, GenerationMode.NEGATIVE, 10),
    (ANONYMOUS, GenerationMode.POSITIVE, UNAUTHENTICATED_EXAMPLES),
]


@pytest.mark.timeout(240)
async def test_schemathesis_in_service(steady_dep: Deployment) -> None:
    dep = steady_dep
    hints = hints_for(dep, await start_a_call(dep, "1001", "2001"))
    base_url = f"http://{HOST}:{dep.node.http_port}"
    report = await asyncio.to_thread(run_plan, base_url, IN_SERVICE_PLAN, True, hints)
    print(f"\nin service: {report.summary()}")
    assert dep.node.status.status.value == "IN_SERVICE"
    assert not report.failures, report.summary()
    assert report.requests >= 1000, report.summary()
    # The run got past the middlewares into the handlers, to their success paths too.
    for status in (200, 202, 400, 401, 404):
        assert report.statuses[status], report.summary()


@pytest.mark.timeout(240)
async def test_schemathesis_out_of_service(dep: Deployment) -> None:
    # A silent CTI side (heartbeats unanswered) whose socket also refuses new sessions, and a side B
    # that stays idle: the node goes OUT_OF_SERVICE and stays there for the whole run.
    await dep.fault(dep.a, "refuse_sessions")
    await dep.fault(dep.a, "ignore_heartbeats")
    await dep.wait_status("OUT_OF_SERVICE")
    before = dep.node.stats["http_503"]
    base_url = f"http://{HOST}:{dep.node.http_port}"
    report = await asyncio.to_thread(run_plan, base_url, OUT_OF_SERVICE_PLAN, False)
    print(f"\nout of service: {report.summary()}")
    assert dep.node.status.status.value == "OUT_OF_SERVICE"
    assert not report.failures, report.summary()
    # 401: the administration routes, answered out of service, refuse a supervisor and no credentials.
    assert set(report.statuses) <= {200, 401, 404, 503} and {200, 503} <= set(report.statuses), (
        report.summary()
    )
    assert dep.node.stats["http_503"] - before == report.statuses[503]


async def test_a_server_error_fails_the_run(dep: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself: a handler that raises (a 500) is reported, not passed over."""

    def broken(view: X.TeamView) -> bytes:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(X, "team", broken)  # GET /finesse/api/Team/{team} now fails for a known team
    hints = Hints(path={"team": [1]}, body={})
    base_url = f"http://{HOST}:{dep.node.http_port}"
    plan: Plan = [(SUPERVISOR, GenerationMode.POSITIVE, 10)]
    only = [f"GET {API}/Team/{{team}}"]
    report = await asyncio.to_thread(run_plan, base_url, plan, True, hints, only)
    assert report.statuses[500], report.summary()
    assert any("Server error" in f for f in report.failures), report.summary()  # not_a_server_error
    assert any("server error 500" in f for f in report.failures), report.summary()  # conformance


# -- what schemathesis cannot send --------------------------------------------------------------------
# requests only sends ASCII-clean headers and plain bodies; these go out as raw bytes.


async def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        length = f"Content-Length: {len(body)}\r\n".encode() if body else b""
        writer.write(head + length + b"Host: x\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(5):
            data = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    raw_headers, _, payload = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in raw_headers.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, payload


def authorization(user: str = "1000") -> bytes:
    return f"Authorization: {basic(user)['Authorization']}\r\n".encode()


async def test_raw_hostile_requests_are_4xx_api_errors(dep: Deployment) -> None:
    port = dep.node.http_port
    assert port is not None
    put_user = b"PUT /finesse/api/User/1000 HTTP/1.1\r\nContent-Type: application/xml\r\n" + authorization()
    # A body over client_max_size: the parser's 400, not aiohttp's 413 text/plain.
    status, headers, body = await raw_request(port, put_user, b" " * (X.MAX_BODY_BYTES + 1))
    assert status == 400 and headers["content-type"].startswith(XML), body
    assert b"Request body exceeds" in body
    # A body that does not decode as its Content-Encoding says: 400, was a 500 (RequestPayloadError).
    for encoding in (b"gzip", b"deflate"):
        head = put_user + b"Content-Encoding: " + encoding + b"\r\n"
        status, headers, body = await raw_request(port, head, b"<User><state>READY</state></User>")
        assert status == 400 and headers["content-type"].startswith(XML), body
    # A requestId that is not UTF-8: answered (the echo drops what it cannot carry).
    head = b"GET /finesse/api/SystemInfo HTTP/1.1\r\nrequestId: caf\xe9\r\n"
    status, _, _ = await raw_request(port, head)
    assert status == 200


async def test_non_ascii_basic_credentials_are_401(dep: Deployment) -> None:
    port = dep.node.http_port
    assert port is not None
    head = b"GET /finesse/api/User/1000 HTTP/1.1\r\nAuthorization: Basic \xe9\xe9\r\n"
    status, headers, body = await raw_request(port, head)
    assert status == 401 and headers["content-type"].startswith(XML), body
