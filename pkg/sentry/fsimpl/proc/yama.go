package proc

// ptraceScope is /proc/sys/kernel/yama/ptrace_scope: YAMA_SCOPE_RELATIONAL, the
// default of distributions that enable Yama, under which a process may trace only
// its descendants without CAP_SYS_PTRACE. Visor does not implement ptrace(2), so
// nothing depends on the value but programs that read it to decide what to try.
const ptraceScope = 1
