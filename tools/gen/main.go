// Command gen reads syscalls.yaml and writes what is derived from it: the Sentry's
// amd64 dispatch table with a stub for every unimplemented call, the system call
// metadata runsc shows, and the support page in docs/. With -check it writes nothing
// and exits 1 naming each file that is out of date.
//
// It runs as `go generate ./...`, `bazel run //tools/gen` or `go run ./tools/gen`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"visor.dev/visor/tools/gen/spec"
)

// output is one generated file.
type output struct {
	path string // relative to the repository root
	gen  func(*spec.Table) ([]byte, error)
}

var outputs = []output{
	{path: "pkg/sentry/syscalls/linux/linux64.go", gen: genDispatch},
	{path: "pkg/syscallinfo/amd64.go", gen: genInfo},
	{path: "docs/compatibility/amd64.md", gen: genDocs},
}

func main() {
	check := flag.Bool("check", false, "write nothing; exit 1 naming each generated file that is out of date")
	root := flag.String("root", "", "repository root (default: $BUILD_WORKSPACE_DIRECTORY under `bazel run`, else the nearest directory above that holds syscalls.yaml)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "gen: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	stale, err := run(*root, *check)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
	if len(stale) > 0 {
		for _, p := range stale {
			fmt.Fprintf(os.Stderr, "gen: %s is out of date with syscalls.yaml; run `go generate ./...`\n", p)
		}
		os.Exit(1)
	}
}

// run generates every output under root. With check, it writes nothing and returns the
// outputs whose files differ from what it would write.
func run(root string, check bool) (stale []string, err error) {
	if root == "" {
		root = os.Getenv("BUILD_WORKSPACE_DIRECTORY")
	}
	if root == "" {
		if root, err = spec.FindRoot("."); err != nil {
			return nil, err
		}
	}
	handlers, err := spec.Handlers(filepath.Join(root, spec.HandlerDir))
	if err != nil {
		return nil, err
	}
	t, err := spec.Load(filepath.Join(root, spec.File), handlers)
	if err != nil {
		return nil, err
	}
	for _, o := range outputs {
		want, err := o.gen(t)
		if err != nil {
			return nil, fmt.Errorf("generating %s: %w", o.path, err)
		}
		path := filepath.Join(root, o.path)
		if check {
			if have, err := os.ReadFile(path); err != nil || !bytes.Equal(have, want) {
				stale = append(stale, o.path)
			}
			continue
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			return nil, err
		}
	}
	return stale, nil
}
