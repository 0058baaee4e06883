"""The EventTunnel: the page and script a Finesse JavaScript client loads to receive its events.

Cisco's library (10.x) creates a hidden iframe on ``http(s)://<node>:7071|7443/tunnel/`` and talks to
it with ``window.postMessage`` ("type|data" strings); the 12.x tunnel is
``https://<host>:<port>/tunnel/EventTunnel.js``. Both are this project's own files, kept as package
data under ``finesse_emu/xmpp/tunnel/``: ``index.html`` (the page) and ``EventTunnel.js`` (the
tunnel and the small XMPP client it needs, WebSocket RFC 7395 at ``/ws/`` or BOSH at
``/http-bind/``, on the page's own origin). Prosody serves the folder at :data:`TUNNEL_PATH` on its
HTTP port(s) (``ProsodyConfig.event_tunnel``), so the page shares BOSH's and WebSocket's origin;
the node serves ``EventTunnel.js`` on its web ports (``finesse_emu/server/event_tunnel.py``).
docs/finesse.md, "The EventTunnel", lists the message types and what is implemented.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

TUNNEL_PATH = "/tunnel"
PAGE = "index.html"
SCRIPT = "EventTunnel.js"
FILES = (PAGE, SCRIPT)
CONTENT_TYPES = {PAGE: "text/html", SCRIPT: "application/javascript"}


def tunnel_file(name: str) -> bytes:
    """One of :data:`FILES`, read from the package."""
    if name not in FILES:
        raise KeyError(name)
    return importlib.resources.files("finesse_emu.xmpp").joinpath("tunnel", name).read_bytes()


def install_tunnel(dest: Path) -> Path:
    """Copy the tunnel's files into ``dest`` (created), the folder a web server serves at
    :data:`TUNNEL_PATH`; copied rather than pointed at, so it also works from a zipped install."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        (dest / name).write_bytes(tunnel_file(name))
    return dest
