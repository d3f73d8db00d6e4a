package lisafs

import (
	"visor.dev/visor/pkg/abi/linux"
)

// handlerFunc answers one request payload: a response and a host FD to donate with it
// (or -1), or an error. Errors wrapping errMalformed end the connection; others go
// back to the client as errnos.
type handlerFunc func(c *connection, payload []byte) (message, int, error)

var handlers [numMsgs]handlerFunc

func init() {
	handlers = [numMsgs]handlerFunc{
		MsgMount:       handle(mount),
		MsgChannel:     handle(channel),
		MsgWalk:        handle(walk),
		MsgStat:        handle(stat),
		MsgOpen:        handle(open),
		MsgOpenCreate:  handle(openCreate),
		MsgMkdir:       handle(mkdir),
		MsgMknod:       handle(mknod),
		MsgSymlink:     handle(symlink),
		MsgLink:        handle(link),
		MsgUnlinkAt:    handle(unlinkAt),
		MsgRenameAt:    handle(renameAt),
		MsgReadlink:    handle(readlink),
		MsgGetdents64:  handle(getdents64),
		MsgSetStat:     handle(setStat),
		MsgStatFS:      handle(statFS),
		MsgGetXattr:    handle(getXattr),
		MsgSetXattr:    handle(setXattr),
		MsgListXattr:   handle(listXattr),
		MsgRemoveXattr: handle(removeXattr),
		MsgClose:       handle(closeFDs),
		MsgFSync:       handle(fsync),
	}
}

// handle decodes a request of type *Req and passes it to f.
func handle[Req any, PReq interface {
	*Req
	message
}](f func(*connection, PReq) (message, int, error)) handlerFunc {
	return func(c *connection, payload []byte) (message, int, error) {
		req := PReq(new(Req))
		if err := decode(payload, req); err != nil {
			return nil, -1, err
		}
		return f(c, req)
	}
}

// ok is a response without a donated FD.
func ok(m message, err error) (message, int, error) {
	if err != nil {
		return nil, -1, err
	}
	return m, -1, nil
}

// withControl runs f on id's control file.
func withControl(c *connection, id FDID, f func(ControlFD) (message, error)) (message, int, error) {
	e, err := c.lookupControl(id)
	if err != nil {
		return nil, -1, err
	}
	defer c.release(e)
	return ok(f(e.control))
}

// newInode installs a control file a request made and wraps it for the response.
func newInode(c *connection, fd ControlFD, stat linux.Statx, err error) (message, error) {
	if err != nil {
		return nil, err
	}
	return &inodeMsg{Inode: Inode{FD: c.installControl(fd), Stat: stat}}, nil
}

func mount(c *connection, _ *emptyMsg) (message, int, error) {
	fd, stat, err := c.server.backend.Mount()
	return ok(newInode(c, fd, stat, err))
}

func channel(c *connection, _ *emptyMsg) (message, int, error) {
	ours, theirs, err := SocketPair()
	if err != nil {
		return nil, -1, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err != nil:
		err = linux.ECONNRESET
	case len(c.channels) >= MaxChannels:
		err = linux.EMFILE
	}
	if err != nil {
		closeAll([]int{ours, theirs})
		return nil, -1, err
	}
	c.startChannelLocked(ours)
	return &emptyMsg{}, theirs, nil
}

func walk(c *connection, req *walkReq) (message, int, error) {
	e, err := c.lookupControl(req.Dir)
	if err != nil {
		return nil, -1, err
	}
	defer c.release(e)
	resp := &walkResp{Status: WalkSuccess, Inodes: make([]Inode, 0, len(req.Names))}
	var walked []ControlFD
	dir := e.control
	for i, name := range req.Names {
		if err = CheckName(name); err != nil {
			break
		}
		var child ControlFD
		var stat linux.Statx
		child, stat, err = dir.Walk(name)
		if err != nil && toErrno(err) == linux.ENOENT {
			resp.Status, err = WalkComponentMissing, nil
			break
		}
		if err != nil {
			break
		}
		walked = append(walked, child)
		resp.Inodes = append(resp.Inodes, Inode{Stat: stat})
		if stat.Mode&linux.S_IFMT == linux.S_IFLNK && i < len(req.Names)-1 {
			resp.Status = WalkComponentSymlink
			break
		}
		dir = child
	}
	if err != nil {
		// All or nothing: a failed Walk leaves no FD IDs behind.
		for _, fd := range walked {
			fd.Close()
		}
		return nil, -1, err
	}
	for i, fd := range walked {
		resp.Inodes[i].FD = c.installControl(fd)
	}
	return resp, -1, nil
}

func stat(c *connection, req *fdMsg) (message, int, error) {
	return withControl(c, req.FD, func(fd ControlFD) (message, error) {
		st, err := fd.Stat()
		return &statMsg{Stat: st}, err
	})
}

func open(c *connection, req *openReq) (message, int, error) {
	e, err := c.lookupControl(req.FD)
	if err != nil {
		return nil, -1, err
	}
	defer c.release(e)
	ofd, donate, err := e.control.Open(req.Flags)
	if err != nil {
		return nil, -1, err
	}
	return &openResp{OpenFD: c.installOpen(ofd), HasFD: donate >= 0}, donate, nil
}

