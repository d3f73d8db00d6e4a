package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// Uname implements uname(2). The release is Visor's own, so programs (and people)
// can tell they run in the sandbox.
func Uname(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	hostname, domainname := t.Kernel().UTSNames()
	var u linux.UtsName
	copy(u.Sysname[:linux.UTSLen-1], "Linux")
	copy(u.Nodename[:linux.UTSLen-1], hostname)
	copy(u.Release[:linux.UTSLen-1], kernel.Release)
	copy(u.Version[:linux.UTSLen-1], kernel.Version)
	copy(u.Machine[:linux.UTSLen-1], "x86_64")
	copy(u.Domainname[:linux.UTSLen-1], domainname)
	return 0, t.CopyOutStruct(args[0].Pointer(), &u)
}

// setUTSName reads a name for sethostname or setdomainname.
func setUTSName(t *kernel.Task, args arch.SyscallArguments) (string, error) {
	if !t.Credentials().HasCapability(linux.CAP_SYS_ADMIN) {
		return "", linux.EPERM
	}
	size := args[1].Int()
	if size < 0 || size > linux.UTSLen-1 {
		return "", linux.EINVAL
	}
	buf := make([]byte, size)
	if _, err := t.CopyInBytes(args[0].Pointer(), buf); err != nil {
		return "", err
	}
	for i, b := range buf {
		if b == 0 {
			buf = buf[:i]
			break
		}
	}
	return string(buf), nil
}

// Sethostname implements sethostname(2); the name is the sandbox's, never the host's.
func Sethostname(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	name, err := setUTSName(t, args)
	if err != nil {
		return 0, err
	}
	t.Kernel().SetHostname(name)
	return 0, nil
}

// Setdomainname implements setdomainname(2).
func Setdomainname(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	name, err := setUTSName(t, args)
	if err != nil {
		return 0, err
	}
	t.Kernel().SetDomainname(name)
	return 0, nil
}
