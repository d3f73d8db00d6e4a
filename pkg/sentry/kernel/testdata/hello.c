// A static program with no C library: it writes a greeting, touches fresh heap
// memory through brk-free mmap-free stack use, forks no one, and exits with 42.
// It makes only write(2) and exit_group(2), so it runs on a table with just those.
static long sys3(long n, long a, long b, long c) {
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

void _start(void) {
	static const char msg[] = "hello from the sentry\n";
	char buf[64];
	for (int i = 0; i < (int)sizeof(msg); i++) buf[i] = msg[i];
	sys3(1, 1, (long)buf, sizeof(msg) - 1);
	sys3(231, 42, 0, 0);
	for (;;) {}
}
