-- mod_account_occupancy: the account, not each device, occupies MUC rooms.
--
-- Load it on a user VirtualHost. It decides nothing: it hands stanzas and session ends
-- to minimix_core's router (a Python process connected as the XEP-0114 component named
-- by account_occupancy_component) and carries out the actions the router answers with.
-- The configuration options and the wire format are in README.md beside this file.

local st = require "util.stanza";
local jid_split = require "util.jid".split;
local jid_bare = require "util.jid".bare;
local jid_host = require "util.jid".host;
local jid_node = require "util.jid".node;

local NS = "urn:minimix-core:prosody:0";
local CLIENT_NS = "jabber:client";
local BOOKMARKS_NS = "urn:xmpp:bookmarks:1";
-- Above every stock handler (mod_presence, mod_message, mod_iq, mod_carbons run at 0 or
-- below): room traffic must be claimed before Prosody broadcasts or bounces it.
local PRIORITY = 1000;

local component = module:get_option_string("account_occupancy_component");
if not component then
	module:log("error", "account_occupancy_component is not set; the module does nothing");
	return;
end
local muc_hosts = module:get_option_set("account_occupancy_muc_hosts", {});
local queue_size = module:get_option_number("account_occupancy_queue_size", 1000);
local hand_bookmarks = module:get_option_boolean("account_occupancy_bookmarks", true);

local core_post_stanza = prosody.core_post_stanza;
local full_sessions = prosody.full_sessions;
local host = module.host;
local archive = module:open_store("archive", "archive");

-- (account bare JID) -> (room bare JID) -> true: room traffic that belongs to the router.
-- Kept in storage too: after a Prosody restart, rooms that still count the account as an
-- occupant send to it before the Python side is back, and must not be bounced.
local claims = {};
local claims_store = module:open_store("account_occupancy_claims");
-- Full JIDs of sessions whose stanzas were handed over: only their ends are the router's.
local handed = {};
-- seq -> { kind, origin }: events the router has not answered yet.
local pending = {};
local seq = 0;
-- Room stanzas to claimed accounts while the Python side is down, oldest first.
local queue, queue_head, queue_tail = {}, 1, 0;
local ready = false;
-- Stanzas being routed normally on the router's word: the hooks must let them pass.
local passing = setmetatable({}, { __mode = "k" });

local function wrap(stanza)
	local copy = st.clone(stanza);
	copy.attr.xmlns = CLIENT_NS;
	return copy;
end

-- The stream parser puts an explicit xmlns on every element under a foreign namespace;
-- Prosody's stanzas leave jabber:client implicit, and get_child() relies on that.
local function unwrap(el, parent_ns)
	local ns = el.attr.xmlns or parent_ns;
	if ns == parent_ns then el.attr.xmlns = nil; end
	for _, child in ipairs(el.tags) do unwrap(child, ns); end
	return el;
end

local function send_event(kind, attrs, stanza, origin)
	seq = seq + 1;
	attrs.xmlns, attrs.seq, attrs.kind = NS, tostring(seq), kind;
	local message = st.message({ from = host, to = component, type = "normal" }):tag("event", attrs);
	if stanza then message:add_child(wrap(stanza)); end
	-- A copy: MUC broadcasts one stanza object, readdressed for each occupant in turn.
	pending[seq] = { kind = kind, origin = origin, stanza = stanza and st.clone(stanza) };
	module:send(message);
end

-- The rooms claimed for a local account (loaded from storage once); nil for others.
local function rooms_of(account)
	local rooms = claims[account];
	if rooms then return rooms end
	local node, account_host, resource = jid_split(account);
	if account_host ~= host or not node or resource then return nil end
	rooms = claims_store:get(node) or {};
	claims[account] = rooms;
	return rooms;
end

local function save_claims(account, rooms)
	local ok, err = claims_store:set(jid_node(account), next(rooms) and rooms or nil);
	if not ok then module:log("error", "Could not store the claims of %s: %s", account, err); end
end

local function claim(account, room)
	local rooms = rooms_of(account);
	if not rooms or rooms[room] then return end
	rooms[room] = true;
	save_claims(account, rooms);
end

local function release(account, room)
	local rooms = rooms_of(account);
	if not rooms or not rooms[room] then return end
	rooms[room] = nil;
	save_claims(account, rooms);
end

local function enqueue(origin, stanza)
	queue_tail = queue_tail + 1;
	queue[queue_tail] = { origin = origin, stanza = st.clone(stanza) }; -- see send_event
	if queue_tail - queue_head + 1 > queue_size then
		local dropped = queue[queue_head];
		queue[queue_head], queue_head = nil, queue_head + 1;
		module:log("warn", "Queue full while the Python side is down; dropped: %s", dropped.stanza:top_tag());
	end
end

-- Sessions' stanzas to MUC hosts --------------------------------------------------------

local function from_session(event)
	local origin, stanza = event.origin, event.stanza;
	if not ready or origin.type ~= "c2s" or not origin.full_jid then return end
	if not muc_hosts:contains(jid_host(stanza.attr.to)) then return end
	handed[origin.full_jid] = true;
	send_event("from-session", { session = origin.full_jid }, stanza, origin);
	return true;
