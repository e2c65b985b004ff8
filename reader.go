package partd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// KeyReader is a Store that reads a key's bytes as a stream, holding a
// bounded amount of memory however many bytes the key holds: a key larger
// than memory (a spilled partition) is read a piece at a time.
//
// It is a capability about values (see the package's capability rules
// in capability.go): a store has it itself, and NewReader does not look
// for it through Unwrap, because a layer that changes the bytes (a
// compression layer) would then read its inner store's bytes. Such a layer
// implements OpenKey itself over its inner store's reader.
type KeyReader interface {
	// OpenKey returns a reader of key's bytes as they are when OpenKey
	// returns (an unknown key reads as empty). The reader never returns
	// bytes that are not that value: bytes appended to the key later are
	// not read, and a store that cannot keep showing the value after the
	// key is deleted, replaced or dropped makes Read return an error
	// wrapping ErrKeyChanged rather than a mix of old and new bytes. The
	// caller must Close the reader; it holds what the store documents
	// (File: an open file). A reader is for one goroutine at a time.
	OpenKey(key string) (io.ReadCloser, error)
}

// NewReader returns a reader of key's bytes in s, which the caller must
// Close. The reader reads the value as it is when NewReader returns, as
// KeyReader.OpenKey says, and what it holds depends on s:
//
//   - s's own OpenKey if s is a KeyReader (Dict, File, Log, Buffer and
//     the compression layers are): a bounded buffer, or none (see each
//     store's OpenKey);
//   - else, if s is a ChunkViewer, a window of the key's bytes copied out
//     of s's chunks at each Read, under s's lock: no buffer of its own. It
//     reads as many bytes as the key held at the start; a store that
//     gives no way to tell a replaced key from the same key (ChunkViewer
//     does not) may then show a mix of old and new bytes if the key is
//     replaced or deleted while it reads, and a key that shrank ends the
//     read with an error wrapping ErrKeyChanged;
//   - else the whole value, read with Get: memory for all of the key's
//     bytes.
//
// An invalid key is an ErrInvalidKey error.
func NewReader(s Store, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if kr, ok := s.(KeyReader); ok {
		r, err := kr.OpenKey(key)
		if !unsupported(err) {
			return r, err
		}
	}
	if cv, ok := s.(ChunkViewer); ok {
		r, err := newViewReader(cv, key)
		if !unsupported(err) {
			return r, err
		}
	}
	vals, err := s.Get(key)
	if err != nil {
		return nil, err
	}
	if len(vals) != 1 {
		return nil, fmt.Errorf("partd: read %q: store returned %d values for 1 key", key, len(vals))
	}
	return io.NopCloser(bytes.NewReader(vals[0])), nil
}

// errReaderClosed is the error of Read on a key reader after its Close.
var errReaderClosed = errors.New("partd: read after Close")

// errKeyChanged is the error of a read of key, which changed under the
// reader after it had read off of size bytes; how says how.
func errKeyChanged(key string, off, size int64, how string) error {
	return fmt.Errorf("partd: read %q: %w after %d of %d bytes: %s", key, ErrKeyChanged, off, size, how)
}

// keyStream is the reader of a key's bytes in a store that can read them
// at any offset: it reads the first size bytes, as the store reads them
// into each Read's p. It holds no buffer. Errors are sticky.
type keyStream struct {
	key     string
	off     int64
	size    int64 // the key's size when it was opened: no more is read
	readAt  func(p []byte, off int64) error
	release func() error // or nil
	err     error
}

// Read reads the key's next bytes into p.
func (r *keyStream) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.off >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p = p[:min(int64(len(p)), r.size-r.off)]
	if err := r.readAt(p, r.off); err != nil {
		r.err = err
		return 0, err
	}
	r.off += int64(len(p))
	return len(p), nil
}

// Close releases what the reader holds. Later Reads fail; a second Close
// returns nil.
func (r *keyStream) Close() error {
	if r.err == errReaderClosed {
		return nil
	}
	r.err = errReaderClosed
	if r.release != nil {
		return r.release()
	}
	return nil
}

