#!/usr/bin/env bash
# Runs the benchmark suite once, side by side (native, runsc and, when available,
# gVisor and runc), with a fixed loop count per benchmark, and prints a Markdown
# table:
#
#   benchmark | native | runsc | gVisor | runc | runsc/native | runsc/gVisor
#
# Usage: test/benchmarks/run.sh [SCALE]
#
#   SCALE      multiplies every loop count (default 1; 0.1 for a quick look).
#
# Environment:
#   RUNTIMES   comma-separated subset of native,runsc,gvisor,runc (default: all).
#   GVISOR     gVisor's runsc, for the gVisor column (see README.md for how to get
#              Debian's build); without it the column is "-".
#   PLATFORM   runsc --platform (default ptrace).
#   COUNT      repeat each benchmark COUNT times and report the median (default 1).
#   OUT        directory for runsc, the test binary and raw.txt (default: a temp dir).
#
# Needs root (runsc and runc make namespaces; runc's root is a read-only bind
# mount of / that the driver makes and removes), gcc with a static libc (libc6-dev).
set -euo pipefail

cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
scale=${1:-1}
out=${OUT:-$(mktemp -d /var/tmp/visor-bench-run.XXXXXX)}
mkdir -p "$out"

echo "building runsc and the benchmark driver in $out ..." >&2
CGO_ENABLED=0 go build -o "$out/runsc" ./runsc
go test -c -o "$out/benchmarks.test" ./test/benchmarks

# benchmark  loop count (at SCALE 1): about a second or two under runsc each.
benches=(
	"Getpid 100000"
	"OpenClose 20000"
	"ForkExec 200"
	"Mmap4KiB 5000"
	"Mmap1MiB 5000"
	"Pipe 5000"
	"PtraceFloor 50000"
	"Startup 20"
	"StartupPhases 20"
	"Lifecycle 20"
	"IdleMemory 3"
)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
raw="$out/raw.txt"
: >"$raw"
for b in "${benches[@]}"; do
	set -- $b
	n=$(awk -v n="$2" -v s="$scale" 'BEGIN { n = int(n * s); print (n < 1 ? 1 : n) }')
	echo "Benchmark$1 x$n ..." >&2
	(cd test/benchmarks && "$out/benchmarks.test" -test.run '^$' -test.bench "^Benchmark$1\$" \
		-test.benchtime "${n}x" -test.count "${COUNT:-1}" \
		-runsc "$out/runsc" -platform "${PLATFORM:-ptrace}" -runtimes "${RUNTIMES:-native,runsc,gvisor,runc}" -gvisor "${GVISOR:-}") |
		tee -a "$raw" | grep -E '^(Benchmark|---|FAIL|panic)' >&2 || true
done

echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), Linux $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), runsc --platform=${PLATFORM:-ptrace}, SCALE=$scale, COUNT=${COUNT:-1}, load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo
awk '
function fmt(v) {
	if (v == "") return "-"
	if (v < 1e3) return sprintf("%.0f ns", v)
	if (v < 1e6) return sprintf("%.2f µs", v / 1e3)
	return sprintf("%.2f ms", v / 1e6)
}
function median(key,    n, i, j, t, a) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = vals[key, i]
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
function ratio(a, b) { return (a != "" && b != "" && b > 0) ? sprintf("%.2fx", a / b) : "-" }
function row(label, bench, unit, rs,    nat, sc, gv, rc) {
	nat = median(bench "/native " unit)
	sc = median(bench "/" rs " " unit)
	gv = median(bench "/gvisor " unit)
	rc = median(bench "/runc " unit)
	if (nat == "" && sc == "" && gv == "" && rc == "") return
	printf "| %s | %s | %s | %s | %s | %s | %s |\n", label, fmt(nat), fmt(sc), fmt(gv), fmt(rc), ratio(sc, nat), ratio(sc, gv)
}
function mib(v) { return v == "" ? "-" : sprintf("%.1f MiB", v / 1048576) }
function memrow(label, unit,    sc, rc) {
	sc = median("IdleMemory/runsc " unit)
	rc = median("IdleMemory/runc " unit)
	if (sc == "" && rc == "") return
	printf "| %s | - | %s | - | %s | - | - |\n", label, mib(sc), mib(rc)
}
function native_only(label, key,    v) {
	v = median(key)
	if (v != "") printf "| %s | %s | - | - | - | - | - |\n", label, fmt(v)
}
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
	for (i = 3; i + 1 <= NF; i += 2) {
		key = name " " $(i+1)
		vals[key, ++cnt[key]] = $i
	}
}
END {
	print "| benchmark | native | runsc | gVisor | runc | runsc/native | runsc/gVisor |"
	print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	row("getpid (raw syscall)", "Getpid", "ns/op", "runsc")
	row("open+close /etc/passwd", "OpenClose", "ns/op", "runsc")
	row("fork+exec(static true)+wait", "ForkExec", "ns/op", "runsc")
	row("mmap+touch+munmap 4 KiB", "Mmap4KiB", "ns/op", "runsc")
	row("mmap+touch+munmap 1 MiB", "Mmap1MiB", "ns/op", "runsc")
	row("pipe ping-pong round trip", "Pipe", "ns/op", "runsc")
	native_only("ptrace floor (native tracer, SYSEMU+GETREGS+SETREGS), one CPU", "PtraceFloor/same ns/op")
	native_only("ptrace floor (native tracer, SYSEMU+GETREGS+SETREGS), two CPUs", "PtraceFloor/cross ns/op")
	native_only("ptrace floor (native tracer, SYSEMU+GETREGS+SETREGS), unpinned", "PtraceFloor/any ns/op")
	row("/bin/true whole run (runsc do, gVisor do, runc run)", "Startup", "ns/op", "runsc")
	row("/bin/true whole run (runsc run, prepared bundle)", "Startup", "ns/op", "runsc-run")
	row("static program: start to main (runsc do, gVisor do)", "StartupPhases", "to-main-ns/op", "runsc")
	row("static program: main done to reaped (runsc do, gVisor do)", "StartupPhases", "teardown-ns/op", "runsc")
	row("static program: start to main (runsc run)", "StartupPhases", "to-main-ns/op", "runsc-run")
	row("static program: main done to reaped (runsc run)", "StartupPhases", "teardown-ns/op", "runsc-run")
	row("/bin/true create+start+reap+delete (as the containerd shim drives it)", "Lifecycle", "ns/op", "runsc")
	memrow("idle container (sleep), RSS of its host processes", "rss-bytes/op")
	memrow("idle container (sleep), PSS of its host processes", "pss-bytes/op")
}' "$raw"
