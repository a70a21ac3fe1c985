# postfix.sh: a real postfix 3 with SMTP STARTTLS on loopback, for the tests that
# talk to one (source it after lib.sh).  It changes /etc/postfix: postfix_start
# backs it up, postfix_stop (call it from the EXIT trap, pass or fail) stops the
# server and restores it.  One postfix per machine: two tests using it cannot
# run at the same time.  Recipe: shared/PEERS.md.

# postfix_start PORT CERT KEY: configures 127.0.0.1:PORT and starts postfix in
# the background (it takes seconds: start it early, wait with postfix_wait).
postfix_start() {
	cp -a /etc/postfix "$TS_TMP/postfix.orig"
	postconf -e "smtpd_tls_cert_file=$2" "smtpd_tls_key_file=$3" \
		smtpd_tls_security_level=may "maillog_file=$TS_TMP/maillog" inet_protocols=ipv4 \
		maillog_file_prefixes=/var,/dev/stdout,/tmp
	# the smtpd service line, as shipped or as a test that was killed left it
	sed -i -E "s/^[^ #]+ +inet +n +- +[yn] +- +- +smtpd\$/127.0.0.1:$1 inet n - n - - smtpd/" \
		/etc/postfix/master.cf
	newaliases 2>/dev/null
	rm -f /var/spool/postfix/pid/master.pid
	postfix start-fg >"$TS_TMP/postfix.out" 2>&1 &
	track $!
}

# postfix_wait PORT: waits for the master process (tracked) and the port.
postfix_wait() {
	local i
	for ((i = 0; i < 1200; i++)); do [ -s /var/spool/postfix/pid/master.pid ] && break; sleep 0.05; done
	pf_master=$(tr -d ' ' </var/spool/postfix/pid/master.pid 2>/dev/null)
	[ -n "$pf_master" ] && track "$pf_master"
	wait_port "$1" 30
}

postfix_stop() {
	if [ -n "${pf_master:-}" ]; then
		kill -TERM "$pf_master" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pf_master" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -d "$TS_TMP/postfix.orig" ]; then
		rm -rf /etc/postfix && cp -a "$TS_TMP/postfix.orig" /etc/postfix
	fi
}
