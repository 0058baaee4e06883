"""The control plane every emulated process serves (docs/design.md, "Topology").

``GET /emu/health``: JSON with ``name``, ``role``, ``state`` and component details.
``GET /emu/faults``: active faults and the kinds this component knows.
``POST /emu/faults``: ``{"kind": ..., <params>}`` creates a fault (201, Toxiproxy style).
``DELETE /emu/faults/{id}`` removes one, ``DELETE /emu/faults`` clears all.
``GET /metrics``: the component's Prometheus metrics (:mod:`emu_base.metrics`, docs/metrics.md);
guarded by the token like the rest of the control plane (Prometheus sends it with
``authorization: credentials_file``).
``GET /emu/control/openapi.json``: the OpenAPI description of this control plane, with the routes
the component adds (:mod:`emu_base.control_openapi`).

Faults are small named resources; their kinds and parameters are :mod:`emu_base.faults`, the
component's :class:`~emu_base.faults.FaultRegistry` says what each does there.

Access control (docs/reliability.md, "Access control"): with a token, every route but
``GET /emu/health`` (a read-only probe) and the description needs ``Authorization: Bearer TOKEN``.
A component refuses to serve its control plane on a non-loopback address without a token unless
told it may (``--admin-insecure`` or ``FINESSE_EMU_ADMIN_INSECURE=1``): see :func:`check_admin_bind`.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from emu_base import control_openapi
from emu_base.faults import FaultError, FaultRegistry
from emu_base.httpbody import BodyError, BodyTooLarge, UnsupportedEncoding, read_body
from emu_base.logs import get_logger
from emu_base.metrics import metrics_response

log = get_logger()

ADMIN_MAX_BODY = 64 * 1024
TOKEN_ENV = "FINESSE_EMU_ADMIN_TOKEN"  # the control-plane token, when no option gives one
INSECURE_ENV = "FINESSE_EMU_ADMIN_INSECURE"  # 1: a non-loopback control plane may go without a token
# Read-only: the health probe and the control plane's OpenAPI description need no token.
OPEN_ROUTES = control_openapi.OPEN_ROUTES


# -- access control ----------------------------------------------------------------------------------
def check_token(token: str, where: str = "admin token") -> str:
    """A usable bearer token (visible ASCII, no spaces), or ValueError."""
    if not token or not all(33 <= ord(ch) <= 126 for ch in token):
        raise ValueError(f"{where}: a token is non-empty visible ASCII without spaces")
    return token


def read_token_file(path: str | Path) -> str:
    """The token in a file (surrounding whitespace and the final newline ignored)."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"admin token file {path}: {exc}") from exc
    return check_token(text, f"admin token file {path}")


def unauthorized() -> web.Response:
    """The answer to a control-plane request without the right token."""
    resp = json_error(401, "admin token required (Authorization: Bearer ...)")
    resp.headers["WWW-Authenticate"] = 'Bearer realm="finesse-emu"'
    return resp


def bearer_ok(request: web.Request, token: str | None) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (always true without a token).
    The scheme is case-insensitive (RFC 9110 section 11.1: ``bearer`` is ``Bearer``)."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode())


