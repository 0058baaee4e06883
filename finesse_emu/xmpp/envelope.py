"""The Finesse ``Update`` document carried by every pubsub notification (the notification format of
Cisco's Finesse Web Services Developer Guide).

No XMPP dependency here, so the REST side can build event payloads without importing slixmpp.
The publisher puts the returned text, as *escaped text*, inside ``<notification>``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

# finesse.js switches on exactly these (upper-case) values; anything else fires no onChange.
EVENTS = frozenset({"POST", "PUT", "DELETE"})

# 12.5 capture; Finesse 11.x used "http://jabber.org/protocol/pubsub" (configurable on the publisher).
DEFAULT_NOTIFICATION_NS = "urn:xmpp:push:0"
PUBSUB_EVENT_NS = "http://jabber.org/protocol/pubsub#event"


def update_document(
    data_xml: str, event: str, request_id: str = "", source: str = "", *, error: bool = False
) -> str:
    """Text of ``<Update>`` with children ``data``, ``event``, ``requestId``, ``source``.

    ``data_xml`` is the inner XML of ``<data>`` (e.g. ``<user>...</user>``, lower-camel-case root),
    inserted verbatim: it must be a well-formed fragment. ``event`` is POST, PUT or DELETE (any case
    in, upper case out). ``request_id`` echoes the triggering request's ``requestId`` header and is
    empty for unsolicited events; the element is always present, as in every capture.

    ``error=True`` builds an asynchronous error event as Finesse 12.5 sends it: children ordered
    data, requestId, source, event, and the event in lower case (clients route errors by requestId).
    """
    verb = event.upper()
    if verb not in EVENTS:
        raise ValueError(f"event must be one of POST, PUT, DELETE, got {event!r}")
    data = f"  <data>\n    {data_xml}\n  </data>\n"
    ev = f"  <event>{verb.lower() if error else verb}</event>\n"
    rid = f"  <requestId>{escape(request_id)}</requestId>\n"
    src = f"  <source>{escape(source)}</source>\n"
    body = data + rid + src + ev if error else data + ev + rid + src
    return f"<Update>\n{body}</Update>"
