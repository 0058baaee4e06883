"""Cross-origin requests to a node's web ports: Finesse's allow-list of origins, and what it answers.

Cisco's CORS documentation: "By default, CORS support is disabled for Cisco Finesse and Cisco
Finesse Notification Service. The CORS support can be enabled by the Administrator for specific
origins listed in the allowed origin list using CLIs." and "CORS requests that are originating from
the allowed origin list will be honored as per CORS RFC." So: an empty list is CORS off; a listed
origin gets the CORS headers (the Fetch standard's protocol), any other origin none.

The rules, pure (no I/O): :class:`CorsPolicy` decides; :mod:`.rest` applies its answers.

- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) never needs
  credentials (browsers never send any with one). From a listed origin, for a method and headers the
  API takes: 200 with the ``Access-Control-Allow-*`` headers. Otherwise (CORS off, origin not listed,
  a method or header the API does not take): 403 without any CORS header. The 403 is a choice: the
  product's answer to a refused preflight is not documented publicly; 403 is what Tomcat's CorsFilter
  (the web container Finesse runs on) gives a CORS request it refuses, and any answer without
  ``Access-Control-Allow-Origin`` fails the browser's check the same way.
- Any other request with an ``Origin`` header: a listed origin gets ``Access-Control-Allow-Origin``
  (that origin, never ``*``), ``Access-Control-Allow-Credentials: true`` and the exposed
  ``requestId`` header; any other origin gets none and the browser withholds the answer. The request
  itself is served as usual (a same-origin page sends ``Origin`` on PUT too).

``Access-Control-Allow-Credentials: true``: Finesse's REST API authenticates with HTTP Basic and a
``JSESSIONID`` cookie (the non-gadget sample's note), which a browser sends cross-origin only with
credentials mode "include", and then only if the answer allows credentials. Whether the product
sends it is not in a public source; without it such a client fails, so the emulator sends it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# What the REST API takes: its methods, and the request headers its clients set (finesse.js sets
# requestId on every non-GET; XML bodies are Content-Type application/xml).
ALLOWED_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Accept", "requestId", "X-Requested-With")
# Response headers a cross-origin script may read: finesse.js reads requestId after an error.
EXPOSED_HEADERS = ("requestId",)
PREFLIGHT_MAX_AGE = 1800  # seconds a browser may cache a preflight (Tomcat CorsFilter's default)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(text: str) -> str:
    """An origin as browsers send it, ``scheme://host[:port]`` (lower case, no default port, no
    path); ValueError if ``text`` is not one (``*`` included: the list names origins)."""
    raw = text.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not an origin: {text!r} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an origin: {text!r} (scheme://host[:port], http or https)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"not an origin: {text!r} (no path, query, fragment or user)")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class Preflight:
    """The answer to a preflight: its status and headers."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class CorsPolicy:
    """A node's allowed origins (empty: CORS off), changed live with :meth:`set_origins`."""

    _origins: frozenset[str] = frozenset()

    @classmethod
    def of(cls, origins: Iterable[str]) -> CorsPolicy:
        policy = cls()
        policy.set_origins(origins)
        return policy

    @property
    def origins(self) -> list[str]:
        return sorted(self._origins)

    @property
    def enabled(self) -> bool:
        return bool(self._origins)

    def set_origins(self, origins: Iterable[str]) -> list[str]:
        """Replace the list (each origin normalised; ValueError, list unchanged, on a bad one)."""
        self._origins = frozenset(normalize_origin(o) for o in origins)
        return self.origins

    def allows(self, origin: str | None) -> bool:
        if not origin or not self._origins:
            return False
        try:
            return normalize_origin(origin) in self._origins
        except ValueError:  # "null" (a sandboxed frame, a file: page) and the like
            return False

    @staticmethod
    def is_preflight(method: str, origin: str | None, request_method: str | None) -> bool:
        """A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method."""
        return method == "OPTIONS" and origin is not None and request_method is not None

    def preflight(self, origin: str, request_method: str, request_headers: str) -> Preflight:
        """What a preflight from ``origin`` for ``request_method`` with ``request_headers`` (the
        comma-separated Access-Control-Request-Headers) is answered."""
        if not self.allows(origin):
            return Preflight(403)
        if request_method.upper() not in ALLOWED_METHODS:
            return Preflight(403)
        allowed = {h.lower() for h in ALLOWED_HEADERS}
        asked = [h.strip() for h in request_headers.split(",") if h.strip()]
        if any(h.lower() not in allowed for h in asked):
            return Preflight(403)
        return Preflight(
            200,
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
                "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE),
                "Vary": "Origin",
            },
        )

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """The CORS headers of an actual (non-preflight) answer to a request from ``origin``."""
        if origin is None or not self.allows(origin):
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": ", ".join(EXPOSED_HEADERS),
            "Vary": "Origin",
        }
