-- mod_finesse_pubsub_access: service discovery on the pubsub component shows a user only the nodes
-- it may read. Loaded on the pubsub Component, next to mod_pubsub.
--
-- Who may read a node is not decided here: the Finesse node creates every agent's and team's node
-- with access model "whitelist" and makes its readers "member" (finesse_emu.server.pubsub_access), and
-- mod_pubsub enforces that for subscribe, items retrieval, subscriptions made by the owner and
-- disco#items on a node. What mod_pubsub 0.12 does not filter is the node list (disco#items on
-- the service answers every node to anyone) and a node's disco#info (its existence and access
-- model): both are filtered here with mod_pubsub's own check, service:may(node, jid, "get_items"),
-- so the rule is the node's affiliations and access model, the data the Finesse node gave.
-- A node the requester may not read answers as one that does not exist.
-- Only service discovery goes through here: publishing and event delivery are untouched.
-- Verified on Prosody 0.12.3 (see finesse-emu docs/xmpp.md).
local st = require "util.stanza";
local mod_pubsub = module:depends("pubsub");

local function may_read(node, jid)
	return mod_pubsub.get_service():may(node, jid, "get_items");
end

-- Ahead of mod_pubsub's handler (priority 0), which lists every node.
module:hook("host-disco-items", function (event)
	local stanza, reply = event.stanza, event.reply;
	local from = stanza.attr.from;
	for node, node_obj in pairs(mod_pubsub.get_service().nodes) do
		if may_read(node, from) then
			reply:tag("item", { jid = module.host, node = node, name = node_obj.config.title }):up();
		end
	end
	event.origin.send(reply);
	return true;
end, 10);

module:hook("host-disco-info-node", function (event)
	local stanza, node = event.stanza, event.node;
	if mod_pubsub.get_service().nodes[node] and not may_read(node, stanza.attr.from) then
		event.origin.send(st.error_reply(stanza, "cancel", "item-not-found", "Node does not exist"));
		return true;
	end
end, 10);