// newViewReader returns the reader NewReader makes over a ChunkViewer that
// is not a KeyReader.
func newViewReader(cv ChunkViewer, key string) (io.ReadCloser, error) {
	var size int64
	err := cv.ViewChunks([]string{key}, func(chunks [][][]byte) error {
		if len(chunks) != 1 {
			return fmt.Errorf("partd: read %q: store viewed %d values for 1 key", key, len(chunks))
		}
		for _, c := range chunks[0] {
			size += int64(len(c))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r := &keyStream{key: key, size: size}
	r.readAt = func(p []byte, off int64) error {
		return cv.ViewChunks([]string{key}, func(chunks [][][]byte) error {
			if len(chunks) != 1 {
				return fmt.Errorf("partd: read %q: store viewed %d values for 1 key", key, len(chunks))
			}
			if n := copyAt(p, chunks[0], off); n < len(p) {
				return errKeyChanged(key, off+int64(n), size, "it holds fewer bytes")
			}
			return nil
		})
	}
	return r, nil
}

// copyAt copies into p the bytes at off of the concatenation of chunks and
// returns how many it copied.
func copyAt(p []byte, chunks [][]byte, off int64) int {
	n := 0
	for _, c := range chunks {
		if n == len(p) {
			break
		}
		if off >= int64(len(c)) {
			off -= int64(len(c))
			continue
		}
		n += copy(p[n:], c[off:])
		off = 0
	}
	return n
}

var (
	_ KeyReader = (*Dict)(nil)
	_ KeyReader = (*Buffer)(nil)
)

// OpenKey returns a reader of key's bytes (see KeyReader) that copies them
// out of the Dict's chunks at each Read, under the Dict's read lock, with
// no buffer of its own. Deleting, replacing, popping or dropping the key
// before the reader reaches the end makes Read fail with ErrKeyChanged:
// the Dict reuses the memory of deleted keys at once.
func (d *Dict) OpenKey(key string) (io.ReadCloser, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.usableLocked("read"); err != nil {
		return nil, err
	}
	e := d.data[key]
	if e == nil {
		return &keyStream{key: key}, nil
	}
	r := &keyStream{key: key, size: e.size}
	// Where the last Read stopped, so that a Read does not walk the chunks
	// from the first: a key's chunks only grow at the end.
	var chunk int
	var chunkOff int64 // offset of chunks[chunk] in the key
	r.readAt = func(p []byte, off int64) error {
		d.mu.RLock()
		defer d.mu.RUnlock()
		if d.closed {
			return errClosed("read")
		}
		if d.data[key] != e {
			return errKeyChanged(key, off, r.size, "deleted or replaced")
		}
		for chunk < len(e.chunks) && chunkOff+int64(len(e.chunks[chunk])) <= off {
			chunkOff += int64(len(e.chunks[chunk]))
			chunk++
		}
		if n := copyAt(p, e.chunks[chunk:], off-chunkOff); n < len(p) {
			return errKeyChanged(key, off+int64(n), r.size, "it holds fewer bytes") // cannot happen
		}
		return nil
	}
	return r, nil
}

// OpenKey returns a reader of key's bytes (see KeyReader): those in the
// slow store, through its own reader (NewReader), then a copy of those in
// the fast store, taken together under the Buffer's lock, so no spill can
// fall between them. It holds the key's share of the Buffer's memory (at
// most the Buffer's limit) and what the slow store's reader holds (a File's
// or a Log's: no buffer). Later spills and appends do not change what it
// reads; a Delete or Set of the key may, as the slow store's reader says.
func (b *Buffer) OpenKey(key string) (io.ReadCloser, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.usableLocked("read"); err != nil {
		return nil, err
	}
	slow, err := NewReader(b.slow, key)
	if err != nil {
		return nil, err
	}
	fast, err := GetAppend(b.fast, nil, key)
	if err != nil {
		slow.Close()
		return nil, err
	}
	if len(fast) != 1 {
		slow.Close()
		return nil, fmt.Errorf("partd: read %q: fast store returned %d values for 1 key", key, len(fast))
	}
	if len(fast[0]) == 0 {
		return slow, nil
	}
	return &multiStream{r: io.MultiReader(slow, bytes.NewReader(fast[0])), close: slow.Close}, nil
}

// multiStream reads r and closes with close.
type multiStream struct {
	r      io.Reader
	close  func() error
	closed bool
}

func (m *multiStream) Read(p []byte) (int, error) {
	if m.closed {
		return 0, errReaderClosed
	}
	return m.r.Read(p)
}

func (m *multiStream) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	return m.close()
}
