-- Prosody 0.12 lab configuration for mod_account_occupancy (python3 tasks.py prosody).
--
-- Everything listens on 127.0.0.1 only; plaintext authentication, for a lab on loopback.
-- lab.py sets these variables (Prosody reads ENV_NAME as the environment variable NAME):
--   MINIMIX_LAB             private folder for data, log and pidfile
--   MINIMIX_PLUGINS         the folder holding mod_account_occupancy.lua
--   MINIMIX_C2S_PORT        client port
--   MINIMIX_COMPONENT_PORT  XEP-0114 component port (the Python side connects here)
--   MINIMIX_COMPONENT_SECRET the component's shared secret
--   MINIMIX_LOG_LEVEL       optional: "debug" logs every stanza
--   MINIMIX_SMACKS_HIBERNATION optional: seconds a dropped session may resume

run_as_root = true -- the lab may run as root; otherwise mod_posix refuses to start

local lab = ENV_MINIMIX_LAB
plugin_paths = { ENV_MINIMIX_PLUGINS }
data_path = lab .. "/data"
pidfile = lab .. "/prosody.pid"
certificates = lab .. "/certs" -- empty: no TLS
log = { { levels = { min = ENV_MINIMIX_LOG_LEVEL or "info" }, to = "file", filename = lab .. "/prosody.log" } }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
component_interfaces = { "127.0.0.1" }
c2s_ports = { tonumber(ENV_MINIMIX_C2S_PORT) }
component_ports = { tonumber(ENV_MINIMIX_COMPONENT_PORT) }

modules_enabled = {
	"disco", "roster", "saslauth", "ping", "posix",
	"carbons", "smacks", "mam", "pep", "bookmarks",
	"admin_shell", -- prosodyctl shell, through a socket in the data folder
}
-- s2s is autoloaded in 0.12 and would listen on *:5269.
modules_disabled = { "s2s", "s2s_auth_certs", "offline" }

-- How long a dropped XEP-0198 session may resume (Prosody's default: 600 s).
smacks_hibernation_time = tonumber(ENV_MINIMIX_SMACKS_HIBERNATION) or 600

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"

VirtualHost "localhost"
	modules_enabled = { "account_occupancy" }
	account_occupancy_component = "minimix.localhost"
	account_occupancy_muc_hosts = { "conference.localhost" }
	account_occupancy_queue_size = 1000

-- Accounts here are left alone: they join rooms as plain XEP-0045 clients.
VirtualHost "plain.localhost"

Component "conference.localhost" "muc"
	modules_enabled = { "muc_mam" }
	restrict_room_creation = false
	muc_room_locking = false -- a first join makes an instant room: simpler for hand tests
	muc_room_default_history_length = 20

Component "minimix.localhost"
	component_secret = ENV_MINIMIX_COMPONENT_SECRET
