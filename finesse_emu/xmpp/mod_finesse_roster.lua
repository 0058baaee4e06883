-- mod_finesse_roster: virtual (never stored) roster links between every local user and the
-- Finesse service account, so agents see finesse's presence (probes and broadcasts work as usual)
-- and finesse sees every agent's. A one-directional star: no agent<->agent mesh (mod_groups would
-- build an N^2 mesh), no provisioning, and none of the O(N^2) cost of in-band subscriptions.
-- Also: server pings that close silent (crashed) client sessions, see the end of this file.
-- Verified on Prosody 0.12.3 (see finesse-emu docs/xmpp.md).
local service_user = module:get_option_string("finesse_service_user", "finesse");
local host = module.host;
local service_jid = service_user .. "@" .. host;
local host_sessions = prosody.hosts[host].sessions;

local function item(name)
	return { subscription = "both", groups = {}, name = name, persist = false };
end

module:hook("roster-load", function (event)
	if event.host ~= host then return end
	local roster = event.roster;
	if event.username == service_user then
		-- Only users online now: linking offline ones would make finesse's login probe all of them.
		for user in pairs(host_sessions) do
			if user ~= service_user then roster[user .. "@" .. host] = item(); end
		end
	else
		roster[service_jid] = item("Finesse");
	end
end);

-- An agent binding a resource while finesse is online joins finesse's (already loaded) roster,
-- so finesse receives that agent's presence from now on.
module:hook("resource-bind", function (event)
	local username = event.session.username;
	if username == service_user then return end
	local fin = host_sessions[service_user];
	if fin and fin.roster then
		local j = username .. "@" .. host;
		if not fin.roster[j] then fin.roster[j] = item(); end
	end
end);

-- Dead-client detection (Cisco: a crashed browser is detected "within up to 120 seconds").
-- A browser that crashes behind a dead network sends no FIN, and Prosody 0.12 only pings clients
-- that ping it (mod_ping answers, it never asks); its read timeout sends a whitespace keepalive,
-- which a half-open TCP socket swallows. So, as Openfire does with xmpp.client.idle: a session
-- silent for finesse_ping_interval seconds gets an XEP-0199 ping, and one still silent
-- finesse_ping_timeout seconds later is closed (connection-timeout), which makes Prosody broadcast
-- its unavailable presence (to finesse, through the roster links above). Any bytes received count
-- as life, an error reply too. BOSH sessions are left to Prosody's own bosh_max_inactivity.
-- Worst case from the last byte received to the unavailable presence: interval + timeout.
local ping_interval = module:get_option_number("finesse_ping_interval", 0);
local ping_timeout = module:get_option_number("finesse_ping_timeout", 0);
local monotonic = require "util.time".monotonic;
local add_filter = require "util.filters".add_filter;
local st = require "util.stanza";
local new_id = require "util.id".short;

local function watch(session)
	if session.finesse_watched or session.bosh_version or not session.full_jid then return end
	session.finesse_watched = true;
	session.finesse_last_in = monotonic();
	add_filter(session, "bytes/in", function (data)
		session.finesse_last_in = monotonic();
		return data;
	end, 1000);  -- first in the chain: sees every read, before any filter can swallow it
	local ping_sent;
	module:add_timer(ping_interval, function ()
		if session.destroyed or not session.conn then return end  -- gone: the timer stops
		local now = monotonic();
		if ping_sent then
			if session.finesse_last_in >= ping_sent then
				ping_sent = nil;
			elseif now - ping_sent >= ping_timeout then
				session.log("info", "No answer to a ping in %gs: closing the session", ping_timeout);
				session:close({ condition = "connection-timeout", text = "No answer to ping" });
				return;
			else
				return ping_sent + ping_timeout - now;
			end
		end
		local idle = now - session.finesse_last_in;
		if idle >= ping_interval then
			ping_sent = now;
			session.send(st.iq({ type = "get", from = host, to = session.full_jid, id = "fping-" .. new_id() })
				:tag("ping", { xmlns = "urn:xmpp:ping" }));
			return ping_timeout;
		end
		return ping_interval - idle;
	end);
end

if ping_interval > 0 and ping_timeout > 0 then
	module:hook("resource-bind", function (event) watch(event.session); end);
end