def auth_headers(token: str | None) -> dict[str, str]:
    """The headers a client of a control plane sends (none without a token)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def is_loopback(host: str) -> bool:
    """Whether an address (or a name, resolved) is loopback only; ``""`` and ``0.0.0.0`` are not."""
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(is_loopback(str(info[4][0])) for info in infos)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(name, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def add_admin_options(p: argparse.ArgumentParser) -> None:
    """``--admin-token``, ``--admin-token-file`` and ``--admin-insecure`` of every component."""
    p.add_argument(
        "--admin-token",
        help=f"require 'Authorization: Bearer TOKEN' on the control plane (default ${TOKEN_ENV})",
    )
    p.add_argument("--admin-token-file", help="the same, with the token read from FILE (e.g. mode 0600)")
    p.add_argument(
        "--admin-insecure",
        action="store_true",
        help=f"allow a control plane on a non-loopback address without a token (or {INSECURE_ENV}=1)",
    )


def admin_token_from(
    args: argparse.Namespace, configured: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The control-plane token: --admin-token, else --admin-token-file, else ``configured`` (a
    config file's), else $FINESSE_EMU_ADMIN_TOKEN (empty: none), else None. ValueError if unusable."""
    if args.admin_token is not None:
        return check_token(args.admin_token, "--admin-token")
    if args.admin_token_file:
        return read_token_file(args.admin_token_file)
    if configured is not None:
        return check_token(configured, "admin_token")
    env = (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()
    return check_token(env, TOKEN_ENV) if env else None


def check_admin_bind(
    host: str, token: str | None, insecure: bool, hint: str = "--admin-host 127.0.0.1"
) -> None:
    """Refuse (ValueError) a control plane on a non-loopback address without a token, unless
    ``insecure`` (the user's explicit choice: --admin-insecure or FINESSE_EMU_ADMIN_INSECURE=1)."""
    if token is not None or is_loopback(host):
        return
    if insecure:
        log.warning("admin_open_on_network", host=host or "*", hint=f"set {TOKEN_ENV} to require a token")
        return
    shown = host or "every address"
    raise ValueError(
        f"refusing to serve the control plane (faults, kills of sessions, agent state) on {shown}, "
        f"which is not a loopback address, without a token: give one (--admin-token, "
        f"--admin-token-file or {TOKEN_ENV}), keep it on loopback ({hint}), or accept an open "
        f"control plane with --admin-insecure ({INSECURE_ENV}=1)"
    )


def admin_access(
    args: argparse.Namespace, host: str, configured: str | None = None, hint: str = "--admin-host 127.0.0.1"
) -> str | None:
    """A component's control-plane token from its options (:func:`admin_token_from`), after the
    bind check of :func:`check_admin_bind` for a control plane on ``host``."""
    token = admin_token_from(args, configured)
    check_admin_bind(host, token, args.admin_insecure or env_flag(INSECURE_ENV), hint)
    return token


HealthFn = Callable[[], Mapping[str, Any]]


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _json_http_error(cls: type[web.HTTPException], message: str, **kwargs: Any) -> web.HTTPException:
    return cls(text=json.dumps({"error": message}), content_type="application/json", **kwargs)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or an HTTP error with a clear message: 400 (not JSON,
    not decodable as its Content-Encoding), 413 (inflated past the app's ``client_max_size``: a
    compressed body is never inflated further, see :mod:`emu_base.httpbody`), 415 (an unknown
    Content-Encoding)."""
    try:
        raw = await read_body(request) if request.can_read_body else b""
    except BodyTooLarge as exc:
        size = request.client_max_size
        raise _json_http_error(
            web.HTTPRequestEntityTooLarge, exc.message, max_size=size, actual_size=size + 1
        ) from None
    except UnsupportedEncoding as exc:
        raise _json_http_error(web.HTTPUnsupportedMediaType, exc.message) from None
    except BodyError as exc:
        raise _json_http_error(web.HTTPBadRequest, exc.message) from None
    try:
        body = json.loads(raw.decode(request.charset or "utf-8")) if raw else {}
    except (ValueError, LookupError, RecursionError) as exc:  # not JSON or UTF-8, unknown charset, too deep
        raise _json_http_error(web.HTTPBadRequest, f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _json_http_error(web.HTTPBadRequest, "body must be a JSON object")
    return body


def admin_routes(
    name: str,
    role: str,
    health: HealthFn,
    faults: FaultRegistry,
    token: str | None = None,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """An aiohttp application with the /emu routes and ``GET /metrics`` (``registry``: the component
    instance's own; none: an empty one). Add component routes to it before starting."""

    token = token or None  # an empty token is no token

    @web.middleware
    async def require_token(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if (request.method, request.path) not in OPEN_ROUTES and not bearer_ok(request, token):
            return unauthorized()
        return await handler(request)

    app = web.Application(client_max_size=ADMIN_MAX_BODY, middlewares=[require_token])

    async def get_health(_: web.Request) -> web.Response:
        return web.json_response({"name": name, "role": role, **health()})

    async def get_faults(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "faults": [f.to_json() for f in faults.active()],
                "kinds": {k.name: k.describe() for k in faults.kinds.values()},
            }
        )

    async def post_fault(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        kind = body.pop("kind", None)
        if not isinstance(kind, str):
            return json_error(400, f"'kind' is required; known: {sorted(faults.kinds)}")
        try:
            fault = await faults.add(kind, body)
        except FaultError as exc:
            return json_error(400, str(exc))
        return web.json_response(fault.to_json(), status=201)

    async def delete_fault(request: web.Request) -> web.Response:
        fault = await faults.remove(request.match_info["fault_id"])
        if fault is None:
            return json_error(404, f"no fault {request.match_info['fault_id']!r}")
        return web.json_response(fault.to_json())

    async def delete_faults(_: web.Request) -> web.Response:
        return web.json_response({"cleared": await faults.clear()})

    metrics_registry = registry if registry is not None else CollectorRegistry()

    async def get_metrics(_: web.Request) -> web.Response:
        return metrics_response(metrics_registry)

    app.router.add_get("/emu/health", get_health)
    app.router.add_get("/emu/faults", get_faults)
    app.router.add_post("/emu/faults", post_fault)
    app.router.add_delete("/emu/faults", delete_faults)
    app.router.add_delete("/emu/faults/{fault_id}", delete_fault)
    app.router.add_get("/metrics", get_metrics)
    control_openapi.serve(app, f"{name} ({role})")
    control_openapi.describe(app, control_openapi.COMMON)  # components describe the routes they add
    return app


def bound_port(site: web.TCPSite) -> int:
    """The port a started site listens on (the one the OS chose when asked for port 0)."""
    server = site._server
    assert server is not None
    port: int = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return port
