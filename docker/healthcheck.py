#!/usr/bin/env python3
"""``emu-health PORT [--state STATE] [--path PATH --text]``: a component's Docker healthcheck.

``GET http://127.0.0.1:PORT/emu/health`` (the component's control plane, the endpoint the launcher
waits on); healthy (exit 0) when it answers 200 with a JSON object and, with ``--state``, that
object's ``state`` is STATE (the launcher waits for ``IN_SERVICE`` on Finesse nodes). ``--path
/metrics --text``: any 200 answer of that path (the desktop swarm, which has only ``/metrics``).
Anything else prints why and exits 1, which is what Docker counts as unhealthy.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emu-health", description=__doc__.split("\n\n")[0])
    p.add_argument("admin_port", type=int, help="the component's admin (control plane) port")
    p.add_argument("--state", help="healthy only in this state (e.g. IN_SERVICE)")
    p.add_argument("--path", default="/emu/health", help="default /emu/health")
    p.add_argument("--text", action="store_true", help="any 200 answer is healthy (no JSON, no --state)")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (inside the container)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    return p


def check(
    host: str, port: int, state: str | None, timeout: float, path: str = "/emu/health", text: bool = False
) -> str | None:
    """None when healthy, else the reason."""
    url = f"http://{host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            raw = resp.read()
        if text:
            return None
        body = json.loads(raw)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{url}: {exc}"
    if not isinstance(body, dict):
        return f"{url}: not a JSON object"
    if state is not None and body.get("state") != state:
        return f"{url}: state {body.get('state')!r}, want {state!r} ({body.get('status_reason', '')})"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.text and args.state is not None:
        parser.error("--state needs a JSON answer, not --text")
    reason = check(args.host, args.admin_port, args.state, args.timeout, args.path, args.text)
    if reason is not None:
        print(reason)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
