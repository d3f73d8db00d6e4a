/*
 * forkexec: fork(2), execve(2) of argv[2] (the static "true" built beside this
 * program) in the child, wait4(2) in the parent.
 */
#include "bench.h"
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void once(char *path) {
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		char *args[] = {path, NULL};
		execve(path, args, environ);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid) die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "forkexec: %s: status %#x\n", path, status);
		exit(1);
	}
}

int main(int argc, char **argv) {
	long n = parse_n(argc, argv);
	if (argc < 3) {
		fprintf(stderr, "usage: %s N PROGRAM\n", argv[0]);
		return 2;
	}
	for (long i = warmup(n); i > 0; i--) once(argv[2]);
	long long t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) once(argv[2]);
	report("forkexec", n, now_ns(CLOCK_MONOTONIC) - t0);
	return 0;
}
