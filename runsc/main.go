// Binary runsc is Visor's OCI runtime, a drop-in for runc: it creates and runs
// containers, each on its own user-space kernel. The command line lives in
// runsc/cli; this file only hands it the process's arguments and streams.
package main

import (
	"os"

	"visor.dev/visor/runsc/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
