package vfs

import "visor.dev/visor/pkg/abi/linux"

// DeviceKind is the kind of a device node.
type DeviceKind uint32

// Device kinds.
const (
	CharDevice DeviceKind = iota
	BlockDevice
)

// Device is a device that device nodes of its number open.
type Device interface {
	// Open returns a new file of the device, opened through the node d in mnt.
	Open(ctx Context, mnt *Mount, d *Dentry, opts OpenOptions) (*FileDescription, error)
}

// RegisterDeviceOptions are options of RegisterDevice.
type RegisterDeviceOptions struct {
	// Pathname, if set, is where the device's node lives under /dev
	// ("null", "net/tun"): devfs makes a node there.
	Pathname string
	// FilePerms are the permissions of that node.
	FilePerms uint16
}

type deviceKey struct {
	kind         DeviceKind
	major, minor uint32
}

type registeredDevice struct {
	dev  Device
	opts RegisterDeviceOptions
}

// RegisterDevice registers dev as the device of the given number. It fails with
// EEXIST if the number is taken.
func (vfs *VirtualFilesystem) RegisterDevice(kind DeviceKind, major, minor uint32, dev Device, opts *RegisterDeviceOptions) error {
	key := deviceKey{kind: kind, major: major, minor: minor}
	vfs.devicesMu.Lock()
	defer vfs.devicesMu.Unlock()
	if _, ok := vfs.devices[key]; ok {
		return linux.EEXIST
	}
	vfs.devices[key] = &registeredDevice{dev: dev, opts: *opts}
	return nil
}

// OpenDeviceSpecialFile opens the device of the given number through the node d in
// mnt, failing with ENXIO if no device has that number.
func (vfs *VirtualFilesystem) OpenDeviceSpecialFile(ctx Context, mnt *Mount, d *Dentry, kind DeviceKind, major, minor uint32, opts OpenOptions) (*FileDescription, error) {
	vfs.devicesMu.RLock()
	rd := vfs.devices[deviceKey{kind: kind, major: major, minor: minor}]
	vfs.devicesMu.RUnlock()
	if rd == nil {
		return nil, linux.ENXIO
	}
	return rd.dev.Open(ctx, mnt, d, opts)
}

// DeviceNode describes the node of a registered device.
type DeviceNode struct {
	Kind         DeviceKind
	Major, Minor uint32
	Pathname     string
	FilePerms    uint16
}

// DeviceNodes returns the registered devices that have a Pathname.
func (vfs *VirtualFilesystem) DeviceNodes() []DeviceNode {
	vfs.devicesMu.RLock()
	defer vfs.devicesMu.RUnlock()
	var nodes []DeviceNode
	for key, rd := range vfs.devices {
		if rd.opts.Pathname != "" {
			nodes = append(nodes, DeviceNode{Kind: key.kind, Major: key.major, Minor: key.minor, Pathname: rd.opts.Pathname, FilePerms: rd.opts.FilePerms})
		}
	}
	return nodes
}
