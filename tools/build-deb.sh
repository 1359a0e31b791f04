#!/bin/sh
# Builds the Debian package (debian/, debhelper + Meson) from a copy of the
# tracked files, so build directories and data in the work tree stay out
# of it. Usage: tools/build-deb.sh [OUTDIR]  (default build-deb); the .deb
# lands in OUTDIR. Build dependencies: ./tools/install-deps.sh with
# RACEBOARD_WITH_DEPLOY=1.
set -eu
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build-deb}")
version=$(dpkg-parsechangelog -S Version)
src="$out/src/raceboard-$version"

rm -rf "$out/src"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		(cd . && xargs -0 cp --parents -t "$src" 2>/dev/null || true)
else
	tar --exclude='./build*' --exclude='./raceboard-data' \
	    --exclude='*/node_modules' -cf - . | tar -xf - -C "$src"
fi
# Files listed by git but deleted in the work tree are simply absent.
cd "$src"
nice dpkg-buildpackage -b -us -uc --no-sign -j2 >"$out/build.log" 2>&1 || {
	tail -40 "$out/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed; full log: $out/build.log" >&2
	exit 1
}
deb=$(ls "$out/src"/raceboard_"$version"_*.deb)
mv "$out/src"/*.deb "$out/src"/*.buildinfo "$out/src"/*.changes "$out/" 2>/dev/null || true
rm -rf "$out/src"
echo "$out/$(basename "$deb")"
