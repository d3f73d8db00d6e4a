package lisafs

import "visor.dev/visor/pkg/abi/linux"

// maxWireName bounds a name on the wire. It is well over NAME_MAX so that a long
// name is an ENAMETOOLONG from CheckName, not a broken connection.
const maxWireName = linux.PATH_MAX

// Payloads, one type per distinct layout. Messages that share a layout share a type
// (fdMsg for "just an FD ID", emptyMsg for "nothing").

// emptyMsg is a payload with no fields: Mount and Channel requests, and the
// responses of operations that only succeed or fail.
type emptyMsg struct{}

func (*emptyMsg) marshal(*encoder)   {}
func (*emptyMsg) unmarshal(*decoder) {}

// fdMsg is a request naming one FD: Stat, Readlink, StatFS, FSync.
type fdMsg struct {
	FD FDID
}

func (m *fdMsg) marshal(e *encoder)   { e.fd(m.FD) }
func (m *fdMsg) unmarshal(d *decoder) { m.FD = d.fd() }

// errorMsg is the payload of a MsgError response.
type errorMsg struct {
	Errno linux.Errno
}

func (m *errorMsg) marshal(e *encoder)   { e.u32(uint32(m.Errno)) }
func (m *errorMsg) unmarshal(d *decoder) { m.Errno = linux.Errno(d.u32()) }

func (e *encoder) inode(i *Inode) {
	e.fd(i.FD)
	e.statx(&i.Stat)
}

func (d *decoder) inode(i *Inode) {
	i.FD = d.fd()
	d.statx(&i.Stat)
}

// inodeMsg is a response carrying one new control FD: Mount, Mkdir, Mknod, Symlink,
// Link.
type inodeMsg struct {
	Inode Inode
}

func (m *inodeMsg) marshal(e *encoder)   { e.inode(&m.Inode) }
func (m *inodeMsg) unmarshal(d *decoder) { d.inode(&m.Inode) }

// statMsg is Stat's response.
type statMsg struct {
	Stat linux.Statx
}

func (m *statMsg) marshal(e *encoder)   { e.statx(&m.Stat) }
func (m *statMsg) unmarshal(d *decoder) { d.statx(&m.Stat) }

type walkReq struct {
	Dir   FDID
	Names []string
}

func (m *walkReq) marshal(e *encoder) {
	e.fd(m.Dir)
	e.u32(uint32(len(m.Names)))
	for _, n := range m.Names {
		e.str(n)
	}
}

func (m *walkReq) unmarshal(d *decoder) {
	m.Dir = d.fd()
	n := d.count(MaxWalkComponents, 4)
	m.Names = make([]string, n)
	for i := range m.Names {
		m.Names[i] = d.str(maxWireName)
	}
}

type walkResp struct {
	Status WalkStatus
	Inodes []Inode
}

func (m *walkResp) marshal(e *encoder) {
	e.u8(uint8(m.Status))
	e.u32(uint32(len(m.Inodes)))
	for i := range m.Inodes {
		e.inode(&m.Inodes[i])
	}
}

func (m *walkResp) unmarshal(d *decoder) {
	m.Status = WalkStatus(d.u8())
	n := d.count(MaxWalkComponents, 8+statxSize)
	m.Inodes = make([]Inode, n)
	for i := range m.Inodes {
		d.inode(&m.Inodes[i])
	}
	if m.Status > WalkComponentSymlink {
		d.fail("walk status %d", m.Status)
	}
}

type openReq struct {
	FD    FDID
	Flags uint32
}

func (m *openReq) marshal(e *encoder) {
	e.fd(m.FD)
	e.u32(m.Flags)
}

func (m *openReq) unmarshal(d *decoder) {
	m.FD = d.fd()
	m.Flags = d.u32()
}

// openResp is Open's response; HasFD says whether a host FD rides with it.
type openResp struct {
	OpenFD FDID
	HasFD  bool
}

func (m *openResp) marshal(e *encoder) {
	e.fd(m.OpenFD)
	e.bool(m.HasFD)
}

func (m *openResp) unmarshal(d *decoder) {
	m.OpenFD = d.fd()
	m.HasFD = d.bool()
}

// createReq is the common part of every request that makes a file in a directory.
type createReq struct {
	Dir  FDID
	Name string
	Mode uint32
	UID  uint32
	GID  uint32
}

