package mm

// FutexKey names the futex word at addr for a shared (non-private) futex
// operation: words in memory shared with other address spaces (MAP_SHARED anonymous
// memory) are named by the shared object and offset, so that processes that share
// the memory meet on the same futex; any other word by this address space and addr.
func (mm *MemoryManager) FutexKey(addr uintptr) (object any, offset uint64) {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	if v := mm.vmas.find(addr); v != nil && v.shm != nil {
		return v.shm, v.offsetOf(addr)
	}
	return mm, uint64(addr)
}
