package compress

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
)

var _ partd.KeyReader = (*layer)(nil)

// OpenKey returns a reader of key's decompressed bytes that decodes one
// frame at a time from the inner store's reader (partd.NewReader): it
// holds one frame, compressed and decoded, so its memory is that of the
// largest value appended to the key (at most the layer's maximum value
// size), plus what the inner store's reader holds. What it reads when the
// key changes meanwhile is what the inner store's reader reads (see
// partd.KeyReader). A frame that does not decode is a partd.ErrCorrupt
// error from the Read that reaches it, after the frames before it were
// read.
func (l *layer) OpenKey(key string) (io.ReadCloser, error) {
	if err := l.unusable("read"); err != nil {
		return nil, err
	}
	raw, err := partd.NewReader(l.inner, key)
	if err != nil {
		return nil, err
	}
	return &frameReader{l: l, key: key, raw: raw, frames: frame.NewReader(raw)}, nil
}

// maxStoredFrame bounds the stored size of a frame of a value of at most
// maxValue bytes: every codec's worst case (stored blocks, literals) adds
// well under a quarter.
func maxStoredFrame(maxValue int) int {
	return int(min(int64(maxValue)+int64(maxValue)/4+1<<16, math.MaxInt))
}

// errReaderClosed is the error of Read on a reader after its Close.
var errReaderClosed = errors.New("read after Close")

// frameReader decodes a key's frames one at a time. Errors are sticky.
type frameReader struct {
	l      *layer
	key    string
	raw    io.ReadCloser
	frames *frame.Reader
	stored []byte // the current frame as stored
	out    []byte // the current frame decoded; out[pos:] is unread
	pos    int
	err    error
}

// Read reads the key's next decompressed bytes into p.
func (r *frameReader) Read(p []byte) (int, error) {
	for r.pos == len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}

// next reads and decodes the next frame into r.out.
func (r *frameReader) next() error {
	var err error
	r.out, r.pos = r.out[:0], 0
	if r.stored, err = r.frames.Next(r.stored, maxStoredFrame(r.l.maxValue)); err != nil {
		if err == io.EOF || !errors.Is(err, partd.ErrCorrupt) {
			return err
		}
		return fmt.Errorf("partd: %s: key %q: %w", r.l.c.name(), r.key, err)
	}
	i := r.frames.Frames() - 1
	if r.out, err = r.l.c.decode(r.out, r.stored, r.l.maxValue); err != nil {
		return r.l.corrupt(r.key, i, r.stored, err)
	}
	return nil
}

// Close closes the inner store's reader. Later Reads fail; a second Close
// returns nil.
func (r *frameReader) Close() error {
	if r.err == errReaderClosed {
		return nil
	}
	r.err, r.out, r.pos, r.stored = errReaderClosed, nil, 0, nil
	return r.raw.Close()
}
