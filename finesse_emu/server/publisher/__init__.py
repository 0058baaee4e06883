"""The Finesse web app's side of the Notification Service: user ``finesse`` publishing pubsub events.

:class:`NotificationPublisher` logs into its node's Prosody as ``finesse@<domain>`` with the
deployment's password (SASL PLAIN over plain TCP on loopback), sends available presence (which is
what desktops watch as the health of the Finesse web app), creates ``/finesse/api/...`` nodes on
demand, publishes ``Update`` documents as escaped text inside ``<notification>`` (the Finesse
notification format), subscribes agents on their behalf (``finesse`` is in Prosody's ``admins``, hence pubsub
owner), and reports agents' presence.

Access: every node is created with its XEP-0060 access model in the create request, and a
``whitelist`` node's readers (``node_access``, by default
:class:`~finesse_emu.server.pubsub_access.PubsubAccess` with no directory: each agent its own
``User/{id}`` nodes) get the ``member`` affiliation in one owner request per node. Prosody then
refuses everyone else's subscriptions and item requests, and any subscription ``finesse`` would make
for a non-member. A node that already exists (this process restarted, Prosody did not) gets its
members brought in line with the current policy: newcomers added, the others unsubscribed and
removed.

It keeps itself connected: when Prosody goes away it reconnects with capped exponential backoff,
and if the new Prosody lost its in-memory state (a restart) it recreates the nodes and
subscriptions it had made, as Openfire's database would have kept them.

Two modules along the seam between the session and what it carries: :mod:`.session` (login,
reconnects, presence, pipelined IQs) and :mod:`.nodes` (nodes, members, items, subscriptions,
restoring them after a Prosody restart).
"""

from __future__ import annotations

from finesse_emu.server.publisher.nodes import NodeAccess, NotificationPublisher
from finesse_emu.server.publisher.session import (
    ConnectionCallback,
    NotConnectedError,
    NotificationError,
    PresenceCallback,
    PublisherSession,
)

__all__ = [
    "ConnectionCallback",
    "NodeAccess",
    "NotConnectedError",
    "NotificationError",
    "NotificationPublisher",
    "PresenceCallback",
    "PublisherSession",
]
