#!/usr/bin/env bash
# The set-up: what `make install` puts in place (command, library, headers,
# pkg-config file, man page) works for a program built against it; and
# scripts/deps prints the apt-get line and fails when not root, installs what
# is missing when root.  apt-get, dpkg-query and id are stand-ins here: no
# package is ever installed by this test.
. "$(dirname "$0")/lib.sh"
D=$TS_TMP
B=${TS_BUILD:?set TS_BUILD to the build directory}
chmod 0755 "$D"   # for the runs as nobody

# ---- make install: meson install of this build into a staging directory ----
run meson install -C "$B" --no-rebuild --destdir "$D/dest"
expect "meson install into a staging directory" 0
prefix=$D/dest$(python3 -c 'import json,sys; o={x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}
print(o["prefix"])' "$B/meson-info/intro-buildoptions.json")
libdir=$(dirname "$(find "$D/dest" -name tlsscope.pc)")/..
check "the command is installed" test -x "$prefix/bin/tlsscope"
check "the library is installed" test -e "$libdir/libtlsscope.so"
check "the headers are installed" test -f "$prefix/include/tlsscope/conn.h" -a -f "$prefix/include/tlsscope/cert.h"
check "the man page is installed" test -f "$prefix/share/man/man1/tlsscope.1"
check "the pkg-config file names the library" grep -qx 'Libs: -L${libdir} -ltlsscope' "$libdir/pkgconfig/tlsscope.pc"
check "the pkg-config file names the headers" grep -qx 'Cflags: -I${includedir}' "$libdir/pkgconfig/tlsscope.pc"

run env LD_LIBRARY_PATH="$libdir" "$prefix/bin/tlsscope" cert ca --dir "$D/ca" --name "Installed Root"
expect "the installed command runs" 0

# A program that includes every installed header and uses the library, built
# with the flags pkg-config gives (and the sanitizers, if this build has them).
{
	for h in "$prefix"/include/tlsscope/*.h; do echo "#include <tlsscope/$(basename "$h")>"; done
	cat <<'C'
#include <stdio.h>
int main(int argc, char **argv)
{
	(void)argc;
	struct ts_config *cfg = ts_config_new();
	struct ts_cert_info *infos = NULL;
	size_t n = 0;
	struct ts_error err = { 0 };
	int rc = ts_config_set_ca_path(cfg, argv[1]);
	printf("set_ca_path %d level %d\n", rc, ts_config_security_level(cfg));
	rc = ts_cert_read_file(argv[1], &infos, &n, &err);
	printf("read %d: %s\n", rc, rc == 0 && n == 1 ? infos[0].subject : err.msg);
	ts_cert_infos_free(infos, n);
	ts_config_free(cfg);
	return 0;
}
C
} >"$D/uses_lib.c"
sanitize=$(python3 -c 'import json,sys; o={x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}
print(o["b_sanitize"])' "$B/meson-info/intro-buildoptions.json")
cc=(cc)
[ "$sanitize" = none ] || cc=(clang "-fsanitize=$sanitize")
# (--define-variable points the .pc at the staging directory)
run env PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --define-variable=prefix="$prefix" --cflags --libs tlsscope
expect "pkg-config knows tlsscope" 0
flags=$OUT
# shellcheck disable=SC2086
run "${cc[@]}" -Wall -Wextra -Werror -o "$D/uses_lib" "$D/uses_lib.c" $flags
expect "a program with every installed header builds against the pkg-config flags" 0
run env LD_LIBRARY_PATH="$libdir" "$D/uses_lib" "$D/ca/ca.pem"
expect "... and runs" 0
expect_out "it loaded the CA and kept the default security level" "^set_ca_path 0 level 2$"
expect_out "it read the certificate the installed command made" "^read 0: CN=Installed Root$"

# ---- scripts/deps ----
mkdir -p "$D/fake"
# dpkg-query: every package is installed except gnutls-bin and nginx-light
cat >"$D/fake/dpkg-query" <<'SH'
#!/bin/sh
for a; do p=$a; done
case $p in gnutls-bin|nginx-light) exit 1 ;; esac
echo 'install ok installed'
SH
# apt-get and debconf-set-selections only write down how they were called
printf '#!/bin/sh\necho "apt-get $*" >>"%s/apt.log"\n' "$D" >"$D/fake/apt-get"
printf '#!/bin/sh\ncat >/dev/null\n' >"$D/fake/debconf-set-selections"
chmod 0755 "$D/fake"/*
DEPS="$TS_ROOT/scripts/deps"

# not root: the real user nobody when we are root, else ourselves
AS_NOBODY=()
[ "$(id -u)" -ne 0 ] || AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
run "${AS_NOBODY[@]}" env PATH="$D/fake:$PATH" "$DEPS"
expect "scripts/deps, not root, packages missing: exits non-zero" 1 \
	"^  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnutls-bin nginx-light$"
check "... and installs nothing" test ! -e "$D/apt.log"
run "${AS_NOBODY[@]}" env PATH="$D/fake:$PATH" "$DEPS" --print
expect "scripts/deps --print prints the line and exits 0" 0 "apt-get install -y --no-install-recommends gnutls-bin nginx-light$"
run "${AS_NOBODY[@]}" "$DEPS"
expect "scripts/deps, not root, nothing missing: exits 0 quietly" 0
check "... with nothing on stderr" test -z "$ERR"

# root (id says 0): apt-get installs exactly the missing packages
printf '#!/bin/sh\necho 0\n' >"$D/fake/id"
chmod 0755 "$D/fake/id"
run env PATH="$D/fake:$PATH" "$DEPS"
expect "scripts/deps as root installs what is missing" 0 "installing gnutls-bin nginx-light"
check "... with one apt-get install, for exactly those packages" \
	test "$(grep '^apt-get install' "$D/apt.log")" = "apt-get install -y -q --no-install-recommends gnutls-bin nginx-light"
run "$DEPS" --frob
expect "scripts/deps with an unknown option is a usage error" 2 "usage: scripts/deps"
echo "1..$TS_N"
