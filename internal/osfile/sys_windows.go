package osfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// Handle is an open file of a File store: on Windows, a file opened through
// the store's os.Root.
type Handle = *os.File

// NoHandle is the Handle of no file.
var NoHandle Handle

// ONonblock is 0: no FIFO can sit at a key's path on Windows (named pipes
// live in their own namespace, \\.\pipe\, which os.Root never reaches).
const ONonblock = 0

// AppendHandleTruncates is false: Windows opens a file for O_APPEND without
// the right to write anywhere but its end, so a rollback opens it again to
// truncate it.
const AppendHandleTruncates = false

// dirSys is empty on Windows: files are opened through os.Root, which
// resolves each path element beneath the directory (no "..", no absolute
// path, no volume name and no symlink leads out of it).
type dirSys struct{}

func (*dirSys) open(string) {}

func (*dirSys) close() {}

// Open opens the file name beneath the directory. Nothing outside the
// directory is opened.
func (d *Dir) Open(name string, flags int, mode fs.FileMode) (Handle, error) {
	h, err := d.root.OpenFile(name, flags, mode)
	if err != nil {
		return NoHandle, err
	}
	return h, nil
}

// Check tells what opening name to append would: nil for a regular file,
// an error wrapping ENOENT, EISDIR or ENOTDIR otherwise.
func (d *Dir) Check(name string) error {
	h, err := d.Open(name, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		h.Close()
	}
	return err
}

// CloseHandle closes h.
func CloseHandle(h Handle) error { return h.Close() }

func syncHandle(h Handle) error { return h.Sync() }

// writeAll writes all of b to h and returns how many bytes it wrote.
func writeAll(h Handle, b []byte) (int64, error) {
	n, err := h.Write(b)
	return int64(n), err
}

// StatRegular returns the size of the regular file h, or isDir for a
// directory; anything else is an error.
func StatRegular(h Handle) (size int64, isDir bool, err error) {
	st, err := h.Stat()
	switch {
	case err != nil:
		return 0, false, err
	case st.Mode().IsRegular():
		return st.Size(), false, nil
	case st.IsDir():
		return 0, true, nil
	default:
		return 0, false, fmt.Errorf("not a regular file (mode %v)", st.Mode())
	}
}

// ReadFull reads into buf until it is full or the file ends, and returns
// how many bytes it read.
func ReadFull(h Handle, buf []byte) (int, error) {
	n, err := io.ReadFull(h, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil // truncated under us: return what is there
	}
	return n, err
}

// shrinkBy truncates h's file by n bytes.
func shrinkBy(h Handle, n int64) error {
	st, err := h.Stat()
	if err != nil {
		return err
	}
	return h.Truncate(st.Size() - n)
}

// OpenFileLimit returns how many files a store may keep open. Windows
// bounds a process's handles only by memory (about 16 million), and Go
// does not use the C runtime's descriptors, so the File store's own caps
// (16384 cached handles) apply.
func OpenFileLimit() int { return 1 << 16 }

// lockFileEx takes (or, with unlock, releases) a lock on one byte at the
// largest offset of f, as bbolt does: Windows' byte-range locks are
// mandatory, and this one never covers the bytes a store keeps in its lock
// file (the File store's generation counter, the Log's version line).
func lockFileEx(f *os.File, flags uint32, unlock bool) error {
	h := windows.Handle(f.Fd())
	ol := windows.Overlapped{Offset: ^uint32(0), OffsetHigh: ^uint32(0)}
	if unlock {
		return windows.UnlockFileEx(h, 0, 1, 0, &ol)
	}
	return windows.LockFileEx(h, flags, 0, 1, 0, &ol)
}

// Lock takes or releases the lock with LockFileEx, waiting for it on the
// file's synchronous handle.
func Lock(f *os.File, how LockHow) error {
	switch how {
	case Exclusive:
		return lockFileEx(f, windows.LOCKFILE_EXCLUSIVE_LOCK, false)
	case Shared:
		return lockFileEx(f, 0, false)
	}
	return lockFileEx(f, 0, true)
}

// TryLock takes the exclusive lock without waiting: it returns
// ErrWouldBlock if another process holds it.
func TryLock(f *os.File) error {
	err := lockFileEx(f, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, false)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return ErrWouldBlock
	}
	return err
}

// SyncDir does nothing on Windows, where a directory cannot be opened for
// syncing; NTFS journals its metadata.
func SyncDir(string) error { return nil }

// OpenNoFollow opens path as os.OpenFile does, but never through a symlink
// or a junction and only if it is a regular file: Windows has no
// O_NOFOLLOW, so it checks the path with Lstat before the open and the file
// it opened against it after.
func OpenNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	before, err := os.Lstat(path)
	switch {
	case err == nil && !before.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file (%v), and a store never follows a link: %w", path, before.Mode().Type(), fs.ErrInvalid)
	case err != nil && !(errors.Is(err, fs.ErrNotExist) && flag&os.O_CREATE != 0):
		return nil, err
	}
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	if after, err := f.Stat(); err != nil || (before != nil && !os.SameFile(before, after)) || !after.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s changed while it was opened: %w", path, fs.ErrInvalid)
	}
	return f, nil
}

// Mkfifo returns errors.ErrUnsupported: Windows has no FIFO that a path in
// a directory names.
func Mkfifo(string) error { return errors.ErrUnsupported }

// LimitOpenFiles returns errors.ErrUnsupported: Windows bounds a process's
// handles only by memory.
func LimitOpenFiles(uint64) error { return errors.ErrUnsupported }
