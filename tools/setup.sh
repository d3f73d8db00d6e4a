#!/usr/bin/env bash
# Installs what building and testing Visor needs on a Debian bookworm machine, then
# builds runsc into out/bin. Idempotent: a second run installs nothing and rebuilds
# only what changed. Run as root (or with sudo available).
#
#   tools/setup.sh            install, then build out/bin/runsc
#   tools/setup.sh --deps     install only
set -euo pipefail

cd "$(dirname "$0")/.."

# Debian packages: Bazel 4.2.3 and the rule sets it loads from /usr/share/bazel,
# googletest for the C++ syscall suite, kernel headers (<asm/unistd_64.h>), what
# images/ builds test root filesystems from, and the engines the Docker and containerd
# end-to-end tests drive (test/docker, test/containerd; docker.io brings runc).
packages=(
	bazel-bootstrap bazel-skylib bazel-platforms bazel-rules-cc bazel-rules-java bazel-rules-proto
	g++ libgtest-dev libgmock-dev linux-libc-dev
	busybox-static debootstrap
	docker.io containerd
)

sudo=""
if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null; then
	if [ -x /usr/local/go/bin/go ]; then
		export PATH="$PATH:/usr/local/go/bin"
	else
		echo "setup: Go 1.26 is needed (go.mod); install it at /usr/local/go" >&2
		exit 1
	fi
fi
go mod download

if [ "${1:-}" = "--deps" ]; then
	exit 0
fi

mkdir -p out/bin
# Pure Go, as Bazel builds it: the Sentry refuses its seccomp filter in a cgo binary.
CGO_ENABLED=0 go build -o out/bin/runsc ./runsc
echo "setup: built out/bin/runsc"
