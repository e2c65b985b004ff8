// Package errorfs injects file system errors into the write path of the
// disk stores, for tests of full disks and failing devices that need no
// root and no real device, as pebble's vfs/errorfs does for its file
// system: Wrap returns an osfile.FS that makes the very calls production
// makes (writev and pwritev included) and fails those an Injector says.
package errorfs

import (
	"os"
	"sync"

	"github.com/gopartd/partd/internal/osfile"
)

// An Injector decides which operations fail. It is safe for concurrent
// use. The zero value injects nothing.
type Injector struct {
	mu        sync.Mutex
	writeLeft int64 // bytes that may still be written, if limited
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

// FailSync makes every sync fail with err (nil: none fail).
func (i *Injector) FailSync(err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.syncErr = err
}

// FailTruncate makes every truncation fail with err (nil: none fail).
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

// allow takes n bytes from what may still be written and returns how many
// of them may be, and the error to return if that is fewer than n.
func (i *Injector) allow(n int64) (int64, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.limited {
		return n, nil
	}
	allowed := min(n, i.writeLeft)
	i.writeLeft -= allowed
	return allowed, i.writeErr
}

func (i *Injector) sync() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.syncErr
}

func (i *Injector) truncate() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.truncErr
}

// Wrap returns fs with the failures inj injects.
func Wrap(fs osfile.FS, inj *Injector) osfile.FS { return &faultFS{fs: fs, inj: inj} }

type faultFS struct {
	fs  osfile.FS
	inj *Injector
}

var _ osfile.FS = (*faultFS)(nil)

// write lets the bytes of vec through that the injector allows, with do,
// which writes them and returns how many it wrote: a write that crosses the
// limit writes what fits and returns the injected error.
func (f *faultFS) write(vec [][]byte, do func([][]byte) (int64, error)) (int64, error) {
	var size int64
	for _, p := range vec {
		size += int64(len(p))
	}
	allowed, ierr := f.inj.allow(size)
	if allowed == size {
		return do(vec)
	}
	var n int64
	if allowed > 0 {
		var err error
		if n, err = do(osfile.CutVec(vec, allowed)); err != nil {
			return n, err
		}
	}
	return n, ierr
}

func (f *faultFS) Write(h osfile.Handle, b []byte) (int64, error) {
	return f.write([][]byte{b}, func(v [][]byte) (int64, error) { return f.fs.Write(h, v[0]) })
}

func (f *faultFS) Writev(h osfile.Handle, vec [][]byte) (int64, error) {
	return f.write(vec, func(v [][]byte) (int64, error) { return f.fs.Writev(h, v) })
}

func (f *faultFS) WriteAt(file *os.File, b []byte, off int64) (int, error) {
	n, err := f.write([][]byte{b}, func(v [][]byte) (int64, error) {
		n, err := f.fs.WriteAt(file, v[0], off)
		return int64(n), err
	})
	return int(n), err
}

func (f *faultFS) Pwritev(file *os.File, vec [][]byte, off int64) error {
	_, err := f.write(vec, func(v [][]byte) (int64, error) {
		var n int64
		for _, p := range v {
			n += int64(len(p))
		}
		return n, f.fs.Pwritev(file, v, off)
	})
	return err
}

func (f *faultFS) Sync(h osfile.Handle) error {
	if err := f.inj.sync(); err != nil {
		return err
	}
	return f.fs.Sync(h)
}

func (f *faultFS) SyncFile(file *os.File) error {
	if err := f.inj.sync(); err != nil {
		return err
	}
	return f.fs.SyncFile(file)
}

func (f *faultFS) ShrinkBy(h osfile.Handle, n int64) error {
	if err := f.inj.truncate(); err != nil {
		return err
	}
	return f.fs.ShrinkBy(h, n)
}

func (f *faultFS) Truncate(file *os.File, size int64) error {
	if err := f.inj.truncate(); err != nil {
		return err
	}
	return f.fs.Truncate(file, size)
}
