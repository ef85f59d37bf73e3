-- Prosody 0.12 configuration for minimix_core's real-client tier (tests/realclients).
--
-- A user's server as clients meet it: c2s with carbons, MAM, PEP with bookmarks and stream
-- management, and a MUC service with its archive. Everything listens on 127.0.0.1 only.
-- tests/interop/lab.py passes these variables (Prosody reads ENV_NAME as NAME):
--   MINIMIX_LAB             private folder for data, log, pidfile and certs
--   MINIMIX_C2S_PORT        client port (plaintext, SASL PLAIN)
--   MINIMIX_COMPONENT_PORT  XEP-0114 port for the module's Python side
--   MINIMIX_SECRET          that component's shared secret
--   MINIMIX_MODULE          "1": the account joins rooms (hosts/prosody); else direct joins
--   MINIMIX_PLUGINS         hosts/prosody, where the module is

run_as_root = true -- the lab runs as root; otherwise mod_posix refuses to start

local lab = ENV_MINIMIX_LAB
data_path = lab .. "/data"
pidfile = lab .. "/prosody.pid"
certificates = lab .. "/certs" -- empty: no TLS, no STARTTLS offered
log = { [ENV_MINIMIX_LOG_LEVEL or "info"] = lab .. "/prosody.log" }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
component_interfaces = { "127.0.0.1" }
c2s_ports = { tonumber(ENV_MINIMIX_C2S_PORT) }
component_ports = { tonumber(ENV_MINIMIX_COMPONENT_PORT) }

modules_enabled = {
	"disco", "roster", "saslauth", "ping", "posix",
	"carbons", "mam", "pep", "private", "bookmarks", "smacks",
	"admin_shell", -- prosodyctl shell: a test makes the room forget an occupant silently
}
-- s2s is autoloaded in 0.12 and would listen on *:5269; offline storage is not wanted.
modules_disabled = { "s2s", "s2s_auth_certs", "offline" }

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
default_archive_policy = true
archive_expires_after = "never"
smacks_hibernation_time = 30

local module_on = ENV_MINIMIX_MODULE == "1"
if module_on then
	plugin_paths = { ENV_MINIMIX_PLUGINS }
end

VirtualHost "localhost"
	if module_on then
		modules_enabled = { "account_occupancy" }
		account_occupancy_component = "minimix.localhost"
		account_occupancy_muc_hosts = { "conference.localhost" }
		account_occupancy_bookmarks = true
	end

-- Users here join rooms directly whatever the mode.
VirtualHost "elsewhere.localhost"

Component "conference.localhost" "muc"
	modules_enabled = { "muc_mam" }
	restrict_room_creation = false
	muc_room_locking = true
	muc_room_default_history_length = 20
	max_archive_query_results = 100

-- The module's Python side connects here; without the module nothing does.
Component "minimix.localhost"
	component_secret = ENV_MINIMIX_SECRET