func (m *createReq) marshal(e *encoder) {
	e.fd(m.Dir)
	e.str(m.Name)
	e.u32(m.Mode)
	e.u32(m.UID)
	e.u32(m.GID)
}

func (m *createReq) unmarshal(d *decoder) {
	m.Dir = d.fd()
	m.Name = d.str(maxWireName)
	m.Mode = d.u32()
	m.UID = d.u32()
	m.GID = d.u32()
}

type openCreateReq struct {
	createReq
	Flags uint32
}

func (m *openCreateReq) marshal(e *encoder) {
	m.createReq.marshal(e)
	e.u32(m.Flags)
}

func (m *openCreateReq) unmarshal(d *decoder) {
	m.createReq.unmarshal(d)
	m.Flags = d.u32()
}

type openCreateResp struct {
	Child Inode
	openResp
}

func (m *openCreateResp) marshal(e *encoder) {
	e.inode(&m.Child)
	m.openResp.marshal(e)
}

func (m *openCreateResp) unmarshal(d *decoder) {
	d.inode(&m.Child)
	m.openResp.unmarshal(d)
}

type symlinkReq struct {
	Dir    FDID
	Name   string
	Target string
	UID    uint32
	GID    uint32
}

func (m *symlinkReq) marshal(e *encoder) {
	e.fd(m.Dir)
	e.str(m.Name)
	e.str(m.Target)
	e.u32(m.UID)
	e.u32(m.GID)
}

func (m *symlinkReq) unmarshal(d *decoder) {
	m.Dir = d.fd()
	m.Name = d.str(maxWireName)
	m.Target = d.str(linux.PATH_MAX)
	m.UID = d.u32()
	m.GID = d.u32()
}

type linkReq struct {
	Dir    FDID
	Name   string
	Target FDID
}

func (m *linkReq) marshal(e *encoder) {
	e.fd(m.Dir)
	e.str(m.Name)
	e.fd(m.Target)
}

func (m *linkReq) unmarshal(d *decoder) {
	m.Dir = d.fd()
	m.Name = d.str(maxWireName)
	m.Target = d.fd()
}

type unlinkAtReq struct {
	Dir   FDID
	Name  string
	Flags uint32
}

func (m *unlinkAtReq) marshal(e *encoder) {
	e.fd(m.Dir)
	e.str(m.Name)
	e.u32(m.Flags)
}

func (m *unlinkAtReq) unmarshal(d *decoder) {
	m.Dir = d.fd()
	m.Name = d.str(maxWireName)
	m.Flags = d.u32()
}

type renameAtReq struct {
	OldDir  FDID
	OldName string
	NewDir  FDID
	NewName string
	Flags   uint32
}

func (m *renameAtReq) marshal(e *encoder) {
	e.fd(m.OldDir)
	e.str(m.OldName)
	e.fd(m.NewDir)
	e.str(m.NewName)
	e.u32(m.Flags)
}

func (m *renameAtReq) unmarshal(d *decoder) {
	m.OldDir = d.fd()
	m.OldName = d.str(maxWireName)
	m.NewDir = d.fd()
	m.NewName = d.str(maxWireName)
	m.Flags = d.u32()
}

// stringMsg is a response holding one string: Readlink's target.
type stringMsg struct {
	S string
}

func (m *stringMsg) marshal(e *encoder)   { e.str(m.S) }
func (m *stringMsg) unmarshal(d *decoder) { m.S = d.str(linux.PATH_MAX) }

type getdentsReq struct {
	FD     FDID
	Offset int64
	Count  uint32
}

func (m *getdentsReq) marshal(e *encoder) {
	e.fd(m.FD)
	e.i64(m.Offset)
	e.u32(m.Count)
}

func (m *getdentsReq) unmarshal(d *decoder) {
	m.FD = d.fd()
	m.Offset = d.i64()
	m.Count = d.u32()
}

// direntMinSize is the encoded size of a Dirent with a one-byte name.
const direntMinSize = 8 + 8 + 1 + 4 + 1

type getdentsResp struct {
	Dirents []Dirent
}

func (m *getdentsResp) marshal(e *encoder) {
	e.u32(uint32(len(m.Dirents)))
	for i := range m.Dirents {
		de := &m.Dirents[i]
		e.u64(de.Ino)
		e.i64(de.Off)
		e.u8(de.Type)
		e.str(de.Name)
	}
}

