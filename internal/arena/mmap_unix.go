//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package arena

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapsOwnMemory is true where the arena maps memory itself.
const mapsOwnMemory = true

// The arena maps and unmaps through the pointer calls: a slab is a part of
// a larger mapping (see mapSlab), which unix.Munmap, keyed by whole
// mappings, would refuse.

// mapMemory maps n bytes (rounded up to whole pages) of anonymous memory.
func mapMemory(n int) ([]byte, error) {
	page := os.Getpagesize()
	size := (n + page - 1) / page * page
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("arena: mapping %d bytes: %w", size, err)
	}
	return unsafe.Slice((*byte)(p), size), nil
}

func unmapMemory(mem []byte) error {
	mem = mem[:cap(mem)]
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(mem)), uintptr(len(mem)))
}

// mapSlab maps n bytes (a power of two, a multiple of the page size)
// aligned to n, and asks for huge pages: it maps 2n bytes and unmaps what
// lies outside the aligned n.
func mapSlab(n int) ([]byte, error) {
	mem, err := mapMemory(2 * n)
	if err != nil {
		return nil, err
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	head := int((uintptr(n) - base%uintptr(n)) % uintptr(n))
	if head > 0 {
		if err := unmapMemory(mem[:head:head]); err != nil {
			return nil, fmt.Errorf("arena: trimming a slab: %w", err)
		}
	}
	if tail := mem[head+n:]; len(tail) > 0 {
		if err := unmapMemory(tail); err != nil {
			return nil, fmt.Errorf("arena: trimming a slab: %w", err)
		}
	}
	slab := mem[head : head+n : head+n]
	adviseHugePages(slab)
	return slab, nil
}
