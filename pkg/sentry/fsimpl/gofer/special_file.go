package gofer

import (
	"visor.dev/visor/pkg/sentry/kernel/pipe"
	"visor.dev/visor/pkg/sentry/vfs"
)

// getPipe returns the Sentry pipe behind the FIFO i, making it on first use. Every
// open of the FIFO, through any of its links, meets at this one pipe, which gives
// the reader/writer rendezvous of Linux; data never reaches the host FIFO.
func (i *inode) getPipe() *pipe.Pipe {
	i.metaMu.Lock()
	defer i.metaMu.Unlock()
	if i.pipe == nil {
		i.pipe = pipe.NewPipe(true, pipe.DefaultPipeSize)
	}
	return i.pipe
}

// BoundEndpoint returns what the unix socket file d names is bound to, or nil if d
// is not a socket file of this filesystem or was not made by bind(2) in this
// Sentry. The socket layer calls it for connect(2).
func BoundEndpoint(d *vfs.Dentry) any {
	gd, ok := d.Impl().(*dentry)
	if !ok {
		return nil
	}
	gd.inode.metaMu.Lock()
	defer gd.inode.metaMu.Unlock()
	return gd.inode.endpoint
}
