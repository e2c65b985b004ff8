//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package osfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Handle is an open file of a File store: a file descriptor, cheaper than
// an *os.File by an allocation and a finalizer per open.
type Handle = int

// NoHandle is the Handle of no file.
const NoHandle Handle = -1

// ONonblock opens a FIFO without waiting for a writer.
const ONonblock = unix.O_NONBLOCK

// AppendHandleTruncates tells that a handle opened to append can also
// truncate its file, so a rollback need not open the file again.
const AppendHandleTruncates = true

// CloseHandle closes h.
func CloseHandle(h Handle) error { return unix.Close(h) }

func syncHandle(h Handle) error { return unix.Fsync(h) }

// rootOpen opens name beneath root, as os.Root keeps it there, and returns
// a descriptor of its own: one system call more than openat2, and no file
// anywhere else.
func rootOpen(root *os.Root, name string, flags int, mode fs.FileMode) (Handle, error) {
	h, err := root.OpenFile(name, flags, mode)
	if err != nil {
		return NoHandle, err
	}
	defer h.Close()
	fd, err := unix.Dup(int(h.Fd()))
	if err != nil {
		return NoHandle, &fs.PathError{Op: "dup", Path: name, Err: err}
	}
	unix.CloseOnExec(fd)
	return fd, nil
}

// writeAll writes all of b to h and returns how many bytes it wrote.
func writeAll(h Handle, b []byte) (int64, error) {
	var done int64
	for len(b) > 0 {
		n, err := unix.Write(h, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		b = b[n:]
		done += int64(n)
	}
	return done, nil
}

// StatRegular returns the size of the regular file h, or isDir for a
// directory; anything else is an error.
func StatRegular(h Handle) (size int64, isDir bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(h, &st); err != nil {
		return 0, false, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return st.Size, false, nil
	case unix.S_IFDIR:
		return 0, true, nil
	default:
		return 0, false, fmt.Errorf("not a regular file (mode %o)", st.Mode)
	}
}

// ReadFull reads into buf until it is full or the file ends, and returns
// how many bytes it read.
func ReadFull(h Handle, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Read(h, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break // truncated under us: return what is there
		}
		n += m
	}
	return n, nil
}

// shrinkBy truncates h's file by n bytes.
func shrinkBy(h Handle, n int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(h, &st); err != nil {
		return err
	}
	return unix.Ftruncate(h, st.Size-n)
}

// OpenFileLimit returns the process's limit on open files (at least 64).
func OpenFileLimit() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 64 {
		return 64
	}
	return int(min(lim.Cur, 1<<20))
}

// Lock takes or releases an flock(2) on f, waiting for it, and retries
// when a signal interrupts the wait.
func Lock(f *os.File, how LockHow) error {
	op := unix.LOCK_UN
	switch how {
	case Exclusive:
		op = unix.LOCK_EX
	case Shared:
		op = unix.LOCK_SH
	}
	return flock(f, op)
}

// TryLock takes an exclusive flock(2) on f without waiting: it returns
// ErrWouldBlock if another process holds one.
func TryLock(f *os.File) error {
	err := flock(f, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return ErrWouldBlock
	}
	return err
}

func flock(f *os.File, op int) error {
	for {
		if err := unix.Flock(int(f.Fd()), op); err != unix.EINTR {
			return err
		}
	}
}

// SyncDir makes the creation and removal of files in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// OpenNoFollow opens path as os.OpenFile does, but never through a symlink
// (O_NOFOLLOW: a link fails with ELOOP) and only if it is a regular file,
// so a link or a FIFO planted in a store's directory never leads a write
// out of it or blocks an open. O_NONBLOCK keeps the open of a FIFO from
// waiting; it means nothing for a regular file.
func OpenNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s is a symlink, which a store never follows: %w", path, err)
		}
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s is not a regular file (%v): %w", path, st.Mode().Type(), fs.ErrInvalid)
		}
		return nil, err
	}
	return f, nil
}

// Mkfifo makes a FIFO at path. Tests plant one where a store expects a
// regular file.
func Mkfifo(path string) error { return unix.Mkfifo(path, 0o644) }

// LimitOpenFiles sets the process's limit on open files to n. Tests use it
// to run a store near the limit.
func LimitOpenFiles(n uint64) error {
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n})
}
