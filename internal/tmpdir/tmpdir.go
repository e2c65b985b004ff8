// Package tmpdir makes temporary directories that say whether their owner
// is alive, so that what a killed process left behind can be found and
// removed by the next one, as Polars does for its spill directories.
//
// Make creates a directory holding a lock file (LockName) on which the
// owning process keeps an exclusive lock (flock(2), LockFileEx on
// Windows) for as long as it runs: the system drops the lock when the
// process ends, however it ends, SIGKILL included. Sweep removes the
// directories matching a pattern whose lock it can take: their owner is
// gone. A directory without a lock file is never removed: it may be one
// being made, or one that is not ours.
package tmpdir

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gopartd/partd/internal/osfile"
)

// LockName is the name of the lock file in a directory Make creates.
const LockName = ".partd-owner.lock"

// Dir is a temporary directory that Make created and holds.
type Dir struct {
	Path string
	lock *os.File
}

// Make creates a new directory in parent (os.TempDir() if empty) named by
// pattern as os.MkdirTemp names it, and takes its lock.
func Make(parent, pattern string) (*Dir, error) {
	path, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(path, LockName), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if err = osfile.TryLock(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("tmpdir: locking %s: %w", path, err)
	}
	return &Dir{Path: path, lock: f}, nil
}

// Unlock removes the lock file and lets the lock go, leaving the rest of
// the directory: for a directory that is about to become something else
// (renamed into place). After Unlock, Sweep leaves the directory alone.
func (d *Dir) Unlock() error {
	if d.lock == nil {
		return nil
	}
	err := os.Remove(d.lock.Name())
	if cerr := d.lock.Close(); err == nil {
		err = cerr
	}
	d.lock = nil
	return err
}

// Remove removes the directory and everything in it.
func (d *Dir) Remove() error {
	if d.lock != nil {
		d.lock.Close() // after RemoveAll on Windows, which cannot remove an open file
		d.lock = nil
	}
	return os.RemoveAll(d.Path)
}

// Sweep removes the directories in parent (os.TempDir() if empty) whose
// names match pattern (filepath.Match; os.MkdirTemp's "*" matches what it
// put there) and whose lock it can take, and returns their paths.
// Directories it cannot read or remove are skipped, not errors: another
// user's, say.
func Sweep(parent, pattern string) ([]string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	matches, err := filepath.Glob(filepath.Join(parent, pattern))
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, dir := range matches {
		if sweep(dir) {
			removed = append(removed, dir)
		}
	}
	return removed, nil
}

// sweep removes dir if its lock file can be locked: its owner is gone.
func sweep(dir string) bool {
	f, err := osfile.OpenNoFollow(filepath.Join(dir, LockName), os.O_RDWR, 0)
	if err != nil {
		return false // no lock file: not ours, or not made yet
	}
	defer f.Close()
	if err := osfile.TryLock(f); err != nil {
		return false // osfile.ErrWouldBlock: its owner is alive
	}
	// Ours now: nobody else removes it, and its owner is gone. The lock
	// file goes last, so that a sweep that fails half-way is tried again.
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() != LockName {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return false
			}
		}
	}
	f.Close()
	return os.RemoveAll(dir) == nil
}
