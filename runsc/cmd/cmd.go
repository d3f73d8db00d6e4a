// Package cmd owns runsc's commands, one file each. A command is a
// subcommands.Command; runsc/cli registers it and calls its Execute with the
// validated *config.Config as the first extra argument.
package cmd

import (
	"fmt"
	"io"

	"github.com/google/subcommands"
)

// usageError reports a bad command line the way runsc reports bad global flags, in
// one line naming the command, and returns the exit status for usage errors.
func usageError(w io.Writer, cmd string, err error) subcommands.ExitStatus {
	fmt.Fprintf(w, "runsc %s: %v\n", cmd, err)
	return subcommands.ExitUsageError
}

// The output formats of commands that have a --format flag.
const (
	formatTable = "table"
	formatJSON  = "json"
)
