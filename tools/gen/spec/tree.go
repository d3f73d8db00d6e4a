package spec

import (
	"errors"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
)

// File is the name of the table at the root of the repository.
const File = "syscalls.yaml"

// HandlerDir is where system call handlers live, relative to the repository root.
const HandlerDir = "pkg/sentry/syscalls/linux"

// ErrNoRoot is returned by FindRoot when no directory holds syscalls.yaml.
var ErrNoRoot = errors.New(File + " not found in this directory or any above it")

// FindRoot returns the repository root: the nearest directory at or above dir that
// holds syscalls.yaml.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, File)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoRoot
		}
		dir = parent
	}
}

// Handlers returns the names of the exported functions declared in the hand-written
// Go files of dir (generated files and tests don't count: a handler must be written
// by hand).
func Handlers(dir string) (map[string]bool, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	handlers := make(map[string]bool)
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, name, nil, goparser.ParseComments|goparser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("reading handlers: %w", err)
		}
		if ast.IsGenerated(f) {
			continue
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.IsExported() {
				handlers[fn.Name.Name] = true
			}
		}
	}
	return handlers, nil
}
