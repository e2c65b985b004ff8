package partd

import (
	"errors"
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
