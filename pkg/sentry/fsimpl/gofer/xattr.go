package gofer

import (
	"sort"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Extended attributes are checked here, with the Sentry's credentials, and kept by
// the Gofer, which serves the user.* namespace only (anything else fails with
// EOPNOTSUPP there).

func (i *inode) listXattr(creds *auth.Credentials, size uint64) ([]string, error) {
	all, err := i.fs.client.ListXattr(i.controlFD)
	if err == linux.EOPNOTSUPP {
		// The Gofer keeps none on files other than regular files and
		// directories, where Linux would list an empty set.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	total := uint64(0)
	for _, name := range all {
		if vfs.XattrVisible(creds, name) {
			names = append(names, name)
			total += uint64(len(name)) + 1
		}
	}
	if size != 0 && total > size {
		return nil, linux.ERANGE
	}
	sort.Strings(names)
	return names, nil
}

func (i *inode) getXattr(creds *auth.Credentials, opts *vfs.GetXattrOptions) (string, error) {
	if err := vfs.CheckXattrPermissions(creds, auth.MayRead, i.getMode(), i.getKUID(), i.getKGID(), opts.Name); err != nil {
		return "", err
	}
	value, err := i.fs.client.GetXattr(i.controlFD, opts.Name)
	if err != nil {
		return "", err
	}
	if opts.Size != 0 && uint64(len(value)) > opts.Size {
		return "", linux.ERANGE
	}
	return string(value), nil
}

func (i *inode) setXattr(creds *auth.Credentials, mnt *vfs.Mount, opts *vfs.SetXattrOptions) error {
	if err := mnt.CheckWritable(); err != nil {
		return err
	}
	if err := vfs.CheckXattrPermissions(creds, auth.MayWrite, i.getMode(), i.getKUID(), i.getKGID(), opts.Name); err != nil {
		return err
	}
	i.metaMu.Lock()
	defer i.metaMu.Unlock()
	if err := i.fs.client.SetXattr(i.controlFD, opts.Name, []byte(opts.Value), opts.Flags); err != nil {
		return err
	}
	i.touchCtime()
	return nil
}

func (i *inode) removeXattr(creds *auth.Credentials, mnt *vfs.Mount, name string) error {
	if err := mnt.CheckWritable(); err != nil {
		return err
	}
	if err := vfs.CheckXattrPermissions(creds, auth.MayWrite, i.getMode(), i.getKUID(), i.getKGID(), name); err != nil {
		return err
	}
	i.metaMu.Lock()
	defer i.metaMu.Unlock()
	if err := i.fs.client.RemoveXattr(i.controlFD, name); err != nil {
		return err
	}
	i.touchCtime()
	return nil
}
