package compat

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/syscallinfo"
)

// StatusUnknown is the status of a system call the table does not list: a number
// that is not an amd64 system call, or a call through the x32 or i386 ABI.
const StatusUnknown = "unknown"

// Entry is one system call the command made.
type Entry struct {
	Nr     uint64 `json:"nr"`
	Name   string `json:"name"`   // empty when the status is StatusUnknown
	Status string `json:"status"` // a syscallinfo.Status as a string, or StatusUnknown
	Note   string `json:"note"`
	Count  uint64 `json:"count"` // how many times it was entered
}

// Totals sums up a report. Each status counts distinct system calls; Calls counts
// every time one was entered.
type Totals struct {
	Syscalls      int    `json:"syscalls"`
	Calls         uint64 `json:"calls"`
	Supported     int    `json:"supported"`
	Partial       int    `json:"partial"`
	Unimplemented int    `json:"unimplemented"`
	Unknown       int    `json:"unknown"`
}

// Report says, for every system call a command made, how far Visor supports it.
type Report struct {
	// Syscalls are grouped supported, partial, then unsupported (unimplemented or
	// unknown), the most used first within each group.
	Syscalls []Entry `json:"syscalls"`
	Totals   Totals  `json:"totals"`
	// ExitStatus is how the command ended, as a shell reports it: its exit code, or
	// 128 plus the signal that killed it.
	ExitStatus int `json:"exit_status"`
}

// group orders the report's sections.
func group(status string) int {
	switch status {
	case syscallinfo.Supported.String():
		return 0
	case syscallinfo.Partial.String():
		return 1
	}
	return 2
}

// NewReport looks up every system call of res in table.
func NewReport(res *Result, table syscallinfo.Table) *Report {
	r := &Report{ExitStatus: exitStatus(res.Status)}
	for sysno, count := range res.Counts {
		e := entry(sysno, table)
		e.Count = count
		r.Syscalls = append(r.Syscalls, e)

		r.Totals.Syscalls++
		r.Totals.Calls += count
		switch e.Status {
		case syscallinfo.Supported.String():
			r.Totals.Supported++
		case syscallinfo.Partial.String():
			r.Totals.Partial++
		case syscallinfo.Unimplemented.String():
			r.Totals.Unimplemented++
		default:
			r.Totals.Unknown++
		}
	}
	slices.SortFunc(r.Syscalls, func(a, b Entry) int {
		return cmp.Or(
			cmp.Compare(group(a.Status), group(b.Status)),
			cmp.Compare(b.Count, a.Count),
			cmp.Compare(a.Nr, b.Nr),
			cmp.Compare(a.Status, b.Status), // the same number through two ABIs
		)
	})
	return r
}

// entry describes sysno without its count.
func entry(sysno Sysno, table syscallinfo.Table) Entry {
	e := Entry{Nr: sysno.Nr, Status: StatusUnknown}
	switch sysno.ABI {
	case X32:
		e.Note = fmt.Sprintf("x32 system call %d; Visor implements only the amd64 ABI", sysno.Nr&^x32SyscallBit)
		return e
	case I386:
		e.Note = fmt.Sprintf("i386 system call %d; Visor implements only the amd64 ABI", sysno.Nr)
		return e
	}
	s, ok := table.Lookup(uintptr(sysno.Nr))
	if !ok {
		e.Note = "not an amd64 system call number; Linux fails it with ENOSYS"
		return e
	}
	e.Name = s.Name
	e.Status = s.Status.String()
	e.Note = s.Note
	return e
}

// exitStatus turns a wait status into a shell-style exit status.
func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// AllSupported reports whether Visor fully supports every system call made.
func (r *Report) AllSupported() bool {
	return r.Totals.Supported == r.Totals.Syscalls
}

// WriteJSON writes r as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing JSON report: %w", err)
	}
	return nil
}

// WriteTable writes r as a section per group with aligned columns, then the totals.
func (r *Report) WriteTable(w io.Writer) error {
	sections := [3][]Entry{}
	for _, e := range r.Syscalls {
		sections[group(e.Status)] = append(sections[group(e.Status)], e)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for i, title := range []string{"SUPPORTED", "PARTIAL", "UNSUPPORTED"} {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		entries := sections[i]
		if len(entries) == 0 {
			fmt.Fprintf(tw, "%s: none\n", title)
			continue
		}
		fmt.Fprintf(tw, "%s:\n", title)
		// Supported calls have nothing to explain, so their section has no notes.
		if i == 0 {
			fmt.Fprintln(tw, "  NR\tNAME\tCOUNT")
		} else {
			fmt.Fprintln(tw, "  NR\tNAME\tCOUNT\tSTATUS\tNOTE")
		}
		for _, e := range entries {
			name := e.Name
			if name == "" {
				name = "?"
			}
			if i == 0 {
				fmt.Fprintf(tw, "  %d\t%s\t%d\n", e.Nr, name, e.Count)
			} else {
				fmt.Fprintf(tw, "  %d\t%s\t%d\t%s\t%s\n", e.Nr, name, e.Count, e.Status, e.Note)
			}
		}
	}
	t := r.Totals
	fmt.Fprintf(tw, "\n%d system calls, %d calls: %d supported, %d partial, %d unimplemented, %d unknown\n",
		t.Syscalls, t.Calls, t.Supported, t.Partial, t.Unimplemented, t.Unknown)
	fmt.Fprintf(tw, "command exit status: %d\n", r.ExitStatus)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}
