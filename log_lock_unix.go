//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package partd

import (
	"errors"
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
