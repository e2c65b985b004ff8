package partd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"github.com/gopartd/partd/internal/keypath"
	"github.com/gopartd/partd/internal/osfile"
	"github.com/gopartd/partd/internal/par"
)

// appendJob is one value of an Append batch.
type appendJob struct {
	key       string
	value     []byte
	vec       [][]byte // instead of value: pieces written with one writev
	fd        osfile.Handle
	cached    bool  // fd belongs to f.handles
	transient bool  // beyond batchOpen: opened only for the write
	written   int64 // bytes written so far
	err       error
}

// appendFlags opens a key's file to append to it.
const appendFlags = os.O_WRONLY | os.O_APPEND

// minParallel is the smallest number of system calls worth splitting
// across goroutines.
const minParallel = 64

// workers is how many goroutines share n system calls of one batch.
func workers(n int) int { return min(runtime.GOMAXPROCS(0), n/minParallel) }

// appendJobs writes a batch of distinct, valid keys.
//
// It opens every file first, so a key that conflicts with a stored one
// rejects the batch before anything is written. The values of a batch go
// to distinct files, so opens and writes run on all cores.
func (f *File) appendJobs(jobs []appendJob) error {
	release, err := f.beginChange("append")
	if err != nil {
		return err
	}
	defer release()
	f.assignHandles(jobs)
	f.openJobs(jobs)
	if err := f.createMissing(jobs); err != nil {
		closeOpened(jobs)
		return err
	}
	f.writeJobs(jobs)
	return f.finishJobs(jobs)
}

// assignHandles gives each job its cached handle, or marks it to be opened.
// A batch keeps at most f.batchOpen files open besides the cached ones: the
// files of the other keys (transient jobs) are opened to check them, closed,
// and opened again only for their write.
func (f *File) assignHandles(jobs []appendJob) {
	kept := 0
	for i := range jobs {
		j := &jobs[i]
		j.fd, j.cached = f.handles[j.key]
		if !j.cached {
			j.fd = osfile.NoHandle
			j.transient = kept >= f.batchOpen
			kept++
		}
	}
}

// openJobs opens (or, for transient jobs, checks) the file of every job
// that has no cached handle, leaving each failure in the job's err.
func (f *File) openJobs(jobs []appendJob) {
	par.Do(len(jobs), workers(len(jobs)), func(_, i int) {
		j := &jobs[i]
		switch {
		case j.cached:
		case j.transient:
			j.err = f.files.Check(keypath.Encode(j.key))
		default:
			j.fd, j.err = f.files.Open(keypath.Encode(j.key), appendFlags, 0)
		}
	})
}

// createMissing creates the files that openJobs found missing and turns
// any other open failure into the batch's error: a key that conflicts with
// a stored one is ErrInvalidKey. The caller closes the opened files when it
// returns an error.
func (f *File) createMissing(jobs []appendJob) error {
	for i := range jobs {
		j := &jobs[i]
		switch {
		case j.err == nil:
		case errors.Is(j.err, fs.ErrNotExist):
			j.err = nil
			if j.fd, j.err = f.createLocked(keypath.Encode(j.key), j.key, appendFlags); j.err != nil {
				return fmt.Errorf("partd: append %q: %w", j.key, j.err)
			}
			if j.transient {
				osfile.CloseHandle(j.fd)
				j.fd = osfile.NoHandle
			}
		default:
			if cerr := conflictErr("append", j.key, j.err); cerr != nil {
				return cerr
			}
			return fmt.Errorf("partd: append %q: %w", j.key, j.err)
		}
	}
	return nil
}

// closeOpened closes the files a failed batch opened, not the cached ones.
func closeOpened(jobs []appendJob) {
	for i := range jobs {
		if !jobs[i].cached && jobs[i].fd != osfile.NoHandle {
			osfile.CloseHandle(jobs[i].fd)
		}
	}
}

// writeJobs writes every job's value (a transient job opens its file for
// the write), and fsyncs it under FileOptions.Sync, leaving the bytes
// written and any failure in the job.
func (f *File) writeJobs(jobs []appendJob) {
	par.Do(len(jobs), workers(len(jobs)), func(_, i int) {
		j := &jobs[i]
		fd := j.fd
		if j.transient {
			if fd, j.err = f.files.Open(keypath.Encode(j.key), appendFlags, 0); j.err != nil {
				return
			}
			defer osfile.CloseHandle(fd)
		}
		if j.vec != nil {
			j.written, j.err = f.fs.Writev(fd, j.vec)
		} else {
			j.written, j.err = f.fs.Write(fd, j.value)
		}
		if j.err == nil && f.opts.Sync {
			j.err = f.fs.Sync(fd)
		}
	})
}

// finishJobs returns the batch's first write error, after rolling the
// whole batch back if there is one, and caches the handles it opened.
func (f *File) finishJobs(jobs []appendJob) error {
	var werr error
	opened := make(map[string]osfile.Handle)
	for i := range jobs {
		j := &jobs[i]
		if j.err != nil && werr == nil {
			werr = fmt.Errorf("partd: append %q: %w", j.key, j.err)
		}
		if !j.cached && !j.transient {
			opened[j.key] = j.fd
		}
	}
	if werr != nil {
		werr = errors.Join(werr, f.rollback(jobs))
	}
	f.keepHandlesLocked(opened)
	return werr
}

// rollback truncates every file of a failed batch back to its size before
// the batch, so that a failed Append leaves no part of itself behind. The
// exclusive flock is held: nobody else has written since.
func (f *File) rollback(jobs []appendJob) error {
	var errs []error
	for i := range jobs {
		j := &jobs[i]
		if j.written == 0 {
			continue
		}
		fd, err := j.fd, error(nil)
		if j.transient || !osfile.AppendHandleTruncates {
			if fd, err = f.files.Open(keypath.Encode(j.key), os.O_WRONLY, 0); err == nil {
				defer osfile.CloseHandle(fd)
			}
		}
		if err == nil {
			err = f.fs.ShrinkBy(fd, j.written)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("partd: append %q: undo %d bytes: %w", j.key, j.written, err))
		}
	}
	return errors.Join(errs...)
}

// keepHandlesLocked caches new append handles, evicting others to stay
// within MaxOpenFiles.
func (f *File) keepHandlesLocked(opened map[string]osfile.Handle) {
	limit := f.opts.MaxOpenFiles
	for k, fd := range opened {
		if len(f.handles) >= limit {
			if limit <= 0 || len(opened) > limit {
				osfile.CloseHandle(fd)
				continue
			}
			for old, ofd := range f.handles { // map order is random: random eviction
				osfile.CloseHandle(ofd)
				delete(f.handles, old)
				break
			}
		}
		f.handles[k] = fd
	}
}
