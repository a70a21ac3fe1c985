# Sourced by the catalog/identify tests and bench/identify: serves a static
# directory with nginx over TLS on 127.0.0.1 with gzip on and one redirect.
# site_nginx_start DIR ROOT PORT CERT KEY [EXTRA_SERVER_DIRECTIVES]
# writes DIR/nginx.conf, starts nginx in the foreground (PID in $SITE_NGINX_PID).
site_nginx_start() {
	local dir=$1 root=$2 port=$3 cert=$4 key=$5 extra=${6:-}
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log $dir/access.log;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	gzip on;
	gzip_types text/css application/javascript text/plain image/svg+xml;
	gzip_min_length 256;
	keepalive_requests 10000;
	server {
		listen 127.0.0.1:$port ssl http2;
		server_name site.test;
		ssl_certificate $cert;
		ssl_certificate_key $key;
		ssl_protocols TLSv1.2 TLSv1.3;
		root $root;
		location = /old.html { return 301 /page3.html; }
		$extra
	}
}
CONF
	nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/nginx.out" 2>&1 &
	SITE_NGINX_PID=$!
}

# site_cert DIR: a throwaway self-signed certificate for site.test in DIR/{cert,key}.pem.
site_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=site.test -addext subjectAltName=DNS:site.test \
		-keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
}

# site_up PAGES (in a test that sourced lib.sh): generates a site of PAGES
# pages under $TS_TMP/site, with its certificate, and serves it with nginx on a
# free port; sets site, port, base (https://site.test:PORT) and resolve (for
# curl's --resolve).  A server that does not start ends the test.
site_up() {
	site=$TS_TMP/site
	mkdir -p "$site"
	chmod 755 "$TS_TMP"   # nginx workers run as nobody
	python3 "$TS_ROOT/tests/integration/site_gen.py" "$site/www" "$1"
	site_cert "$site"
	port=$(free_port)
	site_nginx_start "$site" "$site/www" "$port" "$site/cert.pem" "$site/key.pem"
	track "$SITE_NGINX_PID"
	wait_port "$port" || { not_ok "nginx did not start: $(cat "$site"/nginx.out "$site"/error.log)"; echo "1..$TS_N"; exit 1; }
	base="https://site.test:$port"
	resolve="site.test:$port:127.0.0.1"
}
