#!/bin/sh
# Installs the Debian packages the project needs, only those missing, so a
# second run is quick and offline. Run as root (or through sudo).
set -eu

packages="gcc make pkg-config meson ninja-build
libwebsockets-dev libjson-c-dev liblmdb-dev libcriterion-dev
libnats-dev nats-server
libcurl4-openssl-dev libssl-dev
curl ca-certificates
clang libclang-rt-14-dev valgrind"

# make demo needs Node.js (its producer); the browser tests need Node.js
# with npm and Debian's Chromium.
if [ "${RACEBOARD_WITH_NODE:-0}" = 1 ]; then
	command -v node >/dev/null 2>&1 || packages="$packages nodejs"
fi
# The OpenAPI check (tests/openapi/) needs Node.js with npm.
if [ "${RACEBOARD_WITH_NPM:-0}" = 1 ]; then
	command -v node >/dev/null 2>&1 || packages="$packages nodejs"
	command -v npm >/dev/null 2>&1 || packages="$packages npm"
fi
if [ "${RACEBOARD_WITH_BROWSER:-0}" = 1 ]; then
	packages="$packages chromium"
	command -v node >/dev/null 2>&1 || packages="$packages nodejs"
	command -v npm >/dev/null 2>&1 || packages="$packages npm"
fi

# make deb and make test-deploy: Debian's packaging tools, and nginx with
# openssl for the HTTPS end-to-end test.
if [ "${RACEBOARD_WITH_DEPLOY:-0}" = 1 ]; then
	packages="$packages debhelper dpkg-dev nginx openssl"
fi

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "Installing missing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
