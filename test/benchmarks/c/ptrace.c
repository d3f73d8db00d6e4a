/*
 * ptrace: the floor under the ptrace platform, measured natively. A traced child
 * makes getpid(2) in a loop; the parent plays the Sentry: PTRACE_SYSEMU, wait for
 * the stop, PTRACE_GETREGS, write a result, PTRACE_SETREGS. ns/op is one emulated
 * system call. argv[2] places the two processes:
 *
 *   same   both on CPU 0 (what the ptrace platform's pinning aims for)
 *   cross  parent on CPU 0, child on CPU 1 (every hand-off is a cross-CPU wakeup)
 *   any    wherever the host scheduler puts them
 */
#include "bench.h"
#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PTRACE_SYSEMU
#define PTRACE_SYSEMU 31
#endif

static void pin(int cpu) {
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

static void emulate(pid_t pid) {
	int status;
	if (ptrace(PTRACE_SYSEMU, pid, 0, 0) != 0) die("PTRACE_SYSEMU");
	if (waitpid(pid, &status, __WALL) != pid) die("waitpid");
	if (!WIFSTOPPED(status)) {
		fprintf(stderr, "ptrace: child status %#x\n", status);
		exit(1);
	}
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, pid, 0, &regs) != 0) die("PTRACE_GETREGS");
	regs.rax = 42;
	if (ptrace(PTRACE_SETREGS, pid, 0, &regs) != 0) die("PTRACE_SETREGS");
}

int main(int argc, char **argv) {
	long n = parse_n(argc, argv);
	const char *mode = argc > 2 ? argv[2] : "any";
	int same = strcmp(mode, "same") == 0, cross = strcmp(mode, "cross") == 0;
	if (!same && !cross && strcmp(mode, "any") != 0) {
		fprintf(stderr, "usage: %s N same|cross|any\n", argv[0]);
		return 2;
	}
	if (same || cross) pin(0);
	long w = warmup(n);
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		if (cross) pin(1);
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) die("PTRACE_TRACEME");
		raise(SIGSTOP);
		for (;;) syscall(SYS_getpid); /* the parent kills it */
	}
	int status;
	if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status)) die("waitpid (initial stop)");
	if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) != 0) die("PTRACE_SETOPTIONS");
	for (long i = 0; i < w; i++) emulate(pid);
	long long t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) emulate(pid);
	long long elapsed = now_ns(CLOCK_MONOTONIC) - t0;
	kill(pid, SIGKILL);
	waitpid(pid, &status, __WALL);
	char name[32];
	snprintf(name, sizeof name, "ptrace-%s", mode);
	report(name, n, elapsed);
	return 0;
}
