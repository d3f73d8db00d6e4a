package arch

import "testing"

func TestSyscallArgumentAccessors(t *testing.T) {
	for _, tc := range []struct {
		value uintptr
		i32   int32
		u32   uint32
		i64   int64
		u64   uint64
	}{
		{value: 0, i32: 0, u32: 0, i64: 0, u64: 0},
		{value: 0xffffffff, i32: -1, u32: 0xffffffff, i64: 0xffffffff, u64: 0xffffffff},
		// AT_FDCWD (-100) as a C int, with garbage in the high half as an application may leave it.
		{value: 0xdeadbeefffffff9c, i32: -100, u32: 0xffffff9c, i64: -0x2152411000000064, u64: 0xdeadbeefffffff9c},
		{value: ^uintptr(0), i32: -1, u32: 0xffffffff, i64: -1, u64: ^uint64(0)},
	} {
		a := SyscallArgument{Value: tc.value}
		if a.Int() != tc.i32 || a.Uint() != tc.u32 || a.Int64() != tc.i64 || a.Uint64() != tc.u64 || a.Pointer() != tc.value {
			t.Errorf("SyscallArgument{%#x}: got Int %d Uint %#x Int64 %d Uint64 %#x Pointer %#x; want %d %#x %d %#x %#x",
				tc.value, a.Int(), a.Uint(), a.Int64(), a.Uint64(), a.Pointer(), tc.i32, tc.u32, tc.i64, tc.u64, tc.value)
		}
	}
}
