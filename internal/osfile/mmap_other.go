//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package osfile

import (
	"errors"
	"os"
)

// MmapSupported says whether Mmap maps files: not on this system, where
// the Log reads its segments with pread.
const MmapSupported = false

// MmapCoherent is false: see MmapSupported.
const MmapCoherent = false

// Mmap returns errors.ErrUnsupported on this system.
func Mmap(*os.File, int64) ([]byte, error) { return nil, errors.ErrUnsupported }

// Munmap does nothing on this system.
func Munmap([]byte) error { return nil }

// CanPopulate is false: see MmapSupported.
const CanPopulate = false

// Populate returns errors.ErrUnsupported on this system.
func Populate([]byte) error { return errors.ErrUnsupported }
