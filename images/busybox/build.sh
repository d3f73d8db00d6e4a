#!/usr/bin/env bash
# Builds a minimal root filesystem from Debian's busybox-static: one static binary and
# its applet links, enough for shell-level end-to-end tests of runsc. No network.
#
#   images/busybox/build.sh DIR     writes the rootfs into DIR (created; must be empty)
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
busybox=/bin/busybox
if [ ! -x "$busybox" ]; then
	echo "$0: $busybox not found: apt-get install busybox-static (tools/setup.sh does)" >&2
	exit 1
fi
mkdir -p "$dir"
if [ -n "$(ls -A "$dir")" ]; then
	echo "$0: $dir is not empty" >&2
	exit 1
fi

mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root}
chmod 1777 "$dir/tmp"
cp "$busybox" "$dir/bin/busybox"
# One link per applet, where busybox itself would install it.
"$dir/bin/busybox" --list-full | while read -r applet; do
	[ "$applet" = bin/busybox ] && continue
	ln -sf /bin/busybox "$dir/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
echo "root:x:0:" >"$dir/etc/group"
echo "visor" >"$dir/etc/hostname"
echo "$0: rootfs in $dir"
