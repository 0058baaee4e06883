"""Same-origin hosting: ``/3rdpartygadget/files/...`` on a node's web ports, from a folder the user names.

A real node serves its third-party gadget folder on its web ports, so that a page or gadget loads
from the node's own origin and calls ``/finesse/api/...`` (and the Notification Service paths)
without a reverse proxy or CORS: Cisco's browser samples use relative URLs and expect just that.
Here the folder is the node's ``thirdparty_dir`` (node config, the deployment's ``finesse:``
settings, ``--thirdparty-dir``); unset, every path under the prefix is 404.

As a web server serves a static folder: files only, with the content type their name gives, an
``ETag`` and ``Last-Modified`` (a conditional GET gets 304) and ranges, which aiohttp's
``FileResponse`` does; no directory listing; nothing outside the folder (``..``, encoded or not,
absolute paths, symlinks leading out: 404, the ApiErrors document of the
node's other 404s). No credentials: a browser loads a gadget's files with
plain GETs, as the desktop loads its own content (the product's rule is not in a public source:
a choice, in docs/finesse.md). Not behind the 503 gate either, like the desktop content.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from finesse_emu.server import xml as X

THIRDPARTY_PREFIX = "/3rdpartygadget/files"
# Any character, newline included: every path below the prefix is this route's to answer.
THIRDPARTY_ROUTE = f"{THIRDPARTY_PREFIX}/{{path:[\\s\\S]*}}"


def resolve(root: str | Path | None, relative: str) -> Path | None:
    """The regular file ``relative`` (a decoded URL path below the prefix) names inside ``root``,
    or None: no root, an empty path, a ``.``/``..`` segment, a backslash or NUL, a directory, a
    missing file, or a path that leaves ``root`` once symlinks are followed."""
    if not root or not relative or "\x00" in relative or "\\" in relative:
        return None
    segments = relative.split("/")
    if any(s in (".", "..") for s in segments) or relative.startswith("/"):
        return None
    try:
        base = Path(root).resolve(strict=True)
        target = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


async def serve(request: web.Request, root: str | None) -> web.StreamResponse:
    path = resolve(root, request.match_info["path"])
    if path is None:  # the same ApiErrors document as any other 404 of the node's web ports
        problem = X.not_found(X.NotFound.OTHER, request.match_info["path"][:64], "File not found")
        return web.Response(status=404, body=problem.body, content_type="application/xml", charset="utf-8")
    return web.FileResponse(path)
