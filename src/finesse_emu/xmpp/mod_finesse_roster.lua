-- mod_finesse_roster: virtual (never stored) roster links between every local user and the
-- Finesse service account, so agents see finesse's presence (probes and broadcasts work as usual)
-- and finesse sees every agent's. A one-directional star: no agent<->agent mesh (mod_groups would
-- build an N^2 mesh), no provisioning, and none of the O(N^2) cost of in-band subscriptions.
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
