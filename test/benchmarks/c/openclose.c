/* openclose: open(2) + close(2) of an existing file (argv[2], default /etc/passwd). */
#include "bench.h"
#include <fcntl.h>
#include <unistd.h>

static void once(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) die(path);
	if (close(fd) != 0) die("close");
}

int main(int argc, char **argv) {
	long n = parse_n(argc, argv);
	const char *path = argc > 2 ? argv[2] : "/etc/passwd";
	for (long i = warmup(n); i > 0; i--) once(path);
	long long t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) once(path);
	report("openclose", n, now_ns(CLOCK_MONOTONIC) - t0);
	return 0;
}
