package linux

// UTSLen is the size of each field of struct new_utsname, NUL included.
const UTSLen = 65

// UtsName is struct new_utsname, what uname(2) fills in.
type UtsName struct {
	Sysname    [UTSLen]byte
	Nodename   [UTSLen]byte
	Release    [UTSLen]byte
	Version    [UTSLen]byte
	Machine    [UTSLen]byte
	Domainname [UTSLen]byte
}
