/*
 * pipe: ping-pong of one byte between two processes over two pipes; ns/op is one
 * round trip (two writes, two reads, two wake-ups).
 */
#include "bench.h"
#include <sys/wait.h>
#include <unistd.h>

static void xfer(int rfd, int wfd, int first) {
	char c = 'x';
	if (!first && read(rfd, &c, 1) != 1) die("read");
	if (write(wfd, &c, 1) != 1) die("write");
	if (first && read(rfd, &c, 1) != 1) die("read");
}

int main(int argc, char **argv) {
	long n = parse_n(argc, argv);
	long w = warmup(n);
	int ping[2], pong[2];
	if (pipe(ping) != 0 || pipe(pong) != 0) die("pipe");
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		for (long i = 0; i < w + n; i++) xfer(ping[0], pong[1], 0);
		_exit(0);
	}
	for (long i = 0; i < w; i++) xfer(pong[0], ping[1], 1);
	long long t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) xfer(pong[0], ping[1], 1);
	long long elapsed = now_ns(CLOCK_MONOTONIC) - t0;
	int status;
	if (waitpid(pid, &status, 0) != pid) die("waitpid");
	report("pipe", n, elapsed);
	return 0;
}
