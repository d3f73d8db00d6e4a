#!/usr/bin/env bash
# Builds a Debian bookworm root filesystem (debootstrap --variant=minbase, plus
# python3 and procps) for runsc's end-to-end tests: a real distribution's shell,
# coreutils, findutils, tar, gzip and python3, run natively in a chroot as the
# reference and inside runsc for the comparison.
#
#   images/debian/build.sh          build into the cache (see below), print its path
#   images/debian/build.sh DIR      build into DIR, print DIR
#
# Cached and idempotent: the rootfs is reused when DIR.stamp (beside DIR) names the
# same suite, mirror and package list, and rebuilt otherwise. The build goes into a
# temporary directory renamed into place at the end, so an interrupted build leaves
# nothing half-made; a lock (DIR.lock) lets concurrent callers share one build.
# Default DIR: ${XDG_CACHE_HOME:-$HOME/.cache}/visor/images/debian-bookworm.
#
# Needs root and debootstrap (tools/setup.sh installs it), and the Debian mirror this
# machine's apt uses (read from /etc/apt/sources.list(.d); override with MIRROR=URL).
# Non-interactive: runs with CI=true and no stdin. The only output on stdout is the
# path; progress goes to stderr. Takes about 1-2 minutes on a fresh cache.
set -euo pipefail

suite=bookworm
variant=minbase
# Beyond minbase (which has bash, coreutils, findutils, grep, sed, tar, gzip):
include=python3,procps

if [ $# -gt 1 ]; then
	echo "usage: $0 [DIR]" >&2
	exit 2
fi
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/visor/images/debian-$suite}
dir=$(realpath -m "$dir")

# mirror prints the first Debian archive URL of apt's sources (deb822 or one-line).
mirror() {
	local f url
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
		[ -f "$f" ] || continue
		url=$(grep -Eho '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+' "$f" |
			grep -Eo 'https?://[^[:space:]]+' | grep -E '/debian/?$' | head -n1 || true)
		if [ -n "$url" ]; then
			echo "${url%/}"
			return
		fi
	done
	echo http://deb.debian.org/debian
}
mirror=${MIRROR:-$(mirror)}
stamp="suite=$suite variant=$variant include=$include mirror=$mirror"

if [ "$(id -u)" != 0 ]; then
	echo "$0: debootstrap needs root" >&2
	exit 1
fi
if ! command -v debootstrap >/dev/null; then
	echo "$0: debootstrap not found: apt-get install debootstrap (tools/setup.sh does)" >&2
	exit 1
fi

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
if [ -d "$dir" ] && [ "$(cat "$dir.stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$dir"
	exit 0
fi

tmp="$dir.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "$0: debootstrap $suite into $dir from $mirror" >&2
if ! CI=true DEBIAN_FRONTEND=noninteractive debootstrap --variant="$variant" --include="$include" \
	"$suite" "$tmp" "$mirror" </dev/null >"$tmp.log" 2>&1; then
	tail -n 30 "$tmp.log" >&2
	echo "$0: debootstrap failed; log in $tmp.log" >&2
	exit 1
fi
rm -f "$tmp.log"
# Leave nothing that differs between runs or machines in the tests' way.
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
echo e2e >"$tmp/etc/hostname"

rm -rf "$dir" "$dir.stamp"
mv "$tmp" "$dir"
trap - EXIT
echo "$stamp" >"$dir.stamp"
echo "$0: built in $(($(date +%s) - start))s" >&2
echo "$dir"
