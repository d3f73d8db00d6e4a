package config

import "flag"

// RegisterFlags defines the global flags on fs with their defaults, storing the
// values in c as fs is parsed. Call Validate after parsing.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.RootDir, "root", "/var/run/runsc", "root directory for storage of container state.")
	fs.BoolVar(&c.Debug, "debug", false, "enable debug logging.")
	fs.StringVar(&c.DebugLog, "debug-log", "", "additional location for logs. If it ends with '/', it is a directory; log files are created in it.")
	fs.StringVar(&c.LogFilename, "log", "", "file path where internal debug information is written; default is stderr.")
	fs.StringVar(&c.LogFormat, "log-format", LogFormatText, "log format: text or json.")
	fs.StringVar(&c.Platform, "platform", PlatformPtrace, "platform to run application code on: ptrace (systrap and kvm are not implemented yet).")
	fs.StringVar(&c.Network, "network", NetworkSandbox, "network mode: sandbox (user-space network stack), host (host network stack) or none (loopback only).")
	fs.BoolVar(&c.Strace, "strace", false, "enable strace-style logging of the application's system calls.")
	fs.BoolVar(&c.Rootless, "rootless", false, "allow the sandbox to be started with a non-root user.")
}
