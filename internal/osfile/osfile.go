// Package osfile is the operating-system layer of the disk stores, File and
// Log: opening files beneath a directory (openat2 with RESOLVE_BENEATH on
// Linux, os.Root elsewhere), opening a file without following a link,
// locking a file (flock(2) on Unix, LockFileEx on Windows: one
// implementation per system for both stores), vectored writes (writev,
// pwritev), sync, directory sync, truncation and read-only memory maps.
// Every system call of a store goes through it, so the root package has no
// platform files; pebble keeps its vfs/ the same way.
//
// The calls on a store's write path (writes, syncs and truncations) are
// the methods of FS, so a test can wrap the very calls production makes
// and inject failures into them (internal/errorfs).
package osfile

import (
	"errors"
	"io"
	"os"
)

// FS is the write path of the disk stores: the calls that change a file's
// bytes or make them durable. Default is the operating system's; tests wrap
// it (internal/errorfs) to fail some of the calls.
//
// The Handle methods serve the File store's key files; the *os.File ones
// serve the Log's segments.
type FS interface {
	// Write writes all of b to h (a file opened to append) and returns how
	// many bytes it wrote.
	Write(h Handle, b []byte) (int64, error)
	// Writev writes the concatenation of vec to h, with writev(2) where the
	// system has it, and returns how many bytes it wrote.
	Writev(h Handle, vec [][]byte) (int64, error)
	// Sync makes h's bytes durable (fsync).
	Sync(h Handle) error
	// ShrinkBy cuts n bytes off the end of h's file.
	ShrinkBy(h Handle, n int64) error

	// WriteAt writes b to f at off, as f.WriteAt does.
	WriteAt(f *os.File, b []byte, off int64) (int, error)
	// Pwritev writes the concatenation of vec to f at off, with pwritev(2)
	// where PwritevSupported says so, else piece by piece with WriteAt.
	Pwritev(f *os.File, vec [][]byte, off int64) error
	// SyncFile makes f's bytes durable (fsync).
	SyncFile(f *os.File) error
	// Truncate sets f's size.
	Truncate(f *os.File, size int64) error
}

// Default is the operating system's FS.
var Default FS = sysFS{}

type sysFS struct{}

func (sysFS) Write(h Handle, b []byte) (int64, error)              { return writeAll(h, b) }
func (sysFS) Writev(h Handle, vec [][]byte) (int64, error)         { return writevAll(h, vec) }
func (sysFS) Sync(h Handle) error                                  { return syncHandle(h) }
func (sysFS) ShrinkBy(h Handle, n int64) error                     { return shrinkBy(h, n) }
func (sysFS) WriteAt(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
func (sysFS) Pwritev(f *os.File, vec [][]byte, off int64) error {
	if PwritevSupported {
		return pwritevAll(f, vec, off)
	}
	for _, p := range vec {
		if _, err := f.WriteAt(p, off); err != nil {
			return err
		}
		off += int64(len(p))
	}
	return nil
}
func (sysFS) SyncFile(f *os.File) error             { return f.Sync() }
func (sysFS) Truncate(f *os.File, size int64) error { return f.Truncate(size) }

// OffsetWriter returns an io.Writer that writes to f through fs.WriteAt,
// from off on, as io.NewOffsetWriter does for f itself.
func OffsetWriter(fs FS, f *os.File, off int64) io.Writer {
	return &offsetWriter{fs: fs, f: f, off: off}
}

type offsetWriter struct {
	fs  FS
	f   *os.File
	off int64
}

func (w *offsetWriter) Write(p []byte) (int, error) {
	n, err := w.fs.WriteAt(w.f, p, w.off)
	w.off += int64(n)
	return n, err
}

// ErrWouldBlock is returned by TryLock when another process holds the lock.
var ErrWouldBlock = errors.New("lock held by another process")

// LockHow says what Lock does.
type LockHow int

const (
	Exclusive LockHow = iota // take the lock for one holder
	Shared                   // take the lock beside other shared holders
	Unlock                   // release the lock
)

// AdvanceVec drops the first n bytes of vec, a vectored write's pieces,
// after a write(v)/pwritev that wrote n of them, and drops pieces left
// empty. It changes vec's elements in place.
func AdvanceVec(vec [][]byte, n int) [][]byte {
	for n > 0 && len(vec) > 0 {
		if n >= len(vec[0]) {
			n -= len(vec[0])
			vec = vec[1:]
		} else {
			vec[0] = vec[0][n:]
			n = 0
		}
	}
	for len(vec) > 0 && len(vec[0]) == 0 {
		vec = vec[1:]
	}
	return vec
}

// CutVec returns the pieces of vec that hold its first n bytes, the last
// one cut short; it does not change vec.
func CutVec(vec [][]byte, n int64) [][]byte {
	var out [][]byte
	for _, p := range vec {
		if n <= 0 {
			break
		}
		if int64(len(p)) > n {
			p = p[:n]
		}
		out = append(out, p)
		n -= int64(len(p))
	}
	return out
}
