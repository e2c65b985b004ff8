package partd

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/gopartd/partd/internal/osfile"
)

// Locking. Every File call takes, in this order:
//
//  1. f.mu: for writing to change the store, for reading to read it;
//  2. f.shared, for a reader only, while it counts the readers that share
//     the flock (held only for the count, never across a call);
//  3. the flock on dir/.lock (LockFileEx on Windows): exclusive under
//     f.mu.Lock, shared under f.mu.RLock.
//
// The exclusive flock comes with a look at the generation counter, the
// little-endian uint64 at offset 0 of dir/.lock: every change that unlinks
// or replaces a key file moves it, and a process whose cached append handles
// belong to an older generation closes them before it writes.

// flock takes or releases the flock on dir/.lock (LockFileEx on Windows),
// waiting for it.
func (f *File) flock(how osfile.LockHow) error {
	if err := osfile.Lock(f.lock, how); err != nil {
		return fmt.Errorf("partd: file: lock: %w", err)
	}
	return nil
}

// lockExclusive takes the exclusive flock and drops cached handles if another
// process changed the store. f.mu must be held for writing.
func (f *File) lockExclusive() error {
	if err := f.flock(osfile.Exclusive); err != nil {
		return err
	}
	gen, err := f.readGen()
	if err != nil {
		f.flock(osfile.Unlock)
		return err
	}
	if gen != f.gen {
		f.closeHandlesLocked()
		f.gen = gen
	}
	return nil
}

func (f *File) unlockExclusive() { f.flock(osfile.Unlock) }

// lockShared takes the shared flock for a reader holding f.mu.RLock.
func (f *File) lockShared() error {
	f.shared.Lock()
	defer f.shared.Unlock()
	if f.shared.n == 0 {
		if err := f.flock(osfile.Shared); err != nil {
			return err
		}
	}
	f.shared.n++
	return nil
}

func (f *File) unlockShared() {
	f.shared.Lock()
	defer f.shared.Unlock()
	if f.shared.n--; f.shared.n == 0 {
		f.flock(osfile.Unlock)
	}
}

// beginChange takes f.mu and the exclusive flock for a change; the caller
// calls release when done.
func (f *File) beginChange(op string) (release func(), err error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, errClosed(op)
	}
	if err := f.lockExclusive(); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	return func() { f.unlockExclusive(); f.mu.Unlock() }, nil
}

// beginRead takes f.mu for reading and the shared flock; the caller calls
// release when done.
func (f *File) beginRead(op string) (release func(), err error) {
	f.mu.RLock()
	if f.closed {
		f.mu.RUnlock()
		return nil, errClosed(op)
	}
	if err := f.lockShared(); err != nil {
		f.mu.RUnlock()
		return nil, err
	}
	return func() { f.unlockShared(); f.mu.RUnlock() }, nil
}

func (f *File) readGen() (uint64, error) {
	var b [8]byte
	n, err := f.lock.ReadAt(b[:], 0)
	if n == len(b) {
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	if err == io.EOF {
		return 0, nil // a new (or Python-made) lock file
	}
	return 0, fmt.Errorf("partd: file: read generation: %w", err)
}

// bumpGenLocked tells every process that files were removed or replaced.
// The exclusive flock must be held.
func (f *File) bumpGenLocked() error {
	f.closeHandlesLocked()
	f.gen++
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], f.gen)
	if _, err := f.lock.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("partd: file: write generation: %w", err)
	}
	return nil
}

// closeHandlesLocked closes every cached append handle. f.mu must be held
// for writing.
func (f *File) closeHandlesLocked() {
	for k, fd := range f.handles {
		osfile.CloseHandle(fd)
		delete(f.handles, k)
	}
}

// closeHandleLocked closes key's cached append handle, if any. f.mu must be
// held for writing.
func (f *File) closeHandleLocked(key string) {
	if fd, ok := f.handles[key]; ok {
		osfile.CloseHandle(fd)
		delete(f.handles, key)
	}
}
