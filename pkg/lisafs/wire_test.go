package lisafs

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"visor.dev/visor/pkg/abi/linux"
)

// payloads has one filled-in value of every payload type.
var payloads = []message{
	&emptyMsg{},
	&fdMsg{FD: 7},
	&errorMsg{Errno: linux.ENOENT},
	&inodeMsg{Inode: Inode{FD: 3, Stat: testStat}},
	&statMsg{Stat: testStat},
	&walkReq{Dir: 1, Names: []string{"a", "bb", "ccc"}},
	&walkResp{Status: WalkComponentSymlink, Inodes: []Inode{{FD: 4, Stat: testStat}, {FD: 5}}},
	&openReq{FD: 9, Flags: linux.O_RDWR | linux.O_TRUNC},
	&openResp{OpenFD: 10, HasFD: true},
	&createReq{Dir: 1, Name: "d", Mode: 0o755, UID: 1, GID: NoID},
	&openCreateReq{createReq: createReq{Dir: 1, Name: "f", Mode: 0o644, UID: 2, GID: 3}, Flags: linux.O_WRONLY},
	&openCreateResp{Child: Inode{FD: 11, Stat: testStat}, openResp: openResp{OpenFD: 12, HasFD: true}},
	&symlinkReq{Dir: 1, Name: "l", Target: "../../etc", UID: 4, GID: 5},
	&linkReq{Dir: 1, Name: "h", Target: 13},
	&unlinkAtReq{Dir: 1, Name: "x", Flags: linux.AT_REMOVEDIR},
	&renameAtReq{OldDir: 1, OldName: "o", NewDir: 2, NewName: "n", Flags: linux.RENAME_NOREPLACE},
	&stringMsg{S: "/target"},
	&getdentsReq{FD: 14, Offset: -5, Count: 4096},
	&getdentsResp{Dirents: []Dirent{{Ino: 1, Off: 2, Type: linux.DT_REG, Name: "f"}, {Ino: 3, Off: 4, Type: linux.DT_DIR, Name: "dir"}}},
	&setStatReq{FD: 15, SetStatRequest: SetStatRequest{Mask: setStatMask, Mode: 0o600, UID: 6, GID: 7, Size: 8,
		Atime: linux.StatxTimestamp{Sec: 9, Nsec: linux.UTIME_NOW}, Mtime: linux.StatxTimestamp{Sec: -1, Nsec: 10}}},
	&statFSMsg{StatFS: StatFS{Type: 0xef53, BlockSize: 4096, Blocks: 1, BlocksFree: 2, BlocksAvailable: 3, Files: 4, FilesFree: 5, NameLength: 255, FragmentSize: 4096}},
	&xattrReq{FD: 16, Name: "user.a"},
	&setXattrReq{FD: 17, Name: "user.b", Value: []byte{0, 1, 2}, Flags: linux.XATTR_CREATE},
	&bytesMsg{B: []byte("value")},
	&namesMsg{Names: []string{"user.a", "user.b"}},
	&closeReq{FDs: []FDID{1, 2, 3}},
}

var testStat = linux.Statx{
	Mask: linux.STATX_BASIC_STATS, Blksize: 4096, Attributes: 1, Nlink: 2, UID: 3, GID: 4,
	Mode: linux.S_IFREG | 0o644, Ino: 5, Size: 6, Blocks: 7, AttributesMask: 8,
	Atime: linux.StatxTimestamp{Sec: 9, Nsec: 10}, Btime: linux.StatxTimestamp{Sec: 11, Nsec: 12},
	Ctime: linux.StatxTimestamp{Sec: 13, Nsec: 14}, Mtime: linux.StatxTimestamp{Sec: 15, Nsec: 16},
	RdevMajor: 17, RdevMinor: 18, DevMajor: 19, DevMinor: 20,
}

// unexported lets cmp see struct statx's padding and the embedded unexported
// message types.
var unexported = cmp.AllowUnexported(linux.Statx{}, linux.StatxTimestamp{}, openCreateReq{}, openCreateResp{})

func encode(m message) []byte {
	e := encoder{}
	m.marshal(&e)
	return e.buf
}

