package partd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// tryLockExclusive locks one byte at the largest offset of f with
// LockFileEx, without waiting: it returns errWouldBlock if another process
// holds it.
func tryLockExclusive(f *os.File) error {
	ol := windows.Overlapped{Offset: ^uint32(0), OffsetHigh: ^uint32(0)}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errWouldBlock
	}
	return err
}

// syncDir does nothing on Windows, where a directory cannot be opened for
// syncing; NTFS journals its metadata.
func syncDir(string) error { return nil }

// openNoFollow opens path as os.OpenFile does, but never through a symlink
// or a junction and only if it is a regular file: Windows has no
// O_NOFOLLOW, so it checks the path with Lstat before the open and the file
// it opened against it after.
func openNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
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
