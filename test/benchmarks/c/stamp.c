/*
 * stamp: prints CLOCK_REALTIME on entry to main and just before exit, so the driver
 * can split a whole run into "spawn to main" and "exit of main to reaped":
 *
 *   STAMP start=<ns> end=<ns>
 */
#include "bench.h"

int main(void) {
	long long start = now_ns(CLOCK_REALTIME);
	long long end = now_ns(CLOCK_REALTIME);
	printf("STAMP start=%lld end=%lld\n", start, end);
	return 0;
}
