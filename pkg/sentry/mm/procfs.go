package mm

import (
	"fmt"
	"strings"
)

// mapsNameColumn is where Linux starts a mapping's name in /proc/[pid]/maps: the
// line so far is padded to 25 + 6*sizeof(void *) - 1 columns, then one space
// (show_vma_header_prefix and seq_pad in fs/proc/task_mmu.c).
const mapsNameColumn = 25 + 6*8 - 1

// MapsString renders the mappings as /proc/[pid]/maps does, one line per vma:
//
//	00400000-00452000 r-xp 00000000 00:00 0                                  /bin/prog
//
// Anonymous private mappings have offset 0 and no name unless they were given one
// ([heap], [stack], [vdso]); shared anonymous ones are "/dev/zero (deleted)", as on
// Linux. File mappings show device 00:00 and inode 0 until memmap.Mappable can say
// which file it is.
func (mm *MemoryManager) MapsString() string {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	var sb strings.Builder
	for _, v := range mm.vmas {
		var off, ino uint64
		dev := "00:00"
		name := v.name
		switch {
		case v.shm != nil:
			off, ino, dev = v.off, v.shm.ino, "00:01"
			if name == "" {
				name = "/dev/zero (deleted)"
			}
		case v.mappable != nil:
			off = v.off
		}
		mode := byte('s')
		if v.private {
			mode = 'p'
		}
		line := fmt.Sprintf("%08x-%08x %c%c%c%c %08x %s %d ",
			v.Start, v.End,
			flag(v.perms.Read, 'r'), flag(v.perms.Write, 'w'), flag(v.perms.Execute, 'x'),
			mode,
			off, dev, ino)
		sb.WriteString(line)
		if name != "" {
			if pad := mapsNameColumn - len(line); pad > 0 {
				sb.WriteString(strings.Repeat(" ", pad))
			}
			sb.WriteByte(' ')
			sb.WriteString(name)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

func flag(set bool, c byte) byte {
	if set {
		return c
	}
	return '-'
}
