/*
 * Shared helpers of the micro-benchmarks. Each program takes the loop count N as
 * its first argument, runs a short untimed warm-up, times N iterations with
 * CLOCK_MONOTONIC and prints one line the Go driver parses:
 *
 *   BENCH <name> n=<N> ns/op=<nanoseconds per iteration>
 *
 * The programs are built with gcc -static so that neither the dynamic loader nor
 * libc's lazy binding is part of what is measured.
 */
#ifndef VISOR_BENCH_H
#define VISOR_BENCH_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline long long now_ns(clockid_t clk) {
	struct timespec ts;
	if (clock_gettime(clk, &ts) != 0) {
		perror("clock_gettime");
		exit(2);
	}
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline long parse_n(int argc, char **argv) {
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
	if (n < 1) {
		fprintf(stderr, "usage: %s N [ARGS...]\n", argv[0]);
		exit(2);
	}
	return n;
}

/* warmup returns how many untimed iterations to run first: a tenth of N, at most 1000. */
static inline long warmup(long n) {
	long w = n / 10;
	return w > 1000 ? 1000 : w;
}

static inline void report(const char *name, long n, long long elapsed_ns) {
	printf("BENCH %s n=%ld ns/op=%.1f\n", name, n, (double)elapsed_ns / (double)n);
	fflush(stdout);
}

static inline void die(const char *what) {
	perror(what);
	exit(1);
}

#endif