end

for _, name in ipairs({ "presence", "message", "iq" }) do
	module:hook("pre-" .. name .. "/full", from_session, PRIORITY);
	module:hook("pre-" .. name .. "/bare", from_session, PRIORITY);
end

-- Room traffic to an account's bare JID ----------------------------------------------

local function to_account(event)
	local stanza = event.stanza;
	if passing[stanza] then return end
	local to, from = stanza.attr.to, stanza.attr.from;
	if not to or not from then return end
	local rooms = rooms_of(jid_bare(to));
	if not (rooms and rooms[jid_bare(from)]) then return end
	if ready then
		send_event("to-account", {}, stanza, event.origin);
	else
		enqueue(event.origin, stanza);
	end
	return true;
end

module:hook("presence/bare", to_account, PRIORITY);
module:hook("message/bare", to_account, PRIORITY);
module:hook("iq/bare", to_account, PRIORITY);

-- Session ends: resource-unbind fires only when the session is gone for good (with
-- mod_smacks, after resumption gave up; a dropped TCP connection only hibernates).

module:hook("resource-unbind", function(event)
	local full_jid = event.session.full_jid;
	if not full_jid or not handed[full_jid] then return end
	handed[full_jid] = nil;
	if ready then send_event("session-closed", { session = full_jid }); end
end);

-- A session that never came back from hibernation (XEP-0198) leaves room stanzas unacked;
-- mod_smacks would answer each with recipient-unavailable to the room, which can cost the
-- account its place there. The bounce goes to the router instead, as the session's: the
-- router never lets an error reach a room, and notes that the device missed that message,
-- so that back, it gets it again (resource-unbind follows).
module:hook("delivery/failure", function(event)
	local stanza, session = event.stanza, event.session;
	local full_jid = session.full_jid;
	if full_jid and handed[full_jid] and muc_hosts:contains(jid_host(stanza.attr.from)) then
		if ready and stanza.name == "message" and stanza.attr.type ~= "error" then
			local bounce = st.error_reply(stanza, "cancel", "recipient-unavailable");
			send_event("from-session", { session = full_jid }, bounce, session);
		else
			module:log("debug", "Not bouncing room traffic for %s: %s", full_jid, stanza:top_tag());
		end
		return true;
	end
end, PRIORITY);

-- XEP-0402 bookmarks ----------------------------------------------------------------

local mod_pep;

local function send_bookmarks(username)
	if not ready or not mod_pep then return end
	local service = mod_pep.get_pep_service(username);
	local ok, items = service:get_items(BOOKMARKS_NS, true);
	if not ok then
		if items ~= "item-not-found" then
			module:log("warn", "Could not read the bookmarks of %s: %s", username, items);
			return;
		end
		items = {};
	end
	local event = st.message({ from = host, to = component, type = "normal" });
	seq = seq + 1;
	event:tag("event", { xmlns = NS, seq = tostring(seq), kind = "bookmarks", account = username .. "@" .. host });
	for _, id in ipairs(items) do
		local conference = items[id]:get_child("conference", BOOKMARKS_NS);
		if conference then
			local copy = st.clone(conference);
			copy.attr.jid = id;
			event:add_child(copy);
		end
	end
	pending[seq] = { kind = "bookmarks" };
	module:send(event);
end

if hand_bookmarks then
	module:hook("resource-bind", function(event)
		send_bookmarks(event.session.username);
	end);
	local function changed(event)
		if event.node ~= nil and event.node ~= BOOKMARKS_NS then return end
		local username = event.service.config.pep_username;
		if username then send_bookmarks(username); end
	end
	module:handle_items("pep-service", function(event)
		local events = event.item.service.events;
		module:hook_object_event(events, "item-published/" .. BOOKMARKS_NS, changed);
		module:hook_object_event(events, "item-retracted", changed);
		module:hook_object_event(events, "node-purged", changed);
		module:hook_object_event(events, "node-deleted", changed);
	end, function(event)
		local events = event.item.service.events;
		module:unhook_object_event(events, "item-published/" .. BOOKMARKS_NS, changed);
		module:unhook_object_event(events, "item-retracted", changed);
		module:unhook_object_event(events, "node-purged", changed);
		module:unhook_object_event(events, "node-deleted", changed);
	end, true);
	mod_pep = module:depends("pep");
end

-- Actions from the router --------------------------------------------------------------

local function trusted(origin)
	-- The authenticated component connection itself, not its host object (which has no conn).
	return origin.type == "component" and origin.host == component and origin.conn ~= nil;
end

local function continue(stanza, waiting)
	local origin = waiting and waiting.origin;
	if waiting and waiting.kind == "from-session" then
		stanza.attr.from = origin.full_jid;
		if origin.destroyed then origin = prosody.hosts[host]; end
	else
		passing[stanza] = true;
		origin = origin or prosody.hosts[host];
	end
	core_post_stanza(origin, stanza);
end

local execute = {};

