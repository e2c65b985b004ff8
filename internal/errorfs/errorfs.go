// Package errorfs injects file system errors into a store's writes, for
// tests of full disks and failing devices that need no root and no real
// device, as pebble's vfs/errorfs does for its file system.
//
// A store that supports it routes its segment writes through Writer, its
// fsyncs through Sync and its truncations through Truncate; with a nil
// *Injector they pass straight through.
package errorfs

import (
	"io"
	"sync"
)

// An Injector decides which operations fail. It is safe for concurrent
// use. The zero value injects nothing.
type Injector struct {
	mu        sync.Mutex
	writeLeft int64 // bytes that may still be written; < 0: no limit
	writeErr  error
	syncErr   error
	truncErr  error
	limited   bool
}

// FailWritesAfter lets n more bytes be written, then fails every write with
// err, as a full disk does: the write that crosses the limit writes what
// fits and returns err.
func (i *Injector) FailWritesAfter(n int64, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.writeLeft, i.writeErr, i.limited = n, err, true
}

// FailSync makes every Sync fail with err (nil: none fail).
func (i *Injector) FailSync(err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.syncErr = err
}

// FailTruncate makes every Truncate fail with err (nil: none fail).
func (i *Injector) FailTruncate(err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.truncErr = err
}

// Heal stops every injected failure.
func (i *Injector) Heal() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.writeLeft, i.writeErr, i.limited = 0, nil, false
	i.syncErr, i.truncErr = nil, nil
}

// Writer returns w, with the injected write failures if i is not nil.
func (i *Injector) Writer(w io.Writer) io.Writer {
	if i == nil {
		return w
	}
	return writer{i, w}
}

type writer struct {
	i *Injector
	w io.Writer
}

func (w writer) Write(p []byte) (int, error) {
	w.i.mu.Lock()
	if !w.i.limited {
		w.i.mu.Unlock()
		return w.w.Write(p)
	}
	allowed := min(int64(len(p)), w.i.writeLeft)
	w.i.writeLeft -= allowed
	err := w.i.writeErr
	w.i.mu.Unlock()
	n, werr := w.w.Write(p[:allowed])
	if werr != nil {
		return n, werr
	}
	if int64(len(p)) > allowed {
		return n, err
	}
	return n, nil
}

// Sync calls sync unless a failure is injected.
func (i *Injector) Sync(sync func() error) error {
	if i != nil {
		i.mu.Lock()
		err := i.syncErr
		i.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return sync()
}

// Truncate calls truncate unless a failure is injected.
func (i *Injector) Truncate(truncate func() error) error {
	if i != nil {
		i.mu.Lock()
		err := i.truncErr
		i.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return truncate()
}
