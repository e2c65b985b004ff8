//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package partd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// tryLockExclusive takes an exclusive flock(2) on f without waiting: it
// returns errWouldBlock if another process holds one.
func tryLockExclusive(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errWouldBlock
		}
		return err
	}
}

// syncDir makes the creation and removal of files in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// openNoFollow opens path as os.OpenFile does, but never through a symlink
// (O_NOFOLLOW: a link fails with ELOOP) and only if it is a regular file,
// so a link or a FIFO planted in a Log's directory never leads a write out
// of it or blocks an open. O_NONBLOCK keeps the open of a FIFO from
// waiting; it means nothing for a regular file.
func openNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
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
