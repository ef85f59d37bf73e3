-- Prosody 0.12 configuration for minimix_core's interop tier (tests/interop).
--
-- Everything listens on 127.0.0.1 only. The fixture in conftest.py sets these variables
-- (Prosody reads ENV_NAME as the environment variable NAME):
--   MINIMIX_LAB             private folder for data, log, pidfile and certs
--   MINIMIX_C2S_PORT        client port (plaintext, SASL PLAIN)
--   MINIMIX_COMPONENT_PORT  XEP-0114 external component port
--   MINIMIX_SECRET          the component's shared secret

run_as_root = true -- the lab runs as root; otherwise mod_posix refuses to start

local lab = ENV_MINIMIX_LAB
data_path = lab .. "/data"
pidfile = lab .. "/prosody.pid"
certificates = lab .. "/certs" -- empty: no TLS, no STARTTLS offered
log = { info = lab .. "/prosody.log" }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
component_interfaces = { "127.0.0.1" }
c2s_ports = { tonumber(ENV_MINIMIX_C2S_PORT) }
component_ports = { tonumber(ENV_MINIMIX_COMPONENT_PORT) }

modules_enabled = { "disco", "roster", "saslauth", "ping", "posix" }
-- s2s is autoloaded in 0.12 and would listen on *:5269; offline storage is not wanted.
modules_disabled = { "s2s", "s2s_auth_certs", "offline" }

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"

VirtualHost "localhost"

Component "conference.localhost" "muc"
	modules_enabled = { "muc_mam" }
	restrict_room_creation = false
	muc_room_locking = true
	muc_room_default_history_length = 20

Component "users.localhost"
	component_secret = ENV_MINIMIX_SECRET