// fresh returns a new zero payload of m's type.
func fresh(m message) message {
	switch m.(type) {
	case *emptyMsg:
		return &emptyMsg{}
	case *fdMsg:
		return &fdMsg{}
	case *errorMsg:
		return &errorMsg{}
	case *inodeMsg:
		return &inodeMsg{}
	case *statMsg:
		return &statMsg{}
	case *walkReq:
		return &walkReq{}
	case *walkResp:
		return &walkResp{}
	case *openReq:
		return &openReq{}
	case *openResp:
		return &openResp{}
	case *createReq:
		return &createReq{}
	case *openCreateReq:
		return &openCreateReq{}
	case *openCreateResp:
		return &openCreateResp{}
	case *symlinkReq:
		return &symlinkReq{}
	case *linkReq:
		return &linkReq{}
	case *unlinkAtReq:
		return &unlinkAtReq{}
	case *renameAtReq:
		return &renameAtReq{}
	case *stringMsg:
		return &stringMsg{}
	case *getdentsReq:
		return &getdentsReq{}
	case *getdentsResp:
		return &getdentsResp{}
	case *setStatReq:
		return &setStatReq{}
	case *statFSMsg:
		return &statFSMsg{}
	case *xattrReq:
		return &xattrReq{}
	case *setXattrReq:
		return &setXattrReq{}
	case *bytesMsg:
		return &bytesMsg{}
	case *namesMsg:
		return &namesMsg{}
	case *closeReq:
		return &closeReq{}
	}
	panic("fresh: add the new payload type")
}

func TestRoundTrip(t *testing.T) {
	for _, m := range payloads {
		got := fresh(m)
		if err := decode(encode(m), got); err != nil {
			t.Errorf("%T: decode: %v", m, err)
			continue
		}
		if diff := cmp.Diff(m, got, unexported); diff != "" {
			t.Errorf("%T: round trip (-want +got):\n%s", m, diff)
		}
	}
}

// TestTruncatedAndPadded: every strict prefix of a message and the message with a
// byte more fail to decode, with errMalformed.
func TestTruncatedAndPadded(t *testing.T) {
	for _, m := range payloads {
		b := encode(m)
		for n := range len(b) {
			if err := decode(b[:n], fresh(m)); !errors.Is(err, errMalformed) {
				t.Errorf("%T: %d of %d bytes decoded with %v, want errMalformed", m, n, len(b), err)
			}
		}
		if err := decode(append(b, 0), fresh(m)); !errors.Is(err, errMalformed) {
			t.Errorf("%T: a trailing byte decoded with %v, want errMalformed", m, err)
		}
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		into message
	}{
		{"walk count over limit", le(u64b(1), u32b(MaxWalkComponents+1)), &walkReq{}},
		{"walk count over bytes", le(u64b(1), u32b(3), u32b(1), []byte("a")), &walkReq{}},
		{"name over maxWireName", le(u64b(1), u32b(1), u32b(maxWireName+1), bytes.Repeat([]byte("a"), maxWireName+1)), &walkReq{}},
		{"string length past end", le(u32b(10), []byte("abc")), &stringMsg{}},
		{"huge string length", le(u32b(0xffffffff)), &stringMsg{}},
		{"bad bool", le(u64b(1), []byte{2}), &openResp{}},
		{"bad walk status", le([]byte{3}, u32b(0)), &walkResp{}},
		{"close batch over limit", le(u32b(MaxCloseBatch + 1)), &closeReq{}},
	}
	for _, tc := range tests {
		if err := decode(tc.msg, tc.into); !errors.Is(err, errMalformed) {
			t.Errorf("%s: got %v, want errMalformed", tc.name, err)
		}
	}
}

func le(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u32b(v uint32) []byte { e := encoder{}; e.u32(v); return e.buf }
func u64b(v uint64) []byte { e := encoder{}; e.u64(v); return e.buf }

// FuzzDecode feeds arbitrary bytes to every payload decoder: none may panic, and
// whatever decodes must encode back to the same bytes (the encoding is canonical, so
// there is exactly one way to say anything).
func FuzzDecode(f *testing.F) {
	for i, m := range payloads {
		f.Add(uint8(i), encode(m))
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		m := fresh(payloads[int(which)%len(payloads)])
		if err := decode(b, m); err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("%T: error %v is not errMalformed", m, err)
			}
			return
		}
		if got := encode(m); !bytes.Equal(got, b) {
			t.Fatalf("%T: %x re-encodes as %x", m, b, got)
		}
	})
}
