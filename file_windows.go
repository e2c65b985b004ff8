package partd

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// keyFD is an open key file: on Windows, a file opened through the store's
// os.Root, which resolves each path element beneath the directory (no "..",
// no absolute path, no volume name and no symlink leads out of it).
type keyFD = *os.File

// noFD is the keyFD of no file.
var noFD keyFD

// oNonblock is 0: no FIFO can sit at a key's path on Windows (named pipes
// live in their own namespace, \\.\pipe\, which os.Root never reaches).
const oNonblock = 0

// appendHandleTruncates is false: Windows opens a file for O_APPEND without
// the right to write anywhere but its end, so rollback opens it again to
// truncate it.
const appendHandleTruncates = false

// sysDir is empty on Windows: key files are opened through os.Root.
type sysDir struct{}

func (*sysDir) open(string) {}

func (*sysDir) close() {}

// openKey opens the file name beneath the store's directory. No key escapes
// the directory.
func (f *File) openKey(name string, flags int, mode uint32) (keyFD, error) {
	h, err := f.root.OpenFile(name, flags, fs.FileMode(mode))
	if err != nil {
		return noFD, err
	}
	return h, nil
}

// checkKey tells what opening name to append would: nil for a regular
// file, an error wrapping ENOENT, EISDIR or ENOTDIR otherwise.
func (f *File) checkKey(name string) error {
	h, err := f.openKey(name, appendFlags, 0)
	if err == nil {
		h.Close()
	}
	return err
}

func closeFD(fd keyFD) error { return fd.Close() }

func fsyncFD(fd keyFD) error { return fd.Sync() }

// writeAll writes all of b to fd and returns how many bytes it wrote.
func writeAll(fd keyFD, b []byte) (int64, error) {
	n, err := fd.Write(b)
	return int64(n), err
}

// statRegular returns the size of the regular file fd, or isDir for a
// directory; anything else is an error.
func statRegular(fd keyFD) (size int64, isDir bool, err error) {
	st, err := fd.Stat()
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

// readFull reads into buf until it is full or the file ends, and returns
// how many bytes it read.
func readFull(fd keyFD, buf []byte) (int, error) {
	n, err := io.ReadFull(fd, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil // truncated under us: return what is there
	}
	return n, err
}

// shrinkBy truncates fd's file by n bytes.
func shrinkBy(fd keyFD, n int64) error {
	st, err := fd.Stat()
	if err != nil {
		return err
	}
	return fd.Truncate(st.Size() - n)
}

// openFileLimit returns how many files the store may keep open. Windows
// bounds a process's handles only by memory (about 16 million), and Go
// does not use the C runtime's descriptors, so the caps of OpenFile
// (16384 cached handles) apply.
func openFileLimit() int { return 1 << 16 }

const (
	lockEx flockHow = iota
	lockSh
	lockUn
)

// flock takes or releases the lock with LockFileEx, which waits for it on
// the lock file's synchronous handle. It locks one byte at the largest
// offset, as bbolt does: Windows' byte-range locks are mandatory, and this
// one never covers the generation counter at offset 0.
func (f *File) flock(how flockHow) error {
	h := windows.Handle(f.lock.Fd())
	ol := windows.Overlapped{Offset: ^uint32(0), OffsetHigh: ^uint32(0)}
	var err error
	switch how {
	case lockEx:
		err = windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &ol)
	case lockSh:
		err = windows.LockFileEx(h, 0, 0, 1, 0, &ol)
	default:
		err = windows.UnlockFileEx(h, 0, 1, 0, &ol)
	}
	if err != nil {
		return fmt.Errorf("partd: file: lock: %w", err)
	}
	return nil
}
