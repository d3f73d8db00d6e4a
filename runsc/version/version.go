// Package version owns runsc's version strings: the release it was built from and
// the OCI runtime-spec version it implements.
package version

// version is the release runsc was built from. Release builds set it with
//
//	go build -ldflags "-X visor.dev/visor/runsc/version.version=1.2.3" ./runsc
//
// which is why it is a variable and not a constant.
var version = "0.0.0-dev"

// Spec is the OCI runtime-spec version runsc implements.
const Spec = "1.1.0"

// Version returns the release runsc was built from.
func Version() string { return version }