func openCreate(c *connection, req *openCreateReq) (message, int, error) {
	if err := CheckName(req.Name); err != nil {
		return nil, -1, err
	}
	e, err := c.lookupControl(req.Dir)
	if err != nil {
		return nil, -1, err
	}
	defer c.release(e)
	child, st, ofd, donate, err := e.control.OpenCreate(req.Name, req.Mode, req.UID, req.GID, req.Flags)
	if err != nil {
		return nil, -1, err
	}
	return &openCreateResp{
		Child:    Inode{FD: c.installControl(child), Stat: st},
		openResp: openResp{OpenFD: c.installOpen(ofd), HasFD: donate >= 0},
	}, donate, nil
}

// create runs one of the requests that make a named file in a directory.
func create(c *connection, dir FDID, name string, f func(ControlFD) (ControlFD, linux.Statx, error)) (message, int, error) {
	if err := CheckName(name); err != nil {
		return nil, -1, err
	}
	return withControl(c, dir, func(d ControlFD) (message, error) {
		fd, st, err := f(d)
		return newInode(c, fd, st, err)
	})
}

func mkdir(c *connection, req *createReq) (message, int, error) {
	return create(c, req.Dir, req.Name, func(d ControlFD) (ControlFD, linux.Statx, error) {
		return d.Mkdir(req.Name, req.Mode, req.UID, req.GID)
	})
}

func mknod(c *connection, req *createReq) (message, int, error) {
	return create(c, req.Dir, req.Name, func(d ControlFD) (ControlFD, linux.Statx, error) {
		return d.Mknod(req.Name, req.Mode, req.UID, req.GID)
	})
}

func symlink(c *connection, req *symlinkReq) (message, int, error) {
	return create(c, req.Dir, req.Name, func(d ControlFD) (ControlFD, linux.Statx, error) {
		return d.Symlink(req.Name, req.Target, req.UID, req.GID)
	})
}

func link(c *connection, req *linkReq) (message, int, error) {
	t, err := c.lookupControl(req.Target)
	if err != nil {
		return nil, -1, err
	}
	defer c.release(t)
	return create(c, req.Dir, req.Name, func(d ControlFD) (ControlFD, linux.Statx, error) {
		return d.Link(req.Name, t.control)
	})
}

func unlinkAt(c *connection, req *unlinkAtReq) (message, int, error) {
	if err := CheckName(req.Name); err != nil {
		return nil, -1, err
	}
	return withControl(c, req.Dir, func(d ControlFD) (message, error) {
		return &emptyMsg{}, d.UnlinkAt(req.Name, req.Flags)
	})
}

func renameAt(c *connection, req *renameAtReq) (message, int, error) {
	if err := CheckName(req.OldName); err != nil {
		return nil, -1, err
	}
	if err := CheckName(req.NewName); err != nil {
		return nil, -1, err
	}
	nd, err := c.lookupControl(req.NewDir)
	if err != nil {
		return nil, -1, err
	}
	defer c.release(nd)
	return withControl(c, req.OldDir, func(d ControlFD) (message, error) {
		return &emptyMsg{}, d.RenameAt(req.OldName, nd.control, req.NewName, req.Flags)
	})
}

func readlink(c *connection, req *fdMsg) (message, int, error) {
	return withControl(c, req.FD, func(fd ControlFD) (message, error) {
		target, err := fd.Readlink()
		return &stringMsg{S: target}, err
	})
}

func getdents64(c *connection, req *getdentsReq) (message, int, error) {
	e, err := c.lookupOpen(req.FD)
	if err != nil {
		return nil, -1, err
	}
	defer c.release(e)
	dents, err := e.open.Getdents64(req.Offset, min(req.Count, MaxGetdentsSize))
	return ok(&getdentsResp{Dirents: dents}, err)
}

func setStat(c *connection, req *setStatReq) (message, int, error) {
	if req.Mask&^setStatMask != 0 {
		return nil, -1, linux.EINVAL
	}
	return withControl(c, req.FD, func(fd ControlFD) (message, error) {
		return &emptyMsg{}, fd.SetStat(req.SetStatRequest)
	})
}

func statFS(c *connection, req *fdMsg) (message, int, error) {
	return withControl(c, req.FD, func(fd ControlFD) (message, error) {
		st, err := fd.StatFS()
		return &statFSMsg{StatFS: st}, err
	})
}

func getXattr(c *connection, req *xattrReq) (message, int, error) {
	return withControl(c, req.FD, func(fd ControlFD) (message, error) {
		v, err := fd.GetXattr(req.Name)
		return &bytesMsg{B: v}, err
	})
}

func setXattr(c *connection, req *setXattrReq) (message, int, error) {
	return withControl(c, req.FD, func(fd ControlFD) (message, error) {
		return &emptyMsg{}, fd.SetXattr(req.Name, req.Value, req.Flags)
	})
}

func listXattr(c *connection, req *fdMsg) (message, int, error) {
	return withControl(c, req.FD, func(fd ControlFD) (message, error) {
		names, err := fd.ListXattr()
		return &namesMsg{Names: names}, err
	})
}

func removeXattr(c *connection, req *xattrReq) (message, int, error) {
	return withControl(c, req.FD, func(fd ControlFD) (message, error) {
		return &emptyMsg{}, fd.RemoveXattr(req.Name)
	})
}

// closeFDs closes every FD ID it knows. Unknown IDs are skipped rather than failing
// the batch: the others must be released either way.
func closeFDs(c *connection, req *closeReq) (message, int, error) {
	for _, id := range req.FDs {
		c.remove(id)
	}
	return &emptyMsg{}, -1, nil
}

func fsync(c *connection, req *fdMsg) (message, int, error) {
	e, err := c.lookupOpen(req.FD)
	if err != nil {
		return nil, -1, err
	}
	defer c.release(e)
	return ok(&emptyMsg{}, e.open.FSync())
}