function execute.send(stanza)
	local to_host = jid_host(stanza.attr.to);
	if muc_hosts:contains(to_host) then
		-- Before sending: the room answers while module:send() is still running.
		claim(jid_bare(stanza.attr.from), jid_bare(stanza.attr.to));
	end
	module:send(stanza);
end

function execute.deliver(stanza, action)
	local session = full_sessions[action.attr.session];
	if session then
		session.send(stanza);
	else
		-- Never bounce room traffic: the room would kick the account for it.
		module:log("debug", "No session %s; dropped: %s", action.attr.session, stanza:top_tag());
	end
end

function execute.continue(stanza, _, waiting)
	continue(stanza, waiting);
end

function execute.archive(stanza, action)
	local node, account_host = jid_split(action.attr.account);
	if account_host ~= host or not node then return end
	local ok, err = archive:append(node, nil, stanza, os.time(), jid_bare(stanza.attr.from));
	if not ok then module:log("error", "Could not archive for %s: %s", action.attr.account, err); end
end

function execute.unattended(stanza, action)
	module:log("debug", "Unattended room message for %s in %s", action.attr.account, action.attr.room);
	module:fire_event("minimix-unattended", {
		username = jid_node(action.attr.account);
		account = action.attr.account;
		room = action.attr.room;
		stanza = stanza;
		mentions = action.attr.mentions == "true";
	});
end

function execute.discard(stanza, action)
	module:log("debug", "Discarded (%s): %s", action.attr.reason, stanza:top_tag());
end

module:hook("message/host", function(event)
	local origin, stanza = event.origin, event.stanza;
	local actions = stanza:get_child("actions", NS);
	if not actions then return end
	if not trusted(origin) then
		module:log("warn", "Ignored actions from %s (not the component connection)", stanza.attr.from);
		return true;
	end
	local answered = tonumber(actions.attr["for"]); -- absent for timers
	local waiting = answered and pending[answered];
	if answered then pending[answered] = nil; end
	for action in actions:childtags(nil, NS) do
		local name = action.name;
		if name == "claim" then
			claim(action.attr.account, action.attr.room);
		elseif name == "release" then
			release(action.attr.account, action.attr.room);
		elseif execute[name] and action.tags[1] then
			execute[name](unwrap(action.tags[1], CLIENT_NS), action, waiting);
		else
			module:log("warn", "Unknown action: %s", action:top_tag());
		end
	end
	return true;
end, PRIORITY);

-- The Python side's connection ---------------------------------------------------------

local function connected()
	ready = true;
	module:log("info", "The Python side is connected: room traffic goes through the router");
	local hello = st.message({ from = host, to = component, type = "normal" });
	seq = seq + 1;
	hello:tag("event", { xmlns = NS, seq = tostring(seq), kind = "hello" });
	-- Every live session: after a reload of this module the router may know any of them.
	handed = {};
	for _, user in pairs(prosody.hosts[host].sessions or {}) do
		for _, session in pairs(user.sessions or {}) do
			if session.full_jid then
				handed[session.full_jid] = true;
				hello:tag("session", { jid = session.full_jid }):up();
			end
		end
	end
	pending[seq] = { kind = "hello" };
	module:send(hello);
	-- Bookmarks may have changed while nobody listened.
	for username in pairs(prosody.hosts[host].sessions or {}) do
		send_bookmarks(username);
	end
	local kept, head, tail = queue, queue_head, queue_tail;
	queue, queue_head, queue_tail = {}, 1, 0;
	if tail >= head then
		module:log("info", "Replaying %d room stanzas kept while the Python side was down", tail - head + 1);
	end
	for i = head, tail do
		local entry = kept[i];
		send_event("to-account", {}, entry.stanza, entry.origin);
	end
end

local function disconnected()
	if not ready then return end
	ready = false;
	module:log("warn", "The Python side is down: traffic passes as if %s were not loaded;"
		.. " room stanzas to claimed accounts are kept (at most %d)", module.name, queue_size);
	local unanswered = {};
	for n in pairs(pending) do unanswered[#unanswered + 1] = n; end
	table.sort(unanswered);
	for _, n in ipairs(unanswered) do
		local waiting = pending[n];
		pending[n] = nil;
		if waiting.stanza then
			if waiting.kind == "from-session" then
				continue(waiting.stanza, waiting);
			elseif waiting.kind == "to-account" then
				enqueue(waiting.origin, waiting.stanza);
			end
		end
	end
end

local function watch(component_host)
	local events = component_host.events;
	module:hook_object_event(events, "component-authenticated", connected);
	module:hook_object_event(events, "component-disconnected", disconnected);
end

if prosody.hosts[component] then
	watch(prosody.hosts[component]);
	-- Loaded (or reloaded) while the component is already connected.
	local component_module = require "core.modulemanager".get_module(component, "component");
	if component_module and component_module.connected then
		module:add_timer(0, connected);
	end
end
module:hook_global("host-activated", function(activated)
	if activated == component then watch(prosody.hosts[component]); end
end);

function module.unload()
	ready = false;
end
