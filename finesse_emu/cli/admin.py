"""``finesse-emu admin``: the Finesse administration API of a running node, from the shell.

``finesse-emu admin get system-config`` prints the document; ``finesse-emu admin set system-config
backupHost=127.0.10.9 backupPort=43027`` changes the named fields (a PUT of the resource with those
fields only: what is not named is kept); ``reason-codes`` and ``wrapup-reasons`` also ``create`` and
``delete``. The node is the running deployment's publisher (``--run-dir``) or ``--url``. The
administrator's credentials come from ``--credentials FILE`` (one line ``user:password``) or from
``$FINESSE_EMU_ADMIN_USER`` and ``$FINESSE_EMU_ADMIN_PASSWORD``: never from the command line, never
printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from finesse_emu.cli import EXIT_FAILED, EXIT_OK, CannotRun, command
from finesse_emu.cli.options import add_run_dir

# Resource name on the command line -> (path, root element, fields nested under an element).
RESOURCES: dict[str, tuple[str, str, str | None]] = {
    "system-config": ("SystemConfig", "SystemConfig", "cti"),
    "database-config": ("EnterpriseDatabaseConfig", "EnterpriseDatabaseConfig", None),
    "cluster-config": ("ClusterConfig", "ClusterConfig", "secondaryNode"),
    "desktop-properties": ("DesktopProperties", "DesktopProperties", None),
    "cors-config": ("CorsConfig", "CorsConfig", None),
    "reason-codes": ("ReasonCodes", "ReasonCode", None),
    "wrapup-reasons": ("WrapUpReasons", "WrapUpReason", None),
    "default-layout": ("LayoutConfig/default", "LayoutConfig", None),
}
COLLECTIONS = {"reason-codes": "ReasonCode", "wrapup-reasons": "WrapUpReason"}
ACTIONS = ("get", "set", "create", "delete")
USER_ENV, PASSWORD_ENV = "FINESSE_EMU_ADMIN_USER", "FINESSE_EMU_ADMIN_PASSWORD"


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action", choices=ACTIONS, help="get a resource; set fields of it; create or delete an entry"
    )
    p.add_argument("resource", choices=sorted(RESOURCES), help="the administration resource")
    p.add_argument(
        "fields",
        nargs="*",
        metavar="NAME=VALUE",
        help="fields to set or create (Finesse's element names, e.g. backupHost=...; cors-config: "
        "origin=... repeated); for set/delete of a reason code or wrap-up reason, id=N",
    )
    p.add_argument("--url", help="the node's REST base, e.g. http://127.0.10.7:8082 (default: the publisher)")
    p.add_argument(
        "--credentials",
        type=Path,
        help=f"a file holding user:password of an administrator (default ${USER_ENV} / ${PASSWORD_ENV})",
    )
    add_run_dir(p)


def credentials(path: Path | None) -> tuple[str, str]:
    """The administrator's user and password, from ``path`` or the environment; CannotRun if none."""
    if path is not None:
        try:
            line = path.read_text(encoding="utf-8").strip().splitlines()[0]
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            raise CannotRun(f"cannot read the credentials file {path}: {type(exc).__name__}") from None
        user, sep, password = line.partition(":")
        if not sep or not user:
            raise CannotRun(f"{path}: expected one line user:password")
        return user, password
    env_user, env_password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if not env_user or env_password is None:
        raise CannotRun(
            f"no administrator credentials: --credentials FILE, or ${USER_ENV} and ${PASSWORD_ENV}"
        )
    return env_user, env_password


def publisher_url(run_dir: Path) -> str:
    from finesse_emu.deployment.launcher import STATE_FILE

    path = run_dir / STATE_FILE
    if not path.exists():
        raise CannotRun(f"no deployment running from {run_dir} (finesse-emu up), and no --url")
    components = json.loads(path.read_text())["components"]
    node = next((c for c in components if c["role"] == "publisher"), None)
    if node is None or not node["ports"].get("rest_http"):
        raise CannotRun(f"the deployment of {run_dir} has no publisher serving plain HTTP; give --url")
    return f"http://{node['host']}:{node['ports']['rest_http']}"


def parse_fields(pairs: list[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise CannotRun(f"{pair!r}: expected NAME=VALUE")
        out.append((name, value))
    return out


def body(resource: str, fields: list[tuple[str, str]]) -> bytes:
    """The XML of a PUT or POST with ``fields`` (escaped by ElementTree)."""
    import xml.etree.ElementTree as ET

    _, root_name, nested = RESOURCES[resource]
    root = ET.Element(root_name)
    parent = ET.SubElement(root, nested) if nested else root
    if resource == "cors-config":
        parent = ET.SubElement(root, "origins")
    for name, value in fields:
        el = ET.SubElement(parent, name)
        el.text = value
    data: bytes = ET.tostring(root, encoding="utf-8")
    return data


def request(args: argparse.Namespace) -> tuple[str, str, bytes | None]:
    """(method, path under /finesse/api, body) of the command line."""
    path, _, _ = RESOURCES[args.resource]
    fields = parse_fields(list(args.fields))
    entry = COLLECTIONS.get(args.resource)
    ids = [v for n, v in fields if n == "id"]
    rest = [(n, v) for n, v in fields if n != "id"]
    if args.action == "get":
        if rest:
            raise CannotRun("get takes no fields but id=N")
        return "GET", f"/{entry}/{ids[0]}" if ids and entry else f"/{path}", None
    if args.action in ("create", "delete") and entry is None:
        raise CannotRun(f"{args.action} is for reason-codes and wrapup-reasons")
    if args.resource == "default-layout":
        raise CannotRun("default-layout: get only (PUT the finesseLayout document to the API itself)")
    if args.action == "create":
        return "POST", f"/{path}", body(args.resource, rest)
    if entry is not None and not ids:
        raise CannotRun(f"{args.action} {args.resource} needs id=N")
    if args.action == "delete":
        return "DELETE", f"/{entry}/{ids[0]}", None
    if args.resource == "cors-config":
        rest = [("origin", v) for n, v in rest]
    elif not rest:
        raise CannotRun("set needs at least one NAME=VALUE")
    return "PUT", f"/{entry}/{ids[0]}" if entry else f"/{path}", body(args.resource, rest)


@command(
    "admin",
    "the Finesse administration API of a running node (SystemConfig, AWDBs, reason codes, ...)",
    _arguments,
    description="Get or change the administration settings of the deployment's publisher (or --url) "
    "through its Finesse administration REST API, with an administrator's credentials from "
    f"--credentials FILE or ${USER_ENV}/${PASSWORD_ENV}. Prints the node's answer (XML); exits 1 when "
    "the node refuses (e.g. 401 for a non-administrator or with both AWDBs down and the credentials "
    "no longer cached, 403 on the subscriber).",
)
def admin(args: argparse.Namespace) -> int:
    import base64
    import urllib.error
    import urllib.request

    user, password = credentials(args.credentials)
    method, path, data = request(args)
    base = (args.url or publisher_url(Path(args.run_dir))).rstrip("/")
    req = urllib.request.Request(f"{base}/finesse/api{path}", data=data, method=method)
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    req.add_header("Authorization", f"Basic {token}")
    if data is not None:
        req.add_header("Content-Type", "application/xml")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise CannotRun(f"{base}: {exc}") from None
    print(text if text else f"{status}")
    if status >= 400:
        print(f"finesse-emu admin: {method} {path}: HTTP {status}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
