# Sourced (after lib.sh) by the tests that need a real dovecot (PEERS.md):
# IMAP and POP3 with STARTTLS on 127.0.0.1, everything under $TS_TMP/dovecot.
#
# dovecot_start IMAP_PORT POP3_PORT CERT KEY: configures and starts it (its PID
#   tracked) and waits for both ports; non-zero, with its log in diag lines,
#   when it does not come up.
dovecot_start() {
	local d=$TS_TMP/dovecot
	mkdir -p "$d/mail"
	chmod 755 "$TS_TMP" "$d"
	cat >"$d/dovecot.conf" <<CONF
protocols = imap pop3
listen = 127.0.0.1
base_dir = $d/run
state_dir = $d/state
log_path = $d/log
ssl = yes
ssl_cert = <$3
ssl_key = <$4
passdb {
  driver = static
  args = password=test
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$d/mail/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = 100
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $1
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $2
  }
  inet_listener pop3s {
    port = 0
  }
}
CONF
	dovecot -F -c "$d/dovecot.conf" >"$d/out" 2>&1 &
	track $!
	if ! wait_port "$1" 20 || ! wait_port "$2" 20; then
		diag "dovecot did not start: $(tail -5 "$d/out" "$d/log" 2>/dev/null)"
		return 1
	fi
}
