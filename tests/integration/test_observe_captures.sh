#!/usr/bin/env bash
# tlsscope observe on real captures from other projects' test suites: every
# fact both sides report (SNI, ALPN, version, cipher, JA3, JA3S, JA4,
# certificate subject/issuer/SHA-1, STARTTLS, DNS names) must agree with the
# expected answers in tests/data/captures/ (nDPI's .out, FoxIO's .json).
# Where the observer rightly differs, check_observe.py names the rule from the
# specification ("# explained: ..." lines in the log).
source "$(dirname "$0")/lib.sh"
data="$TS_ROOT/tests/data/captures"
checker="$TS_ROOT/tests/integration/check_observe.py"

pairs=()
for exp in "$data"/ndpi/*.out "$data"/ja4/*.json; do
	cap=${exp%.out}
	cap=${cap%.json}
	[ -s "$cap" ] || continue
	name=$(basename "$cap")
	run "$TLSSCOPE" observe --json "$cap"
	if [ "$RC" -ne 0 ]; then
		not_ok "$name: observe exited $RC"
		diag "stderr: ${ERR:0:400}"
		continue
	fi
	printf '%s\n' "$OUT" >"$TS_TMP/$name.jsonl"
	pairs+=("$TS_TMP/$name.jsonl" "$exp")
done
while IFS= read -r line; do
	case "$line" in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done < <(python3 "$checker" "${pairs[@]}")

# STARTTLS: named from the cleartext preamble, for each mail/file protocol.
for pair in smtp-starttls.pcap:smtp imap-starttls.pcap:imap pop3_stls.pcap:pop3 ftp-start-tls.pcap:ftp; do
	run "$TLSSCOPE" observe --json "$data/ndpi/${pair%%:*}"
	check_name="${pair%%:*}: starttls is ${pair##*:}"
	if grep -q "\"starttls\":\"${pair##*:}\"" <<<"$OUT"; then ok "$check_name"; else not_ok "$check_name"; fi
done

# Lost data: the ClientHello's middle segment is missing; the gap is counted
# and parsing resynchronises on the records after it.
run "$TLSSCOPE" observe --json "$data/ndpi/tls_missing_ch_frag.pcap"
expect "missing ClientHello fragment: exit 0" 0
if python3 - "$OUT" <<'PY'
import json, sys
recs = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
summ = recs[-1]
tls = [r for r in recs if r["type"] == "tls"]
ok = summ["tcp_gaps"] >= 1 and summ["tcp_gap_bytes"] > 0 and any(t["gap_bytes"] > 0 for t in tls)
sys.exit(0 if ok else 1)
PY
then ok "missing ClientHello fragment: the gap is counted"; else not_ok "missing ClientHello fragment: gap not counted"; diag "${OUT:0:800}"; fi

# DNS over UDP: names, answers and TTLs; malformed messages are counted, not fatal.
run "$TLSSCOPE" observe --json "$data/ndpi/dns.pcap"
expect_out "dns.pcap: the A answers of e7.whatsapp.net with their TTL" '"name":"e7.whatsapp.net","type":"A","ttl":491,"data":"169.45.219.235"'
run "$TLSSCOPE" observe --json "$data/ndpi/malformed_dns.pcap"
expect "malformed_dns.pcap: exit 0" 0
expect_out "malformed_dns.pcap: malformed messages counted" '"dns_malformed":[1-9]'

echo "1..$TS_N"
