/* getpid: the round trip of the cheapest system call, made raw (no libc cache). */
#include "bench.h"
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long n = parse_n(argc, argv);
	for (long i = warmup(n); i > 0; i--) syscall(SYS_getpid);
	long long t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) syscall(SYS_getpid);
	report("getpid", n, now_ns(CLOCK_MONOTONIC) - t0);
	return 0;
}
