package vfs

import (
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/waiter"
)

// Context is the task an operation runs for, as the VFS and filesystems see it. The
// kernel's Task implements it.
type Context interface {
	// Blocker lets operations that must wait (opening a FIFO) sleep, interruptibly.
	waiter.Blocker
	// Credentials returns the task's current credentials, which operations on
	// open files (fchmod, pipe resizing, clearing set-user-ID bits on write)
	// check against.
	Credentials() *auth.Credentials
}

// NewContext returns a Context with the given credentials that blocks with b: for the
// kernel's own work (populating /dev) and for tests.
func NewContext(creds *auth.Credentials, b waiter.Blocker) Context {
	return &simpleContext{Blocker: b, creds: creds}
}

type simpleContext struct {
	waiter.Blocker
	creds *auth.Credentials
}

func (c *simpleContext) Credentials() *auth.Credentials { return c.creds }
