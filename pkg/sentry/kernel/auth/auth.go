// Package auth holds the identity a task acts with: its credentials (user and group
// IDs, supplementary groups, capability sets, user namespace) and the Linux rules for
// checking them against a file's owner and mode.
//
// Credentials are immutable once shared: a task that changes its identity builds a
// new Credentials with Fork and publishes it, so any holder of a *Credentials can
// read it without locking.
package auth
