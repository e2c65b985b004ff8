package partd

import (
	"errors"
	"fmt"
	"io"
)

// valueForwarder is embedded by layers that change no bytes (Quota,
// Attempts): it answers the capabilities about values with its store's
// own, and with an error wrapping errors.ErrUnsupported where the store
// has none, so that the helpers fall back as for a store without them.
type valueForwarder struct{ Store }

// GetAppend appends each key's bytes to dst (GetAppender).
func (f valueForwarder) GetAppend(dst [][]byte, keys ...string) ([][]byte, error) {
	if g, ok := f.Store.(GetAppender); ok {
		return g.GetAppend(dst, keys...)
	}
	return nil, unsupportedBy("get into buffers")
}

// ViewChunks shows the pieces of each key's bytes (ChunkViewer).
func (f valueForwarder) ViewChunks(keys []string, fn func(chunks [][][]byte) error) error {
	if v, ok := f.Store.(ChunkViewer); ok {
		return v.ViewChunks(keys, fn)
	}
	return unsupportedBy("view chunks")
}

// Sizes returns the bytes each key holds (KeySizer).
func (f valueForwarder) Sizes(keys ...string) ([]int64, error) {
	if s, ok := f.Store.(KeySizer); ok {
		return s.Sizes(keys...)
	}
	return nil, unsupportedBy("sizes")
}

// Pop returns the keys' bytes and deletes them, atomically (Popper).
func (f valueForwarder) Pop(keys ...string) ([][]byte, error) {
	if p, ok := f.Store.(Popper); ok {
		return p.Pop(keys...)
	}
	return nil, unsupportedBy("pop")
}

// OpenKey opens a reader of key's bytes (KeyReader).
func (f valueForwarder) OpenKey(key string) (io.ReadCloser, error) {
	if r, ok := f.Store.(KeyReader); ok {
		return r.OpenKey(key)
	}
	return nil, unsupportedBy("open key")
}

// AppendVectors appends without joining the pieces where the store takes
// them as they are (VectorAppender).
func (f valueForwarder) AppendVectors(keys []string, vecs [][][]byte) error {
	return AppendVectors(f.Store, keys, vecs)
}

func unsupportedBy(op string) error {
	return fmt.Errorf("partd: %s: %w", op, errors.ErrUnsupported)
}
