package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gopartd/partd/internal/errs"
)

// A Reader reads the frames of a stream one at a time, so a key's frames
// are decoded holding one frame, not the key. It is not safe for
// concurrent use.
type Reader struct {
	r   io.Reader
	n   int   // frames read
	off int64 // bytes read
	hdr [HeaderLen]byte
}

// NewReader returns a Reader of the frames in r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Frames returns how many whole frames Next has returned.
func (fr *Reader) Frames() int { return fr.n }

// growStep bounds how much Next allocates ahead of the bytes it has read:
// a header that claims more than the stream holds costs no more than this
// beyond the bytes that are there.
const growStep = 1 << 20

// Next reads the next frame into buf[:0] (growing it as needed) and
// returns it. At the clean end of the stream it returns buf[:0] and io.EOF.
// A frame longer than limit bytes, or cut short by the end of the stream, is
// an error wrapping errs.ErrCorrupt; an error of the underlying reader is
// returned as it is.
func (fr *Reader) Next(buf []byte, limit int) ([]byte, error) {
	buf = buf[:0]
	n, err := io.ReadFull(fr.r, fr.hdr[:])
	switch {
	case err == io.EOF:
		return buf, io.EOF
	case err == io.ErrUnexpectedEOF:
		return buf, fmt.Errorf("frame %d at byte %d: header cut short after %d bytes: %w", fr.n, fr.off, n, errs.ErrCorrupt)
	case err != nil:
		return buf, err
	}
	size := binary.LittleEndian.Uint64(fr.hdr[:])
	if size > uint64(limit) {
		return buf, fmt.Errorf("frame %d at byte %d: length %d exceeds %d: %w", fr.n, fr.off, size, limit, errs.ErrCorrupt)
	}
	for uint64(len(buf)) < size {
		want := min(int(size), len(buf)+max(len(buf), growStep))
		if cap(buf) < want {
			grown := make([]byte, len(buf), want)
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(fr.r, buf[len(buf):want])
		buf = buf[:len(buf)+m]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return buf[:0], fmt.Errorf("frame %d at byte %d: %d bytes runs past the end of the data after %d: %w", fr.n, fr.off, size, len(buf), errs.ErrCorrupt)
		}
		if err != nil {
			return buf[:0], err
		}
	}
	fr.n++
	fr.off += HeaderLen + int64(size)
	return buf, nil
}
