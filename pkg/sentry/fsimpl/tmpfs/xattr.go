package tmpfs

import (
	"sort"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Extended attributes in the user.* and trusted.* namespaces.

func (i *inode) listXattr(creds *auth.Credentials, size uint64) ([]string, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	var names []string
	total := uint64(0)
	for name := range i.xattrs {
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
	i.mu.Lock()
	defer i.mu.Unlock()
	value, ok := i.xattrs[opts.Name]
	if !ok {
		return "", linux.ENODATA
	}
	if opts.Size != 0 && uint64(len(value)) > opts.Size {
		return "", linux.ERANGE
	}
	return value, nil
}

func (i *inode) setXattr(creds *auth.Credentials, mnt *vfs.Mount, opts *vfs.SetXattrOptions) error {
	if err := mnt.CheckWritable(); err != nil {
		return err
	}
	if err := vfs.CheckXattrPermissions(creds, auth.MayWrite, i.getMode(), i.getKUID(), i.getKGID(), opts.Name); err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	_, exists := i.xattrs[opts.Name]
	if exists && opts.Flags&linux.XATTR_CREATE != 0 {
		return linux.EEXIST
	}
	if !exists && opts.Flags&linux.XATTR_REPLACE != 0 {
		return linux.ENODATA
	}
	if i.xattrs == nil {
		i.xattrs = make(map[string]string)
	}
	i.xattrs[opts.Name] = opts.Value
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
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, ok := i.xattrs[name]; !ok {
		return linux.ENODATA
	}
	delete(i.xattrs, name)
	i.touchCtime()
	return nil
}
