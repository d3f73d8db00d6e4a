// Package e2e drives the runsc binary end to end: it builds runsc once, writes
// OCI bundles and runs them with `runsc run`, checking what a user sees — output,
// exit statuses, error messages — and that nothing is left behind.
//
// The tests that need the Sentry to run a program live in sentry_test.go behind
// the build tag e2e_sentry, so that `go test ./...` stays green until it can:
//
//	go test -tags e2e_sentry ./test/e2e/...
//
// Once the Sentry runs programs the tag goes, and those tests run always. The
// tests in e2e_test.go, about bad input, need no Sentry and always run.
package e2e
