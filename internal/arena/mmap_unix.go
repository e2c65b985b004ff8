//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package arena

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mapMemory maps n bytes (rounded up to whole pages) of anonymous memory.
func mapMemory(n int) ([]byte, error) {
	page := os.Getpagesize()
	size := (n + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("arena: mapping %d bytes: %w", size, err)
	}
	return mem, nil
}

func unmapMemory(mem []byte) error { return unix.Munmap(mem[:cap(mem)]) }
