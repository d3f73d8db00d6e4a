// A static program with no C library that spins forever in application code,
// calling getpid(2) once every 2^18 iterations so that a test counting those
// calls sees it make progress. It never exits by itself.
static long sys0(long n) {
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n) : "rcx", "r11", "memory");
	return ret;
}

void _start(void) {
	for (unsigned long i = 0;; i++) {
		if ((i & 0x3ffff) == 0) sys0(39);
	}
}
