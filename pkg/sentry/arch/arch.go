// Package arch owns what the Sentry knows about one CPU architecture's user-visible
// state: system call arguments and, as the Sentry grows, registers, signal frames and
// the auxiliary vector. Only amd64 is supported.
package arch