func (m *getdentsResp) unmarshal(d *decoder) {
	n := d.count(MaxGetdentsSize, direntMinSize)
	m.Dirents = make([]Dirent, n)
	for i := range m.Dirents {
		de := &m.Dirents[i]
		de.Ino = d.u64()
		de.Off = d.i64()
		de.Type = d.u8()
		de.Name = d.str(maxWireName)
	}
}

type setStatReq struct {
	FD FDID
	SetStatRequest
}

func (m *setStatReq) marshal(e *encoder) {
	e.fd(m.FD)
	e.u32(m.Mask)
	e.u32(m.Mode)
	e.u32(m.UID)
	e.u32(m.GID)
	e.u64(m.Size)
	e.timestamp(m.Atime)
	e.timestamp(m.Mtime)
}

func (m *setStatReq) unmarshal(d *decoder) {
	m.FD = d.fd()
	m.Mask = d.u32()
	m.Mode = d.u32()
	m.UID = d.u32()
	m.GID = d.u32()
	m.Size = d.u64()
	m.Atime = d.timestamp()
	m.Mtime = d.timestamp()
}

type statFSMsg struct {
	StatFS
}

func (m *statFSMsg) marshal(e *encoder) {
	e.u64(m.Type)
	e.i64(m.BlockSize)
	e.u64(m.Blocks)
	e.u64(m.BlocksFree)
	e.u64(m.BlocksAvailable)
	e.u64(m.Files)
	e.u64(m.FilesFree)
	e.u64(m.NameLength)
	e.i64(m.FragmentSize)
}

func (m *statFSMsg) unmarshal(d *decoder) {
	m.Type = d.u64()
	m.BlockSize = d.i64()
	m.Blocks = d.u64()
	m.BlocksFree = d.u64()
	m.BlocksAvailable = d.u64()
	m.Files = d.u64()
	m.FilesFree = d.u64()
	m.NameLength = d.u64()
	m.FragmentSize = d.i64()
}

// xattrReq names one extended attribute: GetXattr and RemoveXattr.
type xattrReq struct {
	FD   FDID
	Name string
}

func (m *xattrReq) marshal(e *encoder) {
	e.fd(m.FD)
	e.str(m.Name)
}

func (m *xattrReq) unmarshal(d *decoder) {
	m.FD = d.fd()
	m.Name = d.str(linux.XATTR_NAME_MAX)
}

type setXattrReq struct {
	FD    FDID
	Name  string
	Value []byte
	Flags uint32
}

func (m *setXattrReq) marshal(e *encoder) {
	e.fd(m.FD)
	e.str(m.Name)
	e.bytes(m.Value)
	e.u32(m.Flags)
}

func (m *setXattrReq) unmarshal(d *decoder) {
	m.FD = d.fd()
	m.Name = d.str(linux.XATTR_NAME_MAX)
	m.Value = d.bytes(linux.XATTR_SIZE_MAX)
	m.Flags = d.u32()
}

// bytesMsg is a response holding one byte string: GetXattr's value.
type bytesMsg struct {
	B []byte
}

func (m *bytesMsg) marshal(e *encoder)   { e.bytes(m.B) }
func (m *bytesMsg) unmarshal(d *decoder) { m.B = d.bytes(linux.XATTR_SIZE_MAX) }

// namesMsg is ListXattr's response.
type namesMsg struct {
	Names []string
}

func (m *namesMsg) marshal(e *encoder) {
	e.u32(uint32(len(m.Names)))
	for _, n := range m.Names {
		e.str(n)
	}
}

func (m *namesMsg) unmarshal(d *decoder) {
	n := d.count(linux.XATTR_LIST_MAX, 4+1)
	m.Names = make([]string, n)
	for i := range m.Names {
		m.Names[i] = d.str(linux.XATTR_NAME_MAX)
	}
}

type closeReq struct {
	FDs []FDID
}

func (m *closeReq) marshal(e *encoder) {
	e.u32(uint32(len(m.FDs)))
	for _, fd := range m.FDs {
		e.fd(fd)
	}
}

func (m *closeReq) unmarshal(d *decoder) {
	n := d.count(MaxCloseBatch, 8)
	m.FDs = make([]FDID, n)
	for i := range m.FDs {
		m.FDs[i] = d.fd()
	}
}
