"""XEP-0060 requests as both pubsub clients send them: the publisher (owner of every node) and the
agent client (subscriptions of its own). Raw IQs on purpose: slixmpp's pubsub plugin pulls in the
disco stack, too heavy for thousands of clients."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from slixmpp import ClientXMPP

PUBSUB_NS = "http://jabber.org/protocol/pubsub"
OWNER_NS = f"{PUBSUB_NS}#owner"
DATA_NS = "jabber:x:data"


def pubsub_iq(client: ClientXMPP, to: str, itype: str, child: ET.Element, owner: bool = False) -> Any:
    """An ``<iq>`` carrying ``<pubsub>`` (or ``<pubsub#owner>``) with ``child`` inside."""
    iq = client.make_iq_set(ito=to) if itype == "set" else client.make_iq_get(ito=to)
    wrapper = ET.Element(f"{{{OWNER_NS}}}pubsub" if owner else f"{{{PUBSUB_NS}}}pubsub")
    wrapper.append(child)
    iq.append(wrapper)
    return iq


def iq_condition(exc: BaseException) -> str:
    """The error condition of a slixmpp IqError ('' for anything else)."""
    iq = getattr(exc, "iq", None)
    if iq is None:
        return ""
    try:
        return str(iq["error"]["condition"])
    except (KeyError, TypeError):
        return ""


def node_config(access_model: str) -> ET.Element:
    """The ``<configure>`` form sent with ``<create>`` (XEP-0060 create-and-configure)."""
    configure = ET.Element(f"{{{PUBSUB_NS}}}configure")
    form = ET.SubElement(configure, f"{{{DATA_NS}}}x", type="submit")
    for var, value, ftype in (
        ("FORM_TYPE", f"{PUBSUB_NS}#node_config", "hidden"),
        ("pubsub#access_model", access_model, None),
        ("pubsub#publish_model", "publishers", None),  # only the owner (finesse) publishes
    ):
        field = ET.SubElement(form, f"{{{DATA_NS}}}field", var=var)
        if ftype:
            field.set("type", ftype)
        ET.SubElement(field, f"{{{DATA_NS}}}value").text = value
    return configure
