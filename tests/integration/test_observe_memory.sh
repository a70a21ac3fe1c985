#!/usr/bin/env bash
# tlsscope observe --max-memory: the overall cap counts the TLS stream buffers.
# A generated capture holds many connections that stay open, each in the
# middle of a large handshake message (about 80 KiB buffered per flow: the
# reassembled part of a 65000-byte ClientHello and a partial record).  Under a
# cap of 8 MiB the process must stay within the cap of its baseline and report
# the flows it cut short; with a large cap the same capture needs far more
# (which shows that the check can fail).
source "$(dirname "$0")/lib.sh"

python3 - "$TS_TMP/partial.pcap" "$TS_TMP/tiny.pcap" <<'PY'
import struct, sys

def ip_tcp(src, sport, seq, ack, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, 443 if sport != 443 else 0, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return tcp + payload

def frame(src, dst, tcp):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    return hdr + tcp

def write(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 101))  # LINKTYPE_RAW
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i // 10000, i % 10000, len(fr), len(fr)))
            f.write(fr)

def flows(n):
    server = bytes([10, 1, 0, 1])
    out = []
    clients = [(bytes([10, 0, i >> 8, i & 255]), 20000 + i) for i in range(n)]
    def tcp(c, port, to_server, seq, ack, flags, payload=b""):
        if to_server:
            t = struct.pack("!HHIIBBHHH", port, 443, seq, ack, 5 << 4, flags, 65535, 0, 0)
            return frame(c, server, t + payload)
        t = struct.pack("!HHIIBBHHH", 443, port, seq, ack, 5 << 4, flags, 65535, 0, 0)
        return frame(server, c, t + payload)
    for c, p in clients:
        out.append(tcp(c, p, True, 1000, 0, 0x02))
        out.append(tcp(c, p, False, 5000, 1001, 0x12))
    # A ClientHello of 65000 bytes, in records of 16384: three whole ones,
    # then 16000 bytes of the fourth.  Each round is sent by every flow.
    body = struct.pack("!BBH", 1, 0, 65000) + bytes([3, 3]) + bytes(65000 - 2)
    chunks = [body[i:i + 16384] for i in range(0, 4 * 16384, 16384)]
    segs = [struct.pack("!BHH", 22, 0x0301, len(ch)) + ch for ch in chunks]
    segs[-1] = segs[-1][:5 + 16000]
    seq = {p: 1001 for _, p in clients}
    for s in segs:
        for c, p in clients:
            out.append(tcp(c, p, True, seq[p], 5001, 0x18, s))
            seq[p] += len(s)
    return out

write(sys.argv[1], flows(600))
write(sys.argv[2], flows(1))
PY
check "the generated capture exists" test -s "$TS_TMP/partial.pcap"

# peak RSS in KiB of a command (its output discarded)
peak_kib() {
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0" python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}

run "$TLSSCOPE" observe --max-memory 8 "$TS_TMP/partial.pcap"
expect "a capture over the cap: exit 0" 0
expect_out "600 TLS connections are reported" "TLS connections \.+ 600"
expect_out "flows cut short by the cap are counted as truncated" "flows truncated \.+ [1-9][0-9]*"
run "$TLSSCOPE" observe --json --max-memory 8 "$TS_TMP/partial.pcap"
expect_out "--json: a flow over the cap says why" '"truncated":true.*"error":"memory cap of 8388608 bytes reached'
run "$TLSSCOPE" observe --max-memory 1024 "$TS_TMP/partial.pcap"
expect_out "under a large cap nothing is truncated" "flows truncated \.+ 0"
run "$TLSSCOPE" observe --max-memory 0 "$TS_TMP/partial.pcap"
expect "--max-memory 0 is a usage error" 2 "max-memory"

base=$(peak_kib "$TLSSCOPE" observe "$TS_TMP/tiny.pcap")
capped=$(peak_kib "$TLSSCOPE" observe --max-memory 8 "$TS_TMP/partial.pcap")
large=$(peak_kib "$TLSSCOPE" observe --max-memory 1024 "$TS_TMP/partial.pcap")
diag "peak RSS: baseline $base KiB, --max-memory 8: $capped KiB, --max-memory 1024: $large KiB"
# 8 MiB of buffers, plus the fixed state of 600 flows and allocator slack; the
# sanitizers' allocator (redzones, shadow memory) about doubles all of it.
slack=20
case "${TS_BUILD:-}" in *asan*) slack=50 ;; esac
check "under an 8 MiB cap, peak memory stays within $slack MiB of the baseline" \
	test $((capped - base)) -lt $((slack * 1024))
check "without it the same capture needs over 40 MiB more (the check can fail)" \
	test $((large - base)) -gt $((40 * 1024))

echo "1..$TS_N"
