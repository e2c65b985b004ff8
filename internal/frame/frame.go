// Package frame implements Python partd's framing: an 8-byte little-endian
// length followed by that many bytes. Layers that transform values
// (compression, encodings) append one frame per value so that the
// concatenated bytes of a key can be split again.
package frame

import (
	"encoding/binary"
	"fmt"

	"github.com/gopartd/partd/internal/errs"
)

// HeaderLen is the size of a frame's length header.
const HeaderLen = 8

// Append appends value as one frame to dst and returns the extended slice.
func Append(dst, value []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(value)))
	return append(dst, value...)
}

// Reserve appends an empty frame header to dst, for a frame whose contents
// the caller appends next (an encoder that appends in place), and returns
// the extended slice and the header's offset, for Seal.
func Reserve(dst []byte) ([]byte, int) {
	return binary.LittleEndian.AppendUint64(dst, 0), len(dst)
}

// Seal writes into the header that Reserve put at offset at the length of
// the bytes appended after it, and returns that length.
func Seal(dst []byte, at int) int {
	n := len(dst) - at - HeaderLen
	binary.LittleEndian.PutUint64(dst[at:], uint64(n))
	return n
}

// Split returns the frames of data. The returned slices alias data. A frame
// that runs past the end of data is an error wrapping errs.ErrCorrupt.
func Split(data []byte) ([][]byte, error) {
	frames, n := SplitPrefix(data)
	if n != len(data) {
		return frames, fmt.Errorf("frame at byte %d runs past the end of %d bytes: %w", n, len(data), errs.ErrCorrupt)
	}
	return frames, nil
}

// SplitPrefix returns the whole frames at the start of data and the number of
// bytes they take. Bytes past that (a torn last frame) are not returned; a
// caller that wants to repair a key keeps data[:n].
func SplitPrefix(data []byte) (frames [][]byte, n int) {
	// Count first so the result is allocated once.
	count := 0
	for off := 0; len(data)-off >= HeaderLen; count++ {
		size := binary.LittleEndian.Uint64(data[off:])
		if size > uint64(len(data)-off-HeaderLen) {
			break
		}
		off += HeaderLen + int(size)
	}
	frames = make([][]byte, 0, count)
	for range count {
		size := int(binary.LittleEndian.Uint64(data[n:]))
		frames = append(frames, data[n+HeaderLen:n+HeaderLen+size:n+HeaderLen+size])
		n += HeaderLen + size
	}
	return frames, n
}
