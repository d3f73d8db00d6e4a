// Package config owns runsc's global configuration: the top-level flags every
// command shares, their defaults, and the rules that make a set of values valid.
// Commands receive a validated *Config and never read the flags themselves.
package config

import (
	"fmt"
	"slices"
	"strings"
)

// Platforms a sandbox can run application code on (see pkg/sentry/platform).
const (
	PlatformPtrace  = "ptrace"
	PlatformSystrap = "systrap"
	PlatformKVM     = "kvm"
)

// Network modes for a sandbox.
const (
	// NetworkSandbox runs the user-space network stack inside the sandbox.
	NetworkSandbox = "sandbox"
	// NetworkHost hands sockets to the host's network stack.
	NetworkHost = "host"
	// NetworkNone gives the sandbox loopback only.
	NetworkNone = "none"
)

// Log formats.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Config is runsc's global configuration, set by the top-level flags.
type Config struct {
	// RootDir is where container state files live.
	RootDir string
	// Debug turns on debug logging.
	Debug bool
	// DebugLog is where debug logs go: a file, or a directory when it ends in "/".
	DebugLog string
	// LogFilename is the file runsc logs to; empty means stderr.
	LogFilename string
	// LogFormat is LogFormatText or LogFormatJSON.
	LogFormat string
	// Platform is one of the Platform* constants.
	Platform string
	// Network is one of the Network* constants.
	Network string
	// Strace logs every system call the application makes.
	Strace bool
	// Rootless runs the sandbox without root on the host.
	Rootless bool
}

// InvalidFlagError reports a flag whose value is not allowed.
type InvalidFlagError struct {
	Flag    string   // without dashes, e.g. "platform"
	Value   string   // the value given
	Allowed []string // the allowed values; empty when the rule is not a list
	Reason  string   // why Value is wrong when Allowed is empty
}

func (e *InvalidFlagError) Error() string {
	if len(e.Allowed) == 0 {
		return fmt.Sprintf("invalid --%s %q: %s", e.Flag, e.Value, e.Reason)
	}
	return fmt.Sprintf("invalid --%s %q: want one of %s", e.Flag, e.Value, strings.Join(e.Allowed, ", "))
}

// OneOf fails with an *InvalidFlagError unless value, given to --flag, is one of
// allowed. Commands use it for their own flags so that every bad value reads alike.
func OneOf(flag, value string, allowed ...string) error {
	if slices.Contains(allowed, value) {
		return nil
	}
	return &InvalidFlagError{Flag: flag, Value: value, Allowed: allowed}
}

// Validate reports the first value in c that runsc cannot use.
func (c *Config) Validate() error {
	if c.RootDir == "" {
		return &InvalidFlagError{Flag: "root", Value: c.RootDir, Reason: "must not be empty"}
	}
	if err := OneOf("log-format", c.LogFormat, LogFormatText, LogFormatJSON); err != nil {
		return err
	}
	if err := OneOf("platform", c.Platform, PlatformPtrace, PlatformSystrap, PlatformKVM); err != nil {
		return err
	}
	return OneOf("network", c.Network, NetworkSandbox, NetworkHost, NetworkNone)
}
