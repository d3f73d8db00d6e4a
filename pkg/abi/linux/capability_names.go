package linux

// capabilityNames are the capabilities' names, as <linux/capability.h> and OCI
// specs spell them.
var capabilityNames = [...]string{
	CAP_CHOWN:              "CAP_CHOWN",
	CAP_DAC_OVERRIDE:       "CAP_DAC_OVERRIDE",
	CAP_DAC_READ_SEARCH:    "CAP_DAC_READ_SEARCH",
	CAP_FOWNER:             "CAP_FOWNER",
	CAP_FSETID:             "CAP_FSETID",
	CAP_KILL:               "CAP_KILL",
	CAP_SETGID:             "CAP_SETGID",
	CAP_SETUID:             "CAP_SETUID",
	CAP_SETPCAP:            "CAP_SETPCAP",
	CAP_LINUX_IMMUTABLE:    "CAP_LINUX_IMMUTABLE",
	CAP_NET_BIND_SERVICE:   "CAP_NET_BIND_SERVICE",
	CAP_NET_BROADCAST:      "CAP_NET_BROADCAST",
	CAP_NET_ADMIN:          "CAP_NET_ADMIN",
	CAP_NET_RAW:            "CAP_NET_RAW",
	CAP_IPC_LOCK:           "CAP_IPC_LOCK",
	CAP_IPC_OWNER:          "CAP_IPC_OWNER",
	CAP_SYS_MODULE:         "CAP_SYS_MODULE",
	CAP_SYS_RAWIO:          "CAP_SYS_RAWIO",
	CAP_SYS_CHROOT:         "CAP_SYS_CHROOT",
	CAP_SYS_PTRACE:         "CAP_SYS_PTRACE",
	CAP_SYS_PACCT:          "CAP_SYS_PACCT",
	CAP_SYS_ADMIN:          "CAP_SYS_ADMIN",
	CAP_SYS_BOOT:           "CAP_SYS_BOOT",
	CAP_SYS_NICE:           "CAP_SYS_NICE",
	CAP_SYS_RESOURCE:       "CAP_SYS_RESOURCE",
	CAP_SYS_TIME:           "CAP_SYS_TIME",
	CAP_SYS_TTY_CONFIG:     "CAP_SYS_TTY_CONFIG",
	CAP_MKNOD:              "CAP_MKNOD",
	CAP_LEASE:              "CAP_LEASE",
	CAP_AUDIT_WRITE:        "CAP_AUDIT_WRITE",
	CAP_AUDIT_CONTROL:      "CAP_AUDIT_CONTROL",
	CAP_SETFCAP:            "CAP_SETFCAP",
	CAP_MAC_OVERRIDE:       "CAP_MAC_OVERRIDE",
	CAP_MAC_ADMIN:          "CAP_MAC_ADMIN",
	CAP_SYSLOG:             "CAP_SYSLOG",
	CAP_WAKE_ALARM:         "CAP_WAKE_ALARM",
	CAP_BLOCK_SUSPEND:      "CAP_BLOCK_SUSPEND",
	CAP_AUDIT_READ:         "CAP_AUDIT_READ",
	CAP_PERFMON:            "CAP_PERFMON",
	CAP_BPF:                "CAP_BPF",
	CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}

// CapabilityFromName returns the capability called name, e.g. "CAP_KILL".
func CapabilityFromName(name string) (int, bool) {
	for cp, n := range capabilityNames {
		if n == name {
			return cp, true
		}
	}
	return 0, false
}
