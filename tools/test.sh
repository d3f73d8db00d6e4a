#!/usr/bin/env bash
# Runs every test and check of the repository, as CI does (.ci/run calls this).
# Installs what it needs first (tools/setup.sh --deps), so it works on a fresh machine.
# Each step prints a banner; the first failing step stops the run with its exit code.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

step() {
	echo
	echo "=== $* ==="
}

step "install dependencies"
tools/setup.sh --deps

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change these files (run gofmt -w):"
	echo "$unformatted"
	exit 1
fi

step "go vet"
go vet ./...

step "generated files are current (go run ./tools/gen -check)"
go run ./tools/gen -check

step "BUILD files are current (tools/gazelle.sh -check)"
tools/gazelle.sh -check

step "go test"
# Everything but the engine tests, which get a step of their own below.
go test -count=1 $(go list ./... | grep -v -e '/test/docker$' -e '/test/containerd$')

step "Docker and containerd end to end (go test ./test/docker/ ./test/containerd/)"
go test -count=1 -timeout=10m ./test/docker/ ./test/containerd/

step "C++ syscall suite, natively, without Bazel (go run ./test/runner --build)"
go run ./test/runner --build --mode=native

step "C++ syscall suite inside runsc, ptrace platform (go run ./test/runner --build --mode=runsc)"
go run ./test/runner --build --mode=runsc --platform=ptrace --timeout=120s

step "bazel build //runsc"
bazel build //runsc

step "bazel test //..."
bazel test //...

echo
echo "All checks passed."
