// Package linux holds the Linux ABI as user space sees it: constants and types from
// the uapi headers, one file per header, with no behaviour of Visor's own. The Sentry
// and runsc both use it; nothing here calls into the host.
package linux
