//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package partd

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// keyFD is an open key file: a file descriptor.
type keyFD = int

// noFD is the keyFD of no file.
const noFD = -1

// oNonblock opens a FIFO without waiting for a writer.
const oNonblock = unix.O_NONBLOCK

// appendHandleTruncates tells that an append handle can also truncate its
// file, so rollback need not open the file again.
const appendHandleTruncates = true

func closeFD(fd keyFD) error { return unix.Close(fd) }

func fsyncFD(fd keyFD) error { return unix.Fsync(fd) }

// rootOpen opens name beneath root, as os.Root keeps it there, and returns
// a descriptor of its own: one system call more than openat2, and no file
// anywhere else.
func rootOpen(root *os.Root, name string, flags int, mode uint32) (keyFD, error) {
	h, err := root.OpenFile(name, flags, fs.FileMode(mode))
	if err != nil {
		return noFD, err
	}
	defer h.Close()
	fd, err := unix.Dup(int(h.Fd()))
	if err != nil {
		return noFD, &fs.PathError{Op: "dup", Path: name, Err: err}
	}
	unix.CloseOnExec(fd)
	return fd, nil
}

// rootCheck tells what opening name to append would, by opening it through
// os.Root and closing it.
func rootCheck(root *os.Root, name string) error {
	fd, err := rootOpen(root, name, appendFlags, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// writeAll writes all of b to fd and returns how many bytes it wrote.
func writeAll(fd keyFD, b []byte) (int64, error) {
	var done int64
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
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

// statRegular returns the size of the regular file fd, or isDir for a
// directory; anything else is an error.
func statRegular(fd keyFD) (size int64, isDir bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
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

// readFull reads into buf until it is full or the file ends, and returns
// how many bytes it read.
func readFull(fd keyFD, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
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

// shrinkBy truncates fd's file by n bytes.
func shrinkBy(fd keyFD, n int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	return unix.Ftruncate(fd, st.Size-n)
}

// openFileLimit returns the process's limit on open files (at least 64).
func openFileLimit() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 64 {
		return 64
	}
	return int(min(lim.Cur, 1<<20))
}

const (
	lockEx flockHow = unix.LOCK_EX
	lockSh flockHow = unix.LOCK_SH
	lockUn flockHow = unix.LOCK_UN
)

// flock wraps unix.Flock, retrying when a signal interrupts the wait.
func (f *File) flock(how flockHow) error {
	for {
		err := unix.Flock(int(f.lock.Fd()), int(how))
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("partd: file: flock: %w", err)
			}
			return nil
		}
	}
}
