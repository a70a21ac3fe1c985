#!/usr/bin/env bash
# tlsscope observe: usage, bad input, text and --details output.
source "$(dirname "$0")/lib.sh"
data="$TS_ROOT/tests/data/captures"

run "$TLSSCOPE" observe
expect "no input is a usage error" 2 "FILE or -i IFACE"
run "$TLSSCOPE" observe a.pcap -i lo
expect "a file and an interface is a usage error" 2
run "$TLSSCOPE" observe --bogus x.pcap
expect "unknown option is a usage error" 2
run "$TLSSCOPE" observe --help
expect "--help exits 0" 0
expect_out "--help shows the synopsis" "observe FILE"
run "$TLSSCOPE" observe "$TS_TMP/missing.pcap"
expect "missing file: exit 3, one line naming it" 3 "missing.pcap"
printf 'this is not a capture file at all\n' >"$TS_TMP/junk.pcap"
run "$TLSSCOPE" observe "$TS_TMP/junk.pcap"
expect "not a capture: exit 3" 3 "junk.pcap"
one_line "not a capture"
# A capture cut in the middle of a packet: what was read is reported, then exit 3.
head -c 30000 "$data/ndpi/443-curl.pcap" >"$TS_TMP/cut.pcap"
run "$TLSSCOPE" observe "$TS_TMP/cut.pcap"
expect "truncated capture: exit 3" 3 "truncated|capture read failed"
expect_out "truncated capture: the summary is still printed" "packets \.+"
run "$TLSSCOPE" observe "$data/ndpi/443-curl.pcap" --filter "tcp port 443 and"
expect "bad BPF filter: usage error" 2 "^tlsscope observe: bad filter 'tcp port 443 and': "
run "$TLSSCOPE" observe -i no-such-interface-xyz
expect "missing interface: exit 3" 3 "no-such-interface-xyz"

# Text: one line per connection with name, version, cipher, JA4.
run "$TLSSCOPE" observe "$data/ndpi/443-curl.pcap"
expect "text output: exit 0" 0
expect_out "text: one row with name, version, cipher and JA4" "192\.168\.1\.13:55523 -> 178\.62\.197\.130:443 +www\.ntop\.org +TLSv1\.2 +TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 +t12d"
expect_out "text: the summary counts one TLS connection" "TLS connections \.+ 1"
run "$TLSSCOPE" observe --details "$data/ndpi/443-curl.pcap"
expect_out "--details: exchange lines" "#1 .* request [0-9]+ B in [0-9]+ records"
expect_out "--details: the certificate chain" "cert 0: CN=www\.ntop\.org"
# A BPF filter that matches nothing leaves nothing to report.
run "$TLSSCOPE" observe --json --filter "udp port 9" "$data/ndpi/443-curl.pcap"
expect_out "--filter: nothing matches, no TLS" '"tls_connections":0'

echo "1..$TS_N"
