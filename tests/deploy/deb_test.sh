#!/bin/sh
# The Debian package end to end: builds it (tools/build-deb.sh), installs it
# with dpkg -i, runs the installed server from / with a temporary data dir
# on a free loopback port, fetches /, /health and the page's script, checks
# the unit with systemd-analyze verify when there is one, then purges the
# package again. Needs root (dpkg); skipped (77) otherwise.
# Usage: tests/deploy/deb_test.sh [OUTDIR]
set -eu
cd "$(dirname "$0")/../.."
out=${1:-build-deb}
[ "$(id -u)" -eq 0 ] || { echo "deb_test: needs root for dpkg -i; skipped"; exit 77; }

deb=$(timeout 900 ./tools/build-deb.sh "$out" | tail -1)
echo "deb_test: built $deb"
dpkg-deb -c "$deb" | awk '{print $6}' > "$out/contents.txt"
for f in ./usr/bin/raceboard-server ./usr/bin/raceboard \
	 ./usr/share/raceboard/index.html ./usr/share/raceboard/app.js \
	 ./usr/share/man/man1/raceboard-server.1.gz \
	 ./usr/share/man/man1/raceboard.1.gz \
	 ./lib/systemd/system/raceboard.service ./etc/default/raceboard \
	 ./usr/share/doc/raceboard/nginx.conf; do
	grep -qx "$f" "$out/contents.txt" || { echo "deb_test: $f missing from the package"; exit 1; }
done

tmp=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	dpkg -P raceboard >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || {
	cat "$tmp/dpkg.log"; exit 1; }
[ -x /usr/bin/raceboard-server ] && [ -x /usr/bin/raceboard ]

# From /, so only the installed page can be found.
(cd / && exec /usr/bin/raceboard-server --port 0 --port-file "$tmp/port" \
	--data-dir "$tmp/data" --log-level warn) &
pid=$!
for i in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")
base=http://127.0.0.1:$port

curl -fsS "$base/" -o "$tmp/index.html"
grep -q '<script type="module" src="app.js">' "$tmp/index.html" || {
	echo "deb_test: / is not the page"; exit 1; }
curl -fsS "$base/health" | grep -q '"status":"ok"'
curl -fsS "$base/app.js" -o "$tmp/app.js"
cmp -s "$tmp/app.js" /usr/share/raceboard/app.js || {
	echo "deb_test: /app.js is not the installed script"; exit 1; }
# The installed CLI against it.
id=$(/usr/bin/raceboard --server "$base" create --source deb --title "package test")
/usr/bin/raceboard --server "$base" finish "$id" --state passed >/dev/null
curl -fsS "$base/race/$id" | grep -q '"state":"passed"'

if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify /lib/systemd/system/raceboard.service
	echo "deb_test: systemd-analyze verify: ok"
else
	echo "deb_test: no systemd-analyze; unit not verified"
fi
echo "deb_test: 1 passed, 0 failed"
