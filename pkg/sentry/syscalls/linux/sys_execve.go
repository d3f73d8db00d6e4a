package linux

import (
	"errors"
	"path"
	"strings"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// execve runs filename with the argv and envp at the given addresses.
func execve(t *kernel.Task, filename string, argvAddr, envpAddr uintptr) (uintptr, error) {
	argv, err := t.CopyInStringVector(argvAddr)
	if err != nil {
		return 0, err
	}
	envv, err := t.CopyInStringVector(envpAddr)
	if err != nil {
		return 0, err
	}
	if err := t.Exec(filename, argv, envv); err != nil {
		if errors.Is(err, kernel.ErrInterrupted) {
			// A fatal signal arrived; the task dies on its way out.
			return 0, linux.EINTR
		}
		return 0, err
	}
	// The registers are the new program's; the return value is not seen.
	return 0, nil
}

// Execve implements execve(2).
func Execve(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	filename, err := copyInPath(t, args[0].Pointer())
	if err != nil {
		return 0, err
	}
	if filename == "" {
		return 0, linux.ENOENT
	}
	return execve(t, filename, args[1].Pointer(), args[2].Pointer())
}

// Execveat implements execveat(2). The kernel opens executables by path, so a
// path relative to dirfd, and AT_EMPTY_PATH (fexecve), run the file at the path
// dirfd's file has now: a file that was deleted or moved since it was opened, or
// that lies outside the caller's root, cannot be run.
func Execveat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	dirfd, flags := args[0].Int(), args[4].Uint()
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	p, err := copyInPath(t, args[1].Pointer())
	if err != nil {
		return 0, err
	}
	if p == "" && flags&linux.AT_EMPTY_PATH == 0 {
		return 0, linux.ENOENT
	}
	if flags&linux.AT_SYMLINK_NOFOLLOW != 0 {
		st, err := statPath(t, dirfd, p, flags, linux.STATX_TYPE)
		if err != nil {
			return 0, err
		}
		if st.Mode&linux.S_IFMT == linux.S_IFLNK {
			return 0, linux.ELOOP
		}
	}
	filename := p
	if !strings.HasPrefix(p, "/") && dirfd != linux.AT_FDCWD {
		dir, err := fdPathname(t, dirfd)
		if err != nil {
			return 0, err
		}
		if p == "" {
			filename = dir
		} else {
			filename = path.Join(dir, p)
			if strings.HasSuffix(p, "/") {
				filename += "/"
			}
		}
	}
	return execve(t, filename, args[2].Pointer(), args[3].Pointer())
}

// fdPathname returns the path of fd's file as seen from t's root.
func fdPathname(t *kernel.Task, fd int32) (string, error) {
	f, err := getFD(t, fd)
	if err != nil {
		return "", err
	}
	defer f.DecRef()
	root := t.FSContext().RootDirectory()
	defer root.DecRef()
	vd := f.VirtualDentry()
	if vd.Dentry().IsDead() {
		return "", linux.ENOENT
	}
	name, err := vfsOf(t).PathnameForGetcwd(t, root, vd)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(name, "/") {
		// Unreachable from the root, or a file without a path (a pipe).
		return "", linux.ENOENT
	}
	return name, nil
}
