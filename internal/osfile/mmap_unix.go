//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package osfile

import (
	"errors"
	"math"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// MmapSupported says whether Mmap maps files: on 64-bit Unix systems. A
// 32-bit address space is too small to map a Log's segments, so there, as
// on systems without mmap, the Log reads with pread.
const MmapSupported = strconv.IntSize == 64

// MmapCoherent says whether a shared mapping shows what is written to the
// file through write(2) and pwrite(2) after it was mapped, even past the
// file's size when it was mapped, as on Linux, whose mappings and writes
// share the page cache; then a mapping of a file still being appended to
// can be read up to the bytes written so far.
const MmapCoherent = MmapSupported && runtime.GOOS == "linux"

// Mmap maps the first size bytes of f read-only and shared: the mapping
// shows the file's bytes as they are in the page cache, and stays valid
// after f is closed or removed (not after it is shortened: touching a page
// past the file's end raises SIGBUS). size may be more than f's size: the
// pages past its end are not to be touched until written (MmapCoherent). Where MmapSupported is false it
// returns errors.ErrUnsupported.
func Mmap(f *os.File, size int64) ([]byte, error) {
	if !MmapSupported {
		return nil, errors.ErrUnsupported
	}
	if size <= 0 || size > math.MaxInt {
		return nil, errors.New("osfile: mmap: size out of range")
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var b []byte
	var merr error
	if err := sc.Control(func(fd uintptr) {
		b, merr = unix.Mmap(int(fd), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	}); err != nil {
		return nil, err
	}
	if merr != nil {
		return nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: merr}
	}
	return b, nil
}

// Munmap unmaps a mapping that Mmap returned. No slice of it may be used
// after.
func Munmap(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}

// Populate fills in the page tables of a part of a mapping that Mmap
// returned, from the page cache, in one system call (MADV_POPULATE_READ,
// Linux 5.14), so that reading it then costs no page fault per page: on a
// virtual machine a fault can cost more than copying the page. A page past
// the file's end fails it with an error, not a SIGBUS. Where CanPopulate
// is false it returns errors.ErrUnsupported.
func Populate(b []byte) error {
	if !CanPopulate || noPopulate.Load() {
		return errors.ErrUnsupported
	}
	err := unix.Madvise(b, madvPopulateRead)
	if errors.Is(err, unix.EINVAL) { // a kernel before 5.14
		noPopulate.Store(true)
		return errors.ErrUnsupported
	}
	return err
}

// noPopulate is set once the kernel refused MADV_POPULATE_READ.
var noPopulate atomic.Bool
