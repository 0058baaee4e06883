"""The OpenAPI 3.0 description of the emulated Finesse REST API, served at ``GET /emu/openapi.json``.

The paths come from the aiohttp router itself (:func:`build_openapi` walks ``app.router``), so a route
added to ``rest.py`` shows up here at once; what the table :data:`OPERATIONS` adds per route is the
part a router cannot know: the summary, the query parameters, the request body and the status codes
the handler gives. A route without an entry is still listed (marked ``x-emu-undocumented``) and
:func:`undocumented_routes` / :func:`stale_operations` let a unit test fail on either kind of drift.

What the middlewares of ``rest.py`` add is derived from their own rule, not written per route: every
path under ``/finesse/api`` except the open ones (``rest.OPEN_PATHS``: SystemInfo, passed in by
``rest``) requires HTTP Basic
(401 ``ApiErrors``) and answers 503 ``SERVER_OUT_OF_SERVICE`` while the node is not IN_SERVICE; every
path echoes the ``requestId`` request header in the response. aiohttp answers HEAD on every GET route
by itself; those implicit HEAD routes are not listed.

Bodies are XML: the schemas carry OpenAPI ``xml`` objects (root names, attributes, wrapped lists) so a
generator (schemathesis) writes XML-shaped documents. The request schemas follow the parsers
(:func:`~finesse_emu.server.xml.user_api.parse_user_update`,
:func:`~finesse_emu.server.xml.dialog_api.parse_dialog_action`):
every body they call valid parses (a unit test generates them), with two documented gaps: unknown
elements, which the parsers ignore, are left out, and SEND_DTMF's required ``dtmfString`` ActionParam
cannot be said in OpenAPI 3.0. Whether a change is allowed in the current state is the server's call.

Modules: :mod:`.schema` (the schema shapes), :mod:`.documents` (what the routes answer),
:mod:`.request_bodies` (what the PUT routes read), :mod:`.operations` (the table per route),
:mod:`.build` (the walk over the router and the drift checks).
"""

from __future__ import annotations

from finesse_emu.server.openapi.build import build_openapi, stale_operations, undocumented_routes
from finesse_emu.server.openapi.operations import OPENAPI_PATH, OPERATIONS, Operation
from finesse_emu.server.openapi.request_bodies import NOT_XML, WHITESPACE

__all__ = [
    "NOT_XML",
    "OPENAPI_PATH",
    "OPERATIONS",
    "WHITESPACE",
    "Operation",
    "build_openapi",
    "stale_operations",
    "undocumented_routes",
]
