package partd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/gopartd/partd/internal/keypath"
	"github.com/gopartd/partd/internal/osfile"
)

var _ KeyReader = (*File)(nil)

// OpenKey returns a reader of key's bytes (see KeyReader) that reads its
// file straight into each Read's buffer, holding no buffer of its own.
//
// It opens the file and takes its size under the shared flock, so it
// starts from a whole value: no append of any process is half written
// then. From there the reader holds the open file, not the lock, and reads
// the bytes the file held at that moment, whatever happens to the key:
// appends go after them and are not read; Delete, Set, Pop and Drop
// unlink or replace the file, which leaves the open one as it was (no
// process appends to an unlinked file: the generation counter closes
// their handles first). The reader reads the old value to its end.
//
// Only a process that ignores the lock can change those bytes, by
// rewriting the file in place (as Python partd's iset does): a file that
// shrank ends the read with an error wrapping ErrKeyChanged, and a rewrite
// that keeps the size cannot be told. On Windows, where an open file cannot be
// removed, a Delete, Set, Pop or Drop of the key fails while a reader has
// it open; close readers first there.
//
// The reader stays usable after the File's Close, as an os.File opened
// through an os.Root does after the Root's; each holds one file
// descriptor until its Close.
func (f *File) OpenKey(key string) (io.ReadCloser, error) {
	release, err := f.beginRead("read")
	if err != nil {
		return nil, err
	}
	defer release()
	if keypath.Validate(key) != nil {
		return &keyStream{key: key}, nil // no such key can be stored
	}
	fd, err := f.files.Open(keypath.Encode(key), os.O_RDONLY|osfile.ONonblock, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return &keyStream{key: key}, nil
		}
		return nil, fmt.Errorf("partd: read %q: %w", key, err)
	}
	size, isDir, err := osfile.StatRegular(fd)
	if err != nil || isDir || size == 0 {
		osfile.CloseHandle(fd)
		if err != nil {
			return nil, fmt.Errorf("partd: read %q: %w", key, err)
		}
		return &keyStream{key: key}, nil // a directory holds tuple keys under this one
	}
	r := &keyStream{key: key, size: size, release: func() error { return osfile.CloseHandle(fd) }}
	// Reads are sequential: the file's offset is the reader's.
	r.readAt = func(p []byte, off int64) error {
		n, err := osfile.ReadFull(fd, p)
		if err != nil {
			return fmt.Errorf("partd: read %q: %w", key, err)
		}
		if n < len(p) {
			return errKeyChanged(key, off+int64(n), size, "the file shrank (rewritten in place by a process that ignores the lock?)")
		}
		return nil
	}
	return r, nil
}
