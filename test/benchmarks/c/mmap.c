/*
 * mmap: mmap(2) an anonymous private mapping of argv[2] bytes (default 4096),
 * write one byte of its first page (one page fault), munmap(2).
 */
#include "bench.h"
#include <sys/mman.h>

static void once(size_t size) {
	volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) die("mmap");
	p[0] = 1;
	if (munmap((void *)p, size) != 0) die("munmap");
}

int main(int argc, char **argv) {
	long n = parse_n(argc, argv);
	size_t size = argc > 2 ? strtoul(argv[2], NULL, 0) : 4096;
	for (long i = warmup(n); i > 0; i--) once(size);
	long long t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) once(size);
	char name[64];
	snprintf(name, sizeof name, "mmap-%zu", size);
	report(name, n, now_ns(CLOCK_MONOTONIC) - t0);
	return 0;
}
