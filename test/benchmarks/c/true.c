/* true: a static /bin/true, exec'd by forkexec. */
int main(void) { return 0; }
