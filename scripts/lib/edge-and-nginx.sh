# Sourced by scripts/bench-edge and scripts/soak-edge: builds the release binary, makes a 1 MiB
# segment and a 4 KiB playlist, and starts the edge (filling from that folder) and nginx (serving
# it), both over TLS 1.3 + HTTP/2, each asked once for both files so the edge's cache is filled
# and nginx's files are in the page cache. Sets work, edge_pid, nginx_pid, edge_url, nginx_url;
# the caller's EXIT trap runs cleanup. nginx_peak_rss prints nginx's master+workers peak in MiB.
bash scripts/setup >/dev/null
# DEPIN_BIN: run that binary instead of building this tree's (scripts/bench-compare sets it).
if [[ -n "${DEPIN_BIN:-}" ]]; then
  depin="$DEPIN_BIN"
else
  swift build -c release --product depin 2>&1 | { grep -v "unhandled; explicitly declare" || true; } | tail -n 1
  depin="$PWD/.build/release/depin"
fi

work="$(mktemp -d /tmp/depin-bench-edge.XXXXXX)"
edge_pid=""; nginx_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [[ -n "$edge_pid" ]] && kill "$edge_pid" 2>/dev/null || true
  [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}

mkdir -p "$work/origin/bench" "$work/nginx"
chmod 755 "$work"  # nginx workers run as www-data
head -c $((1024 * 1024)) /dev/urandom > "$work/origin/bench/seg.ts"
{
  printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n'
  for i in $(seq 0 400); do printf '#EXTINF:4.000000,\n%d.ts\n' "$i"; done
} > "$work/origin/bench/index.m3u8"
truncate -s 4082 "$work/origin/bench/index.m3u8"
printf '\n#EXT-X-ENDLIST\n' >> "$work/origin/bench/index.m3u8"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nginx_port=$(free_port)
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;  # h2load does not reconnect after a GOAWAY
  sendfile on;
  tcp_nopush on;
  open_file_cache max=1000 inactive=60s;
  types { video/mp2t ts; application/vnd.apple.mpegurl m3u8; }
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.3;
    location /v/ { alias $work/origin/; }
  }
}
NGINX
chmod -R a+rX "$work/origin"
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!

"$depin" edge --listen 127.0.0.1:0 --http-listen off --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
  --cache-dir "$work/cache" --cache-size 1GiB --upstream "file://$work/origin" --log-level warning >"$work/edge.out" 2>"$work/edge.log" &
edge_pid=$!
for _ in $(seq 100); do grep -q listening "$work/edge.out" 2>/dev/null && break; sleep 0.1; done
edge_url=$(grep -o 'https://[^ ]*' "$work/edge.out")
nginx_url="https://127.0.0.1:$nginx_port"
echo "edge: $edge_url (pid $edge_pid)   nginx: $nginx_url (pid $nginx_pid)"
sleep 0.5

# Warm both: the edge fills its cache from the origin folder; nginx's page cache holds the files.
for url in "$edge_url" "$nginx_url"; do
  for f in seg.ts index.m3u8; do
    curl -sk --http2 -o "$work/check" "$url/v/bench/$f"
    cmp -s "$work/check" "$work/origin/bench/$f" || { echo "bench-edge: $url/v/bench/$f returned different bytes" >&2; head -c 300 "$work/check" >&2; cat "$work/edge.log" >&2; exit 1; }
  done
done


nginx_peak_rss() {
  local total=0 p r
  for p in $(pgrep -f "nginx -c $work/nginx/nginx.conf") $(pgrep -P "$nginx_pid" || true); do
    r=$(awk '/VmHWM/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0); total=$((total + r))
  done
  echo $((total / 1024))
}
