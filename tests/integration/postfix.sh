# Sourced (after lib.sh) by the tests that need a real postfix (PEERS.md):
# SMTP with STARTTLS on 127.0.0.1.  postfix keeps its configuration in
# /etc/postfix: postfix_start backs it up into $TS_TMP, and postfix_restore
# (which the test's EXIT trap must call) stops postfix and restores it, pass
# or fail.  tests/run runs test
# files one after another; a lock on /tmp/tlsscope-postfix.lock also keeps
# tests of other checkouts on this machine from sharing it (waiting at most
# 10 minutes for it).
#
# postfix_start PORT CERT KEY: configures and starts it in the background (it
#   takes seconds: start it early, test other things, then postfix_wait).
# postfix_wait PORT: 0 once the master runs (its PID tracked) and PORT accepts.
postfix_start() {
	local port=$1 cert=$2 key=$3
	exec {pf_lock}>/tmp/tlsscope-postfix.lock
	flock -w 600 "$pf_lock" || return 1
	cp -a /etc/postfix "$TS_TMP/postfix.orig"
	postconf -e "smtpd_tls_cert_file=$cert" "smtpd_tls_key_file=$key" \
		smtpd_tls_security_level=may "maillog_file=$TS_TMP/maillog" inet_protocols=ipv4 \
		maillog_file_prefixes=/var,/dev/stdout,/tmp
	sed -i -E "s/^smtp +inet +n +- +[yn] +- +- +smtpd\$/127.0.0.1:$port inet n - n - - smtpd/" \
		/etc/postfix/master.cf
	newaliases 2>/dev/null
	rm -f /var/spool/postfix/pid/master.pid
	postfix start-fg >"$TS_TMP/postfix.out" 2>&1 &
	track $!
}

postfix_wait() {
	local i
	for ((i = 0; i < 60 * 20; i++)); do
		[ -s /var/spool/postfix/pid/master.pid ] && break
		sleep 0.05
	done
	pf_master=$(tr -d ' ' </var/spool/postfix/pid/master.pid 2>/dev/null)
	[ -n "$pf_master" ] && track "$pf_master"
	wait_port "$1" 30
}

postfix_restore() {
	if [ -n "${pf_master:-}" ]; then
		kill -TERM "$pf_master" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pf_master" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -d "$TS_TMP/postfix.orig" ]; then
		rm -rf /etc/postfix && cp -a "$TS_TMP/postfix.orig" /etc/postfix
	fi
}
