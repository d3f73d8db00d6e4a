package cmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/google/subcommands"
	"visor.dev/visor/pkg/syscallinfo"
	"visor.dev/visor/runsc/config"
)

// Syscalls is the `runsc help syscalls` topic: the system calls Visor knows and how
// far it supports each.
type Syscalls struct {
	Stdout io.Writer
	Stderr io.Writer
	// Table is the system call table to describe.
	Table syscallinfo.Table

	status string
	format string
}

// Name implements subcommands.Command.Name.
func (*Syscalls) Name() string { return "syscalls" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Syscalls) Synopsis() string {
	return "list the amd64 system calls and how far Visor supports each"
}

// Usage implements subcommands.Command.Usage.
func (*Syscalls) Usage() string {
	return `help syscalls [--status=supported|partial|unimplemented] [--format=table|json]:
	Lists every amd64 system call with its number, its support status in Visor,
	and a note on what is missing, then how many have each status.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (s *Syscalls) SetFlags(f *flag.FlagSet) {
	f.StringVar(&s.status, "status", "", "list only system calls with this status: supported, partial or unimplemented.")
	f.StringVar(&s.format, "format", formatTable, "output format: table or json.")
}

// Execute implements subcommands.Command.Execute.
func (s *Syscalls) Execute(_ context.Context, f *flag.FlagSet, _ ...any) subcommands.ExitStatus {
	const name = "help syscalls"
	if f.NArg() != 0 {
		return usageError(s.Stderr, name, fmt.Errorf("unexpected arguments %q", f.Args()))
	}
	if err := config.OneOf("format", s.format, formatTable, formatJSON); err != nil {
		return usageError(s.Stderr, name, err)
	}
	rows := s.Table
	if s.status != "" {
		want, err := syscallinfo.ParseStatus(s.status)
		if err != nil {
			// ParseStatus does not know the flag; say it the way every bad flag is said.
			return usageError(s.Stderr, name, &config.InvalidFlagError{Flag: "status", Value: s.status,
				Allowed: []string{syscallinfo.Supported.String(), syscallinfo.Partial.String(), syscallinfo.Unimplemented.String()}})
		}
		rows = nil
		for _, sc := range s.Table {
			if sc.Status == want {
				rows = append(rows, sc)
			}
		}
	}

	write := writeSyscallsTable
	if s.format == formatJSON {
		write = writeSyscallsJSON
	}
	if err := write(s.Stdout, rows); err != nil {
		fmt.Fprintf(s.Stderr, "runsc %s: %v\n", name, err)
		return subcommands.ExitFailure
	}
	return subcommands.ExitSuccess
}

// writeSyscallsTable writes rows as aligned columns, then a count per status.
func writeSyscallsTable(w io.Writer, rows syscallinfo.Table) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NR\tNAME\tSTATUS\tNOTE")
	for _, sc := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", sc.Nr, sc.Name, sc.Status, sc.Note)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	counts := rows.Count()
	_, err := fmt.Fprintf(w, "\n%s: %d\n%s: %d\n%s: %d\ntotal: %d\n",
		syscallinfo.Supported, counts[syscallinfo.Supported],
		syscallinfo.Partial, counts[syscallinfo.Partial],
		syscallinfo.Unimplemented, counts[syscallinfo.Unimplemented],
		len(rows))
	if err != nil {
		return fmt.Errorf("writing counts: %w", err)
	}
	return nil
}

// syscallJSON is one system call in `runsc help syscalls --format=json`.
type syscallJSON struct {
	Nr     uintptr `json:"nr"`
	Name   string  `json:"name"`
	Status string  `json:"status"`
	Note   string  `json:"note"`
}

// writeSyscallsJSON writes rows as an indented JSON array.
func writeSyscallsJSON(w io.Writer, rows syscallinfo.Table) error {
	out := make([]syscallJSON, 0, len(rows)) // [] rather than null when none match
	for _, sc := range rows {
		out = append(out, syscallJSON{Nr: sc.Nr, Name: sc.Name, Status: sc.Status.String(), Note: sc.Note})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}
