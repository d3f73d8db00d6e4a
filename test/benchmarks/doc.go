// Package benchmarks measures Visor side by side with native execution (and runc,
// when it is installed) in one run: system call round trips, open/close, fork+exec,
// mmap, pipe ping-pong and whole-process start-up.
//
// The micro-benchmarks are small static C programs (c/*.c, embedded and built with
// gcc -static into a temporary directory) that time a loop of N iterations
// themselves and print ns/op; each sub-benchmark runs one of them once per
// testing.B round with N = b.N, so sandbox start-up is not part of the figure:
//
//	go test ./test/benchmarks -bench . -run '^$'
//	go test ./test/benchmarks -bench Getpid -run '^$' -args -runtimes=native,runsc
//
// Plain `go test ./...` runs only TestPrograms, a quick check that every program
// builds and runs natively once. test/benchmarks/run.sh runs everything once with
// fixed loop counts and prints a table; README.md has the figures.
package benchmarks
